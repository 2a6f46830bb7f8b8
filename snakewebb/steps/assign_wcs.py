"""Step layer of assign_wcs: open the references, check the exposure, record provenance."""

import logging

import asdf
import numpy as np

from snakewebb import assign_wcs as algorithm
from snakewebb import modes
from snakewebb.errors import ExposureError
from snakewebb.steps import provenance

__all__ = ["run_assign_wcs", "read_distortion", "read_filteroffset"]

log = logging.getLogger(__name__)


def read_distortion(path, *, exposure):
    """The detector -> v2v3 transform stored in a DISTORTION reference (ASDF)."""
    try:
        # CRDS references are validated when delivered; skipping the schema pass on
        # read halves the cost of opening them. The shape of the transform is checked below.
        with asdf.config_context() as cfg:
            cfg.validate_on_read = False
            with asdf.open(path, lazy_load=False, memmap=False) as af:
                transform = af.tree["model"]
    except Exception as exc:  # any unreadable file is bad input for this exposure
        raise ExposureError(exposure, f"cannot read DISTORTION reference {path}: {exc}") from exc
    if not hasattr(transform, "n_inputs") or transform.n_inputs != 2 or transform.n_outputs != 2:
        raise ExposureError(
            exposure, f"DISTORTION reference {path} does not hold a 2D -> 2D transform"
        )
    return transform


def read_filteroffset(path, *, exposure):
    """The ``filters`` rows of a FILTEROFFSET reference (ASDF) as plain dicts; None for N/A."""
    if path is None:
        return None
    try:
        with asdf.config_context() as cfg:
            cfg.validate_on_read = False
            with asdf.open(path, lazy_load=False, memmap=False) as af:
                rows = [dict(row) for row in af.tree["filters"]]
    except Exception as exc:  # any unreadable file is bad input for this exposure
        raise ExposureError(exposure, f"cannot read FILTEROFFSET reference {path}: {exc}") from exc
    return rows


def _check_exposure(model, exposure):
    exp_type = model.meta.exposure.type
    if exp_type is None:
        raise ExposureError(exposure, "EXP_TYPE is missing")
    exp_type = str(exp_type).upper()
    if exp_type not in modes.SUPPORTED_EXP_TYPES or exp_type not in algorithm.IMAGING_EXP_TYPES:
        raise ExposureError(exposure, f"EXP_TYPE {exp_type} is not supported by assign_wcs")
    instrument = str(model.meta.instrument.name).upper()
    if algorithm.IMAGING_EXP_TYPES[exp_type] != instrument:
        raise ExposureError(
            exposure, f"EXP_TYPE {exp_type} does not belong to INSTRUME {instrument}"
        )
    if model.data is None or model.data.ndim not in (2, 3):
        raise ExposureError(exposure, "science data must be a 2D image or a 3D cube")
    wcsinfo = model.meta.wcsinfo
    missing = [
        kw for attr, kw in algorithm.POINTING_KEYWORDS.items() if getattr(wcsinfo, attr) is None
    ]
    if missing:
        raise ExposureError(exposure, f"missing pointing keyword(s) {', '.join(missing)}")
    bad = [kw for attr, kw in algorithm.POINTING_KEYWORDS.items()
           if not np.isfinite(float(getattr(wcsinfo, attr)))]
    if bad:
        raise ExposureError(exposure, f"pointing keyword(s) {', '.join(bad)} not finite")
    va_scale = model.meta.velocity_aberration.scale_factor
    if va_scale is not None and not (va_scale > 0 and np.isfinite(va_scale)):
        raise ExposureError(exposure, f"VA_SCALE must be positive, got {va_scale}")
    sub = model.meta.subarray
    is_sub = (sub.xstart not in (None, 1)) or (sub.ystart not in (None, 1))
    if is_sub:
        size = (sub.ysize, sub.xsize)
        if None in size:
            raise ExposureError(exposure, "subarray exposure without SUBSIZE1/SUBSIZE2")
        if tuple(model.data.shape[-2:]) != size:
            raise ExposureError(
                exposure,
                f"SUBSIZE2 x SUBSIZE1 = {size[0]} x {size[1]} does not match the data "
                f"shape {model.data.shape[-2]} x {model.data.shape[-1]}",
            )


def run_assign_wcs(model, refs, *, exposure, sip=True, copy=True):
    """Attach the imaging WCS to ``model`` (a copy by default) and record the step.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.ImageModel` or `CubeModel`
        The exposure; not modified unless ``copy`` is False.
    refs : dict
        ``{"distortion": path, "filteroffset": path | None}``; None means N/A.
    exposure : str
        Exposure name used in error messages.
    sip : bool
        Fit the FITS SIP approximation (the official default).
    copy : bool
        False updates ``model`` in place (metadata only) instead of a deep copy,
        for callers that own the model; on error ``model`` is left unchanged.

    Returns
    -------
    A new model with ``meta.wcs``, S_REGION, SIP keywords, ``S_WCS = COMPLETE``
    and ``R_DISTOR`` / ``R_FILOFF`` set.

    Raises
    ------
    ExposureError
        Unsupported EXP_TYPE, missing or non-finite pointing keywords or VA_SCALE, no or unreadable
        DISTORTION reference, inconsistent subarray keywords.
    """
    _check_exposure(model, exposure)
    dist_path = refs.get("distortion")
    if dist_path is None:
        raise ExposureError(exposure, "no DISTORTION reference: assign_wcs cannot run without it")
    off_path = refs.get("filteroffset")
    distortion = read_distortion(dist_path, exposure=exposure)
    rows = read_filteroffset(off_path, exposure=exposure)
    try:
        # the transform was read for this call only: no need to protect it by a copy
        result = algorithm.assign_wcs(
            model, distortion, rows, sip=sip, copy=copy, copy_distortion=False
        )
    except ValueError as exc:  # includes UnsupportedModeError
        raise ExposureError(exposure, f"assign_wcs: {exc}") from exc
    provenance.mark_step(result, "assign_wcs", provenance.COMPLETE)
    provenance.record_reference(result, "distortion", dist_path)
    provenance.record_reference(result, "filteroffset", off_path)
    log.info("%s: WCS assigned, S_REGION %s", exposure, result.meta.wcsinfo.s_region)
    return result
