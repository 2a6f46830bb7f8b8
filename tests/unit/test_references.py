"""Runtime CRDS lookup: offline configuration, matching parameters, best references."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings

import pandas as pd
import pytest
from astropy.io import fits

from helpers.crds import SPECS, header_of
from snakewebb import references
from snakewebb.errors import ReferenceLookupError, SnakewebbError
from snakewebb.simulate.crds_cache import write_crds_cache

CRDS_VARS = ("CRDS_PATH", "CRDS_CONTEXT", "CRDS_SERVER_URL", "CRDS_MODE")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("crds")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_crds_cache(root, SPECS, seed=3)
    return root


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for var in CRDS_VARS:
        monkeypatch.delenv(var, raising=False)


def count_crds_calls(monkeypatch):
    """The parameter sets of every crds.getrecommendations call from now on (a list)."""
    import crds

    calls = []
    real = crds.getrecommendations

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(crds, "getrecommendations", counting)
    return calls


def test_reftypes_contract():
    assert references.ALL_REFTYPES == ("distortion", "filteroffset", "flat", "photom", "area")


def test_import_is_cheap():
    code = "import sys, snakewebb.references; assert 'crds' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resolve_defaults_to_serverless_and_operational_context(cache):
    before = dict(os.environ)
    crds = references.resolve_crds(cache)
    assert crds == references.CrdsSettings(str(cache.resolve()), "jwst_0002.pmap",
                                           references.SERVERLESS_URL)
    assert dict(os.environ) == before  # resolving writes nothing
    with crds.applied():  # what crds reads, only while it works
        assert os.environ["CRDS_PATH"] == str(cache.resolve())
        assert os.environ["CRDS_CONTEXT"] == "jwst_0002.pmap"
        assert "serverless" in os.environ["CRDS_SERVER_URL"]
        assert os.environ["CRDS_MODE"] == "local"
    assert dict(os.environ) == before


def test_a_lookup_leaves_the_users_environment_as_it_was(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "the users own cache"))
    monkeypatch.setenv("CRDS_CONTEXT", "jwst_1234.pmap")

    def crds_variables():  # crds itself rewrites some of its other ones (CRDS_CONFIG_URI)
        return {key: os.environ.get(key) for key in references.CRDS_VARIABLES}

    before = crds_variables()
    crds = references.resolve_crds(cache, "jwst_0001.pmap")
    assert references.best_references(header_of(SPECS[0]), ("flat",), crds=crds)["flat"]
    table = pd.DataFrame([{"instrument": "NIRCAM", "detector": "NRCA1", "filter": "F150W",
                           "exp_type": "NRC_IMAGE", "pupil": "CLEAR",
                           "date_obs": "2023-05-01"}], index=["jw1"])
    found = references.best_references_table(table, crds=crds, reftypes=("flat",))
    assert found.at["jw1", "flat"].endswith(".fits")
    assert crds_variables() == before


def test_resolve_environment_then_arguments(cache, monkeypatch):
    monkeypatch.setenv("CRDS_PATH", str(cache))
    monkeypatch.setenv("CRDS_CONTEXT", "jwst_0001.pmap")
    assert references.resolve_crds().context == "jwst_0001.pmap"
    assert references.resolve_crds(context="jwst_0002.pmap").context == "jwst_0002.pmap"
    # a given environment in place of the process's
    given = references.resolve_crds(environ={"CRDS_PATH": str(cache)})
    assert (given.path, given.context) == (str(cache.resolve()), "jwst_0002.pmap")
    # the environment's cache with the context a lookup names
    hdr = header_of(SPECS[0])
    newer = references.resolve_crds(cache, "jwst_0002.pmap")
    assert (references.best_references(hdr, context="jwst_0002.pmap")
            == references.best_references(hdr, crds=newer) != references.best_references(hdr))


def test_symbolic_context_is_resolved_from_the_cache(cache, monkeypatch):
    monkeypatch.setenv("CRDS_CONTEXT", "jwst-operational")
    assert references.resolve_crds(cache).context == "jwst_0002.pmap"
    assert references.resolve_crds(cache, context="jwst-edit").context == "jwst_0002.pmap"


def test_a_cache_with_server_config_is_used_offline_whatever_the_server(cache, monkeypatch):
    """A user's CRDS_SERVER_URL (here one that would never answer) is not contacted when
    the cache can answer alone: no wait on a dead server while the graph is built."""
    monkeypatch.setenv("CRDS_SERVER_URL", "https://127.0.0.1:9")
    crds = references.resolve_crds(cache)
    assert crds.context == "jwst_0002.pmap" and "serverless" in crds.server_url
    assert crds.environment()["CRDS_MODE"] == "local"
    assert references.best_references(header_of(SPECS[0]), ("flat",), crds=crds)["flat"]


def test_a_cache_without_server_config(cache, tmp_path, monkeypatch):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(cache, bare)
    (bare / "config" / "jwst" / "server_config").unlink()
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    monkeypatch.delenv("CRDS_CLIENT_TIMEOUT_SECONDS", raising=False)
    with pytest.raises(SnakewebbError, match=r"no config/jwst/server_config.*crds sync"):
        references.resolve_crds(bare)
    # a real server can still answer for it, but a dead one may not hold a run for an hour
    crds = references.resolve_crds(bare, server_url="https://jwst-crds.example.org")
    assert crds.server_url == "https://jwst-crds.example.org"
    env = crds.environment()
    assert env["CRDS_CLIENT_TIMEOUT_SECONDS"] == "30" and "CRDS_MODE" not in env


def test_resolve_errors(cache, tmp_path):
    with pytest.raises(SnakewebbError, match="CRDS_PATH"):
        references.resolve_crds()
    with pytest.raises(SnakewebbError, match="jwst_0009.pmap"):
        references.resolve_crds(cache, context="jwst_0009.pmap")
    with pytest.raises(SnakewebbError, match="not a CRDS cache"):
        references.resolve_crds(tmp_path)


def test_matching_parameters_from_header_dict_and_model():
    from stdatamodels.jwst import datamodels

    hdr = fits.Header()
    for key, value in header_of(SPECS[1]).items():
        hdr[key] = value
    expected = {
        "META.TELESCOPE": "JWST", "META.INSTRUMENT.NAME": "NIRCAM",
        "META.INSTRUMENT.DETECTOR": "NRCA1", "META.INSTRUMENT.FILTER": "F150W",
        "META.INSTRUMENT.PUPIL": "CLEAR", "META.EXPOSURE.TYPE": "NRC_IMAGE",
        "META.SUBARRAY.NAME": "SUB640", "META.OBSERVATION.DATE": "2023-05-01",
        "META.OBSERVATION.TIME": "12:00:00.000",
    }
    assert references.matching_parameters(hdr) == expected
    table_row = {"instrument": "nircam", "detector": "NRCA1", "exp_type": "NRC_IMAGE",
                 "filter": "F150W", "pupil": "CLEAR", "subarray": "SUB640",
                 "date_obs": "2023-05-01T12:00:00.000", "science": "/x/y_rate.fits"}
    assert references.matching_parameters(table_row) == expected
    paths = {k.lower(): v for k, v in expected.items()}
    assert references.matching_parameters(paths) == expected
    model = datamodels.ImageModel((2, 2))
    model.meta.instrument.name = "NIRCAM"
    model.meta.instrument.detector = "NRCA1"
    model.meta.instrument.filter = "F150W"
    model.meta.instrument.pupil = "CLEAR"
    model.meta.exposure.type = "NRC_IMAGE"
    model.meta.subarray.name = "SUB640"
    model.meta.observation.date = "2023-05-01"
    model.meta.observation.time = "12:00:00.000"
    assert references.matching_parameters(model) == expected
    miri = references.matching_parameters({"INSTRUME": "MIRI", "PUPIL": None, "FILTER": ""})
    assert "META.INSTRUMENT.PUPIL" not in miri and "META.INSTRUMENT.FILTER" not in miri


def test_best_references_paths_and_na(cache):
    crds = references.resolve_crds(cache)
    for spec in SPECS:
        refs = references.best_references(header_of(spec), references.ALL_REFTYPES + ("specwcs",),
                                          crds=crds, exposure=spec.name)
        assert refs["specwcs"] is None
        for reftype in ("distortion", "flat", "photom", "area"):
            assert os.path.isabs(refs[reftype]) and os.path.isfile(refs[reftype])
            assert refs[reftype].startswith(str(cache.resolve() / "references/jwst"))
        assert (refs["filteroffset"] is None) == (spec.instrument == "FGS")


def test_best_references_follow_the_context(cache):
    crds = references.resolve_crds(cache)
    hdr = header_of(SPECS[0])
    old = references.best_references(hdr, crds=crds, context="jwst_0001.pmap")
    new = references.best_references(hdr, crds=crds, context="jwst_0002.pmap")
    assert {k for k in old if old[k] != new[k]} == {"flat"}
    assert references.best_references(hdr, crds=crds) == new  # the operational context
    older = references.resolve_crds(cache, context="jwst_0001.pmap")
    assert references.best_references(hdr, crds=older) == old


def test_lookup_errors_name_exposure_and_reftype(cache, monkeypatch):
    monkeypatch.setenv("CRDS_PATH", str(cache))  # the user's cache, as JWST users name it
    hdr = header_of(SPECS[0])
    with pytest.raises(ReferenceLookupError) as err:
        references.best_references(dict(hdr, FILTER="F090W"), ("flat",), exposure="jw_x")
    assert str(err.value).startswith("jw_x: no FLAT reference:") and "F090W" in str(err.value)
    assert "\n" not in str(err.value)
    # a keyword the header lacks (or that failed schema validation) is named as in FITS
    no_filter = {k: v for k, v in dict(hdr).items() if k != "FILTER"}
    with pytest.raises(ReferenceLookupError, match=r"parameter=FILTER value='UNDEFINED'"):
        references.best_references(no_filter, ("flat",), exposure="jw_f")
    no_date = {k: v for k, v in dict(hdr).items() if k not in ("DATE-OBS", "TIME-OBS")}
    with pytest.raises(ReferenceLookupError, match=r"UseAfter parameter DATE-OBS is UNDEFINED"):
        references.best_references(no_date, ("flat",), exposure="jw_d")
    with pytest.raises(ReferenceLookupError, match=r"^jw_y: no GAIN reference"):
        references.best_references(hdr, ("gain",), exposure="jw_y")
    with pytest.raises(ReferenceLookupError, match=r"^jw_z: no FLAT reference"):
        references.best_references({"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1"}, ("flat",),
                                   exposure="jw_z")


def test_reference_missing_from_cache(tmp_path):
    spec = SPECS[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_crds_cache(tmp_path, [spec])
    crds = references.resolve_crds(tmp_path)
    flat = references.best_references(header_of(spec), ("flat",), crds=crds)["flat"]
    os.remove(flat)
    older = references.resolve_crds(tmp_path, context="jwst_0001.pmap")
    with pytest.raises(ReferenceLookupError, match=r"^jw.*: no FLAT reference: .*not in the cache"):
        references.best_references(header_of(spec), ("flat",), crds=older,
                                   context="jwst_0002.pmap", exposure=spec.name)


def test_best_references_table_one_crds_call_per_parameter_set(cache, monkeypatch):
    crds = references.resolve_crds(cache)
    references._lookup.cache_clear()
    calls = count_crds_calls(monkeypatch)
    rows = []
    for i in range(10_000):
        spec = SPECS[i % len(SPECS)]
        rows.append({"instrument": spec.instrument, "detector": spec.detector,
                     "exp_type": spec.exp_type, "filter": spec.filter, "pupil": spec.pupil,
                     "subarray": spec.subarray, "date_obs": spec.date_obs,
                     "science": f"/data/e{i}_rate.fits"})
    table = pd.DataFrame(rows, index=[f"jw{i:05d}" for i in range(10_000)])
    start = time.perf_counter()
    refs = references.best_references_table(table, crds=crds)
    elapsed = time.perf_counter() - start
    # one call per parameter set the rmaps select on: NRCA1 FULL and NRCA1 SUB640 differ
    # only by SUBARRAY, which no NIRCam rmap of this cache selects on, and share one
    assert len(calls) == len(SPECS) - 1
    assert elapsed < 5.0, elapsed
    assert list(refs.columns) == list(references.ALL_REFTYPES)
    assert list(refs.index) == list(table.index)
    fgs = refs.loc["jw00010"]
    assert fgs["filteroffset"] is None and fgs["flat"].endswith(".fits")
    single = references.best_references(header_of(SPECS[3]), crds=crds)
    assert refs.loc["jw00003"].to_dict() == single


def test_best_references_table_error_names_the_exposure(cache):
    crds = references.resolve_crds(cache)
    table = pd.DataFrame([{"instrument": "NIRCAM", "detector": "NRCA1", "exp_type": "NRC_IMAGE",
                           "filter": "F090W", "pupil": "CLEAR", "date_obs": "2023-01-01"}],
                         index=["jw_bad"])
    with pytest.raises(ReferenceLookupError, match=r"^jw_bad: no FLAT reference"):
        references.best_references_table(table, crds=crds)


def test_simulator_helpers_agree_with_lookup(cache):
    from snakewebb.simulate import reffiles

    spec = SPECS[6]  # MIRI SUB256
    kw = reffiles.spec_keywords(spec)
    assert (kw["SUBSTRT1"], kw["SUBSTRT2"], kw["SUBSIZE1"], kw["SUBSIZE2"]) == (413, 51, 256, 256)
    assert (kw["DATE-OBS"], kw["TIME-OBS"]) == ("2023-05-01", "12:00:00.000")
    refs = reffiles.references_for(spec, cache, context="jwst_0001.pmap")
    assert refs == references.best_references(
        header_of(spec), crds=references.resolve_crds(cache), context="jwst_0001.pmap")


# USEAFTER dates written into the NIRCam FLAT and PHOTOM rmaps of a copied cache; each
# one brings its own (copied) reference file, so an answer shows which date CRDS chose.
LATER_USEAFTERS = ("2023-03-01 00:00:00", "2023-06-15 08:30:00", "2024-01-01 00:00:00")


def _add_useafters(rmap_path, reference_dir):
    """Give every UseAfter block of ``rmap_path`` the LATER_USEAFTERS dates, new files each."""
    lines, serial = [], 9000
    for line in rmap_path.read_text().splitlines(True):
        lines.append(line)
        match = re.match(r"^(\s+)'(\d{4}-\d{2}-\d{2} [\d:]+)' : '([^']+)',$", line)
        if match:
            indent, _, name = match.groups()
            stem, ext = os.path.splitext(name)
            for date in LATER_USEAFTERS:
                serial += 1
                new = f"{stem.rsplit('_', 1)[0]}_{serial}{ext}"
                shutil.copyfile(reference_dir / name, reference_dir / new)
                lines.append(f"{indent}'{date}' : '{new}',\n")
    rmap_path.write_text(_with_checksum("".join(lines)))


def _with_checksum(text):
    """Mapping text with its sha1sum recomputed the way crds checks it."""
    from crds.core import utils

    body = "".join(line for line in text.splitlines(True) if "sha1sum" not in line)
    return re.sub(r"'sha1sum' : '[0-9a-f]+'", f"'sha1sum' : '{utils.str_checksum(body)}'", text)


@pytest.fixture(scope="module")
def dated_cache(cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("crds_dated") / "crds"
    shutil.copytree(cache, root)
    mappings, nircam = root / "mappings" / "jwst", root / "references" / "jwst" / "nircam"
    for reftype in ("flat", "photom"):
        for rmap in mappings.glob(f"jwst_nircam_{reftype}_*.rmap"):
            _add_useafters(rmap, nircam)
    return root


def test_useafter_dates_cover_the_rmaps(dated_cache):
    crds = references.resolve_crds(dated_cache, context="jwst_0001.pmap")
    dates = references.useafter_dates(crds, "NIRCAM", ("flat", "photom", "area"))
    written = [references._moment(*d.split()) for d in LATER_USEAFTERS]
    assert set(written) <= set(dates) and len(dates) == len(written) + 1
    assert dates == sorted(dates)
    assert references.useafter_dates(crds, "FGS", ("filteroffset",)) == []


def test_best_references_table_grouped_by_useafter_interval_is_exact(dated_cache, monkeypatch):
    """Same answers as one CRDS call per exposure, with one call per (parameters, interval)."""
    crds = references.resolve_crds(dated_cache, context="jwst_0001.pmap")
    moments = [  # on both sides of every USEAFTER date, on them, within a second of them
        "2022-06-01T00:00:00", "2023-02-28T23:59:59.999", "2023-02-28T23:59:59",
        "2023-03-01T00:00:00", "2023-03-01T00:00:00.5", "2023-03-01T00:00:01",
        "2023-04-10T10:00:00", "2023-06-15T08:29:59.999999", "2023-06-15T08:30:00.000",
        "2023-06-15T08:30:01", "2023-09-09T09:09:09", "2023-12-31T23:59:59",
        "2024-01-01T00:00:00", "2024-01-01T00:00:00.001", "2024-05-05T05:05:05",
        "2025-01-01T00:00:00", "2023-05-01", "2023-03-01",
    ]
    nircam = [spec for spec in SPECS if spec.instrument == "NIRCAM"] + [SPECS[6]]
    rows, index = [], []
    for n in range(3):  # every date several times, in a shuffled order
        for i, moment in enumerate(moments[n::1] + moments[:n]):
            for spec in nircam:
                date, _, time_obs = moment.partition("T")
                rows.append({"instrument": spec.instrument, "detector": spec.detector,
                             "exp_type": spec.exp_type, "filter": spec.filter,
                             "pupil": spec.pupil, "subarray": spec.subarray,
                             "date_obs": date, "time_obs": time_obs or None})
                index.append(f"jw{len(index):05d}")
    table = pd.DataFrame(rows, index=index)

    references._lookup.cache_clear()
    calls = count_crds_calls(monkeypatch)
    grouped = references.best_references_table(table, crds=crds,
                                               reftypes=("flat", "photom", "area"))
    n_grouped = len(calls)

    flats = set()
    for label, row in table.iterrows():
        references._lookup.cache_clear()
        header = {"INSTRUME": row["instrument"], "DETECTOR": row["detector"],
                  "EXP_TYPE": row["exp_type"], "FILTER": row["filter"], "PUPIL": row["pupil"],
                  "SUBARRAY": row["subarray"], "DATE-OBS": row["date_obs"]}
        if row["time_obs"]:
            header["TIME-OBS"] = row["time_obs"]
        alone = references.best_references(header, ("flat", "photom", "area"), crds=crds,
                                           exposure=label)
        assert grouped.loc[label].to_dict() == alone, label
        flats.add(alone["flat"])
    per_exposure = len(calls) - n_grouped
    assert per_exposure == len(table)
    # the dates really select different files: the first USEAFTER and the three added
    nrca1 = grouped[(table["detector"] == "NRCA1") & (table["subarray"] == "FULL")]
    assert len(set(nrca1["flat"])) == 4 and len(set(nrca1["photom"])) == 4
    # NIRCam: one call per parameter set and interval (4 intervals have dates far from
    # every USEAFTER date) plus one per distinct date within 2 s of one (11 of them);
    # MIRI (one USEAFTER date, none near it): one call. NRCA1 FULL and SUB640 count once:
    # they differ only by SUBARRAY, which no NIRCam rmap selects on.
    n_nircam = len({(s.detector, s.filter, s.pupil) for s in nircam}) - 1
    assert n_grouped == n_nircam * (4 + 11) + 1


# Real JWST rmaps also select on keywords our simulated ones do not (crds/jwst/specs:
# TSOVISIT, VISITYPE, CROWDFLD, CORONMSK, NGROUPS, ...). A copied cache whose NIRCam FLAT
# rmap tells TSO from non-TSO exposures shows the lookup passes them on.
@pytest.fixture(scope="module")
def tso_cache(cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("crds_tso") / "crds"
    shutil.copytree(cache, root)
    rmap = root / "mappings" / "jwst" / "jwst_nircam_flat_0001.rmap"
    nircam = root / "references" / "jwst" / "nircam"
    shutil.copyfile(nircam / "jwst_nircam_flat_0001.fits", nircam / "jwst_nircam_flat_9101.fits")
    text = rmap.read_text().replace(
        "'META.INSTRUMENT.PUPIL'), (", "'META.INSTRUMENT.PUPIL', 'META.VISIT.TSOVISIT'), (")
    text = re.sub(r"^(\s+\('[^)]*)\) : UseAfter", r"\1, 'F') : UseAfter", text, flags=re.M)
    text = text.replace("selector = Match({\n", "selector = Match({\n"
                        "    ('NRC_IMAGE|NRC_TSIMAGE', 'NRCA1', 'F150W', 'CLEAR', 'T') "
                        ": UseAfter({\n"
                        "        '2022-01-01 00:00:00' : 'jwst_nircam_flat_9101.fits',\n"
                        "    }),\n")
    rmap.write_text(_with_checksum(text))
    return root


def test_lookups_pass_on_the_selectors_real_rmaps_use(tso_cache, monkeypatch):
    crds = references.resolve_crds(tso_cache, context="jwst_0001.pmap")
    references._lookup.cache_clear()
    spec = SPECS[0]
    assert (spec.detector, spec.filter) == ("NRCA1", "F150W")
    plain = {**header_of(spec), "TSOVISIT": False}
    tso = {**header_of(spec), "TSOVISIT": True}
    assert references.best_references(plain, ("flat",), crds=crds)["flat"].endswith("_0001.fits")
    assert references.best_references(tso, ("flat",), crds=crds)["flat"].endswith("_9101.fits")

    calls = count_crds_calls(monkeypatch)
    references._lookup.cache_clear()
    rows = [{"instrument": spec.instrument, "detector": spec.detector,
             "exp_type": spec.exp_type, "filter": spec.filter, "pupil": spec.pupil,
             "date_obs": spec.date_obs, "tsovisit": i % 2 == 1, "ngroups": 2 + i}
            for i in range(6)]
    table = references.best_references_table(pd.DataFrame(rows), crds=crds, reftypes=("flat",))
    assert [f.rsplit("_", 1)[1] for f in table["flat"]] == ["0001.fits", "9101.fits"] * 3
    # NGROUPS differs on every row, but no rmap of this context selects on it
    assert len(calls) == 2
    assert all("META.EXPOSURE.NGROUPS" not in c for c in calls)


def test_caches_with_the_same_mapping_names_in_turn(cache, tso_cache):
    """Each lookup gets its own cache's mappings, though both hold a jwst_0001.pmap."""
    plain = references.resolve_crds(cache, "jwst_0001.pmap")
    tso = references.resolve_crds(tso_cache, "jwst_0001.pmap")
    header = {**header_of(SPECS[0]), "TSOVISIT": True}
    for _ in range(2):
        assert references.best_references(header, ("flat",), crds=tso)["flat"].endswith(
            "_flat_9101.fits")
        assert references.best_references(header, ("flat",), crds=plain)["flat"].endswith(
            "_flat_0001.fits")


