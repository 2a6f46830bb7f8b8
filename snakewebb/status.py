"""Where a campaign stands.

Products done, jobs failed (with their one-line reason from the job logs), exposures
still pending.

Reads only file names, the logs the workflow's jobs write under ``logs/<rule>/`` and,
when given, the ASN files (for the exposures not started yet). Nothing is written.
"""

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PRODUCT_RULES",
    "ProductStatus",
    "CampaignStatus",
    "product_rule",
    "log_path",
    "log_reason",
    "campaign_status",
    "format_status",
]

log = logging.getLogger(__name__)

#: Product suffix -> (rule that makes it, whether its log/benchmark keeps the suffix).
PRODUCT_RULES = {
    "cal": ("calibrate", True),
    "calints": ("calibrate", True),
    "i2d": ("resample_exposure", False),
    "bsub": ("subtract_background", True),
    "bsubints": ("subtract_background", True),
}
_RULE_SUFFIXES = {
    "calibrate": ("cal", "calints"),
    "resample_exposure": ("i2d",),
    "subtract_background": ("bsub", "bsubints"),
}

# The job adapters' log format: "<date> <time> ERROR <logger>: <message>"
_ERROR = re.compile(r"^\S+ \S+ ERROR \S+: (.*)$")
_UNEXPECTED = "unexpected failure:"


def product_rule(product):
    """``(exposure, suffix, rule, job stem)`` of a product name such as ``X_cal``.

    The job stem names its log and benchmark (``X_cal``; ``X`` for an ``_i2d``).
    None for a name that is not a workflow product.
    """
    exposure, _, suffix = str(product).rpartition("_")
    if not exposure or suffix not in PRODUCT_RULES:
        return None
    rule, keeps_suffix = PRODUCT_RULES[suffix]
    return exposure, suffix, rule, (product if keeps_suffix else exposure)


def log_path(logs_dir, product):
    """The log of the job that makes ``product`` (``X_cal`` -> logs/calibrate/X_cal.log)."""
    found = product_rule(product)
    if found is None:
        return None
    return Path(logs_dir) / found[2] / f"{found[3]}.log"


def log_reason(path):
    """The one-line reason a job's log gives for its failure, None if it logs none.

    Parameters
    ----------
    path : str or Path
        A log written by the workflow's job adapters (absent or unreadable: None).

    Returns
    -------
    str or None
        The last ERROR message (``"<exposure>: <problem>"``); for an unexpected failure,
        whose traceback is in the log, ``"unexpected failure: <its last line>"``.
    """
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None
    reason = None
    for number, line in enumerate(lines):
        match = _ERROR.match(line)
        if not match:
            continue
        message = match.group(1).strip()
        if message == _UNEXPECTED:
            rest = [text.strip() for text in lines[number + 1:] if text.strip()]
            message = f"{_UNEXPECTED} {rest[-1] if rest else 'no detail'}"
        reason = " ".join(message.split())
    return reason


@dataclass
class ProductStatus:
    """One product: ``state`` is "done", "failed" or "pending"; ``reason`` for failures."""

    product: str
    exposure: str
    rule: str
    state: str
    reason: str | None = None


@dataclass
class CampaignStatus:
    """Products done and failed, exposures pending, of one output directory."""

    done: list = field(default_factory=list)       # ProductStatus
    failed: list = field(default_factory=list)     # ProductStatus
    pending: list = field(default_factory=list)    # exposure names

    def exposures(self):
        """Every exposure the status knows of."""
        return ({p.exposure for p in self.done} | {p.exposure for p in self.failed}
                | set(self.pending))


def _products_in(output_dir):
    found = {}
    for path in Path(output_dir).glob("*.fits"):
        rule = product_rule(path.name[: -len(".fits")])
        if rule is not None:
            found[path.name[: -len(".fits")]] = rule
    return found


def campaign_status(output_dir, *, logs_dir="logs", exposures=()):
    """Done / failed / pending of a campaign's output directory.

    Parameters
    ----------
    output_dir : str or Path
        Where the products are (``output_dir`` of the workflow's config).
    logs_dir : str or Path
        The workflow's ``logs/`` (in the directory Snakemake ran in).
    exposures : iterable of str
        Exposures planned (e.g. the products of the campaign's ASN files); those with
        no calibrated product and no failed job are pending. Without them, pending
        are only the exposures whose job left a log with no error (running, or killed).

    Returns
    -------
    CampaignStatus
        A job whose log has an error but whose product exists (it failed, then a later
        run made it) counts as done.
    """
    products = _products_in(output_dir)
    status = CampaignStatus()
    for product, (exposure, _, rule, _) in sorted(products.items()):
        status.done.append(ProductStatus(product, exposure, rule, "done"))
    started = set()
    for rule, suffixes in _RULE_SUFFIXES.items():
        for log_file in sorted(Path(logs_dir, rule).glob("*.log")):
            stem = log_file.name[: -len(".log")]
            product = stem if rule != "resample_exposure" else f"{stem}_i2d"
            found = product_rule(product)
            if found is None or found[1] not in suffixes or product in products:
                continue
            exposure = found[0]
            reason = log_reason(log_file)
            if reason is None:
                started.add(exposure)
            else:
                status.failed.append(ProductStatus(product, exposure, rule, "failed", reason))
    calibrated = {p.exposure for p in status.done if p.rule == "calibrate"}
    failed = {p.exposure for p in status.failed}
    # not calibrated yet, or a job of it started and not finished (running, killed)
    status.pending = sorted(((set(exposures) - calibrated) | started) - failed)
    return status


def format_status(status, *, output_dir="."):
    """Human-readable lines: a summary line, then each failure with its reason, then pending."""
    n_exposures = len(status.exposures())
    lines = [
        f"{output_dir}: {n_exposures} exposure{'s' if n_exposures != 1 else ''}; "
        f"{len(status.done)} product{'s' if len(status.done) != 1 else ''} done, "
        f"{len(status.failed)} failed, {len(status.pending)} exposure"
        f"{'s' if len(status.pending) != 1 else ''} pending"
    ]
    if status.failed:
        lines.append("failed:")
        lines += [f"  {p.product} ({p.rule}): {p.reason}" for p in status.failed]
    if status.pending:
        lines.append("pending:")
        lines += [f"  {name}" for name in status.pending]
    return lines
