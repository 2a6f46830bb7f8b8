# A problem found while planning (unreadable _rate, unsupported EXP_TYPE, missing ASN
# member, reference CRDS cannot give, malformed ASN file, ...) -> a job of its own that
# fails at once with the problem's one line: with --keep-going every other exposure
# runs, the exit status is non-zero and the failure is in the log and in --summary.
# Its output is never written.


rule planning_problem:
    output:
        f"{OUT}/.snakewebb/problems/{{exposure}}",
    log:
        "logs/planning_problem/{exposure}.log",
    benchmark:
        "benchmarks/planning_problem/{exposure}.tsv"
    conda:
        "../envs/snakewebb.yaml"
    threads: 1
    params:
        problem=problem_of,
    script:
        "../scripts/planning_problem.py"
