"""What this project knows of each JWST imager, one table row per instrument.

The EXP_TYPEs it calibrates (:mod:`snakewebb.modes`), the full-frame shape the
steps assume for an array without subarray keywords (background, flat_field, the
simulator), the PHOTOM columns photom selects a row on, the FILTEROFFSET columns
assign_wcs matches, and what each official step does differently on purpose.

Adding an instrument: one :class:`Instrument` in :data:`INSTRUMENTS` and its tests.

Subarrays
---------
Every step places a (sub)array on its detector by SUBSTRT1/SUBSTRT2 (1-based
corner, :func:`subarray_corner`), but each official step treats missing keywords
its own way, and this project follows each one:

* background: a member without SUBSTRT/SUBSIZE must be full frame
  (:func:`full_frame`); sizes are SUBSIZE1/SUBSIZE2.
* flat_field: sizes are the array's own; an array without a corner must be full
  frame; a reference of full-frame shape missing any SUBSTRT/SUBSIZE keyword is
  full frame whatever corner it states.
* photom: an AREA map without a corner starts at pixel (1, 1); a science array
  without one needs an AREA map of its very shape.
* assign_wcs: each axis whose SUBSTRT is 1 or unknown is left unshifted.

Standard library only: the workflow's planning imports it.
"""

from dataclasses import dataclass

__all__ = [
    "Instrument",
    "INSTRUMENTS",
    "DEFAULT_FULL_FRAME",
    "instrument",
    "full_frame",
    "subarray_corner",
]


@dataclass(frozen=True)
class Instrument:
    """One imager's facts.

    Attributes
    ----------
    name : str
        INSTRUME.
    full_frame : tuple of int
        (rows, columns) of a full-frame array.
    exp_types : tuple of str
        Imaging EXP_TYPEs calwebb_image2 calibrates with this instrument's imaging
        WCS, flat and photometry; the plain imaging type first.
    resample_exp_types : tuple of str
        EXP_TYPEs calwebb_image2 resamples to ``_i2d`` (2D, non-TSO data only).
    photom_keys : tuple of str
        PHOTOM table columns the row is selected on, in this order; an empty tuple
        means the table's single row.
    photom_optional_keys : tuple of str
        Columns matched too when the table has them (NIRCam's SUBARRAY).
    photom_generic_subarray : bool
        With no row for the exposure's SUBARRAY, the row with SUBARRAY=GENERIC (MIRI).
    photom_cubes : bool
        Whether photom calibrates per-integration data (the official step leaves a
        NIRISS cube in DN/s, recorded SKIPPED, with its AREA attached).
    filteroffset_keys : tuple of str or None
        FILTEROFFSET row columns matched; None: the WCS has no filter-offset stage
        and keeps the DISTORTION transform's own bounding box (FGS).
    filteroffset_unique : bool
        Exactly one FILTEROFFSET row must match (NIRCam, NIRISS); else the first
        match wins (MIRI).
    """

    name: str
    full_frame: tuple
    exp_types: tuple
    resample_exp_types: tuple
    photom_keys: tuple
    photom_optional_keys: tuple = ()
    photom_generic_subarray: bool = False
    photom_cubes: bool = True
    filteroffset_keys: tuple | None = None
    filteroffset_unique: bool = False


#: The imagers, by INSTRUME. The EXP_TYPEs are every type calwebb_image2 calibrates with
#: its instrument's plain imaging steps (science imaging, coronagraphy, AMI, focus sweeps,
#: target acquisitions).
INSTRUMENTS = {
    i.name: i
    for i in (
        Instrument(
            "NIRCAM", (2048, 2048),
            ("NRC_IMAGE", "NRC_TSIMAGE", "NRC_CORON", "NRC_FOCUS", "NRC_TACQ",
             "NRC_TACONFIRM"),
            resample_exp_types=("NRC_IMAGE",),
            photom_keys=("filter", "pupil"), photom_optional_keys=("subarray",),
            filteroffset_keys=("filter", "pupil"), filteroffset_unique=True,
        ),
        Instrument(
            "MIRI", (1024, 1032),
            ("MIR_IMAGE", "MIR_LYOT", "MIR_4QPM", "MIR_CORONCAL", "MIR_TACQ",
             "MIR_TACONFIRM"),
            resample_exp_types=("MIR_IMAGE",),
            photom_keys=("subarray", "filter"), photom_generic_subarray=True,
            filteroffset_keys=("filter",),
        ),
        Instrument(
            "NIRISS", (2048, 2048),
            ("NIS_IMAGE", "NIS_AMI", "NIS_FOCUS", "NIS_TACQ", "NIS_TACONFIRM"),
            resample_exp_types=("NIS_IMAGE",),
            photom_keys=("filter", "pupil"), photom_cubes=False,
            filteroffset_keys=("filter", "pupil"), filteroffset_unique=True,
        ),
        Instrument(
            "FGS", (2048, 2048),
            ("FGS_IMAGE", "FGS_FOCUS"),
            resample_exp_types=(),
            photom_keys=(),
        ),
    )
}

#: Full-frame shape assumed for an instrument not in the table.
DEFAULT_FULL_FRAME = (2048, 2048)


def instrument(name):
    """The :class:`Instrument` of INSTRUME ``name`` (any case), or None if unknown."""
    return INSTRUMENTS.get(str(name or "").upper())


def full_frame(name):
    """(rows, columns) of a full-frame array of instrument ``name`` (any case).

    :data:`DEFAULT_FULL_FRAME` for an instrument not in the table.
    """
    found = instrument(name)
    return found.full_frame if found is not None else DEFAULT_FULL_FRAME


def subarray_corner(meta):
    """0-based (row, column) of a model's corner on the detector, or None.

    ``meta.subarray.ystart``/``xstart`` (SUBSTRT2/SUBSTRT1, 1-based); None when either
    is missing (or ``meta`` has no subarray at all).
    """
    sub = getattr(meta, "subarray", None)
    xstart = getattr(sub, "xstart", None)
    ystart = getattr(sub, "ystart", None)
    if xstart is None or ystart is None:
        return None
    return int(ystart) - 1, int(xstart) - 1
