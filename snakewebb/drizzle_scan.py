"""Which input pixels drizzle's C kernel visits in one ``tdriz`` call.

drizzle 2.x does not visit every pixel of the input region it is given. It maps
the region's outline (its four corners, joined by straight edges) to the output
frame, clips that quadrilateral to the output image, maps the clipped outline
back to the input with a golden-section search on the pixel map, and on each
input row visits only the pixels lying wholly inside it. When the outline is
clipped, drizzling an image in row blocks therefore visits other pixels near the
output's edges than one call on the whole image does.

:func:`scan` predicts the visited pixels of a call, row by row, with the same
arithmetic. The resample step uses it to drizzle row blocks onto an output grown
at its top and right edges (so that no block outline is clipped) with zero weight
on every pixel the whole-image call would not visit: a zero-weight pixel leaves
the kernel's outputs untouched, so the blocks give the whole image's result.
"""

import math

import numpy as np
from drizzle import cdrizzle

INVERSION_TOLERANCE = 0.03  # drizzle's convergence limit (pixels) for inverting the map
VERTEX_ATOL = 1e-12  # drizzle's tolerance for vertices at the same height
_GOLDEN = 0.6180339887498948482
_MAX_ITERATIONS = 50
_MARGIN = 1e-6  # corners closer than this to the output's edges count as clipped


class ScanUnknown(Exception):
    """drizzle's scan cannot be predicted here (it would fail or fall back)."""


def c_round(value):
    """C ``round``: halves away from zero (Python's ``round`` goes to even)."""
    if value < 0:
        return -c_round(-value)
    whole = math.floor(value)
    return int(whole) + (1 if value - whole >= 0.5 else 0)


def interpolate(values, shape, x, y):
    """The pixel map at input points ``(x, y)``, bilinear as drizzle does it.

    ``values(rows, cols)`` returns the pixel map at integer pixels, shape
    ``(n, 2)``; ``shape`` is the map's ``(ny, nx)``. Cells are clamped to the
    map, so points beyond its edges are extrapolated from the edge cells.
    Returns ``(xout, yout)`` arrays.
    """
    ny, nx = shape
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    i0 = np.clip(np.trunc(x), 0, nx - 2).astype(np.int64)
    j0 = np.clip(np.trunc(y), 0, ny - 2).astype(np.int64)
    fx = x - i0
    fy = y - j0
    gx = 1.0 - fx
    gy = 1.0 - fy
    corners = values(np.concatenate([j0, j0, j0 + 1, j0 + 1]),
                     np.concatenate([i0, i0 + 1, i0, i0 + 1])).reshape(4, -1, 2)
    f00, f10, f01, f11 = corners
    # the kernel's order of operations, term by term
    out = (f00 * gx[:, None] * gy[:, None] + f10 * fx[:, None] * gy[:, None]
           + f01 * gx[:, None] * fy[:, None] + f11 * fx[:, None] * fy[:, None])
    return out[:, 0], out[:, 1]


def _invert(values, shape, region, xout, yout):
    """Input positions of output points, by drizzle's golden-section search over the region."""
    xmin, xmax, ymin, ymax = region
    n = len(xout)
    lo_x, hi_x = np.full(n, xmin - 0.5), np.full(n, xmax + 0.5)
    lo_y, hi_y = np.full(n, ymin - 0.5), np.full(n, ymax + 0.5)
    iterations = np.zeros(n, dtype=int)
    while True:
        dx, dy = hi_x - lo_x, hi_y - lo_y
        active = ((dx > INVERSION_TOLERANCE) | (dy > INVERSION_TOLERANCE)) & (
            iterations < _MAX_ITERATIONS)
        if not active.any():
            break
        x1, x2 = hi_x - _GOLDEN * dx, lo_x + _GOLDEN * dx
        y1, y2 = hi_y - _GOLDEN * dy, lo_y + _GOLDEN * dy
        px = np.concatenate([x1, x1, x2, x2])
        py = np.concatenate([y1, y2, y1, y2])
        mx, my = interpolate(values, shape, px, py)
        if not (np.all(np.isfinite(mx[np.tile(active, 4)]))
                and np.all(np.isfinite(my[np.tile(active, 4)]))):
            raise ScanUnknown("the pixel map is not finite where drizzle inverts it")
        ex, ey = mx - np.tile(xout, 4), my - np.tile(yout, 4)
        d11, d12, d21, d22 = (ex * ex + ey * ey).reshape(4, n)
        c11 = (d11 < d12) & (d11 < d21) & (d11 < d22)
        c12 = ~c11 & (d12 < d11) & (d12 < d21) & (d12 < d22)
        c21 = ~c11 & ~c12 & (d21 < d11) & (d21 < d12) & (d21 < d22)
        c22 = ~(c11 | c12 | c21)
        hi_x = np.where(active & (c11 | c12), x2, hi_x)
        lo_x = np.where(active & (c21 | c22), x1, lo_x)
        hi_y = np.where(active & (c11 | c21), y2, hi_y)
        lo_y = np.where(active & (c12 | c22), y1, lo_y)
        iterations += active
    if np.any(iterations >= _MAX_ITERATIONS):
        raise ScanUnknown("drizzle's pixel-map inversion would not converge")
    return 0.5 * (lo_x + hi_x), 0.5 * (lo_y + hi_y)


