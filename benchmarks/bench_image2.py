"""Side-by-side cost of stage-2 imaging: snakewebb vs jwst==3.0.0, measured in one run.

On one full-frame NIRCam exposure of a simulated campaign (the same input, the same
CRDS cache and context for both sides), prints:

* per step (background, assign_wcs, flat_field, photom) the wall time here and in the
  official step, and their ratio; the reference lookup is a row of its own here
  (each official step does its own lookup inside its time);
* peak RSS of each side, each measured in its own subprocess (``VmHWM``);
* whole-process wall time for one exposure, rate file -> cal file: a fresh
  ``python`` calling ``calibrate_exposure`` vs a fresh ``python`` running
  ``calwebb_image2`` on the same ASN (``strun`` equivalent, resample skipped since
  ``_i2d`` is a separate product here; ``--with-resample`` to include it), with
  our side split into import and calibrate+write;
* the machine load (1-minute load average, CPU count) before and after, since
  the figures are only comparable on a quiet machine.

Every figure is the best of ``--repeat`` runs (the median is shown beside it);
the two sides alternate so they see the same load.

Background members for the per-step table: two other full-frame exposures of the same
detector (dithers); the whole-process run uses the ASN's own members on both sides.

Usage::

    python benchmarks/bench_image2.py [--campaign DIR] [--repeat 3] [--with-resample]

Without ``--campaign`` a campaign is simulated into a temporary directory first.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = ("background", "assign_wcs", "flat_field", "photom")
SERVERLESS = "https://crds-serverless-mode.stsci.edu"


def _env(crds, context):
    env = dict(os.environ)
    env.update(CRDS_PATH=str(crds), CRDS_CONTEXT=context, CRDS_SERVER_URL=SERVERLESS,
               CRDS_MODE="local", STPIPE_DISABLE_CRDS_STEPPARS="True")
    return env


def _peak_rss_mb():
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries the parent's
    resident size at fork into a child's ru_maxrss across exec, so after the
    campaign is simulated in the parent every worker would report at least that."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- workers
def worker_ours(args):
    """Time each of our steps on the in-memory model; print JSON."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    from snakewebb.references import best_references, resolve_crds
    from snakewebb.steps.assign_wcs import run_assign_wcs
    from snakewebb.steps.background import run_background
    from snakewebb.steps.flat_field import run_flat_field
    from snakewebb.steps.image2 import Image2Options, open_science
    from snakewebb.steps.photom import run_photom

    times = {"import": time.perf_counter() - t0}
    t = time.perf_counter()
    model = open_science(args.input)
    times["open"] = time.perf_counter() - t
    t = time.perf_counter()
    refs = best_references(model, crds=resolve_crds(context=args.context), exposure="bench")
    times["reference lookup"] = time.perf_counter() - t
    t = time.perf_counter()
    model = run_background(model, args.backgrounds, Image2Options(), exposure="bench", copy=False)
    times["background"] = time.perf_counter() - t
    t = time.perf_counter()
    model = run_assign_wcs(model, refs, exposure="bench")
    times["assign_wcs"] = time.perf_counter() - t
    t = time.perf_counter()
    model = run_flat_field(model, refs, exposure="bench", copy=False)
    times["flat_field"] = time.perf_counter() - t
    t = time.perf_counter()
    model = run_photom(model, refs, exposure="bench", copy=False)
    times["photom"] = time.perf_counter() - t
    print(json.dumps({"times": times, "rss_mb": _peak_rss_mb()}))


