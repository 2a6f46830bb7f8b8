"""snakewebb: batch JWST stage-2 imaging calibration driven by Snakemake.

The science lives in one module per step (``background``, ``assign_wcs``,
``flat_field``, ``photom``, ``resample``), each a set of pure functions on
datamodels. ``snakewebb.steps`` wraps them with reference lookup, skip logic
and provenance; ``snakewebb.simulate`` makes the offline demo campaign.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("snakewebb")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
