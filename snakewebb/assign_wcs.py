"""World coordinates for JWST imaging: a gwcs pipeline detector -> v2v3 -> v2v3vacorr -> world.

The pipeline follows what calwebb_image2 builds for NIRCam, MIRI, NIRISS and FGS
imaging (including NRC_TSIMAGE and MIRI TSO imaging):

``detector``
    0-based pixel coordinates of the (sub)array. A subarray is first shifted to
    full-frame pixels (``SUBSTRT1/2 - 1``).
``v2v3``
    telescope frame in arcsec, through the filter-dependent pixel offset
    (FILTEROFFSET reference; NIRCam/NIRISS match FILTER and PUPIL, MIRI matches
    FILTER) and the DISTORTION reference transform.
``v2v3vacorr``
    v2v3 scaled about (V2_REF, V3_REF) by the differential velocity aberration
    factor VA_SCALE.
``world``
    ICRS, by the rotation sequence that puts (V2_REF, V3_REF) at (RA_REF, DEC_REF)
    with the V3 axis at ROLL_REF.

Besides the WCS object, :func:`assign_wcs` writes S_REGION (the footprint of the
bounding box corners) and a FITS TAN-SIP approximation of the WCS into
``meta.wcsinfo``, so the products can be read without gwcs.

Pure functions: models in, new models out; the input is never modified.
"""

import logging
import warnings

import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import bind_bounding_box
from astropy.modeling.models import (
    Identity,
    RotationSequence3D,
    Scale,
    Shift,
)
from gwcs import coordinate_frames as cf
from gwcs import wcs as gwcs_wcs
from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

__all__ = [
    "IMAGING_EXP_TYPES",
    "POINTING_KEYWORDS",
    "SIP_DEFAULTS",
    "UnsupportedModeError",
    "filter_offset",
    "subarray_shift",
    "detector_to_v2v3",
    "va_correction",
    "v2v3_to_world",
    "imaging_wcs",
    "s_region",
    "sip_keywords",
    "update_wcsinfo_sip",
    "assign_wcs",
]

log = logging.getLogger(__name__)

#: Imaging EXP_TYPEs this module builds a WCS for, and the instrument each belongs to.
IMAGING_EXP_TYPES = {
    "NRC_IMAGE": "NIRCAM",
    "NRC_TSIMAGE": "NIRCAM",
    "MIR_IMAGE": "MIRI",
    "NIS_IMAGE": "NIRISS",
    "FGS_IMAGE": "FGS",
}

#: ``meta.wcsinfo`` attributes the v2v3 -> world transform cannot do without.
POINTING_KEYWORDS = {
    "v2_ref": "V2_REF",
    "v3_ref": "V3_REF",
    "roll_ref": "ROLL_REF",
    "ra_ref": "RA_REF",
    "dec_ref": "DEC_REF",
}

#: Keywords of the filter-offset table each instrument matches on (FGS has none).
_OFFSET_MATCH = {"NIRCAM": ("filter", "pupil"), "NIRISS": ("filter", "pupil"), "MIRI": ("filter",)}

#: The official assign_wcs step defaults for the SIP approximation.
SIP_DEFAULTS = {
    "max_pix_error": 0.01,
    "degree": range(1, 6),
    "max_inv_pix_error": 0.01,
    "inv_degree": range(1, 6),
    "npoints": 12,
}


class UnsupportedModeError(ValueError):
    """The exposure type is not an imaging mode this module handles."""


def _meta(model_or_meta):
    return getattr(model_or_meta, "meta", model_or_meta)


def _frames():
    """The four coordinate frames of the imaging pipeline, in order."""
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(
        name="v2v3", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec)
    )
    v2v3vacorr = cf.Frame2D(
        name="v2v3vacorr", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec)
    )
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world")
    return detector, v2v3, v2v3vacorr, world


