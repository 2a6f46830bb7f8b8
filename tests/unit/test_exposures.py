"""ASN reading and the cached exposure table (snakewebb.exposures)."""

import json
import os

import numpy as np
import pytest
from astropy.io import fits

from helpers.inputs import write_asn
from snakewebb import exposures
from snakewebb.errors import ExposureError, SnakewebbError
from snakewebb.references import CrdsSettings

NIRCAM = {"INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "EXP_TYPE": "NRC_IMAGE",
          "FILTER": "F200W", "PUPIL": "CLEAR", "SUBARRAY": "FULL",
          "DATE-OBS": "2024-01-02", "TIME-OBS": "03:04:05.678"}


def write_rate(path, header=NIRCAM, shape=(8, 8), **extra):
    primary = fits.PrimaryHDU()
    primary.header.update({**header, **extra})
    hdul = fits.HDUList([primary, fits.ImageHDU(np.zeros(shape, "f4"), name="SCI")])
    hdul.writeto(path)
    return path


@pytest.fixture
def tiny(tmp_path):
    """Three exposures: 2D with a background, TSO cube, MIRI by TSOVISIT."""
    rate = tmp_path / "rate"
    rate.mkdir()
    asn = tmp_path / "asn"
    asn.mkdir()
    write_rate(rate / "a_rate.fits")
    write_rate(rate / "abkg_rate.fits")
    write_rate(rate / "t_rateints.fits", shape=(3, 8, 8), EXP_TYPE="NRC_TSIMAGE",
               TSOVISIT=True, NINTS=3)
    write_rate(rate / "m_rate.fits", INSTRUME="MIRI", DETECTOR="MIRIMAGE",
               EXP_TYPE="MIR_IMAGE", FILTER="F770W", PUPIL="N/A", TSOVISIT=True)
    write_asn(asn / "a_asn.json", {"a": ["../rate/a_rate.fits", "../rate/abkg_rate.fits"]})
    write_asn(asn / "t_asn.json", {"t": "../rate/t_rateints.fits"})
    write_asn(asn / "m_asn.json", {"m": "../rate/m_rate.fits"})
    return tmp_path


def test_read_asn_resolves_members_against_asn_directory(tiny, monkeypatch):
    monkeypatch.chdir(tiny / "rate")  # a cwd where the relative names would be wrong
    products = exposures.read_asn(tiny / "asn" / "a_asn.json")
    assert products == [{"name": "a", "science": str(tiny / "rate" / "a_rate.fits"),
                         "backgrounds": (str(tiny / "rate" / "abkg_rate.fits"),),
                         "asn_pool": "pool"}]


def test_asn_pool_is_in_the_table_and_none_when_the_asn_has_none(tiny):
    asn = tiny / "asn" / "m_asn.json"
    content = json.loads(asn.read_text())
    del content["asn_pool"]
    asn.write_text(json.dumps(content))
    table = exposures.exposure_table([str(tiny / "asn" / "*_asn.json")])
    assert table.at["a", "asn_pool"] == "pool"
    assert table.at["m", "asn_pool"] is None


def test_read_asn_follows_a_symlinked_asn_directory_before_dotdot(tiny, tmp_path_factory):
    """``links/asn -> tiny/asn`` with members ``../rate/...``: the file system (and the
    official pipeline opening the joined path) finds ``tiny/rate``, not ``links/rate``."""
    links = tmp_path_factory.mktemp("links")
    (links / "asn").symlink_to(tiny / "asn", target_is_directory=True)
    products = exposures.read_asn(links / "asn" / "a_asn.json")
    assert products[0]["science"] == os.path.realpath(tiny / "rate" / "a_rate.fits")
    assert products[0]["backgrounds"] == (os.path.realpath(tiny / "rate" / "abkg_rate.fits"),)


