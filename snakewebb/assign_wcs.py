"""World coordinates for JWST imaging: a gwcs pipeline detector -> v2v3 -> v2v3vacorr -> world.

The pipeline follows what calwebb_image2 builds for NIRCam, MIRI, NIRISS and FGS
imaging (including NRC_TSIMAGE and MIRI TSO imaging). The official step builds this
same pipeline, with no change, for the other imaging exposure types of each
instrument (coronagraphy, AMI, focus sweeps, target acquisitions: see
:data:`IMAGING_EXP_TYPES`):

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

Pure functions: models in, new models out; the input model is not modified unless
a caller that owns it asks for that (``copy=False``).
"""

import logging
import warnings

import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import bind_bounding_box
from astropy.modeling.models import (
    Identity,
    RotateCelestial2Native,
    RotationSequence3D,
    Scale,
    Shift,
    Sky2Pix_TAN,
)
from astropy.wcs import WCS as FitsWCS
from gwcs import coordinate_frames as cf
from gwcs import wcs as gwcs_wcs
from gwcs.geometry import CartesianToSpherical, SphericalToCartesian
from gwcs.wcstools import grid_from_bounding_box
from scipy import linalg

from snakewebb import instruments, modes

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
#: Every type of one instrument gets the same WCS (as in the official step, which maps
#: all of them to its instrument's imaging pipeline).
IMAGING_EXP_TYPES = {
    exp_type: instrument
    for instrument, exp_types in modes.EXP_TYPES_BY_INSTRUMENT.items()
    for exp_type in exp_types
}

#: ``meta.wcsinfo`` attributes the v2v3 -> world transform cannot do without.
POINTING_KEYWORDS = {
    "v2_ref": "V2_REF",
    "v3_ref": "V3_REF",
    "roll_ref": "ROLL_REF",
    "ra_ref": "RA_REF",
    "dec_ref": "DEC_REF",
}

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
        filter offsets (:mod:`snakewebb.instruments`).
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
    info = instruments.instrument(instrument)
    keys = info.filteroffset_keys if info is not None else None
    if rows is None or keys is None:
        return None
    rows = [getattr(r, "instance", r) for r in rows]  # datamodel nodes -> plain dicts
    wanted = {"filter": filter_name, "pupil": pupil}
    matches = [r for r in rows if all(r.get(k) == wanted[k] for k in keys)]
    if not matches:
        log.debug("no FILTEROFFSET row for %s", {k: wanted[k] for k in keys})
        return None
    if info.filteroffset_unique and len(matches) > 1:
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


def detector_to_v2v3(meta, shape, distortion, offset=None, *, copy_distortion=True):
    """Detector pixels -> V2/V3 (arcsec), with its bounding box bound to it.

    Parameters
    ----------
    meta : datamodel meta
        Needs ``instrument.name`` and ``subarray.xstart/ystart/xsize/ysize``.
    shape : tuple
        Shape of the science array (2D or 3D).
    distortion : `~astropy.modeling.Model`
        Full-frame detector (0-based) -> v2v3 transform of the DISTORTION reference.
    offset : tuple of float or None
        Filter offset ``(column, row)`` from :func:`filter_offset`.
    copy_distortion : bool
        Work on a copy of ``distortion`` (default). False lets its bounding box be
        set in place and the transform be part of the result: for callers that
        read the reference for this exposure only (copying a high-order
        reference transform costs more than building the whole WCS).

    Returns
    -------
    `~astropy.modeling.Model`
    """
    info = instruments.instrument(meta.instrument.name)
    transform = distortion.copy() if copy_distortion else distortion
    ref_bbox = _reference_bbox(transform)
    if info is not None and info.filteroffset_keys is None:
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


