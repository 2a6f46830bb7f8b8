"""File helpers shared by the step layer and the workflow adapters.

Never half-written
------------------
Every product is written under a hidden ``.<product>.<random>.part`` name beside
its final path and renamed into place when complete (:func:`write_pending`,
:func:`commit_pending`, :func:`atomic_save`). This module holds the whole of that
guarantee: the naming, the rename, the removal of the pending file when the writer
fails or is cancelled (:func:`cancellable`: SIGTERM becomes an exception, so the
cleanup runs), and the sweep of what a writer killed outright left behind
(:func:`remove_stale_pending`, run before a job writes again).

Why Snakemake's own handling is not enough: Snakemake deletes the outputs of a job
that fails, and marks those of jobs running when it is itself killed as incomplete
(in ``.snakemake/incomplete``, rerun with ``rerun-incomplete``, set in
``profiles/default``). Until that rerun, a half-written product would sit at its
final name, where users, other tools and other workflows read it; the marker lives
only in that working directory's metadata (another ``--directory``, a deleted
``.snakemake`` or ``--keep-incomplete`` and the file is trusted); and a job killed on
a SLURM node (time limit, lost node) writes to a shared file system the main
process only learns about later. With the rename, a product is whole or absent
whatever was killed, with no metadata involved; the pending files are hidden and
cleared by the job's next run.
"""

import errno
import logging
import os
import signal
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "atomic_save", "write_pending", "commit_pending", "exposure_name", "fits_truncation",
    "refuse_truncated_fits", "remove_stale_pending", "cancellable", "Terminated",
    "atomic_write_bytes",
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


def _pending_prefix(path):
    return f".{Path(path).name}."


_PENDING_SUFFIX = ".part"


def remove_stale_pending(outputs):
    """Delete what an earlier, killed writer of ``outputs`` left half-written beside them.

    :func:`write_pending` removes its pending file on failure and on SIGTERM (see
    :func:`cancellable`), but a process killed outright (SIGKILL, a lost node, out
    of memory) cannot: the next job writing the same product clears it. Snakemake
    runs one job per output at a time, so no live writer is touched.
    """
    for output in outputs:
        output = Path(output)
        for stale in output.parent.glob(f"{_pending_prefix(output)}*{_PENDING_SUFFIX}"):
            stale.unlink(missing_ok=True)


class Terminated(BaseException):
    """SIGTERM turned into an exception, so that pending files are removed."""


def _raise_terminated(signum, frame):
    raise Terminated(f"terminated by signal {signum}")


@contextmanager
def cancellable(outputs):
    """Run the body as a job writing ``outputs``.

    Stale pending files of an earlier, killed run are removed first, and SIGTERM
    (Snakemake cancelling, SLURM's ``scancel`` or time limit) raises :class:`Terminated`
    so that a pending file is deleted as the exception unwinds (Ctrl-C already raises
    KeyboardInterrupt).
    """
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        remove_stale_pending(outputs)
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_pending(model, path):
    """Write ``model`` now, under a hidden temporary name beside ``path``.

    The first half of :func:`atomic_save`, for a product that may only appear
    once later work has succeeded: move it into place with
    :func:`commit_pending`, or delete the returned file. ``meta.filename``
    records the final name. On failure nothing is left behind; a file-system
    error (disk full, read-only or unwritable directory) is an ExposureError
    naming the exposure, the file and the cause.

    Returns
    -------
    Path
        The temporary file (same directory as ``path``).
    """
    from snakewebb.errors import ProductWriteError

    path = Path(path)
    model.meta.filename = path.name
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_pending_prefix(path), suffix=_PENDING_SUFFIX,
                                   dir=path.parent)
        # mkstemp makes the file private (0600); products get the usual umask-based mode.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as handle:
            model.to_fits(handle, overwrite=True)
    except BaseException as err:
        cause = _file_system_cause(err, path.parent)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if cause is None:
            raise
        # full disk, read-only or unwritable directory: one line
        raise ProductWriteError(exposure_name(path), f"cannot write {path}: {cause}") from err
    return Path(tmp)


def _file_system_cause(err, directory):
    """The file-system failure behind ``err``, as text; None when there is none.

    ``err`` is an OSError, or what a library raised while handling one: astropy's writer
    can turn a full disk into an AttributeError.
    """
    seen = err
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__context__
    if seen is None:
        return None
    if seen.strerror:
        return seen.strerror
    try:  # numpy's tofile reports a short write without errno: is the disk full?
        stat = os.statvfs(directory)
        if stat.f_bavail * stat.f_frsize < 2880:
            return os.strerror(errno.ENOSPC)
    except OSError:
        pass
    return str(seen)


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
    """Write ``data`` (bytes) to ``path`` under a hidden temporary name, then rename it.

    A reader never sees a half-written file (quick-look PNGs, the campaign summary).
    """
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
