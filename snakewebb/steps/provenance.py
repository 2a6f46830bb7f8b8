"""Provenance in every product: which steps ran, with which references, under which context.

Follows what the official products carry: ``meta.cal_step.<step>`` (S_* keywords)
set to COMPLETE or SKIPPED, ``meta.ref_file.<reftype>.name`` (R_* keywords) as
``crds://<file>`` or ``N/A``, ``meta.ref_file.crds.context_used`` (CRDS_CTX),
``meta.ref_file.crds.sw_version`` (CRDS_VER), and the calibration software
version in ``meta.calibration_software_version`` (CAL_VER, ``snakewebb <version>``)
and its revision in ``meta.calibration_software_revision`` (CAL_VCS): the git commit of
the checkout the package was imported from, or ``RELEASE`` for an installed release, as
the official products write.
"""

import logging
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version
from pathlib import Path

from snakewebb import __version__, registry
from snakewebb.revision import source_revision

__all__ = [
    "COMPLETE",
    "SKIPPED",
    "CAL_STEP_NAMES",
    "mark_step",
    "record_association",
    "record_reference",
    "record_software",
    "source_revision",
]

log = logging.getLogger(__name__)

COMPLETE = "COMPLETE"
SKIPPED = "SKIPPED"

#: Our step names -> the ``meta.cal_step`` attribute the official products use
#: (declared in :mod:`snakewebb.registry`).
CAL_STEP_NAMES = registry.CAL_STEP_NAMES


def mark_step(model, step, status):
    """Record ``status`` (COMPLETE/SKIPPED) for ``step`` in ``model.meta.cal_step``."""
    if status not in (COMPLETE, SKIPPED):
        raise ValueError(f"unknown step status {status!r}")
    setattr(model.meta.cal_step, CAL_STEP_NAMES[step], status)


def record_association(model, asn):
    """Record the association the exposure came from (``ASNTABLE``, ``ASNPOOL``).

    ``asn`` is ``{"table": ASN file name, "pool": its asn_pool or None}``, or None
    (run without an ASN: nothing recorded).
    """
    if not asn:
        return
    if asn.get("table"):
        model.meta.asn.table_name = Path(str(asn["table"])).name
    if asn.get("pool"):
        model.meta.asn.pool_name = str(asn["pool"])


def record_reference(model, reftype, path):
    """Record the reference file of ``reftype`` used (``None`` means N/A)."""
    name = "N/A" if path is None else "crds://" + Path(path).name
    getattr(model.meta.ref_file, reftype).name = name


def record_software(model, context=None):
    """Stamp the calibration software, CRDS version and CRDS context on ``model``."""
    model.meta.calibration_software_version = f"snakewebb {__version__}"
    model.meta.calibration_software_revision = source_revision()
    if context:
        model.meta.ref_file.crds.context_used = Path(str(context)).name
    try:
        # the installed distribution's version, as crds.__version__ gives it, without
        # importing crds (~0.4 s of a job that never calls it: its references are inputs)
        model.meta.ref_file.crds.sw_version = _distribution_version("crds")
    except PackageNotFoundError:  # pragma: no cover - crds is a runtime dependency
        log.debug("crds not installed; CRDS_VER not recorded")
