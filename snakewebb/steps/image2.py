"""Stage-2 imaging calibration of one exposure: _rate/_rateints -> _cal/_calints.

The order is the official ``calwebb_image2`` one: background (only with
background members, never for time series), assign_wcs, flat_field, photom.
Resampling to ``_i2d`` is a separate product (``snakewebb.steps.resample``).

The input is opened read-only and calibrated in memory; the product is
written atomically (:mod:`snakewebb.io`), so a failure leaves no file; a
``_bsub`` asked for alongside is written under a hidden name straight after
background subtraction (no in-memory copy) and appears only with the ``_cal``.
Every failure is a one-line :class:`~snakewebb.errors.ExposureError`.
"""

import logging
import re
from dataclasses import field, make_dataclass
from pathlib import Path

import numpy as np

from snakewebb import modes, registry, timing
from snakewebb.errors import ExposureError, SnakewebbError
from snakewebb.io import (
    atomic_save,
    commit_pending,
    exposure_name,
    refuse_truncated_fits,
    write_pending,
)
from snakewebb.steps import provenance
from snakewebb.steps.background import run_background

__all__ = ["Image2Options", "calibrate_exposure", "subtract_background_file", "open_science"]

log = logging.getLogger(__name__)

_REQUIRED_KEYWORDS = (
    ("INSTRUME", ("instrument", "name")),
    ("DETECTOR", ("instrument", "detector")),
    ("EXP_TYPE", ("exposure", "type")),
)


def _skips(self, name):
    """True when step ``name`` (a :data:`snakewebb.registry.IMAGE2_STEPS` name) is skipped."""
    return getattr(self, registry.skip_option(name))


# A dataclass whose skip_<step> fields come from the registry, one per step of a _cal.
Image2Options = make_dataclass(
    "Image2Options",
    [("tso_exp_types", tuple, field(default=modes.DEFAULT_TSO_EXP_TYPES))]
    + [(registry.skip_option(s.name), bool, field(default=False))
       for s in registry.IMAGE2_STEPS]
    + [("bkg_sigma", float, field(default=3.0)),  # official background step defaults
       ("bkg_maxiters", int | None, field(default=None)),
       ("crds_context", str | None, field(default=None))],
    namespace={
        "__doc__": """Science choices of the stage-2 imaging calibration.

        The defaults are the official ones.

        ``tso_exp_types``: EXP_TYPEs treated as time series; ``skip_<step>`` for each step
        of :data:`snakewebb.registry.IMAGE2_STEPS` (``skip_background``,
        ``skip_assign_wcs``, ``skip_flat_field``, ``skip_photom``); ``bkg_sigma``,
        ``bkg_maxiters``: the background step's clipping; ``crds_context``: recorded in
        provenance as CRDS_CTX, and the context of a lookup made without references
        given (then the environment's CRDS_CONTEXT or the cache's operational one when
        None); with references given and None, no CRDS_CTX is recorded.
        """,
        "skips": _skips,
        "__module__": __name__,  # (make_dataclass's module= is Python 3.12+)
    },
)


#: Arrays of a slope product that must have the shape of SCI when present.
_PIXEL_ARRAYS = ("dq", "err", "var_poisson", "var_rnoise")


def _check_array_shapes(model, path, exposure):
    shape = model.data.shape
    for name in _PIXEL_ARRAYS:
        array = model.instance.get(name)
        if array is not None and array.shape != shape:
            raise ExposureError(
                exposure,
                f"{name.upper()} of {path.name} has shape {array.shape}, SCI has {shape}",
            )


def _default_missing_dq(model, path, exposure):
    """A product without a DQ array (written by other software) has no pixel flagged."""
    if model.instance.get("dq") is None:
        log.warning("%s: %s has no DQ array; every pixel taken as good", exposure, path.name)
        model.dq = np.zeros(model.data.shape, dtype=np.uint32)


def _meta_value(model, path):
    node = model.meta
    for name in path:
        node = getattr(node, name, None)
        if node is None:
            return None
    return node


