"""Campaign throughput: ``snakemake all`` of this project against the official pipeline's
two ways of running many exposures in parallel, side by side in one run (issue #11).

On a mixed campaign of 12 image2 ASNs (NIRCam full frame and subarray, MIRI with and
without background members, NIRISS, TSO cubes), with the same inputs, CRDS cache and
context for every side and N = ``--cores`` parallel processes, it measures:

1. ``snakemake --cores N all`` of this repository's Snakefile (fresh output, log and
   benchmark directories each time);
2. ``xargs -P N strun calwebb_image2 <asn>``: one official process per ASN;
3. the official multiprocessing recipe: a spawn ``multiprocessing.Pool(N)`` whose
   workers import jwst and call ``Image2Pipeline.call(asn, save_results=True, ...)``
   per ASN (the whole script's wall time, pool start-up included);

then, each measured alone:

* the "floor" of one process per job: a bare ``python -c`` that imports gwcs and
  stdatamodels.jwst.datamodels and sets up asdf's extensions, against the
  ``calibrate`` job of the 64x64 TSO cube run alone (its Snakemake benchmark file);
* one full-frame NIRCam exposure, ``_rate -> _cal -> _i2d``: the CPU time of its jobs
  (benchmark files) against one ``strun calwebb_image2`` process on its ASN (rusage
  of that process), and peak RSS of our biggest job against that process's.

It prints the wall times, each target of #11 with its measured ratio and MET/MISSED,
a breakdown per rule (median over its jobs) from the benchmark files and from each job
log's ``timing:`` line (``start=.. imports=.. open=.. science=.. write=.. total=..``;
"n/a" when the adapters do not write one), the machine, and a markdown table.

Snakemake's benchmark files sample the job every 0.5 s: ``cpu_time`` and ``max_rss``
can miss the end of a job (more so on a loaded machine, where the sampling thread is
late), so the script also prints, as a cross-check, the CPU of the whole solo
``snakemake`` process minus that of the same command's dry run (``-n``): an upper
bound of the jobs' CPU.

This project's side (the campaign, the solo jobs, the floor process) runs from a
virtualenv with its runtime install only, as users install it (``pip install
snakewebb``): ``--runtime-venv DIR`` (default ``.venv-runtime`` in the repository, made
with ``pip install -c constraints.txt -e .`` when missing). The official side needs
jwst, and in a venv that holds jwst, stpipe's asdf plugin imports ``stpipe.pipeline``
and ``crds`` into every process that opens a datamodel (~0.3 s a job that no user's
install pays). ``--same-venv`` runs both sides from the benchmark's own venv instead.

Usage::

    python benchmarks/bench_campaign.py [--cores N] [--campaign DIR] [--repeat R]
                                        [--skip-official] [--workdir DIR]
                                        [--runtime-venv DIR | --same-venv]

Without ``--campaign`` a 24-exposure campaign is simulated (seed 11, independent of the
demo's) and 12 of its ASNs are used. Without ``--workdir`` everything goes to a
temporary directory that is removed at the end; products (FITS) are deleted after each
run either way, logs and benchmark files are kept in a given ``--workdir``.
Needs the test extra (``make install-test``: jwst==3.0.0).
"""

import argparse
import datetime
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVERLESS = "https://crds-serverless-mode.stsci.edu"
SEED = 11  # the demo campaign is seed 0: these are independent data

#: Targets of issue #11 (ratios, lower is better).
TARGETS = {
    "campaign": 0.8,   # snakemake wall / better of xargs-strun and Pool
    "tso_floor": 1.0,  # TSO-cube calibrate job wall (alone) / bare import process
    "ff_cpu": 0.45,    # full-frame exposure's jobs CPU / strun CPU
    "rss": 0.4,        # biggest job's peak RSS / strun's peak RSS
}

#: Phases of the job log's ``timing:`` line shown as columns, in order.
PHASES = ("start", "imports", "open", "science", "write")

#: ASNs taken per mode (12 in all), in this order of preference.
QUOTAS = (
    ("nircam-full", 3),
    ("nircam-sub", 2),
    ("miri-bkg", 2),
    ("miri", 1),
    ("niriss", 2),
    ("tso", 2),
)
#: Modes the campaign must cover.
REQUIRED_MODES = ("nircam-full", "nircam-sub", "miri-bkg", "niriss", "tso")
N_ASNS = sum(n for _, n in QUOTAS)

