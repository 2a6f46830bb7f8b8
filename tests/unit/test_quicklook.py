"""Quick looks, the campaign summary and status, on small synthetic products and logs."""

import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from snakewebb import quicklook, status, summary
from snakewebb.errors import ExposureError


def _tan_header(rotation_deg, *, shape=(60, 80), flip=False):
    """A TAN header whose north is ``rotation_deg`` counter-clockwise from +y."""
    theta = np.radians(rotation_deg)
    scale = 1e-5
    # world offset (east, north) of a pixel step: north is along (-sin, cos) in pixels
    cd = scale * np.array([[-np.cos(theta), -np.sin(theta)],
                           [-np.sin(theta), np.cos(theta)]])
    if flip:
        cd[:, 0] *= -1
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [80.0, -69.5]
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    wcs.wcs.cd = cd
    return wcs.to_header()


@pytest.mark.parametrize("rotation", [0.0, 30.0, -115.0])
def test_north_east_follow_the_wcs_rotation(rotation):
    header = _tan_header(rotation)
    north, east = quicklook.north_east(WCS(header), (60, 80))
    theta = np.radians(rotation)
    np.testing.assert_allclose(north, [-np.sin(theta), np.cos(theta)], atol=1e-3)
    # on the sky seen from inside, east is 90 degrees counter-clockwise from north
    np.testing.assert_allclose(east, [-np.cos(theta), -np.sin(theta)], atol=1e-3)


def test_east_flips_with_the_parity_of_the_wcs():
    north, east = quicklook.north_east(WCS(_tan_header(0.0, flip=True)), (60, 80))
    np.testing.assert_allclose(north, [0, 1], atol=1e-3)
    np.testing.assert_allclose(east, [1, 0], atol=1e-3)


def test_block_mean_leaves_out_nan_and_keeps_empty_blocks_nan():
    data = np.arange(16, dtype=np.float32).reshape(4, 4)
    data[0, 0] = np.nan
    data[2:, 2:] = np.nan
    out = quicklook.block_mean(data, 2)
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx((1 + 4 + 5) / 3)
    assert out[0, 1] == pytest.approx((2 + 3 + 6 + 7) / 4)
    assert np.isnan(out[1, 1])


def _product(path, data, *, wcs_header=None, primary=None, bunit="MJy/sr"):
    primary_hdu = fits.PrimaryHDU()
    primary_hdu.header.update({"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "FILTER": "F150W",
                               "PUPIL": "CLEAR", "EXP_TYPE": "NRC_IMAGE", **(primary or {})})
    sci = fits.ImageHDU(data, name="SCI")
    sci.header["BUNIT"] = bunit
    if wcs_header is not None:
        sci.header.update(wcs_header)
    fits.HDUList([primary_hdu, sci]).writeto(path)
    return path


def _png_array(png):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_calints_quick_look_shows_the_first_integration(tmp_path):
    cube = np.zeros((3, 40, 50), dtype=np.float32)
    cube[0] = np.random.default_rng(1).normal(10, 1, (40, 50))
    cube[1:] = -99
    path = _product(tmp_path / "jw1_calints.fits", cube, wcs_header=_tan_header(20, shape=(40, 50)))
    image = quicklook.read_quicklook(path)
    assert image.data.shape == (40, 50)
    np.testing.assert_array_equal(image.data, cube[0])
    assert image.labels["exposure"] == "jw1" and image.labels["product"] == "calints"
    assert image.labels["filter"] == "F150W" and image.labels["bunit"] == "MJy/sr"
    assert image.wcs is not None


def test_rendered_quick_look_is_a_picture_with_its_compass(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(0.15, 0.01, (300, 320)).astype(np.float32)
    data[100:110, 200:210] = 5.0
    data[:, :5] = np.nan
    path = _product(tmp_path / "jw2_i2d.fits", data, wcs_header=_tan_header(40, shape=(300, 320)))
    image = quicklook.read_quicklook(path)
    before = image.data.copy()
    with_wcs = _png_array(quicklook.render_quicklook(image))
    np.testing.assert_array_equal(image.data, before)      # input left untouched
    assert with_wcs.shape == (600, 700, 3)
    # many grey levels (the noise is resolved by zscale), not a flat frame
    grey = with_wcs[(with_wcs[..., 0] == with_wcs[..., 1]) & (with_wcs[..., 1] == with_wcs[..., 2])]
    assert len(np.unique(grey[:, 0])) > 100
    orange = np.all(np.abs(with_wcs.astype(int) - (255, 127, 14)) < 40, axis=-1)
    assert orange.sum() > 50                                 # the N/E arrows
    image.wcs = None
    without = _png_array(quicklook.render_quicklook(image, stretch="asinh"))
    assert not np.all(np.abs(without.astype(int) - (255, 127, 14)) < 40, axis=-1).any()


def test_big_image_is_block_averaged_before_drawing(tmp_path):
    image = quicklook.QuicklookImage(np.ones((2100, 1100), dtype=np.float32),
                                     {"exposure": "x", "product": "i2d"})
    png = quicklook.render_quicklook(image, max_pixels=1024)
    assert _png_array(png).shape == (600, 700, 3)


def test_product_without_sci_is_one_line_naming_the_exposure(tmp_path):
    path = tmp_path / "jw3_i2d.fits"
    fits.HDUList([fits.PrimaryHDU()]).writeto(path)
    with pytest.raises(ExposureError, match=r"^jw3: jw3_i2d\.fits has no SCI extension$"):
        quicklook.read_quicklook(path)
    with pytest.raises(ExposureError, match=r"^jw4: cannot read .*jw4_i2d\.fits"):
        quicklook.write_quicklook(tmp_path / "jw4_i2d.fits", tmp_path / "out.png")
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob(".*part"))


