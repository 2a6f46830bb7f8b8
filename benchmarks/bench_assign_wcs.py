"""assign_wcs on a full-frame NIRCam exposure: snakewebb against jwst 3.0.0, same run.

The input is a one-exposure simulated campaign (NRCA1 full frame, NRC_IMAGE)
with its offline CRDS cache. Each variant runs in its own fresh Python process
(as a pipeline job would); the first call (cold: lazy imports, ASDF extension
loading, caches) and the best warm call are timed, wall and CPU, and the peak
RSS the first call adds on top of the loaded exposure is measured (high-water
mark reset just before the call).

Variants:

``snakewebb``         ``run_assign_wcs(model, refs)``; refs are the CRDS paths the
                      workflow resolves when it builds the graph; deep copy of the model
``snakewebb-nocopy``  the same with ``copy=False`` (the caller owns the model)
``jwst-step``         ``AssignWcsStep.call(model)``: CRDS lookups of its 16 reftypes
                      (offline, local cache) + the step body
``jwst-body``         the step body only: ``load_wcs`` + ``update_fits_wcsinfo``

Usage: python benchmarks/bench_assign_wcs.py [--repeat N]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
variant, rate, refs, repeat = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
t_import = time.perf_counter()
from stdatamodels.jwst import datamodels as dm
if variant.startswith("snakewebb"):
    from snakewebb.steps.assign_wcs import run_assign_wcs
    copy = variant == "snakewebb"
    def call(model):
        return run_assign_wcs(model, refs, exposure="bench", copy=copy)
elif variant == "jwst-step":
    from jwst.assign_wcs import AssignWcsStep
    def call(model):
        return AssignWcsStep.call(model)
else:
    from jwst.assign_wcs.assign_wcs import load_wcs
    from jwst.assign_wcs.util import update_fits_wcsinfo
    def call(model):
        files = {k: (v or "N/A") for k, v in refs.items()}
        out = load_wcs(model.copy(), files)
        update_fits_wcsinfo(out, max_pix_error=0.01, degree=None, max_inv_pix_error=0.01,
                            inv_degree=None, npoints=12, crpix=None)
        return out
t_import = time.perf_counter() - t_import
model = dm.open(rate)
for name in ("data", "dq", "err", "var_poisson", "var_rnoise", "var_flat"):
    getattr(model, name)  # load the arrays before measuring
def status_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
with open("/proc/self/clear_refs", "w") as fh:  # reset the RSS high-water mark
    fh.write("5")
base = status_mb("VmRSS")
t, c = time.perf_counter(), time.process_time()
out = call(model)
cold, cold_cpu = time.perf_counter() - t, time.process_time() - c
peak = status_mb("VmHWM")
warm, warm_cpu = [], []
for _ in range(repeat):
    t, c = time.perf_counter(), time.process_time()
    call(model)
    warm.append(time.perf_counter() - t)
    warm_cpu.append(time.process_time() - c)
print(json.dumps({"import_s": t_import, "cold_s": cold, "warm_s": min(warm),
                  "cold_cpu_s": cold_cpu, "warm_cpu_s": min(warm_cpu),
                  "peak_extra_mb": peak - base, "s_region": out.meta.wcsinfo.s_region,
                  "a_order": out.meta.wcsinfo.a_order}))
"""

_ROWS = [("cold_s", "first call", "s"), ("warm_s", "warm call", "s"),
         ("cold_cpu_s", "first call CPU", "s"), ("warm_cpu_s", "warm call CPU", "s"),
         ("peak_extra_mb", "peak +RSS", "MB")]


def make_inputs(workdir):
    """One simulated NRCA1 full-frame exposure, its CRDS cache and its references."""
    from snakewebb import references
    from snakewebb.simulate import simulate_campaign

    result = simulate_campaign(workdir, n_exposures=1, seed=0)
    (name, rate), = result["files"].items()
    crds = references.resolve_crds(result["crds"], result["contexts"][0])
    from stdatamodels.jwst import datamodels as dm

    with dm.open(rate) as model:
        assert model.meta.exposure.type == "NRC_IMAGE" and model.data.shape == (2048, 2048)
        refs = references.best_references(model, ("distortion", "filteroffset"),
                                          crds=crds, exposure=name)
    env = crds.environment()
    env["STPIPE_DISABLE_CRDS_STEPPARS"] = "True"
    return rate, refs, env


def run_variant(variant, rate, refs, env, repeat):
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, variant, str(rate), json.dumps(refs), str(repeat)],
        capture_output=True, text=True, check=True, env={**os.environ, **env},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rate, refs, env = make_inputs(Path(tmp))
        res = {v: run_variant(v, rate, refs, env, args.repeat)
               for v in ("jwst-step", "jwst-body", "snakewebb", "snakewebb-nocopy")}
    for name, r in res.items():
        assert r["s_region"] == res["jwst-step"]["s_region"], (name, r["s_region"])
    print(f"assign_wcs, full-frame NIRCam NRCA1 (SIP degree {res['jwst-step']['a_order']}); "
          f"ratios = snakewebb / jwst-step")
    header = "".join(f"{v:>18s}" for v in res)
    print(f"{'':16s}{header}{'ratio':>8s}{'nocopy':>8s}")
    for key, label, unit in _ROWS:
        cells = "".join(f"{r[key]:>15.3f} {unit:<2s}" for r in res.values())
        ref = res["jwst-step"][key]
        print(f"{label:16s}{cells}{res['snakewebb'][key] / ref:>8.2f}"
              f"{res['snakewebb-nocopy'][key] / ref:>8.2f}")


if __name__ == "__main__":
    main()
