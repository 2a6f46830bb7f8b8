"""Which stage-2 imaging steps apply to which exposures.

Shared by the step layer and by the workflow, so that the graph Snakemake
builds and the products the steps write agree on every exposure.
"""

from snakewebb.instruments import INSTRUMENTS

__all__ = [
    "EXP_TYPES_BY_INSTRUMENT",
    "SUPPORTED_EXP_TYPES",
    "describe_supported",
    "RESAMPLE_EXP_TYPES",
    "DEFAULT_TSO_EXP_TYPES",
    "is_tso",
    "runs_background",
    "runs_resample",
    "cal_suffix",
    "bsub_suffix",
]

#: Imaging exposure types this project calibrates, per INSTRUME: every type that
#: calwebb_image2 calibrates with the plain imaging WCS, flat field and photometry
#: of its instrument (science imaging, coronagraphy, AMI, focus sweeps, target
#: acquisitions). The plain imaging type comes first. From :mod:`snakewebb.instruments`.
EXP_TYPES_BY_INSTRUMENT = {name: i.exp_types for name, i in INSTRUMENTS.items()}

#: Imaging exposure types this project calibrates (all instruments).
SUPPORTED_EXP_TYPES = frozenset(
    t for types in EXP_TYPES_BY_INSTRUMENT.values() for t in types
)

#: Exposure types that calwebb_image2 resamples to ``_i2d`` (2D, non-TSO data only).
RESAMPLE_EXP_TYPES = frozenset(
    t for i in INSTRUMENTS.values() for t in i.resample_exp_types
)

#: Exposure types treated as time series whatever their TSOVISIT says.
DEFAULT_TSO_EXP_TYPES = ("NRC_TSIMAGE",)


def describe_supported():
    """The supported EXP_TYPEs as one readable line, grouped by instrument.

    ``"NIRCAM: NRC_IMAGE, NRC_TSIMAGE, ...; MIRI: MIR_IMAGE, ...; ..."``, for error
    messages.
    """
    return "; ".join(
        f"{instrument}: {', '.join(types)}"
        for instrument, types in EXP_TYPES_BY_INSTRUMENT.items()
    )


def _truthy(value):
    if isinstance(value, str):
        return value.strip().upper() in {"T", "TRUE", "1", "YES"}
    return bool(value)


def is_tso(exp_type, tsovisit=False, tso_exp_types=DEFAULT_TSO_EXP_TYPES):
    """True for a time-series exposure: a TSO EXP_TYPE, or TSOVISIT set."""
    return exp_type in set(tso_exp_types) or _truthy(tsovisit)


def runs_background(n_backgrounds, tso):
    """Background subtraction runs only with background members and never for TSO."""
    return n_backgrounds > 0 and not tso


def runs_resample(exp_type, is_cube, tso):
    """Resample to ``_i2d`` only 2D, non-TSO MIRI/NIRCam/NIRISS imaging."""
    return exp_type in RESAMPLE_EXP_TYPES and not is_cube and not tso


def cal_suffix(is_cube):
    """Suffix of the calibrated product: ``calints`` for a cube, else ``cal``."""
    return "calints" if is_cube else "cal"


def bsub_suffix(is_cube):
    """Suffix of the background-subtracted product: ``bsubints`` for a cube, else ``bsub``."""
    return "bsubints" if is_cube else "bsub"