FLOOR_CODE = ("import gwcs, asdf; import stdatamodels.jwst.datamodels; "
              "asdf.get_config().extensions")


# ------------------------------------------------------------------ parsing, arithmetic
def parse_timing(text):
    """``{phase: seconds}`` from the last line of ``text`` containing ``timing:``.

    The line's ``name=seconds`` pairs after ``timing:``; tokens that are not such a
    pair are ignored. ``{}`` when there is no such line.
    """
    found = None
    for line in text.splitlines():
        if "timing:" in line:
            found = line
    if found is None:
        return {}
    phases = {}
    for token in found.split("timing:", 1)[1].split():
        name, sep, value = token.partition("=")
        if not sep or not name:
            continue
        try:
            phases[name] = float(value)
        except ValueError:
            continue
    return phases


def read_timing(path):
    """:func:`parse_timing` of a log file; ``{}`` when it is absent or unreadable."""
    try:
        return parse_timing(Path(path).read_text(errors="replace"))
    except OSError:
        return {}


def parse_benchmark_tsv(text):
    """The last row of a Snakemake benchmark file as ``{column: float or None}``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    header = lines[0].split("\t")
    row = lines[-1].split("\t")
    record = {}
    for key, value in zip(header, row):
        try:
            record[key] = float(value)
        except ValueError:
            record[key] = None  # "NA", "-", "0:00:01" (h:m:s)
    return record


def job_record(tsv_text, log_text):
    """One job's figures: benchmark columns, phases, and Snakemake's own share.

    Snakemake's share is the benchmark file's wall ``s`` minus the job process's
    ``total`` (process creation to end of job); None when either is missing.
    """
    bench = parse_benchmark_tsv(tsv_text)
    phases = parse_timing(log_text)
    record = {"wall": bench.get("s"), "cpu": bench.get("cpu_time"),
              "rss": bench.get("max_rss"), "phases": phases}
    total = phases.get("total")
    record["snakemake"] = (record["wall"] - total
                           if record["wall"] is not None and total is not None else None)
    shown = [phases[p] for p in PHASES if p in phases]
    # rounded: the phases are logged to the millisecond
    record["other"] = round(total - sum(shown), 3) + 0.0 if total is not None and shown else None
    return record


def median(values):
    """Median of the values that are not None; None when there are none."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def verdict(value, target):
    """MET when ``value`` is at most ``target``; MISSED otherwise or when unmeasured."""
    if value is None:
        return "MISSED (not measured)"
    return "MET" if value <= target else "MISSED"


def fmt(value, digits=2, unit=""):
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def read_fits_header(path, max_blocks=200):
    """Primary header keywords of a FITS file as ``{KEY: str|bool|int|float}`` (stdlib)."""
    cards = {}
    with open(path, "rb") as handle:
        for _ in range(max_blocks):
            block = handle.read(2880)
            if len(block) < 2880:
                break
            for i in range(0, 2880, 80):
                card = block[i:i + 80].decode("ascii", "replace")
                key = card[:8].strip()
                if key == "END":
                    return cards
                if card[8:10] != "= ":
                    continue
                value = card[10:]
                if value.lstrip().startswith("'"):
                    value = value.lstrip()[1:]
                    cards[key] = value[: value.find("'")].strip() if "'" in value else value
                    continue
                value = value.split("/", 1)[0].strip()
                if value in ("T", "F"):
                    cards[key] = value == "T"
                else:
                    try:
                        cards[key] = int(value)
                    except ValueError:
                        try:
                            cards[key] = float(value)
                        except ValueError:
                            cards[key] = value
    return cards


def classify(header, science_name, has_backgrounds):
    """The benchmark's mode of one ASN's science exposure."""
    instrument = str(header.get("INSTRUME", "")).upper()
    cube = science_name.endswith("_rateints.fits") or header.get("TSOVISIT") is True
    if cube:
        return "tso"
    if instrument == "NIRCAM":
        return "nircam-full" if header.get("SUBARRAY") == "FULL" else "nircam-sub"
    if instrument == "MIRI":
        return "miri-bkg" if has_backgrounds else "miri"
    if instrument == "NIRISS":
        return "niriss"
    return instrument.lower() or "unknown"