def _direct_flat(header):
    """The FLAT crds itself gives ``header`` under the environment's settings."""
    import crds

    params = references.matching_parameters(header)
    return crds.getreferences(params, reftypes=["flat"], observatory="jwst")["flat"]


def test_a_users_own_crds_calls_keep_their_own_cache(cache, tso_cache, monkeypatch):
    """A lookup on our cache leaves crds no memory of it that would answer the user's own
    crds calls on theirs (both caches hold a jwst_0001.pmap)."""
    users = references.resolve_crds(tso_cache, "jwst_0001.pmap")
    for key, value in users.environment().items():
        monkeypatch.setenv(key, value)
    header = {**header_of(SPECS[0]), "TSOVISIT": True}
    assert _direct_flat(header).endswith("_flat_9101.fits")
    ours = references.resolve_crds(cache, "jwst_0001.pmap")
    assert references.best_references(header, ("flat",), crds=ours)["flat"].endswith("_0001.fits")
    assert _direct_flat(header).endswith("_flat_9101.fits")
    with ours.applied():  # nested: the inner cache's mappings do not answer for the outer
        references.best_references(header, ("flat",), crds=users)
        assert _direct_flat(header).endswith("_flat_0001.fits")


def test_crds_path_overrides_of_the_environment_are_set_aside(cache, tso_cache, monkeypatch):
    """CRDS_MAPPATH (and its kin) would make crds read another cache's mappings."""
    from snakewebb.compat import forget_crds_state

    monkeypatch.setenv("CRDS_MAPPATH", str(tso_cache / "mappings"))
    ours = references.resolve_crds(cache, "jwst_0001.pmap")
    references._lookup.cache_clear()  # nothing remembered from the tests before
    references._required_parkeys.cache_clear()
    forget_crds_state()
    header = {**header_of(SPECS[0]), "TSOVISIT": True}
    assert references.best_references(header, ("flat",), crds=ours)["flat"].endswith("_0001.fits")
    assert os.environ["CRDS_MAPPATH"] == str(tso_cache / "mappings")


