"""The workflow on a real SLURM through snakemake-executor-plugin-slurm.

Needs a SLURM controller that answers (``.ci/slurm-up`` starts a single-node one as
root; CI runs it) and the executor plugin in ``.venv-slurm`` (``make install-slurm``):
the plugin stays out of ``.venv`` because it makes every ``snakemake`` call run
``scontrol show config``. Without either, every test here is skipped, saying which.
That a job went through SLURM is read from the SLURM job ids the plugin printed,
checked with ``sacct`` (accounting on) or ``squeue`` (finished jobs kept MinJobAge).
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from helpers.workflow import end_leftovers

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

REPO = Path(__file__).resolve().parents[2]
LOCAL_SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SLURM_SNAKEMAKE = REPO / ".venv-slurm" / "bin" / "snakemake"
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")
#: Demo exposures for the one-job-per-Snakemake-job profile: NIRCam SUB160 (two
#: dithers: _cal and _i2d) and a NIRCam TSO cube (_calints).
DEMO_ASNS = ("*-o008_*_asn.json", "*-o006_*_asn.json")


def _skip_reason():
    if not SLURM_SNAKEMAKE.exists():
        return f"no {SLURM_SNAKEMAKE.parent.parent.name} with the SLURM executor plugin " \
               "(make install-slurm)"
    if shutil.which("sinfo") is None:
        return "no SLURM on this machine (run .ci/slurm-up as root, as CI does)"
    try:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                               timeout=30)
    except subprocess.TimeoutExpired:
        return "the SLURM controller does not answer sinfo"
    if state.returncode != 0 or not state.stdout.strip():
        return f"no SLURM controller answers sinfo ({state.stderr.strip() or 'no node'})"
    return None


@pytest.fixture(scope="module")
def slurm():
    """'sacct' where SLURM keeps accounting, else 'squeue'; skips without SLURM."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    sacct = shutil.which("sacct") and subprocess.run(
        ["sacct", "-n", "-X", "-S", "now"], capture_output=True, timeout=30).returncode == 0
    return "sacct" if sacct else "squeue"


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}


def _config(campaign, asn_files):
    return ["--config", f"asn={json.dumps([str(p) for p in asn_files])}",
            f"crds_path={campaign.crds}", f"crds_context={campaign.contexts[-1]}"]


