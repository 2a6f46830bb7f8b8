"""Countrate products (``_rate``/``_rateints``) of the simulated campaign, and its truth.

Each exposure is made faithful to the reference files the pipeline will use on it:

* the sky is a uniform surface brightness multiplied by the FLAT (so that flat-fielding
  makes it flat again);
* sources are given in MJy and converted to DN/s with the PHOTOM conversion (including
  the MIRI time dependence at the exposure's mid time) and the AREA map;
* source pixel positions come from the same chain the official ``assign_wcs`` builds:
  subarray offset, FILTEROFFSET shift, DISTORTION model to V2/V3, the differential
  velocity-aberration scale about (V2_REF, V3_REF), and the attitude given by
  RA_REF/DEC_REF/ROLL_REF at (V2_REF, V3_REF). The sky-to-V2/V3 part is inverted
  exactly; the distortion part by Newton iterations on the forward model.
"""

import logging
import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..instruments import full_frame
from ..io import atomic_save
from .campaign import _lonlat, _position_angle, _rotation, _unit, siaf_aperture

__all__ = [
    "DetectorWcs",
    "load_references",
    "make_truth_catalog",
    "write_exposure",
    "exposure_truth",
    "pixel_area_sr",
]

log = logging.getLogger(__name__)

# DQ bits (stdatamodels dqflags.pixel)
DO_NOT_USE = 1
DEAD = 1 << 10
HOT = 1 << 11
REFERENCE_PIXEL = 1 << 31

#: Velocity-aberration scale of every exposure: differs from 1 so the DVA term matters.
VA_SCALE = 1.0000213

#: Pivot wavelengths (micron) of the filters the campaign uses (FGS: its broad band).
WAVELENGTH = {
    "F150W": 1.50, "F200W": 1.99, "F210M": 2.09, "F444W": 4.42, "F560W": 5.6,
    "F770W": 7.7, "F1500W": 15.0, "FGS": 2.8,
    "F335M": 3.36, "F480M": 4.82, "F1550C": 15.52,
}
#: Zodiacal-like sky surface brightness (MJy/sr) per filter.
SKY_MJYSR = {
    "F150W": 0.15, "F200W": 0.12, "F210M": 0.12, "F444W": 0.25, "F560W": 2.0,
    "F770W": 6.0, "F1500W": 40.0, "FGS": 0.2,
    "F335M": 0.2, "F480M": 0.3, "F1550C": 45.0,
}


@dataclass(frozen=True)
class _Readout:
    readpatt: str
    tframe: float
    nframes: int
    groupgap: int
    ngroups: int
    gain: float       # e-/DN
    read_noise: float  # DN per frame


def _readout(spec):
    inst, sub = spec.instrument, spec.subarray
    if inst == "NIRCAM":
        tframe = {"FULL": 10.73676, "SUB160": 0.27864, "SUB64P": 0.05016}.get(sub, 1.0)
        if sub == "FULL":
            return _Readout("MEDIUM8", tframe, 8, 2, 6, 2.05, 10.0)
        return _Readout("RAPID", tframe, 1, 0, 10, 2.05, 10.0)
    if inst == "MIRI":
        tframe = {"FULL": 2.77504, "SUB256": 0.29952, "SUB64": 0.08526}.get(sub, 1.0)
        return _Readout("FASTR1", tframe, 1, 0, 25 if sub == "FULL" else 40, 4.0, 14.0)
    if inst == "NIRISS":
        return _Readout("NIS", 10.7368, 1, 0, 12, 1.61, 11.0)
    return _Readout("FGSRAPID", 10.7368, 1, 0, 10, 2.0, 10.0)


def _stable_rng(seed, *words):
    return np.random.default_rng([int(seed)] + [zlib.crc32(str(w).encode()) for w in words])


def _band(spec):
    """The filter that sets the wavelength: NIRISS short-wave filters sit in the pupil."""
    if spec.instrument == "FGS":
        return "FGS"
    if spec.pupil and spec.pupil.startswith("F"):
        return spec.pupil
    return spec.filter


# ----------------------------------------------------------------------------- references

@dataclass
class References:
    """What the writer takes from the reference files of one exposure."""

    distortion: object        # astropy model: full-frame 0-based pixel -> V2, V3 (arcsec)
    offset: tuple             # FILTEROFFSET (column, row) shift in pixels
    flat: np.ndarray          # on the exposure's (sub)array
    area: np.ndarray          # relative pixel area on the exposure's (sub)array
    pixar_sr: float           # nominal pixel area (sr)
    photmjsr: float           # (MJy/sr) per (DN/s), time dependence included
    names: dict               # reftype -> file name


def _cutout(array, ref_meta, xstart, ystart, shape):
    """The part of a (full-frame or subarray) reference array under the exposure."""
    array = np.asarray(array)
    if array.shape == tuple(shape) and (ref_meta is None or (ref_meta[0] or 1) == xstart):
        return array
    rx = (ref_meta[0] or 1) if ref_meta else 1
    ry = (ref_meta[1] or 1) if ref_meta else 1
    x0, y0 = xstart - rx, ystart - ry
    out = array[y0:y0 + shape[0], x0:x0 + shape[1]]
    if out.shape != tuple(shape):
        raise ValueError(f"reference of shape {array.shape} does not cover the subarray")
    return out


