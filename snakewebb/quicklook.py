"""Quick-look pictures of products.

One PNG per ``_i2d`` (and per ``_calints``, its first integration), scaled as
astronomers look at images.

:func:`read_quicklook` reads what a picture needs from a product with astropy.io.fits
alone (no datamodels, no gwcs: a quick-look job stays cheap); :func:`render_quicklook`
is pure (image in, PNG bytes out); :func:`write_quicklook` joins them and writes the
file atomically. matplotlib is imported only when a picture is drawn, with the Agg
canvas and without pyplot.
"""

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from snakewebb.errors import ExposureError
from snakewebb.io import atomic_write_bytes

__all__ = [
    "STRETCHES",
    "QuicklookImage",
    "optics",
    "header_labels",
    "read_quicklook",
    "block_mean",
    "north_east",
    "render_quicklook",
    "write_quicklook",
]

log = logging.getLogger(__name__)

#: How pixel values map to grey levels: IRAF's zscale limits with a linear stretch, or
#: an asinh stretch between the 0.5 and 99.5 percentiles (shows faint and bright at once).
STRETCHES = ("zscale", "asinh")

#: The largest side, in pixels, drawn: bigger images are block-averaged first.
MAX_PIXELS = 1024


@dataclass
class QuicklookImage:
    """What a quick look shows.

    Attributes
    ----------
    data : numpy.ndarray
        2D science array (the first integration of a cube).
    labels : dict
        ``exposure``, ``product`` (``i2d``/``calints``/...), ``instrument``,
        ``detector``, ``filter``, ``pupil``, ``exp_type``, ``bunit`` (missing ones "").
    wcs : astropy.wcs.WCS or None
        Celestial WCS of the SCI header (its SIP terms included), None without one.
    """

    data: np.ndarray
    labels: dict = field(default_factory=dict)
    wcs: object = None


_LABEL_KEYWORDS = {
    "instrument": "INSTRUME",
    "detector": "DETECTOR",
    "filter": "FILTER",
    "pupil": "PUPIL",
    "exp_type": "EXP_TYPE",
}


def optics(filter_name, pupil):
    """"F150W/CLEAR": the filter and pupil of an exposure, as the report groups them."""
    return "/".join(str(p) for p in (filter_name, pupil) if p)


@lru_cache(maxsize=4096)
def header_labels(path):
    """The optics keywords of a FITS file's primary header.

    ``instrument``, ``detector``, ``filter``, ``pupil``, ``exp_type`` ("" where absent
    or unreadable).
    """
    from astropy.io import fits

    try:
        primary = fits.getheader(path, 0)
    except (OSError, ValueError):
        return {key: "" for key in _LABEL_KEYWORDS}
    return {key: str(primary.get(kw, "") or "").strip() for key, kw in _LABEL_KEYWORDS.items()}


def _product_of(path):
    stem = Path(path).name
    stem = stem[: -len(".fits")] if stem.endswith(".fits") else stem
    exposure, _, product = stem.rpartition("_")
    return (exposure, product) if exposure else (stem, "")


def read_quicklook(path):
    """Read a product's first 2D science plane, its labels and celestial WCS.

    Parameters
    ----------
    path : str or Path
        An ``_i2d``, ``_cal``, ``_calints`` (or ``_rate``) FITS file.

    Returns
    -------
    QuicklookImage

    Raises
    ------
    ExposureError
        The file cannot be read or has no 2D/3D SCI array.
    """
    from astropy.io import fits

    exposure, product = _product_of(path)
    try:
        with fits.open(path, memmap=True) as hdul:
            primary = hdul[0].header
            try:
                sci = hdul["SCI"]
            except KeyError:
                raise ExposureError(exposure, f"{Path(path).name} has no SCI extension") from None
            data = sci.data
            if data is None or data.ndim not in (2, 3) or 0 in data.shape:
                shape = None if data is None else data.shape
                raise ExposureError(
                    exposure, f"{Path(path).name}: SCI is not an image or cube (shape {shape})")
            plane = np.array(data[0] if data.ndim == 3 else data, dtype=np.float32)
            header = sci.header
            labels = {key: str(primary.get(kw, "") or "").strip()
                      for key, kw in _LABEL_KEYWORDS.items()}
            labels.update(exposure=exposure, product=product,
                          bunit=str(header.get("BUNIT", "") or "").strip())
            wcs = _celestial_wcs(header)
    except OSError as err:
        raise ExposureError(exposure, f"cannot read {path}: {err}") from None
    return QuicklookImage(plane, labels, wcs)


