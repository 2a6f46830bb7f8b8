"""A campaign killed twice and resumed with the same command (issue 13's soak).

Shared by tests/workflow/test_soak.py and benchmarks/bench_soak.py. The campaign is ``n``
tiny exposures, each a hard link (or copy) of one small real exposure under its own
name and ASN, of which 5% are broken in the ways a planning or a job refuses
(malformed ASN, missing member, truncated header, spectroscopic EXP_TYPE, missing
DETECTOR, missing pointing keyword). :func:`run_killed` runs `snakemake all_cal`,
SIGKILLs its whole process group at random moments, checks that no product is ever
half-written, and reruns the same command until it finishes.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from _common import rewrite_product

__all__ = ["build_soak_campaign", "snakemake_command", "run_killed", "job_starts",
           "product_state", "BROKEN_KINDS"]

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
REPO = Path(__file__).resolve().parents[1]

#: kind -> (fails at planning, the one line's cause as a regular expression)
BROKEN_KINDS = {
    "malformed": (True, r"malformed ASN JSON"),
    "gone": (True, r"member \S+ listed in \S+ does not exist"),
    "cuthead": (True, r"cannot read the header of \S+: file ends inside a FITS header"),
    "spectro": (True, r"EXP_TYPE 'NRC_WFSS' is not a supported imaging type"),
    "nodetector": (True, r"keyword DETECTOR missing from the primary header"),
    "nopointing": (False, r"missing pointing keyword\(s\) V2_REF"),
}


def _link(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        dst.write_bytes(Path(src).read_bytes())


def _asn(path, name, science):
    path.write_text(json.dumps({"asn_type": "image2", "asn_pool": "soak", "products": [
        {"name": name, "members": [{"expname": str(science), "exptype": "science"}]}]}))


def build_soak_campaign(root, source, n=200, broken_fraction=0.05, seed=0):
    """Write ``n`` exposures copied from ``source`` (a small _rate/_rateints) under root.

    Returns
    -------
    good : list of str
        Exposure names that must be calibrated.
    broken : dict
        Name (for a malformed ASN: the ASN file name) -> kind (:data:`BROKEN_KINDS`).
    """
    root = Path(root)
    (root / "rate").mkdir(parents=True, exist_ok=True)
    (root / "asn").mkdir(exist_ok=True)
    suffix = "_rateints.fits" if str(source).endswith("_rateints.fits") else "_rate.fits"
    rng = random.Random(seed)
    n_broken = max(len(BROKEN_KINDS), round(n * broken_fraction))
    broken_at = set(rng.sample(range(n), n_broken))
    kinds = list(BROKEN_KINDS)
    good, broken = [], {}
    data = Path(source).read_bytes()
    for i in range(n):
        name = f"soak{i:04d}"
        science = root / "rate" / f"{name}{suffix}"
        asn = root / "asn" / f"{name}_asn.json"
        if i not in broken_at:
            _link(source, science)
            _asn(asn, name, science)
            good.append(name)
            continue
        kind = kinds[len(broken) % len(kinds)]
        if kind == "malformed":
            asn.write_text('{"products": [')
            broken[asn.name] = kind
            continue
        if kind == "cuthead":
            science.write_bytes(data[:1000])
        elif kind == "spectro":
            rewrite_product(source, science, primary={"EXP_TYPE": "NRC_WFSS"}, keep_asdf=False)
        elif kind == "nodetector":
            rewrite_product(source, science, primary={"DETECTOR": None}, keep_asdf=False)
        elif kind == "nopointing":
            rewrite_product(source, science, sci_delete=("V2_REF",), keep_asdf=False)
        # "gone": the ASN names a file that is not written
        _asn(asn, name, science)
        broken[name] = kind
    return good, broken


def snakemake_command(workdir, asn_glob, crds_path, context, target="all_cal", cores=2):
    return [SNAKEMAKE, target, "--snakefile", str(REPO / "Snakefile"), "--directory",
            str(workdir), "--cores", str(cores), "--config", f'asn=["{asn_glob}"]',
            f"crds_path={crds_path}", f"crds_context={context}"]


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}


def product_state(results):
    """{product name: (inode, DATE)}: a product written again has another write date
    (DATE, to the millisecond) and, unless the file system reused the number, another
    inode. Not the modification time: Snakemake touches every output after its job."""
    from astropy.io import fits

    state = {}
    for product in Path(results).glob("*.fits"):
        try:
            date = fits.getval(product, "DATE")
        except (OSError, KeyError):
            date = None
        state[product.name] = (product.stat().st_ino, date)
    return state


def _half_written(results):
    """Products at their final names that are not whole (there must be none)."""
    from snakewebb.io import fits_truncation

    bad = []
    for product in Path(results).glob("*.fits"):
        try:
            if fits_truncation(product) is not None:
                bad.append(product.name)
        except Exception:  # noqa: BLE001 - unreadable counts as half-written
            bad.append(product.name)
    return bad


def run_killed(command, results, *, kills=2, seed=0, timeout=1800, min_new=5, max_new=60):
    """Run ``command``, SIGKILL its process group ``kills`` times, then let it finish.

    Each kill comes once a random number (``min_new``..``max_new``) of new products
    has appeared since the start of that run. Returns a dict with the final
    CompletedProcess-like fields (``returncode``, ``stderr``), ``rewritten`` (products
    rewritten after a kill: processed twice to completion), ``half_written`` (products
    found not whole right after a kill), ``seconds`` and ``runs``. Each run's output
    (stdout and stderr) is in ``soak_run<N>.out`` beside ``results``.
    """
    rng = random.Random(seed)
    results = Path(results)
    rewritten, half, runs = set(), [], 0
    start = time.perf_counter()
    for attempt in range(kills + 1):
        before = product_state(results) if results.is_dir() else {}
        # output to files, not pipes: a pipe nobody reads while waiting for the kill
        # moment would fill up and stall Snakemake
        out_file = results.parent / f"soak_run{attempt}.out"
        out_file.parent.mkdir(parents=True, exist_ok=True)
        with open(out_file, "w") as sink:
            proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                    text=True, env=_env(), start_new_session=True)
        runs += 1
        if attempt < kills:
            target = len(before) + rng.randint(min_new, max_new)
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                if results.is_dir() and len(list(results.glob("*.fits"))) >= target:
                    break
                try:
                    proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            half += _half_written(results)
        else:
            proc.wait(timeout=timeout)
            stderr = out_file.read_text(errors="replace")
        after = product_state(results)
        rewritten |= {n for n, state in before.items() if after.get(n, state) != state}
    return {"returncode": proc.returncode, "stderr": stderr, "rewritten": sorted(rewritten),
            "half_written": half, "seconds": time.perf_counter() - start, "runs": runs}


_JOB = re.compile(r"^(?:local)?rule (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: exposure=(\S+?)(?:, |$)")


def job_starts(workdir, rule="calibrate"):
    """{exposure: how many times a ``rule`` job for it was started}, from every
    Snakemake log of ``workdir`` (.snakemake/log/, one per invocation)."""
    counts = {}
    for log in sorted(Path(workdir, ".snakemake", "log").glob("*.snakemake.log")):
        current = None
        for line in log.read_text(errors="replace").splitlines():
            match = _JOB.match(line.strip()) if not line.startswith(" ") else None
            if match:
                current = match.group(1)
                continue
            match = _WILDCARDS.match(line)
            if match and current == rule:
                counts[match.group(1)] = counts.get(match.group(1), 0) + 1
                current = None
    return counts
