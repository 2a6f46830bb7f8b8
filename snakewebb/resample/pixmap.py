"""Where each input pixel centre lands on the output grid (the pixel map).

The exact transform chain is evaluated on a coarse grid of nodes and filled in with
separable local cubic (Lagrange) interpolation; see :mod:`snakewebb.resample`.
"""

import logging
import math

import numpy as np

from snakewebb.resample.grid import ResampleError

__all__ = ["PIXMAP_STEP", "EXACT_MAP_KERNELS", "exact_pixel_map", "pixel_map"]

log = logging.getLogger(__name__)

#: Spacing (input pixels) of the nodes where the exact transform is evaluated.
PIXMAP_STEP = 16

#: Kernels whose weights jump with the mapped position (nearest pixel, lookup
#: tables): the interpolated map's ~1e-6 px error moves some weights, so these get
#: the exact map. Square and turbo overlaps are continuous in the position.
EXACT_MAP_KERNELS = frozenset({"point", "gaussian", "lanczos2", "lanczos3"})


def _pixel_range(wcs, shape):
    """Integer pixel ranges ``(xmin, xmax, ymin, ymax)`` inside the bounding box."""
    ny, nx = shape
    if wcs.bounding_box is None:
        return 0, nx - 1, 0, ny - 1
    (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box(order="F")
    xmin, xmax = max(0, math.ceil(x0)), min(nx - 1, math.floor(x1))
    ymin, ymax = max(0, math.ceil(y0)), min(ny - 1, math.floor(y1))
    return xmin, xmax, ymin, ymax


def _lagrange_weights(nodes, points, order=3):
    """Local Lagrange interpolation: node windows and weights, ``(len(points), k)`` each.

    Each point is interpolated from the ``k = order + 1`` consecutive nodes
    around it (the window shifted inwards at the edges).
    """
    nodes = np.asarray(nodes, dtype=float)
    points = np.asarray(points, dtype=float)
    k = min(order + 1, nodes.size)
    cell = np.clip(np.searchsorted(nodes, points, side="right") - 1, 0, nodes.size - 2)
    first = np.clip(cell - (k // 2 - 1), 0, nodes.size - k)
    idx = first[:, None] + np.arange(k)[None, :]
    xs = nodes[idx]
    weights = np.ones((points.size, k))
    for j in range(k):
        for m in range(k):
            if m != j:
                weights[:, j] *= (points - xs[:, m]) / (xs[:, j] - xs[:, m])
    return idx, weights


def _lagrange_matrix(nodes, points, order=3):
    """Dense ``(len(points), len(nodes))`` matrix of local Lagrange weights."""
    idx, weights = _lagrange_weights(nodes, points, order)
    matrix = np.zeros((len(points), len(nodes)))
    np.put_along_axis(matrix, idx, weights, axis=1)
    return matrix


def _nodes(lo, hi, step):
    count = max(int(math.ceil((hi - lo) / step)) + 1, min(4, hi - lo + 1))
    return np.linspace(lo, hi, count)


def exact_pixel_map(in_wcs, out_wcs, shape):
    """Pixel map by evaluating both transforms on every input pixel (reference)."""
    pixmap = np.full(tuple(shape) + (2,), np.nan)
    xmin, xmax, ymin, ymax = _pixel_range(in_wcs, shape)
    y, x = np.mgrid[ymin : ymax + 1, xmin : xmax + 1].astype(float)
    sky = in_wcs(x, y, with_bounding_box=False)
    ox, oy = out_wcs.backward_transform(*sky)
    pixmap[ymin : ymax + 1, xmin : xmax + 1, 0] = ox
    pixmap[ymin : ymax + 1, xmin : xmax + 1, 1] = oy
    return pixmap


class _PixelMapper:
    """Pixel map rows on demand, from the exact transform on a coarse node grid.

    Nodes are spaced at most ``step`` pixels apart with the first and last
    rows/columns of the bounding box included. The node values are first
    interpolated along x for all columns (a small ``(n_ynodes, nx)`` table),
    then each requested row is the local cubic Lagrange combination of four
    table rows. Pixels outside the input bounding box are NaN.
    """

    def __init__(self, in_wcs, out_wcs, shape, step=PIXMAP_STEP):
        self.shape = tuple(shape)
        self.range = xmin, xmax, ymin, ymax = _pixel_range(in_wcs, shape)
        if xmax < xmin or ymax < ymin:
            raise ResampleError("the WCS bounding box holds no pixel of the image")
        self.exact = None
        xn, yn = _nodes(xmin, xmax, step), _nodes(ymin, ymax, step)
        if xn.size * yn.size * 4 >= (xmax - xmin + 1) * (ymax - ymin + 1):
            self.exact = exact_pixel_map(in_wcs, out_wcs, shape)
            return
        gx, gy = np.meshgrid(xn, yn)
        sky = in_wcs(gx, gy, with_bounding_box=False)
        nodes = [np.asarray(v, dtype=float) for v in out_wcs.backward_transform(*sky)]
        if not all(np.all(np.isfinite(v)) for v in nodes):
            log.warning("transform not finite on every node; computing the exact pixel map")
            self.exact = exact_pixel_map(in_wcs, out_wcs, shape)
            return
        wx = _lagrange_matrix(xn, np.arange(xmin, xmax + 1))
        self.tables = [v @ wx.T for v in nodes]  # (n_ynodes, xmax - xmin + 1) each
        self.ynodes = yn

    def rows(self, r0, r1):
        """Pixel map of input rows ``r0:r1``, shape ``(r1 - r0, nx, 2)``."""
        if self.exact is not None:
            return np.ascontiguousarray(self.exact[r0:r1])
        xmin, xmax, ymin, ymax = self.range
        lo, hi = max(r0, ymin), min(r1, ymax + 1)
        if hi <= lo or (xmin, xmax) != (0, self.shape[1] - 1) or (lo, hi) != (r0, r1):
            block = np.full((r1 - r0, self.shape[1], 2), np.nan)
        else:  # every pixel is written below
            block = np.empty((r1 - r0, self.shape[1], 2))
        if hi <= lo:
            return block
        idx, weights = _lagrange_weights(self.ynodes, np.arange(lo, hi, dtype=float))
        # windows are consecutive nodes, so rows with the same first node share
        # their four table rows: one small (rows x 4) @ (4 x nx) product each
        starts = np.flatnonzero(np.r_[True, idx[1:, 0] != idx[:-1, 0]])
        ends = np.r_[starts[1:], idx.shape[0]]
        for a, b in zip(starts, ends):
            for axis, table in enumerate(self.tables):
                block[lo - r0 + a : lo - r0 + b, xmin : xmax + 1, axis] = (
                    weights[a:b] @ table[idx[a]])
        return block

    def values(self, rows, cols):
        """Pixel map at integer pixels ``(rows[k], cols[k])``, shape ``(n, 2)``.

        NaN outside the bounding box: the values :meth:`rows` gives there.
        """
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        if self.exact is not None:
            return self.exact[rows, cols]
        xmin, xmax, ymin, ymax = self.range
        out = np.full((rows.size, 2), np.nan)
        inside = (rows >= ymin) & (rows <= ymax) & (cols >= xmin) & (cols <= xmax)
        if inside.any():
            idx, weights = _lagrange_weights(self.ynodes, rows[inside].astype(float))
            columns = (cols[inside] - xmin)[:, None]
            for axis, table in enumerate(self.tables):
                out[inside, axis] = np.einsum("nk,nk->n", weights, table[idx, columns])
        return out


def pixel_map(in_wcs, out_wcs, shape, *, step=PIXMAP_STEP):
    """Output-grid coordinates of every input pixel centre, shape ``(ny, nx, 2)``.

    The exact chain (input pixel -> sky -> output pixel) is evaluated on nodes
    spaced at most ``step`` pixels apart, first and last rows/columns included,
    and interpolated with separable local cubic Lagrange weights. Pixels
    outside the input WCS bounding box are NaN (they are not drizzled). Falls
    back to the exact map when the transform is not finite on a node.
    """
    return _PixelMapper(in_wcs, out_wcs, shape, step).rows(0, shape[0])
