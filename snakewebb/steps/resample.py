"""Resample one calibrated exposure to its ``_i2d`` quick-look image.

Step layer around :mod:`snakewebb.resample`: opens the ``_cal`` read-only,
checks that the exposure is one calwebb_image2 resamples (2D, non-TSO
MIRI/NIRCam/NIRISS imaging, :func:`snakewebb.modes.runs_resample`), validates
the parameters, records provenance (``S_RESAMP``, CAL_VER, CRDS context) and
writes the product atomically. Every failure is a one-line
:class:`~snakewebb.errors.ExposureError` naming the exposure.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from snakewebb import modes, timing
from snakewebb import resample as algorithm
from snakewebb.errors import ExposureError
from snakewebb.io import atomic_save, exposure_name
from snakewebb.steps import provenance

__all__ = ["ResampleOptions", "resample_exposure"]

log = logging.getLogger(__name__)

_KERNELS = ("square", "gaussian", "point", "turbo", "lanczos2", "lanczos3")
_WEIGHT_TYPES = ("ivm", "exptime")


@dataclass
class ResampleOptions:
    """Drizzle parameters; the defaults are the official resample step's.

    ``output_shape`` is ``(nx, ny)``, ``crpix`` 0-based ``(x, y)``, ``crval``
    ``(ra, dec)`` in degrees, ``pixel_scale`` in arcsec (overrides
    ``pixel_scale_ratio``), ``rotation`` the position angle of the output +Y
    axis in degrees (``None``: detector orientation).
    """

    pixfrac: float = 1.0
    kernel: str = "square"
    weight_type: str = "ivm"
    fillval: str = "NaN"
    pixel_scale_ratio: float = 1.0
    pixel_scale: float | None = None
    rotation: float | None = None
    output_shape: tuple | None = None
    crpix: tuple | None = None
    crval: tuple | None = None

    def problems(self):
        """Human-readable list of invalid settings (empty when all are valid)."""
        found = []
        if not 0.0 < float(self.pixfrac) <= 1.0:
            found.append(f"pixfrac must be in (0, 1], not {self.pixfrac}")
        if self.kernel not in _KERNELS:
            found.append(f"kernel must be one of {', '.join(_KERNELS)}, not {self.kernel!r}")
        if self.weight_type not in _WEIGHT_TYPES:
            found.append(f"weight_type must be ivm or exptime, not {self.weight_type!r}")
        try:
            if str(self.fillval).upper() not in ("NAN", "INDEF"):
                float(self.fillval)
        except ValueError:
            found.append(f"fillval must be a number or NaN, not {self.fillval!r}")
        if self.pixel_scale is None and not float(self.pixel_scale_ratio) > 0:
            found.append(f"pixel_scale_ratio must be positive, not {self.pixel_scale_ratio}")
        if self.pixel_scale is not None and not float(self.pixel_scale) > 0:
            found.append(f"pixel_scale must be positive, not {self.pixel_scale}")
        for name in ("output_shape", "crpix", "crval"):
            value = getattr(self, name)
            if value is not None and (len(value) != 2 or any(v is None for v in value)):
                found.append(f"{name} must hold two values, not {value!r}")
        if self.output_shape is not None and len(self.output_shape) == 2:
            if any(int(v) < 1 for v in self.output_shape if v is not None):
                found.append(f"output_shape must be positive, not {self.output_shape!r}")
        return found


def _open_cal(path, exposure):
    from stdatamodels.jwst import datamodels

    if not path.is_file():
        raise ExposureError(exposure, f"input {path} not found")
    try:
        model = datamodels.open(str(path))
    except Exception as exc:
        raise ExposureError(exposure, f"cannot read {path.name}: {exc}") from exc
    return model


def _check_resamplable(model, exposure):
    data = getattr(model, "data", None)
    if data is None or data.size == 0:
        raise ExposureError(exposure, "no SCI array")
    exp_type = model.meta.exposure.type
    is_cube = data.ndim != 2
    tso = modes.is_tso(exp_type, getattr(model.meta.visit, "tsovisit", False))
    if not modes.runs_resample(exp_type, is_cube, tso):
        why = ("3D data" if is_cube else "a time series" if tso
               else f"EXP_TYPE {exp_type} is not resampled")
        raise ExposureError(exposure, f"not resampled to _i2d: {why}")
    if model.meta.cal_step.assign_wcs != "COMPLETE" or model.meta.wcs is None:
        raise ExposureError(exposure, "no WCS: assign_wcs did not run on this _cal")


def resample_exposure(cal, output, *, options=ResampleOptions(), crds_context=None):
    """Drizzle the calibrated exposure ``cal`` to an ``_i2d`` file at ``output``.

    Parameters
    ----------
    cal : str or Path
        A ``_cal`` product (2D imaging, opened read-only).
    output : str or Path
        Where to write the ``_i2d`` (written atomically).
    options : ResampleOptions
        Drizzle and output-grid parameters.
    crds_context : str, optional
        The CRDS context the campaign runs under, recorded as CRDS_CTX (default: the
        one the ``_cal`` records).

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    ExposureError
        Missing or unreadable input, an exposure that is not resampled (3D,
        TSO, other EXP_TYPE), no WCS, bad metadata or invalid options.
    """
    cal, output = Path(cal), Path(output)
    exposure = exposure_name(cal)
    problems = options.problems()
    if problems:
        raise ExposureError(exposure, "invalid resample options: " + "; ".join(problems))

    model = _open_cal(cal, exposure)
    timing.mark("open")
    try:
        _check_resamplable(model, exposure)
        try:
            result = algorithm.resample_image(
                model,
                pixfrac=float(options.pixfrac),
                kernel=options.kernel,
                weight_type=options.weight_type,
                fillval=str(options.fillval),
                pixel_scale_ratio=float(options.pixel_scale_ratio),
                pixel_scale=None if options.pixel_scale is None else float(options.pixel_scale),
                rotation=None if options.rotation is None else float(options.rotation),
                output_shape=options.output_shape,
                crpix=options.crpix,
                crval=options.crval,
            )
        except algorithm.ResampleError as exc:
            raise ExposureError(exposure, f"cannot resample: {exc}") from exc
    finally:
        model.close()

    try:
        provenance.mark_step(result, "resample", provenance.COMPLETE)
        provenance.record_software(result, crds_context)
        timing.mark("science")
        atomic_save(result, output)
        timing.mark("write")
    except ExposureError:
        raise
    except Exception as exc:
        raise ExposureError(exposure, f"cannot write {output.name}: {exc}") from exc
    finally:
        result.close()
    log.info("%s: resampled to %s", exposure, output)
    return output