def filter_offset(instrument, filter_name, pupil, rows):
    """Pixel offset (column, row) of a filter from a FILTEROFFSET table, or ``None``.

    Parameters
    ----------
    instrument : str
        NIRCAM and NIRISS rows are matched on FILTER and PUPIL (exactly one row
        must match); MIRI rows on FILTER only (the first match wins); FGS has no
        filter offsets.
    filter_name, pupil : str or None
        The exposure's FILTER and PUPIL.
    rows : iterable of mapping or None
        The ``filters`` list of the reference (dicts with ``filter``, ``pupil``,
        ``column_offset``, ``row_offset``). ``None`` means no reference (N/A).

    Returns
    -------
    tuple of float or None
        ``(column_offset, row_offset)`` to add to detector pixels before the
        distortion, or ``None`` when no offset applies.

    Raises
    ------
    ValueError
        When more than one NIRCam/NIRISS row matches.
    """
    keys = _OFFSET_MATCH.get(str(instrument).upper())
    if rows is None or keys is None:
        return None
    wanted = {"filter": filter_name, "pupil": pupil}
    matches = [r for r in rows if all(r.get(k) == wanted[k] for k in keys)]
    if not matches:
        log.debug("no FILTEROFFSET row for %s", {k: wanted[k] for k in keys})
        return None
    if len(keys) > 1 and len(matches) > 1:
        raise ValueError(
            f"{len(matches)} FILTEROFFSET rows match FILTER={filter_name} PUPIL={pupil}"
        )
    row = matches[0]
    col, rw = row.get("column_offset"), row.get("row_offset")
    if col is None or rw is None:
        return None
    return float(col), float(rw)


def subarray_shift(meta):
    """Shift from subarray to full-frame 0-based pixels, or ``None`` for full frame.

    ``SUBSTRT1``/``SUBSTRT2`` are 1-based; an axis starting at 1 (or unknown)
    is left alone.
    """
    xstart = meta.subarray.xstart
    ystart = meta.subarray.ystart
    sx = Shift(xstart - 1) if xstart is not None and xstart != 1 else None
    sy = Shift(ystart - 1) if ystart is not None and ystart != 1 else None
    if sx is None and sy is None:
        return None
    return (sx or Identity(1)) & (sy or Identity(1))


def _reference_bbox(transform):
    """The bounding box carried by a reference transform, in (x, y) order, or None."""
    try:
        return transform.bounding_box.bounding_box(order="F")
    except NotImplementedError:
        return None


def _shape_bbox(shape):
    """((x0, x1), (y0, y1)) covering every pixel of an image of ``shape`` (last two axes)."""
    return ((-0.5, shape[-1] - 0.5), (-0.5, shape[-2] - 0.5))


def detector_to_v2v3(meta, shape, distortion, offset=None):
    """Detector pixels -> V2/V3 (arcsec), with its bounding box bound to it.

    Parameters
    ----------
    meta : datamodel meta
        Needs ``instrument.name`` and ``subarray.xstart/ystart/xsize/ysize``.
    shape : tuple
        Shape of the science array (2D or 3D).
    distortion : `~astropy.modeling.Model`
        Full-frame detector (0-based) -> v2v3 transform of the DISTORTION reference.
        It is copied, never modified.
    offset : tuple of float or None
        Filter offset ``(column, row)`` from :func:`filter_offset`.

    Returns
    -------
    `~astropy.modeling.Model`
    """
    instrument = str(meta.instrument.name).upper()
    transform = distortion.copy()
    ref_bbox = _reference_bbox(transform)
    if instrument == "FGS":
        # FGS keeps the reference transform as it is, boxed by the data shape
        # when the reference carries no box.
        if ref_bbox is None:
            bind_bounding_box(transform, _shape_bbox(shape), order="F")
    else:
        if offset is not None:
            transform = (Shift(offset[0]) & Shift(offset[1])) | transform
        bind_bounding_box(
            transform, _shape_bbox(shape) if ref_bbox is None else ref_bbox, order="F"
        )

    to_full = subarray_shift(meta)
    if to_full is not None:
        transform = to_full | transform
        # the box of a subarray exposure is the subarray itself, in its own pixels
        xsize, ysize = meta.subarray.xsize, meta.subarray.ysize
        bbox = (
            (-0.5, -0.5 if xsize is None else xsize - 0.5),
            (-0.5, -0.5 if ysize is None else ysize - 0.5),
        )
        bind_bounding_box(transform, bbox, order="F")
    return transform


