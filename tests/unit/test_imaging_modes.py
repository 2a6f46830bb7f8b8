"""The imaging exposure types beyond plain imaging: coronagraphy, AMI, focus, target acquisition.

jwst 3.0.0's calwebb_image2 calibrates these with the plain imaging WCS, flat field and
photometry of their instrument and does not resample them. Checked here:

* the supported set is exactly what the official assign_wcs maps to each instrument's
  imaging pipeline, and the resampled set is unchanged;
* assign_wcs of every new type against the official functions (synthetic references);
* a small simulated campaign, one exposure per instrument plus a NIRCam target
  acquisition, calibrated by us and by the official calwebb_image2 on the same ASN and
  CRDS cache, compared with the parity helpers of the suite at their tolerances;
* the exposure table and a Snakemake dry run plan a ``_cal`` and no ``_i2d`` for them.
"""

import json

import pytest
from stdatamodels.jwst import datamodels

from helpers.compare import assert_arrays_match, assert_keywords_match
from helpers.wcs import assert_wcs_parity, make_exposure, official_assign_wcs
from helpers.workflow import planned_outputs, snakemake
from oracle import run_official_image2
from snakewebb import assign_wcs as aw
from snakewebb import exposures, modes
from snakewebb.steps.assign_wcs import run_assign_wcs
from snakewebb.steps.image2 import Image2Options, calibrate_exposure

PLAIN_TYPES = {"NRC_IMAGE", "NRC_TSIMAGE", "MIR_IMAGE", "NIS_IMAGE", "FGS_IMAGE"}
NEW_TYPES = sorted(modes.SUPPORTED_EXP_TYPES - PLAIN_TYPES)

#: (id, INSTRUME, DETECTOR, EXP_TYPE, FILTER, PUPIL, SUBARRAY, SIAF aperture). Subarrays
#: keep the run short. NIRCam coronagraphic subarrays lie outside the field the
#: simulator maps from the sky (their SIAF apertures are behind the coronagraph
#: wedge), so the coronagraphic exposure uses a SUB320 on the same detector.
CASES = [
    ("nrc-coron", "NIRCAM", "NRCALONG", "NRC_CORON", "F444W", "MASKRND", "SUB320",
     "NRCA5_SUB320"),
    ("nrc-tacq", "NIRCAM", "NRCALONG", "NRC_TACQ", "F335M", "CLEAR", "SUB32TATSGRISM",
     "NRCA5_TAGRISMTS32"),
    ("mir-4qpm", "MIRI", "MIRIMAGE", "MIR_4QPM", "F1550C", None, "MASK1550", "MIRIM_MASK1550"),
    ("nis-ami", "NIRISS", "NIS", "NIS_AMI", "F480M", "NRM", "SUB80", "NIS_AMI1"),
    ("fgs-focus", "FGS", "GUIDER1", "FGS_FOCUS", None, None, "SUB128CNTR", "FGS1_SUB128CNTR"),
]


# --------------------------------------------------------------------- the supported set

@pytest.mark.parity
def test_supported_types_are_those_official_assign_wcs_images():
    from jwst.assign_wcs import fgs, miri, nircam, niriss

    for instrument, module in (("NIRCAM", nircam), ("MIRI", miri), ("NIRISS", niriss),
                               ("FGS", fgs)):
        official = {t.upper() for t, f in module.exp_type2transform.items()
                    if f is module.imaging}
        assert set(modes.EXP_TYPES_BY_INSTRUMENT[instrument]) == official, instrument
        assert {t for t, i in aw.IMAGING_EXP_TYPES.items() if i == instrument} == official


@pytest.mark.parity
def test_new_types_are_calibrated_but_never_resampled():
    from jwst.pipeline import Image2Pipeline

    # the official pipeline resamples none of them (and FGS_IMAGE, which we do not)
    assert not set(NEW_TYPES) & {t.upper() for t in Image2Pipeline.image_exptypes}
    assert modes.RESAMPLE_EXP_TYPES == {"MIR_IMAGE", "NRC_IMAGE", "NIS_IMAGE"}
    for exp_type in NEW_TYPES:
        assert not modes.runs_resample(exp_type, is_cube=False, tso=False)
        assert not modes.is_tso(exp_type)


