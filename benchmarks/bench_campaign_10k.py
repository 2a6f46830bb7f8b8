"""How long Snakemake takes to plan a 10,000-exposure campaign with this workflow.

    python benchmarks/bench_campaign_10k.py [--exposures 10000] [--workdir DIR] [--keep]

Builds a cheap campaign (benchmarks/campaign_10k.py: real headers, 8x8 pixels, the
simulator's CRDS cache), then times, each as a fresh `snakemake` process:

1. dry run of `all` with cold caches (every header read, every CRDS lookup made);
2. dry run of `all` again (exposure table and references from the caches);
3. a real invocation of `all` once every product exists (stand-in files written
   here, calibrated products older than resampled ones): it must do nothing.

4. the same dry run with three "floor" Snakefiles written here for the same exposures
   and the same jobs (calibrate for every exposure, resample_exposure for the same
   subset, `all` over the same files), with no input function and only the science
   file as input: ``floor (bare rules)`` has one `shell:` line per rule, Snakemake's
   own cost for this graph; ``floor (house-style rules)`` adds log, benchmark,
   params, threads and script:; ``floor (house + reference inputs)`` also gives each
   calibrate job the reference files the workflow gives it (the issue asks for them
   as inputs), through the plainest input function, a dict lookup in a lambda. What 2.
   adds to that last floor is the cost of our input functions, exposure table and
   background members.

5. ``snakemake --version``: what every one of these processes pays before it reads
   a Snakefile (imports, and the executor plugins' set-up: an installed SLURM
   plugin runs ``scontrol show config``, which waits ~9 s when no slurmctld answers).

6. ``graph only``: 2. and the house-style floor with the plain ``--quiet``, where
   Snakemake stops once the graph is built. The difference to 2. is Snakemake's dry-run
   pass over every job, which formats each job's description even when --quiet=rules
   does not print it.

Targets (issue 5): 2. <= 20 s, 3. <= 30 s. Each figure is one fresh process on a
shared 2-core machine, so the load average is printed with them: compare figures
of one run with each other (the ratios to the floors) rather than with another day's.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TARGETS = {"dry run (warm caches)": 20.0, "no-op rerun": 30.0}
# The timed dry runs print Snakemake's job table (--quiet=rules); with the plain --quiet
# Snakemake stops once the graph is built, before its dry-run pass over every job.
REPORTING, GRAPH_ONLY = "--quiet=rules", "--quiet"


def run_snakemake(workdir, crds, context, *args, quiet=REPORTING):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    command = [SNAKEMAKE, "all", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", quiet, *args, "--config",
               f'asn=["{workdir}/campaign/asn/*_asn.json"]', f"crds_path={crds}",
               f"crds_context={context}"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


FLOOR_RULES = """
import json

EXPOSURES = json.load(open(config["table"]))
REFS = json.load(open(config["refs"])) if config.get("refs") else {}

wildcard_constraints:
    exposure=r"[^/]+",
    ints=r"|ints",

rule all:
    input:
        [f"results/{name}_{suffix}.fits" for name, suffix, resample in EXPOSURES],
        [f"results/{name}_i2d.fits" for name, suffix, resample in EXPOSURES if resample],

rule calibrate:
    input:
        science=config["rate"] + "/{exposure}_rate{ints}.fits",
REFERENCE_INPUTS    output:
        cal="results/{exposure}_cal{ints}.fits",
ACTION_CALIBRATE
rule resample_exposure:
    input:
        cal="results/{exposure}_cal.fits",
    output:
        i2d="results/{exposure}_i2d.fits",
ACTION_RESAMPLE
"""
BARE_ACTION = """    shell:
        "touch {output}"
"""
HOUSE_ACTION = """    log:
        "logs/RULE/{exposure}WILD.log",
    benchmark:
        "benchmarks/RULE/{exposure}WILD.tsv",
    params:
        options={"sigma": 3.0, "kernel": "square", "shape": None, "types": ["A", "B"]},
    threads: 1
    script:
        "touch.py"