def imaging_wcs(model, distortion, filteroffset=None, *, copy_distortion=True):
    """Build the imaging gwcs of an exposure.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.ImageModel` or `CubeModel`
        The exposure (only its metadata and data shape are read).
    distortion : `~stdatamodels.jwst.datamodels.DistortionModel` or `~astropy.modeling.Model`
        The DISTORTION reference or its transform.
    filteroffset : iterable of mapping, `FilteroffsetModel` or None
        The FILTEROFFSET reference rows (``None`` = N/A).
    copy_distortion : bool
        See :func:`detector_to_v2v3`.

    Returns
    -------
    `gwcs.wcs.WCS`

    Raises
    ------
    UnsupportedModeError
        For a non-imaging EXP_TYPE.
    ValueError
        For missing or non-finite pointing keywords (a NaN would give a WCS
        that maps every pixel to NaN), a non-finite VA_SCALE, or an ambiguous
        filter offset.
    """
    meta = model.meta
    _check_exp_type(meta)
    wcsinfo = meta.wcsinfo
    missing = [kw for attr, kw in POINTING_KEYWORDS.items() if getattr(wcsinfo, attr) is None]
    if missing:
        raise ValueError(f"missing pointing keyword(s) {', '.join(missing)}")
    bad = [kw for attr, kw in POINTING_KEYWORDS.items()
           if not np.isfinite(float(getattr(wcsinfo, attr)))]
    if bad:
        raise ValueError(f"non-finite pointing keyword(s) {', '.join(bad)}")
    va_scale = meta.velocity_aberration.scale_factor
    if va_scale is not None and not np.isfinite(float(va_scale)):
        raise ValueError(f"VA_SCALE is not finite: {va_scale}")

    rows = getattr(filteroffset, "filters", filteroffset)
    offset = filter_offset(
        meta.instrument.name, meta.instrument.filter, meta.instrument.pupil, rows
    )
    det2v23 = detector_to_v2v3(meta, model.data.shape, _distortion_transform(distortion), offset,
                               copy_distortion=copy_distortion)
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


class _SipFitError(ValueError):
    """A SIP polynomial fit that cannot be solved."""


def _sampling_grid(npoints, bbox, crpix):
    """``npoints`` x ``npoints`` grid spanning ``bbox`` edge to edge, relative to ``crpix``."""
    step = np.subtract.reduce(np.asarray(bbox, float), axis=1) / (1.0 - npoints)
    x, y = grid_from_bounding_box(bbox, step=step, center=False)
    return (x - crpix[0]).ravel(), (y - crpix[1]).ravel()


def _poly_terms(degree):
    """Exponents (p, q) of x**p * y**q, 0 < p + q <= degree, in the fit's term order."""
    return [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i) if i + j > 0]


class _PowerCache:
    """x**p * y**q on the fit grid in extended precision, computed once per (p, q)."""

    def __init__(self, x, y):
        self.x = np.asarray(x, dtype=np.longdouble)
        self.y = np.asarray(y, dtype=np.longdouble)
        self._cache = {}

    def __call__(self, p, q):
        key = (p, q)
        if key not in self._cache:
            if p == 0:
                arr = self.y**q if q > 1 else self.y
            elif q == 0:
                arr = self.x**p if p > 1 else self.x
            else:
                arr = (self.x if p == 1 else self.x**p) * (self.y if q == 1 else self.y**q)
            self._cache[key] = arr
        return self._cache[key]

    def total(self, p, q):
        """Sum of x**p * y**q over the grid (extended precision), cached."""
        key = ("sum", p, q)
        if key not in self._cache:
            self._cache[key] = np.sum(self(p, q), dtype=np.longdouble)
        return self._cache[key]


