"""Row blocks: drizzling the input a block of rows at a time, exactly as one call would.

The pixel map, weights and square roots then never exist for the whole image. A block
plan is used only when :mod:`snakewebb.drizzle_scan` predicts that the blocks visit
exactly the pixels the whole-image call visits; otherwise the image is one block.
"""

import logging
import math

import numpy as np

from snakewebb import drizzle_scan

__all__ = ["BLOCK_ROWS"]

log = logging.getLogger(__name__)

#: Rows per block by default: the row blocks keep the peak memory of a full-frame
#: NIRCam resample at ~0.37x the official step's, against ~0.46x drizzled whole
#: (benchmarks/bench_resample.py --whole-image, 2026-12-04). ``block_rows=None`` in
#: :func:`snakewebb.resample.resample_image` switches them off.
BLOCK_ROWS = 256


def _blocks(ny, rows_per_block):
    """Row blocks ``(r0, r1, h0, h1)``: drizzled rows r0:r1 given with halo rows h0:h1.

    The halo lets drizzle interpolate pixel corners across block seams exactly
    as on the whole image.
    """
    for r0 in range(0, ny, rows_per_block):
        r1 = min(ny, r0 + rows_per_block)
        yield r0, r1, max(0, r0 - _HALO), min(ny, r1 + _HALO)


_HALO = 2
_MAX_BLOCKS = 32  # one 32-bit context plane


class _BlockPlan:
    """How to drizzle: row blocks, output padding and the pixels to give weight.

    ``blocks`` as from :func:`_blocks`; ``pad`` the ``(rows, columns)`` added at the
    output's top and right so that no block's scan outline is clipped; ``visits``
    the whole-image call's ``{row: (first, last)}`` visited pixels (None when the
    image is drizzled whole, where drizzle itself decides).
    """

    def __init__(self, blocks, pad=(0, 0), visits=None):
        self.blocks, self.pad, self.visits = blocks, pad, visits

    @classmethod
    def whole(cls, ny):
        """One block of all ``ny`` rows: drizzle decides on its own."""
        return cls(list(_blocks(ny, ny)))

    def unvisited(self, r0, r1, h0, h1, nx):
        """Mask of rows ``h0:h1`` that must get no weight.

        Halo rows and the pixels of rows ``r0:r1`` the whole-image call would not visit.
        """
        if self.visits is None:
            return None
        first = np.full(h1 - h0, nx)
        last = np.full(h1 - h0, -1)
        for row in range(r0, r1):
            if row in self.visits:
                first[row - h0], last[row - h0] = self.visits[row]
        cols = np.arange(nx)
        return (cols < first[:, None]) | (cols > last[:, None])


def _block_plan(mapper, blocks, drange, out_shape):
    """:func:`_plan_blocks`, falling back to one block on any failure of the prediction.

    One block is always right; blocks only save memory.
    """
    try:
        return _plan_blocks(mapper, blocks, drange, out_shape)
    except Exception as err:  # noqa: BLE001 - see docstring
        log.warning("drizzled as one block: row blocks could not be planned (%s)", err)
        return _BlockPlan.whole(mapper.shape[0])


def _plan_blocks(mapper, blocks, drange, out_shape):
    """Drizzle in ``blocks`` when that reproduces one whole-image call, else whole.

    drizzle clips the outline of the region it is given to the output, and visits
    only the pixels inside the clipped outline (see :mod:`snakewebb.drizzle_scan`).
    Blocks are drizzled onto an output grown at the top and right until no block's
    outline is clipped, each visiting its whole rectangle; the pixels the whole-image
    call would skip get zero weight, which the kernel ignores. The plan is used only
    when the predicted scans show it is exact; outlines reaching past the output's
    bottom or left edge (user-given grids) and exact pixel maps are drizzled whole.
    """
    whole = _BlockPlan.whole(mapper.shape[0])
    ny, nx = mapper.shape
    if len(blocks) < 2 or mapper.exact is not None or nx < 2:
        return whole
    xmin, xmax, ymin, ymax = drange
    # drizzle reads 0 as "to the end" and trims NaN map borders (here: outside the box)
    xmax = nx - 1 if xmax == 0 else xmax
    ymax = ny - 1 if ymax == 0 else ymax
    bx0, bx1, by0, by1 = mapper.range
    region = (max(xmin, bx0), min(xmax, bx1), max(ymin, by0), min(ymax, by1))
    if region[0] >= region[1] or region[2] >= region[3]:
        return whole
    try:
        visits = drizzle_scan.scan(mapper.values, mapper.shape, region, out_shape)
    except drizzle_scan.ScanUnknown as err:
        log.info("drizzled as one block: %s", err)
        return whole
    if any(not region[2] <= row <= region[3] for row in visits):
        return whole

    # each drizzled block: its rows, its map (rows h0:h1) and its region within that map
    active = [(r0, r1, h0, _shifted_values(mapper, h0), (h1 - h0, nx),
               (region[0], region[1], max(region[2], r0) - h0, min(region[3], r1 - 1) - h0))
              for r0, r1, h0, h1 in blocks if max(region[2], r0) <= min(region[3], r1 - 1)]
    if any(shape[0] < 2 for *_, shape, _ in active):
        return whole
    reach = np.full(2, -np.inf)  # furthest outline corner beyond the top/right edges
    for *_, values, shape, block_region in active:
        ox, oy = drizzle_scan.interpolate(values, shape, *drizzle_scan.region_corners(block_region))
        if not (np.all(np.isfinite(ox)) and np.all(np.isfinite(oy))):
            continue  # a corner on a NaN map cell: drizzle does not clip this block
        if ox.min() <= -0.5 or oy.min() <= -0.5:
            return whole
        reach = np.maximum(reach, [oy.max() - (out_shape[0] - 0.5),
                                   ox.max() - (out_shape[1] - 0.5)])
    pad = tuple(int(math.ceil(r)) + 1 if r > -0.5 else 0 for r in reach)
    padded = (out_shape[0] + pad[0], out_shape[1] + pad[1])
    # a grid much smaller than the image (user-given): padding the six float32 outputs
    # would cost more than the whole image's float64 (x, y) pixel map
    if 6 * 4 * (padded[0] * padded[1] - out_shape[0] * out_shape[1]) > 16 * ny * nx:
        return whole
    for r0, r1, h0, values, shape, block_region in active:
        try:
            seen = drizzle_scan.scan(values, shape, block_region, padded)
        except drizzle_scan.ScanUnknown:
            return whole
        for row in range(r0, r1):
            if row not in visits:
                continue
            got = seen.get(row - h0)
            if got is None or got[0] > visits[row][0] or got[1] < visits[row][1]:
                return whole
    return _BlockPlan(blocks, pad, visits)


def _shifted_values(mapper, h0):
    """``values`` of the pixel map of the rows from ``h0`` on (a block's map)."""
    return lambda rows, cols: mapper.values(np.asarray(rows) + h0, cols)


def _drizzle_range(wcs, shape):
    """Input pixel ranges given to drizzle (rounded bounding box)."""
    ny, nx = shape
    if wcs.bounding_box is None:
        return 0, nx - 1, 0, ny - 1
    (x1, x2), (y1, y2) = wcs.bounding_box.bounding_box(order="F")
    xmin, ymin = max(0, int(x1 + 0.5)), max(0, int(y1 + 0.5))
    xmax = max(xmin, min(nx - 1, int(x2 + 0.5)))
    ymax = max(ymin, min(ny - 1, int(y2 + 0.5)))
    return xmin, xmax, ymin, ymax
