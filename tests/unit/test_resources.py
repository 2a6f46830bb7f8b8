"""Memory and run time per job from the exposure (snakewebb.resources)."""

import pytest

from snakewebb import resources
from snakewebb.resources import job_memory_mb, job_resources, job_runtime_min, science_pixels

RULES = ("subtract_background", "calibrate", "resample_exposure")


@pytest.mark.parametrize("instrument, subarray, is_cube, nints, pixels", [
    ("NIRCAM", "FULL", False, 1, 2048 * 2048),
    ("NIRISS", "FULL", False, 1, 2048 * 2048),
    ("FGS", None, False, None, 2048 * 2048),
    ("MIRI", "FULL", False, 1, 1024 * 1032),
    ("NIRCAM", "SUB160", False, 1, 160 * 160),
    ("NIRCAM", "SUB64P", True, 6, 64 * 64 * 6),
    ("MIRI", "SUB64", True, 6, 64 * 64 * 6),
    ("MIRI", "SUB256", False, 1, 256 * 256),
    ("NIRCAM", "SUBGRISM256", False, 1, 256 * 2048),
    ("NIRCAM", "SUB400P", True, None, 400 * 400),          # NINTS absent: one plane
    ("NIRCAM", "sub160", False, 1, 160 * 160),             # as written in the header
    ("NIRCAM", "FULL", False, 7, 2048 * 2048),             # NINTS counts for cubes only
])
def test_science_pixels_from_header_keywords(instrument, subarray, is_cube, nints, pixels):
    assert science_pixels(instrument, subarray, is_cube=is_cube, nints=nints) == pixels


@pytest.mark.parametrize("subarray", ["BRIGHTSKY", "MASK1550", "GENERIC", "SUB0", ""])
def test_unknown_subarray_is_planned_as_the_full_frame(subarray):
    assert science_pixels("MIRI", subarray) == 1024 * 1032


def test_subarray_larger_than_the_detector_is_cut_to_it():
    assert science_pixels("NIRCAM", "SUB99999") == 2048 * 2048
    assert science_pixels("NIRCAM", "SUBGRISM9999") == 2048 * 2048


@pytest.mark.parametrize("rule", RULES)
def test_memory_covers_the_measured_peak_with_margin_and_the_jobstep(rule):
    base_mb, per_pixel, _, _ = resources.MEASURED[rule]
    for pixels in (64 * 64, 256 * 256, 1024 * 1032, 2048 * 2048, 64 * 64 * 200):
        peak = base_mb + per_pixel * pixels / 1e6
        asked = job_memory_mb(rule, pixels)
        assert asked >= peak * resources.MEMORY_MARGIN + resources.JOBSTEP_MB
        assert asked % 100 == 0
        assert asked < peak * resources.MEMORY_MARGIN + resources.JOBSTEP_MB + 100


def test_full_frame_asks_more_than_subarray_and_resample_more_than_calibrate():
    full = science_pixels("NIRCAM", "FULL")
    sub = science_pixels("NIRCAM", "SUB160")
    assert job_memory_mb("calibrate", full) > job_memory_mb("calibrate", sub)
    assert job_memory_mb("resample_exposure", full) > job_memory_mb("calibrate", full)
    # the measured demo peaks (full-frame NIRCam: calibrate <= 306 MB, resample <= 374 MB)
    assert job_memory_mb("calibrate", full) >= 306 + resources.JOBSTEP_MB
    assert job_memory_mb("resample_exposure", full) >= 374 + resources.JOBSTEP_MB


def test_each_retry_doubles_the_memory():
    first = job_memory_mb("calibrate", 4_000_000)
    assert job_memory_mb("calibrate", 4_000_000, attempt=2) == 2 * first
    assert job_memory_mb("calibrate", 4_000_000, attempt=3) == 4 * first
    assert job_memory_mb("calibrate", 4_000_000, attempt=0) == first


def test_runtime_is_whole_minutes_at_least_two_and_grows_with_pixels():
    small = job_runtime_min("resample_exposure", 64 * 64)
    assert small == 2
    assert job_runtime_min("calibrate", 2048 * 2048) == 3
    huge = job_runtime_min("resample_exposure", 2048 * 2048 * 50)
    assert isinstance(huge, int) and huge > small


def test_job_resources_names_both_and_unknown_rule_is_one_clear_error():
    got = job_resources("calibrate", "NIRCAM", "FULL")
    assert got == {"mem_mb": job_memory_mb("calibrate", 2048 * 2048),
                   "runtime": job_runtime_min("calibrate", 2048 * 2048)}
    with pytest.raises(ValueError, match="no measured resource figures for rule 'drizzle'"):
        job_resources("drizzle", "NIRCAM", "FULL")


@pytest.mark.workflow
def test_workflow_jobs_ask_for_what_their_exposure_needs(campaign, tmp_path):
    """A dry run lists each job's mem_mb/runtime: those of snakewebb.resources for the
    exposure (a local run schedules by them under --resources mem_mb=N)."""
    import json
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    names = [campaign.first("NRC_IMAGE", cube=False, backgrounds=False),  # full frame
             campaign.first("NRC_TSIMAGE")]                               # 64x72 cube
    names += [n for n, s in campaign.specs.items() if s.subarray == "SUB160"][:1]
    asn = json.dumps([str(campaign.asns[n]) for n in names])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "--snakefile",
         str(repo / "Snakefile"), "--directory", str(tmp_path), "--cores", "1",
         "--resources", "mem_mb=4000", "-n", "all", "--config", f"asn={asn}",
         f"crds_path={campaign.crds}", f"crds_context={campaign.contexts[-1]}"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    asked = {}
    rule = wildcards = None
    for line in result.stdout.splitlines():
        if m := re.match(r"^rule (\w+):", line.strip()):
            rule = m.group(1)
        elif m := re.match(r"^wildcards: exposure=([^,\s]+)", line.strip()):
            wildcards = m.group(1)
        elif line.strip().startswith("resources:") and rule != "all":
            mem = re.search(r"\bmem_mb=(\d+)", line)
            runtime = re.search(r"\bruntime=(\d+)", line)
            asked[(rule, wildcards)] = (int(mem.group(1)), int(runtime.group(1)))
    expected = {}
    for name in names:
        spec = campaign.specs[name]
        pixels = science_pixels(spec.instrument, spec.subarray, is_cube=spec.is_cube,
                                nints=spec.nints)
        rules = ["calibrate"] + (["resample_exposure"] if not spec.is_cube else [])
        for rule in rules:
            expected[(rule, name)] = (job_memory_mb(rule, pixels), job_runtime_min(rule, pixels))
    assert asked == expected
    full = expected[("resample_exposure", names[0])][0]
    assert full > expected[("calibrate", names[1])][0]
