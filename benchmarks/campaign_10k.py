"""A cheap large campaign for the workflow benchmarks: real headers, 8x8 pixels.

The exposure specs are those of the simulated campaign
(:func:`snakewebb.simulate.campaign.design_campaign`), so instruments, exposure
types, TSO cubes, background members and dates mix as in the demo; only the
pixels are left out (an 8x8 SCI array, or 2x8x8 for cubes). The CRDS cache is the
simulator's (:func:`snakewebb.simulate.crds_cache.write_crds_cache`), so reference
lookups are real.
"""

import json
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from snakewebb.simulate.campaign import design_campaign

__all__ = ["primary_header", "write_tiny_rate", "write_asn", "build_campaign"]


def primary_header(spec):
    """The primary-header keywords that the workflow and CRDS select on."""
    date, time = spec.date_obs.split("T")
    return {
        "TELESCOP": "JWST", "INSTRUME": spec.instrument, "DETECTOR": spec.detector,
        "EXP_TYPE": spec.exp_type, "FILTER": spec.filter or "N/A",
        "PUPIL": spec.pupil or "N/A", "SUBARRAY": spec.subarray, "APERNAME": spec.aperture,
        "TSOVISIT": bool(spec.tsovisit), "NINTS": spec.nints,
        "DATE-OBS": date, "TIME-OBS": time,
        "READPATT": "FASTR1" if spec.instrument == "MIRI" else "RAPID",
        "PROGRAM": f"{spec.program:05d}", "OBSERVTN": f"{spec.observation:03d}",
        "VISIT": f"{spec.visit:03d}", "EXPOSURE": f"{spec.exposure:05d}",
        "FILENAME": spec.filename, "DATAMODL": "CubeModel" if spec.is_cube else "ImageModel",
    }


def write_tiny_rate(path, spec):
    """A _rate/_rateints file with realistic headers and a tiny SCI array."""
    primary = fits.PrimaryHDU()
    primary.header.update(primary_header(spec))
    shape = (2, 8, 8) if spec.is_cube else (8, 8)
    fits.HDUList([primary, fits.ImageHDU(np.zeros(shape, "f4"), name="SCI")]).writeto(
        path, overwrite=True)


def write_asn(path, spec, rate_dir):
    """A Level-2 image2 ASN with one product: the spec and its background members."""
    rel = os.path.relpath(rate_dir, path.parent)
    members = [{"expname": f"{rel}/{spec.filename}", "exptype": "science"}]
    members += [{"expname": f"{rel}/{b}_rate.fits", "exptype": "background"}
                for b in spec.backgrounds]
    path.write_text(json.dumps({
        "asn_type": "image2", "asn_rule": "bench", "asn_pool": "bench_pool",
        "products": [{"name": spec.name, "members": members}]}))


def build_campaign(root, n_exposures=10_000):
    """Write ``root/rate``, ``root/asn`` and ``root/crds``; return (specs, contexts)."""
    from snakewebb.simulate.crds_cache import write_crds_cache

    root = Path(root)
    (root / "rate").mkdir(parents=True, exist_ok=True)
    (root / "asn").mkdir(exist_ok=True)
    specs = design_campaign(n_exposures)
    for spec in specs:
        write_tiny_rate(root / "rate" / spec.filename, spec)
        write_asn(root / "asn" / f"{spec.name}_asn.json", spec, root / "rate")
    contexts = write_crds_cache(root / "crds", specs)
    return specs, contexts
