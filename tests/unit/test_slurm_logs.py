"""Reading SLURM's memory kills from the executor plugin's job logs (snakewebb.slurm)."""

import os

from snakewebb.slurm import memory_kill_lines, memory_kills

#: The shape of a plugin log of a group job: the jobstep's Snakemake prints each job's
#: block, the job's own Snakemake prints it again, then slurmstepd's lines.
GROUP_LOG = """\
rule calibrate:
    output: results/tiny000_calints.fits
    wildcards: exposure=tiny000, calsuffix=calints
Finished jobid: 1 (Rule: calibrate)
rule calibrate:
    output: results/tiny001_calints.fits
    wildcards: exposure=tiny001, calsuffix=calints
    resources: tmpdir=/tmp, mem_mb=200
rule calibrate:
    wildcards: exposure=tiny001, calsuffix=calints
slurmstepd-vm: error: StepId=12.1 exceeded memory limit (218894336 > 209715200), being killed
slurmstepd-vm: error: Exceeded job memory limit
slurmstepd-vm: error: StepId=12.1 exceeded memory limit (218894336 > 209715200), being killed
srun: error: vm: task 0: Killed
localrule resample_exposure:
    wildcards: exposure=tiny002
slurmstepd-vm: error: StepId=12.2 exceeded memory limit (419430400 > 314572800), being killed
"""


def test_each_killed_step_once_with_the_job_that_was_running():
    kills = memory_kills(GROUP_LOG)
    assert [(k.rule, k.exposure, k.step) for k in kills] == [
        ("calibrate", "tiny001", "12.1"), ("resample_exposure", "tiny002", "12.2")]
    assert kills[0].used == 218894336 and kills[0].limit == 209715200


def test_message_is_one_line_naming_exposure_rule_and_memory():
    message = memory_kills(GROUP_LOG)[0].message()
    assert "\n" not in message
    assert message.startswith("ERROR tiny001: calibrate killed by SLURM (step 12.1)")
    assert "209 MB, more than the 200 MB it asked for" in message
    assert "--set-resources calibrate:mem_mb=N" in message


def test_no_kill_no_line_and_a_kill_without_wildcards_says_so():
    assert memory_kills("rule calibrate:\n    wildcards: exposure=a\nFinished\n") == []
    (kill,) = memory_kills("StepId=3.batch exceeded memory limit (2 > 1), being killed\n")
    assert (kill.rule, kill.exposure) == ("?", "?")


def test_only_logs_of_this_run_are_read(tmp_path):
    logs = tmp_path / ".snakemake" / "slurm_logs" / "group_exposure_calibrate"
    logs.mkdir(parents=True)
    (logs / "12.log").write_text(GROUP_LOG)
    old = logs / "7.log"
    old.write_text(GROUP_LOG.replace("tiny", "old"))
    os.utime(old, (1_000_000, 1_000_000))
    lines = memory_kill_lines(tmp_path / ".snakemake" / "slurm_logs", since=2_000_000)
    assert [line.split(":")[0] for line in lines] == ["ERROR tiny001", "ERROR tiny002"]
    assert memory_kill_lines(tmp_path / "absent") == []


def test_a_batch_step_killed_before_its_rule_block_is_named_from_the_log_path(tmp_path):
    """The SLURM job's own Snakemake (its batch step) can exceed the request before it
    prints the job's rule: the exposure comes from the plugin's log directory."""
    from snakewebb.slurm import memory_kill_lines

    log = (tmp_path / "rule_calibrate" / "jw01234001001_02101_00001_nrca1_cal" / "71.log")
    log.parent.mkdir(parents=True)
    log.write_text("Building DAG of jobs...\nslurmstepd: error: StepId=71.batch exceeded "
                   "memory limit (220200960 > 209715200), being killed\n")
    (line,) = memory_kill_lines(tmp_path)
    assert line.startswith("ERROR jw01234001001_02101_00001_nrca1: calibrate killed by SLURM "
                           "(step 71.batch) for using 210 MB, more than the 200 MB")
    cube = tmp_path / "rule_calibrate" / "jw01234006001_02101_00001_nrca3_calints" / "72.log"
    cube.parent.mkdir(parents=True)
    cube.write_text("slurmstepd: error: StepId=72.0 exceeded memory limit (3 > 2), being killed\n")
    assert any(x.startswith("ERROR jw01234006001_02101_00001_nrca3: calibrate")
               for x in memory_kill_lines(tmp_path))


def test_batch_and_job_step_both_killed_for_one_job_give_one_line(tmp_path):
    """slurmd's memory poll may kill the job's Snakemake (batch step) and the step
    running the science in the same round: one job, one line."""
    log = (tmp_path / "rule_calibrate" / "jw01234001001_02101_00001_nrca1_cal" / "73.log")
    log.parent.mkdir(parents=True)
    log.write_text(
        "rule calibrate:\n    wildcards: exposure=jw01234001001_02101_00001_nrca1, "
        "calsuffix=cal\nslurmstepd: error: StepId=73.0 exceeded memory limit "
        "(230686720 > 209715200), being killed\nslurmstepd: error: StepId=73.batch "
        "exceeded memory limit (220200960 > 209715200), being killed\n")
    (line,) = memory_kill_lines(tmp_path)
    assert line.startswith("ERROR jw01234001001_02101_00001_nrca1: calibrate killed by SLURM "
                           "(step 73.0) for using 220 MB")
