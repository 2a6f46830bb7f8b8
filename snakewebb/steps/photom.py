"""Photom step: PHOTOM/AREA lookup results in, calibrated model with provenance out."""

import logging
from contextlib import contextmanager
from pathlib import Path

from astropy.io import fits

from snakewebb import photom as algorithm
from snakewebb.errors import ExposureError
from snakewebb.io import refuse_truncated_fits
from snakewebb.steps import provenance

__all__ = ["run_photom"]

log = logging.getLogger(__name__)


class _Node:
    def __init__(self, **fields):
        self.__dict__.update(fields)


def _photometry(head):
    return _Node(pixelarea_steradians=head.get("PIXAR_SR"),
                 pixelarea_arcsecsq=head.get("PIXAR_A2"))


class _PhotomRef:
    """The tables of an imaging PHOTOM reference (PHOTOM, TIMECOEFF_*), read with astropy.

    Columns keep the file's types; :mod:`snakewebb.photom` casts the numbers it
    uses to the schema's float32.
    """

    def __init__(self, hdul, name):
        self.phot_table = hdul["PHOTOM"].data
        if self.phot_table is None or not len(self.phot_table):
            raise ValueError("empty PHOTOM table")
        self.meta = _Node(filename=name, photometry=_photometry(hdul[0].header))
        for ext in ("timecoeff_linear", "timecoeff_exponential", "timecoeff_powerlaw"):
            if ext.upper() in hdul:
                setattr(self, ext, hdul[ext.upper()].data)

    def hasattr(self, name):
        return name in self.__dict__


def _fits(path, reftype, exposure):
    """A reference opened read-only, refused when cut short.

    A missing extension would otherwise go unnoticed: a PHOTOM without its TIMECOEFF
    tables still calibrates.
    """
    path = Path(path)
    if not path.is_file():
        raise ExposureError(exposure, f"{reftype} reference {path.name} not found at {path}")
    refuse_truncated_fits(path, exposure, f"{reftype} reference")
    try:
        return fits.open(path, memmap=False, lazy_load_hdus=True)
    except Exception as exc:
        raise ExposureError(exposure,
                            f"cannot read {reftype} reference {path.name}: {exc}") from exc


@contextmanager
def _open_photom(path, *, exposure):
    hdul = _fits(path, "PHOTOM", exposure)
    try:
        try:
            ref = _PhotomRef(hdul, Path(path).name)
        except (KeyError, OSError, ValueError) as exc:
            raise ExposureError(
                exposure, f"PHOTOM {Path(path).name} has no imaging PHOTOM table ({exc})"
            ) from exc
        yield ref
    finally:
        hdul.close()


@contextmanager
def _open_area(path, *, exposure):
    """The AREA reference with its SCI array read by window (None for N/A)."""
    if path is None:
        yield None
        return
    hdul = _fits(path, "AREA", exposure)
    try:
        try:
            head = hdul[0].header
            ref = _Node(data=hdul["SCI"].section,
                        meta=_Node(filename=Path(path).name,
                                   photometry=_photometry(head),
                                   subarray=_Node(xstart=head.get("SUBSTRT1"),
                                                  ystart=head.get("SUBSTRT2"))))
        except (KeyError, OSError, ValueError) as exc:
            raise ExposureError(exposure, f"cannot read AREA {Path(path).name}: {exc}") from exc
        yield ref
    finally:
        hdul.close()


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
    consistent = out.meta.cal_step.flat_field == provenance.COMPLETE
    with _open_photom(photom_path, exposure=exposure) as phot, \
            _open_area(area_path, exposure=exposure) as area:
        try:
            _, applied = algorithm.apply_photom(out, phot, area, copy=False,
                                                consistent=consistent)
        except (algorithm.PhotomError, KeyError) as exc:
            raise ExposureError(exposure, f"PHOTOM {Path(photom_path).name}: {exc}") from exc
    status = provenance.COMPLETE if applied else provenance.SKIPPED
    provenance.mark_step(out, "photom", status)
    log.info("%s: photom %s", exposure, status)
    return out
