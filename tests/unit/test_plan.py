"""The campaign plan (snakewebb.plan), built without Snakemake on the session campaign."""

import ast
import os
import pickle
import re
from pathlib import Path

import pytest
import yaml
from astropy.io import fits

from helpers.inputs import rewrite_product, write_asn
from snakewebb import modes
from snakewebb.errors import SnakewebbError
from snakewebb.plan import PlanError, build_plan, crds_settings, problem_table

REPO = Path(__file__).resolve().parents[2]


def config_for(campaign, *patterns, **changes):
    """The repository's config with the schema's defaults, pointed at ``patterns``."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(asn=[str(p) for p in patterns], crds_path=str(campaign.crds),
                  crds_context=campaign.context, output_dir="unused")
    for key, value in changes.items():
        if isinstance(value, dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def test_every_exposure_of_the_campaign_is_one_record(campaign, tmp_path):
    config = config_for(campaign, campaign.asn / "*_asn.json", output_dir=str(tmp_path / "out"))
    plan = build_plan(config, environ={})
    assert plan.problems == []
    names = set(campaign.asns)  # products of the campaign's ASN files
    assert set(plan.records) == set(plan.exposures) == names
    tso_types = set(config["tso_exp_types"])
    for name in names:
        spec, rec = campaign.specs[name], plan.records[name]
        tso = modes.is_tso(spec.exp_type, spec.tsovisit, tso_types)
        assert rec.cal_suffix == ("calints" if spec.is_cube else "cal")
        assert rec.science == str(campaign.files[name])
        assert rec.subtracts_background == (bool(spec.backgrounds) and not tso)
        assert rec.resampled == modes.runs_resample(spec.exp_type, spec.is_cube, tso)
        assert rec.refs and all(Path(p).is_file() for p in rec.refs.values())
        assert set(rec.refs) <= {"distortion", "filteroffset", "flat", "photom", "area"}
        assert rec.asn_names["table"] == campaign.asns[name].name
        with pytest.raises(TypeError):
            rec.refs["flat"] = "elsewhere"  # records are read-only
    assert plan.crds.context == campaign.context
    assert plan.cal_files() == [f"{tmp_path}/out/{n}_{plan.records[n].cal_suffix}.fits"
                                for n in plan.records]
    assert len(plan.i2d_files()) == sum(r.resampled for r in plan.records.values()) > 0
    assert plan.problem_files() == []


def test_options_each_job_gets(campaign, tmp_path):
    pattern = campaign.asn / "*_asn.json"
    plan = build_plan(config_for(campaign, pattern, output_dir=str(tmp_path)), environ={})
    with_bkg = next(r for r in plan.records.values() if r.subtracts_background)
    without = next(r for r in plan.records.values() if not r.subtracts_background)
    full = plan.cal_options(with_bkg)
    assert list(full) == ["tso_exp_types", "skip_background", "skip_assign_wcs",
                          "skip_flat_field", "skip_photom", "bkg_sigma", "bkg_maxiters"]
    assert list(plan.cal_options(without)) == ["skip_assign_wcs", "skip_flat_field",
                                               "skip_photom"]
    assert list(plan.background_options()) == ["tso_exp_types", "bkg_sigma", "bkg_maxiters"]
    # with save_bsub the background is subtracted by subtract_background, not calibrate
    saved = build_plan(config_for(campaign, pattern, output_dir=str(tmp_path),
                                  save_bsub=True), environ={})
    assert list(saved.cal_options(saved.records[with_bkg.name])) == list(plan.cal_options(without))
    assert saved.bsub_files() == plan.bsub_files() != []

    # skipping assign_wcs: no _i2d; skipping a step drops its reference types
    skipped = build_plan(config_for(campaign, pattern, output_dir=str(tmp_path),
                                    skip={"assign_wcs": True, "photom": True}), environ={})
    assert skipped.i2d_files() == []
    assert all(set(r.refs) <= {"flat"} for r in skipped.records.values())


def _bare_cache(root, *contexts):
    """A CRDS cache holding nothing but ``contexts`` (the first one operational)."""
    (root / "mappings" / "jwst").mkdir(parents=True)
    for context in contexts:
        (root / "mappings" / "jwst" / context).write_text("")
    (root / "config" / "jwst").mkdir(parents=True)
    (root / "config" / "jwst" / "server_config").write_text(
        repr({"operational_context": contexts[0]}))
    return root


def test_crds_settings_config_then_environment_then_demo(tmp_path, monkeypatch):
    config = {"crds_path": None, "crds_context": None}
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PlanError, match="^no CRDS cache: set CRDS_PATH"):
        crds_settings(config, {})
    demo = _bare_cache(tmp_path / "demo" / "crds", "jwst_0003.pmap")
    assert crds_settings(config, {}).path == str(demo)
    cache = _bare_cache(tmp_path / "env", "jwst_0001.pmap", "jwst_0007.pmap")
    env = {"CRDS_PATH": str(cache), "CRDS_CONTEXT": "jwst_0007.pmap"}
    assert crds_settings(config, env) == crds_settings(
        {"crds_path": str(cache), "crds_context": "jwst_0007.pmap"}, {})
    assert crds_settings(config, env).context == "jwst_0007.pmap"
    given = crds_settings({"crds_path": str(demo), "crds_context": "jwst_0003.pmap"}, env)
    assert (given.path, given.context) == (str(demo), "jwst_0003.pmap")
    assert crds_settings({"crds_path": str(cache), "crds_context": None}, {}).context == (
        "jwst_0001.pmap")  # the cache's operational one


def test_default_context_is_the_caches_operational_one(campaign, tmp_path):
    """One rule for the default context: the cache's server_config, as crds uses it
    offline (the newest pmap only when it has none)."""
    config = {"crds_path": str(campaign.crds), "crds_context": None}
    server_config = campaign.crds / "config" / "jwst" / "server_config"
    operational = ast.literal_eval(server_config.read_text())["operational_context"]
    assert crds_settings(config, {}).context == operational
    # a cache whose server_config names the older context: that one, not the newest pmap
    cache = tmp_path / "crds"
    (cache / "config" / "jwst").mkdir(parents=True)
    (cache / "mappings").mkdir()
    os.symlink(campaign.crds / "mappings" / "jwst", cache / "mappings" / "jwst")
    os.symlink(campaign.crds / "references", cache / "references")
    server_config_text = server_config.read_text().replace(
        repr(operational), repr(campaign.contexts[0]))
    (cache / "config" / "jwst" / "server_config").write_text(server_config_text)
    assert campaign.contexts[0] != campaign.contexts[-1]
    older = crds_settings({"crds_path": str(cache), "crds_context": None}, {})
    assert older.context == campaign.contexts[0]


@pytest.fixture
def broken(campaign, tmp_path):
    """ASN files for every planning problem, beside two good exposures (one ASN each)."""
    nrc = campaign.first("NRC_IMAGE")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    src = campaign.files[nrc]
    cut = inputs / "cut_rate.fits"
    cut.write_bytes(src.read_bytes()[:1000])  # ends inside the primary header
    # without their ASDF tree, which would restore the keywords
    nokey, spec, noflat = (
        rewrite_product(src, inputs / f"{name}_rate.fits", primary=change, keep_asdf=False)
        for name, change in (("nokey", {"DETECTOR": None}), ("spec", {"EXP_TYPE": "NRC_WFSS"}),
                             ("noflat", {"FILTER": "F090W"})))
    asns = [
        write_asn(inputs / "cut_asn.json", {"cut": cut}),
        write_asn(inputs / "nokey_asn.json", {"nokey": nokey}),
        write_asn(inputs / "spec_asn.json", {"spec": spec}),
        write_asn(inputs / "noflat_asn.json", {"noflat": noflat}),
        write_asn(inputs / "gone_asn.json", {"gone": inputs / "gone_rate.fits",
                                             "withgone": inputs / "alsogone_rate.fits"}),
        write_asn(inputs / "twice1_asn.json", {"twice": src}),
        write_asn(inputs / "twice2_asn.json", {"twice": src}),
    ]
    (inputs / "bad_asn.json").write_text('{"products": [')
    asns.append(inputs / "bad_asn.json")
    good = [campaign.asns[nrc], campaign.asns[campaign.first("MIR_IMAGE")]]
    return inputs, asns, good


EXPECTED = {
    "cut": r"^cut: cannot read the header of .*cut_rate\.fits: file ends inside a FITS header$",
    "nokey": r"^nokey: keyword DETECTOR missing from the primary header and the ASDF "
             r"metadata of nokey_rate\.fits$",
    "spec": r"^spec: EXP_TYPE 'NRC_WFSS' is not a supported imaging type",
    "noflat": r"^noflat: no (FLAT|FILTEROFFSET|PHOTOM) reference: ",
    "gone": r"^gone: member .*gone_rate\.fits listed in gone_asn\.json does not exist$",
    "withgone": r"^withgone: member .*alsogone_rate\.fits listed in gone_asn\.json does not",
    "twice": r"^twice: product name given by both .*twice1_asn\.json and .*twice2_asn\.json$",
    "bad_asn.json": r"^/.*bad_asn\.json: malformed ASN JSON \(line 1 column",
}


def test_each_problem_is_kept_to_its_exposure_or_asn(campaign, broken, tmp_path):
    inputs, asns, good = broken
    config = config_for(campaign, *good, *asns, output_dir=str(tmp_path / "out"))
    plan = build_plan(config, environ={})
    problems = {rec.name: rec.problem for rec in plan.problems}
    assert set(problems) == set(EXPECTED)
    for name, pattern in EXPECTED.items():
        assert "\n" not in problems[name]
        assert re.search(pattern, problems[name]), (name, problems[name])
    # the good exposures are planned as they are alone
    alone = build_plan(config_for(campaign, *good, output_dir=str(tmp_path / "out2")),
                       environ={})
    assert plan.exposures == alone.exposures and len(alone.exposures) == 2
    for name in alone.exposures:
        assert plan.records[name].refs == alone.records[name].refs
    # a problem makes no product target, one problem target each
    assert all(Path(f).name.split("_")[0] not in problems for f in plan.cal_files())
    assert sorted(Path(f).name for f in plan.problem_files()) == sorted(EXPECTED)
    # the table: one line per problem, exposure and ASN columns
    table = problem_table(plan.problems).splitlines()
    assert len(table) == 1 + len(EXPECTED)
    assert table[0].split() == ["exposure", "ASN", "problem"]
    row = next(line for line in table if line.startswith("-"))
    assert row.split()[1] == "bad_asn.json" and "malformed ASN JSON" in row
    row = next(line for line in table if line.startswith("spec "))
    assert row.split()[1] == "spec_asn.json"


def test_problems_are_remembered_and_mended_files_planned_again(campaign, broken, tmp_path):
    inputs, asns, good = broken
    out = tmp_path / "out"
    config = config_for(campaign, *good, *asns, output_dir=str(out))
    first = build_plan(config, environ={})
    cache = out / ".snakewebb" / "exposure_table.pkl"
    assert cache.is_file()
    # a failed reference lookup is not cached: only good keyword sets are
    refs_cache = next((out / ".snakewebb").glob("references_*.pkl"))
    assert len(pickle.loads(refs_cache.read_bytes())["refs"]) >= 2
    again = build_plan(config, environ={})
    assert [r.problem for r in again.problems] == [r.problem for r in first.problems]
    # the missing member appears: that product is planned, the rest stays as it was
    src = campaign.files[campaign.first("NRC_IMAGE")]
    (inputs / "gone_rate.fits").write_bytes(src.read_bytes())
    mended = build_plan(config, environ={})
    assert "gone" in mended.exposures and "withgone" not in mended.exposures
    assert len(mended.problems) == len(first.problems) - 1


def test_fail_at_planning_keeps_the_old_one_exception(campaign, broken, tmp_path):
    """exposure_table without a problems list raises the first problem (the API of old)."""
    from snakewebb.exposures import exposure_table

    inputs, asns, good = broken
    with pytest.raises(SnakewebbError, match=r"^(cut|nokey|spec|gone|withgone|twice|/.*bad_asn)"):
        exposure_table([str(p) for p in (*good, *asns)])


def test_campaign_level_problems_stop_planning(campaign, tmp_path):
    pattern = campaign.asn / "*_asn.json"
    with pytest.raises(SnakewebbError, match=r"has no context jwst_9999\.pmap$"):
        build_plan(config_for(campaign, pattern, crds_context="jwst_9999.pmap",
                              output_dir=str(tmp_path)), environ={})
    with pytest.raises(SnakewebbError, match=r"nowhere/\*_asn\.json: ASN pattern matches no file"):
        build_plan(config_for(campaign, tmp_path / "nowhere" / "*_asn.json",
                              output_dir=str(tmp_path)), environ={})


def _linked_cache(campaign, root, replace=None):
    """A CRDS cache of links to the campaign's; ``replace``: {file name: bytes}."""
    import shutil

    shutil.copytree(campaign.crds / "mappings", root / "mappings")
    shutil.copytree(campaign.crds / "config", root / "config")
    for ref in (campaign.crds / "references").rglob("*"):
        if ref.is_file():
            target = root / ref.relative_to(campaign.crds)
            target.parent.mkdir(parents=True, exist_ok=True)
            if replace and ref.name in replace:
                target.write_bytes(replace[ref.name])
            else:
                target.symlink_to(ref)
    return root


