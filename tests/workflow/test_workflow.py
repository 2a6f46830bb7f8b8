"""The Snakemake workflow, run for real on a small part of the simulated campaign.

Which jobs ran is read two ways: from a dry run's job list (the ``output:`` lines),
and after real runs from which products were (re)written (their mtime_ns).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from helpers.inputs import rewrite_product, write_asn
from helpers.workflow import (
    REPO,
    SNAKEMAKE,
    campaign_config,
    exposures_of,
    planned_outputs,
    snakemake,
)

pytestmark = pytest.mark.workflow

#: ASN files of the campaign the workflow tests use: every kind of exposure, small
#: detectors where possible. 00001_nrca1 is the one whose FLAT the second context replaces.
SELECTION = (
    "*_jw01234001001_02101_00001_nrca1_image2_asn.json",      # NIRCam full frame
    "*_jw01234003001_02101_00001_mirimage_image2_asn.json",   # MIRI with a background member
    "*-o006_*_asn.json",                                      # NIRCam TSO cube
    "*-o008_*_asn.json",                                      # NIRCam SUB160 (two dithers)
)


def stamps(directory):
    return {p.name: p.stat().st_mtime_ns for p in Path(directory).glob("*.fits")}


def selected(campaign):
    """Exposure name -> spec of the ASN files in SELECTION."""
    return exposures_of(campaign, SELECTION)


def expected_products(specs, *, save_bsub):
    """What `all` must make, from the simulated specs (not from the workflow's table)."""
    out = set()
    for name, spec in specs.items():
        tso = spec.tsovisit or spec.exp_type == "NRC_TSIMAGE"
        out.add(f"{name}_{'calints' if spec.is_cube else 'cal'}.fits")
        if not tso and not spec.is_cube and spec.exp_type != "FGS_IMAGE":
            out.add(f"{name}_i2d.fits")
        if save_bsub and spec.backgrounds and not tso:
            out.add(f"{name}_{'bsubints' if spec.is_cube else 'bsub'}.fits")
    return out


@pytest.fixture(scope="module")
def full_run(campaign, tmp_path_factory):
    """`snakemake all` with save_bsub under the first context, once for the module."""
    workdir = tmp_path_factory.mktemp("workflow")
    config = campaign_config(campaign, campaign.contexts[0], *SELECTION,
                             extra=("save_bsub=True",))
    result = snakemake(workdir, "all", config=config)
    return workdir, config, result


def test_full_run_makes_every_product_with_logs_and_benchmarks(campaign, full_run):
    workdir, _, _ = full_run
    specs = selected(campaign)
    assert len(specs) >= 5
    made = set(stamps(workdir / "results"))
    assert made == expected_products(specs, save_bsub=True)
    for product in made:
        stem = product[: -len(".fits")]
        rule = ("resample_exposure" if stem.endswith("_i2d") else
                "subtract_background" if "_bsub" in stem else "calibrate")
        name = stem.rsplit("_", 1)[0] if rule == "resample_exposure" else stem
        assert (workdir / "logs" / rule / f"{name}.log").is_file(), product
        assert (workdir / "benchmarks" / rule / f"{name}.tsv").is_file(), product


def test_products_record_the_software_revision_like_the_official_cal_vcs(full_run):
    """CAL_VCS: the commit of the checkout the jobs imported snakewebb from."""
    workdir, _, _ = full_run
    for product in sorted((workdir / "results").glob("*.fits")):
        assert re.fullmatch(r"[0-9a-f]{40}", fits.getval(product, "CAL_VCS")), product


def test_products_name_the_asn_and_pool_they_came_from(campaign, full_run):
    """ASNTABLE/ASNPOOL, as the official calwebb_image2 records them (_bsub, _cal, _i2d)."""
    workdir, _, _ = full_run
    products = sorted((workdir / "results").glob("*.fits"))
    assert products
    for product in products:
        name = product.name.rsplit("_", 1)[0]
        asn = campaign.asns[name]
        assert fits.getval(product, "ASNTABLE") == asn.name, product
        assert fits.getval(product, "ASNPOOL") == json.loads(asn.read_text())["asn_pool"]


def test_source_revision_reads_head_branch_packed_refs_and_release(tmp_path):
    from snakewebb.steps.provenance import source_revision

    commit, other = "1234567890abcdef1234567890abcdef12345678", "f" * 40
    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(commit + "\n")
    assert source_revision(tmp_path / "repo") == commit
    (git / "refs" / "heads" / "main").unlink()     # after `git gc`: only packed-refs
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{commit} refs/heads/main\n")
    assert source_revision(tmp_path / "repo") == commit
    (git / "HEAD").write_text(other + "\n")       # detached HEAD
    assert source_revision(tmp_path / "repo") == other
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    linked = git / "worktrees" / "wt"
    linked.mkdir(parents=True)
    (linked / "HEAD").write_text("ref: refs/heads/main\n")
    (linked / "commondir").write_text("../..\n")
    (worktree / ".git").write_text(f"gitdir: {linked}\n")
    assert source_revision(worktree) == commit
    assert source_revision(tmp_path / "not_a_checkout") == "RELEASE"


def test_tso_exposure_gets_calints_and_no_i2d(campaign, full_run):
    workdir, _, _ = full_run
    tso = campaign.first("NRC_TSIMAGE")
    assert (workdir / "results" / f"{tso}_calints.fits").is_file()
    assert not (workdir / "results" / f"{tso}_i2d.fits").exists()
    assert not (workdir / "results" / f"{tso}_cal.fits").exists()
    with fits.open(workdir / "results" / f"{tso}_calints.fits") as hdul:
        assert hdul["SCI"].data.ndim == 3


def test_save_bsub_yields_bsub_and_cal_starts_from_it(campaign, full_run):
    workdir, _, _ = full_run
    name = campaign.first("MIR_IMAGE", cube=False, backgrounds=True)
    bsub = workdir / "results" / f"{name}_bsub.fits"
    assert bsub.is_file()
    assert fits.getval(bsub, "S_BKDSUB") == "COMPLETE"
    cal = workdir / "results" / f"{name}_cal.fits"
    assert fits.getval(cal, "S_BKDSUB") == "COMPLETE"
    assert (workdir / "logs" / "subtract_background" / f"{name}_bsub.log").is_file()


def _flats_only_in_newest_rmap(crds):
    """FLAT files named by an instrument's newest flat rmap and not by its older ones."""
    rmaps = {}
    for rmap in sorted((crds / "mappings" / "jwst").glob("jwst_*_flat_*.rmap")):
        rmaps.setdefault(rmap.name.split("_")[1], []).append(rmap)
    found = []
    for versions in rmaps.values():
        if len(versions) < 2:
            continue
        names = [set(re.findall(r"jwst_\w+?_flat_\d+\.fits", v.read_text())) for v in versions]
        for name in names[-1] - set().union(*names[:-1]):
            found.extend((crds / "references").rglob(name))
    return found


def test_unchanged_context_and_unrelated_changes_rerun_nothing(campaign, full_run):
    workdir, config, _ = full_run
    before = stamps(workdir / "results")
    # new mtimes on things that are not inputs of any job: the ASN files, and the
    # FLAT that only the second context selects
    for asn in campaign.asn.glob("*_asn.json"):
        os.utime(asn)
    new_flats = _flats_only_in_newest_rmap(campaign.crds)
    assert new_flats
    for flat in new_flats:
        os.utime(flat)
    result = snakemake(workdir, "all", config=config)
    assert "Nothing to be done" in result.stdout + result.stderr, result.stderr
    assert stamps(workdir / "results") == before


def test_skipping_assign_wcs_plans_no_i2d(campaign, tmp_path):
    """No WCS, nothing to resample: the _cal jobs only (not _i2d jobs that must fail)."""
    configfile = tmp_path / "skip_wcs.yaml"
    configfile.write_text("skip:\n  assign_wcs: true\n")
    config = campaign_config(campaign, campaign.contexts[-1], *SELECTION)
    result = snakemake(tmp_path, "-n", "all", "--configfile", str(configfile), config=config)
    planned = planned_outputs(result)
    assert planned and all(name.endswith(("_cal.fits", "_calints.fits")) for name in planned)


def test_nested_config_on_the_command_line_reruns_only_what_it_changes(campaign, full_run):
    """`--config resample={pixfrac: 0.8}` (Snakemake reads the 0.8 as text) is taken as
    the number: every _i2d is planned again and nothing else."""
    workdir, config, _ = full_run
    result = snakemake(workdir, "all", "--dry-run",
                       config=(*config, "resample={pixfrac: 0.8, rotation: null}"))
    planned = planned_outputs(result)
    assert planned == {n for n in stamps(workdir / "results") if n.endswith("_i2d.fits")}
    assert planned


@pytest.mark.parametrize("setting", ["background={sigma: 2.5}", "skip={background: true}"])
def test_background_settings_rerun_only_exposures_with_background(campaign, full_run, setting):
    """Calibrate jobs given no background members write the same product whatever the
    background settings: only exposures whose background is subtracted are planned."""
    workdir, config, _ = full_run
    with_background = {name for name, spec in selected(campaign).items()
                       if spec.backgrounds and not spec.is_cube
                       and not (spec.tsovisit or spec.exp_type == "NRC_TSIMAGE")}
    assert with_background and len(with_background) < len(selected(campaign))
    planned = planned_outputs(snakemake(workdir, "all", "--dry-run",
                                        config=(*config, setting)))
    assert planned and {name.rsplit("_", 1)[0] for name in planned} == with_background


@pytest.mark.parametrize("setting, expected", [
    (("bogus=1",), r"unknown key 'bogus' \(known: asn, output_dir, .+\)"),
    (("resample={pixfrac: -0.5}",),
     r"resample\.pixfrac: -0\.5 is less than or equal to the minimum of 0"),
    (("save_bsub=maybe",), r"save_bsub: 'maybe' is not of type 'boolean'"),
    (("asn=[]",), r"asn: \[\] should be non-empty"),     # was a pandas TypeError traceback
    (("skip={flatfield: true}",),
     r"unknown key 'flatfield' in skip \(known: background, assign_wcs, .+\)"),
])
def test_invalid_configuration_is_one_line_naming_the_key(campaign, tmp_path, setting,
                                                          expected):
    config = campaign_config(campaign, campaign.contexts[0], SELECTION[0], extra=setting)
    result = snakemake(tmp_path, "all", "--dry-run", config=config, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert re.search(rf"^invalid configuration: {expected}$", output, re.M), output
    assert "Failed validating" not in output and "On instance" not in output, output


def test_invalid_configfile_value_is_one_line(campaign, tmp_path):
    configfile = tmp_path / "mine.yaml"
    configfile.write_text("resample:\n  kernel: squares\n  output_shape: [100]\n")
    config = campaign_config(campaign, campaign.contexts[0], SELECTION[0])
    result = snakemake(tmp_path, "all", "--dry-run", "--configfile", str(configfile),
                       config=config, check=False)
    output = result.stdout + result.stderr
    assert re.search(r"^invalid configuration: resample\.kernel: 'squares' is not one of "
                     r"\[.+\]; resample\.output_shape: \[100\] is too short$", output,
                     re.M), output


def test_context_switch_dry_run_lists_exactly_the_changed_flat_jobs(campaign, full_run):
    from snakewebb.simulate.crds_cache import new_flat_key

    workdir, _, _ = full_run
    old, new = campaign.contexts[:2]
    instrument, detector, filt, pupil = new_flat_key(list(campaign.specs.values()))
    affected = {name for name, s in selected(campaign).items()
                if (s.instrument, s.detector, s.filter, s.pupil)
                == (instrument, detector, filt, pupil)}
    assert affected and len(affected) < len(selected(campaign))
    config = campaign_config(campaign, new, *SELECTION, extra=("save_bsub=True",))
    result = snakemake(workdir, "all", "--dry-run", config=config)
    expected = {f"{n}_cal.fits" for n in affected} | {f"{n}_i2d.fits" for n in affected}
    assert planned_outputs(result) == expected
    # and the old context is still up to date
    again = snakemake(workdir, "all", "--dry-run",
                      config=campaign_config(campaign, old, *SELECTION,
                                             extra=("save_bsub=True",)))
    assert planned_outputs(again) == set()


@pytest.mark.slow
def test_context_switch_run_rewrites_only_the_affected_products(campaign, full_run):
    """Last in this module: it moves the products to the second context."""
    workdir, _, _ = full_run
    new = campaign.contexts[1]
    before = stamps(workdir / "results")
    config = campaign_config(campaign, new, *SELECTION, extra=("save_bsub=True",))
    planned = planned_outputs(snakemake(workdir, "all", "--dry-run", config=config))
    snakemake(workdir, "all", config=config)
    after = stamps(workdir / "results")
    assert after.keys() == before.keys()
    rewritten = {name for name in after if after[name] != before[name]}
    assert rewritten == planned and planned
    cal = next(workdir / "results" / n for n in rewritten if n.endswith("_cal.fits"))
    assert fits.getval(cal, "CRDS_CTX") == new
    assert fits.getval(cal, "R_FLAT") != "N/A"
    untouched = next(workdir / "results" / n for n in after
                     if n.endswith("_cal.fits") and n not in rewritten)
    assert snakemake(workdir, "all", "--dry-run", config=config).stdout.count("output:") == 0
    assert fits.getval(untouched, "CRDS_CTX") == campaign.contexts[0]


def test_input_functions_record_their_parameters_for_snakemake(campaign, tmp_path):
    """Snakemake reads the input functions' parameters from the function (it would
    otherwise call inspect.signature twice per job); what they return is unchanged."""
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(f"""
import json
from snakemake.common import FUNC_OVERWRITE_PARAMS_ATTR
from snakemake.iocontainers import Wildcards

from snakemake.utils import validate

configfile: {str(REPO / "config" / "config.yaml")!r}
validate(config, {str(REPO / "config" / "config.schema.yaml")!r}, set_default=True)
include: {str(REPO / "rules" / "common.smk")!r}

functions = (cal_input, cal_options, asn_names, bsub_input, resample_input,
             problem_of, calibrate_priority, calibrate_mem_mb, calibrate_runtime)
name = EXPOSURES[0]
json.dump({{"params": {{f.__name__: list(getattr(f, FUNC_OVERWRITE_PARAMS_ATTR))
                        for f in functions}},
           "cal_input": cal_input(Wildcards(fromdict={{
               "exposure": name, "calsuffix": PLAN.records[name].cal_suffix}})),
           "refs": dict(PLAN.records[name].refs)}},
          open("recorded.json", "w"))

rule nothing:
    output: "never.txt"
    shell: "true"
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    config = campaign_config(campaign, campaign.contexts[0], SELECTION[0])
    result = subprocess.run([SNAKEMAKE, "--snakefile", str(snakefile), "--directory",
                             str(tmp_path), "--cores", "1", "--dry-run", "--config", *config],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    recorded = json.loads((tmp_path / "recorded.json").read_text())
    names = ("cal_inputs", "calibrate_params", "asn_names", "bsub_inputs",
             "resample_inputs", "problem_of", "calibrate_priority", "calibrate_runtime")
    assert recorded["params"] == {**{name: ["wildcards"] for name in names},
                                  "calibrate_mem_mb": ["wildcards", "attempt"]}
    inputs = recorded["cal_input"]
    assert inputs["science"].endswith(("_rate.fits", "_rateints.fits"))
    assert {k: v for k, v in inputs.items() if k not in ("science", "backgrounds")} \
        == recorded["refs"] and recorded["refs"]


# ------------------------------------------------------------------ failures


def test_one_failing_exposure_does_not_stop_the_others(campaign, tmp_path):
    tso = campaign.first("NRC_TSIMAGE")
    good = campaign.files[tso]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    broken = inputs / "broken_rateints.fits"
    rewrite_product(good, broken, sci_delete=("V2_REF",), keep_asdf=False)
    write_asn(inputs / "broken_asn.json", {"broken": broken.name}, pool=None)
    asn = json.dumps([str(inputs / "broken_asn.json"),
                      str(campaign.asns[tso])])
    result = snakemake(tmp_path, "all", "--keep-going", check=False,
                       config=(f"asn={asn}", f"crds_path={campaign.crds}",
                               f"crds_context={campaign.contexts[0]}"))
    assert result.returncode != 0
    assert (tmp_path / "results" / f"{tso}_calints.fits").is_file()
    assert not list((tmp_path / "results").glob("broken*"))
    message = "broken: missing pointing keyword(s) V2_REF"
    assert f"ERROR {message}" in result.stderr
    assert message in (tmp_path / "logs" / "calibrate" / "broken_calints.log").read_text()
    assert "Traceback" not in result.stderr


def _graph_error(campaign, tmp_path, asn_file):
    """With on_plan_error: fail, a planning problem stops the run before any job
    (the default makes it a failing job of its own: tests/workflow/test_bad_input_workflow.py)."""
    config = (f"asn={json.dumps([str(asn_file)])}", f"crds_path={campaign.crds}",
              f"crds_context={campaign.contexts[0]}", "on_plan_error=fail")
    result = snakemake(tmp_path, "all", "--dry-run", config=config, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr   # a dry run logs to stdout
    assert "Traceback" not in output
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").glob("*.fits"))
    return output


def test_unresolvable_reference_fails_at_graph_time_naming_exposure_and_reftype(
        campaign, tmp_path):
    name = campaign.first("NRC_IMAGE")
    odd = tmp_path / "odd_rate.fits"
    rewrite_product(campaign.files[name], odd, primary={"FILTER": "F090W"}, keep_asdf=False)
    asn = write_asn(tmp_path / "odd_asn.json", {"odd": odd.name}, pool=None)
    stderr = _graph_error(campaign, tmp_path, asn)
    assert re.search(r"^odd: no (FLAT|FILTEROFFSET|PHOTOM) reference: .+$", stderr, re.M), stderr


def test_bad_asn_and_unknown_exp_type_fail_at_graph_time_in_one_line(campaign, tmp_path):
    bad = tmp_path / "bad_asn.json"
    bad.write_text('{"products": [')
    stderr = _graph_error(campaign, tmp_path, bad)
    assert re.search(rf"^{re.escape(str(bad))}: malformed ASN JSON .+$", stderr, re.M), stderr

    name = campaign.first("NRC_IMAGE")
    wfss = tmp_path / "wfss_rate.fits"
    rewrite_product(campaign.files[name], wfss, primary={"EXP_TYPE": "NRC_WFSS"},
                    keep_asdf=False)
    asn = write_asn(tmp_path / "wfss_asn.json", {"wfss": wfss.name}, pool=None)
    stderr = _graph_error(campaign, tmp_path, asn)
    assert re.search(r"^wfss: EXP_TYPE 'NRC_WFSS' is not a supported imaging type", stderr,
                     re.M), stderr


def test_no_crds_cache_anywhere_says_what_to_set(campaign, tmp_path):
    """Neither CRDS_PATH nor crds_path, and no demo cache here: one line naming CRDS_PATH."""
    asn = json.dumps([str(campaign.asn / SELECTION[0])])
    result = snakemake(tmp_path, "all", "--dry-run", config=(f"asn={asn}",), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert re.search(r"^no CRDS cache: set CRDS_PATH .+$", output, re.M), output


# ------------------------------------------------------------------ interrupted jobs


_SIGTERM_MIDWAY = """
import os, signal, sys, time
from types import SimpleNamespace
sys.path.insert(0, {scripts!r})
import _adapter
from snakewebb.io import atomic_save

class HalfWritten:
    meta = SimpleNamespace(filename=None)
    def to_fits(self, handle, overwrite=False):
        handle.write(b"SIMPLE  =" + b" " * 2871)
        handle.flush()
        os.kill(os.getpid(), signal.SIGTERM)   # Snakemake/SLURM cancelling the job
        time.sleep(30)

class Named(list):
    def items(self):
        return dict(exposure="expo").items() if self is WILDCARDS else {{}}.items()
    exposure = "expo"

WILDCARDS = Named()
snakemake = SimpleNamespace(log=[{log!r}], output=[{out!r}], rule="calibrate", input=Named(),
                            params=Named(), wildcards=WILDCARDS,
                            config={{"crds_context": "jwst_0001.pmap"}})
_adapter.run(snakemake, lambda: atomic_save(HalfWritten(), {out!r}))
"""


def test_job_terminated_while_writing_leaves_no_partial_file(tmp_path):
    """SIGTERM in the middle of writing a product: the pending file is deleted, the
    job's log and stderr say so in one line naming the exposure."""
    out, log = tmp_path / "expo_cal.fits", tmp_path / "expo_cal.log"
    script = _SIGTERM_MIDWAY.format(scripts=str(REPO / "scripts"), log=str(log), out=str(out))
    workdir = tmp_path.parent / f"{tmp_path.name}_workdir"  # its .snakemake, apart
    workdir.mkdir()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, cwd=workdir)
    assert result.returncode == 1, result.stderr
    assert os.listdir(tmp_path) == [log.name]
    assert "ERROR expo: terminated by signal 15; no product written" in result.stderr
    assert "Traceback" not in result.stderr
    assert "expo: terminated by signal 15" in log.read_text()


def test_rerun_clears_what_a_killed_job_left_half_written(campaign, tmp_path):
    """A job killed outright (SIGKILL, lost node) cannot clean up: its next run does."""
    tso = campaign.first("NRC_TSIMAGE")
    results = tmp_path / "results"
    results.mkdir()
    stale = results / f".{tso}_calints.fits.k1ll3d.part"
    stale.write_bytes(b"SIMPLE  =" + b" " * 2871)
    config = (f"asn={json.dumps([str(campaign.asns[tso])])}", f"crds_path={campaign.crds}",
              f"crds_context={campaign.contexts[0]}")
    snakemake(tmp_path, "all_cal", config=config)
    assert sorted(p.name for p in results.iterdir() if p.name != ".snakewebb") \
        == [f"{tso}_calints.fits"]


def test_product_finished_just_before_snakemake_was_killed_is_not_made_again(campaign,
                                                                              tmp_path):
    """Snakemake killed after a job wrote its product but before it recorded the job's
    end (its incomplete mark stays): the same command reinstates the product as the job
    left it (same file, same write date) instead of processing the exposure again, and
    records the job as finished (a third run has nothing to do)."""
    from base64 import urlsafe_b64encode

    tso = campaign.first("NRC_TSIMAGE")
    config = (f"asn={json.dumps([str(campaign.asns[tso])])}", f"crds_path={campaign.crds}",
              f"crds_context={campaign.contexts[0]}")
    snakemake(tmp_path, "all_cal", config=config)
    product = tmp_path / "results" / f"{tso}_calints.fits"
    before = (product.stat().st_ino, fits.getval(product, "DATE"))
    # what Snakemake leaves when killed in that moment: the job's mark
    marks = tmp_path / ".snakemake" / "incomplete"
    marks.mkdir(parents=True, exist_ok=True)
    key = urlsafe_b64encode(f"results/{tso}_calints.fits".encode()).decode()
    (marks / key).write_text('{"external_jobid": null}')

    result = snakemake(tmp_path, "all_cal", config=config)
    assert "1 product(s) finished just before the last run was killed" in result.stderr
    assert re.search(rf"^(?:local)?rule calibrate:\n(?:\s+.*\n)*?\s+wildcards: exposure={tso}",
                     result.stdout + result.stderr, re.M)
    assert (product.stat().st_ino, fits.getval(product, "DATE")) == before
    log = (tmp_path / "logs" / "calibrate" / f"{tso}_calints.log").read_text()
    assert "reinstated as the interrupted run finished it" in log
    assert list(marks.iterdir()) == []
    assert not list((tmp_path / "results").glob(".*.salvage"))
    again = snakemake(tmp_path, "all_cal", "--dry-run", config=config)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_changed_input_after_the_kill_processes_the_exposure_again(campaign, tmp_path):
    """The same moment of a kill, but the job's input changed since: the salvaged
    product is not what the job would make, so it is discarded and the job runs."""
    from base64 import urlsafe_b64encode

    tso = campaign.first("NRC_TSIMAGE")
    config = (f"asn={json.dumps([str(campaign.asns[tso])])}", f"crds_path={campaign.crds}",
              f"crds_context={campaign.contexts[0]}", "skip={flat_field: true}")
    snakemake(tmp_path, "all_cal", config=config)
    product = tmp_path / "results" / f"{tso}_calints.fits"
    date = fits.getval(product, "DATE")
    marks = tmp_path / ".snakemake" / "incomplete"
    marks.mkdir(parents=True, exist_ok=True)
    key = urlsafe_b64encode(f"results/{tso}_calints.fits".encode()).decode()
    (marks / key).write_text('{"external_jobid": null}')

    changed = config[:-1] + ("skip={flat_field: false}",)
    snakemake(tmp_path, "all_cal", config=changed)
    assert fits.getval(product, "DATE") != date
    assert fits.getval(product, "S_FLAT") == "COMPLETE"
    assert not list((tmp_path / "results").glob(".*.salvage"))


@pytest.mark.parametrize("context", ["jwst-operational", "jwst-edit"])
def test_symbolic_context_in_config_is_accepted(campaign, tmp_path, context):
    """docs/workflow.md: crds_context may name jwst-operational / jwst-edit (resolved from
    the cache's server_config), in the config as in CRDS_CONTEXT."""
    config = campaign_config(campaign, context, SELECTION[0])
    result = snakemake(tmp_path, "all_cal", "--dry-run", config=config)
    assert planned_outputs(result), result.stdout
