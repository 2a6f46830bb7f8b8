"""What one simulated exposure is.

The contract between the exposure writer and the CRDS cache writer.
"""

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
        """Whether the exposure is a ``_rateints`` cube (several integrations or TSO)."""
        return self.nints > 1 or self.tsovisit

    @property
    def suffix(self):
        """Suffix of the countrate product: ``rateints`` or ``rate``."""
        return "rateints" if self.is_cube else "rate"

    @property
    def filename(self):
        """File name of the countrate product."""
        return f"{self.name}_{self.suffix}.fits"


# --------------------------------------------------------------------------------------
# The campaign design
# --------------------------------------------------------------------------------------

import logging  # noqa: E402
import math  # noqa: E402
from functools import lru_cache  # noqa: E402

import numpy as np  # noqa: E402

log = logging.getLogger(__name__)

__all__ += ["FIELD_RA", "FIELD_DEC", "BLOCK", "design_campaign", "siaf_aperture", "attitude"]

#: Centre of the simulated science field (a sparse region towards the LMC, in the CVZ).
FIELD_RA = 80.4875
FIELD_DEC = -69.4986
#: Position angle of V3 (deg E of N) at the pointing aperture, same for the whole campaign.
PA_V3 = 112.0
#: Offset of the MIRI background field from the science field (arcsec, RA and Dec).
BACKGROUND_OFFSET = (0.0, 240.0)
#: Small dithers (arcsec in RA*cos(Dec), Dec) so that resampled products overlap.
DITHERS = ((0.0, 0.0), (3.1, 2.2), (-2.7, 4.9), (1.4, -3.6))
#: Start of the campaign (UTC).
START = "2024-03-15T04:10:00.000"


@dataclass(frozen=True)
class _Slot:
    """One entry of the 24-exposure block, before pointing and dates are filled in."""

    observation: int
    exposure: int
    instrument: str
    detector: str
    exp_type: str
    filter: str
    pupil: str | None
    subarray: str
    aperture: str
    dither: int = 0
    nints: int = 1
    tsovisit: bool = False
    role: str = "science"
    backgrounds: tuple = ()     # slot indices (in BLOCK) of the background members
    field: str = "science"      # "science" or "background"


