"""File helpers shared by the step layer and the workflow adapters."""

import logging
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_save", "write_pending", "commit_pending", "exposure_name"]

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