def open_science(path, *, exposure=None):
    """Open a slope product read-only as ImageModel (2D) or CubeModel (3D) and check it.

    Raises
    ------
    ExposureError
        File missing or unreadable, a required keyword missing, an EXP_TYPE
        this project does not calibrate, or an array that is neither 2D nor 3D.
    """
    from stdatamodels.jwst import datamodels

    path = Path(path)
    exposure = exposure or exposure_name(path)
    if path.is_dir():
        raise ExposureError(exposure, f"input {path} is a directory, not a FITS file")
    if not path.is_file():
        raise ExposureError(exposure, f"input {path} not found")
    refuse_truncated_fits(path, exposure)
    try:
        model = datamodels.open(str(path))
    except Exception as exc:
        # a KeyError prints its message in quotes: show the message itself
        text = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
        missing = re.search(r"Extension \('(\w+)', \d+\) not found", text)
        if missing:  # the ASDF tree names an array whose HDU is gone
            text = f"its {missing.group(1)} extension is missing"
        raise ExposureError(exposure, f"cannot read {path.name}: {text}") from exc
    try:
        if not isinstance(model, (datamodels.ImageModel, datamodels.CubeModel)):
            ndim = getattr(getattr(model, "data", None), "ndim", None)
            if ndim == 2:
                model = _convert(model, datamodels.ImageModel)
            elif ndim == 3:
                model = _convert(model, datamodels.CubeModel)
            else:
                raise ExposureError(
                    exposure, f"{path.name} is a {type(model).__name__}, not 2D or 3D slope data"
                )
        for keyword, attr in _REQUIRED_KEYWORDS:
            if not _meta_value(model, attr):
                raise ExposureError(exposure, f"keyword {keyword} missing from {path.name}")
        _check_array_shapes(model, path, exposure)
        _default_missing_dq(model, path, exposure)
        exp_type = str(model.meta.exposure.type).upper()
        if exp_type not in modes.SUPPORTED_EXP_TYPES:
            raise ExposureError(
                exposure,
                f"EXP_TYPE {exp_type} is not a supported imaging mode "
                f"(supported: {modes.describe_supported()})",
            )
    except BaseException:
        model.close()
        raise
    return model


def _convert(model, cls):
    new = cls(model)
    model.close()
    return new


def _is_cube(model):
    return model.data.ndim == 3


def _apply_background(model, backgrounds, options, *, exposure):
    """Run or skip the background step on ``model`` in place; return the model."""
    already = model.meta.cal_step.bkg_subtract == provenance.COMPLETE
    if already:
        log.info("%s: input is already background-subtracted", exposure)
        return model
    tso = modes.is_tso(
        model.meta.exposure.type, model.meta.visit.tsovisit, options.tso_exp_types
    )
    if options.skip_background or not modes.runs_background(len(backgrounds), tso):
        why = "skipped by option" if options.skip_background else (
            "time-series exposure" if tso and backgrounds else "no background members"
        )
        log.info("%s: background skipped (%s)", exposure, why)
        provenance.mark_step(model, "background", provenance.SKIPPED)
        return model
    return run_background(model, backgrounds, options, exposure=exposure, copy=False)


def _lookup_references(model, options, *, exposure):
    """Best references for the steps that will run, and the CRDS context used."""
    from snakewebb import references

    wanted = [
        reftype
        for step in registry.REFERENCE_STEPS if not options.skips(step.name)
        for reftype in step.reftypes
    ]
    try:  # the cache the user's environment names (CRDS_PATH), as JWST users set it
        crds = references.resolve_crds(context=options.crds_context)
    except SnakewebbError as exc:
        raise ExposureError(exposure, str(exc)) from exc
    if not wanted:
        return {}, crds.context
    refs = references.best_references(model, tuple(wanted), crds=crds, exposure=exposure)
    return refs, crds.context


#: The function of each step run with the reference files, imported with this module.
_RUNNERS = {step.name: step.function() for step in registry.REFERENCE_STEPS}


def _record_na_reftypes(model, step):
    """The types the official step also looks up, N/A for imaging: recorded so (R_*)."""
    for reftype in step.na_reftypes:
        if getattr(model.meta.ref_file, reftype).name is None:
            provenance.record_reference(model, reftype, None)