def _lsq_poly(powers, xout, yout, degree):
    """Least-squares 2D polynomials (no constant term) of one degree, by normal equations.

    Solved by LU decomposition of the normal matrix accumulated in extended
    precision (more accurate than SVD for these smooth distortions). Returns
    coefficient vectors for x and y, the largest residual distance on the fit
    grid, the term exponents and the condition number of the normal matrix.
    """
    terms = _poly_terms(degree)
    n = len(terms)
    a = np.empty((n, n), dtype=np.longdouble)
    bx = np.empty(n, dtype=np.longdouble)
    by = np.empty(n, dtype=np.longdouble)
    vander = np.empty((powers.x.size, n), dtype=float)
    for i, (pi, qi) in enumerate(terms):
        col = powers(pi, qi)
        vander[:, i] = col
        bx[i] = np.sum(xout * col, dtype=np.longdouble)
        by[i] = np.sum(yout * col, dtype=np.longdouble)
        for j in range(i, n):
            pj, qj = terms[j]
            a[i, j] = a[j, i] = powers.total(pi + pj, qi + qj)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=linalg.LinAlgWarning)
        try:
            lu = linalg.lu_factor(a)
            cx = linalg.lu_solve(lu, bx).astype(float)
            cy = linalg.lu_solve(lu, by).astype(float)
        except (ValueError, linalg.LinAlgWarning, np.linalg.LinAlgError) as exc:
            raise _SipFitError(f"SIP fit failed: {exc}") from exc
    if not np.all(np.isfinite([cx, cy])):
        raise _SipFitError("SIP fit failed: coefficients are not finite")
    cond = np.linalg.cond(a.astype(float))
    resid = np.hypot(xout - vander @ cx, yout - vander @ cy).max()
    return cx, cy, resid, terms, cond


def _eval_polys(coeffs_x, coeffs_y, x, y):
    """Evaluate the polynomial pair {(p, q): c} at (x, y), sharing the powers."""
    degree = max(p + q for p, q in coeffs_x)
    xp = [np.ones_like(x), x]
    yq = [np.ones_like(y), y]
    for _ in range(2, degree + 1):
        xp.append(xp[-1] * x)
        yq.append(yq[-1] * y)
    out_x = np.zeros_like(x)
    out_y = np.zeros_like(x)
    for (p, q), c in coeffs_x.items():
        term = xp[p] * yq[q]
        out_x += c * term
        out_y += coeffs_y[(p, q)] * term
    return out_x, out_y


def _fit_degrees(degrees, max_error, plate_scale, grid, target, dense_grid, dense_target):
    """The lowest-degree polynomial pair reaching ``max_error`` (in pixels).

    Tries the degrees in increasing order and stops at the first one within the
    error, or when the fit stops improving or becomes singular; a fit within
    the error is then checked on the twice denser grid. Same selection rules as
    gwcs' ``to_fits_sip``.

    Returns
    -------
    degree : int
        The order to write (the last degree tried).
    cx, cy : dict
        ``{(p, q): coefficient}`` of the accepted fit.
    error : float
        Largest residual in pixels.
    """
    degrees = sorted(int(d) for d in ([degrees] if np.isscalar(degrees) else degrees))
    if degrees[0] < 1 or degrees[-1] > 9:
        raise ValueError("SIP degrees must be within 1..9")
    single = len(degrees) == 1
    max_error = max_error * plate_scale
    powers = _PowerCache(*grid)
    best = None
    fit_error = np.inf
    reached = False
    for deg in degrees:
        try:
            cx, cy, err, terms, cond = _lsq_poly(powers, target[0], target[1], deg)
        except _SipFitError:
            if single or best is None:
                raise
            break
        if not np.isfinite(cond):
            if single:
                log.warning("SIP fit may be poorly conditioned")
                best, fit_error = (cx, cy, terms), err
            break
        if err >= fit_error:
            break
        best, fit_error = (cx, cy, terms), err
        if fit_error <= max_error:
            reached = True
            break
    cx, cy, terms = best
    cx = dict(zip(terms, cx))
    cy = dict(zip(terms, cy))
    if not reached:
        log.warning("SIP fit: requested accuracy of %g pixel not reached", max_error / plate_scale)
    if reached or single:
        fit_x, fit_y = _eval_polys(cx, cy, *dense_grid)
        dense = np.hypot(dense_target[0] - fit_x, dense_target[1] - fit_y).max()
        if dense > min(5.0 * fit_error, max_error):
            log.warning("SIP fit: the double-density check failed; sampling may be too coarse")
        fit_error = max(dense, fit_error)
    return deg, cx, cy, fit_error / plate_scale


