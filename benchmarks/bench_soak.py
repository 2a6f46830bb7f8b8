"""What killing a campaign twice costs: the same campaign uninterrupted and killed twice.

    python benchmarks/bench_soak.py [--campaign DIR] [--exposures 200] [--kills 2]

The campaign (benchmarks/soak.py) is N copies of the smallest TSO cube of a simulated
campaign (``--campaign``, e.g. ``demo`` after ``make demo``; without it one is
simulated, ~2 min), 5% broken. Both runs are `snakemake all_cal` with the workflow
profile (keep-going, rerun-incomplete): once straight through, once SIGKILLed
(snakemake and its jobs) at random moments and rerun with the same command until it
finishes. Printed: each wall time, their ratio, the jobs started in all and the
products written twice. Figures of one run are comparable with each other only
(shared 2-core machine: the load average is printed).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from soak import _env, build_soak_campaign, job_starts, run_killed, snakemake_command  # noqa: E402


def smallest_cube(campaign):
    asns = sorted(Path(campaign, "asn").glob("*_asn.json"))
    for asn in asns:
        product = json.loads(asn.read_text())["products"][0]
        science = [m["expname"] for m in product["members"] if m["exptype"] == "science"][0]
        path = (asn.parent / science).resolve()
        if path.name.endswith("_rateints.fits") and path.stat().st_size < 5_000_000:
            return path
    sys.exit(f"no small _rateints exposure in {campaign}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path, default=None)
    parser.add_argument("--exposures", type=int, default=200)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_soak_"))
    try:
        campaign = args.campaign
        if campaign is None:
            from snakewebb.simulate import simulate_campaign

            campaign = work / "sim"
            simulate_campaign(campaign, n_exposures=24, seed=0)
        contexts = sorted(p.name for p in (campaign / "crds/mappings/jwst").glob("jwst_*.pmap"))
        source = smallest_cube(campaign)
        good, broken = build_soak_campaign(work / "c", source, n=args.exposures)
        asn_glob = f"{work}/c/asn/*_asn.json"

        straight = work / "straight"
        start = time.perf_counter()
        subprocess.run(snakemake_command(straight, asn_glob, campaign / "crds", contexts[0],
                                         cores=args.cores),
                       capture_output=True, text=True, env=_env())
        straight_seconds = time.perf_counter() - start
        straight_jobs = sum(job_starts(straight).values())

        killed = work / "killed"
        outcome = run_killed(snakemake_command(killed, asn_glob, campaign / "crds", contexts[0],
                                               cores=args.cores),
                             killed / "results", kills=args.kills, seed=args.seed)
        killed_jobs = sum(job_starts(killed).values())
        made = len(list((killed / "results").glob("*.fits")))

        print(f"{args.exposures} exposures ({len(good)} good, {len(broken)} broken), "
              f"{args.cores} cores, source {source.name}")
        print(f"uninterrupted:            {straight_seconds:6.1f} s, "
              f"{straight_jobs} calibrate jobs")
        print(f"killed {args.kills}x and resumed:    {outcome['seconds']:6.1f} s, {killed_jobs} "
              f"calibrate jobs started in {outcome['runs']} runs")
        print(f"ratio killed / uninterrupted: {outcome['seconds'] / straight_seconds:.2f}")
        print(f"extra calibrate jobs started: {killed_jobs - straight_jobs} "
              f"(products written twice: {len(outcome['rewritten'])}; "
              f"half-written products seen after a kill: {len(outcome['half_written'])})")
        print(f"good exposures done: {made} of {len(good)}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
