"""`snakemake --lint` of the workflow, offline, on a fixture campaign of one exposure.

Usage: python .ci/workflow_lint.py SNAKEMAKE   (``make lint`` runs it)

Linting parses the whole workflow, which builds the campaign plan: the fixture
(tests/data/lint_campaign) is one ASN file whose member is absent, so that the plan is a
single planning problem, and a CRDS cache of a context and its server_config only (the
plan reads no reference). Exits non-zero when Snakemake reports a lint not in ALLOWED.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "lint_campaign"

#: (file, start of the lint's title) -> why it stays.
ALLOWED = {
    ("rules/compat.smk", 'Absolute path "/proc/{pid}/stat"'):
        "the kernel's process table (is a run's Snakemake still alive), not a workflow file",
}

HEADER = re.compile(r"^Lints for (?:snakefile (?P<file>.+)|rule \S+ \(line \d+, (?P<rfile>.+)\)):$")
ITEM = re.compile(r"^    \* (?P<title>.+?):?$")


def lints(text):
    """(file relative to the repository, title) of every lint in ``snakemake --lint`` text."""
    found, current = [], None
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            current = Path(header.group("file") or header.group("rfile")).resolve()
            current = str(current.relative_to(ROOT)) if current.is_relative_to(ROOT) \
                else str(current)
            continue
        item = ITEM.match(line)
        if item and current:
            found.append((current, item.group("title")))
    return found


def main(snakemake):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    with tempfile.TemporaryDirectory(prefix="snakewebb-lint-") as workdir:
        result = subprocess.run(
            [snakemake, "--lint", "--snakefile", str(ROOT / "Snakefile"),
             "--directory", workdir, "--config",
             f'asn=["{FIXTURE / "asn" / "*_asn.json"}"]', f"crds_path={FIXTURE / 'crds'}"],
            capture_output=True, text=True, env=env, timeout=300)
    text = result.stdout + result.stderr
    found = lints(text)
    if result.returncode != 0 and not found:  # the workflow did not even parse
        print(text, file=sys.stderr)
        return 1
    unexpected = []
    for path, title in found:
        why = next((why for (f, t), why in ALLOWED.items()
                    if path == f and title.startswith(t)), None)
        if why is None:
            unexpected.append((path, title))
            print(f"LINT: {path}: {title}")
        else:
            print(f"allowed: {path}: {title} ({why})")
    if unexpected:
        print(text, file=sys.stderr)
        return 1
    print(f"snakemake --lint: {len(found)} lint(s), all allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
