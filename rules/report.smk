# What Snakemake's report (`snakemake --report report.html report`) shows: a quick-look
# PNG of every _i2d and of the first integration of every _calints, grouped by
# instrument and filter, and the campaign table with a plot of time and memory per job.
# Not part of `all` (quick looks would add ~8,000 jobs to a 10,000-exposure graph): the
# `report` target makes them. Exposures whose last job failed (its log says why) are
# left out of `report`, so that the report of a campaign run with --keep-going can
# still be made; `all` retries them. See docs/workflow.md, "Report".


rule quicklook:
    input:
        product=f"{OUT}/{{exposure}}_{{qlsuffix}}.fits",
    output:
        png=report(
            f"{OUT}/quicklook/{{exposure}}_{{qlsuffix}}.png",
            caption="../report/quicklook.rst",
            category=_label("instrument"),
            subcategory=quicklook_subcategory,
            labels=quicklook_labels,
        ),
    log:
        "logs/quicklook/{exposure}_{qlsuffix}.log",
    benchmark:
        "benchmarks/quicklook/{exposure}_{qlsuffix}.tsv"
    wildcard_constraints:
        qlsuffix="|".join(QUICKLOOK_SUFFIXES),
    conda:
        "../envs/snakewebb.yaml"
    threads: 1
    params:
        stretch="zscale",
    script:
        "../scripts/quicklook.py"


rule campaign_summary:
    input:
        summary_input,
    output:
        table=report(
            f"{OUT}/summary/campaign.html",
            caption="../report/campaign.rst",
            category="Campaign",
            labels={"what": "table of exposures"},
        ),
        plot=report(
            f"{OUT}/summary/jobs.png",
            caption="../report/jobs.rst",
            category="Campaign",
            labels={"what": "time and memory per job"},
        ),
    log:
        "logs/campaign_summary/campaign_summary.log",
    conda:
        "../envs/snakewebb.yaml"
    threads: 1
    params:
        plan=summary_plan,
        logs="logs",
        benchmarks="benchmarks",
    script:
        "../scripts/campaign_summary.py"