def _fits_celestial_header(crval, crpix, cd):
    """FITS TAN WCS cards of an ICRS CD-matrix WCS, as astropy.wcs writes them."""
    w = FitsWCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.radesys = "ICRS"
    w.wcs.crval = crval
    w.wcs.crpix = crpix
    w.wcs.pc = cd
    w.wcs.set()
    hdr = w.to_header(relax=True)
    keywords = {}
    for card in hdr.cards:
        key = card.keyword
        if key.startswith("CDELT"):
            continue
        if key.startswith("PC"):
            key = "CD" + key[2:]
        keywords[key] = card.value
    return keywords


def sip_keywords(wcs, crpix=None, **options):
    """FITS TAN-SIP approximation of ``wcs`` over its bounding box, as lowercase keywords.

    Reproduces the fit gwcs' ``WCS.to_fits_sip`` makes for the official step
    (same sampling, the same extended-precision normal equations, the same
    degree selection and header), with the transform evaluated once on both
    sample grids instead of once per grid.

    Parameters
    ----------
    wcs : `gwcs.wcs.WCS`
        Imaging WCS with a bounding box and a celestial output frame.
    crpix : sequence of float or None
        1-based reference pixel; None takes the bounding box centre (rounded to 0.1).
    **options
        Overrides of :data:`SIP_DEFAULTS` (``max_pix_error``, ``degree``,
        ``max_inv_pix_error``, ``inv_degree``, ``npoints``).

    Returns
    -------
    dict
        Keyword (lowercase) -> value: ``wcsaxes``, ``wcsname``, ``crpix*``,
        ``crval*``, ``cd*_*``, ``ctype*``, ``cunit*``, ... and, when the fit needs
        non-linear terms, ``a_order``/``b_order``, ``a_p_q``/``b_p_q``,
        ``ap_*``/``bp_*`` and the fit errors ``sipmxerr``/``sipiverr`` (pixels).
    """
    opts = dict(SIP_DEFAULTS, **options)
    npoints = int(opts["npoints"])
    if npoints < 8:
        raise ValueError("npoints must be >= 8")
    bbox = wcs.bounding_box.bounding_box(order="F")
    (xmin, xmax), (ymin, ymax) = bbox
    if (xmax - xmin) < 1 or (ymax - ymin) < 1:
        raise ValueError("bounding box too small for a SIP fit")
    if crpix is None:
        center = np.mean(bbox, axis=1)
        ref = (round(center[0], 1), round(center[1], 1))
    else:
        ref = (crpix[0] - 1, crpix[1] - 1)

    # The reference point and the two unit steps that give the plate scale are
    # evaluated one point at a time, as gwcs does: numpy's vectorised trigonometry
    # may differ from the one-value path in the last bit, and a last-bit change of
    # CRVAL moves every plane coordinate by ~1e-14 deg, which is 1e-10 of the
    # plane coordinates of a 32-pixel target-acquisition box.
    forward = wcs.forward_transform
    crval = tuple(float(v) for v in forward(ref[0], ref[1]))
    to_plane = RotateCelestial2Native(crval[0], crval[1], 180.0) | Sky2Pix_TAN()
    (x0, y0), (x1, y1), (x2, y2) = (
        to_plane(*forward(ref[0] + du, ref[1] + dv)) for du, dv in ((0, 0), (1, 0), (0, 1))
    )
    plate_scale = np.sqrt(np.abs((x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)))
    # the fit grid and the double-density grid in one evaluation
    grid = _sampling_grid(npoints, bbox, ref)
    dense = _sampling_grid(2 * npoints, bbox, ref)
    n1 = grid[0].size
    px, py = to_plane(*forward(np.concatenate([grid[0], dense[0]]) + ref[0],
                               np.concatenate([grid[1], dense[1]]) + ref[1]))
    target = (px[:n1], py[:n1])
    dense_target = (px[n1:], py[n1:])

    degree, fx, fy, fit_err = _fit_degrees(
        opts["degree"], opts["max_pix_error"], plate_scale, grid, target, dense, dense_target
    )
    cd = np.array([[fx[(1, 0)], fx[(0, 1)]], [fy[(1, 0)], fy[(0, 1)]]])
    inv_cd = np.linalg.inv(cd)
    det = cd[0, 0] * cd[1, 1] - cd[0, 1] * cd[1, 0]

    keywords = _fits_celestial_header(crval, (ref[0] + 1, ref[1] + 1), cd)
    keywords = {"WCSAXES": 2, "WCSNAME": wcs.output_frame.name,
                **{k: v for k, v in keywords.items() if k != "WCSAXES"}}
    if degree > 1:
        keywords["CTYPE1"] = "RA---TAN-SIP"
        keywords["CTYPE2"] = "DEC--TAN-SIP"
        keywords["A_ORDER"] = keywords["B_ORDER"] = degree
        for p in range(degree + 1):
            for q in range(degree + 1 - p):
                if p + q > 1:
                    a, b = inv_cd @ (fx.get((p, q), 0.0), fy.get((p, q), 0.0))
                    keywords[f"A_{p}_{q}"] = a
                    keywords[f"B_{p}_{q}"] = b
        keywords["SIPMXERR"] = fit_err
        if opts["max_inv_pix_error"]:
            def to_intermediate(x, y):
                return ((cd[1, 1] * x - cd[0, 1] * y) / det,
                        (-cd[1, 0] * x + cd[0, 0] * y) / det)

            uu, vv = to_intermediate(*target)
            ud, vd = to_intermediate(*dense_target)
            inv_degree, fu, fv, inv_err = _fit_degrees(
                opts["inv_degree"], opts["max_inv_pix_error"], 1,
                (uu, vv), (grid[0] - uu, grid[1] - vv),
                (ud, vd), (dense[0] - ud, dense[1] - vd),
            )
            keywords["AP_ORDER"] = keywords["BP_ORDER"] = inv_degree
            for p in range(inv_degree + 1):
                for q in range(inv_degree + 1 - p):
                    if p + q > 0:
                        keywords[f"AP_{p}_{q}"] = fu.get((p, q), 0.0)
                        keywords[f"BP_{p}_{q}"] = fv.get((p, q), 0.0)
            keywords["SIPIVERR"] = inv_err
    else:
        keywords["SIPMXERR"] = fit_err
    return {k.lower(): v for k, v in keywords.items()}


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


