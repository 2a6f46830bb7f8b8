"""Content of the simulated reference files, in the real JWST datamodel formats.

Every builder is deterministic for a given ``seed`` and returns an open
stdatamodels model (not yet validated: call ``validate()``) that the CRDS cache writer
validates and saves. The geometry comes from
the Science Instrument Aperture File shipped with :mod:`pysiaf`:

* DISTORTION maps 0-based full-frame science pixels to V2/V3 (arcsec) exactly
  as SIAF does for the detector's full-frame aperture: sci pixel = pixel + 1,
  ``Sci2Idl`` polynomials about ``(XSciRef, YSciRef)``, then the planar
  ideal-to-telescope rotation by ``V3IdlYAngle`` with ``VIdlParity`` and the
  offset ``(V2Ref, V3Ref)``. Subarray offsets are *not* part of the model:
  assign_wcs prepends them from SUBSTRT1/SUBSTRT2 (:func:`subarray_origin`).
* FILTEROFFSET holds small per-filter pixel shifts that assign_wcs prepends to
  the distortion: pixel ``(x, y)`` maps to ``distortion(x + column_offset,
  y + row_offset)`` (:func:`filter_offset`).
* AREA is the pixel area relative to the nominal one, from the Jacobian of the
  same polynomials.
"""

import logging
import zlib
from dataclasses import dataclass

import numpy as np

from snakewebb import modes
from snakewebb.instruments import full_frame

__all__ = [
    "DETECTORS",
    "DetectorInfo",
    "IMAGING_EXP_TYPES",
    "USEAFTER",
    "detector_info",
    "full_frame_aperture",
    "subarray_origin",
    "distortion_transform",
    "filter_offset",
    "photmjsr",
    "make_flat",
    "make_photom",
    "make_area",
    "make_distortion",
    "make_filteroffset",
    "standard_filters",
    "spec_keywords",
    "references_for",
]

log = logging.getLogger(__name__)

#: USEAFTER of every simulated reference (before any science data was taken).
USEAFTER = "2022-01-01T00:00:00"
_PEDIGREE = "GROUND"
#: Models are built without schema validation at every assignment (it costs ~3 ms per
#: keyword); the CRDS cache writer validates each one once before saving it.
_NO_CHECK = {"validate_on_assignment": False}
_AUTHOR = "snakewebb simulator"


@dataclass(frozen=True)
class DetectorInfo:
    """What the reference files need to know about one detector."""

    instrument: str
    detector: str
    siaf_instrument: str      # pysiaf instrument name
    aperture: str             # SIAF full-frame aperture
    shape: tuple              # full frame (ny, nx)
    refpix: int               # width of the reference-pixel border (0 for MIRI rows)
    channel: str | None = None
    module: str | None = None


def _nircam(det, aper, channel, module):
    return DetectorInfo("NIRCAM", det, "NIRCam", aper, full_frame("NIRCAM"), 4, channel, module)


#: Detectors the simulator supports, keyed by DETECTOR.
DETECTORS = {
    **{f"NRC{m}{i}": _nircam(f"NRC{m}{i}", f"NRC{m}{i}_FULL", "SHORT", m)
       for m in "AB" for i in range(1, 5)},
    "NRCALONG": _nircam("NRCALONG", "NRCA5_FULL", "LONG", "A"),
    "NRCBLONG": _nircam("NRCBLONG", "NRCB5_FULL", "LONG", "B"),
    "MIRIMAGE": DetectorInfo("MIRI", "MIRIMAGE", "MIRI", "MIRIM_FULL", full_frame("MIRI"), 4),
    "NIS": DetectorInfo("NIRISS", "NIS", "NIRISS", "NIS_CEN", full_frame("NIRISS"), 4),
    "GUIDER1": DetectorInfo("FGS", "GUIDER1", "FGS", "FGS1_FULL", full_frame("FGS"), 4),
    "GUIDER2": DetectorInfo("FGS", "GUIDER2", "FGS", "FGS2_FULL", full_frame("FGS"), 4),
}

