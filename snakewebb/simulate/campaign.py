"""What one simulated exposure is: the contract between the exposure writer and the CRDS cache writer."""

from dataclasses import dataclass, field

__all__ = ["ExposureSpec"]


@dataclass(frozen=True)
class ExposureSpec:
    """One simulated exposure (one detector of one JWST exposure).

    Parameters mirror the FITS keywords they become. ``aperture`` is the SIAF
    aperture name (APERNAME) of the detector/subarray, ``subarray`` the
    SUBARRAY keyword. ``ra_ref``/``dec_ref``/``roll_ref`` point the aperture's
    reference point (V2_REF/V3_REF). A spec with ``nints > 1`` or
    ``tsovisit`` is written as ``_rateints`` (CubeModel), otherwise ``_rate``.
    """

    program: int
    observation: int
    visit: int
    instrument: str          # NIRCAM, MIRI, NIRISS, FGS
    detector: str            # NRCA1, NRCALONG, MIRIMAGE, NIS, GUIDER1, ...
    exp_type: str            # NRC_IMAGE, NRC_TSIMAGE, MIR_IMAGE, NIS_IMAGE, FGS_IMAGE
    filter: str
    pupil: str | None
    subarray: str
    aperture: str
    ra_ref: float
    dec_ref: float
    roll_ref: float
    date_obs: str            # ISO date-time of the exposure start, UTC
    visit_group: int = 2
    sequence: int = 1
    activity: int = 1
    exposure: int = 1
    nints: int = 1
    tsovisit: bool = False
    role: str = "science"    # "science" or "background"
    backgrounds: tuple = field(default=())  # names of background exposures for this science one

    @property
    def name(self):
        """JWST exposure ID, e.g. ``jw01234001001_02101_00001_nrca1``."""
        return (
            f"jw{self.program:05d}{self.observation:03d}{self.visit:03d}"
            f"_{self.visit_group:02d}{self.sequence:1d}{self.activity:02d}"
            f"_{self.exposure:05d}_{self.detector.lower()}"
        )

    @property
    def is_cube(self):
        return self.nints > 1 or self.tsovisit

    @property
    def suffix(self):
        return "rateints" if self.is_cube else "rate"

    @property
    def filename(self):
        return f"{self.name}_{self.suffix}.fits"
