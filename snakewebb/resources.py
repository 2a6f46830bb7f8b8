"""Memory and run time one workflow job needs, from the exposure it works on.

A scheduler packs jobs by what they ask for: a SLURM node takes many subarray jobs
at once, and a full-frame resample must never die of OOM. What a job needs grows
with the pixels of its science array (full frame, subarray, cube), on top of what
every job costs whatever its size: a Python process with numpy, astropy, gwcs and
stdatamodels loaded, and, inside SLURM, the Snakemake process that runs it.

The figures are peaks measured on the demo campaign (``make demo``, then the
``max_rss`` and ``s`` columns of ``benchmarks/<rule>/*.tsv``; see
:data:`MEASURED`), with a margin. :func:`job_resources` is what the workflow's
resource functions call; it is pure and needs no Snakemake.
"""

import math
import re

from snakewebb.instruments import full_frame

__all__ = [
    "MEASURED",
    "MEMORY_MARGIN",
    "JOBSTEP_MB",
    "science_pixels",
    "job_memory_mb",
    "job_runtime_min",
    "job_resources",
]


#: Per rule: (peak RSS of a job whose science array is tiny, MB; extra RSS per
#: science pixel, bytes; wall time of a tiny job, s; extra wall time per
#: megapixel, s). From the demo campaign's benchmarks (``make demo``, 2026-12-04,
#: a 2-core machine shared by five developers: times are those of a loaded
#: machine): calibrate of a MIRI SUB256 148 MB, of a NIRCam full frame (4.2
#: Mpix) 272-305 MB; resample_exposure 148 MB and 353-373 MB.
MEASURED = {
    "subtract_background": (150.0, 32.0, 15.0, 3.0),
    "calibrate": (150.0, 38.0, 15.0, 3.0),
    "resample_exposure": (150.0, 56.0, 15.0, 6.0),
}

#: Factor on the measured peak (allocators, a larger header, a different
#: reference file).
MEMORY_MARGIN = 1.3

#: The Snakemake process that runs the job inside a SLURM allocation (the SLURM
#: job's batch step: Snakefile parsed, exposure table loaded, the group's DAG;
#: ~220 MB measured for a group of 50 tiny exposures) counts against the job's
#: memory limit too: the job's script runs beside it in the same step.
JOBSTEP_MB = 250

_SUBARRAY_SQUARE = re.compile(r"^SUB(\d+)[A-Z]*$")       # SUB64, SUB160, SUB400P, SUB64P
_SUBARRAY_STRIPE = re.compile(r"^SUBGRISM(\d+)[A-Z]*$")  # SUBGRISM64: 64 rows, full width


def science_pixels(instrument, subarray, *, is_cube=False, nints=None):
    """Pixels of an exposure's science array, from its header keywords.

    Parameters
    ----------
    instrument : str
        INSTRUME (NIRCAM, MIRI, NIRISS, FGS).
    subarray : str or None
        SUBARRAY. ``FULL`` (or absent) is the instrument's full frame
        (:func:`snakewebb.instruments.full_frame`);
        ``SUB<n>`` (``SUB64``, ``SUB160``, ``SUB400P``) an n x n subarray;
        ``SUBGRISM<n>`` n rows of full width. Any other name is counted as a full
        frame, so that a job is never planned too small.
    is_cube : bool
        A ``_rateints`` cube: the pixels of ``nints`` integrations.
    nints : int, optional
        NINTS, for cubes (1 when absent).

    Returns
    -------
    int
    """
    rows, columns = full_frame(str(instrument).upper())
    name = str(subarray or "FULL").strip().upper()
    square = _SUBARRAY_SQUARE.match(name)
    stripe = _SUBARRAY_STRIPE.match(name)
    if square and int(square.group(1)) > 0:
        side = min(int(square.group(1)), max(rows, columns))
        rows, columns = side, side
    elif stripe and int(stripe.group(1)) > 0:
        rows = min(int(stripe.group(1)), rows)
    planes = max(int(nints or 1), 1) if is_cube else 1
    return rows * columns * planes


def _figures(rule):
    try:
        return MEASURED[rule]
    except KeyError:
        raise ValueError(
            f"no measured resource figures for rule {rule!r} "
            f"(known: {', '.join(sorted(MEASURED))})"
        ) from None


def job_memory_mb(rule, pixels, *, attempt=1):
    """Memory (MB) to ask for a ``rule`` job on an exposure of ``pixels`` pixels.

    The measured peak for that size, times :data:`MEMORY_MARGIN`, plus
    :data:`JOBSTEP_MB`, rounded up to 100 MB; doubled for each retry
    (``attempt`` 2, 3, ...), so that a job killed for its memory gets more.
    """
    base_mb, bytes_per_pixel, _, _ = _figures(rule)
    peak = base_mb + bytes_per_pixel * pixels / 1e6
    first = int(math.ceil((peak * MEMORY_MARGIN + JOBSTEP_MB) / 100.0) * 100)
    return first * 2 ** (max(int(attempt), 1) - 1)


def job_runtime_min(rule, pixels):
    """Run time (whole minutes, at least 2) to ask for.

    Three times the measured wall time plus a minute for the Snakemake start-up inside
    the SLURM job (a job run under load took over a minute on this 2-core machine). A
    time limit only has to stop a job that hangs; in a group the runtimes of the jobs run
    one after the other add up, so a larger floor would ask for many hours where minutes
    are used.
    """
    _, _, base_s, per_mpix_s = _figures(rule)
    seconds = base_s + per_mpix_s * pixels / 1e6
    return max(2, int(math.ceil((3 * seconds + 60) / 60.0)))


def job_resources(rule, instrument, subarray, *, is_cube=False, nints=None):
    """``{"mem_mb": ..., "runtime": ...}`` for a ``rule`` job on one exposure."""
    pixels = science_pixels(instrument, subarray, is_cube=is_cube, nints=nints)
    return {"mem_mb": job_memory_mb(rule, pixels), "runtime": job_runtime_min(rule, pixels)}
