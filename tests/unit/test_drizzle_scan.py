"""snakewebb.drizzle_scan predicts which input pixels drizzle's kernel visits.

The prediction is checked against drizzle itself: on small images, each input
pixel is drizzled alone (weight 1 on it, 0 elsewhere, the whole image given to
the kernel), and it was visited exactly when the output weights moved. The
geometries clip the region's outline on every side of the output, with
rotation, scale change, distortion and NaN map borders.
"""

import math
import warnings

import numpy as np
import pytest
from drizzle import cdrizzle

from helpers.resample import make_cal_model
from snakewebb import drizzle_scan
from snakewebb import resample as rs


def _pixmap(shape, *, angle=0.0, scale=1.0, shift=(0.0, 0.0), bend=0.0):
    """Input -> output pixel map: rotation, scale, shift and a quadratic bend."""
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(float)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    u = scale * (c * x - s * y) + shift[0] + bend * (y - ny / 2) ** 2
    v = scale * (s * x + c * y) + shift[1] + bend * (x - nx / 2) ** 2
    return np.dstack([u, v])


def _visited(pixmap, region, out_shape):
    """Pixels drizzle visits with the whole image given, found one pixel at a time."""
    ny, nx = pixmap.shape[:2]
    xmin, xmax, ymin, ymax = region
    data = np.ones((ny, nx), dtype=np.float32)
    seen = np.zeros((ny, nx), dtype=bool)
    for j in range(ny):
        for i in range(nx):
            weight = np.zeros((ny, nx), dtype=np.float32)
            weight[j, i] = 1.0
            out = np.zeros(out_shape, dtype=np.float32)
            wht = np.zeros(out_shape, dtype=np.float32)
            cdrizzle.tdriz(input=data, weights=weight, pixmap=pixmap, output=out, counts=wht,
                           context=None, uniqid=1, xmin=xmin, xmax=xmax, ymin=ymin, ymax=ymax,
                           iscale=1.0, pscale_ratio=1.0, pixfrac=1.0, kernel="square",
                           in_units="cps", expscale=1.0, wtscale=1.0, fillstr="INDEF")
            seen[j, i] = np.any(wht != 0)
    return seen


def _predicted(pixmap, region, out_shape):
    ny, nx = pixmap.shape[:2]
    flat = pixmap.reshape(-1, 2)
    limits = drizzle_scan.scan(lambda r, c: flat[np.asarray(r) * nx + np.asarray(c)],
                               (ny, nx), region, out_shape)
    mask = np.zeros((ny, nx), dtype=bool)
    for row, (first, last) in limits.items():
        mask[row, first : last + 1] = True
    return mask


GEOMETRIES = [
    # (input shape, pixmap parameters, region, output shape): outlines clipped on ...
    ((24, 30), dict(angle=7.0, shift=(3.0, 2.0)), (0, 29, 0, 23), (22, 27)),  # top, right
    ((24, 30), dict(angle=-11.0, shift=(-2.4, 4.1)), (0, 29, 0, 23), (30, 36)),  # left, bottom
    ((26, 22), dict(angle=33.0, scale=0.8, shift=(12.3, -1.7)), (0, 21, 0, 25), (20, 18)),
    ((20, 28), dict(angle=2.0, scale=1.3, shift=(-3.6, -2.2), bend=0.004), (0, 27, 0, 19),
     (24, 30)),  # all four sides, curved edges
    ((25, 25), dict(angle=45.0, shift=(12.5, -5.0)), (2, 21, 3, 20), (26, 26)),  # sub-region
    ((22, 26), dict(angle=-3.0, scale=1.0, shift=(0.2, 0.4)), (0, 25, 0, 21), (23, 27)),  # grazing
    ((18, 20), dict(angle=90.0, shift=(19.0, 0.0)), (0, 19, 0, 17), (20, 19)),  # axis-aligned edges
]


@pytest.mark.parametrize("shape,params,region,out_shape", GEOMETRIES)
def test_prediction_equals_drizzle_visits(shape, params, region, out_shape):
    pixmap = _pixmap(shape, **params)
    predicted = _predicted(pixmap, region, out_shape)
    visited = _visited(pixmap, region, out_shape)
    assert predicted.any() and not predicted.all()
    np.testing.assert_array_equal(predicted, visited)


def _explained_misses(pixmap, predicted, visited, out_shape):
    """Predicted-visited pixels that got no weight must be ones drizzle visits in vain:
    next to a NaN map cell, or mapped wholly outside the output."""
    ny_out, nx_out = out_shape
    for j, i in zip(*np.nonzero(predicted & ~visited)):
        cells = pixmap[max(j - 1, 0) : j + 2, max(i - 1, 0) : i + 2]
        u, v = pixmap[j, i]
        reach = 0.5 * (math.cos(math.radians(7.0)) + math.sin(math.radians(7.0)))  # half width
        outside = (u - reach > nx_out - 0.5 or v - reach > ny_out - 0.5
                   or u + reach < -0.5 or v + reach < -0.5)
        assert np.isnan(cells).any() or outside, (j, i)


def test_prediction_with_nan_map_borders():
    """drizzle trims NaN map borders; a region corner then sits on a NaN cell and drizzle
    scans the whole trimmed region, unclipped."""
    pixmap = _pixmap((24, 30), angle=7.0, shift=(3.0, 2.0))
    pixmap[:3] = np.nan
    pixmap[:, 27:] = np.nan
    predicted = _predicted(pixmap, (0, 26, 3, 23), (22, 27))
    visited = _visited(pixmap, (0, 29, 0, 23), (22, 27))
    assert not np.any(visited & ~predicted)
    assert predicted[3:, :27].all() and not predicted[:3].any() and not predicted[:, 27:].any()
    _explained_misses(pixmap, predicted, visited, (22, 27))


