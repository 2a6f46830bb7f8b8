"""Background step: subtract the combined background members of an exposure."""

import logging
from pathlib import Path

from snakewebb import background as algorithm
from snakewebb.errors import ExposureError
from snakewebb.steps import provenance

__all__ = ["run_background"]

log = logging.getLogger(__name__)


def _open_background(path, *, exposure):
    from stdatamodels.jwst import datamodels

    path = Path(path)
    if not path.is_file():
        raise ExposureError(exposure, f"background member {path.name} not found at {path}")
    try:
        return datamodels.open(str(path))
    except Exception as exc:
        raise ExposureError(exposure, f"cannot read background member {path.name}: {exc}") from exc


def run_background(model, background_paths, options, *, exposure, copy=True):
    """Subtract the sigma-clipped mean of ``background_paths`` from ``model``.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Science slope data; not modified when ``copy`` is True.
    background_paths : sequence of path
        Background members of the exposure's association. Empty: the step is
        recorded SKIPPED.
    options : snakewebb.steps.image2.Image2Options
        ``bkg_sigma`` and ``bkg_maxiters`` are used.
    exposure : str
        Exposure name for error messages.
    copy : bool
        False lets a caller that owns ``model`` have it changed in place.

    Returns
    -------
    model
        With ``meta.cal_step.bkg_subtract`` recorded.

    Raises
    ------
    ExposureError
        A background member missing, unreadable or impossible to place on the science footprint.
    """
    out = model.copy() if copy else model
    paths = [p for p in background_paths if p]
    if not paths:
        log.info("%s: no background members; background skipped", exposure)
        provenance.mark_step(out, "background", provenance.SKIPPED)
        return out
    members = []
    try:
        for path in paths:
            members.append(_open_background(path, exposure=exposure))
        try:
            algorithm.subtract_background(
                out, members, options.bkg_sigma, options.bkg_maxiters, copy=False
            )
        except (algorithm.BackgroundShapeError, ValueError) as exc:
            raise ExposureError(exposure, f"background: {exc}") from exc
    finally:
        for member in members:
            member.close()
    log.info("%s: subtracted the mean of %d background exposure(s)", exposure, len(paths))
    provenance.mark_step(out, "background", provenance.COMPLETE)
    return out