def _calibrate(model, backgrounds, refs, options, *, exposure, bsub_output):
    context = options.crds_context
    if refs is None:  # before any work, so a missing reference writes nothing
        refs, context = _lookup_references(model, options, exposure=exposure)
    model = _apply_background(model, backgrounds, options, exposure=exposure)
    bsub_pending = None
    if bsub_output is not None:
        # written now under a hidden name (no in-memory copy of every array), moved
        # into place by the caller only if calibration succeeds
        provenance.record_software(model, context)
        bsub_pending = write_pending(model, bsub_output)
    try:
        for step in registry.REFERENCE_STEPS:  # in place: a failure discards the model
            if options.skips(step.name):
                provenance.mark_step(model, step.name, provenance.SKIPPED)
            else:
                model = _RUNNERS[step.name](model, refs, exposure=exposure, copy=False)
                _record_na_reftypes(model, step)
        provenance.record_software(model, context)
    except BaseException:
        if bsub_pending is not None:
            bsub_pending.unlink(missing_ok=True)
        raise
    return model, bsub_pending


def calibrate_exposure(
    science, output, *, backgrounds=(), refs=None, options=Image2Options(), bsub_output=None,
    asn=None,
):
    """Calibrate one exposure and write its ``_cal`` / ``_calints`` product.

    Parameters
    ----------
    science : path
        ``_rate`` / ``_rateints``, or an already background-subtracted
        ``_bsub`` / ``_bsubints`` (background is then not redone).
    output : path
        Where the calibrated product goes.
    backgrounds : sequence of path
        Background members of the exposure's association.
    refs : dict or None
        ``{reftype: path or None}`` (None = N/A). Looked up with
        :func:`snakewebb.references.best_references` when not given.
    options : Image2Options
    bsub_output : path or None
        Also write the background-subtracted product here.
    asn : dict or None
        ``{"table": ASN file, "pool": asn_pool}`` the exposure came from, recorded as
        ``ASNTABLE``/``ASNPOOL`` (see :func:`provenance.record_association`).

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    ExposureError
        One line naming the exposure; nothing is written at ``output``.
    """
    exposure = exposure_name(science)
    model = open_science(science, exposure=exposure)
    timing.mark("open")
    bsub_pending = None
    try:
        provenance.record_association(model, asn)
        model, bsub_pending = _calibrate(
            model, list(backgrounds), refs, options, exposure=exposure, bsub_output=bsub_output
        )
        timing.mark("science")
        cal_pending = write_pending(model, output)
        bsub_written = False
        try:
            if bsub_pending is not None:
                commit_pending(bsub_pending, bsub_output)
                bsub_pending, bsub_written = None, True
            written = commit_pending(cal_pending, output)
            timing.mark("write")
            return written
        except BaseException:
            cal_pending.unlink(missing_ok=True)
            if bsub_written:
                Path(bsub_output).unlink(missing_ok=True)
            raise
    except ExposureError:
        raise
    except Exception as exc:  # anything unforeseen still reads as one line
        raise ExposureError(exposure, f"{type(exc).__name__}: {exc}") from exc
    finally:
        if bsub_pending is not None:
            bsub_pending.unlink(missing_ok=True)
        model.close()


def subtract_background_file(science, backgrounds, output, *, options=Image2Options(),
                             asn=None):
    """Write the background-subtracted ``_bsub`` / ``_bsubints`` product of one exposure.

    When the background step does not apply (time series, no members,
    skipped by option) the product is still written, recorded SKIPPED.

    Returns
    -------
    Path
        ``output``.
    """
    exposure = exposure_name(science)
    model = open_science(science, exposure=exposure)
    timing.mark("open")
    try:
        provenance.record_association(model, asn)
        model = _apply_background(model, list(backgrounds), options, exposure=exposure)
        provenance.record_software(model, options.crds_context)
        timing.mark("science")
        written = atomic_save(model, output)
        timing.mark("write")
        return written
    except ExposureError:
        raise
    except Exception as exc:
        raise ExposureError(exposure, f"{type(exc).__name__}: {exc}") from exc
    finally:
        model.close()
