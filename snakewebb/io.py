"""File helpers shared by the step layer and the workflow adapters."""

import logging
import os
import tempfile
import warnings
from pathlib import Path

__all__ = [
    "atomic_save", "write_pending", "commit_pending", "exposure_name", "fits_truncation",
    "refuse_truncated_fits", "atomic_write_bytes",
]

log = logging.getLogger(__name__)

_PRODUCT_SUFFIXES = (
    "_rateints", "_rate", "_bsubints", "_bsub", "_calints", "_cal", "_i2d",
)


def exposure_name(path):
    """Return the exposure ID of a product path (its name without suffix)."""
    stem = Path(str(path)).name
    for ext in (".fits", ".asdf"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    for suffix in _PRODUCT_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def fits_truncation(path):
    """Say how a FITS file is cut short, or None when its extensions fill it exactly.

    astropy opens a file cut inside the data of an extension cleanly (the
    missing bytes are noticed, if ever, when that array is read) and drops an
    extension whose header is cut short with only a warning, so a reader sees
    a valid-looking file with fewer extensions. Only the headers are read.

    Parameters
    ----------
    path : path
        An existing file.

    Returns
    -------
    str or None
        ``"truncated: <size> bytes, its extensions need <end>"`` or
        ``"truncated or corrupt: <n> bytes after its last complete extension"``,
        for the caller to put in its own message.

    Raises
    ------
    Exception
        Whatever astropy raises on a file it cannot read as FITS at all.
    """
    from astropy.io import fits

    size = Path(path).stat().st_size
    with warnings.catch_warnings():
        # the cut is reported below, not as a warning
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        warnings.filterwarnings("ignore", message=".*may have been truncated")
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            count = len(hdul)  # reads every header
            info = hdul.fileinfo(count - 1)
    end = info["datLoc"] + info["datSpan"]
    if end > size:
        return f"truncated: {size} bytes, its extensions need {end}"
    if end < size:  # what follows the last whole extension is a cut-short one
        return f"truncated or corrupt: {size - end} bytes after its last complete extension"
    return None


def refuse_truncated_fits(path, exposure, what=None):
    """Raise a one-line ExposureError for a FITS file that is cut short or unreadable.

    ``what`` names a reference ("PHOTOM reference"): its messages read ``cannot
    read <what> <file>: ...``; without it (the science file) ``<file> is truncated ...``.
    """
    from snakewebb.errors import ExposureError

    path = Path(path)
    label = f"{what} {path.name}" if what else path.name
    try:
        problem = fits_truncation(path)
    except Exception as exc:
        raise ExposureError(exposure, f"cannot read {label}: {exc}") from exc
    if problem:
        text = f"cannot read {label}: {problem}" if what else f"{label} is {problem}"
        raise ExposureError(exposure, text)


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_pending(model, path):
    """Write ``model`` now, under a hidden temporary name beside ``path``.

    The first half of :func:`atomic_save`, for a product that may only appear
    once later work has succeeded: move it into place with
    :func:`commit_pending`, or delete the returned file. ``meta.filename``
    records the final name. On failure nothing is left behind.

    Returns
    -------
    Path
        The temporary file (same directory as ``path``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.meta.filename = path.name
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); products get the usual umask-based mode.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as handle:
            model.to_fits(handle, overwrite=True)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def commit_pending(pending, path):
    """Move a file from :func:`write_pending` to its final ``path`` (atomic rename)."""
    path = Path(path)
    try:
        os.replace(pending, path)
    except BaseException:
        Path(pending).unlink(missing_ok=True)
        raise
    log.info("wrote %s", path)
    return path


def atomic_save(model, path):
    """Write ``model`` to ``path`` (FITS) so that no half-written file is ever seen.

    The model is written to a temporary file in the same directory and moved
    into place with :func:`os.replace`; ``meta.filename`` records the final
    name. On any failure the temporary file is removed and nothing appears
    at ``path``.
    """
    return commit_pending(write_pending(model, path), path)


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` under a hidden temporary name, then rename it:
    a reader never sees a half-written file (quick-look PNGs, the campaign summary)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
