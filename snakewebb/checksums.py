"""Reference files whose content does not match the checksums they carry.

CRDS's mappings do not hold the checksums of reference files (an rmap's ``sha1sum``
is the rmap's own; the catalogue of reference sha1sums is on the CRDS server, which
the workflow never asks). What a reference carries itself is the FITS ``CHECKSUM`` /
``DATASUM`` keywords that CRDS requires of every delivered FITS reference and that
``crds certify`` verifies: a file damaged in the cache (a partial copy, a bad disk)
fails them. Verifying means reading the whole file, so each file is verified once
and the verdict kept by (path, size, mtime): a campaign pays for a reference only
when it is new or has changed. A file without the keywords is not verified.
"""

import logging
import os
import pickle
import warnings
from pathlib import Path

__all__ = ["checksum_problem", "reference_checksum_problems"]

log = logging.getLogger(__name__)

_CACHE_VERSION = 1


def checksum_problem(path):
    """Why the FITS file at ``path`` fails its CHECKSUM/DATASUM, or None.

    None as well for a file that carries no checksum keyword, or that is not FITS.
    """
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    if not str(path).endswith(".fits"):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                hdul.readall()
                carries = any("CHECKSUM" in h.header or "DATASUM" in h.header for h in hdul)
        if not carries:
            return None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AstropyUserWarning)
            with fits.open(path, memmap=False, checksum=True) as hdul:
                for hdu in hdul:
                    if hdu.data is not None:
                        _ = hdu.data  # DATASUM is verified as the data is read
    except Exception as err:  # noqa: BLE001 - unreadable: the step reading it says how
        log.debug("cannot verify %s: %s", path, err)
        return None
    failed = [" ".join(str(w.message).split()).rstrip(".") for w in caught
              if "verification failed" in str(w.message).lower()]
    if not failed:
        return None
    return "content does not match its checksums (" + "; ".join(dict.fromkeys(failed)) + ")"


def reference_checksum_problems(paths, cache_dir=None):
    """{path: problem} for the reference files among ``paths`` that fail their checksums.

    Verdicts are cached in ``cache_dir`` by (path, size, mtime_ns).
    """
    cache_file = Path(cache_dir) / "reference_checksums.pkl" if cache_dir else None
    known = {}
    if cache_file is not None:
        try:
            stored = pickle.loads(cache_file.read_bytes())
            if stored.get("version") == _CACHE_VERSION:
                known = stored["verdicts"]
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError):
            known = {}
    problems, changed = {}, False
    for path in sorted(set(paths)):
        try:
            st = os.stat(path)
        except OSError:
            continue  # the lookup reports a missing file
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in known:
            known[key] = checksum_problem(path)
            changed = True
        if known[key]:
            problems[path] = known[key]
    if cache_file is not None and changed:
        from snakewebb.exposures import _save_pickle

        _save_pickle(cache_file, {"version": _CACHE_VERSION, "verdicts": known})
    return problems
