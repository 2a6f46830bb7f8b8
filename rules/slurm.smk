# SLURM (profiles/slurm, profiles/slurm-campaign): what differs in the Snakemake a
# SLURM job starts, and the one-line report of jobs SLURM killed for their memory.
import os
import time

from snakewebb import slurm as slurm_logs

# Inside a SLURM job the plugin's Snakemake (executor slurm-jobstep, --jobs 1) would
# start `srun snakemake` again for every job of the job's group: a Snakemake start,
# this file's parse and a DAG per exposure. As local rules there, it runs them itself,
# one at a time, each with its log and benchmark (docs/workflow.md, "SLURM"). Not in
# an array task: its command names the array's first job, and the jobstep picks the
# task's own job by SLURM_ARRAY_TASK_ID.
if workflow.remote_exec and "SLURM_ARRAY_TASK_ID" not in os.environ:

    localrules:
        subtract_background,
        calibrate,
        resample_exposure,
        quicklook,
        run_official_image2,
        compare_with_official,

    # and one failing exposure does not stop the rest of its group (rules/compat.smk)
    keep_going_in_job_process()


# A job step that SLURM kills for its memory takes its Snakemake process with it, and
# the executor plugin says only "SLURM-job N failed": when the run fails, name each
# such exposure in one line, from the plugin's job logs of this run.
RUN_STARTED = time.time()


onerror:
    for line in slurm_logs.memory_kill_lines(".snakemake/slurm_logs", since=RUN_STARTED):
        print(line, file=sys.stderr)
