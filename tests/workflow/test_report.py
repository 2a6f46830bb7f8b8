"""The `report` target, Snakemake's --report, `snakewebb impact` and `snakewebb status`,
on a real run of a small part of the simulated campaign.

The report is rendered in headless Chromium (Debian's ``chromium``); that test is
skipped, saying why, when the browser is not installed.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.workflow import (
    campaign_config,
    exposures_of,
    planned_outputs,
    planned_paths,
    snakemake,
)

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
#: Every kind of product a quick look is made of: NIRCam full frame (the exposure whose
#: FLAT the second context replaces), MIRI with a background member, a NIRCam TSO cube
#: (_calints), NIRCam SUB160 (two dithers).
SELECTION = (
    "*_jw01234001001_02101_00001_nrca1_image2_asn.json",
    "*_jw01234003001_02101_00001_mirimage_image2_asn.json",
    "*-o006_*_asn.json",
    "*-o008_*_asn.json",
)


def configured(campaign, context):
    return campaign_config(campaign, context, *SELECTION)


def selected(campaign):
    return exposures_of(campaign, SELECTION)


def expected_quicklooks(specs):
    """{png name: (instrument, filter/pupil)}, from the simulated specs."""
    looks = {}
    for name, spec in specs.items():
        tso = spec.tsovisit or spec.exp_type == "NRC_TSIMAGE"
        optics = "/".join(p for p in (spec.filter, spec.pupil) if p)
        if spec.is_cube:
            looks[f"{name}_calints.png"] = (spec.instrument, optics)
        elif not tso and spec.exp_type != "FGS_IMAGE":
            looks[f"{name}_i2d.png"] = (spec.instrument, optics)
    return looks


def report_data(html, variable):
    """A JSON variable (``categories``, ``results``) of Snakemake's report page."""
    match = re.search(rf"var {variable} = (\{{.*?\}});\n", html, re.S)
    assert match, f"no {variable} in the report"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report_run(campaign, tmp_path_factory):
    """`snakemake report` then `snakemake --report report.html report`, first context."""
    workdir = tmp_path_factory.mktemp("report")
    config = configured(campaign, campaign.contexts[0])
    snakemake(workdir, "report", config=config)
    snakemake(workdir, "--report", str(workdir / "report.html"), "report", config=config)
    return workdir, config


def test_report_target_makes_a_quick_look_of_every_i2d_and_calints(campaign, report_run):
    workdir, _ = report_run
    expected = expected_quicklooks(selected(campaign))
    assert any(n.endswith("_calints.png") for n in expected)
    made = {p.name for p in (workdir / "results" / "quicklook").glob("*.png")}
    assert made == set(expected)
    for name in made:
        assert (workdir / "benchmarks" / "quicklook" / f"{name[:-4]}.tsv").is_file()
        assert (workdir / "logs" / "quicklook" / f"{name[:-4]}.log").is_file()


def test_report_groups_quick_looks_by_instrument_and_filter(campaign, report_run):
    workdir, _ = report_run
    html = (workdir / "report.html").read_text()
    categories = report_data(html, "categories")
    grouped = {Path(path).name: (category, subcategory)
               for category, subs in categories.items() if category != "Campaign"
               for subcategory, paths in subs.items() for path in paths}
    assert grouped == expected_quicklooks(selected(campaign))
    campaign_files = {Path(p).name for paths in categories["Campaign"].values() for p in paths}
    assert campaign_files == {"campaign.html", "jobs.png"}
    results = report_data(html, "results")
    look = next(v for v in results.values() if v["name"].endswith("_calints.png"))
    assert look["labels"]["product"] == "calints" and look["labels"]["EXP_TYPE"]
    assert look["data_uri"].startswith("data:image/png")        # self-contained


