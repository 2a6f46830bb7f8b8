"""Resample (``_cal`` -> ``_i2d``) of a full-frame NIRCam exposure: snakewebb vs jwst 3.0.0.

The input is a real calwebb_image2 ``_cal`` (jwst's own, made from a simulated
campaign exposure with the campaign's SIAF-based references), or a ``_cal``
given with ``--cal``. Each side runs in its own fresh Python process, as a
pipeline job would, alternating sides ``--repeat`` times:

* ``jwst``: ``ResampleStep.call(model)`` with the step defaults (what
  calwebb_image2 runs), on the opened model;
* ``snakewebb``: ``snakewebb.resample.resample_image(model)`` on the opened model,
  and ``resample_exposure`` file to file (read + resample + atomic write);
* with ``--whole-image``, also ``snakewebb-whole``: the same call drizzling the image
  as one block instead of row blocks (what the row blocks save in peak RSS).

Printed: median wall and CPU time of the call, the process peak RSS (VmHWM), and the
ratios snakewebb / jwst; and how much of snakewebb's call is spent inside drizzle's C
kernel (``cdrizzle.tdriz``, every pass), the part that no resampling built on the
drizzle package can avoid. CPU time and peak RSS include any child processes
(``RUSAGE_CHILDREN``; their peak is added to the parent's, an upper bound).

Usage: python benchmarks/bench_resample.py [--cal PATH] [--repeat N] [--keep DIR]
       [--whole-image]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, os, resource, sys, time, warnings
warnings.simplefilter("ignore")
side, cal, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
t_start = time.perf_counter()
from stdatamodels.jwst import datamodels as dm
if side == "jwst":
    from jwst.resample import ResampleStep
    def call(model):
        return ResampleStep.call(model)
elif side in ("snakewebb", "snakewebb-whole"):
    from snakewebb import resample
    from snakewebb.resample import passes  # the module that calls the kernel
    blocks = {} if side == "snakewebb" else {"block_rows": None}  # row blocks off
    kernel_s = [0.0]
    tdriz = passes.cdrizzle.tdriz
    def timed_tdriz(**kwargs):  # time spent in drizzle's C kernel (0.3 us per call added)
        t = time.perf_counter()
        try:
            return tdriz(**kwargs)
        finally:
            kernel_s[0] += time.perf_counter() - t
    passes.cdrizzle = type("cdrizzle", (), {"tdriz": staticmethod(timed_tdriz)})
    def call(model):
        return resample.resample_image(model, **blocks)
else:
    from snakewebb.steps.resample import resample_exposure
t_import = time.perf_counter() - t_start
if side == "snakewebb-file":
    t, c = time.perf_counter(), time.process_time()
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    c += ch.ru_utime + ch.ru_stime  # children before the call do not count
    resample_exposure(cal, os.path.join(workdir, "bench_i2d.fits"))
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    shape = None
else:
    model = dm.open(cal)
    model.data, model.var_rnoise, model.var_poisson, model.var_flat, model.dq
    t, c = time.perf_counter(), time.process_time()
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    c += ch.ru_utime + ch.ru_stime  # children before the call do not count
    out = call(model)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    shape = list(out.data.shape)
# Peak RSS of this process from VmHWM: ru_maxrss would carry over the RSS of the
# benchmark process that forked us (Linux keeps it across fork + exec).
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
# anything run in child processes counts too: their CPU is added, and their peak
# RSS is added to ours (an upper bound on what the job held at once)
children = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu += children.ru_utime + children.ru_stime
peak = (hwm_kb + children.ru_maxrss) / 1024
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "import_s": t_import, "peak_rss_mb": peak,
                  "process_s": time.perf_counter() - t_start, "shape": shape,
                  "kernel_s": kernel_s[0] if side in ("snakewebb", "snakewebb-whole")
                  else None}))
"""


def _crds_env(crds, context):
    env = dict(os.environ)
    env.update({"CRDS_PATH": str(crds), "CRDS_CONTEXT": str(context), "CRDS_MODE": "local",
                "CRDS_SERVER_URL": "https://crds-serverless-mode.stsci.edu",
                "STPIPE_DISABLE_CRDS_STEPPARS": "True"})
    return env


def make_cal(workdir):
    """A jwst-made full-frame NIRCam ``_cal`` from a small simulated campaign."""
    sys.path.insert(0, str(ROOT / "tests"))
    from oracle import run_official_image2
    from snakewebb.simulate import simulate_campaign

    result = simulate_campaign(workdir / "campaign", n_exposures=6, seed=0)
    for spec in result["specs"]:
        if spec.exp_type == "NRC_IMAGE" and not spec.is_cube and spec.role == "science":
            found = run_official_image2(
                result["asns"][spec.name], workdir / "official", crds_path=result["crds"],
                context=result["contexts"][0], steps={"resample": {"skip": True}})
            return found["cal"], _crds_env(result["crds"], result["contexts"][0])
    raise SystemExit("the simulated campaign has no 2D NRC_IMAGE exposure")


def run_side(side, cal, workdir, env):
    proc = subprocess.run([sys.executable, "-c", _CHILD, side, str(cal), str(workdir)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{side} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cal", type=Path, help="a full-frame _cal (default: simulate one)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--whole-image", action="store_true",
                        help="also time the call drizzling the image as one block")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.cal:
            cal, env = args.cal.resolve(), _crds_env("", "")
            env.pop("CRDS_PATH"), env.pop("CRDS_CONTEXT")
        else:
            cal, env = make_cal(workdir)
        runs = {"jwst": [], "snakewebb": [], "snakewebb-file": []}
        if args.whole_image:
            runs["snakewebb-whole"] = []
        for _ in range(args.repeat):
            for side in runs:
                runs[side].append(run_side(side, cal, workdir, env))

    def med(side, key):
        return statistics.median(r[key] for r in runs[side])

    print(f"input: {cal.name}  repeats: {args.repeat}  output shape: {runs['jwst'][0]['shape']}")
    print(f"{'side':16s} {'wall s':>8s} {'cpu s':>8s} {'peak RSS MB':>12s} {'process s':>10s}")
    for side in runs:
        print(f"{side:16s} {med(side, 'wall_s'):8.3f} {med(side, 'cpu_s'):8.3f} "
              f"{med(side, 'peak_rss_mb'):12.0f} {med(side, 'process_s'):10.2f}")
    for side in [s for s in runs if s != "jwst"]:
        print(f"ratio {side}/jwst: time {med(side, 'wall_s') / med('jwst', 'wall_s'):.3f}  "
              f"cpu {med(side, 'cpu_s') / med('jwst', 'cpu_s'):.3f}  "
              f"peak RSS {med(side, 'peak_rss_mb') / med('jwst', 'peak_rss_mb'):.3f}")
    kernel = med("snakewebb", "kernel_s")
    print(f"of snakewebb's call, drizzle's C kernel (cdrizzle.tdriz, every pass): {kernel:.3f} s "
          f"= {kernel / med('jwst', 'wall_s'):.3f} of jwst's time")
    same = runs["snakewebb"][0]["shape"] == runs["jwst"][0]["shape"]
    print(f"same output shape: {same}")


if __name__ == "__main__":
    main()