#: Imaging EXP_TYPEs per instrument, as the rmaps select them: every type the project
#: calibrates (science imaging, coronagraphy, AMI, focus, target acquisition) shares
#: one set of references per detector/filter, as in the real imaging rmaps.
IMAGING_EXP_TYPES = dict(modes.EXP_TYPES_BY_INSTRUMENT)

# Approximate pivot wavelengths (micron) of the imaging filters, for realistic
# PHOTMJSR and time-dependence values.
_WAVELENGTH = {
    "F070W": 0.70, "F090W": 0.90, "F115W": 1.15, "F140M": 1.40, "F150W": 1.50,
    "F150W2": 1.67, "F158M": 1.58, "F162M": 1.63, "F164N": 1.64, "F182M": 1.85,
    "F187N": 1.87, "F200W": 1.99, "F210M": 2.09, "F212N": 2.12, "F250M": 2.50,
    "F277W": 2.76, "F300M": 2.99, "F322W2": 3.23, "F323N": 3.24, "F335M": 3.36,
    "F356W": 3.57, "F360M": 3.62, "F380M": 3.83, "F405N": 4.05, "F410M": 4.08,
    "F430M": 4.28, "F444W": 4.40, "F460M": 4.63, "F466N": 4.65, "F470N": 4.71,
    "F480M": 4.82, "F560W": 5.6, "F770W": 7.7, "F1000W": 10.0, "F1130W": 11.3,
    "F1280W": 12.8, "F1500W": 15.0, "F1800W": 18.0, "F2100W": 21.0, "F2550W": 25.5,
    # MIRI coronagraph filters
    "F1065C": 10.58, "F1140C": 11.31, "F1550C": 15.52, "F2300C": 22.64,
}

#: P_PUPIL of the simulated NIRCam imaging DISTORTION references.
_NIRCAM_DISTORTION_PUPILS = "CLEAR|F162M|F164N|F323N|F405N|F466N|F470N|"

# Standard rows of the photom tables (in addition to whatever the specs use).
_NIRCAM_SW = ["F070W", "F090W", "F115W", "F140M", "F150W", "F150W2", "F182M",
              "F187N", "F200W", "F210M", "F212N"]
_NIRCAM_LW = ["F250M", "F277W", "F300M", "F322W2", "F335M", "F356W", "F360M",
              "F410M", "F430M", "F444W", "F460M", "F480M"]
_MIRI_FILTERS = ["F560W", "F770W", "F1000W", "F1130W", "F1280W", "F1500W",
                 "F1800W", "F2100W", "F2550W"]
_MIRI_SUBARRAYS = ["FULL", "BRIGHTSKY", "SUB256", "SUB128", "SUB64"]
_NIRISS_PUPIL_FILTERS = ["F090W", "F115W", "F140M", "F150W", "F158M", "F200W"]
_NIRISS_FILTER_FILTERS = ["F277W", "F356W", "F380M", "F430M", "F444W", "F480M"]


def detector_info(detector):
    """The :class:`DetectorInfo` of ``detector`` (KeyError names the supported ones)."""
    try:
        return DETECTORS[detector.upper()]
    except KeyError:
        raise KeyError(
            f"unsupported detector {detector!r}; supported: {', '.join(DETECTORS)}"
        ) from None


def _siaf(instrument):
    """The SIAF of ``instrument``, shared with :mod:`.campaign` (loaded once per process)."""
    from .campaign import _siaf as load

    return load(instrument)


def full_frame_aperture(detector):
    """The pysiaf aperture of the detector's full frame (the distortion's basis)."""
    info = detector_info(detector)
    return _siaf(info.siaf_instrument)[info.aperture]


def subarray_origin(detector, aperture):
    """SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2 of SIAF ``aperture`` on ``detector``.

    1-based full-frame science-pixel coordinates of the subarray's first pixel
    and its size, as the SUBSTRT/SUBSIZE keywords carry them, so that
    subarray pixel ``(i, j)`` (0-based) is full-frame pixel
    ``(i + substrt1 - 1, j + substrt2 - 1)``.
    """
    info = detector_info(detector)
    full = full_frame_aperture(detector)
    sub = _siaf(info.siaf_instrument)[aperture]
    if sub.AperName == full.AperName or sub.AperName.endswith("_FULL"):
        return 1, 1, info.shape[1], info.shape[0]
    x, y = full.det_to_sci(*sub.sci_to_det(1.0, 1.0))
    xstart, ystart = int(round(float(x))), int(round(float(y)))
    return xstart, ystart, int(sub.XSciSize), int(sub.YSciSize)