def _celestial_wcs(header):
    """Astropy WCS of an image header (SIP included), None when it has no sky axes."""
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    if not str(header.get("CTYPE1", "")).startswith("RA"):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header, naxis=2)
        except Exception as err:  # noqa: BLE001 - a picture without arrows, not a failure
            log.warning("unusable WCS, no north/east arrows: %s", err)
            return None
    return wcs if wcs.has_celestial else None


def block_mean(data, factor):
    """Mean of ``factor`` x ``factor`` blocks, NaN/inf left out (NaN where a block has none).

    Rows and columns beyond a whole number of blocks are dropped.
    """
    if factor <= 1:
        return np.asarray(data, dtype=np.float32)
    ny, nx = (n // factor for n in data.shape)
    if ny == 0 or nx == 0:
        return np.asarray(data, dtype=np.float32)
    blocks = np.asarray(data[: ny * factor, : nx * factor], dtype=np.float64)
    blocks = blocks.reshape(ny, factor, nx, factor)
    good = np.isfinite(blocks)
    total = np.where(good, blocks, 0.0).sum(axis=(1, 3))
    count = good.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def north_east(wcs, shape, *, step_arcsec=1.0):
    """Unit vectors, in pixel (x, y), pointing north and east at the image centre.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the image.
    shape : tuple
        (ny, nx) of the image.

    Returns
    -------
    tuple of numpy.ndarray or None
        ``(north, east)``, each ``[dx, dy]`` of length 1; None when the WCS gives no
        finite answer at the centre.
    """
    ny, nx = shape
    cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    ra, dec = (float(v) for v in wcs.all_pix2world([[cx, cy]], 0)[0])
    if not (math.isfinite(ra) and math.isfinite(dec)):
        return None
    step = step_arcsec / 3600.0
    cos_dec = max(math.cos(math.radians(dec)), 1e-6)
    world = np.array([[ra, dec + step if dec + step <= 90 else dec - step],
                      [ra + step / cos_dec, dec]])
    try:
        pix = wcs.all_world2pix(world, 0, tolerance=1e-6, maxiter=50, quiet=True)
    except Exception:  # noqa: BLE001 - no inverse: no arrows
        return None
    vectors = []
    for (px, py), sign in zip(pix, (1.0 if dec + step <= 90 else -1.0, 1.0)):
        vec = sign * np.array([px - cx, py - cy])
        norm = float(np.hypot(*vec))
        if not math.isfinite(norm) or norm == 0:
            return None
        vectors.append(vec / norm)
    return tuple(vectors)


def _limits(values, stretch):
    from astropy.visualization import PercentileInterval, ZScaleInterval

    if stretch == "zscale":
        vmin, vmax = ZScaleInterval().get_limits(values)
    else:
        vmin, vmax = PercentileInterval(99.0).get_limits(values)
    if not vmax > vmin:
        vmax = vmin + 1.0
    return float(vmin), float(vmax)


def _title(labels):
    name = "_".join(p for p in (labels.get("exposure"), labels.get("product")) if p)
    mode = "  ".join(p for p in (labels.get("instrument"), labels.get("detector"),
                                 optics(labels.get("filter"), labels.get("pupil")),
                                 labels.get("exp_type")) if p)
    if labels.get("product") == "calints":
        mode += "  (integration 1)"
    return f"{name}\n{mode}"


def render_quicklook(image, *, stretch="zscale", max_pixels=MAX_PIXELS, dpi=100):
    """Draw ``image`` as a PNG: grey scale, colour bar in BUNIT, N/E arrows.

    Parameters
    ----------
    image : QuicklookImage
        From :func:`read_quicklook` (or built by hand).
    stretch : {"zscale", "asinh"}
        See :data:`STRETCHES`.
    max_pixels : int
        Images larger than this on a side are block-averaged to fit.
    dpi : int
        Resolution of the PNG (the figure is 7 x 6 inches).

    Returns
    -------
    bytes
        The PNG file's content. ``image`` is left unchanged.
    """
    if stretch not in STRETCHES:
        raise ValueError(f"stretch must be one of {', '.join(STRETCHES)}, not {stretch!r}")
    from astropy.visualization import AsinhStretch, ImageNormalize, LinearStretch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = image.data
    ny, nx = data.shape
    factor = max(1, math.ceil(max(ny, nx) / max_pixels))
    shown = block_mean(data, factor)
    finite = shown[np.isfinite(shown)]
    labels = image.labels

    fig = Figure(figsize=(7, 6), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(_title(labels), fontsize=9)
    import matplotlib

    cmap = matplotlib.colormaps["gray"].with_extremes(bad="#3b2f5c")
    if finite.size:
        vmin, vmax = _limits(finite, stretch)
        norm = ImageNormalize(vmin=vmin, vmax=vmax,
                              stretch=LinearStretch() if stretch == "zscale"
                              else AsinhStretch(0.1), clip=True)
    else:
        norm = None
        ax.text(0.5, 0.5, "no finite pixel", transform=ax.transAxes, ha="center",
                color="tab:red")
    extent = (-0.5, factor * shown.shape[1] - 0.5, -0.5, factor * shown.shape[0] - 0.5)
    shown_image = ax.imshow(shown, origin="lower", cmap=cmap, norm=norm,
                            interpolation="nearest", extent=extent)
    ax.set_xlabel("x [pixel]")
    ax.set_ylabel("y [pixel]")
    colorbar = fig.colorbar(shown_image, ax=ax, fraction=0.046, pad=0.04)
    if norm is not None:  # ticks inside the limits (the norm's own may overshoot them)
        from matplotlib.ticker import MaxNLocator

        ticks = MaxNLocator(7).tick_values(norm.vmin, norm.vmax)
        colorbar.set_ticks([t for t in ticks if norm.vmin <= t <= norm.vmax])
    colorbar.set_label(f"{labels.get('bunit') or 'value'} ({stretch})")
    if image.wcs is not None:
        arrows = north_east(image.wcs, (ny, nx))
        if arrows is not None:
            _draw_compass(ax, arrows, (ny, nx))
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _draw_compass(ax, arrows, shape):
    ny, nx = shape
    length = 0.12 * min(nx, ny)
    origin = np.array([0.80 * nx, 0.20 * ny])
    for vector, text in zip(arrows, ("N", "E")):
        tip = origin + length * vector
        ax.annotate("", xy=tuple(tip), xytext=tuple(origin),
                    arrowprops={"arrowstyle": "-|>", "color": "tab:orange", "lw": 1.5})
        label = origin + 1.3 * length * vector
        ax.text(label[0], label[1], text, color="tab:orange", ha="center", va="center",
                fontsize=10, fontweight="bold")


def write_quicklook(product, output, *, stretch="zscale"):
    """Read ``product``, draw it and write the PNG at ``output`` atomically.

    Returns
    -------
    pathlib.Path
        ``output``.
    """
    image = read_quicklook(product)
    png = render_quicklook(image, stretch=stretch)
    output = atomic_write_bytes(output, png)
    log.info("%s: quick look written to %s", image.labels.get("exposure"), output)
    return output
