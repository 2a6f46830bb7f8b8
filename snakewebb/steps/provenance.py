"""Provenance in every product: which steps ran, with which references, under which context.

Follows what the official products carry: ``meta.cal_step.<step>`` (S_* keywords)
set to COMPLETE or SKIPPED, ``meta.ref_file.<reftype>.name`` (R_* keywords) as
``crds://<file>`` or ``N/A``, ``meta.ref_file.crds.context_used`` (CRDS_CTX),
``meta.ref_file.crds.sw_version`` (CRDS_VER), and the calibration software
version in ``meta.calibration_software_version`` (CAL_VER, ``snakewebb <version>``).
"""

import logging
import os
from pathlib import Path

from snakewebb import __version__

__all__ = [
    "COMPLETE",
    "SKIPPED",
    "CAL_STEP_NAMES",
    "mark_step",
    "record_reference",
    "record_software",
]

log = logging.getLogger(__name__)

COMPLETE = "COMPLETE"
SKIPPED = "SKIPPED"

#: Our step names -> the ``meta.cal_step`` attribute the official products use.
CAL_STEP_NAMES = {
    "background": "bkg_subtract",
    "assign_wcs": "assign_wcs",
    "flat_field": "flat_field",
    "photom": "photom",
    "resample": "resample",
}


def mark_step(model, step, status):
    """Record ``status`` (COMPLETE/SKIPPED) for ``step`` in ``model.meta.cal_step``."""
    if status not in (COMPLETE, SKIPPED):
        raise ValueError(f"unknown step status {status!r}")
    setattr(model.meta.cal_step, CAL_STEP_NAMES[step], status)


def record_reference(model, reftype, path):
    """Record the reference file of ``reftype`` used (``None`` means N/A)."""
    name = "N/A" if path is None else "crds://" + Path(path).name
    getattr(model.meta.ref_file, reftype).name = name


def record_software(model, context=None):
    """Stamp the calibration software, CRDS version and CRDS context on ``model``."""
    model.meta.calibration_software_version = f"snakewebb {__version__}"
    context = context or os.environ.get("CRDS_CONTEXT")
    if context:
        model.meta.ref_file.crds.context_used = Path(str(context)).name
    try:
        import crds  # deferred: only products that used references pay the import

        model.meta.ref_file.crds.sw_version = crds.__version__
    except ImportError:  # pragma: no cover - crds is a runtime dependency
        log.debug("crds not importable; CRDS_VER not recorded")
