"""Flat-field step: FLAT lookup result in, flat-fielded model with provenance out."""

import logging
from pathlib import Path

from snakewebb import flat_field as algorithm
from snakewebb.errors import ExposureError
from snakewebb.steps import provenance

__all__ = ["run_flat_field", "open_reference"]

log = logging.getLogger(__name__)

#: Flat types the official step looks up; only FLAT applies to imaging, the
#: NIRSpec spectroscopic ones are recorded as N/A like in official products.
_NA_FLAT_TYPES = ("fflat", "sflat", "dflat")


def open_reference(path, reftype, *, exposure, model_class=None):
    """Open reference ``path`` as a datamodel; a missing/unreadable file is an ExposureError."""
    from stdatamodels.jwst import datamodels

    path = Path(path)
    if not path.is_file():
        raise ExposureError(exposure, f"{reftype.upper()} reference {path.name} not found at {path}")
    try:
        opener = model_class or datamodels.open
        return opener(str(path))
    except Exception as exc:  # any reader failure: one line naming the file
        raise ExposureError(
            exposure, f"cannot read {reftype.upper()} reference {path.name}: {exc}"
        ) from exc


def _record_na_flats(model):
    for reftype in _NA_FLAT_TYPES:
        try:
            provenance.record_reference(model, reftype, None)
        except AttributeError:  # a schema without that reftype
            log.debug("no meta.ref_file.%s in this schema", reftype)


def run_flat_field(model, refs, *, exposure, copy=True):
    """Flat-field ``model`` with ``refs["flat"]``.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Not modified when ``copy`` is True.
    refs : dict
        ``{"flat": path or None}``; None means N/A for this mode: the step is
        logged and recorded SKIPPED.
    exposure : str
        Exposure name for error messages.
    copy : bool
        False lets a caller that owns ``model`` have it corrected in place.

    Returns
    -------
    model
        A new model (or ``model`` itself when ``copy`` is False) with
        ``meta.cal_step.flat_field`` and ``meta.ref_file.flat`` recorded.

    Raises
    ------
    ExposureError
        FLAT missing from the cache or unreadable, or not covering the science subarray.
    """
    if "flat" not in refs:
        raise ExposureError(exposure, "no FLAT reference was looked up")
    path = refs["flat"]
    out = model.copy() if copy else model
    _record_na_flats(out)
    if path is None:
        log.info("%s: FLAT is N/A for this mode; flat_field skipped", exposure)
        provenance.record_reference(out, "flat", None)
        provenance.mark_step(out, "flat_field", provenance.SKIPPED)
        return out
    from stdatamodels.jwst import datamodels

    with open_reference(path, "flat", exposure=exposure, model_class=datamodels.FlatModel) as flat:
        try:
            arrays = algorithm.flat_for_science(out, flat)
        except algorithm.FlatShapeError as exc:
            raise ExposureError(exposure, f"FLAT {Path(path).name}: {exc}") from exc
    # the reference is closed before the arithmetic: only its cut-outs stay in memory
    algorithm.apply_flat_arrays(out, *arrays, copy=False)
    log.info("%s: flat-fielded with %s", exposure, Path(path).name)
    provenance.record_reference(out, "flat", path)
    provenance.mark_step(out, "flat_field", provenance.COMPLETE)
    return out