def select_asns(records):
    """Pick :data:`N_ASNS` ASN records by mode quota.

    ``records`` are dicts with ``asn`` (Path), ``mode``, ``science`` (Path) and
    ``backgrounds``. An exposure that is another ASN's background member is not taken
    as a science exposure; TSO cubes on a 64-pixel subarray and MIRI come first (the
    TSO target is about a 64x64 cube). Returns (selected, missing required modes).
    """
    bkg_files = {Path(b).name for r in records for b in r["backgrounds"]}
    pool = sorted((r for r in records if Path(r["science"]).name not in bkg_files),
                  key=lambda r: Path(r["asn"]).name)

    def preference(r):
        if r["mode"] != "tso":
            return 0
        return (0 if "64" in str(r["header"].get("SUBARRAY", "")) else 2) + (
            0 if r["header"].get("INSTRUME") == "MIRI" else 1)

    pool.sort(key=preference)  # stable: name order within a preference
    selected = []
    for mode, quota in QUOTAS:
        selected += [r for r in pool if r["mode"] == mode][:quota]
    # fill up from what is left (never FGS: the official pipeline resamples it, we do not)
    rest = [r for r in pool if r not in selected and r["mode"] != "fgs"]
    selected += rest[: max(0, N_ASNS - len(selected))]
    missing = [m for m in REQUIRED_MODES if not any(r["mode"] == m for r in selected)]
    return selected, missing


# ------------------------------------------------------------------------ running
def _env(crds, context):
    env = dict(os.environ)
    env.update(CRDS_PATH=str(crds), CRDS_CONTEXT=context, CRDS_SERVER_URL=SERVERLESS,
               CRDS_MODE="local", STPIPE_DISABLE_CRDS_STEPPARS="True",
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return env


def run_measured(cmd, *, log, **kwargs):
    """Run ``cmd`` to completion; wall, CPU (user+sys of it and every descendant it
    waited for) and peak RSS (MB, the largest single process) from ``wait4``."""
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT,
                                **kwargs)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss": usage.ru_maxrss / 1024.0, "rc": proc.returncode, "log": Path(log)}


def _check(result, what):
    if result["rc"] != 0:
        tail = "\n".join(Path(result["log"]).read_text(errors="replace").splitlines()[-25:])
        sys.exit(f"{what} failed (exit {result['rc']}); end of {result['log']}:\n{tail}")


def _count_products(out):
    return len([p for p in Path(out).glob("*_cal*.fits")])


def _drop_products(out):
    for path in Path(out).glob("*.fits"):
        path.unlink()


#: Where this project's side runs from (set by main(): the runtime-only venv).
OURS = {"bin": BIN}


def runtime_venv(path):
    """The bin directory of a venv with this project's runtime install only; made
    (``python -m venv`` + ``pip install -c constraints.txt -e .``) when missing."""
    python = path / "bin" / "python"
    marker = path / ".installed"
    if not marker.is_file():
        print(f"making the runtime-only venv {path} (pip install -e {REPO}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", path], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-c", REPO / "constraints.txt",
                        "-e", REPO], check=True)
        marker.write_text("")
    probe = subprocess.run([python, "-c", "import importlib.util as u; "
                            "print(u.find_spec('jwst') is None)"],
                           capture_output=True, text=True, check=True)
    if probe.stdout.strip() != "True":
        print(f"WARNING: {path} holds jwst: its jobs pay stpipe's imports")
    return path / "bin"


def run_snakemake(run_dir, asn_glob, crds, context, cores, env, targets=("all",), extra=()):
    """``snakemake --cores N <targets>`` of this repository in a fresh ``run_dir``."""
    run_dir.mkdir(parents=True)
    out = run_dir / "results"
    cmd = [OURS["bin"] / "snakemake", "--snakefile", REPO / "Snakefile", "--directory", run_dir,
           "--cores", cores, *targets, "--config", f"asn={json.dumps([str(asn_glob)])}",
           f"crds_path={crds}", f"crds_context={context}", f"output_dir={out}", *extra]
    result = run_measured(cmd, log=run_dir / "snakemake.log", env=env, cwd=run_dir)
    _check(result, f"snakemake {' '.join(targets)}")
    result["out"], result["dir"] = out, run_dir
    return result


