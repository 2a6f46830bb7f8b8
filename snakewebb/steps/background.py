"""Background step: subtract the combined background members of an exposure."""

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from astropy.io import fits

from snakewebb import background as algorithm
from snakewebb.errors import ExposureError
from snakewebb.steps import provenance

__all__ = ["run_background"]

log = logging.getLogger(__name__)


class _Node:
    """Attribute bag standing in for the few ``meta`` fields the algorithm reads."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


class _Member:
    """SCI/ERR/DQ of an open HDU list, each read on first use."""

    def __init__(self, hdul, meta):
        self._hdul = hdul
        self.meta = meta

    @property
    def data(self):
        return _as_schema_type(self._hdul["SCI"].data, np.float32)

    @property
    def err(self):
        return _as_schema_type(self._hdul["ERR"].data, np.float32) if "ERR" in self._hdul else None

    @property
    def dq(self):
        if "DQ" in self._hdul:
            return _as_schema_type(self._hdul["DQ"].data, np.uint32)
        return np.zeros(self.data.shape, np.uint32)


def _as_schema_type(array, dtype):
    """``array`` in the type the datamodel schemas give it (float32 SCI/ERR, uint32 DQ).

    A file may store other widths (float64, int16 DQ); they are cast as the official
    models cast them (a negative integer wraps). Arrays already of that width, in
    either byte order, are returned as they are (no copy).
    """
    if array is None:
        return None
    want = np.dtype(dtype)
    if array.dtype.kind == want.kind and array.dtype.itemsize == want.itemsize:
        return array
    return np.asarray(array).astype(want)


@contextmanager
def _open_background(path, *, exposure):
    """A background member as a light read-only model.

    Only the extensions the combination reads (SCI, DQ, ERR if asked) are
    loaded, one member at a time, so a full-frame member costs little memory.
    """
    path = Path(path)
    if not path.is_file():
        raise ExposureError(exposure, f"background member {path.name} not found at {path}")
    try:
        hdul = fits.open(path, memmap=False, lazy_load_hdus=True)
    except Exception as exc:
        raise ExposureError(exposure, f"cannot read background member {path.name}: {exc}") from exc
    try:
        try:
            head = hdul[0].header
            hdul["SCI"]  # a member without SCI is refused here (KeyError)
            sub = _Node(
                xstart=head.get("SUBSTRT1"), ystart=head.get("SUBSTRT2"),
                xsize=head.get("SUBSIZE1"), ysize=head.get("SUBSIZE2"),
            )
            meta = _Node(
                filename=path.name, subarray=sub,
                instrument=_Node(name=head.get("INSTRUME")),
            )
            member = _Member(hdul, meta)
            with warnings.catch_warnings():
                # astropy only warns about a file shorter than its headers say
                warnings.filterwarnings("error", message=".*may have been truncated")
                len(hdul)  # every header: a file cut short anywhere is refused
                data = member.data  # read SCI and DQ now, so a broken file fails here
                dq = member.dq
            if data is None or data.ndim not in (2, 3):
                raise ValueError(f"SCI is {getattr(data, 'ndim', 0)}D, not an image or cube")
            if dq.shape != data.shape:
                raise ValueError(f"DQ shape {dq.shape} differs from SCI shape {data.shape}")
        except (KeyError, IndexError, OSError, ValueError, Warning) as exc:
            raise ExposureError(
                exposure, f"cannot read background member {path.name}: {exc}"
            ) from exc
        yield member
    finally:
        hdul.close()


class _Members:
    """Background members opened one at a time, each closed before the next is read."""

    def __init__(self, paths, exposure):
        self.paths = list(paths)
        self.exposure = exposure

    def __len__(self):
        return len(self.paths)

    def __iter__(self):
        for path in self.paths:
            with _open_background(path, exposure=self.exposure) as member:
                yield member


def run_background(model, background_paths, options, *, exposure, copy=True):
    """Subtract the sigma-clipped mean of ``background_paths`` from ``model``.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Science slope data; not modified when ``copy`` is True.
    background_paths : sequence of path
        Background members of the exposure's association. Empty: the step is
        recorded SKIPPED.
    options : snakewebb.steps.image2.Image2Options
        ``bkg_sigma`` and ``bkg_maxiters`` are used.
    exposure : str
        Exposure name for error messages.
    copy : bool
        False lets a caller that owns ``model`` have it changed in place.

    Returns
    -------
    model
        With ``meta.cal_step.bkg_subtract`` recorded.

    Raises
    ------
    ExposureError
        A background member missing, unreadable or impossible to place on the science footprint.
    """
    out = model.copy() if copy else model
    paths = [p for p in background_paths if p]
    if not paths:
        log.info("%s: no background members; background skipped", exposure)
        provenance.mark_step(out, "background", provenance.SKIPPED)
        return out
    for path in paths:  # all present before any work
        if not Path(path).is_file():
            raise ExposureError(exposure,
                                f"background member {Path(path).name} not found at {path}")
    members = _Members(paths, exposure)
    try:
        algorithm.subtract_background(
            out, members, options.bkg_sigma, options.bkg_maxiters, copy=False, with_err=False
        )
    except (algorithm.BackgroundShapeError, ValueError) as exc:
        raise ExposureError(exposure, f"background: {exc}") from exc
    log.info("%s: subtracted the mean of %d background exposure(s)", exposure, len(paths))
    provenance.mark_step(out, "background", provenance.COMPLETE)
    return out
