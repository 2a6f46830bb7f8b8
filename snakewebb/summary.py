"""The campaign at a glance, for the report.

One row per exposure (its instrument mode,
steps COMPLETE/SKIPPED, reference files and context, time and peak memory of each of its
jobs, status) as a self-contained HTML table, and a plot of time and memory per job.

Product headers are read with astropy.io.fits (primary header only); job costs come
from Snakemake's ``benchmarks/<rule>/<job>.tsv``; failures from the job logs
(:mod:`snakewebb.status`).
"""

import csv
import html
import io
import logging
import math
from pathlib import Path

from snakewebb.io import atomic_write_bytes
from snakewebb.status import log_path, log_reason, product_rule

__all__ = [
    "STEP_KEYWORDS",
    "read_benchmark",
    "product_provenance",
    "campaign_rows",
    "table_html",
    "jobs_plot",
    "write_summary",
]

log = logging.getLogger(__name__)

#: Step -> the keyword recording it COMPLETE/SKIPPED, in pipeline order.
STEP_KEYWORDS = {
    "background": "S_BKDSUB",
    "assign_wcs": "S_WCS",
    "flat_field": "S_FLAT",
    "photom": "S_PHOTOM",
    "resample": "S_RESAMP",
}
#: Reference types shown, with their keyword (those our steps use).
REF_KEYWORDS = {
    "distortion": "R_DISTOR",
    "filteroffset": "R_FILOFF",
    "flat": "R_FLAT",
    "photom": "R_PHOTOM",
    "area": "R_AREA",
}
_RULE_ORDER = ("subtract_background", "calibrate", "resample_exposure", "quicklook")


def read_benchmark(path):
    """``(seconds, peak RSS in MB)`` of a Snakemake benchmark TSV; None if unreadable.

    With ``repeat`` benchmarks, the last line counts. A value Snakemake writes as
    ``-`` (not measured) is NaN.
    """
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except OSError:
        return None
    if not rows:
        return None

    def number(key):
        try:
            return float(rows[-1].get(key))
        except (TypeError, ValueError):
            return math.nan

    return number("s"), number("max_rss")


def product_provenance(path):
    """Steps, reference files and context recorded in a product's primary header.

    Returns
    -------
    dict
        ``instrument``, ``detector``, ``filter``, ``pupil``, ``exp_type``, ``context``,
        ``steps`` ({step: COMPLETE/SKIPPED} for the steps recorded) and ``refs``
        ({reftype: file name or "N/A"} for the types recorded).
    """
    from astropy.io import fits

    header = fits.getheader(path, 0)

    def text(keyword):
        value = header.get(keyword)
        return "" if value is None else str(value).strip()

    refs = {}
    for reftype, keyword in REF_KEYWORDS.items():
        if keyword in header:
            refs[reftype] = text(keyword).removeprefix("crds://")
    return {
        "instrument": text("INSTRUME"),
        "detector": text("DETECTOR"),
        "filter": text("FILTER"),
        "pupil": text("PUPIL"),
        "exp_type": text("EXP_TYPE"),
        "context": text("CRDS_CTX"),
        "steps": {step: text(kw) for step, kw in STEP_KEYWORDS.items() if kw in header},
        "refs": refs,
    }


def campaign_rows(plan, output_dir, *, logs_dir="logs", benchmarks_dir="benchmarks"):
    """One dict per exposure of ``plan``: what the table shows.

    Parameters
    ----------
    plan : dict
        ``{exposure: {"products": [product names such as "X_cal", "X_i2d"],
        "science": its _rate}}``, the workflow's plan; an entry may also give
        ``instrument``, ``detector``, ``filter``, ``pupil``, ``exp_type``, else they are
        read from the science file's header (and then from its ``_cal``).
    output_dir, logs_dir, benchmarks_dir : str or Path
        The workflow's ``output_dir``, ``logs/`` and ``benchmarks/``.

    Returns
    -------
    list of dict
        Keys of the plan's entry, plus ``exposure``, ``steps``, ``refs``, ``context``,
        ``jobs`` ({rule: (seconds, MB)}), ``status`` ("done", "failed", "pending") and
        ``reasons`` (failures' one-line reasons).
    """
    rows = []
    for exposure, entry in plan.items():
        row = {key: entry.get(key) or "" for key in
               ("instrument", "detector", "filter", "pupil", "exp_type")}
        if not row["instrument"] and entry.get("science"):   # the mode from the _rate
            from snakewebb.quicklook import header_labels

            row.update({k: v for k, v in header_labels(str(entry["science"])).items() if v})
        row.update(exposure=exposure, steps={}, refs={}, context="", jobs={},
                   reasons=[], products=list(entry.get("products", ())))
        done, missing = [], []
        for product in row["products"]:
            path = Path(output_dir) / f"{product}.fits"
            found = product_rule(product)
            rule, stem = (found[2], found[3]) if found else ("?", product)
            if path.is_file():
                done.append(product)
                if found and found[1] in ("cal", "calints"):
                    try:
                        prov = product_provenance(path)
                    except OSError as err:
                        row["reasons"].append(f"{product}: unreadable ({err})")
                        continue
                    steps = prov.pop("steps")
                    row.update({k: v for k, v in prov.items() if v and k != "refs"})
                    row["steps"].update(steps)
                    row["refs"] = prov["refs"]
                elif found and found[1] == "i2d":
                    try:
                        steps = product_provenance(path)["steps"]
                    except OSError:
                        steps = {}
                    if "resample" in steps:
                        row["steps"]["resample"] = steps["resample"]
            else:
                missing.append(product)
                reason = log_reason(log_path(logs_dir, product))
                if reason:
                    row["reasons"].append(reason)
            cost = read_benchmark(Path(benchmarks_dir) / rule / f"{stem}.tsv")
            if cost is not None and path.is_file():
                row["jobs"][rule] = cost
        row["status"] = ("failed" if row["reasons"] else "done" if not missing else "pending")
        rows.append(row)
    return rows


