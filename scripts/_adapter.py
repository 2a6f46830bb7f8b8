"""Shared by the `script:` adapters: logging to the job's log file, one-line errors.

Snakemake puts this directory on ``sys.path`` before running a script.
"""

import gc
import time

_ENTERED = time.perf_counter()  # before any import of the job's own
# Importing astropy, gwcs and stdatamodels creates objects by the hundred thousand and
# the cyclic collector would walk them again and again (~15% of the imports' time); it
# stays off until run() freezes what the imports made and turns it back on.
gc.disable()

import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

try:
    import snakewebb  # noqa: F401 - installed (pip install -e .)
except ImportError:  # a conda env from envs/snakewebb.yaml: use this checkout's package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snakewebb import timing  # noqa: E402
from snakewebb.errors import SnakewebbError  # noqa: E402

# What the process spent before this module (interpreter, Snakemake's preamble) is the
# job's "start" phase; its imports end when the script calls run().
timing.start(_ENTERED)

__all__ = ["run", "paths", "remove_stale_parts"]


class Terminated(BaseException):
    """SIGTERM turned into an exception, so that half-written files are removed."""


def _raise_terminated(signum, frame):
    raise Terminated(f"terminated by signal {signum}")


def remove_stale_parts(outputs):
    """Delete what an earlier, killed run of this job left half-written beside ``outputs``.

    :func:`snakewebb.io.write_pending` writes ``.<name>.<random>.part`` next to the
    product and removes it on failure, but a job killed outright (SIGKILL, a node
    lost, out of memory) cannot: the next run of the same job clears them. Snakemake
    runs one job per output at a time, so no live writer is touched.
    """
    for output in outputs:
        output = Path(output)
        for stale in output.parent.glob(f".{output.name}.*.part"):
            stale.unlink(missing_ok=True)


def paths(value):
    """A named input that may be one path or a list of them, as a list of str."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def run(snakemake, job):
    """Run ``job()`` with logging sent to ``snakemake.log[0]``.

    A :class:`SnakewebbError` (bad input, unresolvable reference) is written as its
    one line to the log and to stderr, and the process exits 1. Anything else is
    logged with its traceback to the log file and summarised in one line on stderr.
    """
    handler = logging.FileHandler(snakemake.log[0], mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    log = logging.getLogger("snakewebb.workflow")
    timing.mark("imports")
    gc.freeze()  # modules and their objects live until exit: never scan them again
    gc.enable()
    # Ctrl-C reaches the job as SIGINT (KeyboardInterrupt), Snakemake's and SLURM's
    # cancellation as SIGTERM: both unwind, so a pending product is deleted.
    signal.signal(signal.SIGTERM, _raise_terminated)
    remove_stale_parts(snakemake.output)
    try:
        job()
        log.info("timing: %s", timing.summary())
    except SnakewebbError as err:
        log.error("%s", err)
        print(f"ERROR {err}", file=sys.stderr)
        sys.exit(1)
    except (Terminated, KeyboardInterrupt) as err:
        reason = str(err) or "interrupted"
        log.error("%s: %s; no product written", snakemake.wildcards.exposure, reason)
        print(f"ERROR {snakemake.wildcards.exposure}: {reason}; no product written",
              file=sys.stderr)
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - the adapter is the last stop
        log.error("unexpected failure:\n%s", traceback.format_exc())
        print(f"ERROR {snakemake.rule} {snakemake.wildcards.exposure}: "
              f"{type(err).__name__}: {' '.join(str(err).split())} "
              f"(traceback in {snakemake.log[0]})", file=sys.stderr)
        sys.exit(1)
