"""Where a job's time goes: named phases of this process, for its log line.

A workflow job is one process whose science often takes milliseconds; most of its time
is interpreter start, imports, the first file open and writing. The step layer marks
the end of each phase (:func:`mark`); the job adapter writes :func:`summary` to the
job's log as ``timing: start=0.12 imports=0.85 open=0.40 science=0.10 write=0.20
total=1.67`` (seconds), which ``benchmarks/bench_campaign.py`` reads.
"""

import os
import time

__all__ = ["process_age", "start", "mark", "phases", "summary"]

_marks = []  # [(phase, perf_counter at its end)]
_origin = None  # (perf_counter, seconds the process had lived by then)


def process_age():
    """Seconds since this process was created (interpreter start included), or None.

    From ``/proc/self/stat`` (start time in clock ticks since boot) and the boot-time
    clock: Linux only, 10 ms resolution.
    """
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of proc(5)
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def start(at=None):
    """Begin timing at ``at`` (a ``time.perf_counter()`` value; default now).

    What the process spent before that is its ``start`` phase.
    """
    global _origin
    _marks.clear()
    now = time.perf_counter()
    at = now if at is None else at
    age = process_age()
    _origin = (at, None if age is None else max(0.0, age - (now - at)))


def mark(phase):
    """Record that ``phase`` ends now (a phase marked twice adds up)."""
    _marks.append((phase, time.perf_counter()))


def phases():
    """``{phase: seconds}`` in order, with ``start`` first and ``total`` last.

    Empty when :func:`start` was not called (a library call outside a job).
    """
    if _origin is None:
        return {}
    began, age = _origin
    result = {"start": age} if age is not None else {}
    previous = began
    for phase, at in _marks:
        result[phase] = result.get(phase, 0.0) + (at - previous)
        previous = at
    result["total"] = (age or 0.0) + (time.perf_counter() - began)
    return result


def summary():
    """The log line's text: ``start=0.12 imports=0.85 ... total=1.67``."""
    return " ".join(f"{phase}={seconds:.3f}" for phase, seconds in phases().items())