def _with_checksums(path, corrupt):
    """The FITS file at ``path`` with CHECKSUM/DATASUM, one data byte flipped if ``corrupt``."""
    import io

    with fits.open(path) as hdul:
        buffer = io.BytesIO()
        fits.HDUList([h.copy() for h in hdul]).writeto(buffer, checksum=True)
    data = bytearray(buffer.getvalue())
    if corrupt:
        data[-4000] ^= 0x01
    return bytes(data)


def test_reference_not_matching_its_checksums_is_a_problem_of_its_exposures(
        campaign, tmp_path):
    tso = campaign.first("NRC_TSIMAGE")
    nrc = campaign.first("NRC_IMAGE", cube=False)
    alone = build_plan(config_for(campaign, campaign.asns[tso], campaign.asns[nrc],
                                  output_dir=str(tmp_path / "o1")), environ={})
    flat = Path(alone.records[tso].refs["flat"])
    photom = Path(alone.records[nrc].refs["photom"])
    assert flat != Path(alone.records[nrc].refs["flat"])
    cache = _linked_cache(campaign, tmp_path / "crds", replace={
        flat.name: _with_checksums(flat, corrupt=True),
        photom.name: _with_checksums(photom, corrupt=False)})
    config = config_for(campaign, campaign.asns[tso], campaign.asns[nrc],
                        output_dir=str(tmp_path / "o2"), crds_path=str(cache))
    plan = build_plan(config, environ={})
    assert plan.exposures == [nrc]  # a good checksum is no problem
    assert re.fullmatch(rf"{tso}: no FLAT reference: {flat.name} in the CRDS cache: content "
                        r"does not match its checksums \(Checksum verification failed for HDU "
                        r".+\)", plan.records[tso].problem), plan.records[tso].problem
    # the verdict is kept: a second plan does not read the files again
    verdicts = tmp_path / "o2" / ".snakewebb" / "reference_checksums.pkl"
    stamp = verdicts.stat().st_mtime_ns
    assert build_plan(config, environ={}).records[tso].problem == plan.records[tso].problem
    assert verdicts.stat().st_mtime_ns == stamp