"""
# the least a rule can do to take each exposure's reference files as inputs
REFERENCE_INPUTS = """        refs=lambda wildcards: REFS[wildcards.exposure],
"""
FLOORS = {"floor (bare rules)": (BARE_ACTION, False),
          "floor (house-style rules)": (HOUSE_ACTION, False),
          "floor (house + reference inputs)": (HOUSE_ACTION, True)}


def run_floor(workdir, action, table, quiet=REPORTING, refs=None):
    """Dry run of `all` with a floor Snakefile for the same exposures and jobs
    (with ``refs``, {exposure: [reference file, ...]}, as calibrate's inputs)."""
    floor = workdir / "floor"
    floor.mkdir(exist_ok=True)
    (floor / "exposures.json").write_text(json.dumps(
        [[name, suffix, bool(resample)] for name, suffix, resample
         in zip(table.index, table["suffix"], table["resample"])]))
    extra = []
    if refs is not None:
        (floor / "refs.json").write_text(json.dumps(refs))
        extra = [f"refs={floor / 'refs.json'}"]
    rules = FLOOR_RULES.replace("REFERENCE_INPUTS", REFERENCE_INPUTS if refs else "").replace(
        "ACTION_CALIBRATE", action.replace("RULE", "calibrate").replace("WILD", "{ints}")
    ).replace(
        "ACTION_RESAMPLE", action.replace("RULE", "resample_exposure").replace("WILD", ""))
    (floor / "Snakefile").write_text(rules)
    (floor / "touch.py").write_text("open(snakemake.output[0], 'w').close()\n")
    shutil.rmtree(floor / ".snakemake", ignore_errors=True)
    command = [SNAKEMAKE, "all", "--snakefile", str(floor / "Snakefile"), "--directory",
               str(floor), "--cores", "2", quiet, "--dry-run", "--config",
               f"table={floor / 'exposures.json'}", f"rate={workdir / 'campaign' / 'rate'}",
               *extra]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"floor snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, count_jobs(result.stdout + result.stderr)


def startup_seconds():
    """Wall time of `snakemake --version`: the start-up every snakemake process pays."""
    start = time.perf_counter()
    subprocess.run([SNAKEMAKE, "--version"], capture_output=True, check=True)
    return time.perf_counter() - start


def count_jobs(text):
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    return 0


def campaign_table(workdir):
    from snakewebb.exposures import exposure_table

    return exposure_table([str(workdir / "campaign" / "asn" / "*_asn.json")],
                          cache_dir=workdir / "results" / ".snakewebb")


def campaign_references(workdir, table, crds, context):
    """{exposure: [reference file, ...]} as the workflow's calibrate jobs take them
    (from the cache the cold dry run wrote)."""
    from snakewebb import references
    from snakewebb.exposures import exposure_references

    settings = references.resolve_crds(str(crds), context)
    reftypes = [reftype for types in references.REFTYPES.values() for reftype in types]
    found = exposure_references(table, reftypes, crds=settings,
                                cache_dir=workdir / "results" / ".snakewebb",
                                lookup=references.best_references_table)
    return {name: sorted(paths.values()) for name, paths in found.items()}


def fake_products(workdir, table):
    """Stand-in products for every job of `all`, i2d newer than cal."""
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
    parser.add_argument("--repeat", type=int, default=1,
                        help="time the warm dry run and the floors this many times each "
                             "(interleaved); the median is reported, every value listed")
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

        runs = {}
        runs["dry run (cold caches)"], out = run_snakemake(workdir, crds, context, "--dry-run")
        runs["dry run (cold caches)"] = [runs["dry run (cold caches)"]]
        jobs = count_jobs(out)
        table = campaign_table(workdir)
        refs = campaign_references(workdir, table, crds, context)
        for _ in range(max(1, args.repeat)):
            seconds, _ = run_snakemake(workdir, crds, context, "--dry-run")
            runs.setdefault("dry run (warm caches)", []).append(seconds)
            for what, (action, with_refs) in FLOORS.items():
                seconds, floor_jobs = run_floor(workdir, action, table,
                                                refs=refs if with_refs else None)
                if floor_jobs != jobs:
                    sys.exit(f"{what}: {floor_jobs} jobs, the workflow has {jobs}")
                runs.setdefault(what, []).append(seconds)
            seconds, _ = run_snakemake(workdir, crds, context, "--dry-run", quiet=GRAPH_ONLY)
            runs.setdefault("graph only (-q, warm)", []).append(seconds)
            seconds, _ = run_floor(workdir, HOUSE_ACTION, table, quiet=GRAPH_ONLY)
            runs.setdefault("graph only, house floor", []).append(seconds)
            runs.setdefault("snakemake --version", []).append(startup_seconds())
        n_cal, n_i2d = fake_products(workdir, table)
        seconds, out = run_snakemake(workdir, crds, context)
        runs["no-op rerun"] = [seconds]
        if "Nothing to be done" not in out:
            sys.exit(f"the no-op rerun planned jobs:\n{out[-3000:]}")

        print(f"jobs in the graph: {jobs} ({n_cal} calibrate, {n_i2d} resample_exposure, + all)")
        for what, values in runs.items():
            seconds = statistics.median(values)
            target = TARGETS.get(what)
            verdict = "" if target is None else (
                f"  target <= {target:.0f} s: {'met' if seconds <= target else 'MISSED'}")
            each = "" if len(values) == 1 else f"  ({', '.join(f'{v:.1f}' for v in values)})"
            print(f"{what:34s} {seconds:6.1f} s{verdict}{each}")
        warm = statistics.median(runs["dry run (warm caches)"])
        for what in FLOORS:
            print(f"warm dry run / {what}: {warm / statistics.median(runs[what]):.2f}")
        print("Snakemake's dry-run pass over the jobs (warm dry run - graph only): "
              f"{warm - statistics.median(runs['graph only (-q, warm)']):.1f} s")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