def _area(ax, ay, bx, by):
    return ax * by - ay * bx


def _orient_ccw(vertices):
    """The polygon counter-clockwise, judged as drizzle does from its first two vertices."""
    if len(vertices) < 3:
        return vertices
    cx = cy = 0.0
    for x, y in vertices:
        cx += x
        cy += y
    cx /= len(vertices)
    cy /= len(vertices)
    (x1, y1), (x2, y2) = vertices[0], vertices[1]
    if _area(x1 - cx, y1 - cy, x2 - cx, y2 - cy) >= 0.0:
        return vertices
    return vertices[::-1]


class _Edge:
    __slots__ = ("top", "m", "c")

    def __init__(self, v1, v2, side):
        """Edge from ``v1`` up to ``v2``; ``side`` -1 for left edges, +1 for right."""
        (x1, y1), (x2, y2) = v1, v2
        with np.errstate(all="ignore"):  # horizontal edges give inf/nan, as in C
            dy = np.float64(y2) - np.float64(y1)
            self.m = float((np.float64(x2) - x1) / dy)
            b = float((np.float64(x1) * y2 - np.float64(y1) * x2) / dy)
        self.top = y2
        # the intercept moved so that whole pixels fit inside the edge
        self.c = b - math.copysign(0.5 + 0.5 * abs(self.m), side)


def _edges(vertices):
    """Left and right edge chains from the lowest to the highest vertex, as drizzle splits them."""
    n = len(vertices)
    ys = [v[1] for v in vertices]
    xs = [v[0] for v in vertices]

    min_left, min_y = 0, ys[0]
    for k in range(1, n):
        if ys[k] < min_y:
            min_left, min_y = k, ys[k]
    i1, i2 = (min_left - 1) % n, (min_left + 1) % n
    min_right = i1 if ys[i1] < ys[i2] else i2
    if ys[min_right] <= min_y * (1.0 + math.copysign(VERTEX_ATOL, min_y)):
        if xs[min_left] > xs[min_right]:
            min_left, min_right = min_right, min_left
    else:
        min_right = min_left

    max_right, max_y = 0, ys[0]
    for k in range(1, n):
        if ys[k] > max_y:
            max_right, max_y = k, ys[k]
    i1, i2 = (max_right - 1) % n, (max_right + 1) % n
    max_left = i1 if ys[i1] > ys[i2] else i2
    if ys[max_left] >= max_y * (1.0 - math.copysign(VERTEX_ATOL, max_y)):
        if xs[max_left] > xs[max_right]:
            max_left, max_right = max_right, max_left
    else:
        max_left = max_right

    if max_left > min_left:
        min_left += n
    left = []
    for k in range(min_left - max_left):
        a = (min_left - k) % n
        left.append(_Edge(vertices[a], vertices[(a - 1) % n], -1))
    if max_right < min_right:
        max_right += n
    right = []
    for k in range(max_right - min_right):
        a = (min_right + k) % n
        right.append(_Edge(vertices[a], vertices[(a + 1) % n], +1))
    return left, right, min_y, max_y


def _climb(edges, i, y, lift):
    """Index of the first edge from ``i`` on whose top (+ ``lift``) is not below ``y``.

    None when the chain ends first (drizzle then stops scanning).
    """
    while y > edges[i].top + lift:
        if i == len(edges) - 1:
            return None
        i += 1
    return i