def worker_official(args):
    """Time each official step (``Step.call``, CRDS lookups included); print JSON."""
    t0 = time.perf_counter()
    from jwst.assign_wcs import AssignWcsStep
    from jwst.background import BackgroundStep
    from jwst.flatfield import FlatFieldStep
    from jwst.photom import PhotomStep
    from stdatamodels.jwst import datamodels

    times = {"import": time.perf_counter() - t0}
    t = time.perf_counter()
    model = datamodels.open(args.input)
    times["open"] = time.perf_counter() - t
    for name, call in (
        ("background", lambda m: BackgroundStep.call(m, args.backgrounds)),
        ("assign_wcs", AssignWcsStep.call),
        ("flat_field", FlatFieldStep.call),
        ("photom", PhotomStep.call),
    ):
        t = time.perf_counter()
        model = call(model)
        times[name] = time.perf_counter() - t
    print(json.dumps({"times": times, "rss_mb": _peak_rss_mb()}))


def worker_ours_e2e(args):
    t0 = time.perf_counter()
    from snakewebb.steps.image2 import Image2Options, calibrate_exposure

    t1 = time.perf_counter()
    calibrate_exposure(args.input, args.output, backgrounds=args.backgrounds,
                       options=Image2Options(crds_context=args.context))
    t2 = time.perf_counter()
    print(json.dumps({"rss_mb": _peak_rss_mb(),
                      "times": {"import": t1 - t0, "calibrate+write": t2 - t1}}))


def worker_official_e2e(args):
    from jwst.pipeline import Image2Pipeline

    steps = {} if args.with_resample else {"resample": {"skip": True}}
    os.chdir(Path(args.asn).parent)
    Image2Pipeline.call(Path(args.asn).name, output_dir=args.output, save_results=True,
                        steps=steps)
    print(json.dumps({"rss_mb": _peak_rss_mb()}))


WORKERS = {"ours": worker_ours, "official": worker_official,
           "ours-e2e": worker_ours_e2e, "official-e2e": worker_official_e2e}


