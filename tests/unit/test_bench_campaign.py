"""The parsing and arithmetic of benchmarks/bench_campaign.py (no benchmark is run)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_campaign.py"
_SPEC = importlib.util.spec_from_file_location("bench_campaign", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)

LINE = ("2026-12-04 20:50:01,123 INFO snakewebb.workflow: timing: start=0.12 imports=0.85 "
        "open=0.40 science=0.10 write=0.20 total=1.67")
TSV = ("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
       "2.7311\t0:00:02\t143.87\t900.1\t120.2\t125.5\t0.01\t0.52\t40.0\t1.93\n")


def test_parse_timing_reads_the_contract_line():
    log = "2026-12-04 20:50:00,001 INFO snakewebb.io: wrote x_cal.fits\n" + LINE + "\n"
    assert bench.parse_timing(log) == {"start": 0.12, "imports": 0.85, "open": 0.40,
                                       "science": 0.10, "write": 0.20, "total": 1.67}


def test_parse_timing_absent_line_and_junk_tokens():
    assert bench.parse_timing("2026-12-04 INFO snakewebb.io: wrote x_cal.fits\n") == {}
    assert bench.parse_timing("") == {}
    # tokens that are not name=seconds are skipped, the last timing line wins
    text = "timing: start=9\n... timing: start=0.5 bogus open=abc =3 refs=0.25 total=2"
    assert bench.parse_timing(text) == {"start": 0.5, "refs": 0.25, "total": 2.0}


def test_read_timing_of_a_missing_log_is_empty(tmp_path):
    assert bench.read_timing(tmp_path / "nope.log") == {}
    log = tmp_path / "job.log"
    log.write_text(LINE + "\n")
    assert bench.read_timing(log)["total"] == 1.67


def test_parse_benchmark_tsv_and_na():
    record = bench.parse_benchmark_tsv(TSV)
    assert record["s"] == 2.7311 and record["cpu_time"] == 1.93 and record["max_rss"] == 143.87
    assert record["h:m:s"] is None
    na = TSV.splitlines()[0] + "\n1.5\t0:00:01\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n"
    assert bench.parse_benchmark_tsv(na)["max_rss"] is None
    assert bench.parse_benchmark_tsv("s\tcpu_time\n") == {}


def test_job_record_snakemake_share_and_other():
    record = bench.job_record(TSV, LINE.replace("total=1.67", "refs=0.30 total=1.97"))
    assert record["wall"] == 2.7311 and record["cpu"] == 1.93 and record["rss"] == 143.87
    assert record["snakemake"] == pytest.approx(2.7311 - 1.97)
    # phases not among the columns (refs) are in "other": total - the five shown
    assert record["other"] == pytest.approx(1.97 - (0.12 + 0.85 + 0.40 + 0.10 + 0.20))
    without = bench.job_record(TSV, "no timing here")
    assert without["snakemake"] is None and without["other"] is None
    assert without["phases"] == {}


def test_summarise_takes_medians_and_keeps_absent_columns_absent():
    records = [bench.job_record(TSV.replace("2.7311", str(s)), LINE) for s in (2.0, 3.0, 10.0)]
    row = bench.summarise(records)
    assert row["wall"] == 3.0 and row["imports"] == 0.85
    assert row["snakemake"] == pytest.approx(3.0 - 1.67)
    row = bench.summarise([bench.job_record(TSV, "")])
    assert row["start"] is None and row["snakemake"] is None and row["wall"] == 2.7311


def test_ratio_and_verdict():
    assert bench.ratio(4.0, 5.0) == 0.8
    assert bench.verdict(bench.ratio(4.0, 5.0), 0.8) == "MET"
    assert bench.verdict(bench.ratio(4.1, 5.0), 0.8) == "MISSED"
    assert bench.ratio(None, 5.0) is None and bench.ratio(1.0, 0.0) is None
    assert bench.verdict(None, 0.8).startswith("MISSED")
    assert bench.fmt(None) == "n/a" and bench.fmt(1.234) == "1.23"


def test_read_fits_header_matches_astropy(tmp_path):
    header = fits.Header()
    header["INSTRUME"] = "MIRI"
    header["SUBARRAY"] = "SUB64"
    header["TSOVISIT"] = True
    header["NINTS"] = 6
    header["EXPTIME"] = (12.5, "seconds")
    path = tmp_path / "x_rateints.fits"
    fits.HDUList([fits.PrimaryHDU(header=header),
                  fits.ImageHDU(np.zeros((2, 4, 4), "f4"), name="SCI")]).writeto(path)
    got = bench.read_fits_header(path)
    assert got["INSTRUME"] == "MIRI" and got["SUBARRAY"] == "SUB64"
    assert got["TSOVISIT"] is True and got["NINTS"] == 6 and got["EXPTIME"] == 12.5
    assert bench.classify(got, path.name, False) == "tso"


def _record(tmp_path, name, mode, backgrounds=(), subarray="FULL", instrument="NIRCAM"):
    return {"asn": tmp_path / f"{name}_asn.json", "science": tmp_path / f"{name}_rate.fits",
            "backgrounds": [tmp_path / f"{b}_rate.fits" for b in backgrounds],
            "header": {"SUBARRAY": subarray, "INSTRUME": instrument}, "mode": mode,
            "doc": {"products": [{"name": name, "members": []}]}}


def test_classify_modes():
    assert bench.classify({"INSTRUME": "NIRCAM", "SUBARRAY": "FULL"}, "a_rate.fits", False) \
        == "nircam-full"
    assert bench.classify({"INSTRUME": "NIRCAM", "SUBARRAY": "SUB160"}, "a_rate.fits", False) \
        == "nircam-sub"
    assert bench.classify({"INSTRUME": "MIRI"}, "a_rate.fits", True) == "miri-bkg"
    assert bench.classify({"INSTRUME": "NIRISS"}, "a_rate.fits", False) == "niriss"
    assert bench.classify({"INSTRUME": "FGS"}, "a_rate.fits", False) == "fgs"


def test_select_asns_quotas_backgrounds_and_missing_modes(tmp_path):
    records = [_record(tmp_path, f"nf{i}", "nircam-full") for i in range(5)]
    records += [_record(tmp_path, f"ns{i}", "nircam-sub", subarray="SUB160") for i in range(3)]
    records += [_record(tmp_path, "bkg", "miri", instrument="MIRI")]  # a background member
    records += [_record(tmp_path, f"mb{i}", "miri-bkg", ("bkg",), instrument="MIRI")
                for i in range(3)]
    records += [_record(tmp_path, "ms", "miri", subarray="SUB256", instrument="MIRI")]
    records += [_record(tmp_path, f"ni{i}", "niriss", instrument="NIRISS") for i in range(2)]
    records += [_record(tmp_path, "tn", "tso", subarray="SUB64P"),
                _record(tmp_path, "tz", "tso", subarray="SUB64", instrument="MIRI"),
                _record(tmp_path, "fg", "fgs", instrument="FGS")]
    selected, missing = bench.select_asns(records)
    names = [r["doc"]["products"][0]["name"] for r in selected]
    assert len(selected) == bench.N_ASNS == 12 and missing == []
    assert "bkg" not in names and "fg" not in names and "ms" in names
    tso = [r for r in selected if r["mode"] == "tso"]
    assert tso[0]["doc"]["products"][0]["name"] == "tz"  # the 64x64 MIRI cube first
    _, missing = bench.select_asns([r for r in records if r["mode"] != "niriss"])
    assert missing == ["niriss"]


def test_write_asns_makes_member_paths_absolute(tmp_path):
    src = tmp_path / "campaign" / "asn"
    src.mkdir(parents=True)
    doc = {"products": [{"name": "x", "members": [
        {"expname": "../rate/x_rate.fits", "exptype": "science"},
        {"expname": "../rate/b_rate.fits", "exptype": "background"}]}]}
    asn = src / "x_image2_asn.json"
    asn.write_text(json.dumps(doc))
    record = {"asn": asn, "doc": doc}
    (out,) = bench.write_asns([record], tmp_path / "work" / "asn")
    members = json.loads(out.read_text())["products"][0]["members"]
    assert [m["expname"] for m in members] == [
        str((tmp_path / "campaign" / "rate" / n).resolve()) for n in ("x_rate.fits",
                                                                      "b_rate.fits")]
    assert json.loads(asn.read_text()) == doc  # the campaign's own ASN untouched
