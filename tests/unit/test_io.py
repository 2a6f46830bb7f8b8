import os
import stat

import numpy as np
import pytest
from stdatamodels.jwst import datamodels

from snakewebb.io import atomic_save, exposure_name


def test_atomic_save_writes_final_name_and_usual_mode(tmp_path):
    model = datamodels.ImageModel(np.ones((4, 4), dtype=np.float32))
    out = atomic_save(model, tmp_path / "jw01_cal.fits")
    assert out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["jw01_cal.fits"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    with datamodels.open(out) as reread:
        assert reread.meta.filename == "jw01_cal.fits"


def test_atomic_save_leaves_nothing_on_failure(tmp_path, monkeypatch):
    model = datamodels.ImageModel(np.ones((4, 4), dtype=np.float32))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(datamodels.ImageModel, "to_fits", broken)
    with pytest.raises(OSError, match="disk full"):
        atomic_save(model, tmp_path / "jw01_cal.fits")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "path, name",
    [
        ("/a/jw01234001001_02101_00001_nrca1_rate.fits", "jw01234001001_02101_00001_nrca1"),
        ("jw01_mirimage_rateints.fits", "jw01_mirimage"),
        ("x/jw01_nis_bsub.fits", "jw01_nis"),
        ("jw01_nis_i2d.fits", "jw01_nis"),
    ],
)
def test_exposure_name(path, name):
    assert exposure_name(path) == name