# --------------------------------------------------------------------------- driver
def _load():
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def _run(kind, env, extra):
    cmd = [sys.executable, __file__, "--worker", kind] + extra
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def _choose(campaign_dir):
    """A full-frame NIRCam science exposure, its ASN, and two same-detector full frames as
    backgrounds."""
    rate = sorted((Path(campaign_dir) / "rate").glob("*_nrca1_rate.fits"))
    if len(rate) < 3:
        sys.exit(f"{campaign_dir}: need three full-frame NRCA1 exposures (a 24-exposure campaign)")
    science, backgrounds = rate[0], rate[1:3]
    name = science.name[: -len("_rate.fits")]
    asn = next((Path(campaign_dir) / "asn").glob(f"*{name}_image2_asn.json"))
    mappings = Path(campaign_dir) / "crds/mappings/jwst"
    contexts = sorted(p.name for p in mappings.glob("jwst_*.pmap"))
    return science, backgrounds, asn, contexts[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--with-resample", action="store_true")
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--input")
    parser.add_argument("--asn")
    parser.add_argument("--output")
    parser.add_argument("--context")
    parser.add_argument("--backgrounds", nargs="*", default=[])
    args = parser.parse_args(argv)
    if args.worker:
        return WORKERS[args.worker](args)

    tmp = None
    if args.campaign is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_image2_")
        args.campaign = Path(tmp.name)
        print(f"simulating a campaign in {args.campaign} ...", flush=True)
        from snakewebb.simulate import simulate_campaign

        simulate_campaign(args.campaign, n_exposures=24, seed=0)
    science, backgrounds, asn, context = _choose(args.campaign)
    env = _env(args.campaign / "crds", context)
    common = ["--input", str(science), "--context", context,
              "--backgrounds", *map(str, backgrounds)]
    print(f"exposure {science.name}; backgrounds {[b.name for b in backgrounds]}; {context}")
    print(f"before: {_load()}", flush=True)

    runs = {"ours": [], "official": []}
    for _ in range(args.repeat):  # interleaved so both sides see the same machine load
        for kind in runs:
            runs[kind].append(_run(kind, env, common))

    def best(kind, key, pick=min):
        return pick([r["times"][key] for r in runs[kind]])

    rows = [(s, best("ours", s), best("official", s)) for s in STEPS]
    lookup = best("ours", "reference lookup")
    ours_total = sum(r[1] for r in rows) + lookup
    off_total = sum(r[2] for r in rows)
    med_ours = sum(best("ours", s, _median) for s in STEPS + ("reference lookup",))
    med_off = sum(best("official", s, _median) for s in STEPS)
    print(f"\nper step, best of {args.repeat} (seconds)")
    print(f"{'step':<18}{'snakewebb':>11}{'official':>11}{'ratio':>8}")
    for step, ours, off in rows:
        print(f"{step:<18}{ours:>11.3f}{off:>11.3f}{ours / off:>8.2f}")
    print(f"{'reference lookup':<18}{lookup:>11.3f}{'(in steps)':>11}")
    print(f"{'four steps':<18}{ours_total:>11.3f}{off_total:>11.3f}{ours_total / off_total:>8.2f}"
          "   target <= 0.20")
    print(f"{'  (medians)':<18}{med_ours:>11.3f}{med_off:>11.3f}{med_ours / med_off:>8.2f}")
    rss_o = max(r["rss_mb"] for r in runs["ours"])
    rss_f = max(r["rss_mb"] for r in runs["official"])
    print(f"{'peak RSS (MB)':<18}{rss_o:>11.0f}{rss_f:>11.0f}{rss_o / rss_f:>8.2f}"
          "   target <= 0.40")

    # whole process: both sides take the ASN's own members (the step table above adds
    # two backgrounds to exercise the background step)
    asn_doc = json.loads(asn.read_text())
    asn_bkgs = [str((asn.parent / m["expname"]).resolve())
                for m in asn_doc["products"][0]["members"] if m["exptype"] == "background"]
    e2e_args = ["--input", str(science), "--context", context, "--backgrounds", *asn_bkgs]
    print(f"\nwhole-process input: {asn.name} ({len(asn_bkgs)} background members)")
    with tempfile.TemporaryDirectory(prefix="bench_image2_out_") as out:
        e2e = {"ours-e2e": [], "official-e2e": []}
        for i in range(args.repeat):
            e2e["ours-e2e"].append(_run("ours-e2e", env, e2e_args + [
                "--output", str(Path(out) / f"ours{i}_cal.fits")]))
            extra = ["--asn", str(asn.resolve()), "--output", str(Path(out) / f"off{i}")]
            if args.with_resample:
                extra.append("--with-resample")
            e2e["official-e2e"].append(_run("official-e2e", env, extra))
    wall_o = min(r["wall"] for r in e2e["ours-e2e"])
    wall_f = min(r["wall"] for r in e2e["official-e2e"])
    med_o = _median([r["wall"] for r in e2e["ours-e2e"]])
    med_f = _median([r["wall"] for r in e2e["official-e2e"]])
    erss_o = max(r["rss_mb"] for r in e2e["ours-e2e"])
    erss_f = max(r["rss_mb"] for r in e2e["official-e2e"])
    what = "with resample" if args.with_resample else "resample skipped"
    print(f"\nwhole process, rate -> cal, fresh python each, best of {args.repeat}")
    print(f"{'':<18}{'snakewebb':>11}{'official':>11}{'ratio':>8}")
    print(f"{'wall (s)':<18}{wall_o:>11.2f}{wall_f:>11.2f}{wall_o / wall_f:>8.2f}   ({what})")
    print(f"{'  (medians)':<18}{med_o:>11.2f}{med_f:>11.2f}{med_o / med_f:>8.2f}")
    for part in ("import", "calibrate+write"):
        print(f"{'  ' + part:<18}{min(r['times'][part] for r in e2e['ours-e2e']):>11.2f}")
    print(f"{'peak RSS (MB)':<18}{erss_o:>11.0f}{erss_f:>11.0f}{erss_o / erss_f:>8.2f}")
    print(f"\nafter: {_load()}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
