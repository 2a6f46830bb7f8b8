"""assign_wcs on a full-frame NIRCam exposure: snakewebb against jwst 3.0.0, same run.

Each side runs in its own fresh Python process (as a pipeline job would): the
first call (cold: includes lazy imports, ASDF extension loading and caches) and
the best of the warm calls are timed (wall and CPU), and the peak RSS the first
call adds on top of the loaded exposure is measured. The official side is
jwst's own step body for imaging (``load_wcs`` + ``update_fits_wcsinfo`` with
the step defaults) without the CRDS lookups and Step machinery, so its time is
a lower bound of ``AssignWcsStep`` and the ratios printed are upper bounds.
Both sides open the same two reference files on every call.

Usage: python benchmarks/bench_assign_wcs.py [--repeat N]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

DETECTOR = "NRCA1"
FILTER, PUPIL = "F200W", "CLEAR"

_CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
side, workdir, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
t_import = time.perf_counter()
from stdatamodels.jwst import datamodels as dm
if side.startswith("snakewebb"):
    from snakewebb.steps.assign_wcs import run_assign_wcs
    copy = side == "snakewebb"
    def call(model):
        return run_assign_wcs(model, refs, exposure="bench", copy=copy)
else:
    from jwst.assign_wcs.assign_wcs import load_wcs
    from jwst.assign_wcs.util import update_fits_wcsinfo
    def call(model):
        out = load_wcs(model.copy(), dict(refs))
        update_fits_wcsinfo(out, max_pix_error=0.01, degree=None, max_inv_pix_error=0.01,
                            inv_degree=None, npoints=12, crpix=None)
        return out
t_import = time.perf_counter() - t_import
refs = json.load(open(f"{workdir}/refs.json"))
model = dm.open(f"{workdir}/bench_rate.fits")
model.data  # load arrays before measuring
def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
base = rss_mb()
t, c = time.perf_counter(), time.process_time()
out = call(model)
cold, cold_cpu = time.perf_counter() - t, time.process_time() - c
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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


def make_inputs(workdir):
    """A full-frame NRCA1 _rate-like exposure plus its DISTORTION/FILTEROFFSET files."""
    import numpy as np
    from stdatamodels.jwst import datamodels as dm

    from snakewebb.simulate import reffiles

    dist = reffiles.make_distortion(DETECTOR)
    dist.save(workdir / "distortion.asdf")
    fo = reffiles.make_filteroffset(DETECTOR, [(FILTER, PUPIL)])
    fo.save(workdir / "filteroffset.asdf")
    ap = reffiles.full_frame_aperture(DETECTOR)
    rng = np.random.default_rng(1)
    model = dm.ImageModel((2048, 2048))
    model.data = rng.normal(1.0, 0.1, (2048, 2048)).astype("f4")
    model.err = np.full((2048, 2048), 0.1, "f4")
    model.var_poisson = np.full((2048, 2048), 0.01, "f4")
    model.var_rnoise = np.full((2048, 2048), 0.01, "f4")
    meta = model.meta
    meta.instrument.name, meta.instrument.detector = "NIRCAM", DETECTOR
    meta.instrument.filter, meta.instrument.pupil = FILTER, PUPIL
    meta.instrument.module, meta.instrument.channel = "A", "SHORT"
    meta.exposure.type = "NRC_IMAGE"
    meta.observation.date, meta.observation.time = "2024-03-01", "12:00:00"
    meta.subarray.name = "FULL"
    meta.subarray.xstart = meta.subarray.ystart = 1
    meta.subarray.xsize = meta.subarray.ysize = 2048
    w = meta.wcsinfo
    w.v2_ref, w.v3_ref, w.v3yangle, w.vparity = ap.V2Ref, ap.V3Ref, ap.V3IdlYAngle, ap.VIdlParity
    w.roll_ref, w.ra_ref, w.dec_ref = 123.4, 150.1, 2.2
    w.crpix1, w.crpix2, w.crval1, w.crval2 = ap.XSciRef, ap.YSciRef, 150.1, 2.2
    w.ctype1, w.ctype2, w.cunit1, w.cunit2 = "RA---TAN", "DEC--TAN", "deg", "deg"
    meta.velocity_aberration.scale_factor = 1.00002
    model.save(workdir / "bench_rate.fits")
    refs = {"distortion": str(workdir / "distortion.asdf"),
            "filteroffset": str(workdir / "filteroffset.asdf")}
    (workdir / "refs.json").write_text(json.dumps(refs))


def run_side(side, workdir, repeat):
    out = subprocess.run([sys.executable, "-c", _CHILD, side, str(workdir), str(repeat)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        make_inputs(workdir)
        theirs = run_side("jwst", workdir, args.repeat)
        sides = {name: run_side(name, workdir, args.repeat)
                 for name in ("snakewebb", "snakewebb-nocopy")}
    for ours in sides.values():
        assert ours["s_region"] == theirs["s_region"], (ours["s_region"], theirs["s_region"])
    print(f"assign_wcs, full-frame NIRCam {DETECTOR} (SIP degree {theirs['a_order']}); "
          "snakewebb-nocopy = copy=False (caller owns the model)")
    for name, ours in sides.items():
        print(f"{'':14s}{name:>18s}{'jwst 3.0.0':>12s}{'ratio':>8s}")
        for key, label, unit in [("cold_s", "first call", "s"), ("warm_s", "warm call", "s"),
                                 ("cold_cpu_s", "first call CPU", "s"),
                                 ("warm_cpu_s", "warm call CPU", "s"),
                                 ("peak_extra_mb", "peak +RSS", "MB"),
                                 ("import_s", "imports", "s")]:
            a, b = ours[key], theirs[key]
            print(f"{label:14s}{a:>16.3f}{unit:>2s}{b:>10.3f}{unit:>2s}{a / b:>8.2f}")


if __name__ == "__main__":
    main()