@pytest.mark.parametrize("text, message", [
    ("{not json", "malformed ASN JSON"),
    ('{"asn_type": "image2"}', "no 'products' list"),
    ('{"products": [{"members": []}]}', "product 0 has no name"),
    ('{"products": [{"name": "x", "members": []}]}', "x: 0 science members"),
])
def test_read_asn_bad_files_give_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad_asn.json"
    path.write_text(text)
    with pytest.raises(ExposureError) as info:
        exposures.read_asn(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    if not message.startswith("x:"):
        assert str(info.value).startswith(str(path))


def test_read_asn_missing_member_names_product_and_file(tiny):
    write_asn(tiny / "asn" / "gone_asn.json", {"gone": "../rate/nothere_rate.fits"})
    with pytest.raises(ExposureError, match=r"^gone: member .*nothere_rate.fits listed in "
                                            r"gone_asn.json does not exist$"):
        exposures.read_asn(tiny / "asn" / "gone_asn.json")


def test_header_reader_agrees_with_astropy(tiny):
    path = tiny / "rate" / "t_rateints.fits"
    values = exposures.read_header_keywords(path)
    header = fits.getheader(path)
    for key in exposures.HEADER_KEYWORDS:
        if key in header:
            assert values[key] == header[key], key
        else:
            assert key not in values
    assert values["_NDIM"] == 3
    assert exposures.read_header_keywords(tiny / "rate" / "a_rate.fits")["_NDIM"] == 2


def test_header_reader_parses_quotes_and_comments(tmp_path):
    path = write_rate(tmp_path / "q_rate.fits", FILTER=("O'BRIEN", "a comment"),
                      NINTS=(7, "ints / with slash"), TSOVISIT=False)
    values = exposures.read_header_keywords(path)
    assert values["FILTER"] == "O'BRIEN"
    assert values["NINTS"] == 7
    assert values["TSOVISIT"] is False


def test_table_columns_and_modes(tiny):
    table = exposures.exposure_table([str(tiny / "asn" / "*_asn.json")])
    assert sorted(table.index) == ["a", "m", "t"]
    a, t, m = table.loc["a"], table.loc["t"], table.loc["m"]
    cols = ["suffix", "is_cube", "tso", "background", "resample", "bsub_suffix"]
    assert list(a[cols]) == ["cal", False, False, True, True, "bsub"]
    assert a["backgrounds"] == (str(tiny / "rate" / "abkg_rate.fits"),)
    assert list(t[cols]) == ["calints", True, True, False, False, "bsubints"]
    # TSOVISIT=T makes a 2D MIRI exposure TSO: _cal, no background, no _i2d
    assert list(m[cols]) == ["cal", False, True, False, False, "bsub"]
    assert (m["instrument"], m["filter"]) == ("MIRI", "F770W")
    assert (a["date_obs"], a["detector"]) == ("2024-01-02", "NRCA1")


def test_tso_exp_types_are_configurable(tiny):
    table = exposures.exposure_table([str(tiny / "asn" / "a_asn.json")],
                                     tso_exp_types=("NRC_IMAGE",))
    assert table.loc["a", "tso"] and not table.loc["a", "resample"]
    assert not table.loc["a", "background"]


def test_cache_is_used_and_refreshed_per_asn(tiny, monkeypatch):
    cache = tiny / "cache"
    pattern = [str(tiny / "asn" / "*_asn.json")]
    first = exposures.exposure_table(pattern, cache_dir=cache)
    reads = []
    real = exposures.read_header_keywords
    monkeypatch.setattr(exposures, "read_header_keywords",
                        lambda path, *a, **k: reads.append(os.path.basename(path))
                        or real(path, *a, **k))
    again = exposures.exposure_table(pattern, cache_dir=cache)
    assert reads == []
    assert again.equals(first)
    # rewrite one science file: only its ASN is read again
    (tiny / "rate" / "m_rate.fits").unlink()
    write_rate(tiny / "rate" / "m_rate.fits", INSTRUME="MIRI", DETECTOR="MIRIMAGE",
               EXP_TYPE="MIR_IMAGE", FILTER="F1000W", PUPIL="N/A", TSOVISIT=False)
    third = exposures.exposure_table(pattern, cache_dir=cache)
    assert reads == ["m_rate.fits"]
    assert third.loc["m", "filter"] == "F1000W" and third.loc["m", "resample"]


def test_unsupported_exp_type_and_duplicates(tiny):
    write_rate(tiny / "rate" / "s_rate.fits", EXP_TYPE="NRC_WFSS")
    write_asn(tiny / "asn" / "s_asn.json", {"s": "../rate/s_rate.fits"})
    with pytest.raises(ExposureError, match=r"^s: EXP_TYPE 'NRC_WFSS' is not a supported"):
        exposures.exposure_table([str(tiny / "asn" / "*_asn.json")])
    (tiny / "asn" / "s_asn.json").unlink()
    write_asn(tiny / "asn" / "dup_asn.json", {"a": "../rate/a_rate.fits"})
    with pytest.raises(ExposureError, match=r"^a: product name given by both"):
        exposures.exposure_table([str(tiny / "asn" / "*_asn.json")])


def test_pattern_matching_nothing_and_broken_fits(tiny):
    with pytest.raises(SnakewebbError, match="matches no file"):
        exposures.exposure_table([str(tiny / "nowhere" / "*_asn.json")])
    (tiny / "rate" / "a_rate.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 100)
    with pytest.raises(ExposureError, match=r"^a: cannot read the header of .*a_rate.fits"):
        exposures.exposure_table([str(tiny / "asn" / "a_asn.json")])


# ------------------------------------------------------------ exposure_references

class CountingLookup:
    """Stands in for CRDS: one file per (detector, filter, reftype) and context, N/A area."""

    def __init__(self, root):
        self.root = root
        self.calls = []

    def __call__(self, params, *, crds, reftypes):
        import pandas as pd

        context = crds.context
        self.calls.append((context, list(params.index), tuple(reftypes)))
        out = pd.DataFrame(index=params.index, columns=list(reftypes), dtype=object)
        for name, row in params.iterrows():
            if row["FILTER"] == "F999W":
                raise ExposureError(name, "no FLAT reference: no match")
            for reftype in reftypes:
                if reftype == "area":
                    out.at[name, reftype] = None
                    continue
                version = "2" if (context == "ctx2" and reftype == "flat"
                                  and row["FILTER"] == "F200W") else "1"
                path = self.root / f"{reftype}_{row['DETECTOR']}_{row['FILTER']}_{version}.fits"
                path.touch()
                out.at[name, reftype] = str(path)
        return out


def _settings(path, context):
    return CrdsSettings(path=str(path), context=context)


def test_references_asked_once_per_keyword_set_and_cached_per_context(tiny, tmp_path):
    write_rate(tiny / "rate" / "b_rate.fits", FILTER="F150W")
    write_asn(tiny / "asn" / "b_asn.json", {"b": "../rate/b_rate.fits"})
    write_rate(tiny / "rate" / "c_rate.fits")  # same keywords as a
    write_asn(tiny / "asn" / "c_asn.json", {"c": "../rate/c_rate.fits"})
    table = exposures.exposure_table([str(tiny / "asn" / "*_asn.json")])
    lookup = CountingLookup(tmp_path)
    reftypes = ("flat", "photom", "area")
    cache = tmp_path / "cache"

    refs = exposures.exposure_references(table, reftypes, crds=_settings(tmp_path, "ctx1"),
                                         cache_dir=cache, lookup=lookup)
    assert len(lookup.calls) == 1
    asked = set(lookup.calls[0][1])
    # a and c have the same keywords: one of them stands for both
    assert asked in ({"a", "b", "m", "t"}, {"c", "b", "m", "t"})
    assert refs["a"] == refs["c"] == {"flat": str(tmp_path / "flat_NRCA1_F200W_1.fits"),
                                      "photom": str(tmp_path / "photom_NRCA1_F200W_1.fits")}
    assert "area" not in refs["b"]  # N/A is left out

    again = exposures.exposure_references(table, reftypes, crds=_settings(tmp_path, "ctx1"),
                                         cache_dir=cache, lookup=lookup)
    assert again == refs and len(lookup.calls) == 1

    switched = exposures.exposure_references(table, reftypes, crds=_settings(tmp_path, "ctx2"),
                                             cache_dir=cache, lookup=lookup)
    assert len(lookup.calls) == 2
    changed = {name for name in refs if switched[name] != refs[name]}
    assert changed == {"a", "c", "t"}  # only the NRCA1/F200W FLAT differs

    # a cached file that has gone from the CRDS cache is asked again, for that set only
    (tmp_path / "flat_NRCA1_F150W_1.fits").unlink()
    exposures.exposure_references(table, reftypes, crds=_settings(tmp_path, "ctx1"),
                                         cache_dir=cache, lookup=lookup)
    assert lookup.calls[-1] == ("ctx1", ["b"], ("flat",))


def test_reference_failure_names_the_exposure(tiny, tmp_path):
    write_rate(tiny / "rate" / "z_rate.fits", FILTER="F999W")
    write_asn(tiny / "asn" / "z_asn.json", {"z": "../rate/z_rate.fits"})
    table = exposures.exposure_table([str(tiny / "asn" / "*_asn.json")])
    with pytest.raises(ExposureError, match=r"^z: no FLAT reference"):
        exposures.exposure_references(table, ("flat",), crds=_settings(tmp_path, "ctx1"),
                                      cache_dir=tmp_path / "cache", lookup=CountingLookup(tmp_path))


def test_trust_cache_skips_the_stat_checks(tiny):
    cache = tiny / "cache"
    pattern = [str(tiny / "asn" / "*_asn.json")]
    exposures.exposure_table(pattern, cache_dir=cache)
    (tiny / "rate" / "m_rate.fits").unlink()
    write_rate(tiny / "rate" / "m_rate.fits", INSTRUME="MIRI", DETECTOR="MIRIMAGE",
               EXP_TYPE="MIR_IMAGE", FILTER="F1000W", PUPIL="N/A")
    trusted = exposures.exposure_table(pattern, cache_dir=cache, trust_cache=True)
    assert trusted.loc["m", "filter"] == "F770W"  # what the cache says
    checked = exposures.exposure_table(pattern, cache_dir=cache)
    assert checked.loc["m", "filter"] == "F1000W"
    # an ASN the cache does not know is read even when trusting it
    write_asn(tiny / "asn" / "n_asn.json", {"n": "../rate/a_rate.fits"})
    assert "n" in exposures.exposure_table(pattern, cache_dir=cache, trust_cache=True).index


# ------------------------------------------- keywords absent from the primary header

def write_datamodel_rate(path, *, exp_type="NRC_IMAGE", detector="NRCB4", drop=(), **fits_set):
    """A _rate file as stdatamodels writes it (metadata also in its ASDF extension),
    then the FITS primary-header keywords ``drop`` deleted and ``fits_set`` overwritten
    in the FITS header only, as an edit with a FITS tool would."""
    from stdatamodels.jwst import datamodels

    with datamodels.ImageModel(np.zeros((8, 8), "f4")) as model:
        model.meta.telescope = "JWST"
        model.meta.instrument.name = "NIRCAM"
        model.meta.instrument.detector = detector
        model.meta.instrument.filter = "F150W"
        model.meta.instrument.pupil = "CLEAR"
        if exp_type is not None:
            model.meta.exposure.type = exp_type
        model.meta.subarray.name = "FULL"
        model.meta.observation.date = "2024-01-02"
        model.meta.observation.time = "03:04:05.678"
        model.save(path)
    with fits.open(path, mode="update") as hdul:
        for keyword in drop:
            del hdul[0].header[keyword]
        hdul[0].header.update(fits_set)
    return path


def datamodel_view(path):
    """What stdatamodels (and so jwst) makes of the file: (EXP_TYPE, DETECTOR)."""
    from stdatamodels.jwst import datamodels

    with datamodels.open(path) as model:
        return model.meta.exposure.type, model.meta.instrument.detector


def one_table(tmp_path, name, science, **kwargs):
    write_asn(tmp_path / f"{name}_asn.json", {name: science.name})
    return exposures.exposure_table([str(tmp_path / f"{name}_asn.json")], **kwargs)


@pytest.mark.parametrize("keyword, column, expected", [
    ("EXP_TYPE", "exp_type", "NRC_FOCUS"),
    ("DETECTOR", "detector", "NRCB4"),
])
def test_keyword_deleted_from_header_comes_from_asdf_like_the_datamodel(
        tmp_path, keyword, column, expected):
    path = write_datamodel_rate(tmp_path / "x_rate.fits", exp_type="NRC_FOCUS", drop=[keyword])
    assert keyword not in fits.getheader(path)
    assert datamodel_view(path) == ("NRC_FOCUS", "NRCB4")  # what jwst works with
    table = one_table(tmp_path, "x", path)
    assert table.at["x", column] == expected
    assert (table.at["x", "exp_type"], table.at["x", "detector"]) == datamodel_view(path)
    assert not table.at["x", "resample"]  # NRC_FOCUS is not resampled: the type is used


def test_blank_header_value_comes_from_asdf(tmp_path):
    path = write_datamodel_rate(tmp_path / "x_rate.fits", EXP_TYPE="")
    assert fits.getheader(path)["EXP_TYPE"] == ""
    with pytest.warns(Warning):  # stdatamodels rejects the blank, keeps the ASDF value
        assert datamodel_view(path)[0] == "NRC_IMAGE"
    assert one_table(tmp_path, "x", path).at["x", "exp_type"] == "NRC_IMAGE"


def test_header_value_wins_over_asdf_as_in_the_datamodel(tmp_path, monkeypatch):
    path = write_datamodel_rate(tmp_path / "x_rate.fits", EXP_TYPE="NRC_TACQ")
    assert datamodel_view(path)[0] == "NRC_TACQ"
    monkeypatch.setattr(exposures, "read_asdf_keywords",
                        lambda *a, **k: pytest.fail("ASDF read for a complete header"))
    assert one_table(tmp_path, "x", path).at["x", "exp_type"] == "NRC_TACQ"


def test_common_path_reads_no_asdf_and_optional_keywords_are_none(tiny, monkeypatch):
    monkeypatch.setattr(exposures, "read_asdf_keywords",
                        lambda *a, **k: pytest.fail("ASDF read for a complete header"))
    no_pupil = {k: v for k, v in NIRCAM.items() if k not in ("PUPIL", "SUBARRAY")}
    write_rate(tiny / "rate" / "p_rate.fits", header=no_pupil)
    write_asn(tiny / "asn" / "p_asn.json", {"p": "../rate/p_rate.fits"})
    table = exposures.exposure_table([str(tiny / "asn" / "*_asn.json")])
    assert table.at["p", "pupil"] is None and table.at["p", "subarray"] is None
    assert table.at["a", "pupil"] == "CLEAR"
    assert table.at["a", "nints"] is None and table.at["t", "nints"] == 3
    for column in (exposures._column(k) for k in exposures.HEADER_KEYWORDS):
        assert not any(isinstance(v, float) and v != v for v in table[column]), column


@pytest.mark.parametrize("drop, message", [
    (["EXP_TYPE"], "keyword EXP_TYPE missing"),
    (["EXP_TYPE", "DETECTOR"], "keywords DETECTOR, EXP_TYPE missing"),
])
def test_keyword_in_neither_header_nor_asdf_is_one_line_error(tmp_path, drop, message):
    header = {k: v for k, v in NIRCAM.items() if k not in drop}
    path = write_rate(tmp_path / "x_rate.fits", header=header)  # plain FITS, no ASDF
    with pytest.raises(ExposureError) as info:
        one_table(tmp_path, "x", path)
    assert str(info.value) == (f"x: {message} from the primary header and the ASDF "
                               "metadata of x_rate.fits")


def test_keyword_absent_from_header_and_from_the_asdf_tree(tmp_path):
    path = write_datamodel_rate(tmp_path / "x_rate.fits", exp_type=None)
    assert "EXP_TYPE" not in fits.getheader(path)
    assert datamodel_view(path)[0] is None
    with pytest.raises(ExposureError, match=r"^x: keyword EXP_TYPE missing from the primary "
                                            r"header and the ASDF metadata of x_rate.fits$"):
        one_table(tmp_path, "x", path)


def test_unreadable_asdf_extension_is_one_line_error(tmp_path):
    path = write_datamodel_rate(tmp_path / "x_rate.fits", drop=["EXP_TYPE"])
    with fits.open(path, mode="update") as hdul:
        data = hdul["ASDF"].data
        data["ASDF_METADATA"][:40] = 0  # clobber the "#ASDF 1.0.0" preamble
    with pytest.raises(ExposureError) as info:
        one_table(tmp_path, "x", path)
    assert str(info.value).startswith("x: cannot read the ASDF metadata of ")
    assert "\n" not in str(info.value)


def test_value_from_asdf_is_cached(tmp_path, monkeypatch):
    path = write_datamodel_rate(tmp_path / "x_rate.fits", drop=["EXP_TYPE"])
    cache = tmp_path / "cache"
    first = one_table(tmp_path, "x", path, cache_dir=cache)
    assert first.at["x", "exp_type"] == "NRC_IMAGE"
    monkeypatch.setattr(exposures, "read_asdf_keywords",
                        lambda *a, **k: pytest.fail("ASDF read again despite the cache"))
    again = exposures.exposure_table([str(tmp_path / "x_asn.json")], cache_dir=cache)
    assert again.equals(first)


@pytest.mark.parametrize("keyword", ["DETECTOR", "EXP_TYPE"])
def test_campaign_file_without_keyword_gets_the_same_references(
        campaign, tmp_path, keyword):
    """The audit's case on a simulated _rate: CRDS resolves the references as for the
    intact file (a deleted DETECTOR used to reach CRDS as UNDEFINED)."""
    import shutil

    from snakewebb import references

    name = campaign.first("NRC_IMAGE", cube=False)
    intact = tmp_path / "intact_rate.fits"
    edited = tmp_path / "edited_rate.fits"
    shutil.copy(campaign.files[name], intact)
    shutil.copy(campaign.files[name], edited)
    with fits.open(edited, mode="update") as hdul:
        del hdul[0].header[keyword]
    write_asn(tmp_path / "intact_asn.json", {"intact": intact.name})
    write_asn(tmp_path / "edited_asn.json", {"edited": edited.name})
    table = exposures.exposure_table([str(tmp_path / "*_asn.json")])
    keys = [exposures._column(k) for k in exposures.HEADER_KEYWORDS]
    assert list(table.loc["edited", keys]) == list(table.loc["intact", keys])
    crds = references.resolve_crds(campaign.crds, campaign.context)
    refs = exposures.exposure_references(table, references.ALL_REFTYPES, crds=crds,
                                         lookup=references.best_references_table)
    assert refs["edited"] == refs["intact"] and refs["edited"]["distortion"]
