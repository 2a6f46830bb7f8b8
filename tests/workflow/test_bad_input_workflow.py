"""Broken inputs in a real campaign run (issue 13's catalogue).

Most cases share one `snakemake all` run (the default profile's --keep-going): every
broken exposure (or ASN file) fails as a job of its own with one line naming it and
the cause, every good exposure is made, no partial output appears, and every input
is byte-identical afterwards. Cases that need a campaign of their own (an unwritable
or full output file system, a context that does not exist) run on one small exposure.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from helpers.inputs import rewrite_product, write_asn
from helpers.workflow import snakemake

pytestmark = pytest.mark.workflow

#: Small exposures of the session campaign: NIRCam SUB160 (two, resampled) and a NIRCam
#: TSO cube. Broken copies are made from the first.
GOOD = ("*-o008_*_asn.json", "*-o006_*_asn.json")
#: MIRI exposures whose references the test's CRDS cache breaks: o009's FLAT is absent
#: from the cache, o007's FLAT has a shape no exposure can match.
FLAT_GONE = "*-o009_*_00001_*_asn.json"
FLAT_SHAPE = "*-o007_*_asn.json"


def hashes(paths):
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def crds_copy(campaign, root, *, remove=(), tiny_flat=()):
    """A CRDS cache of symbolic links to the campaign's, less the ``remove`` files and
    with each ``tiny_flat`` file replaced by an 8x8 flat (real file)."""
    shutil.copytree(campaign.crds / "mappings", root / "mappings")
    shutil.copytree(campaign.crds / "config", root / "config")
    for ref in (campaign.crds / "references").rglob("*"):
        if ref.is_dir() or ref.name in remove:
            continue
        target = root / ref.relative_to(campaign.crds)
        target.parent.mkdir(parents=True, exist_ok=True)
        if ref.name in tiny_flat:
            with fits.open(ref) as hdul:
                small = fits.HDUList([hdu.copy() for hdu in hdul])
            for hdu in small[1:]:
                if hdu.data is not None and hdu.data.ndim == 2:
                    hdu.data = hdu.data[:8, :8].copy()
            small.writeto(target)
        else:
            target.symlink_to(ref)
    return root


def _ro_bind(directory):
    """Make ``directory`` read-only: a read-only bind mount when root may mount (root
    ignores permission bits), else permission bits. Returns an undo function."""
    if os.geteuid() == 0 and shutil.which("mount"):
        done = subprocess.run(["mount", "--bind", str(directory), str(directory)],
                              capture_output=True)
        if done.returncode == 0:
            again = subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)],
                                   capture_output=True)
            if again.returncode == 0:
                return lambda: subprocess.run(["umount", str(directory)], check=True)
            subprocess.run(["umount", str(directory)])
    modes = {p: p.stat().st_mode for p in [directory, *directory.iterdir()]}
    for p in modes:
        p.chmod(modes[p] & ~0o222)
    return lambda: [p.chmod(m) for p, m in modes.items()]


@pytest.fixture(scope="module")
def catalogue(campaign, tmp_path_factory):
    """One `snakemake all` over the good exposures and every broken case."""
    root = tmp_path_factory.mktemp("catalogue")
    inputs = root / "inputs"
    inputs.mkdir()
    good_asns = [p for pattern in GOOD for p in sorted(campaign.asn.glob(pattern))]
    good = [p["name"] for asn in good_asns for p in json.loads(asn.read_text())["products"]]
    src = campaign.files[good[0]]
    data = src.read_bytes()
    cases = {}

    def case(name, science):
        cases[name] = write_asn(inputs / f"{name}_asn.json", {name: science})

    (inputs / "cuthead_rate.fits").write_bytes(data[:1000])
    case("cuthead", inputs / "cuthead_rate.fits")
    (inputs / "cutdata_rate.fits").write_bytes(data[: int(len(data) * 0.6)])
    case("cutdata", inputs / "cutdata_rate.fits")
    case("nodetector", rewrite_product(src, inputs / "nodetector_rate.fits",
                               primary={"DETECTOR": None}, keep_asdf=False))
    case("nopointing", rewrite_product(src, inputs / "nopointing_rate.fits", sci_delete=("V2_REF",),
                               keep_asdf=False))
    case("spectro", rewrite_product(src, inputs / "spectro_rate.fits",
                            primary={"EXP_TYPE": "NRC_WFSS"}, keep_asdf=False))
    case("allnan", rewrite_product(src, inputs / "allnan_rate.fits",
                           arrays={"SCI": lambda a: np.full_like(a, np.nan)}))
    case("alldnu", rewrite_product(src, inputs / "alldnu_rate.fits",
                           arrays={"DQ": lambda a: np.ones_like(a)}))
    case("gone", inputs / "gone_rate.fits")  # member file missing
    twice = rewrite_product(src, inputs / "twice_rate.fits")
    write_asn(inputs / "twice1_asn.json", {"twice": twice})
    write_asn(inputs / "twice2_asn.json", {"twice": twice})
    (inputs / "malformed_asn.json").write_text('{"products": [')

    crds = crds_copy(campaign, root / "crds", remove=("jwst_miri_flat_0002.fits",),
                     tiny_flat=("jwst_miri_flat_0001.fits",))
    flat_gone = [p["name"] for asn in campaign.asn.glob(FLAT_GONE)
                 for p in json.loads(asn.read_text())["products"]]
    flat_shape = [p["name"] for asn in campaign.asn.glob(FLAT_SHAPE)
                  for p in json.loads(asn.read_text())["products"]]
    asns = [*good_asns, *campaign.asn.glob(FLAT_GONE), *campaign.asn.glob(FLAT_SHAPE),
            inputs]
    read_only = [*inputs.iterdir(), *good_asns, *(campaign.files[n] for n in good),
                 *(campaign.files[n] for n in flat_gone + flat_shape)]
    before = hashes(read_only)
    undo = _ro_bind(inputs)
    try:
        workdir = root / "run"
        config = (f"asn={json.dumps([str(p) if p.is_file() else f'{p}/*_asn.json' for p in asns])}",
                  f"crds_path={crds}", f"crds_context={campaign.context}")
        result = snakemake(workdir, "all", config=config, check=False)
    finally:
        undo()
    return {"workdir": workdir, "result": result, "good": good, "before": before,
            "after": hashes(before), "flat_gone": flat_gone, "flat_shape": flat_shape,
            "inputs": inputs, "config": config}


#: Case -> the one line its failure prints (after "ERROR "), as a regular expression.
EXPECTED = {
    "cuthead": r"cuthead: cannot read the header of \S+cuthead_rate\.fits: file ends inside "
               r"a FITS header",
    "cutdata": r"cutdata: cutdata_rate\.fits is truncated(: \d+ bytes, its extensions need "
               r"\d+| or corrupt: \d+ bytes after its last complete extension)",
    "nodetector": r"nodetector: keyword DETECTOR missing from the primary header and the ASDF "
                  r"metadata of nodetector_rate\.fits",
    "nopointing": r"nopointing: missing pointing keyword\(s\) V2_REF",
    "spectro": r"spectro: EXP_TYPE 'NRC_WFSS' is not a supported imaging type \(.+\)",
    "gone": r"gone: member \S+gone_rate\.fits listed in gone_asn\.json does not exist",
    "twice": r"twice: product name given by both \S+twice1_asn\.json and \S+twice2_asn\.json",
    "malformed": r"\S+malformed_asn\.json: malformed ASN JSON \(line 1 column \d+: .+\)",
}


def test_good_exposures_complete_and_each_broken_one_fails_in_one_line(catalogue):
    result, workdir = catalogue["result"], catalogue["workdir"]
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    made = {p.name for p in (workdir / "results").glob("*.fits")}
    for name in catalogue["good"]:
        assert any(m.startswith(name + "_cal") for m in made), (name, made)
    assert sum(m.endswith("_i2d.fits") for m in made) >= 2
    errors = [line[len("ERROR "):] for line in result.stderr.splitlines()
              if line.startswith("ERROR ")]
    for case, pattern in EXPECTED.items():
        hits = [e for e in errors if re.fullmatch(pattern, e)]
        assert len(hits) == 1, (case, errors)
    for name in catalogue["flat_gone"]:
        assert any(re.fullmatch(rf"{name}: no FLAT reference: jwst_miri_flat_0002\.fits "
                                rf"\(context \S+\) is not in the cache \S+", e)
                   for e in errors), errors


def test_flat_whose_shape_cannot_match_is_skipped_in_one_warning(catalogue):
    """As calwebb_image2 does: the product is written with S_FLAT = SKIPPED and the job's
    log says why in one line naming the exposure, the FLAT and both shapes."""
    workdir = catalogue["workdir"]
    for name in catalogue["flat_shape"]:
        product = next((workdir / "results").glob(f"{name}_cal*.fits"))
        assert fits.getval(product, "S_FLAT") == "SKIPPED"
        log = next((workdir / "logs" / "calibrate").glob(f"{name}_*.log")).read_text()
        assert re.search(rf"WARNING \S+: {name}: FLAT jwst_miri_flat_0001\.fits: flat array "
                         r"8x8 is smaller than the science array \d+x\d+; flat_field skipped$",
                         log, re.M), log


def test_planning_problems_are_listed_once_up_front(catalogue):
    stderr = catalogue["result"].stderr
    head = stderr[:stderr.index("Building DAG") if "Building DAG" in stderr else None]
    table = head[head.index("planning problem(s)"):].splitlines()[1:]
    planning = ("cuthead", "nodetector", "spectro", "gone", "twice", *catalogue["flat_gone"])
    for name in planning:
        assert sum(line.split()[0] == name for line in table if line.strip()) == 1, table
    assert sum(line.startswith("- ") and "malformed_asn.json" in line for line in table) == 1


def test_no_partial_output_and_inputs_untouched(catalogue):
    workdir = catalogue["workdir"]
    results = workdir / "results"
    leftovers = [p for p in results.rglob("*") if p.name.endswith(".part")]
    assert leftovers == []
    broken = {"cuthead", "cutdata", "nodetector", "nopointing", "spectro", "gone", "twice",
              *catalogue["flat_gone"]}
    for product in results.glob("*.fits"):
        assert product.name.rsplit("_", 1)[0] not in broken, product
        with fits.open(product) as hdul:  # every product there is whole
            assert hdul["SCI"].data is not None and hdul["ASDF"].data is not None
    assert not (results / ".snakewebb" / "problems").exists() or \
        list((results / ".snakewebb" / "problems").iterdir()) == []
    assert catalogue["after"] == catalogue["before"]


def test_all_nan_and_all_do_not_use_exposures(catalogue):
    """They calibrate (every pixel NaN / DO_NOT_USE, as calwebb_image2 writes them); their
    _i2d either holds no valid pixel or fails in one line naming the exposure."""
    workdir, errors = catalogue["workdir"], catalogue["result"].stderr
    for name in ("allnan", "alldnu"):
        cal = workdir / "results" / f"{name}_cal.fits"
        assert cal.is_file(), errors[-3000:]
        with fits.open(cal) as hdul:
            assert not np.isfinite(hdul["SCI"].data).any() or \
                (hdul["DQ"].data & 1).all()
        i2d = workdir / "results" / f"{name}_i2d.fits"
        if i2d.is_file():
            with fits.open(i2d) as hdul:
                assert not np.isfinite(hdul["SCI"].data).any()
        else:
            assert re.search(rf"^ERROR {name}: .+$", errors, re.M), errors


def test_rerun_redoes_only_the_failures(catalogue):
    """The same command again: nothing good is redone, the failures fail again."""
    workdir = catalogue["workdir"]
    result = snakemake(workdir, "all", "--dry-run", config=catalogue["config"], check=False)
    planned = re.findall(r"^\s+output: (.+)$", result.stdout, re.M)
    names = {Path(p).name for line in planned for p in line.split(", ")}
    for name in catalogue["good"]:
        assert not any(n.startswith(name) for n in names), names


# ------------------------------------------------------- a campaign of their own


def _one_exposure(campaign):
    name = campaign.first("NRC_TSIMAGE")
    return name, campaign.asns[name]


def _mount_tmpfs(directory, options):
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small file system")
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.mark.parametrize("kind", ["read-only", "full"])
def test_output_file_system_unwritable_or_full_is_one_line(campaign, tmp_path, kind):
    name, asn = _one_exposure(campaign)
    out = tmp_path / "out"
    # "full": room for the planning caches, not for the product
    _mount_tmpfs(out, "ro,size=1m" if kind == "read-only" else "size=96k")
    try:
        before = hashes([asn, campaign.files[name]])
        config = (f"asn={json.dumps([str(asn)])}", f"crds_path={campaign.crds}",
                  f"crds_context={campaign.context}", f"output_dir={out}")
        result = snakemake(tmp_path, "all", config=config, check=False)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        if kind == "read-only":  # every job would fail: one line at planning
            assert re.search(rf"^output directory {out} cannot be written: Read-only file "
                             r"system$", output, re.M), output[-3000:]
        else:
            assert re.search(rf"^ERROR {name}: cannot write {out}/{name}_calints\.fits: No "
                             r"space left on device$", result.stderr, re.M), output[-3000:]
        assert "Traceback" not in output
        assert [p.name for p in out.iterdir() if p.name != ".snakewebb"] == []
        assert hashes(before) == before
    finally:
        subprocess.run(["umount", str(out)], check=True)


def test_context_that_does_not_exist_is_one_line(campaign, tmp_path):
    name, asn = _one_exposure(campaign)
    config = (f"asn={json.dumps([str(asn)])}", f"crds_path={campaign.crds}",
              "crds_context=jwst_9999.pmap")
    result = snakemake(tmp_path, "all", config=config, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert re.search(r"^CRDS cache \S+ has no context jwst_9999\.pmap$", output, re.M), output
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").glob("*.fits"))


def test_on_plan_error_fail_stops_before_any_job_listing_every_problem(campaign, tmp_path):
    name, asn = _one_exposure(campaign)
    bad = tmp_path / "bad_asn.json"
    bad.write_text("[")
    gone = write_asn(tmp_path / "gone_asn.json", {"gone": tmp_path / "gone_rate.fits"})
    config = (f"asn={json.dumps([str(asn), str(bad), str(gone)])}",
              f"crds_path={campaign.crds}", f"crds_context={campaign.context}",
              "on_plan_error=fail")
    result = snakemake(tmp_path, "all", config=config, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert re.search(rf"^{re.escape(str(bad))}: malformed ASN JSON .+$", output, re.M), output
    assert re.search(r"^gone: member \S+ listed in gone_asn\.json does not exist$", output, re.M)
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").glob("*.fits"))