def _slurm_command(workdir, profile, status, *args):
    return [str(SLURM_SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--profile", str(REPO / "profiles" / profile),
            "--slurm-status-command", status, "--slurm-init-seconds-before-status-checks", "1",
            "--slurm-keep-successful-logs", "--retries", "0", *args]


def _run_slurm(workdir, profile, status, *args, check=True):
    result = subprocess.run(_slurm_command(workdir, profile, status, *args),
                            capture_output=True, text=True, env=_env(), timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake on SLURM failed ({result.returncode}):\n"
                             f"{result.stderr[-4000:]}")
    return result


def _run_local(workdir, *args, check=True):
    result = subprocess.run(
        [LOCAL_SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--cores", "2", *args], capture_output=True, text=True, env=_env(), timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def _slurm_states(status, job_ids):
    """SLURM job id -> state, as SLURM itself (sacct or squeue) reports it."""
    ids = ",".join(sorted(job_ids))
    if status == "sacct":
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", ids, "-o", "JobID,State"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        pairs = (line.split("|") for line in out.splitlines() if line)
    else:
        out = subprocess.run(["squeue", "-h", "-t", "all", "-j", ids, "-o", "%i %T"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        pairs = (line.split() for line in out.splitlines() if line)
    return {job: state.split()[0] for job, state in pairs}


def _tiny_campaign(campaign, directory, n):
    """``n`` ASNs, each a product of its own (tiny000, ...) whose science is one of the
    campaign's 64x64 TSO cubes (NIRCam SUB64P, MIRI SUB64): small real exposures."""
    cubes = [campaign.files[campaign.first("NRC_TSIMAGE")],
             campaign.files[campaign.first("MIR_IMAGE", cube=True)]]
    directory.mkdir(parents=True)
    asns = []
    for i in range(n):
        science = cubes[i % len(cubes)]
        asn = directory / f"tiny{i:03d}_asn.json"
        asn.write_text(json.dumps({"asn_type": "image2", "asn_pool": "tiny_pool", "products": [
            {"name": f"tiny{i:03d}", "members": [
                {"expname": os.path.relpath(science, directory), "exptype": "science"}]}]}))
        asns.append(asn)
    return asns


def _planned(result):
    outputs = set()
    for line in result.stdout.splitlines():
        match = re.match(r"^\s+output: (.+)$", line)
        if match:
            outputs.update(Path(p).name for p in match.group(1).split(", "))
    return outputs


def _group_components():
    text = (REPO / "profiles" / "slurm-campaign" / "config.yaml").read_text()
    return int(re.search(r"^\s*-\s*exposure=(\d+)\s*$", text, re.M).group(1))


def test_demo_exposures_through_slurm_match_a_local_run(campaign, slurm, tmp_path):
    asns = sorted(p for pattern in DEMO_ASNS for p in campaign.asn.glob(pattern))
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    result = _run_slurm(on_slurm, "slurm", slurm, "all", *_config(campaign, asns))
    _run_local(local, "all", *_config(campaign, asns))

    products = sorted(p.name for p in (local / "results").glob("*.fits"))
    assert len(products) == 5          # 2 _cal + 2 _i2d + 1 _calints
    assert sorted(p.name for p in (on_slurm / "results").glob("*.fits")) == products
    for name in products:
        with fits.open(on_slurm / "results" / name) as a, fits.open(local / "results" / name) as b:
            arrays = [h.name for h in b if h.is_image and h.data is not None]
            assert arrays and [h.name for h in a if h.is_image and h.data is not None] == arrays
            for hdu in arrays:
                np.testing.assert_array_equal(a[hdu].data, b[hdu].data, err_msg=f"{name} {hdu}")

    # one SLURM job per Snakemake job, each one SLURM really ran
    job_ids = set(SUBMITTED.findall(result.stderr))
    assert len(job_ids) == 5
    assert set(_slurm_states(slurm, job_ids).values()) == {"COMPLETED"}


def test_campaign_profile_runs_many_exposures_per_slurm_job(campaign, slurm, tmp_path):
    n, per_job = 52, 26            # the profile's 50 per job, halved to keep the test short
    asns = _tiny_campaign(campaign, tmp_path / "asn", n)
    # with accounting, also the plugin's efficiency report (what each job used vs asked)
    report = ("--slurm-efficiency-report", "--slurm-efficiency-report-path",
              str(tmp_path / "efficiency")) if slurm == "sacct" else ()
    result = _run_slurm(tmp_path, "slurm-campaign", slurm, "all", *_config(campaign, asns),
                        "--group-components", f"exposure={per_job}", *report)

    made = sorted(p.name for p in (tmp_path / "results").glob("*.fits"))
    assert made == [f"tiny{i:03d}_calints.fits" for i in range(n)]
    job_ids = set(SUBMITTED.findall(result.stderr))
    assert len(job_ids) == math.ceil(n / per_job) == 2
    assert set(_slurm_states(slurm, job_ids).values()) == {"COMPLETED"}
    if report:  # written; plugin 2.8.0 lists only srun steps in it, and a group's jobs
        # run in the SLURM job's batch step (rules/common.smk): no rows
        (csv,) = (tmp_path / "efficiency").glob("efficiency_report_*.csv")
        assert "Mem" in csv.read_text().splitlines()[0]
    # what each job used is in its benchmark file (wall, CPU, peak memory)
    for i in range(n):
        tsv = (tmp_path / "benchmarks" / "calibrate" / f"tiny{i:03d}_calints.tsv").read_text()
        header, values = (line.split("\t") for line in tsv.splitlines()[:2])
        assert float(values[header.index("max_rss")]) > 0
    # the arithmetic the profile documents: 10,000 exposures, at most 200 SLURM jobs
    assert math.ceil(10_000 / _group_components()) <= 200


def test_failing_exposure_fails_only_itself_in_its_group(campaign, slurm, tmp_path):
    n = 6
    asns = _tiny_campaign(campaign, tmp_path / "asn", n)
    # two exposures whose science is cut short: planned (their headers read), but their
    # calibrate jobs fail; all six are in one SLURM job, whose jobs run in its batch step
    broken = {"tiny001", "tiny004"}
    for name in broken:
        asn = tmp_path / "asn" / f"{name}_asn.json"
        content = json.loads(asn.read_text())
        member = content["products"][0]["members"][0]
        data = (asn.parent / member["expname"]).read_bytes()
        cut = tmp_path / f"{name}_rateints.fits"
        cut.write_bytes(data[: int(len(data) * 0.6)])
        member["expname"] = str(cut)
        asn.write_text(json.dumps(content))
    config = _config(campaign, asns)
    result = _run_slurm(tmp_path, "slurm-campaign", slurm, "all", *config,
                        "--group-components", f"exposure={n}", check=False)
    assert result.returncode != 0
    job_ids = set(SUBMITTED.findall(result.stderr))
    assert len(job_ids) == 1
    # the SLURM job failed, but its Snakemake kept going past the broken exposures: each
    # says why in its own log, and every good exposure of the group is done and whole
    assert set(_slurm_states(slurm, job_ids).values()) == {"FAILED"}
    for name in broken:
        log = tmp_path / "logs" / "calibrate" / f"{name}_calints.log"
        assert "truncated" in log.read_text()
    good = {f"tiny{i:03d}_calints.fits" for i in range(n)} - {f"{b}_calints.fits" for b in broken}
    done = {p.name for p in (tmp_path / "results").glob("*.fits")}
    assert done == good
    for name in done:
        with fits.open(tmp_path / "results" / name) as hdul:
            assert hdul["SCI"].data.size > 0
    # the next run redoes exactly the broken exposures
    dry = _run_local(tmp_path, "all", "-n", *config)
    assert _planned(dry) == {f"{b}_calints.fits" for b in broken}


def _wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_cancelled_slurm_job_leaves_only_whole_products_and_rerun_does_the_rest(
        campaign, slurm, tmp_path):
    # squeue: the plugin (2.8.0) reads sacct's "CANCELLED by <uid>" as still running
    # and would wait for ever
    slurm = "squeue"
    n = 10
    asns = _tiny_campaign(campaign, tmp_path / "asn", n)
    config = _config(campaign, asns)
    log = tmp_path / "snakemake.log"
    with open(log, "w") as handle:
        run = subprocess.Popen(
            _slurm_command(tmp_path, "slurm-campaign", slurm, "all", *config,
                           "--group-components", f"exposure={n}"),
            stdout=handle, stderr=subprocess.STDOUT, env=_env())
    try:
        job_id = _wait_for("the SLURM job id", lambda: SUBMITTED.findall(log.read_text()), 300)
        assert len(job_id) == 1
        results = tmp_path / "results"
        _wait_for("two products", lambda: len(list(results.glob("*.fits"))) >= 2, 600)
        subprocess.run(["scancel", job_id[0]], check=True, timeout=60)
        returncode = run.wait(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
        end_leftovers(str(tmp_path))
    assert returncode != 0

    done = {p.name for p in results.glob("*.fits")}
    assert 2 <= len(done) < n, "cancelled too late to test anything"
    assert not [p.name for p in results.iterdir() if p.name.endswith(".part")]
    for name in done:        # every product left is whole
        with fits.open(results / name) as hdul:
            assert hdul["SCI"].data.ndim == 3 and hdul["SCI"].data.size > 0
    stamps = {name: (results / name).stat().st_mtime_ns for name in done}

    expected = {f"tiny{i:03d}_calints.fits" for i in range(n)} - done
    dry = _run_local(tmp_path, "all", "-n", "--rerun-incomplete", *config)
    assert _planned(dry) == expected
    _run_local(tmp_path, "all", "--rerun-incomplete", *config)
    assert {p.name for p in results.glob("*.fits")} == done | expected
    assert {name: (results / name).stat().st_mtime_ns for name in done} == stamps


def test_job_over_its_memory_request_is_killed_by_slurm_and_named(campaign, slurm, tmp_path):
    exposure = campaign.first("NRC_IMAGE", cube=False, backgrounds=False)
    asn = campaign.asns[exposure]
    # a full-frame calibrate peaks at ~300 MB: 200 MB is killed by slurmd's memory poll
    result = _run_slurm(tmp_path, "slurm", slurm, "all_cal", *_config(campaign, [asn]),
                        "--set-resources", "calibrate:mem_mb=200", check=False)
    assert result.returncode != 0
    assert not list((tmp_path / "results").glob("*.fits"))
    job_ids = set(SUBMITTED.findall(result.stderr))
    assert len(job_ids) == 1
    slurm_log = next((tmp_path / ".snakemake" / "slurm_logs").rglob(f"{job_ids.pop()}.log"))
    assert "exceeded memory limit" in slurm_log.read_text()
    # and the workflow says so in one line naming the exposure
    lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith(f"ERROR {exposure}: calibrate killed by SLURM")
    assert "more than the 200 MB it asked for" in lines[0]
