"""snakewebb.instruments: one table row per imager, read by modes and the steps."""

import numpy as np
import pytest

from helpers.imports import heavy_imports
from snakewebb import assign_wcs, instruments, modes, photom
from snakewebb.instruments import INSTRUMENTS

PREFIX = {"NIRCAM": "NRC_", "MIRI": "MIR_", "NIRISS": "NIS_", "FGS": "FGS_"}
SIAF_FULL_FRAME = {"NIRCAM": ("NIRCam", "NRCA1_FULL"), "MIRI": ("MIRI", "MIRIM_FULL"),
                   "NIRISS": ("NIRISS", "NIS_CEN"), "FGS": ("FGS", "FGS1_FULL")}


@pytest.mark.parametrize("name", list(INSTRUMENTS))
def test_full_frame_is_the_siaf_full_frame_aperture(name):
    import pysiaf

    siaf_name, aperture = SIAF_FULL_FRAME[name]
    ap = pysiaf.Siaf(siaf_name)[aperture]
    assert instruments.full_frame(name) == (ap.YSciSize, ap.XSciSize)
    assert instruments.full_frame(name.lower()) == instruments.full_frame(name)


def test_an_unknown_instrument_has_the_default_full_frame_and_no_row():
    assert instruments.full_frame("NIRSPEC") == instruments.DEFAULT_FULL_FRAME
    assert instruments.full_frame(None) == instruments.DEFAULT_FULL_FRAME
    assert instruments.instrument("NIRSPEC") is None


@pytest.mark.parametrize("info", INSTRUMENTS.values(), ids=list(INSTRUMENTS))
def test_each_row_is_consistent(info):
    assert info.exp_types[0].endswith("_IMAGE")  # the plain imaging type first
    assert all(t.startswith(PREFIX[info.name]) for t in info.exp_types)
    assert set(info.resample_exp_types) <= {info.exp_types[0]}
    assert set(info.photom_optional_keys).isdisjoint(info.photom_keys)
    if info.filteroffset_keys is None:
        assert not info.filteroffset_unique


def test_modes_read_the_table():
    assert modes.EXP_TYPES_BY_INSTRUMENT == {i.name: i.exp_types for i in INSTRUMENTS.values()}
    all_types = [t for i in INSTRUMENTS.values() for t in i.exp_types]
    assert len(all_types) == len(set(all_types)) == len(modes.SUPPORTED_EXP_TYPES)
    assert modes.RESAMPLE_EXP_TYPES == {"NRC_IMAGE", "MIR_IMAGE", "NIS_IMAGE"}
    assert set(assign_wcs.IMAGING_EXP_TYPES) == modes.SUPPORTED_EXP_TYPES


class _Node:
    def __init__(self, **fields):
        self.__dict__.update(fields)


def _model(instrument, filt="F200W", pupil="CLEAR", subarray="FULL"):
    meta = _Node(instrument=_Node(name=instrument, filter=filt, pupil=pupil),
                 subarray=_Node(name=subarray))
    return _Node(meta=meta)


def _table(*columns):
    return np.zeros(1, dtype=[(c.upper(), "U8") for c in columns])


@pytest.mark.parametrize("instrument, columns, expected", [
    ("NIRCAM", ("filter", "pupil"), [{"filter": "F200W", "pupil": "CLEAR"}]),
    ("NIRCAM", ("filter", "pupil", "subarray"),
     [{"filter": "F200W", "pupil": "CLEAR", "subarray": "FULL"}]),
    ("NIRISS", ("filter", "pupil", "subarray"), [{"filter": "F200W", "pupil": "CLEAR"}]),
    ("MIRI", ("subarray", "filter"),
     [{"subarray": "FULL", "filter": "F200W"}, {"subarray": "GENERIC", "filter": "F200W"}]),
    ("FGS", ("photmjsr",), [{}]),
])
def test_photom_selects_its_row_on_the_instrument_keys(instrument, columns, expected):
    fields = photom._match_fields(_model(instrument), _table(*columns))
    assert fields == expected
    assert [list(f) for f in fields] == [list(f) for f in expected]  # the order errors name


def test_photom_refuses_an_instrument_without_a_row():
    with pytest.raises(photom.PhotomError, match="no imaging photometry for instrument NIRSPEC"):
        photom._match_fields(_model("NIRSPEC"), _table("filter"))


@pytest.mark.parametrize("instrument, rows, expected", [
    # NIRCam/NIRISS: FILTER and PUPIL, exactly one row
    ("NIRCAM", [{"filter": "F200W", "pupil": "CLEAR", "column_offset": 1.0, "row_offset": 2.0},
                {"filter": "F200W", "pupil": "F164N", "column_offset": 3.0, "row_offset": 4.0}],
     (1.0, 2.0)),
    # MIRI: FILTER only, the first match wins
    ("MIRI", [{"filter": "F200W", "pupil": "X", "column_offset": 5.0, "row_offset": 6.0},
              {"filter": "F200W", "pupil": "Y", "column_offset": 7.0, "row_offset": 8.0}],
     (5.0, 6.0)),
    # FGS: no filter-offset stage
    ("FGS", [{"filter": "F200W", "pupil": "CLEAR", "column_offset": 1.0, "row_offset": 2.0}],
     None),
])
def test_filter_offset_matches_the_instrument_keys(instrument, rows, expected):
    assert assign_wcs.filter_offset(instrument, "F200W", "CLEAR", rows) == expected


def test_filter_offset_refuses_two_rows_where_one_must_match():
    rows = [{"filter": "F200W", "pupil": "CLEAR", "column_offset": 1.0, "row_offset": 2.0}] * 2
    with pytest.raises(ValueError, match="2 FILTEROFFSET rows match"):
        assign_wcs.filter_offset("NIRISS", "F200W", "CLEAR", rows)


def test_subarray_corner_is_zero_based_and_none_without_both_keywords():
    def meta(xstart, ystart):
        return _Node(subarray=_Node(xstart=xstart, ystart=ystart))

    assert instruments.subarray_corner(meta(1, 1)) == (0, 0)
    assert instruments.subarray_corner(meta(33, 1025)) == (1024, 32)
    assert instruments.subarray_corner(meta(None, 5)) is None
    assert instruments.subarray_corner(meta(5, None)) is None
    assert instruments.subarray_corner(_Node()) is None


def test_importing_the_table_costs_no_heavy_library():
    assert heavy_imports("snakewebb.instruments", "snakewebb.modes") == []
