"""Flat-field step: FLAT lookup result in, flat-fielded model with provenance out."""

import logging
from contextlib import contextmanager
from pathlib import Path

from astropy.io import fits

from snakewebb import flat_field as algorithm
from snakewebb import registry
from snakewebb.errors import ExposureError
from snakewebb.io import refuse_truncated_fits
from snakewebb.steps import provenance

__all__ = ["run_flat_field"]

log = logging.getLogger(__name__)

#: Flat types the official step looks up; only FLAT applies to imaging, the
#: NIRSpec spectroscopic ones are recorded as N/A like in official products.
_NA_FLAT_TYPES = registry.step("flat_field").na_reftypes


class _Node:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class _TranslatedDQ:
    """A reference DQ read by window, its bit planes translated through DQ_DEF."""

    def __init__(self, section, definitions):
        self._section = section
        self._definitions = definitions

    def __getitem__(self, key):
        return algorithm.dq_from_definitions(self._section[key], self._definitions)


def _dq_definitions(hdul):
    """(value, name) rows of the DQ_DEF table, or None without one."""
    if "DQ_DEF" not in hdul:
        return None
    table = hdul["DQ_DEF"].data
    if table is None or len(table) == 0:
        return None
    return [(int(value), str(name)) for value, name in zip(table["VALUE"], table["NAME"])]


@contextmanager
def _open_flat(path, *, exposure):
    """A FLAT reference as a light read-only model whose arrays are read by window.

    SCI/DQ/ERR are FITS sections: :func:`snakewebb.flat_field.apply_flat`
    reads only the science footprint, a row block at a time, never the whole
    reference. A missing DQ or ERR extension is None (zeros). With a DQ_DEF
    table, DQ values are translated to the standard flags as they are read.
    """
    path = Path(path)
    if not path.is_file():
        raise ExposureError(exposure, f"FLAT reference {path.name} not found at {path}")
    # a cut-short file would open with its last extensions silently missing
    refuse_truncated_fits(path, exposure, "FLAT reference")
    try:
        hdul = fits.open(path, memmap=False, lazy_load_hdus=True)
        head = hdul[0].header
        sci = hdul["SCI"].section
    except Exception as exc:
        raise ExposureError(exposure, f"cannot read FLAT reference {path.name}: {exc}") from exc
    try:
        try:
            meta = _Node(
                filename=path.name,
                instrument=_Node(name=head.get("INSTRUME")),
                subarray=_Node(xstart=head.get("SUBSTRT1"), ystart=head.get("SUBSTRT2"),
                               xsize=head.get("SUBSIZE1"), ysize=head.get("SUBSIZE2")),
            )
            dq = hdul["DQ"].section if "DQ" in hdul else None
            definitions = _dq_definitions(hdul)
            if dq is not None and definitions:
                # as the official FLAT model does on opening: reference bit
                # planes mapped to the standard flags, undefined bits dropped
                dq = _TranslatedDQ(dq, definitions)
            err = hdul["ERR"].section if "ERR" in hdul else None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ExposureError(
                exposure, f"cannot read FLAT reference {path.name}: {exc}"
            ) from exc
        yield _Node(meta=meta, data=sci, dq=dq, err=err)
    finally:
        hdul.close()


def _record_na_flats(model):
    for reftype in _NA_FLAT_TYPES:
        try:
            provenance.record_reference(model, reftype, None)
        except AttributeError:  # a schema without that reftype
            log.debug("no meta.ref_file.%s in this schema", reftype)


def run_flat_field(model, refs, *, exposure, copy=True):
    """Flat-field ``model`` with ``refs["flat"]``.

    Parameters
    ----------
    model : ImageModel or CubeModel
        Not modified when ``copy`` is True.
    refs : dict
        ``{"flat": path or None}``; None means N/A for this mode: the step is
        logged and recorded SKIPPED.
    exposure : str
        Exposure name for error messages.
    copy : bool
        False lets a caller that owns ``model`` have it corrected in place.

    Returns
    -------
    model
        A new model (or ``model`` itself when ``copy`` is False) with
        ``meta.cal_step.flat_field`` and ``meta.ref_file.flat`` recorded.

    Raises
    ------
    ExposureError
        FLAT missing from the cache or unreadable, or not covering the science
        subarray. A flat array smaller than the science one is not an error:
        as in the official step, the correction is skipped (SKIPPED, with the
        FLAT recorded) and a warning logged.
    """
    if "flat" not in refs:
        raise ExposureError(exposure, "no FLAT reference was looked up")
    path = refs["flat"]
    out = model.copy() if copy else model
    _record_na_flats(out)
    if path is None:
        log.info("%s: FLAT is N/A for this mode; flat_field skipped", exposure)
        provenance.record_reference(out, "flat", None)
        provenance.mark_step(out, "flat_field", provenance.SKIPPED)
        return out
    missing = [name.upper() for name in ("var_poisson", "var_rnoise")
               if out.instance.get(name) is None]
    if missing:
        raise ExposureError(
            exposure,
            f"{out.meta.filename or 'the input'} has no {' or '.join(missing)} array; "
            "flat_field propagates the variances and cannot run without them",
        )
    with _open_flat(path, exposure=exposure) as flat:
        try:
            # in place on ``out`` (already a copy when asked for); the flat is read
            # block by block within the science footprint as the arithmetic goes
            algorithm.apply_flat(out, flat, copy=False)
        except algorithm.FlatTooSmallError as exc:
            # what the official step does: a warning, no correction, SKIPPED
            log.warning("%s: FLAT %s: %s; flat_field skipped", exposure, Path(path).name, exc)
            provenance.record_reference(out, "flat", path)
            provenance.mark_step(out, "flat_field", provenance.SKIPPED)
            return out
        except algorithm.FlatShapeError as exc:
            raise ExposureError(exposure, f"FLAT {Path(path).name}: {exc}") from exc
        except (OSError, ValueError, TypeError) as exc:
            raise ExposureError(
                exposure, f"cannot read FLAT reference {Path(path).name}: {exc}"
            ) from exc
    log.info("%s: flat-fielded with %s", exposure, Path(path).name)
    provenance.record_reference(out, "flat", path)
    provenance.mark_step(out, "flat_field", provenance.COMPLETE)
    return out
