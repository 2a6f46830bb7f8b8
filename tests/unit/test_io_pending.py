"""Two-phase writes (write_pending / commit_pending) and their use for the _bsub product."""

import numpy as np
import pytest
from stdatamodels.jwst import datamodels

from helpers.models import NAME, NO_WCS, write_science
from snakewebb.errors import ExposureError
from snakewebb.io import commit_pending, write_pending
from snakewebb.steps.image2 import calibrate_exposure, subtract_background_file


def test_pending_file_is_hidden_until_committed(tmp_path):
    model = datamodels.ImageModel(np.arange(16, dtype=np.float32).reshape(4, 4))
    final = tmp_path / "jw01_bsub.fits"
    pending = write_pending(model, final)
    assert pending.parent == tmp_path and pending.name.startswith(".jw01_bsub.fits.")
    assert not final.exists()
    assert commit_pending(pending, final) == final
    assert [p.name for p in tmp_path.iterdir()] == ["jw01_bsub.fits"]
    with datamodels.open(final) as reread:
        assert reread.meta.filename == "jw01_bsub.fits"
        np.testing.assert_array_equal(reread.data, model.data)


def test_bsub_written_from_the_live_model_matches_the_background_product(tmp_path, refs):
    rate = write_science(tmp_path / f"{NAME}_rate.fits")
    bkgs = [write_science(tmp_path / f"bkg{i}_rate.fits", seed=7 + i) for i in range(2)]
    bsub = tmp_path / "out" / f"{NAME}_bsub.fits"
    calibrate_exposure(rate, tmp_path / "out" / f"{NAME}_cal.fits", backgrounds=bkgs,
                       refs=refs, options=NO_WCS, bsub_output=bsub)
    direct = subtract_background_file(rate, bkgs, tmp_path / f"{NAME}_direct_bsub.fits",
                                      options=NO_WCS)
    with datamodels.open(bsub) as b, datamodels.open(direct) as d:
        assert b.meta.cal_step.bkg_subtract == "COMPLETE" and b.meta.cal_step.flat_field is None
        assert b.meta.filename == f"{NAME}_bsub.fits"
        for name in ("data", "err", "dq", "var_poisson", "var_rnoise"):
            np.testing.assert_array_equal(getattr(b, name), getattr(d, name), err_msg=name)
        assert b.var_flat is None  # written before flat_field touched the model


def test_failed_cal_write_leaves_neither_product(tmp_path, refs, monkeypatch):
    rate = write_science(tmp_path / f"{NAME}_rate.fits")
    bkgs = [write_science(tmp_path / f"bkg{i}_rate.fits", seed=7 + i) for i in range(2)]
    calls = []
    real = datamodels.ImageModel.to_fits

    def second_write_fails(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(datamodels.ImageModel, "to_fits", second_write_fails)
    out = tmp_path / "out"
    with pytest.raises(ExposureError,
                       match=rf"^{NAME}: cannot write \S+/{NAME}_cal\.fits: disk full$"):
        calibrate_exposure(rate, out / f"{NAME}_cal.fits", backgrounds=bkgs, refs=refs,
                           options=NO_WCS, bsub_output=out / f"{NAME}_bsub.fits")
    assert len(calls) == 2  # the _bsub was written, then the _cal failed
    assert list(out.iterdir()) == []