#: The 24-exposure block. Every background member comes before the science exposures that
#: use it, so that any prefix of the campaign is coherent; the first ten slots already
#: cover every exposure type and a science exposure with a background.
BLOCK = (
    _Slot(1, 1, "NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL", "NRCA1_FULL"),
    _Slot(1, 1, "NIRCAM", "NRCALONG", "NRC_IMAGE", "F444W", "CLEAR", "FULL", "NRCA5_FULL"),
    _Slot(2, 1, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL", "MIRIM_FULL",
          role="background", field="background"),
    _Slot(3, 1, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL", "MIRIM_FULL",
          backgrounds=(2,)),
    _Slot(4, 1, "NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F150W", "FULL", "NIS_CEN"),
    _Slot(5, 1, "FGS", "GUIDER1", "FGS_IMAGE", None, None, "FULL", "FGS1_FULL"),
    _Slot(6, 1, "NIRCAM", "NRCA3", "NRC_TSIMAGE", "F210M", "CLEAR", "SUB64P", "NRCA3_SUB64P",
          nints=6, tsovisit=True),
    _Slot(7, 1, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F1500W", None, "SUB64", "MIRIM_SUB64",
          nints=6, tsovisit=True),
    _Slot(8, 1, "NIRCAM", "NRCB1", "NRC_IMAGE", "F200W", "CLEAR", "SUB160", "NRCB1_SUB160"),
    _Slot(9, 1, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F560W", None, "SUB256", "MIRIM_SUB256"),
    _Slot(1, 1, "NIRCAM", "NRCB4", "NRC_IMAGE", "F150W", "CLEAR", "FULL", "NRCB4_FULL"),
    _Slot(1, 2, "NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL", "NRCA1_FULL", dither=1),
    _Slot(1, 2, "NIRCAM", "NRCALONG", "NRC_IMAGE", "F444W", "CLEAR", "FULL", "NRCA5_FULL",
          dither=1),
    _Slot(1, 2, "NIRCAM", "NRCB4", "NRC_IMAGE", "F150W", "CLEAR", "FULL", "NRCB4_FULL", dither=1),
    _Slot(1, 3, "NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL", "NRCA1_FULL", dither=2),
    _Slot(1, 3, "NIRCAM", "NRCALONG", "NRC_IMAGE", "F444W", "CLEAR", "FULL", "NRCA5_FULL",
          dither=2),
    _Slot(1, 3, "NIRCAM", "NRCB4", "NRC_IMAGE", "F150W", "CLEAR", "FULL", "NRCB4_FULL", dither=2),
    _Slot(3, 2, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL", "MIRIM_FULL", dither=1,
          backgrounds=(2,)),
    _Slot(3, 3, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL", "MIRIM_FULL", dither=2,
          backgrounds=(2,)),
    _Slot(4, 2, "NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F150W", "FULL", "NIS_CEN", dither=1),
    _Slot(8, 2, "NIRCAM", "NRCB1", "NRC_IMAGE", "F200W", "CLEAR", "SUB160", "NRCB1_SUB160",
          dither=1),
    _Slot(9, 2, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F560W", None, "SUB256", "MIRIM_SUB256",
          dither=1),
    _Slot(4, 3, "NIRISS", "NIS", "NIS_IMAGE", "F444W", "CLEARP", "FULL", "NIS_CEN"),
    _Slot(10, 1, "FGS", "GUIDER2", "FGS_IMAGE", None, None, "FULL", "FGS2_FULL"),
)

#: SIAF aperture that the target is put on, per instrument (the pointing aperture).
_POINTING_APERTURE = {
    "NIRCAM": "NRCALL_FULL", "MIRI": "MIRIM_FULL", "NIRISS": "NIS_CEN", "FGS": None,
}
_SIAF_NAMES = {"NIRCAM": "NIRCam", "MIRI": "MIRI", "NIRISS": "NIRISS", "FGS": "FGS"}


class _ToDebug(logging.Filter):
    """Re-log another library's records at DEBUG on our logger, and drop the original."""

    def filter(self, record):
        log.debug("%s: %s", record.name, " ".join(record.getMessage().split()))
        return False


def _import_pysiaf():
    """``import pysiaf`` with its import-time warning (no online PRD check) at DEBUG."""
    import sys

    if "pysiaf" in sys.modules:
        return sys.modules["pysiaf"]
    quiet = _ToDebug()
    pylog = logging.getLogger("pysiaf")
    pylog.addFilter(quiet)
    try:
        import pysiaf
    finally:
        pylog.removeFilter(quiet)
    return pysiaf


@lru_cache(maxsize=None)
def _siaf(instrument):
    """The pysiaf SIAF of ``instrument`` (any case), loaded once per process.

    pysiaf warns that it cannot check online for a newer SIAF (we are offline on
    purpose); its warnings are logged at DEBUG instead of reaching the terminal.
    """
    import warnings

    pysiaf = _import_pysiaf()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        siaf = pysiaf.Siaf(_SIAF_NAMES[instrument.upper()])
    for w in caught:
        log.debug("pysiaf (%s): %s", instrument, " ".join(str(w.message).split()))
    return siaf


#: Full-frame SIAF aperture per aperture-name prefix (the frame SUBSTRT1/2 count in).
_FULL_FRAME = {
    **{f"NRC{m}{i}": f"NRC{m}{i}_FULL" for m in "AB" for i in range(1, 6)},
    "MIRIM": "MIRIM_FULL", "NIS": "NIS_CEN", "FGS1": "FGS1_FULL", "FGS2": "FGS2_FULL",
}


@lru_cache(maxsize=None)
def siaf_aperture(instrument, aperture):
    """Numbers of one SIAF aperture that the headers need.

    Returns a dict with ``v2_ref``, ``v3_ref`` (arcsec), ``v3yangle`` (deg), ``vparity``,
    ``xsize``, ``ysize``, ``xstart``, ``ystart`` (1-based science-frame corner),
    ``xref_sci``, ``yref_sci``.
    """
    siaf = _siaf(instrument)
    ap = siaf[aperture]
    xstart = ystart = 1
    full_name = _FULL_FRAME.get(aperture.split("_")[0])
    if full_name and full_name != aperture and ap.XSciRef is not None:
        # where the subarray's reference point falls on its detector's full frame
        x, y = siaf[full_name].tel_to_sci(ap.V2Ref, ap.V3Ref)
        xstart = int(round(float(x) - ap.XSciRef + 1.0))
        ystart = int(round(float(y) - ap.YSciRef + 1.0))
    return {
        "v2_ref": float(ap.V2Ref), "v3_ref": float(ap.V3Ref),
        "v3yangle": float(ap.V3IdlYAngle), "vparity": int(ap.VIdlParity),
        "xsize": int(ap.XSciSize or 0), "ysize": int(ap.YSciSize or 0),
        "xstart": int(xstart), "ystart": int(ystart),
        "xref_sci": float(ap.XSciRef or 0.0), "yref_sci": float(ap.YSciRef or 0.0),
    }


def _rotation(v2_ref, v3_ref, roll, ra, dec):
    """Matrix taking unit vectors in the telescope (V) frame to ICRS.

    Built so that the point (v2_ref, v3_ref) (arcsec) lands on (ra, dec) (deg) with the +V3
    direction there at position angle ``roll`` (deg E of N), the same convention as the
    attitude the official pipeline builds from the WCSINFO keywords.
    """
    def rz(a):
        c, s = math.cos(a), math.sin(a)
        return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])

    def ry(a):
        c, s = math.cos(a), math.sin(a)
        return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])

    def rx(a):
        c, s = math.cos(a), math.sin(a)
        return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])

    d2r = math.pi / 180.0
    # bring the reference point onto the +x axis, roll about it, then onto (ra, dec)
    m = rz(v2_ref / 3600.0 * d2r)
    m = ry(-v3_ref / 3600.0 * d2r) @ m
    m = rx(roll * d2r) @ m
    m = ry(dec * d2r) @ m
    m = rz(-ra * d2r) @ m
    return m


