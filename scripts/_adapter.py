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
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

try:
    import snakewebb  # noqa: F401 - installed (pip install -e .)
except ImportError:  # a conda env from envs/snakewebb.yaml: use this checkout's package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snakewebb import resume, timing  # noqa: E402
from snakewebb.errors import SnakewebbError  # noqa: E402
from snakewebb.io import Terminated, cancellable  # noqa: E402


def _reinstate_salvaged(snakemake):
    """Exit at once when this job's products, finished just before the last run was
    killed, were kept aside by the main process and are what this job would make."""
    reinstated = resume.reinstate(snakemake)
    if reinstated:
        with open(snakemake.log[0], "w") as log:
            for product in reinstated:
                print(f"{product}: reinstated as the interrupted run finished it "
                      "(same inputs, parameters and software); nothing recomputed", file=log)
        sys.exit(0)


# Before the script imports its step (the script's own imports follow this module's);
# Snakemake's preamble defines `snakemake` in the script's namespace.
if getattr(sys.modules.get("__main__"), "snakemake", None) is not None:
    _reinstate_salvaged(sys.modules["__main__"].snakemake)

# What the process spent before this module (interpreter, Snakemake's preamble) is the
# job's "start" phase; its imports end when the script calls run().
timing.start(_ENTERED)

__all__ = ["run", "paths"]


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
    # Never half-written (snakewebb.io): leftovers of a killed run of this job are
    # removed, and Ctrl-C (KeyboardInterrupt) or SIGTERM (Snakemake's and SLURM's
    # cancellation) unwind, so a pending product is deleted.
    try:
        try:  # before anything is written (snakewebb.resume)
            resume.record_job(snakemake)
        except OSError as err:  # only a kill's rerun is the cheaper for it
            log.warning("not journalled for resuming: %s", err)
        with cancellable(snakemake.output):
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
