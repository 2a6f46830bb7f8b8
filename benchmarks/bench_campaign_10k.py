"""How long Snakemake takes to plan a 10,000-exposure campaign with this workflow.

    python benchmarks/bench_campaign_10k.py [--exposures 10000] [--workdir DIR] [--keep]

Builds a cheap campaign (benchmarks/campaign_10k.py: real headers, 8x8 pixels, the
simulator's CRDS cache), then times, each as a fresh `snakemake` process:

1. dry run of `all` with cold caches (every header read, every CRDS lookup made);
2. dry run of `all` again (exposure table and references from the caches);
3. a real invocation of `all` once every product exists (stand-in files written
   here, calibrated products older than resampled ones): it must do nothing.

Targets (issue 5): 2. <= 20 s, 3. <= 30 s. Snakemake's own floor for ~20,000 jobs is
~16 s on these machines (docs/FACTS), so the figures are mostly Snakemake's.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TARGETS = {"dry run (warm caches)": 20.0, "no-op rerun": 30.0}


def run_snakemake(workdir, crds, context, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    command = [SNAKEMAKE, "all", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", "--quiet=rules", *args, "--config",
               f'asn=["{workdir}/campaign/asn/*_asn.json"]', f"crds_path={crds}",
               f"crds_context={context}"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def count_jobs(text):
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    return 0


def fake_products(workdir):
    """Stand-in products for every job of `all`, i2d newer than cal."""
    from snakewebb.exposures import exposure_table

    table = exposure_table([str(workdir / "campaign" / "asn" / "*_asn.json")],
                           cache_dir=workdir / "results" / ".snakewebb")
    results = workdir / "results"
    stamp = time.time()
    for name, suffix in zip(table.index, table["suffix"]):
        path = results / f"{name}_{suffix}.fits"
        path.touch()
        os.utime(path, (stamp, stamp))
    for name in table.index[table["resample"]]:
        path = results / f"{name}_i2d.fits"
        path.touch()
        os.utime(path, (stamp + 1, stamp + 1))
    return len(table), int(table["resample"].sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from campaign_10k import build_campaign

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench10k_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        if not (workdir / "campaign" / "crds").is_dir():
            _, contexts = build_campaign(workdir / "campaign", args.exposures)
        else:
            contexts = sorted(p.name for p in
                              (workdir / "campaign/crds/mappings/jwst").glob("jwst_*.pmap"))
        print(f"campaign of {args.exposures} exposures ready in "
              f"{time.perf_counter() - start:.1f} s ({workdir})")
        crds, context = workdir / "campaign" / "crds", contexts[0]
        shutil.rmtree(workdir / "results", ignore_errors=True)
        shutil.rmtree(workdir / ".snakemake", ignore_errors=True)

        figures = {}
        figures["dry run (cold caches)"], out = run_snakemake(workdir, crds, context, "--dry-run")
        jobs = count_jobs(out)
        figures["dry run (warm caches)"], out = run_snakemake(workdir, crds, context, "--dry-run")
        n_cal, n_i2d = fake_products(workdir)
        figures["no-op rerun"], out = run_snakemake(workdir, crds, context)
        if "Nothing to be done" not in out:
            sys.exit(f"the no-op rerun planned jobs:\n{out[-3000:]}")

        print(f"jobs in the graph: {jobs} ({n_cal} calibrate, {n_i2d} resample_exposure, + all)")
        for what, seconds in figures.items():
            target = TARGETS.get(what)
            verdict = "" if target is None else (
                f"  target <= {target:.0f} s: {'met' if seconds <= target else 'MISSED'}")
            print(f"{what:24s} {seconds:6.1f} s{verdict}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
