"""Photom step: PHOTOM/AREA lookup results in, calibrated model with provenance out."""

import logging
from pathlib import Path

from snakewebb import photom as algorithm
from snakewebb.errors import ExposureError
from snakewebb.steps import provenance
from snakewebb.steps.flat_field import open_reference

__all__ = ["run_photom"]

log = logging.getLogger(__name__)


def run_photom(model, refs, *, exposure, copy=True):
    """Convert ``model`` to MJy/sr with ``refs["photom"]`` and attach ``refs["area"]``.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Not modified when ``copy`` is True.
    refs : dict
        ``{"photom": path or None, "area": path or None}``; PHOTOM None (N/A)
        skips the step; AREA None means no pixel-area map (PIXAR_* then come
        from the PHOTOM header).
    exposure : str
        Exposure name for error messages.
    copy : bool
        False lets a caller that owns ``model`` have it calibrated in place.

    Returns
    -------
    model
        With ``meta.cal_step.photom``, ``meta.ref_file.photom`` / ``.area`` recorded.
        A NIRISS cube is recorded SKIPPED (as the official step does) but still
        gets the AREA map and PIXAR_* keywords.

    Raises
    ------
    ExposureError
        Reference missing or unreadable, no PHOTOM row for the mode, AREA not fitting.
    """
    for reftype in ("photom", "area"):
        if reftype not in refs:
            raise ExposureError(exposure, f"no {reftype.upper()} reference was looked up")
    photom_path, area_path = refs["photom"], refs["area"]
    out = model.copy() if copy else model
    provenance.record_reference(out, "photom", photom_path)
    provenance.record_reference(out, "area", area_path)
    if photom_path is None:
        log.info("%s: PHOTOM is N/A for this mode; photom skipped", exposure)
        provenance.mark_step(out, "photom", provenance.SKIPPED)
        return out
    phot = open_reference(photom_path, "photom", exposure=exposure)
    area = None
    try:
        if area_path is not None:
            area = open_reference(area_path, "area", exposure=exposure)
        if not hasattr(phot, "phot_table"):
            raise ExposureError(
                exposure, f"PHOTOM {Path(photom_path).name} has no imaging PHOTOM table"
            )
        try:
            _, applied = algorithm.apply_photom(out, phot, area, copy=False)
        except (algorithm.PhotomError, KeyError) as exc:
            raise ExposureError(exposure, f"PHOTOM {Path(photom_path).name}: {exc}") from exc
    finally:
        phot.close()
        if area is not None:
            area.close()
    status = provenance.COMPLETE if applied else provenance.SKIPPED
    provenance.mark_step(out, "photom", status)
    log.info("%s: photom %s", exposure, status)
    return out
