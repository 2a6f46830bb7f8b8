"""`verify`: the workflow re-runs a sample of the campaign through jwst==3.0.0 and compares.

Run for real with ``fraction: 1.0`` on six exposures of the session campaign: every
mode it has (2D and cubes, with and without background members) of NIRCam, MIRI and
FGS, with ``save_bsub`` so that the ``_bsub`` is compared too. NIRISS full frame is left
out to keep the run short (the parity tests cover it, and a verified run of the whole
demo campaign is in docs/workflow.md); the whole 24-exposure campaign takes ~10 min on
this project's 2-core machines.
"""

import os
import subprocess
import sys

import pytest
from astropy.io import fits

from helpers.workflow import campaign_config, exposures_of
from helpers.workflow import snakemake as run_snakemake
from snakewebb.verify import read_rows

pytestmark = [pytest.mark.workflow, pytest.mark.parity, pytest.mark.slow]

#: One exposure of every mode of the campaign.
SELECTION = (
    "*-o003_*_00001_mirimage_*_asn.json",   # MIRI full frame with a background member
    "*-o009_*_00001_mirimage_*_asn.json",   # MIRI SUB256
    "*-o007_*_asn.json",                     # MIRI cube (TSOVISIT=T)
    "*-o008_*_00001_nrcb1_*_asn.json",       # NIRCam SUB160
    "*-o006_*_asn.json",                     # NIRCam TSO cube
    "*-o010_*_asn.json",                     # FGS full frame (no _i2d here: deliberate)
)
VERIFY = "verify={fraction: 1.0, seed: 0}"


def snakemake(workdir, *args, config=(), env=None):
    """A run that may fail (the tests read its return code), given up after 20 min."""
    return run_snakemake(workdir, *args, config=config, env=env, check=False, timeout=1200)


def config_for(campaign, *extra):
    return campaign_config(campaign, campaign.context, *SELECTION, extra=extra)


def expected_rows(campaign):
    """(exposure, product) the verification must compare, from the simulated specs."""
    rows = set()
    for name, spec in exposures_of(campaign, SELECTION).items():
        tso = spec.tsovisit or spec.exp_type == "NRC_TSIMAGE"
        rows.add((name, "calints" if spec.is_cube else "cal"))
        if not tso and not spec.is_cube and spec.exp_type != "FGS_IMAGE":
            rows.add((name, "i2d"))
        if spec.backgrounds and not tso:
            rows.add((name, "bsubints" if spec.is_cube else "bsub"))
    return rows


@pytest.fixture(scope="module")
def verified_run(campaign, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("verify")
    config = config_for(campaign, "save_bsub=True", VERIFY)
    result = snakemake(workdir, "all", config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, config


def test_every_product_of_the_sample_is_compared_and_passes(campaign, verified_run):
    workdir, _ = verified_run
    rows = read_rows(workdir / "results" / "verification.tsv")
    assert {(r["exposure"], r["product"]) for r in rows} == expected_rows(campaign)
    assert len(rows) == len(expected_rows(campaign)) >= 10
    failing = [(r["exposure"], r["product"], r["problems"]) for r in rows
               if r["status"] != "pass"]
    assert not failing
    for row in rows:  # differences measured, not left blank
        assert row["SCI_max_rel"] != "" and row["SCI_max_abs"] != ""
        if row["product"] != "i2d":
            assert row["DQ_mismatches"] == "0"
    # deliberate differences are named where they apply
    fgs = next(r for r in rows if "guider" in r["exposure"])
    assert "FGS_IMAGE is not resampled here" in fgs["deliberate_differences"]
    # the official products are under results/verify/
    official = workdir / "results" / "verify"
    name = next(r["exposure"] for r in rows if r["product"] == "bsub")
    for suffix in ("bsub", "cal", "i2d"):
        path = official / name / "official" / f"{name}_{suffix}.fits"
        assert fits.getval(path, "CAL_VER") == "3.0.0", path


def test_verified_campaign_reruns_nothing(campaign, verified_run):
    workdir, config = verified_run
    result = snakemake(workdir, "-n", "all", config=config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_changed_input_reruns_both_sides_of_its_exposure_only(campaign, verified_run):
    workdir, config = verified_run
    rows = read_rows(workdir / "results" / "verification.tsv")
    name = next(r["exposure"] for r in rows if "nrca3" in r["exposure"])
    rate = campaign.files[name]
    before, content = rate.stat(), rate.read_bytes()
    try:
        # a changed file (a mere touch is not: Snakemake compares the checksums it
        # recorded of inputs under 1 MB), newer than every product of the run
        fits.setval(rate, "HISTORY", value="changed by the test")
        result = snakemake(workdir, "-n", "all", config=config)
    finally:
        rate.write_bytes(content)
        os.utime(rate, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    assert jobs.get("calibrate") == jobs.get("run_official_image2") == 1, result.stdout
    assert jobs.get("compare_with_official") == jobs.get("check_verification") == 1
    assert f"verify/{name}/official" in result.stdout


def test_altered_product_fails_its_row_and_names_it(campaign, verified_run):
    workdir, config = verified_run
    rows = read_rows(workdir / "results" / "verification.tsv")
    name = next(r["exposure"] for r in rows if "nrcb1" in r["exposure"])
    cal = workdir / "results" / f"{name}_cal.fits"
    with fits.open(cal, mode="update") as hdul:
        hdul["SCI"].data *= 1.001
    result = snakemake(workdir, "--keep-going", "all", config=config)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        f"ERROR {name}: _cal differs from calwebb_image2 3.0.0, worst SCI: SCI max rel diff")
    after = {(r["exposure"], r["product"]): r
             for r in read_rows(workdir / "results" / "verification.tsv")}
    row = after[(name, "cal")]
    assert row["status"] == "fail" and row["worst"] == "SCI"
    assert float(row["SCI_max_rel"]) == pytest.approx(1e-3, rel=1e-2)
    # its _i2d, remade from the altered _cal, fails too; every other row still passes
    assert after[(name, "i2d")]["status"] == "fail"
    assert {key for key, r in after.items() if r["status"] != "pass"} == {
        (name, "cal"), (name, "i2d")}
    assert not (workdir / "results" / "verify" / name / "passed").exists()


BLOCK_JWST = """
import sys

class _NoJwst:
    def find_spec(self, name, path=None, target=None):
        if name == "jwst" or name.startswith("jwst."):
            raise ModuleNotFoundError("No module named 'jwst'")
        return None

sys.meta_path.insert(0, _NoJwst())
"""


def test_without_the_official_pipeline_verify_is_one_line_at_planning(campaign, tmp_path):
    blocker = tmp_path / "nojwst"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_JWST)
    env = {"PYTHONPATH": str(blocker)}
    probe = subprocess.run([sys.executable, "-c", "import jwst"], env={**os.environ, **env},
                           capture_output=True, text=True)
    assert probe.returncode != 0  # jwst is unimportable there
    result = snakemake(tmp_path / "on", "-n", "all", config=config_for(campaign, VERIFY),
                       env=env)
    output = result.stdout + result.stderr  # a dry run logs to stdout
    assert result.returncode != 0
    lines = [line for line in output.splitlines() if "snakewebb[verify]" in line]
    assert lines == ["verify is on but the official pipeline is not installed: pip install "
                     "'snakewebb[verify]' (jwst==3.0.0), or set verify.fraction to 0"]
    assert "Traceback" not in output
    # off (the default), the same environment plans the campaign
    off = snakemake(tmp_path / "off", "-n", "all", config=config_for(campaign), env=env)
    assert off.returncode == 0, off.stderr[-2000:]
    assert "run_official_image2" not in off.stdout