def _stable_rng(seed, *words):
    key = [int(seed)] + [zlib.crc32(str(w).encode()) for w in words]
    return np.random.default_rng(key)


_INVERSE_DEGREE = 8
_INVERSE_MARGIN = 64  # pixels beyond the frame the inverse is fitted over


def _fit_inverse(ap, shape):
    """Least-squares polynomials ideal (arcsec / scale) -> 0-based full-frame pixel.

    One Vandermonde matrix serves both axes (a single ``numpy.linalg.lstsq``);
    the coefficients go into astropy ``Polynomial2D`` models in their own order.
    """
    from astropy.modeling import models

    ny, nx = shape
    m = _INVERSE_MARGIN
    gx, gy = np.meshgrid(np.linspace(-m, nx - 1 + m, 61), np.linspace(-m, ny - 1 + m, 61))
    xi, yi = ap.sci_to_idl(gx + 1.0, gy + 1.0)
    scale = float(max(np.abs(xi).max(), np.abs(yi).max()))
    u, v = (xi / scale).ravel(), (yi / scale).ravel()
    px = models.Polynomial2D(_INVERSE_DEGREE)
    py = models.Polynomial2D(_INVERSE_DEGREE)
    # Polynomial2D's parameter names are c<i>_<j> for the term x**i * y**j
    powers = [tuple(int(k) for k in name[1:].split("_")) for name in px.param_names]
    upow = [np.ones_like(u)]
    vpow = [np.ones_like(v)]
    for _ in range(_INVERSE_DEGREE):
        upow.append(upow[-1] * u)
        vpow.append(vpow[-1] * v)
    design = np.column_stack([upow[i] * vpow[j] for i, j in powers])
    coeffs, *_ = np.linalg.lstsq(design, np.column_stack([gx.ravel(), gy.ravel()]),
                                 rcond=None)
    px.parameters = coeffs[:, 0]
    py.parameters = coeffs[:, 1]
    return px, py, scale


def distortion_transform(detector):
    """Full-frame 0-based science pixel -> (V2, V3) arcsec, with its inverse.

    Built from the SIAF polynomials of the detector's full-frame aperture;
    agrees with ``pysiaf`` ``sci_to_tel(x + 1, y + 1)`` to numerical precision.
    """
    from astropy.modeling.models import Mapping, Scale, Shift

    ap = full_frame_aperture(detector)
    sci2idl_x, sci2idl_y = ap.distortion_transform("sci", "idl")
    idl2tel_x, idl2tel_y = ap.telescope_transform("idl", "tel")
    tel2idl_x, tel2idl_y = ap.telescope_transform("tel", "idl")

    forward = (
        (Shift(1.0 - ap.XSciRef) & Shift(1.0 - ap.YSciRef))
        | Mapping((0, 1, 0, 1)) | (sci2idl_x & sci2idl_y)
        | Mapping((0, 1, 0, 1)) | (idl2tel_x & idl2tel_y)
    )
    # SIAF's own Idl2Sci polynomials invert Sci2Idl only to ~0.1 px for some
    # apertures; fit a closer inverse (ideal, scaled -> 0-based pixel) instead.
    idl2pix_x, idl2pix_y, scale = _fit_inverse(ap, detector_info(detector).shape)
    inverse = (
        (Shift(-ap.V2Ref) & Shift(-ap.V3Ref))
        | Mapping((0, 1, 0, 1)) | (tel2idl_x & tel2idl_y)
        | (Scale(1.0 / scale) & Scale(1.0 / scale))
        | Mapping((0, 1, 0, 1)) | (idl2pix_x & idl2pix_y)
    )
    forward.inverse = inverse
    forward.name = f"{ap.AperName}_sci2v2v3"
    return forward