def _unit(lon, lat):
    lon, lat = np.radians(lon), np.radians(lat)
    return np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _lonlat(vec):
    lon = math.degrees(math.atan2(vec[1], vec[0])) % 360.0
    lat = math.degrees(math.asin(max(-1.0, min(1.0, vec[2]))))
    return lon, lat


def _position_angle(ra1, dec1, ra2, dec2):
    """Initial bearing (deg E of N) of the great circle from point 1 to point 2."""
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    y = math.sin(r2 - r1) * math.cos(d2)
    x = math.cos(d1) * math.sin(d2) - math.sin(d1) * math.cos(d2) * math.cos(r2 - r1)
    return math.degrees(math.atan2(y, x)) % 360.0


def attitude(v2_ref, v3_ref, roll, ra, dec):
    """A telescope attitude, as a callable ``(v2, v3) arcsec -> (ra, dec) deg`` plus helpers.

    Returns a dict with ``to_sky`` and ``aperture(v2, v3) -> (ra_ref, dec_ref, roll_ref)``
    (the local roll of +V3 at that point), and ``v1`` = (ra_v1, dec_v1, pa_v3).
    """
    m = _rotation(v2_ref, v3_ref, roll, ra, dec)

    def to_sky(v2, v3):
        return _lonlat(m @ _unit(v2 / 3600.0, v3 / 3600.0))

    def aperture(v2, v3):
        ra0, dec0 = to_sky(v2, v3)
        # along +V3 at constant V2 is a great circle, so its initial bearing is the local roll
        ra1, dec1 = to_sky(v2, v3 + 1.0)
        return ra0, dec0, _position_angle(ra0, dec0, ra1, dec1)

    return {"to_sky": to_sky, "aperture": aperture, "v1": aperture(0.0, 0.0)}


def _offset(ra, dec, dra, ddec):
    """Move (ra, dec) by (dra*cos(dec), ddec) arcsec."""
    return ra + dra / 3600.0 / math.cos(math.radians(dec)), dec + ddec / 3600.0


def _date(minutes):
    from astropy.time import Time, TimeDelta

    t = Time(START, format="isot", scale="utc") + TimeDelta(minutes * 60.0, format="sec")
    return t.isot


def design_campaign(n_exposures=24, seed=0):
    """The specs of a simulated campaign of ``n_exposures`` exposures.

    The campaign repeats the 24-exposure :data:`BLOCK`, one visit per repetition, so any
    ``n_exposures >= 1`` works and every prefix is coherent (background members precede
    the science exposures that name them). Pointings place each instrument's pointing
    aperture on the field (or on the background field), with small dithers; all detectors
    of one NIRCam exposure share one attitude. ``seed`` does not change the design (only
    the pixel content), so campaigns of different seeds are directly comparable.

    Returns
    -------
    list of ExposureSpec
    """
    n_exposures = int(n_exposures)
    if n_exposures < 1:
        raise ValueError(f"the number of exposures must be at least 1, not {n_exposures}")
    specs = []
    for index in range(n_exposures):
        cycle, k = divmod(index, len(BLOCK))
        slot = BLOCK[k]
        visit = 1 + cycle
        ra, dec = FIELD_RA, FIELD_DEC
        if slot.field == "background":
            ra, dec = _offset(ra, dec, *BACKGROUND_OFFSET)
        dx, dy = DITHERS[slot.dither % len(DITHERS)]
        # later visits step by a few arcsec so that they overlap without repeating exactly
        dx, dy = dx + 1.7 * cycle, dy - 1.1 * cycle
        ra, dec = _offset(ra, dec, dx, dy)
        pointing_ap = _POINTING_APERTURE[slot.instrument] or slot.aperture
        p = siaf_aperture(slot.instrument, pointing_ap)
        att = attitude(p["v2_ref"], p["v3_ref"], PA_V3, ra, dec)
        a = siaf_aperture(slot.instrument, slot.aperture)
        ra_ref, dec_ref, roll_ref = att["aperture"](a["v2_ref"], a["v3_ref"])
        # exposures of one visit follow each other every 20 minutes (per observation slot)
        date = _date(60.0 * 24 * cycle + 20.0 * slot.observation + 5.0 * slot.exposure)
        backgrounds = tuple(
            _slot_name(BLOCK[b], visit) for b in slot.backgrounds
        )
        specs.append(ExposureSpec(
            program=1234, observation=slot.observation, visit=visit,
            instrument=slot.instrument, detector=slot.detector, exp_type=slot.exp_type,
            filter=slot.filter, pupil=slot.pupil, subarray=slot.subarray,
            aperture=slot.aperture, ra_ref=ra_ref, dec_ref=dec_ref, roll_ref=roll_ref,
            date_obs=date, exposure=slot.exposure, nints=slot.nints, tsovisit=slot.tsovisit,
            role=slot.role, backgrounds=backgrounds,
        ))
    return specs


def _slot_name(slot, visit):
    det = slot.detector.lower()
    return f"jw{1234:05d}{slot.observation:03d}{visit:03d}_02101_{slot.exposure:05d}_{det}"