def run_xargs(run_dir, asn_dir, asns, cores, env):
    run_dir.mkdir(parents=True)
    out = run_dir / "results"
    out.mkdir()
    listing = run_dir / "asns.txt"
    listing.write_text("".join(f"{a.name}\n" for a in asns))
    cmd = ["xargs", "-a", listing, "-P", cores, "-I{}", BIN / "strun", "calwebb_image2",
           "{}", f"--output_dir={out}"]
    result = run_measured(cmd, log=run_dir / "xargs.log", env=env, cwd=asn_dir)
    _check(result, "xargs -P strun calwebb_image2")
    result["out"] = out
    return result


def run_pool(run_dir, asn_dir, asns, cores, env):
    run_dir.mkdir(parents=True)
    out = run_dir / "results"
    out.mkdir()
    cmd = [sys.executable, Path(__file__).resolve(), "--pool-recipe", "--cores", cores,
           "--output", out, *[a.name for a in asns]]
    result = run_measured(cmd, log=run_dir / "pool.log", env=env, cwd=asn_dir)
    _check(result, "multiprocessing Pool recipe")
    result["out"] = out
    return result


def _pool_one(asn, output_dir):
    from jwst.pipeline import Image2Pipeline  # in the worker, as the recipe does

    Image2Pipeline.call(asn, save_results=True, output_dir=output_dir)
    return asn


def pool_recipe(asns, output_dir, cores):
    """The official recipe: spawn Pool of ``cores`` workers, Image2Pipeline.call per ASN."""
    import multiprocessing

    work = functools.partial(_pool_one, output_dir=str(output_dir))
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        for done in pool.imap_unordered(work, asns, chunksize=1):
            print(f"done {done}", flush=True)