def filter_offset(detector, filter, pupil=None, *, seed=0):
    """(column_offset, row_offset) in pixels the FILTEROFFSET gives this filter/pupil.

    FGS has no filter offsets: (0.0, 0.0).
    """
    info = detector_info(detector)
    if info.instrument == "FGS":
        return 0.0, 0.0
    rng = _stable_rng(seed, "filteroffset", info.instrument, detector, filter, pupil or "")
    scale = 0.6 if info.instrument == "MIRI" else 0.15
    col, row = rng.uniform(-scale, scale, 2)
    return round(float(col), 4), round(float(row), 4)


def photmjsr(instrument, filter, pupil=None):
    """A realistic PHOTMJSR (MJy/sr per DN/s) for this filter."""
    name = filter
    if instrument in ("NIRCAM", "NIRISS") and filter in ("CLEAR", "F150W2", "F322W2", "F444W"):
        if pupil and pupil.startswith("F"):
            name = pupil  # pupil-wheel filter
    lam = _WAVELENGTH.get(name, 2.0)
    if instrument == "NIRCAM":
        value = 0.25 * (lam / 1.5) ** 0.6 if lam < 2.4 else 0.40 * (lam / 3.5) ** 0.5
        if name.endswith("M"):
            value *= 3.0
        elif name.endswith("N"):
            value *= 25.0
    elif instrument == "MIRI":
        value = 0.35 * (lam / 7.7) ** 0.8
    elif instrument == "NIRISS":
        value = 0.55 * (lam / 1.5) ** 0.5 * (3.0 if name.endswith("M") else 1.0)
    else:  # FGS
        value = 1.7
    return float(value)


def _base_meta(model, info, reftype, description, *, exp_type=None):
    meta = model.meta
    meta.reftype = reftype.upper()
    meta.author = _AUTHOR
    meta.pedigree = _PEDIGREE
    meta.useafter = USEAFTER
    meta.description = description
    meta.telescope = "JWST"
    meta.instrument.name = info.instrument
    meta.instrument.detector = info.detector
    types = IMAGING_EXP_TYPES[info.instrument]
    meta.exposure.type = exp_type or types[0]
    meta.exposure.p_exptype = "|".join(types) + "|"
    if info.channel:
        meta.instrument.channel = info.channel
    if info.module:
        meta.instrument.module = info.module
    model.add_history_entry(f"Simulated by snakewebb ({reftype.upper()}), not for science use.")