def assign_wcs(
    model, distortion, filteroffset=None, *, sip=True, sip_options=None, copy=True,
    copy_distortion=True,
):
    """Return ``model`` with its imaging WCS, S_REGION and FITS SIP keywords.

    Parameters
    ----------
    model : `~stdatamodels.jwst.datamodels.ImageModel` or `CubeModel`
        The exposure; not modified unless ``copy`` is False.
    distortion : `DistortionModel` or `~astropy.modeling.Model`
        The DISTORTION reference or its transform.
    filteroffset : iterable of mapping, `FilteroffsetModel` or None
        The FILTEROFFSET reference rows (``None`` = N/A).
    sip : bool
        Fit and store the FITS SIP approximation (as the official step does).
    sip_options : dict or None
        Overrides of :data:`SIP_DEFAULTS`.
    copy : bool
        Work on a deep copy (default). False updates ``model`` itself, for callers
        that own it (no array is touched either way, only metadata).
    copy_distortion : bool
        See :func:`detector_to_v2v3`.

    Returns
    -------
    The model (a copy unless ``copy`` is False) with ``meta.wcs``,
    ``meta.wcsinfo.s_region`` and the SIP keywords set.
    """
    wcs = imaging_wcs(model, distortion, filteroffset, copy_distortion=copy_distortion)
    result = model.copy() if copy else model
    # Stored without the assignment-time schema check (a full ASDF validation of the
    # transform tree, slower than building it): the product is validated when saved.
    result.meta.instance["wcs"] = wcs
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
