"""Real ``snakemake`` runs of the project's Snakefile on parts of the session campaign."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from _common import end_leftovers  # noqa: F401 (one copy, shared with benchmarks/bench_slurm.py)

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(workdir, *args, config=(), check=True, env=None, timeout=900):
    """Run the project's Snakefile in ``workdir`` on 2 cores; return the CompletedProcess.

    The test process's ``CRDS_*`` variables are left out (the config names the cache);
    ``env`` adds variables. With ``check``, a failed run raises AssertionError with the
    tail of its stderr.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    environment.update(env or {})
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *args]
    if config:
        command += ["--config", *config]
    result = subprocess.run(command, capture_output=True, text=True, env=environment,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def campaign_config(campaign, context, *patterns, extra=()):
    """``--config`` items: the campaign's ASN files matching ``patterns``, its cache, context."""
    asn = json.dumps([str(campaign.asn / p) for p in patterns])
    return (f"asn={asn}", f"crds_path={campaign.crds}", f"crds_context={context}", *extra)


def exposures_of(campaign, patterns):
    """Exposure name -> simulated spec of the campaign's ASN files matching ``patterns``."""
    names = set()
    for pattern in patterns:
        for asn in campaign.asn.glob(pattern):
            names.update(p["name"] for p in json.loads(asn.read_text())["products"])
    return {name: campaign.specs[name] for name in sorted(names)}


def planned_paths(result):
    """Outputs of the jobs a dry run lists (without the target rules), as it prints them."""
    outputs = set()
    for line in result.stdout.splitlines():
        match = re.match(r"^\s+output: (.+)$", line)
        if match:
            outputs.update(match.group(1).split(", "))
    return outputs


def planned_outputs(result):
    """File names of the outputs of the jobs a dry run lists (without the target rules)."""
    return {Path(p).name for p in planned_paths(result)}