def test_unknown_stretch_is_refused():
    image = quicklook.QuicklookImage(np.ones((10, 10), dtype=np.float32))
    with pytest.raises(ValueError, match="zscale, asinh"):
        quicklook.render_quicklook(image, stretch="log")


# ---- status and summary, from synthetic products and logs ----

_LOG_FAIL = ("2026-12-04 10:00:00,000 INFO snakewebb.steps: jwB: calibrating\n"
             "2026-12-04 10:00:01,000 ERROR snakewebb.workflow: jwB: no FLAT reference: "
             "bad FILTER\n")
_LOG_CRASH = ("2026-12-04 10:00:01,000 ERROR snakewebb.workflow: unexpected failure:\n"
              "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
              "ValueError: operands could not be broadcast\n")


@pytest.fixture
def campaign_dir(tmp_path):
    out, logs, bench = tmp_path / "results", tmp_path / "logs", tmp_path / "benchmarks"
    for d in (out, logs / "calibrate", logs / "resample_exposure", bench / "calibrate"):
        d.mkdir(parents=True)
    _product(out / "jwA_cal.fits", np.ones((4, 4), dtype=np.float32),
             primary={"CRDS_CTX": "jwst_0001.pmap", "R_FLAT": "crds://jwst_nircam_flat_1.fits",
                      "R_AREA": "N/A", "S_FLAT": "COMPLETE", "S_BKDSUB": "SKIPPED"})
    (logs / "calibrate" / "jwA_cal.log").write_text("2026 x INFO a: fine\n")
    (logs / "calibrate" / "jwB_cal.log").write_text(_LOG_FAIL)
    (logs / "resample_exposure" / "jwA.log").write_text(_LOG_CRASH)
    (logs / "calibrate" / "jwC_cal.log").write_text("2026 x INFO a: started\n")
    (bench / "calibrate" / "jwA_cal.tsv").write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "2.5\t0:00:02\t310.5\t900\t300\t305\t1\t2\t80\t2.1\n")
    return out, logs, bench


def test_log_reason_is_the_last_error_line_or_the_traceback_end(campaign_dir):
    _, logs, _ = campaign_dir
    assert status.log_reason(logs / "calibrate" / "jwB_cal.log") == (
        "jwB: no FLAT reference: bad FILTER")
    assert status.log_reason(logs / "resample_exposure" / "jwA.log") == (
        "unexpected failure: ValueError: operands could not be broadcast")
    assert status.log_reason(logs / "calibrate" / "jwA_cal.log") is None
    assert status.log_reason(logs / "absent.log") is None


def test_status_sorts_done_failed_and_pending(campaign_dir):
    out, logs, _ = campaign_dir
    result = status.campaign_status(out, logs_dir=logs, exposures={"jwA", "jwB", "jwD"})
    assert [p.product for p in result.done] == ["jwA_cal"]
    assert {(p.product, p.reason) for p in result.failed} == {
        ("jwB_cal", "jwB: no FLAT reference: bad FILTER"),
        ("jwA_i2d", "unexpected failure: ValueError: operands could not be broadcast"),
    }
    assert result.pending == ["jwC", "jwD"]     # started (no error), not started
    lines = status.format_status(result, output_dir="results")
    assert lines[0] == ("results: 4 exposures; 1 product done, 2 failed, "
                        "2 exposures pending")
    assert "  jwB_cal (calibrate): jwB: no FLAT reference: bad FILTER" in lines


def test_status_command_line(campaign_dir, capsys):
    from snakewebb.cli import main

    out, logs, _ = campaign_dir
    assert main(["status", str(out), "--logs", str(logs)]) == 0
    printed = capsys.readouterr().out
    assert "1 product done, 2 failed, 1 exposure pending" in printed
    assert main(["status", str(out), "--logs", str(logs), "--asn", str(out / "no*.json")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_summary_rows_and_table(campaign_dir):
    out, logs, bench = campaign_dir
    plan = {name: {"instrument": "NIRCAM", "detector": "NRCA1", "filter": "F150W",
                   "pupil": "CLEAR", "exp_type": "NRC_IMAGE",
                   "products": [f"{name}_cal", f"{name}_i2d"]} for name in ("jwA", "jwB", "jwE")}
    rows = {r["exposure"]: r for r in summary.campaign_rows(
        plan, out, logs_dir=logs, benchmarks_dir=bench)}
    assert rows["jwA"]["status"] == "failed"          # its _i2d job crashed
    assert rows["jwA"]["refs"] == {"flat": "jwst_nircam_flat_1.fits", "area": "N/A"}
    assert rows["jwA"]["steps"] == {"background": "SKIPPED", "flat_field": "COMPLETE"}
    assert rows["jwA"]["context"] == "jwst_0001.pmap"
    assert rows["jwA"]["jobs"] == {"calibrate": (2.5, 310.5)}
    assert rows["jwB"]["status"] == "failed"
    assert rows["jwB"]["reasons"] == ["jwB: no FLAT reference: bad FILTER"]
    assert rows["jwE"]["status"] == "pending"
    page = summary.table_html(list(rows.values()))
    assert "3 exposures: 0 done, 2 failed, 1 pending." in page
    assert "jwB: no FLAT reference: bad FILTER" in page and "2.5 / 310" in page
    plot = _png_array(summary.jobs_plot(list(rows.values())))
    assert plot.shape == (600, 900, 3)


def test_benchmark_with_unmeasured_values(tmp_path):
    tsv = tmp_path / "b.tsv"
    tsv.write_text("s\th:m:s\tmax_rss\n1.5\t0:00:01\t-\n")
    seconds, mb = summary.read_benchmark(tsv)
    assert seconds == 1.5 and np.isnan(mb)
    assert summary.read_benchmark(tmp_path / "none.tsv") is None