def test_jobs_that_unlock_others_go_first(campaign, tmp_path):
    """Priorities: a ready resample, then a calibrate that unlocks one (or a _bsub that
    unlocks a calibrate), then the calibrate jobs whose product is final."""
    plan = build_plan(config_for(campaign, campaign.asn / "*_asn.json",
                                 output_dir=str(tmp_path)), environ={})
    chained = next(n for n, r in plan.records.items() if r.resampled)
    final = next(n for n, r in plan.records.items() if not r.resampled)
    assert (plan.priority(chained, "resample_exposure")
            > plan.priority(chained, "calibrate") == plan.priority(final, "subtract_background")
            > plan.priority(final, "calibrate"))
    # the mode is carried for reports and resources
    assert set(plan.records[final].mode) >= {"instrument", "exp_type", "is_cube", "tso"}


@pytest.mark.parametrize("save_bsub", [False, True])
def test_what_each_job_reads(campaign, tmp_path, save_bsub):
    """The workflow's input functions are the plan's: science or its _bsub, background
    members where subtracted here, reference files; a product the plan does not make
    is a one-line PlanError naming the exposure."""
    out = str(tmp_path / "out")
    plan = build_plan(config_for(campaign, campaign.asn / "*_asn.json", output_dir=out,
                                 save_bsub=save_bsub), environ={})
    with_bkg = campaign.first("MIR_IMAGE", cube=False, backgrounds=True)
    tso = campaign.first("NRC_TSIMAGE")
    rec = plan.records[with_bkg]
    inputs = plan.cal_inputs(with_bkg, rec.cal_suffix)
    assert {k: inputs[k] for k in rec.refs} == dict(rec.refs)
    if save_bsub:
        assert inputs["science"] == f"{out}/{with_bkg}_{rec.bsub_suffix}.fits"
        assert "backgrounds" not in inputs
        assert "bkg_sigma" not in plan.calibrate_params(with_bkg, rec.cal_suffix)
    else:
        assert inputs["science"] == rec.science and inputs["backgrounds"] == list(rec.backgrounds)
        assert "bkg_sigma" in plan.calibrate_params(with_bkg, rec.cal_suffix)
    assert plan.bsub_inputs(with_bkg, rec.bsub_suffix)["backgrounds"] == list(rec.backgrounds)
    assert plan.resample_inputs(with_bkg) == {"cal": f"{out}/{with_bkg}_cal.fits"}

    for call, message in [
        (lambda: plan.cal_inputs(tso, "cal"), f"{tso}: its calibrated product is _calints"),
        (lambda: plan.resample_inputs(tso), f"{tso}: no _i2d"),
        (lambda: plan.bsub_inputs(tso, "bsubints"), f"{tso}: no _bsubints product"),
        (lambda: plan.cal_inputs("jw0_nope", "cal"), "jw0_nope: not an exposure"),
    ]:
        with pytest.raises(PlanError, match=re.escape(message)) as err:
            call()
        assert "\n" not in str(err.value)


def test_job_resources_grow_with_the_exposure(campaign, tmp_path):
    plan = build_plan(config_for(campaign, campaign.asn / "*_asn.json",
                                 output_dir=str(tmp_path)), environ={})
    full = campaign.first("NRC_IMAGE", cube=False)
    tso = campaign.first("NRC_TSIMAGE")
    assert (plan.job_resources(full, "calibrate")["mem_mb"]
            > plan.job_resources(tso, "calibrate")["mem_mb"])
    assert (plan.job_resources(full, "calibrate", attempt=2)["mem_mb"]
            == 2 * plan.job_resources(full, "calibrate")["mem_mb"])
    assert plan.job_resources(full, "resample_exposure")["runtime"] >= 2
