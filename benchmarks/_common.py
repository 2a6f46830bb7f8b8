"""What the benchmarks and the tests both use, in one copy.

The tests import it (with ``benchmarks/`` on ``sys.path``: ``tests/helpers/__init__.py``);
it imports no test code.
"""

import os
from pathlib import Path

__all__ = ["rewrite_product", "end_leftovers"]


def rewrite_product(src, dst, *, primary=None, sci_delete=(), keep_asdf=True, arrays=None):
    """Copy a product to ``dst`` (returned) with primary keywords changed (None deletes),
    SCI keywords deleted, or arrays replaced (``{"SCI": fn(array) -> array}``).

    ``keep_asdf=False`` leaves the ASDF tree out, which would otherwise restore the
    keywords when the copy is opened as a datamodel.
    """
    from astropy.io import fits  # here: bench_slurm.py, which imports this too, needs none

    with fits.open(src) as hdul:
        kept = fits.HDUList([hdu.copy() for hdu in hdul if keep_asdf or hdu.name != "ASDF"])
    for key, value in (primary or {}).items():
        if value is None:
            del kept[0].header[key]
        else:
            kept[0].header[key] = value
    for key in sci_delete:
        del kept["SCI"].header[key]
    for name, change in (arrays or {}).items():
        kept[name].data = change(kept[name].data)
    kept.writeto(dst)
    return dst


def end_leftovers(marker):
    """End the processes whose command line names ``marker`` (the caller's directory).

    Without cgroups (proctrack/linuxproc), a SLURM job that is cancelled or killed for
    its memory can leave its batch step's Snakemake processes running, orphaned; the
    caller started them.
    """
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
