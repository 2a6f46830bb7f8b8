"""What SLURM did to the workflow's jobs, read from the executor plugin's job logs.

When slurmd kills a job step for using more memory than the job asked for
(``JobAcctGatherParams=OverMemoryKill``, or a cgroup limit), the Snakemake process
that ran it is killed with it: nothing of the job writes a message, and the
executor plugin reports only ``SLURM-job 'N' failed``. The plugin's log of that
SLURM job (``.snakemake/slurm_logs/<rule or group>/.../<jobid>.log``) holds the
slurmstepd line and, above it, the ``rule``/``wildcards`` of the job that was
running. :func:`memory_kills` reads them; :func:`memory_kill_lines` makes the
one-line messages the workflow prints when it fails (``onerror`` in
rules/slurm.smk).
"""

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemoryKill", "memory_kills", "memory_kill_lines"]

_RULE = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
_EXPOSURE = re.compile(r"^\s*wildcards:.*?\bexposure=([^,\s]+)")
_KILLED = re.compile(r"StepId=(\S+) exceeded memory limit \((\d+) > (\d+)\)")


@dataclass(frozen=True)
class MemoryKill:
    """One job step killed for its memory: rule, exposure, SLURM step, bytes."""

    rule: str
    exposure: str
    step: str
    used: int
    limit: int

    def message(self):
        """``ERROR <exposure>: ...``, one line."""
        used_mb, limit_mb = self.used / 2**20, self.limit / 2**20
        return (f"ERROR {self.exposure}: {self.rule} killed by SLURM (step {self.step}) for "
                f"using {used_mb:.0f} MB, more than the {limit_mb:.0f} MB it asked for; "
                f"no product written (more: --set-resources {self.rule}:mem_mb=N)")


#: A JWST exposure ID inside the plugin's log directory name (the job's wildcards
#: joined by "_"), for a kill that came before the job printed its rule block.
_EXPOSURE_ID = re.compile(r"jw\d{11}_\d{5}_\d{5}_[a-z0-9]+?(?=_(?:cal|calints|bsub|bsubints)$|$)")


def _from_log_path(log):
    """``(rule, exposure)`` from ``.../rule_<rule>/<wildcards>/<jobid>.log``, "?" if not."""
    log = Path(log)
    rule = log.parent.parent.name
    rule = rule[len("rule_"):] if rule.startswith("rule_") else "?"
    match = _EXPOSURE_ID.search(log.parent.name)
    return rule, match.group(0) if match else "?"


def memory_kills(log_text, *, default=("?", "?")):
    """Jobs killed for their memory in one SLURM job log, in order, each once.

    A job whose batch step and job step were both killed is reported once, with the
    first killed step.

    Parameters
    ----------
    log_text : str
        A SLURM job's log as the executor plugin writes it (the job's Snakemake
        output with slurmstepd's messages).

    Returns
    -------
    list of MemoryKill
        The job running when each kill happened is the last ``rule``/``wildcards``
        block above it; without one (the SLURM job's batch step was killed before its
        Snakemake printed it), ``default``: ``(rule, exposure)`` from the log's path.
    """
    kills, seen = [], set()
    rule, exposure = default
    for line in log_text.splitlines():
        match = _RULE.match(line)
        if match:
            rule, exposure = match.group(1), "?"
            continue
        match = _EXPOSURE.match(line)
        if match:
            exposure = match.group(1)
            continue
        match = _KILLED.search(line)
        # one kill per job: the batch step (the job's Snakemake) and the job step
        # running the science may both be killed for the same job
        key = (rule, exposure) if exposure != "?" else match and match.group(1)
        if match and match.group(1) not in seen and key not in seen:
            seen.update((match.group(1), key))
            kills.append(MemoryKill(rule, exposure, match.group(1),
                                    int(match.group(2)), int(match.group(3))))
    return kills


def memory_kill_lines(slurm_log_dir, *, since=0.0):
    """One message per memory kill in the plugin's logs written at or after ``since``.

    Parameters
    ----------
    slurm_log_dir : str or Path
        ``.snakemake/slurm_logs`` of the workflow's working directory.
    since : float
        A time stamp (seconds since the epoch): older logs are from earlier runs.
    """
    lines = []
    root = Path(slurm_log_dir)
    if not root.is_dir():
        return lines
    for log in sorted(root.rglob("*.log")):
        try:
            if log.stat().st_mtime < since:
                continue
            text = log.read_text(errors="replace")
        except OSError:
            continue
        lines.extend(kill.message()
                     for kill in memory_kills(text, default=_from_log_path(log)))
    return lines
