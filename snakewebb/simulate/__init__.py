"""Simulated JWST imaging campaigns with a local CRDS cache, for offline demos and tests.

``simulate_campaign(outdir, n_exposures=24, seed=0)`` writes::

    OUTDIR/crds/    a serverless CRDS cache (two contexts; the second has a new FLAT)
    OUTDIR/rate/    <exposure>_rate.fits / <exposure>_rateints.fits
    OUTDIR/asn/     one Level-2 image2 ASN per science exposure
    OUTDIR/truth/   catalog.ecsv (every source) and <exposure>_truth.ecsv (per exposure)

The design (which exposures, pointings, dates) is in :mod:`.campaign`, the pixels in
:mod:`.exposures`, the associations in :mod:`.asn`.
"""

import json
import logging
import time
from pathlib import Path

__all__ = ["simulate_campaign", "lookup_references"]

log = logging.getLogger(__name__)

#: The reference types the writer reads.
SIM_REFTYPES = ("distortion", "filteroffset", "flat", "photom", "area")


def _header(spec):
    """FITS keywords CRDS selects references on, for a spec not yet written."""
    date, tim = spec.date_obs[:10], spec.date_obs[11:]
    header = {
        "TELESCOP": "JWST", "INSTRUME": spec.instrument, "DETECTOR": spec.detector,
        "EXP_TYPE": spec.exp_type, "SUBARRAY": spec.subarray,
        "FILTER": spec.filter if spec.filter is not None else "N/A",
        "PUPIL": spec.pupil if spec.pupil is not None else "N/A",
        "DATE-OBS": date, "TIME-OBS": tim, "TSOVISIT": bool(spec.tsovisit),
    }
    if spec.instrument == "NIRCAM":
        header["CHANNEL"] = "LONG" if spec.detector.endswith("LONG") else "SHORT"
        header["MODULE"] = spec.detector[3]
    return header


def lookup_references(spec, *, crds_path, context):
    """{reftype: absolute path or None} of the simulator's reftypes for ``spec``."""
    from ..references import best_references, resolve_crds

    crds = resolve_crds(str(crds_path), context, environ={})
    return best_references(_header(spec), SIM_REFTYPES, crds=crds, exposure=spec.name)


def simulate_campaign(outdir, n_exposures=24, seed=0):
    """Simulate a campaign of ``n_exposures`` exposures under ``outdir``.

    Parameters
    ----------
    outdir : str or Path
        Created if needed. Existing products of the same names are replaced.
    n_exposures : int
        Any number >= 1; the default 24 covers every supported mode.
    seed : int
        Everything written is a deterministic function of ``seed`` and ``n_exposures``.

    Returns
    -------
    dict
        ``root``, ``rate``, ``asn``, ``truth``, ``crds`` (Paths), ``contexts`` (names, oldest
        first), ``specs`` (list of ExposureSpec), ``files`` ({exposure: product path}),
        ``asns`` ({exposure: ASN path}), ``seconds`` (wall time).
    """
    from .asn import write_asns
    from .campaign import design_campaign
    from .crds_cache import write_crds_cache
    from .exposures import make_truth_catalog, write_exposure

    t0 = time.perf_counter()
    root = Path(outdir)
    specs = design_campaign(n_exposures, seed=seed)
    dirs = {k: root / k for k in ("rate", "asn", "truth", "crds")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)

    contexts = write_crds_cache(dirs["crds"], specs, seed=seed)
    # The newest delivery stands for the better-calibrated flat: the data are made with
    # it, so products under the newest context are flat and the older context leaves
    # the flat's residual in exactly the exposures the switch reruns.
    context = contexts[-1]
    log.info("CRDS cache with %s written in %.1f s", contexts, time.perf_counter() - t0)

    catalog = make_truth_catalog(specs, seed=seed)
    tmp = dirs["truth"] / ".catalog.ecsv.part"
    catalog.write(tmp, format="ascii.ecsv", overwrite=True)
    tmp.replace(dirs["truth"] / "catalog.ecsv")

    files = {}
    cache = {}  # references read once per run, shared by the exposures that use them
    for spec in specs:
        refs = lookup_references(spec, crds_path=dirs["crds"], context=context)
        path, _truth = write_exposure(spec, dirs["rate"], refs, catalog, seed=seed,
                                      truth_dir=dirs["truth"], cache=cache)
        files[spec.name] = path
    asns = write_asns(specs, dirs["asn"], dirs["rate"])
    seconds = time.perf_counter() - t0
    summary = {
        "n_exposures": len(specs), "seed": int(seed), "contexts": list(contexts),
        "exposures": {s.name: {"exp_type": s.exp_type, "role": s.role,
                               "file": f"rate/{s.filename}"} for s in specs},
    }
    tmp = root / ".campaign.json.part"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(root / "campaign.json")
    log.info("simulated %d exposures in %.1f s under %s", len(specs), seconds, root)
    return {"root": root, **dirs, "contexts": list(contexts), "specs": specs,
            "files": files, "asns": asns, "seconds": seconds}