def test_unsupported_type_message_lists_the_types_by_instrument(tmp_path):
    from snakewebb.errors import ExposureError
    from snakewebb.steps.image2 import open_science

    model = make_exposure("nis_sub")
    model.meta.exposure.type = "NIS_SOSS"
    path = tmp_path / "jw01_rate.fits"
    model.save(path)
    with pytest.raises(ExposureError) as err:
        open_science(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("jw01: EXP_TYPE NIS_SOSS is not a supported imaging mode")
    assert "NIRISS: NIS_IMAGE, NIS_AMI, NIS_FOCUS, NIS_TACQ, NIS_TACONFIRM;" in message


# ------------------------------------------ assign_wcs of every new type, synthetic refs

_CASE_OF = {"NIRCAM": "nrc_sub", "MIRI": "mir_brightsky", "NIRISS": "nis_sub",
            "FGS": "fgs_sub"}


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:Failed to achieve requested SIP")  # jwst's MIRI inverse fit
@pytest.mark.parametrize("exp_type", NEW_TYPES)
def test_assign_wcs_parity_for_every_new_type(exp_type, reffiles):
    case = _CASE_OF[aw.IMAGING_EXP_TYPES[exp_type]]
    model = make_exposure(case)
    model.meta.exposure.type = exp_type
    refs = reffiles[case]
    theirs = official_assign_wcs(model, refs)
    ours = run_assign_wcs(model, refs, exposure="jw01")
    assert ours.meta.cal_step.assign_wcs == "COMPLETE"
    assert_wcs_parity(ours, theirs)
    # and the very WCS the plain imaging type of the instrument gets
    plain = make_exposure(case)
    plain_wcs = run_assign_wcs(plain, refs, exposure="jw01")
    assert ours.meta.wcsinfo.instance == plain_wcs.meta.wcsinfo.instance


def test_wrong_instrument_for_a_new_type_is_refused(reffiles):
    from snakewebb.errors import ExposureError

    model = make_exposure("nis_sub")
    model.meta.exposure.type = "MIR_4QPM"
    with pytest.raises(ExposureError, match=r"^jw01: EXP_TYPE MIR_4QPM does not belong to "
                                            r"INSTRUME NIRISS$"):
        run_assign_wcs(model, reffiles["nis_sub"], exposure="jw01")


# ------------------------------------------------- a simulated campaign of the new types

def _specs():
    from snakewebb.simulate.campaign import (
        FIELD_DEC,
        FIELD_RA,
        PA_V3,
        ExposureSpec,
        attitude,
        siaf_aperture,
    )

    specs = {}
    for i, (cid, inst, det, exp_type, filt, pupil, sub, aperture) in enumerate(CASES):
        ap = siaf_aperture(inst, aperture)
        att = attitude(ap["v2_ref"], ap["v3_ref"], PA_V3, FIELD_RA, FIELD_DEC)
        ra, dec, roll = att["aperture"](ap["v2_ref"], ap["v3_ref"])
        specs[cid] = ExposureSpec(
            program=1234, observation=31 + i, visit=1, instrument=inst, detector=det,
            exp_type=exp_type, filter=filt, pupil=pupil, subarray=sub, aperture=aperture,
            ra_ref=ra, dec_ref=dec, roll_ref=roll, date_obs="2024-03-15T06:00:00.000")
    return specs


@pytest.fixture(scope="module")
def modes_campaign(tmp_path_factory):
    """Rate files, ASNs and a CRDS cache for CASES: {"root", "crds", "context", "specs",
    "files", "asns"}."""
    from snakewebb.simulate import exposures as simulated
    from snakewebb.simulate import lookup_references
    from snakewebb.simulate.asn import write_asns
    from snakewebb.simulate.crds_cache import write_crds_cache

    root = tmp_path_factory.mktemp("imaging_modes")
    specs = _specs()
    rate = root / "rate"
    rate.mkdir()
    contexts = write_crds_cache(root / "crds", list(specs.values()), seed=0)
    catalog = simulated.make_truth_catalog(list(specs.values()), seed=0)
    files, cache = {}, {}
    for cid, spec in specs.items():
        refs = lookup_references(spec, crds_path=root / "crds", context=contexts[0])
        files[cid], _ = simulated.write_exposure(spec, rate, refs, catalog, seed=0,
                                                 cache=cache)
    by_name = write_asns(list(specs.values()), root / "asn", rate)
    asns = {cid: by_name[spec.name] for cid, spec in specs.items()}
    return {"root": root, "crds": root / "crds", "context": contexts[0], "specs": specs,
            "files": files, "asns": asns}


@pytest.fixture(scope="module")
def official(modes_campaign, tmp_path_factory):
    """The official calwebb_image2 products of every case, resample step left on."""
    out = tmp_path_factory.mktemp("imaging_modes_official")
    return {cid: run_official_image2(modes_campaign["asns"][cid], out,
                                     crds_path=modes_campaign["crds"],
                                     context=modes_campaign["context"])
            for cid, *_ in CASES}


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_official_image2(modes_campaign, official, tmp_path, monkeypatch, case):
    cid = case[0]
    spec = modes_campaign["specs"][cid]
    theirs = official[cid]
    # the official pipeline, resample left on, makes a _cal and no _i2d of these types
    assert "cal" in theirs and "i2d" not in theirs, sorted(theirs)

    monkeypatch.setenv("CRDS_PATH", str(modes_campaign["crds"]))  # no refs given: the user's
    source = modes_campaign["files"][cid]
    before = source.read_bytes()
    ours_path = calibrate_exposure(
        source, tmp_path / f"{spec.name}_cal.fits",
        options=Image2Options(crds_context=modes_campaign["context"]))
    assert source.read_bytes() == before
    with datamodels.open(ours_path) as ours, datamodels.open(theirs["cal"]) as off:
        assert ours.meta.exposure.type == off.meta.exposure.type == spec.exp_type
        assert type(ours) is type(off) is datamodels.ImageModel
        for step in ("assign_wcs", "flat_field", "photom"):
            assert getattr(ours.meta.cal_step, step) == "COMPLETE", step
        assert_arrays_match(ours, off, spec.name)
        assert_wcs_parity(ours, off)
    assert_keywords_match(ours_path, theirs["cal"], bkg_ran=False)


def test_exposure_table_plans_cal_and_no_i2d(modes_campaign, tmp_path):
    table = exposures.exposure_table([str(modes_campaign["root"] / "asn" / "*_asn.json")],
                                     cache_dir=tmp_path)
    specs = modes_campaign["specs"]
    assert sorted(table.index) == sorted(s.name for s in specs.values())
    assert sorted(table["exp_type"]) == sorted(c[3] for c in CASES)
    assert list(table["suffix"].unique()) == ["cal"]
    assert not table["resample"].any()
    assert not table["tso"].any()
    assert not table["background"].any()


@pytest.mark.workflow
def test_workflow_dry_run_plans_cal_and_no_i2d(modes_campaign, tmp_path):
    asn = json.dumps([str(modes_campaign["root"] / "asn" / "*_asn.json")])
    result = snakemake(tmp_path, "all", "--dry-run",
                       config=(f"asn={asn}", f"crds_path={modes_campaign['crds']}",
                               f"crds_context={modes_campaign['context']}"))
    planned = planned_outputs(result)
    names = [s.name for s in modes_campaign["specs"].values()]
    assert planned == {f"{name}_cal.fits" for name in names}
    assert not any(p.endswith("_i2d.fits") for p in planned)
