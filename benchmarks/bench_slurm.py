"""What a SLURM job costs besides its science, with the campaign profile (groups) and
with the plugin's job arrays, on the local SLURM.

    .ci/slurm-up --accounting && make install-slurm
    .venv/bin/python benchmarks/bench_slurm.py [--exposures 50] [--arrays 20]

Makes ``--exposures`` small real exposures (ASNs whose science is one of the demo
campaign's 64x64 TSO cubes; ``demo/`` is simulated if absent) and runs them:

* groups: ``profiles/slurm-campaign`` with all of them in one group (one SLURM job).
  From ``sacct``: the SLURM job's wall time W (and its ``srun`` steps, if the jobs ran
  as steps of their own); from ``benchmarks/calibrate/*.tsv``: the time each job's
  script took (the science, with its Python start-up). Printed: the science, and
  everything else in W (Snakemake's start-up, Snakefile parse and DAG in the SLURM job,
  per-job scheduling, logs, benchmarks: the per-SLURM-job overhead, target < 10 % of
  W), per exposure and as a part of W.
* arrays (``--arrays N``): N exposures through ``profiles/slurm`` with
  ``--slurm-array-jobs calibrate`` and an array limit below N (several batches): how
  many sbatch calls and array tasks, wall time, and whether every product was made
  (the plugin has an open report of array mode dropping batches).

Small exposures are the worst case for the ratios: the science is shortest there.
Needs the SLURM accounting (sacct) for the step times.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import end_leftovers

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = REPO / ".venv-slurm" / "bin" / "snakemake"
RUN_ID = re.compile(r"SLURM run ID: (\S+)")


def _demo():
    demo = REPO / "demo"
    if not (demo / "crds" / "mappings" / "jwst").is_dir():
        subprocess.run([str(Path(sys.executable).with_name("snakewebb")), "simulate",
                        str(demo)], check=True)
    return demo


def _tiny_asns(demo, directory, n):
    cubes = sorted((demo / "rate").glob("*_rateints.fits"))[:2]
    directory.mkdir(parents=True)
    for i in range(n):
        science = cubes[i % len(cubes)]
        (directory / f"tiny{i:03d}_asn.json").write_text(json.dumps({
            "asn_type": "image2", "asn_pool": "bench", "products": [{
                "name": f"tiny{i:03d}", "members": [
                    {"expname": os.path.relpath(science, directory), "exptype": "science"}]}]}))
    return directory


def _run(workdir, demo, asn_dir, profile, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    command = [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--profile", str(REPO / "profiles" / profile),
               "--slurm-status-command", "squeue",
               "--slurm-init-seconds-before-status-checks", "1", "--retries", "0",
               "all", "--config", f"asn={json.dumps([str(asn_dir / '*_asn.json')])}",
               f"crds_path={demo / 'crds'}", *extra]
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.monotonic() - start
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
    run_id = RUN_ID.search(result.stderr + result.stdout)
    return result, wall, run_id.group(1) if run_id else None


def _seconds(text):
    days = 0
    if "-" in text:
        d, text = text.split("-")
        days = int(d)
    parts = [float(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return days * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def _sacct(run_id):
    """(JobID, State, Start, End, Elapsed s, TotalCPU s) of the SLURM jobs (and steps)
    of a run."""
    jobs = subprocess.run(["sacct", "-n", "-X", "-P", "--name", run_id, "-o", "JobIDRaw,JobID"],
                          capture_output=True, text=True, check=True).stdout
    ids = sorted({line.split("|")[0] for line in jobs.splitlines() if line})
    out = subprocess.run(["sacct", "-n", "-P", "-j", ",".join(ids),
                          "-o", "JobID,State,Start,End,Elapsed,TotalCPU"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in out.splitlines() if line]
    return [(r[0], r[1], r[2], r[3], _seconds(r[4]), _seconds(r[5])) for r in rows]


def _science(workdir):
    """Wall and CPU seconds of the jobs' scripts, summed over their benchmark files."""
    wall = cpu = 0.0
    for tsv in (workdir / "benchmarks").rglob("*.tsv"):
        header, values = (line.split("\t") for line in tsv.read_text().splitlines()[:2])
        wall += float(values[0])
        cpu += float(values[header.index("cpu_time")])
    return wall, cpu