def va_correction(va_scale, v2_ref, v3_ref):
    """Differential velocity aberration: scale v2v3 about (V2_REF, V3_REF).

    ``va_scale`` None or 1 gives the identity; otherwise
    ``v' = s * v + (1 - s) * v_ref`` on each axis.
    """
    if va_scale is None or va_scale == 1:
        return Identity(2)
    if va_scale <= 0:
        raise ValueError(f"velocity aberration scale must be positive, got {va_scale}")
    model = Scale(va_scale, name="dva_scale_v2") & Scale(va_scale, name="dva_scale_v3")
    v2_ref = v2_ref or 0
    v3_ref = v3_ref or 0
    if v2_ref == 0 and v3_ref == 0:
        return model
    model = model | (
        Shift((1 - va_scale) * v2_ref, name="dva_v2_shift")
        & Shift((1 - va_scale) * v3_ref, name="dva_v3_shift")
    )
    model.name = "DVA_Correction"
    return model


def v2v3_to_world(v2_ref, v3_ref, roll_ref, ra_ref, dec_ref):
    """V2/V3 (arcsec) -> ICRS RA/Dec (deg) for a pointing.

    Rotations about z by V2_REF, y by -V3_REF, x by ROLL_REF, y by DEC_REF and z
    by -RA_REF, applied to the unit vector of (v2, v3).
    """
    angles = np.array([v2_ref / 3600, -v3_ref / 3600, roll_ref, dec_ref, -ra_ref])
    model = (
        (Scale(1 / 3600) & Scale(1 / 3600))
        | SphericalToCartesian(wrap_lon_at=180)
        | RotationSequence3D(angles, axes_order="zyxyz")
        | CartesianToSpherical(wrap_lon_at=360)
    )
    model.name = "v23tosky"
    return model


def _check_exp_type(meta):
    exp_type = str(meta.exposure.type).upper()
    if exp_type not in IMAGING_EXP_TYPES:
        raise UnsupportedModeError(f"EXP_TYPE {exp_type} is not a supported imaging mode")
    instrument = str(meta.instrument.name).upper()
    if IMAGING_EXP_TYPES[exp_type] != instrument:
        raise UnsupportedModeError(f"EXP_TYPE {exp_type} does not belong to {instrument}")
    return exp_type


def _distortion_transform(distortion):
    """Accept a DistortionModel (or anything with ``.model``) or a bare transform."""
    return getattr(distortion, "model", distortion)


def imaging_wcs(model, distortion, filteroffset=None):
    """Build the imaging gwcs of an exposure.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.ImageModel` or `CubeModel`
        The exposure (only its metadata and data shape are read).
    distortion : `~stdatamodels.jwst.datamodels.DistortionModel` or `~astropy.modeling.Model`
        The DISTORTION reference or its transform.
    filteroffset : iterable of mapping, `FilteroffsetModel` or None
        The FILTEROFFSET reference rows (``None`` = N/A).

    Returns
    -------
    `gwcs.wcs.WCS`

    Raises
    ------
    UnsupportedModeError
        For a non-imaging EXP_TYPE.
    ValueError
        For missing pointing keywords or an ambiguous filter offset.
    """
    meta = model.meta
    _check_exp_type(meta)
    wcsinfo = meta.wcsinfo
    missing = [kw for attr, kw in POINTING_KEYWORDS.items() if getattr(wcsinfo, attr) is None]
    if missing:
        raise ValueError(f"missing pointing keyword(s) {', '.join(missing)}")

    rows = getattr(filteroffset, "filters", filteroffset)
    offset = filter_offset(
        meta.instrument.name, meta.instrument.filter, meta.instrument.pupil, rows
    )
    det2v23 = detector_to_v2v3(meta, model.data.shape, _distortion_transform(distortion), offset)
    va = va_correction(meta.velocity_aberration.scale_factor, wcsinfo.v2_ref, wcsinfo.v3_ref)
    tel2sky = v2v3_to_world(
        wcsinfo.v2_ref, wcsinfo.v3_ref, wcsinfo.roll_ref, wcsinfo.ra_ref, wcsinfo.dec_ref
    )
    detector, v2v3, v2v3vacorr, world = _frames()
    return gwcs_wcs.WCS(
        [(detector, det2v23), (v2v3, va), (v2v3vacorr, tel2sky), (world, None)]
    )