def _row_limits(left, right, region, min_y, max_y, rows):
    """``{row: (first, last)}`` visited pixels of ``rows`` (increasing).

    As drizzle's scan-line limits give them for non-empty left and right edge chains.
    """
    xmin, xmax, ymin, ymax = region
    tol = INVERSION_TOLERANCE
    li = ri = 0
    out = {}
    for y in rows:
        if ymax >= ymin and (y < 0 or y > ymax):
            continue
        bottom, top = y - 0.5, y + 0.5
        if top <= min_y or bottom >= max_y + 1:
            continue
        li = _climb(left, li, bottom, 0.0)
        ri = None if li is None else _climb(right, ri, bottom, 0.0)
        if ri is None:
            break
        xlb = left[li].m * y + left[li].c - tol
        xrb = right[ri].m * y + right[ri].c + tol
        li = _climb(left, li, top, 0.5 + tol)
        ri = None if li is None else _climb(right, ri, top, 0.5 + tol)
        if ri is None:
            break
        xlt = left[li].m * y + left[li].c - tol
        xrt = right[ri].m * y + right[ri].c + tol
        if not all(math.isfinite(v) for v in (xlb, xrb, xlt, xrt)):
            raise ScanUnknown("a scan edge is not finite")
        if xmax >= xmin:
            xlb, xlt = max(xlb, xmin), max(xlt, xmin)
            xrb, xrt = min(xrb, xmax), min(xrt, xmax)
        if xlt >= xrt:
            if xlb >= xrb:
                continue
            first, last = c_round(xlb), c_round(xrb)
        elif xlb >= xrb:
            first, last = c_round(xlt), c_round(xrt)
        else:
            first = c_round(xlb if xlb > xlt else xlt)
            last = c_round(xrb if xrb < xrt else xrt)
        if first <= last:
            out[y] = (first, last)
    return out


def region_corners(region):
    """The outline drizzle maps of a region ``(xmin, xmax, ymin, ymax)``.

    Its four outer pixel corners, as ``(x, y)`` arrays.
    """
    xmin, xmax, ymin, ymax = region
    return (np.array([xmin - 0.5, xmax + 0.5, xmax + 0.5, xmin - 0.5]),
            np.array([ymin - 0.5, ymin - 0.5, ymax + 0.5, ymax + 0.5]))


def scan(values, map_shape, region, out_shape):
    """Pixels one ``tdriz`` call visits: ``{row: (first, last)}`` (inclusive columns).

    ``values(rows, cols)`` gives the pixel map passed to drizzle at integer
    pixels (shape ``(n, 2)``), ``map_shape`` its ``(ny, nx)``; ``region`` the
    ``(xmin, xmax, ymin, ymax)`` drizzle works on (after its own trimming of
    NaN map borders); ``out_shape`` the output image's ``(ny, nx)``.

    Raises
    ------
    ScanUnknown
        The map is not finite where drizzle needs it, its inversion would not
        converge, or the region misses the output: drizzle then fails or works
        differently, and the caller must not rely on a prediction.
    """
    xmin, xmax, ymin, ymax = region
    corner_x, corner_y = region_corners(region)
    ox, oy = interpolate(values, map_shape, corner_x, corner_y)
    ny_out, nx_out = out_shape
    if (np.all(ox > -0.5 + _MARGIN) and np.all(ox < nx_out - 0.5 - _MARGIN)
            and np.all(oy > -0.5 + _MARGIN) and np.all(oy < ny_out - 0.5 - _MARGIN)):
        # nothing clipped: the outline maps back onto the region's edges (within half
        # the inversion tolerance), and every pixel of the region is visited
        return {row: (xmin, xmax) for row in range(max(ymin, 0), ymax + 1)}
    if np.all(np.isfinite(ox)) and np.all(np.isfinite(oy)):
        window = [(-0.5, -0.5), (nx_out - 0.5, -0.5), (nx_out - 0.5, ny_out - 0.5),
                  (-0.5, ny_out - 0.5)]
        clipped = cdrizzle.clip_polygon(np.column_stack([ox, oy]), np.array(window))
        if len(clipped) < 3:
            raise ScanUnknown("the region does not overlap the output")
        cx, cy = (np.array(v, dtype=float) for v in zip(*clipped))
        ix, iy = _invert(values, map_shape, region, cx, cy)
        polygon = _orient_ccw([(float(a), float(b)) for a, b in zip(ix, iy)])
    else:
        # a corner on a NaN map cell: drizzle gives up clipping and scans the region
        polygon = [(float(a), float(b)) for a, b in zip(corner_x, corner_y)]
    left, right, min_y, max_y = _edges(polygon)
    if not left or not right:
        raise ScanUnknown("the scan polygon has no left or right side")
    if not (math.isfinite(min_y) and math.isfinite(max_y)):
        raise ScanUnknown("the scan polygon is not finite")
    first_row = max(0, int(min_y + 0.5 + 2.0 * INVERSION_TOLERANCE))
    last_row = min(ymax, int(max_y + 2.0 * INVERSION_TOLERANCE))
    return _row_limits(left, right, region, min_y, max_y, range(first_row, last_row + 1))