# --------------------------------------------------------------------- the campaign
def simulate(root):
    """A 24-exposure campaign (seed :data:`SEED`) in ``root``, reused when present."""
    marker = root / "campaign.json"
    if marker.is_file():
        try:
            if json.loads(marker.read_text()).get("seed") == SEED:
                print(f"reusing the simulated campaign in {root}")
                return
        except ValueError:
            pass
    print(f"simulating a 24-exposure campaign (seed {SEED}) in {root} ...", flush=True)
    t0 = time.perf_counter()
    code = ("import sys; from snakewebb.simulate import simulate_campaign; "
            "simulate_campaign(sys.argv[1], n_exposures=24, seed=int(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(root), str(SEED)], check=True)
    print(f"  simulated in {time.perf_counter() - t0:.0f} s")


def campaign_records(campaign):
    """One record per image2 ASN of ``campaign/asn`` (members resolved against the ASN)."""
    records = []
    for asn in sorted((campaign / "asn").glob("*_asn.json")):
        doc = json.loads(asn.read_text())
        members = doc["products"][0]["members"]
        science = [m["expname"] for m in members if m.get("exptype") == "science"]
        if len(science) != 1:
            continue
        resolve = lambda name: Path(os.path.realpath(asn.parent / name))  # noqa: E731
        science = resolve(science[0])
        backgrounds = [resolve(m["expname"]) for m in members
                       if m.get("exptype") == "background"]
        header = read_fits_header(science)
        records.append({"asn": asn, "doc": doc, "science": science,
                        "backgrounds": backgrounds, "header": header,
                        "mode": classify(header, science.name, bool(backgrounds))})
    return records


def write_asns(selected, asn_dir):
    """Copies of the selected ASNs with absolute member paths (jwst resolves member
    names against the current directory, this project against the ASN's)."""
    asn_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for rec in selected:
        doc = json.loads(json.dumps(rec["doc"]))
        for member in doc["products"][0]["members"]:
            member["expname"] = str(Path(os.path.realpath(rec["asn"].parent / member["expname"])))
        path = asn_dir / rec["asn"].name
        path.write_text(json.dumps(doc, indent=4))
        paths.append(path)
    return paths


def product_name(rec):
    return rec["doc"]["products"][0]["name"]


# ----------------------------------------------------------------------- reporting
def machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": len(os.sched_getaffinity(0)), "model": model}


def _load():
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _versions():
    from importlib import metadata

    out = []
    for dist in ("snakemake", "jwst", "stdatamodels", "asdf"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist} absent")
    return ", ".join(out)


def rule_jobs(run_dir):
    """``{rule: {job: record}}`` from a Snakemake run's benchmark files and job logs."""
    jobs = {}
    for tsv in sorted((run_dir / "benchmarks").glob("*/*.tsv")):
        rule = tsv.parent.name
        log = run_dir / "logs" / rule / f"{tsv.stem}.log"
        log_text = log.read_text(errors="replace") if log.is_file() else ""
        jobs.setdefault(rule, {})[tsv.stem] = job_record(tsv.read_text(), log_text)
    return jobs


def summarise(records):
    """Median of each column over ``records`` (job records)."""
    records = list(records)
    row = {p: median(r["phases"].get(p) for r in records) for p in PHASES + ("total",)}
    for key in ("other", "snakemake", "wall", "cpu", "rss"):
        row[key] = median(r[key] for r in records)
    return row


def print_breakdown(jobs, tso_job):
    cols = PHASES + ("other", "total", "snakemake", "wall", "cpu", "rss")
    heads = ("interp.start", "imports", "first open", "science", "writing", "other",
             "total", "snakemake", "wall s", "CPU s", "RSS MB")
    print(f"{'rule (jobs; median)':<26}" + "".join(f"{h:>11}" for h in heads))
    rows = [(f"{rule} ({len(recs)})", summarise(recs.values())) for rule, recs in jobs.items()]
    if tso_job is not None and tso_job[1] is not None:
        rows.append(("calibrate: the TSO cube", summarise([tso_job[1]])))
    for label, row in rows:
        cells = "".join(f"{fmt(row[c], 0 if c == 'rss' else 2):>11}" for c in cols)
        print(f"{label:<26}{cells}")
    extra = sorted({p for recs in jobs.values() for r in recs.values() for p in r["phases"]}
                   - set(PHASES) - {"total"})
    print("  phases from each job log's 'timing:' line (n/a: no such line); other = total"
          f" - the five ({', '.join(extra) or 'no other phase logged'}); snakemake ="
          " benchmark wall s - timing total; wall/CPU/RSS from benchmarks/<rule>/*.tsv")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--campaign", type=Path, help="reuse this campaign (rate/, asn/, crds/)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each variant; best of")
    parser.add_argument("--skip-official", action="store_true",
                        help="measure only this project's side (no strun, no Pool)")
    parser.add_argument("--workdir", type=Path, help="kept; default a removed temporary dir")
    parser.add_argument("--runtime-venv", type=Path, default=REPO / ".venv-runtime",
                        help="venv of this project's side (made when missing)")
    parser.add_argument("--same-venv", action="store_true",
                        help="run this project's side from the benchmark's own venv")
    parser.add_argument("--pool-recipe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("asns", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pool_recipe:
        return pool_recipe(args.asns, args.output, args.cores)
    if args.cores < 1 or args.repeat < 1:
        parser.error("--cores and --repeat must be >= 1")
    OURS["bin"] = BIN if args.same_venv else runtime_venv(args.runtime_venv.resolve())

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_campaign_")
        work = Path(tmp.name)
    else:
        work = args.workdir.resolve()
        work.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(args, work)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _bench(args, work):
    started = datetime.datetime.now(datetime.timezone.utc)
    if args.campaign is None:
        campaign = work / "campaign"
        simulate(campaign)
    else:
        campaign = args.campaign.resolve()
    crds = campaign / "crds"
    contexts = sorted(p.name for p in (crds / "mappings" / "jwst").glob("jwst_*.pmap"))
    if not contexts:
        sys.exit(f"{campaign}: no CRDS cache (crds/mappings/jwst/jwst_*.pmap)")
    context = contexts[-1]
    selected, missing = select_asns(campaign_records(campaign))
    if len(selected) < N_ASNS:
        sys.exit(f"{campaign}: only {len(selected)} usable image2 ASNs, need {N_ASNS}")
    if missing:
        print(f"WARNING: the campaign has no {', '.join(missing)} exposure")
    asn_dir = work / "inputs" / "asn"
    if asn_dir.exists():
        shutil.rmtree(asn_dir)
    asns = write_asns(selected, asn_dir)
    env = _env(crds, context)
    cores = args.cores
    n_bkg = len({b for r in selected for b in r["backgrounds"]})
    print(f"\ncampaign {campaign} ({context}): {len(asns)} ASNs, "
          f"{len(asns) + n_bkg} exposures ({n_bkg} background members)")
    for rec in selected:
        bkg = f" + {len(rec['backgrounds'])} bkg" if rec["backgrounds"] else ""
        print(f"  {rec['mode']:<12} {rec['header'].get('SUBARRAY', '?'):<8} "
              f"{product_name(rec)}{bkg}")

    tso = next((r for r in selected if r["mode"] == "tso"), None)
    ff = next((r for r in selected if r["mode"] == "nircam-full" and not r["backgrounds"]),
              None)
    if tso is None or ff is None:
        sys.exit(f"{campaign}: needs a TSO cube and a full-frame NIRCam exposure without "
                 "background members")
    info = machine()
    load_before = _load()
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {info['nproc']} CPUs ({info['model']}); "
          f"--cores {cores}; {load_before}; {_versions()}", flush=True)
    print(f"this project's side runs from {OURS['bin'].parent}"
          f"{' (the benchmark venv, with jwst)' if OURS['bin'] == BIN else ''}", flush=True)

    # every run writes about twice its inputs (_cal, _i2d) before they are deleted
    inputs = {r["science"] for r in selected} | {b for r in selected for b in r["backgrounds"]}
    need = 2.5 * sum(p.stat().st_size for p in inputs)
    free = shutil.disk_usage(work).free
    if free < need:
        print(f"WARNING: {free / 1e9:.1f} GB free in {work}, a run writes about "
              f"{need / 1e9:.1f} GB: it may fail with 'No space left on device'")

    # warm-up (not measured): page cache of the inputs, bytecode of both stacks
    for path in inputs:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
    subprocess.run([OURS["bin"] / "python", "-c",
                    "import snakewebb.steps.image2, snakewebb.steps.resample"],
                   env=env, check=True, capture_output=True)
    if not args.skip_official:
        subprocess.run([sys.executable, "-c", "import jwst.pipeline"], env=env, check=True,
                       capture_output=True)

    # ---- 1-3: the campaign, variants alternating
    variants = ["snakemake"] + ([] if args.skip_official else ["xargs", "pool"])
    runs = {v: [] for v in variants}
    for rep in range(args.repeat):
        order = variants[rep % len(variants):] + variants[: rep % len(variants)]
        for variant in order:
            run_dir = work / f"run{rep}" / variant
            if run_dir.exists():
                shutil.rmtree(run_dir)
            print(f"  run {rep + 1}/{args.repeat}: {variant} ...", end=" ", flush=True)
            if variant == "snakemake":
                result = run_snakemake(run_dir, asn_dir / "*_asn.json", crds, context,
                                       cores, env)
            elif variant == "xargs":
                result = run_xargs(run_dir, asn_dir, asns, cores, env)
            else:
                result = run_pool(run_dir, asn_dir, asns, cores, env)
            made = _count_products(result["out"])
            if made != len(asns):
                sys.exit(f"{variant}: {made} calibrated products for {len(asns)} ASNs "
                         f"(see {result['log']})")
            _drop_products(result["out"])
            result["run_dir"] = run_dir
            runs[variant].append(result)
            print(f"{result['wall']:.1f} s wall, {result['cpu']:.1f} s CPU", flush=True)

    best = {v: min(runs[v], key=lambda r: r["wall"]) for v in variants}

    # ---- 4a: the floor process against the TSO-cube calibrate job run alone
    tso_name = product_name(tso)
    tso_asn = asn_dir / tso["asn"].name
    floors, tso_solo = [], []
    for i in range(3):
        floors.append(run_measured([OURS["bin"] / "python", "-c", FLOOR_CODE],
                                   log=work / f"floor{i}.log", env=env))
        _check(floors[-1], "the floor process")
        solo_dir = work / f"solo_tso{i}"
        if solo_dir.exists():
            shutil.rmtree(solo_dir)
        target = solo_dir / "results" / f"{tso_name}_calints.fits"
        result = run_snakemake(solo_dir, tso_asn, crds, context, 1, env, targets=(str(target),))
        _drop_products(result["out"])
        tso_solo.append(rule_jobs(solo_dir).get("calibrate", {}).get(f"{tso_name}_calints"))
    floor = min(r["wall"] for r in floors)
    tso_walls = [r["wall"] for r in tso_solo if r and r["wall"] is not None]
    tso_wall = min(tso_walls) if tso_walls else None
    tso_best = min((r for r in tso_solo if r and r["wall"] is not None),
                   key=lambda r: r["wall"], default=None)

    # ---- 4b: one full-frame NIRCam exposure alone: its jobs against one strun
    ff_name = product_name(ff)
    ff_asn = asn_dir / ff["asn"].name
    ff_solo, struns = [], []
    for i in range(args.repeat):
        solo_dir = work / f"solo_ff{i}"
        if solo_dir.exists():
            shutil.rmtree(solo_dir)
        target = solo_dir / "results" / f"{ff_name}_i2d.fits"
        result = run_snakemake(solo_dir, ff_asn, crds, context, 1, env, targets=(str(target),))
        _drop_products(result["out"])
        jobs = rule_jobs(solo_dir)
        mine = [jobs.get("calibrate", {}).get(f"{ff_name}_cal"),
                jobs.get("resample_exposure", {}).get(ff_name)]
        result["jobs_cpu"] = (sum(j["cpu"] for j in mine)
                              if all(j and j["cpu"] is not None for j in mine) else None)
        result["jobs_rss"] = max((j["rss"] for j in mine if j and j["rss"] is not None),
                                 default=None)
        # the same snakemake without running the jobs: what the whole process spends
        # beyond it bounds the jobs' CPU from above (the benchmark files sample it)
        dry_dir = work / f"solo_ff_dry{i}"
        if dry_dir.exists():
            shutil.rmtree(dry_dir)
        dry = run_snakemake(dry_dir, ff_asn, crds, context, 1, env, extra=("-n",),
                            targets=(str(dry_dir / "results" / f"{ff_name}_i2d.fits"),))
        result["dry_cpu"] = dry["cpu"]
        ff_solo.append(result)
        if not args.skip_official:
            out = work / f"strun{i}"
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            result = run_measured([BIN / "strun", "calwebb_image2", ff_asn.name,
                                   f"--output_dir={out}"], log=out / "strun.log",
                                  env=env, cwd=asn_dir)
            _check(result, f"strun calwebb_image2 {ff_asn.name}")
            _drop_products(out)
            struns.append(result)
    load_after = _load()

    # ---- report
    print(f"\n== campaign: {len(asns)} ASNs, --cores {cores}, best of {args.repeat} "
          "(wall s; CPU s of the whole process tree; largest process's peak RSS MB)")
    labels = {"snakemake": "snakemake --cores N all (snakewebb)",
              "xargs": "xargs -P N strun calwebb_image2",
              "pool": "spawn Pool(N), Image2Pipeline.call"}
    for v in variants:
        walls = ", ".join(f"{r['wall']:.1f}" for r in runs[v])
        print(f"  {labels[v]:<38}{best[v]['wall']:>8.1f}{best[v]['cpu']:>8.1f}"
              f"{best[v]['rss']:>8.0f}   (runs: {walls})")
    official = min((best[v]["wall"] for v in ("xargs", "pool") if v in best), default=None)
    which = (min((v for v in ("xargs", "pool") if v in best), key=lambda v: best[v]["wall"])
             if official is not None else None)
    campaign_ratio = ratio(best["snakemake"]["wall"], official)

    jobs = rule_jobs(best["snakemake"]["run_dir"])
    tso_in_campaign = jobs.get("calibrate", {}).get(f"{tso_name}_calints")
    print("\n== the jobs of each rule, in the best snakemake campaign run (seconds; TSO "
          f"cube: {tso_name})")
    print_breakdown(jobs, (tso_name, tso_in_campaign))
    if tso_best is not None:
        print(f"\n== the TSO-cube calibrate job run alone ({tso_name}, best of 3)")
        print_breakdown({}, (tso_name, tso_best))

    biggest_job = max((j["rss"] for recs in jobs.values() for j in recs.values()
                       if j["rss"] is not None), default=None)
    ff_best = min(ff_solo, key=lambda r: r["jobs_cpu"] if r["jobs_cpu"] is not None else 1e9)
    strun_cpu = min((r["cpu"] for r in struns), default=None)
    strun_rss = max((r["rss"] for r in struns), default=None)
    strun_wall = min((r["wall"] for r in struns), default=None)
    ff_campaign = [jobs.get("calibrate", {}).get(f"{ff_name}_cal"),
                   jobs.get("resample_exposure", {}).get(ff_name)]
    ff_campaign_cpu = (sum(j["cpu"] for j in ff_campaign)
                       if all(j and j["cpu"] is not None for j in ff_campaign) else None)

    results = [
        ("campaign wall", best["snakemake"]["wall"], official, campaign_ratio,
         TARGETS["campaign"], f"s; vs {which or 'n/a'}"),
        ("TSO-cube calibrate job vs floor", tso_wall, floor, ratio(tso_wall, floor),
         TARGETS["tso_floor"], "s; job alone (benchmark file) vs bare import process"),
        ("full-frame NIRCam CPU, _rate->_i2d", ff_best["jobs_cpu"], strun_cpu,
         ratio(ff_best["jobs_cpu"], strun_cpu), TARGETS["ff_cpu"],
         "s; its 2 jobs alone (benchmark files) vs one strun"),
        ("peak RSS, biggest job vs strun", biggest_job, strun_rss,
         ratio(biggest_job, strun_rss), TARGETS["rss"], "MB; campaign benchmark files"),
    ]
    print("\n== targets of #11 (ratios measured in this run)")
    for label, ours, theirs, value, target, note in results:
        state = verdict(value, target)
        if args.skip_official and theirs is None:
            state = "not measured (--skip-official)"
        print(f"  {label:<36} {fmt(ours):>8} vs {fmt(theirs):>8}  ratio {fmt(value):>5}"
              f"  target <= {target:.2f}  {state}   ({note})")
    print("  cross-checks (no target):")
    floor_runs = ", ".join(f"{r['wall']:.2f}" for r in floors)
    tso_runs = ", ".join(fmt(w) for w in tso_walls)
    tso_campaign = tso_in_campaign["wall"] if tso_in_campaign else None
    print(f"    floor process {floor:.2f} s (runs: {floor_runs}); TSO job alone: "
          f"{tso_runs} s; in the campaign {fmt(tso_campaign)} s")
    bound = ff_best["cpu"] - ff_best["dry_cpu"]
    print(f"    full-frame exposure: its jobs' CPU in the campaign {fmt(ff_campaign_cpu)} s; "
          f"whole solo snakemake process {ff_best['cpu']:.2f} s CPU ({ff_best['rss']:.0f} MB "
          f"peak of its largest process), its dry run {ff_best['dry_cpu']:.2f} s: the jobs "
          f"took at most {bound:.2f} s CPU (ratio to strun {fmt(ratio(bound, strun_cpu))}; "
          f"benchmark files sample every 0.5 s and miss a job's end); strun wall "
          f"{fmt(strun_wall)} s")
    print("    total CPU of the campaign: " + ", ".join(
        f"{v} {best[v]['cpu']:.1f} s" for v in variants))

    date = f"{started:%Y-%m-%d}"
    print(f"\nmachine: {info['nproc']} CPUs, {info['model']}; before: {load_before}; "
          f"after: {load_after}")
    print("\n== markdown (README)\n")
    print(f"Measured {date} on {info['nproc']} CPUs ({info['model']}), `--cores {cores}`, "
          f"{len(asns)} ASNs / {len(asns) + n_bkg} exposures, best of {args.repeat}; "
          f"{load_before} before, {load_after.split('average ')[1]} after.\n")
    print("| measure | snakewebb | official | ratio | target | |")
    print("|---|---:|---:|---:|---:|---|")
    def cell(value, unit, digits=2):
        return "n/a" if value is None else f"{value:.{digits}f} {unit}"

    ours_wall = best["snakemake"]["wall"]
    for v in variants[1:]:
        print(f"| campaign wall vs {labels[v]} | {cell(ours_wall, 's', 1)} | "
              f"{cell(best[v]['wall'], 's', 1)} | {fmt(ratio(ours_wall, best[v]['wall']))} "
              "| | |")
    units = ("s", "s", "s CPU", "MB")
    for (label, ours, theirs, value, target, _), unit in zip(results, units):
        state = verdict(value, target) if not (args.skip_official and theirs is None) else "—"
        digits = 0 if unit == "MB" else 2
        if label == "campaign wall":
            label = f"campaign wall vs the better official ({which or 'n/a'})"
        print(f"| {label} | {cell(ours, unit, digits)} | {cell(theirs, unit, digits)} | "
              f"{fmt(value)} | ≤ {target:.2f} | {state} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