def _substrt(model):
    sub = model.meta.instance.get("subarray", {}) or {}
    return sub.get("xstart"), sub.get("ystart")


def _match_row(table, wanted):
    names = table.dtype.names if hasattr(table, "dtype") else table[0].keys()
    for i, row in enumerate(table):
        ok = True
        for key, value in wanted.items():
            if key not in names:
                continue
            have = row[key]
            have = have.decode() if isinstance(have, bytes) else have
            have = str(have).strip().upper() if have is not None else "N/A"
            want = str(value).strip().upper() if value is not None else "N/A"
            if have != want:
                ok = False
                break
        if ok:
            return i
    return None


def _time_factor(tables, row, mid_mjd):
    """Product of the time-dependence corrections the PHOTOM carries, for one row.

    ``tables``: {extension name: table} of the PHOTOM reference.
    """
    factor = 1.0
    if "timecoeff_linear" in tables:
        p = tables["timecoeff_linear"][row]
        factor *= 1.0 - p["lossperyear"] * (mid_mjd - p["t0"]) / 365.0
    if "timecoeff_exponential" in tables:
        p = tables["timecoeff_exponential"][row]
        factor *= p["amplitude"] * math.exp(-(mid_mjd - p["t0"]) / p["tau"]) + p["const"]
    if "timecoeff_powerlaw" in tables:
        p = tables["timecoeff_powerlaw"][row]
        norm = (365.0 + p["tsoft"]) ** p["alpha"] / p["year1value"]
        factor *= (mid_mjd - p["t0"] + p["tsoft"]) ** p["alpha"] / norm
    return float(factor)


def _cached(cache, key, make):
    """``cache[key]``, made by ``make()`` the first time (no cache when ``cache`` is None)."""
    if cache is None:
        return make()
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _read_distortion(path):
    from stdatamodels.jwst import datamodels

    with datamodels.DistortionModel(path) as dist:
        return dist.model


def _read_offsets(path):
    import asdf

    with asdf.open(path) as af:
        return [dict(row) for row in af.tree["filters"]]