_CSS = """
body { font-family: sans-serif; font-size: 13px; margin: 1em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eee; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fde8e8; }
tr.pending td { background: #fff8e1; }
.small { font-size: 11px; color: #444; }
"""


def _cost(value, fmt):
    return "" if value is None or not math.isfinite(value) else fmt.format(value)


def table_html(rows, *, title="Campaign"):
    """The rows of :func:`campaign_rows` as one self-contained HTML page (no scripts)."""
    done = sum(r["status"] == "done" for r in rows)
    failed = sum(r["status"] == "failed" for r in rows)
    pending = len(rows) - done - failed
    out = io.StringIO()
    write = out.write
    write(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
          f"</title><style>{_CSS}</style></head><body>")
    write(f"<h2>{html.escape(title)}</h2><p>{len(rows)} exposures: {done} done, "
          f"{failed} failed, {pending} pending.</p>")
    write("<table><thead><tr>")
    for head in ("exposure", "instrument", "detector", "filter/pupil", "EXP_TYPE", "steps",
                 "references", "context", "calibrate s / MB", "resample s / MB", "status"):
        write(f"<th>{html.escape(head)}</th>")
    write("</tr></thead><tbody>")
    for row in rows:
        optics = "/".join(p for p in (row["filter"], row["pupil"]) if p)
        steps = "<br>".join(f"{html.escape(s)}: {html.escape(v)}"
                            for s, v in row["steps"].items())
        refs = "<br>".join(f"{html.escape(t.upper())}: {html.escape(f)}"
                           for t, f in row["refs"].items())
        cells = [html.escape(row["exposure"]), html.escape(row["instrument"]),
                 html.escape(row["detector"]), html.escape(optics),
                 html.escape(row["exp_type"]), f"<span class='small'>{steps}</span>",
                 f"<span class='small'>{refs}</span>", html.escape(row["context"])]
        write(f"<tr class='{row['status']}'>")
        write("".join(f"<td>{c}</td>" for c in cells))
        for rule in ("calibrate", "resample_exposure"):
            seconds, mb = row["jobs"].get(rule, (None, None))
            text = f"{_cost(seconds, '{:.1f}')} / {_cost(mb, '{:.0f}')}" if seconds else ""
            write(f"<td class='num'>{text}</td>")
        status = html.escape(row["status"])
        if row["reasons"]:
            status += "<br><span class='small'>" + "<br>".join(
                html.escape(r) for r in row["reasons"]) + "</span>"
        write(f"<td>{status}</td></tr>")
    write("</tbody></table></body></html>\n")
    return out.getvalue()


def jobs_plot(rows, *, dpi=100):
    """PNG of run time and peak memory of every job, per rule, across the campaign.

    Returns
    -------
    bytes
        The PNG; a figure saying so when no job has a benchmark yet.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6), dpi=dpi)
    FigureCanvasAgg(fig)
    time_ax, mem_ax = fig.subplots(2, 1, sharex=True)
    jobs = [(rule, row["exposure"], cost) for row in rows
            for rule, cost in row["jobs"].items()]
    jobs.sort(key=lambda j: (_RULE_ORDER.index(j[0]) if j[0] in _RULE_ORDER else 99, j[1]))
    if not jobs:
        time_ax.text(0.5, 0.5, "no job benchmark yet", transform=time_ax.transAxes,
                     ha="center")
    for rule in dict.fromkeys(j[0] for j in jobs):
        index = [i for i, j in enumerate(jobs) if j[0] == rule]
        time_ax.plot(index, [jobs[i][2][0] for i in index], "o", ms=4, label=rule)
        mem_ax.plot(index, [jobs[i][2][1] for i in index], "o", ms=4, label=rule)
    time_ax.set_ylabel("wall time [s]")
    mem_ax.set_ylabel("peak RSS [MB]")
    mem_ax.set_xlabel(f"job ({len(jobs)} jobs, grouped by rule, exposures in name order)")
    time_ax.set_title("Time and memory of each job (benchmarks/<rule>/*.tsv)")
    for ax in (time_ax, mem_ax):
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    if jobs:
        time_ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def write_summary(plan, table, plot, *, output_dir, logs_dir="logs",
                  benchmarks_dir="benchmarks"):
    """Write the campaign table (HTML) at ``table`` and the jobs plot (PNG) at ``plot``.

    See :func:`campaign_rows` for ``plan`` and the directories. Returns the rows.
    """
    rows = campaign_rows(plan, output_dir, logs_dir=logs_dir, benchmarks_dir=benchmarks_dir)
    atomic_write_bytes(table, table_html(rows).encode())
    atomic_write_bytes(plot, jobs_plot(rows))
    log.info("campaign summary of %d exposures written to %s and %s", len(rows), table, plot)
    return rows
