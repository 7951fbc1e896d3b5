"""Turning arbitrary polygons into the 4-vertex outlines a ``Sample`` stores.

Rule (used for clipped objects and for vector labels of GeoTIFF scenes): a ring whose
outline has exactly 4 distinct corners is kept as is (arbitrary quadrilaterals are valid
DOTA objects); any other ring (a triangle, a pentagon after clipping, a digitised crown)
becomes its minimum-area enclosing rectangle (the rectangle :meth:`RBoxes.from_polygons`
gives, computed on the convex hull by rotating calipers). Results are ordered clockwise on
screen (y down), the DOTA order, and start at the corner closest to the top-left of their
envelope.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

__all__ = ["clockwise_from_top_left", "quads_from_rings"]

# Bound on the (hulls x edges x points) arrays of one batch, elements.
_MIN_RECT_BUDGET = 4_000_000


def _signed_area(quads: np.ndarray) -> np.ndarray:
    """(N, K, 2) -> (N,) shoelace area; positive = clockwise on screen (y down)."""
    x, y = quads[..., 0], quads[..., 1]
    area: np.ndarray = 0.5 * (x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(-1)
    return area


def clockwise_from_top_left(quads: np.ndarray) -> np.ndarray:
    """Reorder (N, 4, 2) quadrilaterals: clockwise on screen, starting near the top-left.

    The start is the cyclic rotation whose vertices lie closest (summed distance) to the
    envelope's TL, TR, BR, BL corners, so an axis-aligned box comes out as TL, TR, BR, BL.
    """
    quads = np.asarray(quads, np.float64).reshape(-1, 4, 2)
    flip = _signed_area(quads) < 0
    quads = np.where(flip[:, None, None], quads[:, ::-1], quads)
    lo, hi = quads.min(axis=1), quads.max(axis=1)
    corners = np.stack(
        [lo, np.stack([hi[:, 0], lo[:, 1]], -1), hi, np.stack([lo[:, 0], hi[:, 1]], -1)], 1
    )
    # Cost of each cyclic start: summed distance of the rolled vertices to TL, TR, BR, BL.
    costs = np.stack(
        [np.linalg.norm(np.roll(quads, -k, axis=1) - corners, axis=-1).sum(-1) for k in range(4)],
        axis=1,
    )
    start = costs.argmin(axis=1)
    idx = (start[:, None] + np.arange(4)[None]) % 4
    return np.take_along_axis(quads, idx[:, :, None], axis=1)


def _distinct_ring(ring: np.ndarray) -> np.ndarray:
    """Vertices of a ring without the closing vertex, repeated vertices or collinear ones."""
    geom = shapely.simplify(shapely.Polygon(ring), 0.0)  # tolerance 0: drops only collinear
    if geom.is_empty or not isinstance(geom, shapely.Polygon):
        return np.asarray(ring, np.float64)
    coords = np.asarray(geom.exterior.coords, np.float64)
    return coords[:-1]


def _min_area_quads(hulls: Sequence[np.ndarray]) -> np.ndarray:
    """Minimum-area rectangles (N, 4, 2) of convex hulls given as ordered vertex rings.

    One side of the optimum lies on a hull edge (rotating calipers), so only the K edge
    directions are tried: O(K^2) per hull, where all point pairs would cost O(K^3). The
    result is the same rectangle :meth:`RBoxes.from_polygons` finds. Hulls are batched by
    vertex count and computed around their centroid for precision at map-like coordinates.
    """
    out = np.zeros((len(hulls), 4, 2))
    by_count: dict[int, list[int]] = {}
    for i, pts in enumerate(hulls):
        by_count.setdefault(len(pts), []).append(i)
    for count, members in by_count.items():
        step = max(_MIN_RECT_BUDGET // max(count * count, 1), 1)
        for s in range(0, len(members), step):
            chunk = members[s : s + step]
            out[chunk] = _calipers(np.stack([hulls[i] for i in chunk]))
    return out


def _calipers(pts: np.ndarray) -> np.ndarray:
    """(N, K, 2) ordered hull vertices -> (N, 4, 2) minimum-area rectangles."""
    origin = pts.mean(axis=1, keepdims=True)
    p = pts - origin
    edges = np.roll(p, -1, axis=1) - p
    theta = np.arctan2(edges[..., 1], edges[..., 0])  # (N, K); zero-length edges give 0
    cos, sin = np.cos(theta)[..., None], np.sin(theta)[..., None]
    x, y = p[:, None, :, 0], p[:, None, :, 1]
    u, v = x * cos + y * sin, -x * sin + y * cos  # (N, K edges, K points)
    lo_u, hi_u, lo_v, hi_v = u.min(-1), u.max(-1), v.min(-1), v.max(-1)
    best = ((hi_u - lo_u) * (hi_v - lo_v)).argmin(axis=1)[:, None]

    def pick(a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(a, best, axis=1)[:, 0]

    c, s = pick(cos[..., 0]), pick(sin[..., 0])
    us = np.stack([pick(lo_u), pick(hi_u), pick(hi_u), pick(lo_u)], axis=1)
    vs = np.stack([pick(lo_v), pick(lo_v), pick(hi_v), pick(hi_v)], axis=1)
    corners = np.stack([us * c[:, None] - vs * s[:, None], us * s[:, None] + vs * c[:, None]], -1)
    rect: np.ndarray = corners + origin
    return rect


def quads_from_rings(rings: Sequence[np.ndarray]) -> np.ndarray:
    """4-vertex outlines of polygon rings (rule in the module docstring).

    Args:
        rings: K_i x 2 vertex arrays in pixels (closed or not, either orientation).

    Returns:
        (N, 4, 2) float64 quadrilaterals, clockwise on screen from the top-left.
    """
    out = np.zeros((len(rings), 4, 2))
    hulls: list[np.ndarray] = []
    hull_idx: list[int] = []
    for i, ring in enumerate(rings):
        pts = np.asarray(ring, np.float64).reshape(-1, 2)
        if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
            pts = pts[:-1]
        distinct = _distinct_ring(pts) if len(pts) >= 3 else pts
        if len(distinct) == 4:
            out[i] = distinct
            continue
        hull = shapely.get_coordinates(shapely.convex_hull(shapely.multipoints(pts)))
        hulls.append(hull[:-1] if len(hull) > 3 else hull)
        hull_idx.append(i)
    if hulls:
        out[hull_idx] = _min_area_quads(hulls)
    return clockwise_from_top_left(out)