def s_region(wcs):
    """S_REGION polygon of the corners of the WCS bounding box, or None if any is NaN.

    Corners are pixel edges (not centres), clockwise from the lower left, RA
    wrapped to [0, 360).
    """
    (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box(order="F")
    ra, dec = wcs(
        np.array([x0, x0, x1, x1]), np.array([y0, y1, y1, y0]), with_bounding_box=False
    )
    ra = np.mod(ra, 360)
    values = np.column_stack([ra, dec]).ravel()
    if not np.all(np.isfinite(values)):
        log.info("NaN in the footprint; S_REGION not set")
        return None
    return "POLYGON ICRS  " + " ".join(f"{v:.9f}" for v in values)


def sip_keywords(wcs, crpix=None, **options):
    """FITS TAN-SIP approximation of ``wcs`` over its bounding box, as lowercase keywords.

    Parameters
    ----------
    wcs : `gwcs.wcs.WCS`
    crpix : sequence of float or None
        1-based reference pixel; None lets the fit choose the bounding box centre.
    **options
        Overrides of :data:`SIP_DEFAULTS` (``max_pix_error``, ``degree``,
        ``max_inv_pix_error``, ``inv_degree``, ``npoints``).

    Returns
    -------
    dict
        Keyword (lowercase) -> value, without NAXIS*.
    """
    opts = dict(SIP_DEFAULTS, **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hdr = wcs.to_fits_sip(crpix=crpix, projection="TAN", **opts)
    for warning in caught:
        log.warning("SIP fit: %s", warning.message)
    return {k.lower(): v for k, v in hdr.items() if not k.upper().startswith("NAXIS")}


_SIP_STALE = (
    ["naxis", "cdelt1", "cdelt2", "pc1_1", "pc1_2", "pc2_1", "pc2_2"]
    + ["a_order", "b_order", "ap_order", "bp_order"]
    + [f"{s}_{i}_{j}" for s in ("a", "b", "ap", "bp") for i in range(10) for j in range(10)]
)


def update_wcsinfo_sip(model, **options):
    """Replace the FITS WCS keywords in ``model.meta.wcsinfo`` by a SIP fit of ``meta.wcs``.

    Modifies ``model`` (callers pass their own copy). CRPIX1/2 already in wcsinfo
    are kept as the reference pixel. Returns the keyword dict written.
    """
    wcsinfo = model.meta.wcsinfo
    crpix = [wcsinfo.crpix1, wcsinfo.crpix2]
    if None in crpix:
        crpix = None
    keywords = sip_keywords(model.meta.wcs, crpix=crpix, **options)
    inst = wcsinfo.instance
    for key in _SIP_STALE:
        inst.pop(key, None)
    inst.update(keywords)
    return keywords


def assign_wcs(model, distortion, filteroffset=None, *, sip=True, sip_options=None):
    """Return a copy of ``model`` with its imaging WCS, S_REGION and FITS SIP keywords.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.ImageModel` or `CubeModel`
        The exposure; not modified.
    distortion : `DistortionModel` or `~astropy.modeling.Model`
        The DISTORTION reference or its transform.
    filteroffset : iterable of mapping, `FilteroffsetModel` or None
        The FILTEROFFSET reference rows (``None`` = N/A).
    sip : bool
        Fit and store the FITS SIP approximation (as the official step does).
    sip_options : dict or None
        Overrides of :data:`SIP_DEFAULTS`.

    Returns
    -------
    model copy with ``meta.wcs``, ``meta.wcsinfo.s_region`` and the SIP keywords set.
    """
    wcs = imaging_wcs(model, distortion, filteroffset)
    result = model.copy()
    result.meta.wcs = wcs
    region = s_region(wcs)
    if region is not None:
        result.meta.wcsinfo.s_region = region
    if sip:
        try:
            update_wcsinfo_sip(result, **(sip_options or {}))
        except (ValueError, RuntimeError) as exc:
            # the official step also carries on without the SIP header
            log.warning("FITS SIP approximation failed: %s", exc)
    return result