def test_crds_giving_up_is_one_line_naming_cache_and_server(cache, monkeypatch):
    import crds

    def no_answer(*args, **kwargs):  # what crds does when its server does not answer
        raise SystemExit(-1)

    monkeypatch.setattr(crds, "getrecommendations", no_answer)
    references._lookup.cache_clear()
    settings = references.resolve_crds(cache)
    with pytest.raises(SnakewebbError, match=r"^crds gave up \(exit status -1\) on the cache "
                                             rf"{re.escape(settings.path)} with the server"):
        references.best_references(header_of(SPECS[0]), ("flat",), crds=settings)
    references._lookup.cache_clear()


def _broken_copy(cache, tmp_path, pattern, how):
    """A copy of the cache with the first mapping matching ``pattern`` truncated or gone."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(cache, broken)
    mapping = sorted((broken / "mappings" / "jwst").glob(pattern))[-1]  # the newest context's
    if how == "delete":
        mapping.unlink()
    else:
        mapping.write_bytes(mapping.read_bytes()[: mapping.stat().st_size // 2])
    return broken, mapping.name


@pytest.mark.parametrize("pattern,how", [("jwst_nircam_photom_*.rmap", "truncate"),
                                         ("jwst_nircam_*.imap", "delete")])
def test_broken_mappings_give_one_line_naming_the_mapping(cache, tmp_path, capfd, pattern,
                                                          how):
    """Blamed on every type asked for, not the first one only; no traceback from crds."""
    broken, name = _broken_copy(cache, tmp_path, pattern, how)
    crds = references.resolve_crds(broken)
    context = crds.context
    spec = next(s for s in SPECS if s.instrument.upper() == "NIRCAM")
    with pytest.raises(ReferenceLookupError) as raised:
        references.best_references(header_of(spec), crds=crds, exposure="jw01")
    message = str(raised.value)
    assert message.startswith("jw01: no DISTORTION/FILTEROFFSET/FLAT/PHOTOM/AREA reference: "
                              f"CRDS cannot select under {context}: ")
    assert name in message and "\n" not in message
    assert "Traceback" not in capfd.readouterr().err
