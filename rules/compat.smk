# Snakemake internals the workflow relies on, in one place, behind a version guard.
#
# input_function(): for every job Snakemake inspects an input function's parameters
# twice (inspect.signature, to know whether it wants `input`, `groupid`, ...): ~0.5 s
# of a 10,000-exposure dry run (benchmarks/bench_campaign_10k.py). Snakemake's own
# wrappers (subpath(), ...) record the parameters once on the function with
# snakemake.common.overwrite_function_params; so do we. The function and what it is
# called with are unchanged. Outside the tested releases (9.x), or when the helper is
# gone, the decorator does nothing and planning costs a little more.
import snakemake as _snakemake

_SNAKEMAKE_MAJOR = int(_snakemake.__version__.split(".")[0])
get_function_params = overwrite_function_params = None
if _SNAKEMAKE_MAJOR == 9:
    try:
        from snakemake.common import get_function_params, overwrite_function_params
    except ImportError:
        pass


def input_function(func):
    """Mark ``func`` as an input function whose parameters Snakemake need not inspect."""
    if overwrite_function_params is not None:
        overwrite_function_params(func, get_function_params(func))
    return func


# clear_stale_locks(): Snakemake locks its working directory (.snakemake/locks) and a
# SIGKILLed Snakemake (or a lost machine) leaves the lock behind: the same command then
# refuses until `--unlock`. The lock files do not say who holds them, so each main
# Snakemake process of this workflow records itself in .snakemake/snakewebb_runs
# (host, pid, process start time); when every process recorded on this host is gone
# and none on another host is recorded, the locks left are stale and removed, as
# `--unlock` would. A live run (here or, to be safe, any run recorded by another
# host) keeps its locks, and Snakemake refuses a second run as usual.
import os as _os
import socket as _socket
from pathlib import Path as _Path

_RUNS = _Path(".snakemake", "snakewebb_runs")
_LOCKS = _Path(".snakemake", "locks")


def _started(pid):
    """Start time of process ``pid`` (clock ticks since boot), None if it is gone."""
    try:
        return _Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        try:
            _os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"


def clear_stale_locks():
    """Remove Snakemake's locks when the processes that could hold them are all gone;
    record this process. Returns the number of lock files removed, or None when another
    run may be live (its locks kept)."""
    if _SNAKEMAKE_MAJOR != 9:
        return None
    host, live = _socket.gethostname(), False
    _RUNS.mkdir(parents=True, exist_ok=True)
    for record in _RUNS.iterdir():
        try:
            rec_host, pid, started = record.read_text().split()
        except (OSError, ValueError):
            continue
        if rec_host != host:
            live = True
        elif int(pid) != _os.getpid() and _started(int(pid)) in (started, "?"):
            live = True
        else:
            record.unlink(missing_ok=True)
    removed = 0
    if not live and _LOCKS.is_dir():
        for lock in _LOCKS.iterdir():
            lock.unlink(missing_ok=True)
            removed += 1
    (_RUNS / f"{host}.{_os.getpid()}").write_text(
        f"{host} {_os.getpid()} {_started(_os.getpid())}\n"
    )
    return None if live else removed


# incomplete_outputs(): the paths Snakemake marks incomplete, read from its marks
# (.snakemake/incomplete/<urlsafe base64 of the path>, split into '@'-prefixed
# directories when longer than a file name may be; snakemake.persistence). Used by
# snakewebb.resume to keep aside the products a job finished just before Snakemake
# was killed. Outside the tested releases it returns nothing, and such an exposure is
# processed again, as Snakemake would.
from base64 import urlsafe_b64decode as _b64decode

_INCOMPLETE = _Path(".snakemake", "incomplete")


def incomplete_outputs():
    """Paths of the outputs Snakemake marks incomplete in this working directory."""
    if _SNAKEMAKE_MAJOR != 9 or not _INCOMPLETE.is_dir():
        return []
    paths = []
    for root, _, names in _os.walk(_INCOMPLETE):
        parts = [p[1:] for p in _Path(root).relative_to(_INCOMPLETE).parts]
        for name in names:
            if name == "migration_underway":
                continue
            try:
                paths.append(_b64decode("".join(parts) + name).decode())
            except ValueError:
                continue
    return paths


# keep_going_in_job_process(): a SLURM job of the campaign profile runs a group of up to
# 50 exposures in one Snakemake process (its batch step; rules/slurm.smk makes the
# rules local there). Snakemake starts that process without --keep-going
# (snakemake.spawn_jobs) and reads no profile in it, so the first failing exposure
# would stop the rest of its group. The scheduler copies the setting when it is made,
# after this file is parsed, so its constructor is wrapped to keep going. The SLURM job
# still ends FAILED when any of its exposures failed. Outside the tested releases,
# nothing changes (the group stops at its first failure, the rerun does the rest).
def keep_going_in_job_process():
    """Make this (job) process's Snakemake run every job it can; False if it cannot."""
    if _SNAKEMAKE_MAJOR != 9:
        return False
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    original = JobScheduler.__init__
    if getattr(original, "_snakewebb_keep_going", False):
        return True

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.keepgoing = True

    __init__._snakewebb_keep_going = True
    JobScheduler.__init__ = __init__
    return True


# clean_up_after_kill(): the main process of a run, before it plans, clears what a
# killed run left: its stale locks (clear_stale_locks) and, when no other run is live,
# keeps aside the products its jobs finished just before the kill (incomplete_outputs,
# snakewebb.resume), which their jobs reinstate instead of processing them again.
import sys as _sys

from snakewebb.resume import salvage as _salvage


def clean_up_after_kill():
    """Remove a killed run's stale locks and keep aside what its jobs had finished."""
    removed = clear_stale_locks()
    if removed:
        print("removed the locks a killed Snakemake left in .snakemake/locks", file=_sys.stderr)
    if removed is not None:  # no other run live: keep aside what a kill left
        kept = _salvage(incomplete_outputs())
        if kept:
            print(
                f"{len(kept)} product(s) finished just before the last run was killed "
                "are kept aside and reinstated by their jobs (snakewebb.resume)",
                file=_sys.stderr,
            )