def test_campaign_table_has_every_exposure_done_with_its_references(campaign, report_run):
    workdir, _ = report_run
    page = (workdir / "results" / "summary" / "campaign.html").read_text()
    specs = selected(campaign)
    assert f"{len(specs)} exposures: {len(specs)} done, 0 failed, 0 pending." in page
    for name in specs:
        assert f"<td>{name}</td>" in page
    assert page.count(f"<td>{campaign.contexts[0]}</td>") == len(specs)
    assert "FLAT: jwst_" in page and "flat_field: COMPLETE" in page
    assert (workdir / "results" / "summary" / "jobs.png").stat().st_size > 10_000


def _rows_of(needle, haystack):
    """Rows of ``haystack`` (H x W x 3) holding the pixel row ``needle`` (N x 3) exactly."""
    want = needle.tobytes()
    return [y for y in range(haystack.shape[0]) if want in haystack[y].tobytes()]


def test_report_shows_the_quick_looks_in_chromium(campaign, report_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    from PIL import Image

    workdir, _ = report_run
    html = (workdir / "report.html").read_text()
    results = report_data(html, "results")
    key = next(k for k in results if k.endswith("_i2d.png") and "nrca1" in k)
    category = next(c for c, subs in report_data(html, "categories").items()
                    for paths in subs.values() if key in paths)
    # Open the instrument's category, then the quick look, as a user's two clicks would.
    script = ("<script>setTimeout(function () { "
              f"app.showCategory({json.dumps(category)}); }}, 200);"
              f"setTimeout(function () {{ app.setView({{content: 'img', resultPath: "
              f"{json.dumps(key)}, contentPath: results[{json.dumps(key)}].data_uri}}); }}, 600);"
              "</script>")
    page = tmp_path / "report_view.html"
    end = html.rindex("</body>")      # the last one: the page's scripts hold the string too
    page.write_text(html[:end] + script + html[end:])
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--window-size=1400,1000",
                    "--virtual-time-budget=5000", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    screen = np.asarray(Image.open(shot).convert("RGB"))
    look = np.asarray(Image.open(workdir / key).convert("RGB"))
    # pixel rows through the image (noise: each row is unique) are on the screen as drawn
    for y in (200, 300, 400):
        assert len(_rows_of(look[y, 130:450], screen)) == 1, f"row {y} of {key} not shown"
    shutil.copy(shot, workdir / "report_screenshot.png")    # kept with the run, to look at


def test_impact_of_the_new_context_agrees_with_the_dry_run(campaign, report_run, capsys):
    from snakewebb.cli import main

    workdir, _ = report_run
    new = campaign.contexts[1]
    assert main(["impact", str(workdir / "results"), "--context", new,
                 "--crds-path", str(campaign.crds)]) == 0
    lines = capsys.readouterr().out.splitlines()
    remade = {f"results/{p}" for line in lines if line.startswith("  remade: ")
              for p in line[len("  remade: "):].split(", ")}
    changed = [line for line in lines if line and not line.startswith(" ")][:-1]
    flat_changes = [line for line in lines if line.startswith("  flat: ")]
    assert changed and len(flat_changes) == len(changed)
    assert all(line.startswith("  flat: ") for line in lines
               if re.match(r"^  \w+: .+ -> ", line))                 # only the FLAT changes
    assert re.fullmatch(rf"{re.escape(new)}: {len(changed)} of {len(selected(campaign))} "
                        r"exposures change reference files; \d+ products would be remade",
                        lines[-1])
    # what Snakemake schedules under the new context: exactly those products (plus the
    # campaign summary, which reads them all)
    planned = planned_paths(snakemake(workdir, "-n", "report",
                                        config=configured(campaign, new)))
    assert planned - {"results/summary/campaign.html", "results/summary/jobs.png"} == remade
    planned_all = planned_paths(snakemake(workdir, "-n", "all",
                                            config=configured(campaign, new)))
    assert planned_all == {p for p in remade if p.endswith(".fits")}
    # and under the context the products were made with, nothing
    assert main(["impact", str(workdir / "results"), "--context", campaign.contexts[0],
                 "--crds-path", str(campaign.crds)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and " 0 of " in out[0]


@pytest.mark.parametrize("args, message", [
    (["impact", "{missing}", "--context", "jwst_0002.pmap", "--crds-path", "{crds}"],
     r"^snakewebb: error: .*nowhere: no such directory$"),
    (["impact", "{results}", "--context", "jwst_9999.pmap", "--crds-path", "{crds}"],
     r"^snakewebb: error: CRDS cache .* has no context jwst_9999\.pmap$"),
    (["impact", "{empty}", "--context", "jwst_0002.pmap", "--crds-path", "{crds}"],
     r"^snakewebb: error: .*: no _cal or _calints product in it$"),
    (["impact", "{results}"], r"^snakewebb: error: the following arguments are required: "
                              r"--context$"),
])
def test_impact_bad_arguments_are_one_line(campaign, report_run, tmp_path, args, message):
    workdir, _ = report_run
    values = {"missing": tmp_path / "nowhere", "results": workdir / "results",
              "empty": tmp_path, "crds": campaign.crds}
    argv = [str(BIN / "snakewebb"), *(a.format(**values) for a in args)]
    before = sorted(p.name for p in (workdir / "results").iterdir())
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert re.match(message, result.stderr.strip()) and result.stderr.count("\n") == 1, (
        result.stderr)
    assert sorted(p.name for p in (workdir / "results").iterdir()) == before


def test_status_of_the_finished_campaign(campaign, report_run):
    workdir, _ = report_run
    result = subprocess.run(
        [str(BIN / "snakewebb"), "status", "results",
         "--asn", *(str(campaign.asn / p) for p in SELECTION)],
        capture_output=True, text=True, cwd=workdir, timeout=120, check=True)
    n = len(selected(campaign))
    assert re.fullmatch(rf"results: {n} exposures; \d+ products done, 0 failed, 0 exposures "
                        r"pending", result.stdout.strip())


# ---- products other tools accept ----

def test_every_product_opens_and_validates_with_the_official_datamodels(report_run):
    import warnings

    from stdatamodels.jwst import datamodels
    from stdatamodels.validate import ValidationWarning

    workdir, _ = report_run
    products = sorted((workdir / "results").glob("*.fits"))
    assert {p.name.rsplit("_", 1)[1] for p in products} == {"cal.fits", "calints.fits",
                                                            "i2d.fits"}
    for path in products:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ValidationWarning)
            with datamodels.open(path) as model:
                model.validate()
                assert model.meta.filename == path.name


def test_fits_sip_of_cal_and_i2d_agrees_with_the_gwcs(report_run):
    """astropy.wcs from the SCI header (TAN-SIP for _cal, TAN for _i2d) against the
    product's own gwcs, over the whole detector: better than 0.1 pixel both ways."""
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning
    from stdatamodels.jwst import datamodels

    workdir, _ = report_run
    products = sorted((workdir / "results").glob("*_cal.fits"))
    products += sorted((workdir / "results").glob("*_i2d.fits"))
    assert any(p.name.endswith("_cal.fits") for p in products)
    for path in products:
        with datamodels.open(path) as model:
            gwcs = model.meta.wcs
            ny, nx = model.data.shape
        y, x = np.mgrid[0:ny:max(1, ny // 40), 0:nx:max(1, nx // 40)].astype(float)
        ra, dec = gwcs(x, y)
        good = np.isfinite(ra) & np.isfinite(dec)
        assert good.mean() > 0.9, path.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            header = fits.getheader(path, "SCI")
            fits_wcs = WCS(header)
        if path.name.endswith("_cal.fits"):
            assert header["CTYPE1"] == "RA---TAN-SIP" and "A_ORDER" in header, path.name
        xf, yf = fits_wcs.all_world2pix(ra[good], dec[good], 0)
        assert np.hypot(xf - x[good], yf - y[good]).max() < 0.1, path.name
        raf, decf = fits_wcs.all_pix2world(x[good], y[good], 0)
        scale = np.sqrt(abs(np.linalg.det(fits_wcs.pixel_scale_matrix)))   # deg / pixel
        dra = (raf - ra[good] + 180) % 360 - 180
        offset = np.hypot(dra * np.cos(np.radians(dec[good])), decf - dec[good]) / scale
        assert offset.max() < 0.1, path.name


@pytest.mark.parity
def test_official_calwebb_image3_makes_a_mosaic_of_our_cal_files(campaign, report_run, tmp_path):
    """jwst 3.0.0's calwebb_image3 on the two SUB160 dithers (tweakreg and the source
    catalogue skipped: the simulated cache has no APCORR/ABVEGAOFFSET)."""
    from astropy.io import fits

    from oracle import crds_environment

    workdir, _ = report_run
    cals = sorted((workdir / "results").glob("*_nrcb1_cal.fits"))
    assert len(cals) == 2
    for cal in cals:
        shutil.copy(cal, tmp_path / cal.name)
    (tmp_path / "image3_asn.json").write_text(json.dumps({
        "asn_type": "image3", "asn_rule": "test", "asn_pool": "test_pool", "asn_id": "o008",
        "program": "01234", "target": "1",
        "products": [{"name": "mosaic", "members": [
            {"expname": c.name, "exptype": "science"} for c in cals]}]}))
    script = ("from jwst.pipeline import Image3Pipeline\n"
              "Image3Pipeline.call('image3_asn.json', output_dir='.', save_results=True, "
              "steps={'tweakreg': {'skip': True}, 'source_catalog': {'skip': True}})\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600,
                            env=crds_environment(campaign.crds, campaign.contexts[0]))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    with fits.open(tmp_path / "mosaic_i2d.fits") as mosaic:
        assert mosaic[0].header["S_RESAMP"] == "COMPLETE"
        assert mosaic[0].header["NDRIZ"] == 2
        covered = np.isfinite(mosaic["SCI"].data).sum()
    inputs = [np.isfinite(fits.getdata(c, "SCI")).sum() for c in cals]
    assert max(inputs) < covered < sum(inputs)        # the two dithers, overlapping


def test_failed_job_is_left_out_of_the_report_and_shown_with_its_reason(campaign, report_run):
    """Last in this module: it turns one _i2d into a failed job (no product, an error in
    its log, as the resample adapter writes it)."""
    workdir, config = report_run
    i2d = next((workdir / "results").glob("*_nrcb1_i2d.fits"))
    exposure = i2d.name[: -len("_i2d.fits")]
    i2d.unlink()
    reason = f"{exposure}: exposure time (EFFEXPTM) must be positive, not 0.0"
    (workdir / "logs" / "resample_exposure" / f"{exposure}.log").write_text(
        f"2026-12-04 12:00:00,000 ERROR snakewebb.workflow: {reason}\n")
    # `report` does not retry it (`all` would), the summary is remade with it failed
    planned = planned_paths(snakemake(workdir, "-n", "report", config=config))
    assert planned == {"results/summary/campaign.html", "results/summary/jobs.png"}
    snakemake(workdir, "report", config=config)
    page = (workdir / "results" / "summary" / "campaign.html").read_text()
    assert "1 failed, 0 pending." in page and reason in page
    snakemake(workdir, "--report", str(workdir / "again.html"), "report", config=config)
    assert f"{exposure}_i2d.png" not in json.dumps(
        report_data((workdir / "again.html").read_text(), "categories"))
    assert f"{exposure}_i2d.fits" in planned_outputs(
        snakemake(workdir, "-n", "all", config=config))
    status = subprocess.run([str(BIN / "snakewebb"), "status"], capture_output=True, text=True,
                            cwd=workdir, timeout=120, check=True).stdout
    assert f"  {exposure}_i2d (resample_exposure): {reason}" in status.splitlines()