def make_flat(detector, filter, pupil=None, *, seed=0, version=1):
    """A full-frame FlatModel for ``detector`` and ``filter``/``pupil``.

    SCI is ~1 with a smooth large-scale pattern and ~1 % pixel-to-pixel
    variation; a small fraction of pixels is unusable (NaN, DO_NOT_USE |
    NO_FLAT_FIELD); the reference-pixel border is 1 and flagged
    REFERENCE_PIXEL. ``version`` changes the realisation (for a new delivery).
    """
    from stdatamodels.jwst import datamodels
    from stdatamodels.jwst.datamodels import dqflags

    info = detector_info(detector)
    ny, nx = info.shape
    rng = _stable_rng(seed, "flat", detector, filter, pupil or "", version)
    y = np.linspace(-1.0, 1.0, ny, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, nx, dtype=np.float32)[None, :]
    a = rng.uniform(-0.03, 0.03, 5).astype(np.float32)
    large = 1.0 + a[0] * x + a[1] * y + a[2] * x * y + a[3] * (x * x - 0.33) + a[4] * (y * y - 0.33)
    sci = rng.standard_normal((ny, nx), dtype=np.float32)
    sci *= np.float32(0.01)
    sci += large.astype(np.float32)
    err = np.full((ny, nx), 0.003, dtype=np.float32)
    err += np.float32(0.002) * np.abs(sci - np.float32(1.0))
    dq = np.zeros((ny, nx), dtype=np.uint32)

    nbad = max(1, int(ny * nx * 2e-4))
    bad_y = rng.integers(0, ny, nbad)
    bad_x = rng.integers(0, nx, nbad)
    dq[bad_y, bad_x] = dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["NO_FLAT_FIELD"]
    sci[bad_y, bad_x] = np.nan
    err[bad_y, bad_x] = np.nan
    nlow = max(1, nbad // 2)
    low_y, low_x = rng.integers(0, ny, nlow), rng.integers(0, nx, nlow)
    sci[low_y, low_x] *= np.float32(0.6)
    dq[low_y, low_x] |= dqflags.pixel["LOW_QE"]

    border = np.zeros((ny, nx), dtype=bool)
    b = info.refpix
    if info.instrument == "MIRI":
        border[:, :b] = border[:, -b:] = True  # MIRI reference columns
    else:
        border[:b, :] = border[-b:, :] = border[:, :b] = border[:, -b:] = True
    sci[border] = 1.0
    err[border] = 0.0
    dq[border] = dqflags.pixel["REFERENCE_PIXEL"]

    model = datamodels.FlatModel(data=sci, dq=dq, err=err, **_NO_CHECK)
    _base_meta(model, info, "flat", f"Simulated {info.instrument} {detector} flat {filter}")
    model.meta.instrument.filter = filter
    if pupil is not None:
        model.meta.instrument.pupil = pupil
    model.meta.subarray.name = "FULL"
    model.meta.subarray.xstart = 1
    model.meta.subarray.ystart = 1
    model.meta.subarray.xsize = nx
    model.meta.subarray.ysize = ny
    return model


def _photom_rows(info, combos):
    """(filter, pupil, subarray) rows: the standard set plus the ones ``combos`` ask for."""
    rows = []
    if info.instrument == "NIRCAM":
        names = _NIRCAM_SW if info.channel == "SHORT" else _NIRCAM_LW
        rows = [(f, "CLEAR", None) for f in names]
    elif info.instrument == "MIRI":
        rows = [(f, None, s) for f in _MIRI_FILTERS for s in _MIRI_SUBARRAYS]
    elif info.instrument == "NIRISS":
        rows = [("CLEAR", p, None) for p in _NIRISS_PUPIL_FILTERS]
        rows += [(f, "CLEARP", None) for f in _NIRISS_FILTER_FILTERS]
    for combo in combos:
        if combo not in rows:
            rows.append(combo)
    return rows


def _time_coefficients(instrument, filter):
    lam = _WAVELENGTH.get(filter, 10.0)
    # Power-law throughput loss, steeper at long wavelength (as for the MIRI imager).
    year1 = 1.0 - 0.004 * lam
    alpha = -0.02 - 0.004 * lam
    return 59720.0, year1, 120.0, alpha  # t0 (MJD 2022-06-01), year1value, tsoft, alpha


def make_photom(detector, combos=(), *, seed=0):
    """The per-instrument imaging PHOTOM model for ``detector``.

    ``combos`` are (filter, pupil, subarray) triples the simulated exposures
    use; they are added to the standard rows (NIRCam/NIRISS match on filter and
    pupil, MIRI on filter and subarray, FGS has a single row). MIRI carries a
    ``timecoeff_powerlaw`` table row-aligned with ``phot_table``.
    """
    from stdatamodels.jwst import datamodels

    info = detector_info(detector)
    rng = _stable_rng(seed, "photom", detector)
    inst = info.instrument
    if inst == "FGS":
        dtype = [("photmjsr", "f4"), ("uncertainty", "f4")]
        value = photmjsr("FGS", "CLEAR") * (1.0 + rng.normal(0.0, 0.02))
        table = np.array([(value, 0.01 * value)], dtype=dtype)
        model = datamodels.FgsImgPhotomModel(phot_table=table, **_NO_CHECK)
    else:
        rows = _photom_rows(info, [tuple(c) for c in combos])
        values = []
        for filt, pupil, _sub in rows:
            v = photmjsr(inst, filt, pupil) * (1.0 + rng.normal(0.0, 0.02))
            values.append((v, v * rng.uniform(0.005, 0.02)))
        if inst == "MIRI":
            dtype = [("filter", "S12"), ("subarray", "S17"),
                     ("photmjsr", "f4"), ("uncertainty", "f4")]
            table = np.array([(f, s, v, u) for (f, _p, s), (v, u) in zip(rows, values)],
                             dtype=dtype)
            tdtype = [("filter", "S12"), ("subarray", "S17"), ("t0", "f4"),
                      ("year1value", "f4"), ("tsoft", "f4"), ("alpha", "f4")]
            ttable = np.array([(f, s) + _time_coefficients(inst, f) for f, _p, s in rows],
                              dtype=tdtype)
            model = datamodels.MirImgPhotomModel(phot_table=table, timecoeff_powerlaw=ttable,
                                                 **_NO_CHECK)
        else:
            dtype = [("filter", "S12"), ("pupil", "S12"),
                     ("photmjsr", "f4"), ("uncertainty", "f4")]
            table = np.array([(f, p, v, u) for (f, p, _s), (v, u) in zip(rows, values)],
                             dtype=dtype)
            cls = (datamodels.NrcImgPhotomModel if inst == "NIRCAM"
                   else datamodels.NisImgPhotomModel)
            model = cls(phot_table=table, **_NO_CHECK)
    _base_meta(model, info, "photom", f"Simulated {inst} {detector} imaging photometry")
    return model


def _nominal_area_arcsec2(ap):
    return float(ap.XSciScale) * float(ap.YSciScale)


def _bilinear(gy, gx, values, ny, nx):
    """``values`` on the grid (gy, gx) interpolated bilinearly onto every pixel (float32).

    The grid must run from 0 to ``ny - 1`` / ``nx - 1``; separable: along x for each grid
    row, then along y for every pixel row.
    """
    cols = np.arange(nx, dtype=float)
    along_x = np.stack([np.interp(cols, gx, row) for row in values])   # (len(gy), nx)
    rows = np.arange(ny, dtype=float)
    i1 = np.clip(np.searchsorted(gy, rows, side="right"), 1, len(gy) - 1)
    i0 = i1 - 1
    w = ((rows - gy[i0]) / (gy[i1] - gy[i0]))[:, None]
    out = along_x[i0] * (1.0 - w)
    out += along_x[i1] * w
    return out.astype(np.float32)


def make_area(detector, *, seed=0, step=64):
    """A PixelAreaModel: area relative to nominal, from the distortion's Jacobian.

    PIXAR_SR / PIXAR_A2 give the nominal area (SIAF XSciScale * YSciScale).
    The Jacobian of the SIAF sci->ideal polynomials is evaluated on a coarse
    grid (every ``step`` pixels) and interpolated bilinearly.
    """
    from stdatamodels.jwst import datamodels

    info = detector_info(detector)
    ap = full_frame_aperture(detector)
    ny, nx = info.shape
    gx = np.unique(np.r_[np.arange(0, nx, step), nx - 1]).astype(float)
    gy = np.unique(np.r_[np.arange(0, ny, step), ny - 1]).astype(float)
    xx, yy = np.meshgrid(gx, gy)
    h = 0.5
    sx, sy = xx + 1.0, yy + 1.0  # 1-based sci pixels
    x1, y1 = ap.sci_to_idl(sx + h, sy)
    x0, y0 = ap.sci_to_idl(sx - h, sy)
    x3, y3 = ap.sci_to_idl(sx, sy + h)
    x2, y2 = ap.sci_to_idl(sx, sy - h)
    jac = np.abs((x1 - x0) * (y3 - y2) - (x3 - x2) * (y1 - y0)) / (2 * h) ** 2
    nominal = _nominal_area_arcsec2(ap)
    rel = jac / nominal
    full = _bilinear(gy, gx, rel, ny, nx)
    model = datamodels.PixelAreaModel(data=full, **_NO_CHECK)
    _base_meta(model, info, "area", f"Simulated {info.instrument} {detector} pixel area map")
    model.meta.photometry.pixelarea_arcsecsq = nominal
    model.meta.photometry.pixelarea_steradians = nominal * (np.pi / (180.0 * 3600.0)) ** 2
    model.meta.instrument.filter = "N/A"
    if info.instrument in ("NIRCAM", "NIRISS"):
        model.meta.instrument.pupil = "N/A"
    return model


def make_distortion(detector, *, seed=0):
    """DistortionModel (ASDF) whose ``model`` is :func:`distortion_transform`."""
    import astropy.units as u
    from stdatamodels.jwst import datamodels

    info = detector_info(detector)
    model = datamodels.DistortionModel(model=distortion_transform(detector), **_NO_CHECK)
    _base_meta(model, info, "distortion",
               f"Simulated {info.instrument} {detector} distortion from SIAF {info.aperture}")
    model.meta.input_units = u.pix
    model.meta.output_units = u.arcsec
    model.meta.subarray.name = "GENERIC"
    if info.instrument == "NIRCAM":
        # what the real NIRCam imaging DISTORTION references carry (the pupil elements
        # the imaging distortion applies to)
        model.meta.instrument.p_pupil = _NIRCAM_DISTORTION_PUPILS
    return model


def make_filteroffset(detector, filters, *, seed=0):
    """FilteroffsetModel with one row per (filter, pupil) of ``filters``.

    NIRCam and NIRISS rows carry ``filter`` and ``pupil`` (assign_wcs matches
    both), MIRI rows only ``filter``.
    """
    from stdatamodels.jwst import datamodels

    info = detector_info(detector)
    if info.instrument == "FGS":
        raise ValueError("FGS has no FILTEROFFSET reference")
    rows = []
    seen = set()
    for filt, pupil in filters:
        key = (filt, None if info.instrument == "MIRI" else pupil)
        if key in seen:
            continue
        seen.add(key)
        col, row = filter_offset(detector, filt, key[1], seed=seed)
        entry = {"filter": filt, "column_offset": col, "row_offset": row}
        if info.instrument != "MIRI":
            entry["pupil"] = pupil if pupil is not None else "N/A"
        rows.append(entry)
    model = datamodels.FilteroffsetModel(**_NO_CHECK)
    model.filters = rows
    _base_meta(model, info, "filteroffset",
               f"Simulated {info.instrument} {detector} filter offsets")
    model.meta.input_units = "pixel"
    model.meta.subarray.name = "GENERIC"
    return model


def standard_filters(detector):
    """(filter, pupil) pairs every simulated reference set covers for ``detector``."""
    info = detector_info(detector)
    return [(f, p) for f, p, _s in _photom_rows(info, ())] if info.instrument != "MIRI" \
        else [(f, None) for f in _MIRI_FILTERS]


def spec_keywords(spec):
    """The FITS keywords of ``spec`` that reference selection and assign_wcs read.

    INSTRUME, DETECTOR, EXP_TYPE, FILTER, PUPIL, SUBARRAY, DATE-OBS, TIME-OBS
    and SUBSTRT1/2, SUBSIZE1/2 (from the SIAF aperture, see
    :func:`subarray_origin`). A ``None`` pupil is left out.
    """
    date, _, time = spec.date_obs.partition("T")
    xstart, ystart, xsize, ysize = subarray_origin(spec.detector, spec.aperture)
    keywords = {
        "TELESCOP": "JWST", "INSTRUME": spec.instrument.upper(),
        "DETECTOR": spec.detector.upper(), "EXP_TYPE": spec.exp_type,
        "FILTER": spec.filter, "PUPIL": spec.pupil, "SUBARRAY": spec.subarray,
        "DATE-OBS": date, "TIME-OBS": time or "00:00:00",
        "SUBSTRT1": xstart, "SUBSTRT2": ystart, "SUBSIZE1": xsize, "SUBSIZE2": ysize,
    }
    return {k: v for k, v in keywords.items() if v is not None}


def references_for(spec, crds_path, context=None, reftypes=None):
    """Paths of the references the cache at ``crds_path`` gives ``spec`` (None for N/A).

    Asks :func:`snakewebb.references.best_references` on that cache (serverless),
    i.e. exactly what the pipeline will get.
    """
    from snakewebb import references

    crds = references.resolve_crds(crds_path, context, environ={})
    return references.best_references(
        spec_keywords(spec), reftypes or references.ALL_REFTYPES, crds=crds,
        exposure=spec.name)