def groups(demo, root, n):
    asn_dir = _tiny_asns(demo, root / "asn", n)
    workdir = root / "groups"
    result, wall, run_id = _run(workdir, demo, asn_dir, "slurm-campaign",
                                "--group-components", f"exposure={n}")
    made = len(list((workdir / "results").glob("*.fits")))
    rows = _sacct(run_id)
    job = [r for r in rows if r[0].isdigit()]
    job_ids = [r[0] for r in job]
    steps = [r for r in rows if re.fullmatch(r"\d+\.\d+", r[0])]
    w = sum(r[4] for r in job)
    step_total = sum(r[4] for r in steps)
    science, science_cpu = _science(workdir)
    cpu = sum(r[5] for r in job)
    print(f"groups: {n} exposures -> {len(job_ids)} SLURM job(s), {made}/{n} products, "
          f"snakemake wall {wall:.1f} s")
    print(f"  SLURM job wall W                      {w:8.1f} s")
    print(f"  the jobs' scripts (science + imports) {science:8.1f} s "
          f"= {science / n:.2f} s per exposure ({100 * science / w:.1f} % of W)")
    print(f"  everything else (per SLURM job)       {w - science:8.1f} s "
          f"= {(w - science) / n:.2f} s per exposure, {100 * (w - science) / w:.1f} % of W "
          f"(target < 10 %)")
    print(f"  CPU (sacct TotalCPU; less affected by a busy machine): SLURM job {cpu:.1f} s, "
          f"scripts {science_cpu:.1f} s, everything else {cpu - science_cpu:.1f} s "
          f"= {(cpu - science_cpu) / n:.2f} s per exposure")
    if steps:  # a job step per Snakemake job: the jobstep plugin's `srun snakemake`
        print(f"    of which in {len(steps)} srun steps, besides the scripts "
              f"{step_total - science:6.1f} s = {(step_total - science) / n:.2f} s per "
              f"exposure")
    print(f"  a 10,000-exposure campaign at {n} per SLURM job: "
          f"{math.ceil(10_000 / n)} SLURM jobs")


def arrays(demo, root, n, limit):
    asn_dir = root / "asn_arrays"
    _tiny_asns(demo, asn_dir, n)
    workdir = root / "arrays"
    # an array limit below n: several batches (the plugin's open report is of batches
    # being dropped)
    result, wall, run_id = _run(workdir, demo, asn_dir, "slurm",
                                 "--slurm-array-jobs", "calibrate",
                                 "--slurm-array-limit", str(limit),
                                 # an array task runs its job in the batch step, beside
                                 # the jobstep's Snakemake: more than a group's step
                                 "--set-resources", "calibrate:mem_mb=1000")
    made = len(list((workdir / "results").glob("*.fits")))
    rows = _sacct(run_id)
    tasks = [r for r in rows if re.fullmatch(r"\d+_\d+", r[0])]
    states = sorted({r[1] for r in tasks})
    arrays_ = {r[0].split("_")[0] for r in tasks}
    print(f"arrays (limit {limit}): {n} exposures -> {len(arrays_)} array submission(s), "
          f"{len(tasks)} array "
          f"task(s) (each a SLURM job), states {states}; {made}/{n} products, "
          f"snakemake wall {wall:.1f} s, exit {result.returncode}")
    if made != n:
        print(f"  MISSING {n - made} products: array mode dropped work")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=50)
    parser.add_argument("--arrays", type=int, default=0, metavar="N",
                        help="also run N exposures as job arrays")
    parser.add_argument("--array-limit", type=int, default=8,
                        help="array tasks per sbatch call (default 8: several batches)")
    args = parser.parse_args()
    if not SNAKEMAKE.exists():
        sys.exit("no .venv-slurm (make install-slurm)")
    if subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        sys.exit("no SLURM answers sinfo (.ci/slurm-up --accounting)")
    demo = _demo()
    with tempfile.TemporaryDirectory(prefix="bench_slurm_") as tmp:
        root = Path(tmp)
        try:
            if args.exposures:
                groups(demo, root, args.exposures)
            if args.arrays:
                arrays(demo, root, args.arrays, args.array_limit)
        finally:
            end_leftovers(tmp)


if __name__ == "__main__":
    main()