def _read_image(path):
    """(SCI array, (SUBSTRT1, SUBSTRT2), PIXAR_SR) of a FLAT or AREA reference."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        head = hdul[0].header
        return (np.asarray(hdul["SCI"].data), (head.get("SUBSTRT1"), head.get("SUBSTRT2")),
                head.get("PIXAR_SR"))


def _read_photom(path):
    from stdatamodels.jwst import datamodels

    with datamodels.open(path) as photom:
        tables = {name: np.asarray(getattr(photom, name)) for name in
                  ("phot_table", "timecoeff_linear", "timecoeff_exponential",
                   "timecoeff_powerlaw") if photom.hasattr(name)}
    return tables


def load_references(spec, refs, mid_mjd, *, cache=None):
    """Read what the writer needs from the reference files ``refs`` ({reftype: path|None}).

    Photom rows are matched as the official photom step does: NIRCam/NIRISS on
    filter+pupil, MIRI on filter+subarray, FGS takes its only row. ``cache`` (a dict
    kept for one run) holds what was read from each file, so that exposures sharing a
    reference read it once.
    """
    sa = siaf_aperture(spec.instrument, spec.aperture)
    shape = (sa["ysize"], sa["xsize"])
    distortion = _cached(cache, ("distortion", refs["distortion"]),
                         lambda: _read_distortion(refs["distortion"]))

    offset = (0.0, 0.0)
    if refs.get("filteroffset"):
        rows = _cached(cache, ("filteroffset", refs["filteroffset"]),
                       lambda: _read_offsets(refs["filteroffset"]))
        wanted = {"filter": spec.filter}
        if spec.instrument != "MIRI":
            wanted["pupil"] = spec.pupil
        for row in rows:
            if all(str(row.get(k)).upper() == str(v).upper() for k, v in wanted.items()
                   if k in row):
                offset = (float(row["column_offset"]), float(row["row_offset"]))
                break

    flat_full, sub, _ = _cached(cache, ("image", refs["flat"]), lambda: _read_image(refs["flat"]))
    flat_data = _cutout(flat_full, sub, sa["xstart"], sa["ystart"], shape).astype(np.float32)
    area_full, sub, pixar_sr = _cached(cache, ("image", refs["area"]),
                                       lambda: _read_image(refs["area"]))
    area_data = _cutout(area_full, sub, sa["xstart"], sa["ystart"], shape).astype(np.float32)
    pixar_sr = float(pixar_sr)
    tables = _cached(cache, ("photom", refs["photom"]), lambda: _read_photom(refs["photom"]))
    table = tables["phot_table"]
    if spec.instrument == "MIRI":
        row = _match_row(table, {"filter": spec.filter, "subarray": spec.subarray})
        if row is None:
            row = _match_row(table, {"filter": spec.filter, "subarray": "GENERIC"})
    elif spec.instrument == "FGS":
        row = 0
    else:
        row = _match_row(table, {"filter": spec.filter, "pupil": spec.pupil})
    if row is None:
        raise ValueError(f"PHOTOM has no row for {spec.filter}/{spec.pupil}/{spec.subarray}")
    conversion = float(table[row]["photmjsr"]) / _time_factor(tables, row, mid_mjd)
    # flats: where the flat is not usable the pipeline divides by 1
    bad = ~np.isfinite(flat_data) | (flat_data <= 0)
    flat_data[bad] = 1.0
    area_data[~(np.isfinite(area_data) & (area_data > 0))] = 1.0
    names = {k: Path(v).name if v else "N/A" for k, v in refs.items()}
    return References(distortion, offset, flat_data, area_data, pixar_sr, conversion, names)


# ----------------------------------------------------------------------------- geometry

class DetectorWcs:
    """Detector pixel (0-based, in the exposure's array) <-> ICRS, as assign_wcs builds it.

    Parameters
    ----------
    distortion : astropy model, full-frame pixel -> (V2, V3) arcsec
    offset : (column, row) FILTEROFFSET shift
    xstart, ystart : SUBSTRT1/2 (1-based)
    v2_ref, v3_ref : arcsec; ra_ref, dec_ref, roll_ref : deg; va_scale : DVA scale
    """

    def __init__(self, distortion, offset, xstart, ystart, v2_ref, v3_ref,
                 ra_ref, dec_ref, roll_ref, va_scale):
        self.distortion = distortion
        self.dx = (xstart - 1) + offset[0]
        self.dy = (ystart - 1) + offset[1]
        self.v2_ref, self.v3_ref, self.va_scale = v2_ref, v3_ref, va_scale
        self.matrix = _rotation(v2_ref, v3_ref, roll_ref, ra_ref, dec_ref)

    def to_v2v3(self, x, y):
        """V2/V3 (arcsec) of pixel ``(x, y)`` of the exposure's array, before DVA."""
        return self.distortion(np.asarray(x, float) + self.dx, np.asarray(y, float) + self.dy)

    def __call__(self, x, y):
        """RA, Dec (deg) of pixel ``(x, y)`` of the exposure's array."""
        v2, v3 = self.to_v2v3(x, y)
        v2 = self.va_scale * v2 + (1.0 - self.va_scale) * self.v2_ref
        v3 = self.va_scale * v3 + (1.0 - self.va_scale) * self.v3_ref
        xyz = self.matrix @ _unit(np.asarray(v2) / 3600.0, np.asarray(v3) / 3600.0)
        ra = np.degrees(np.arctan2(xyz[1], xyz[0])) % 360.0
        dec = np.degrees(np.arcsin(np.clip(xyz[2], -1.0, 1.0)))
        return ra, dec

    def sky_to_v2v3(self, ra, dec):
        """Exact inverse of the attitude and DVA parts."""
        xyz = self.matrix.T @ _unit(np.asarray(ra, float), np.asarray(dec, float))
        v2 = np.degrees(np.arctan2(xyz[1], xyz[0])) * 3600.0
        v3 = np.degrees(np.arcsin(np.clip(xyz[2], -1.0, 1.0))) * 3600.0
        v2 = (v2 - (1.0 - self.va_scale) * self.v2_ref) / self.va_scale
        v3 = (v3 - (1.0 - self.va_scale) * self.v3_ref) / self.va_scale
        return v2, v3

    def invert(self, ra, dec, guess, *, tol=1e-9, max_iter=30):
        """Pixel positions of (ra, dec): Newton on the forward distortion.

        ``guess`` is (x, y) to start from. Returns x, y and the V2/V3 residual (arcsec).
        """
        v2t, v3t = self.sky_to_v2v3(ra, dec)
        x, y = (np.array(g, dtype=float) for g in guess)
        h = 1e-3
        for _ in range(max_iter):
            v2, v3 = self.to_v2v3(x, y)
            r2, r3 = v2t - v2, v3t - v3
            if np.all(np.hypot(r2, r3) < tol):
                break
            a2, a3 = self.to_v2v3(x + h, y)
            b2, b3 = self.to_v2v3(x, y + h)
            j11, j21 = (a2 - v2) / h, (a3 - v3) / h
            j12, j22 = (b2 - v2) / h, (b3 - v3) / h
            det = j11 * j22 - j12 * j21
            x = x + (j22 * r2 - j12 * r3) / det
            y = y + (-j21 * r2 + j11 * r3) / det
        v2, v3 = self.to_v2v3(x, y)
        return x, y, np.hypot(v2t - v2, v3t - v3)

    def pixel_scale(self, x, y):
        """Local pixel scale (arcsec, geometric mean of the two axes)."""
        h = 0.5
        v2, v3 = self.to_v2v3(x, y)
        a2, a3 = self.to_v2v3(x + h, y)
        b2, b3 = self.to_v2v3(x, y + h)
        det = np.abs((a2 - v2) * (b3 - v3) - (b2 - v2) * (a3 - v3)) / h**2
        return np.sqrt(det) * self.va_scale


def pixel_area_sr(scale_arcsec):
    """Area in steradians of a square pixel ``scale_arcsec`` on a side."""
    return (scale_arcsec / 3600.0 * math.pi / 180.0) ** 2


# ----------------------------------------------------------------------------- truth

def make_truth_catalog(specs, seed=0, *, n_per_field=2500):
    """The sources of the campaign: stars and galaxies around each field.

    Columns: ``id``, ``kind`` (star/galaxy/tso_star), ``ra``, ``dec`` (deg),
    ``flux_2um`` (MJy at 2 micron), ``beta`` (spectral slope, F_nu ~ lambda**beta),
    ``r_eff`` (arcsec, galaxies), ``axis_ratio``, ``theta`` (deg, galaxies).
    The random part depends only on ``seed``; each TSO exposure adds a bright star at
    its reference point.
    """
    from astropy.table import Table

    from .campaign import BACKGROUND_OFFSET, FIELD_DEC, FIELD_RA, _offset

    rng = _stable_rng(seed, "catalog")
    rows = []
    centres = [(FIELD_RA, FIELD_DEC), _offset(FIELD_RA, FIELD_DEC, *BACKGROUND_OFFSET)]
    radius = 260.0  # arcsec: covers NIRCam modules A and B, MIRI, NIRISS and the guiders
    for ra0, dec0 in centres:
        n = n_per_field
        r = radius * np.sqrt(rng.uniform(0, 1, n))
        phi = rng.uniform(0, 2 * np.pi, n)
        dra, ddec = r * np.cos(phi), r * np.sin(phi)
        is_star = rng.uniform(0, 1, n) < 0.4
        # log-uniform 0.5 uJy .. 0.3 mJy for stars, fainter galaxies
        flux = 10 ** rng.uniform(-12.3, -9.5, n)
        flux[~is_star] *= 0.5
        beta = rng.normal(0.0, 0.6, n)
        r_eff = np.where(is_star, 0.0, 10 ** rng.uniform(-1.0, -0.3, n))
        q = np.where(is_star, 1.0, rng.uniform(0.3, 1.0, n))
        theta = np.where(is_star, 0.0, rng.uniform(0, 180, n))
        for i in range(n):
            ra, dec = _offset(ra0, dec0, dra[i], ddec[i])
            rows.append(("star" if is_star[i] else "galaxy", ra, dec, flux[i], beta[i],
                         r_eff[i], q[i], theta[i]))
    seen = set()
    for spec in specs:
        if spec.is_cube and spec.role == "science":
            key = (round(spec.ra_ref, 7), round(spec.dec_ref, 7))
            if key in seen:
                continue
            seen.add(key)
            # a little off the reference pixel, bright (a time-series target)
            ra, dec = _offset(spec.ra_ref, spec.dec_ref, 0.011, -0.007)
            rows.append(("tso_star", ra, dec, 2.0e-9, 0.0, 0.0, 1.0, 0.0))
    table = Table(rows=rows, names=("kind", "ra", "dec", "flux_2um", "beta", "r_eff",
                                    "axis_ratio", "theta"))
    table.add_column(np.arange(1, len(table) + 1, dtype=np.int64), name="id", index=0)
    table["ra"].unit = "deg"
    table["dec"].unit = "deg"
    table["flux_2um"].unit = "MJy"
    table["r_eff"].unit = "arcsec"
    table.meta["seed"] = int(seed)
    return table


def _wrap_degrees(angle):
    """An angle difference in degrees, wrapped to [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


def exposure_truth(spec, wcs, catalog, shape, margin=20):
    """Catalogue sources that fall on the exposure, with their pixel positions.

    Returns an astropy Table (catalogue columns + ``x``, ``y`` (0-based, exposure array),
    ``flux`` (MJy in this exposure's band), ``residual_arcsec`` of the inversion).
    """
    from astropy.table import Table

    ny, nx = shape
    # a linear first guess from the array centre, then Newton does the rest
    xc, yc = (nx - 1) / 2.0, (ny - 1) / 2.0
    ra_c, dec_c = wcs(xc, yc)
    # keep sources within the array's circumscribed circle (cheap pre-selection); the
    # haversine separation holds across RA 0/360 and at the poles
    scale = float(wcs.pixel_scale(xc, yc))
    half = math.hypot(nx, ny) / 2.0 * scale + margin * scale
    ra, dec = np.radians(np.asarray(catalog["ra"])), np.radians(np.asarray(catalog["dec"]))
    ra0, dec0 = math.radians(float(ra_c)), math.radians(float(dec_c))
    hav = (np.sin((dec - dec0) / 2) ** 2
           + np.cos(dec) * math.cos(dec0) * np.sin((ra - ra0) / 2) ** 2)
    separation = np.degrees(2 * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0)))) * 3600.0
    near = separation < half
    # local offsets (arcsec) for the linear first guess, RA differences wrapped to ±180°
    cosd = math.cos(dec0)
    dra = _wrap_degrees(np.asarray(catalog["ra"]) - ra_c) * cosd * 3600.0
    ddec = (np.asarray(catalog["dec"]) - dec_c) * 3600.0
    sub = catalog[near]
    if len(sub) == 0:
        out = Table(sub)
        out["x"] = np.zeros(0)
        out["y"] = np.zeros(0)
        out["flux"] = np.zeros(0)
        out["residual_arcsec"] = np.zeros(0)
        return out
    # Jacobian at the centre for the first guess
    h = 1.0
    r1, d1 = wcs(xc + h, yc)
    r2, d2 = wcs(xc, yc + h)
    jac = np.array([[_wrap_degrees(r1 - ra_c) * cosd, _wrap_degrees(r2 - ra_c) * cosd],
                    [d1 - dec_c, d2 - dec_c]]) * 3600
    inv = np.linalg.inv(jac)
    off = np.vstack([dra[near], ddec[near]])
    guess = inv @ off
    x, y, resid = wcs.invert(sub["ra"], sub["dec"], (xc + guess[0], yc + guess[1]))
    keep = (x > -margin) & (x < nx - 1 + margin) & (y > -margin) & (y < ny - 1 + margin)
    out = Table(sub[keep])
    out["x"] = x[keep]
    out["y"] = y[keep]
    lam = WAVELENGTH[_band(spec)]
    out["flux"] = out["flux_2um"] * (lam / 2.0) ** out["beta"]
    out["flux"].unit = "MJy"
    out["residual_arcsec"] = resid[keep]
    return out


# ----------------------------------------------------------------------------- pixels

def _star_stamp(x0, y0, sigma, half):
    from scipy.special import erf

    ix, iy = int(round(x0)), int(round(y0))
    xs = np.arange(ix - half, ix + half + 1)
    ys = np.arange(iy - half, iy + half + 1)
    s = math.sqrt(2.0) * sigma
    fx = 0.5 * (erf((xs + 0.5 - x0) / s) - erf((xs - 0.5 - x0) / s))
    fy = 0.5 * (erf((ys + 0.5 - y0) / s) - erf((ys - 0.5 - y0) / s))
    return xs, ys, np.outer(fy, fx)


def _galaxy_stamp(x0, y0, r_eff, q, theta, sigma, half):
    ix, iy = int(round(x0)), int(round(y0))
    xs = np.arange(ix - half, ix + half + 1)
    ys = np.arange(iy - half, iy + half + 1)
    sub = (np.arange(3) - 1) / 3.0
    gx = (xs[:, None] + sub[None, :]).ravel() - x0
    gy = (ys[:, None] + sub[None, :]).ravel() - y0
    xx, yy = np.meshgrid(gx, gy)
    t = math.radians(theta)
    u = xx * math.cos(t) + yy * math.sin(t)
    v = -xx * math.sin(t) + yy * math.cos(t)
    # exponential disk, softened by the PSF width
    r = np.sqrt(u**2 + (v / q) ** 2 + sigma**2)
    img = np.exp(-1.678 * r / r_eff)
    img = img.reshape(len(ys), 3, len(xs), 3).sum(axis=(1, 3))
    return xs, ys, img / img.sum()


def _render(truth, shape, wcs, band, conversion_rate):
    """Noiseless source countrate image (surface brightness per pixel, MJy/sr)."""
    ny, nx = shape
    image = np.zeros(shape)
    if len(truth) == 0:
        return image
    lam = WAVELENGTH[band]
    fwhm_arcsec = 0.0325 * lam + 0.015
    x_all = np.asarray(truth["x"], dtype=float)
    y_all = np.asarray(truth["y"], dtype=float)
    scales = np.atleast_1d(wcs.pixel_scale(x_all, y_all))   # one model evaluation for all
    columns = zip(x_all, y_all, scales, np.asarray(truth["kind"]),
                  np.asarray(truth["flux"], dtype=float), np.asarray(truth["r_eff"], dtype=float),
                  np.asarray(truth["axis_ratio"], dtype=float),
                  np.asarray(truth["theta"], dtype=float))
    for x, y, scale, kind, flux, r_eff, q, theta in columns:
        sigma = fwhm_arcsec / 2.3548 / scale
        if kind == "galaxy":
            r_eff = r_eff / scale
            half = int(min(40, math.ceil(max(5 * r_eff, 4 * sigma)) + 1))
            xs, ys, stamp = _galaxy_stamp(x, y, r_eff, q, theta, sigma, half)
        else:
            half = int(min(60, math.ceil(5 * sigma) + 1))
            xs, ys, stamp = _star_stamp(x, y, sigma, half)
        gx = (xs >= 0) & (xs < nx)
        gy = (ys >= 0) & (ys < ny)
        if not gx.any() or not gy.any():
            continue
        image[np.ix_(ys[gy], xs[gx])] += flux * stamp[np.ix_(gy, gx)]
    return image  # MJy per pixel


def _reference_pixel_mask(spec, sa, shape):
    """Reference pixels of the exposure's array (from their full-frame position)."""
    ny, nx = shape
    xf = np.arange(nx) + sa["xstart"] - 1
    yf = np.arange(ny) + sa["ystart"] - 1
    if spec.instrument == "MIRI":
        cols = (xf < 4) | (xf >= 1028)
        return np.broadcast_to(cols[None, :], shape).copy()
    cols = (xf < 4) | (xf >= 2044)
    rows = (yf < 4) | (yf >= 2044)
    return rows[:, None] | cols[None, :]


def _times(spec, ro):
    from astropy.time import Time

    start = Time(spec.date_obs, format="isot", scale="utc")
    tgroup = ro.tframe * (ro.nframes + ro.groupgap)
    int_time = tgroup * ro.ngroups - ro.tframe * ro.groupgap
    eff_int = tgroup * (ro.ngroups - 1)
    reset = ro.tframe  # one reset frame between integrations
    duration = spec.nints * (int_time + reset)
    return {
        "start": start, "tgroup": tgroup, "int_time": int_time, "eff_int": eff_int,
        "reset": reset, "duration": duration,
        "start_mjd": start.mjd, "end_mjd": start.mjd + duration / 86400.0,
        "mid_mjd": start.mjd + duration / 172800.0,
    }


def _set_meta(model, spec, sa, ro, times, refs_names, truth_file):
    m = model.meta
    m.filename = spec.filename
    m.model_type = type(model).__name__
    m.origin = "SNAKEWEBB"
    m.telescope = "JWST"
    m.calibration_software_name = "snakewebb-simulator"
    m.data_processing_software_version = "simulated"
    m.instrument.name = spec.instrument
    m.instrument.detector = spec.detector
    if spec.filter is not None:
        m.instrument.filter = spec.filter
    if spec.pupil is not None:
        m.instrument.pupil = spec.pupil
    if spec.instrument == "NIRCAM":
        m.instrument.channel = "LONG" if spec.detector.endswith("LONG") else "SHORT"
        m.instrument.module = spec.detector[3]
    m.exposure.type = spec.exp_type
    m.exposure.readpatt = ro.readpatt
    m.exposure.nints = spec.nints
    m.exposure.ngroups = ro.ngroups
    m.exposure.nframes = ro.nframes
    m.exposure.groupgap = ro.groupgap
    m.exposure.nsamples = 1
    m.exposure.nresets_at_start = 1
    m.exposure.nresets_between_ints = 1
    m.exposure.integration_start = 1
    m.exposure.integration_end = spec.nints
    m.exposure.frame_time = ro.tframe
    m.exposure.group_time = times["tgroup"]
    m.exposure.integration_time = times["int_time"]
    m.exposure.effective_integration_time = times["eff_int"]
    m.exposure.exposure_time = times["int_time"] * spec.nints
    m.exposure.effective_exposure_time = times["eff_int"] * spec.nints
    m.exposure.measurement_time = times["eff_int"] * spec.nints
    m.exposure.duration = times["duration"]
    m.exposure.start_time = times["start_mjd"]
    m.exposure.mid_time = times["mid_mjd"]
    m.exposure.end_time = times["end_mjd"]
    m.exposure.gain_factor = 1.0
    m.exposure.zero_frame = False
    m.exposure.primary_type = "SCIENCE"
    m.exposure.count = 1
    m.observation.date = spec.date_obs[:10]
    m.observation.time = spec.date_obs[11:]
    m.observation.date_beg = spec.date_obs
    m.observation.program_number = f"{spec.program:05d}"
    m.observation.observation_number = f"{spec.observation:03d}"
    m.observation.visit_number = f"{spec.visit:03d}"
    m.observation.visit_group = f"{spec.visit_group:02d}"
    m.observation.sequence_id = f"{spec.sequence:1d}"
    m.observation.activity_id = f"{spec.activity:02d}"
    m.observation.exposure_number = f"{spec.exposure:05d}"
    m.observation.obs_id = spec.name.rsplit("_", 1)[0].replace("_", "")
    m.observation.visit_id = f"{spec.program:05d}{spec.observation:03d}{spec.visit:03d}"
    m.visit.tsovisit = bool(spec.tsovisit)
    m.visit.type = "PRIME_TARGETED_FIXED"
    m.target.ra = float(spec.ra_ref)
    m.target.dec = float(spec.dec_ref)
    m.target.proposer_name = "SNAKEWEBB-FIELD"
    m.target.catalog_name = "SNAKEWEBB-FIELD"
    m.target.source_type = "POINT" if spec.is_cube else None
    m.aperture.name = spec.aperture
    m.subarray.name = spec.subarray
    m.subarray.xstart = sa["xstart"]
    m.subarray.ystart = sa["ystart"]
    m.subarray.xsize = sa["xsize"]
    m.subarray.ysize = sa["ysize"]
    fast, slow = _AXES.get(spec.detector, (1, 2))
    m.subarray.fastaxis = fast
    m.subarray.slowaxis = slow
    w = m.wcsinfo
    w.wcsaxes = 2
    w.ra_ref = float(spec.ra_ref)
    w.dec_ref = float(spec.dec_ref)
    w.roll_ref = float(spec.roll_ref)
    w.v2_ref = sa["v2_ref"]
    w.v3_ref = sa["v3_ref"]
    w.v3yangle = sa["v3yangle"]
    w.vparity = sa["vparity"]
    w.siaf_xref_sci = sa["xref_sci"]
    w.siaf_yref_sci = sa["yref_sci"]
    v1 = _v1(spec, sa)
    m.pointing.ra_v1, m.pointing.dec_v1, m.pointing.pa_v3 = v1
    m.pointing.pa_aperture = float(spec.roll_ref)
    m.velocity_aberration.scale_factor = VA_SCALE
    # apparent (aberrated) position of the reference point: scaled about the V1 axis
    m.velocity_aberration.va_ra_ref = float(spec.ra_ref)
    m.velocity_aberration.va_dec_ref = float(spec.dec_ref)
    m.bunit_data = "DN/s"
    m.bunit_err = "DN/s"
    m.photometry.pixelarea_steradians = None
    model.meta.cal_step.ramp_fit = "COMPLETE"
    model.meta.cal_step.dq_init = "COMPLETE"
    model.meta.cal_step.jump = "COMPLETE"
    model.meta.cal_step.linearity = "COMPLETE"
    model.meta.cal_step.saturation = "COMPLETE"


#: FASTAXIS, SLOWAXIS of each detector (the DMS orientation of the readout).
_AXES = {
    "NRCA1": (-1, 2), "NRCA2": (1, -2), "NRCA3": (-1, 2), "NRCA4": (1, -2),
    "NRCALONG": (-1, 2), "NRCB1": (1, -2), "NRCB2": (-1, 2), "NRCB3": (1, -2),
    "NRCB4": (-1, 2), "NRCBLONG": (1, -2), "MIRIMAGE": (1, 2), "NIS": (-2, -1),
    "GUIDER1": (-2, -1), "GUIDER2": (2, -1),
}


def _v1(spec, sa):
    """RA_V1, DEC_V1, PA_V3 of the attitude that the WCSINFO keywords describe."""
    m = _rotation(sa["v2_ref"], sa["v3_ref"], spec.roll_ref, spec.ra_ref, spec.dec_ref)
    ra1, dec1 = _lonlat(m @ _unit(0.0, 0.0))
    ra2, dec2 = _lonlat(m @ _unit(0.0, 1.0 / 3600.0))
    return float(ra1), float(dec1), float(_position_angle(ra1, dec1, ra2, dec2))


@lru_cache(maxsize=32)
def _bad_pixels(seed, detector, instrument):
    """Hot and dead pixels of a detector, fixed per (seed, detector) like a MASK reference.

    Returns ((rows, columns, DQ bits), ...) in 0-based full-frame coordinates.
    """
    bad_rng = _stable_rng(seed, "badpix", detector)
    full_shape = full_frame(instrument)
    n_full = full_shape[0] * full_shape[1]
    hot_idx = bad_rng.choice(n_full, size=n_full // 2000, replace=False)
    dead_idx = bad_rng.choice(n_full, size=n_full // 5000, replace=False)
    out = []
    for idx, bits in ((hot_idx, HOT | DO_NOT_USE), (dead_idx, DEAD | DO_NOT_USE)):
        yy, xx = np.unravel_index(idx, full_shape)
        yy.flags.writeable = xx.flags.writeable = False
        out.append((yy, xx, bits))
    return tuple(out)


def write_exposure(spec, rate_dir, refs, catalog, *, seed=0, truth_dir=None, cache=None):
    """Write the ``_rate``/``_rateints`` product of ``spec`` and its truth table.

    Parameters
    ----------
    spec : ExposureSpec
    rate_dir : path of the output directory
    refs : dict reftype -> path (distortion, filteroffset, flat, photom, area)
    catalog : the campaign truth catalog (:func:`make_truth_catalog`)
    seed : campaign seed (the noise of each exposure depends on it and the exposure name)
    truth_dir : where ``<exposure>_truth.ecsv`` goes (skipped when None)
    cache : optional dict kept across the exposures of one run, so that each reference
        file is read once (see :func:`load_references`)

    Returns
    -------
    (Path, astropy.table.Table) : the product written and the sources on it
    """
    from stdatamodels.jwst import datamodels

    sa = siaf_aperture(spec.instrument, spec.aperture)
    shape = (sa["ysize"], sa["xsize"])
    ro = _readout(spec)
    times = _times(spec, ro)
    ref = load_references(spec, refs, times["mid_mjd"], cache=cache)
    wcs = DetectorWcs(ref.distortion, ref.offset, sa["xstart"], sa["ystart"],
                      sa["v2_ref"], sa["v3_ref"], spec.ra_ref, spec.dec_ref, spec.roll_ref,
                      VA_SCALE)
    band = _band(spec)
    truth = exposure_truth(spec, wcs, catalog, shape)
    if spec.role == "background":
        # a background exposure is of an empty-ish field: keep only faint sources
        truth = truth[truth["flux"] < 2e-11]

    # sources in MJy per pixel -> DN/s via the true pixel solid angle and PHOTOM;
    # float32 throughout (the products are float32), in place where possible
    sky = SKY_MJYSR[band]
    model_rate = _render(truth, shape, wcs, band, ref.photmjsr).astype(np.float32)
    model_rate /= np.float32(ref.pixar_sr) * ref.area                   # MJy/sr
    model_rate += np.float32(sky)
    model_rate *= ref.flat * np.float32(1.0 / ref.photmjsr)              # DN/s, before the flat
    rng = _stable_rng(seed, "noise", spec.name)
    t = times["eff_int"]
    var_rn = 12.0 * ro.read_noise**2 / (ro.ngroups**3 - ro.ngroups) / times["tgroup"] ** 2
    var_rn /= ro.nframes

    nints = spec.nints if spec.is_cube else 1
    if spec.is_cube:
        # a transit of the time-series star: 1% deep across the middle integrations
        depth = np.ones(nints)
        depth[nints // 3: max(nints // 3 + 1, 2 * nints // 3)] = 0.99
        tso = truth[truth["kind"] == "tso_star"]
        tso_img = _render(tso, shape, wcs, band, ref.photmjsr) / (ref.pixar_sr * ref.area)
        tso_img = tso_img / ref.photmjsr * ref.flat
        rates = np.stack([model_rate - np.float32(1.0 - d) * tso_img for d in depth])
        rates = rates.astype(np.float32)
    else:
        rates = model_rate[None]
    np.maximum(rates, 0.0, out=rates)
    inv_gt = np.float32(1.0 / (ro.gain * t))
    electrons = rng.poisson(rates * (ro.gain * t))
    sci = rng.standard_normal(rates.shape, dtype=np.float32)
    sci *= np.float32(math.sqrt(var_rn))
    sci += electrons.astype(np.float32) * inv_gt
    del electrons
    var_p = rates * inv_gt
    del rates, model_rate

    dq = np.zeros(shape, dtype=np.uint32)
    refpix = _reference_pixel_mask(spec, sa, shape)
    dq[refpix] |= REFERENCE_PIXEL | DO_NOT_USE
    for yy, xx, bits in _bad_pixels(seed, spec.detector, spec.instrument):
        yy, xx = yy - (sa["ystart"] - 1), xx - (sa["xstart"] - 1)
        on = (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])
        dq[yy[on], xx[on]] |= np.uint32(bits)
    bad = (dq & DO_NOT_USE) > 0
    sci[:, bad] = np.nan
    var_p[:, bad] = 0.0
    var_r = np.full(sci.shape, var_rn, dtype=np.float32)
    var_r[:, bad] = 0.0
    err = np.sqrt(var_p + var_r)
    err[:, bad] = np.nan

    # no schema validation at every assignment (slow); the whole model is validated once
    # below, before it is written
    if spec.is_cube:
        model = datamodels.CubeModel(validate_on_assignment=False)
        model.data = sci
        model.err = err
        model.dq = np.broadcast_to(dq, sci.shape).copy()
        model.var_poisson = var_p
        model.var_rnoise = var_r
        model.int_times = _int_times(times, nints)
    else:
        model = datamodels.ImageModel(validate_on_assignment=False)
        model.data = sci[0]
        model.err = err[0]
        model.dq = dq
        model.var_poisson = var_p[0]
        model.var_rnoise = var_r[0]
    _set_meta(model, spec, sa, ro, times, ref.names, None)
    model.validate()
    path = atomic_save(model, Path(rate_dir) / spec.filename)
    model.close()

    # the truth table of this exposure: countrates before the flat, as the pipeline sees
    # them after flat-fielding
    truth["countrate"] = truth["flux"] / ref.photmjsr / ref.pixar_sr
    truth.meta.update({"exposure": spec.name, "photmjsr": ref.photmjsr,
                       "pixar_sr": ref.pixar_sr, "sky_mjysr": sky})
    if truth_dir is not None:
        tpath = Path(truth_dir) / f"{spec.name}_truth.ecsv"
        tmp = tpath.with_name(f".{tpath.name}.part")
        truth.write(tmp, format="ascii.ecsv", overwrite=True)
        tmp.replace(tpath)
    return path, truth


def _int_times(times, nints):
    cycle = (times["int_time"] + times["reset"]) / 86400.0
    start = times["start_mjd"] + np.arange(nints) * cycle
    end = start + times["int_time"] / 86400.0
    mid = 0.5 * (start + end)
    # barycentric correction: a fixed light-time offset plus TT-UTC, good enough here
    tdb = (69.184 + 120.0) / 86400.0
    rec = np.zeros(nints, dtype=[
        ("integration_number", "i4"), ("int_start_MJD_UTC", "f8"), ("int_mid_MJD_UTC", "f8"),
        ("int_end_MJD_UTC", "f8"), ("int_start_BJD_TDB", "f8"), ("int_mid_BJD_TDB", "f8"),
        ("int_end_BJD_TDB", "f8")])
    rec["integration_number"] = np.arange(1, nints + 1)
    rec["int_start_MJD_UTC"], rec["int_mid_MJD_UTC"], rec["int_end_MJD_UTC"] = start, mid, end
    rec["int_start_BJD_TDB"] = start + tdb
    rec["int_mid_BJD_TDB"] = mid + tdb
    rec["int_end_BJD_TDB"] = end + tdb
    return rec