def test_no_overlap_is_unknown():
    pixmap = _pixmap((10, 10), shift=(50.0, 50.0))
    with pytest.raises(drizzle_scan.ScanUnknown):
        _predicted(pixmap, (0, 9, 0, 9), (10, 10))


def test_c_round_halves_away_from_zero():
    values = (0.5, 1.5, 2.5, -0.5, -2.5, 2.4999, 0.49999999999999994)
    assert [drizzle_scan.c_round(v) for v in values] == [1, 2, 3, -1, -3, 2, 0]


# ----------------------------------------------------------- resample in blocks


def _plan(model, block_rows, **grid):
    out_wcs, _, _ = rs.build_output_wcs(model, **grid)
    mapper = rs._PixelMapper(model.meta.wcs, out_wcs, model.data.shape)
    blocks = list(rs._blocks(model.data.shape[0], block_rows))
    drange = rs._drizzle_range(model.meta.wcs, model.data.shape)
    return rs._block_plan(mapper, blocks, drange, tuple(out_wcs.array_shape))


EDGES = ((-0.5, 209.5), (-0.5, 199.5))  # a bounding box on the pixel edges, as JWST WCSs have


def _model(layout, seed, bbox):
    """A 200 x 210 calibrated model; with a box, S_REGION on its edges as assign_wcs writes it."""
    model = make_cal_model(layout, shape=(200, 210), seed=seed, bbox=bbox)
    if bbox is not None:
        (x0, x1), (y0, y1) = bbox
        corners = np.array(model.meta.wcs([x0, x1, x1, x0], [y0, y0, y1, y1])).T
        model.meta.wcsinfo.s_region = "POLYGON ICRS  " + " ".join(
            f"{a:.9f} {d:.9f}" for a, d in corners)
    return model


@pytest.mark.parametrize("layout,bbox,grid,blockwise,clipped", [
    # the official default grid: its top and right edges cut the outline
    ("nircam", EDGES, {}, True, True),
    ("miri", EDGES, {"output_shape": (250, 240)}, True, True),  # grid smaller than the footprint
    ("niriss", EDGES, {"rotation": 30.0}, True, True),
    # box inside the image: corners on NaN map cells, nothing clipped
    ("miri", ((3.5, 205.5), (1.5, 199.5)), {}, True, False),
    # outlines cut at the bottom or left would need the map shifted: drizzled whole
    ("nircam", None, {}, False, True),  # no box: the grid is made from pixel centres
    ("miri", EDGES, {"crpix": (80.0, 70.0), "output_shape": (200, 190)}, False, True),
])
def test_blocks_reproduce_whole_image_drizzle(layout, bbox, grid, blockwise, clipped):
    """Blocks drizzled onto a padded output, weights zero where the whole-image call does
    not visit, give the whole image's result bit for bit."""
    model = _model(layout, 7, bbox)
    model.dq[:] = 0  # every edge pixel counts
    plan = _plan(model, 16, **grid)
    assert (len(plan.blocks) > 1) is blockwise
    if blockwise:
        assert (max(plan.pad) > 0) is clipped
        xmin, xmax = plan.visits[100]
        assert any(v != (xmin, xmax) for v in plan.visits.values()) is clipped  # pixels skipped
    whole = rs.resample_image(model, block_rows=10_000, **grid)
    blocks = rs.resample_image(model, block_rows=16, **grid)
    for name in ("data", "wht", "con", "err") + rs.VARIANCES:
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name), err_msg=name)


@pytest.mark.parametrize("kernel", ["point", "turbo", "gaussian", "lanczos3"])
def test_blocks_reproduce_whole_image_drizzle_for_every_kernel(kernel):
    """Every drizzle kernel scans the input with the same outline, so blocks work for all."""
    model = _model("nircam", 8, EDGES)
    model.dq[:] = 0
    assert max(_plan(model, 16).pad) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # drizzle: "not a flux-conserving kernel"
        whole = rs.resample_image(model, block_rows=10_000, kernel=kernel)
        blocks = rs.resample_image(model, block_rows=16, kernel=kernel)
    for name in ("data", "wht", "con", "err") + rs.VARIANCES:
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name), err_msg=name)


def test_tiny_user_grid_is_drizzled_whole():
    """Padding a grid far smaller than the image would cost more than the whole pixel map."""
    model = _model("miri", 7, EDGES)
    assert len(_plan(model, 16, output_shape=(120, 110)).blocks) == 1
    assert len(_plan(model, 16, output_shape=(250, 240)).blocks) > 1


def test_a_failing_prediction_falls_back_to_one_block(monkeypatch):
    model = _model("nircam", 8, EDGES)

    def broken(*args):
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(rs.drizzle_scan, "scan", broken)
    assert len(_plan(model, 16).blocks) == 1
    out = rs.resample_image(model, block_rows=16)
    monkeypatch.undo()
    np.testing.assert_array_equal(out.wht, rs.resample_image(model, block_rows=10_000).wht)


def test_row_blocks_switched_off_drizzle_whole_with_the_same_product(monkeypatch):
    """``block_rows=None``: one block, no scan prediction, the product of the row blocks."""
    model = _model("nircam", 8, EDGES)
    calls = []
    scan = rs.drizzle_scan.scan
    monkeypatch.setattr(rs.drizzle_scan, "scan", lambda *args: calls.append(1) or scan(*args))
    whole = rs.resample_image(model, block_rows=None)
    assert not calls
    blocks = rs.resample_image(model, block_rows=16)
    assert calls
    for name in ("data", "wht", "con", "err") + rs.VARIANCES:
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name), err_msg=name)
