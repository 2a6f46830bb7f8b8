"""Errors a user can act on: each prints as one line naming the exposure."""

__all__ = ["SnakewebbError", "ExposureError", "ReferenceLookupError", "ProductWriteError"]


class SnakewebbError(Exception):
    """Base class of the errors this package raises on purpose."""


class ExposureError(SnakewebbError):
    """An exposure that cannot be processed, and why.

    ``str(err)`` is a single line ``"<exposure>: <problem>"`` that the command
    line and the Snakemake adapters print instead of a traceback.
    """

    def __init__(self, exposure, problem):
        self.exposure = str(exposure)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.exposure}: {self.problem}")


class ReferenceLookupError(ExposureError):
    """A reference file that CRDS cannot give for an exposure."""

    def __init__(self, exposure, reftype, problem):
        self.reftype = reftype
        super().__init__(exposure, f"no {reftype.upper()} reference: {problem}")


class ProductWriteError(ExposureError, OSError):
    """A product the file system refused (disk full, read-only): one line, and an OSError."""
