"""Exposure specs covering every imaging mode, for the simulated CRDS cache tests."""

from snakewebb.simulate.campaign import ExposureSpec


def _spec(i, inst, det, exp, filt, pupil, sub, aper, **kw):
    return ExposureSpec(program=1234, observation=1, visit=1, instrument=inst, detector=det,
                        exp_type=exp, filter=filt, pupil=pupil, subarray=sub, aperture=aper,
                        ra_ref=10.0, dec_ref=-20.0, roll_ref=30.0,
                        date_obs="2023-05-01T12:00:00.000", exposure=i, **kw)


SPECS = [
    _spec(1, "NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "FULL", "NRCA1_FULL"),
    _spec(2, "NIRCAM", "NRCA1", "NRC_IMAGE", "F150W", "CLEAR", "SUB640", "NRCA1_SUB640"),
    _spec(3, "NIRCAM", "NRCB1", "NRC_IMAGE", "F200W", "CLEAR", "FULL", "NRCB1_FULL"),
    _spec(4, "NIRCAM", "NRCALONG", "NRC_IMAGE", "F444W", "CLEAR", "FULL", "NRCA5_FULL"),
    _spec(5, "NIRCAM", "NRCA3", "NRC_TSIMAGE", "F210M", "CLEAR", "SUB160P", "NRCA3_SUB160P",
          nints=3, tsovisit=True),
    _spec(6, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F770W", None, "FULL", "MIRIM_FULL"),
    _spec(7, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F1000W", None, "SUB256", "MIRIM_SUB256"),
    _spec(8, "MIRI", "MIRIMAGE", "MIR_IMAGE", "F1500W", None, "SUB64", "MIRIM_SUB64",
          nints=3, tsovisit=True),
    _spec(9, "NIRISS", "NIS", "NIS_IMAGE", "CLEAR", "F150W", "FULL", "NIS_CEN"),
    _spec(10, "NIRISS", "NIS", "NIS_IMAGE", "F444W", "CLEARP", "FULL", "NIS_CEN"),
    _spec(11, "FGS", "GUIDER1", "FGS_IMAGE", "N/A", None, "FULL", "FGS1_FULL"),
    _spec(12, "FGS", "GUIDER2", "FGS_IMAGE", "N/A", None, "FULL", "FGS2_FULL"),
]


def header_of(spec):
    return {"INSTRUME": spec.instrument, "DETECTOR": spec.detector, "EXP_TYPE": spec.exp_type,
            "FILTER": spec.filter, "PUPIL": spec.pupil, "SUBARRAY": spec.subarray,
            "DATE-OBS": spec.date_obs}
