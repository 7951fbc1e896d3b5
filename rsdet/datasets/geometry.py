"""Turning arbitrary polygons into the 4-vertex outlines a ``Sample`` stores.

Rule (used for clipped objects and for vector labels of GeoTIFF scenes): a ring whose
outline has exactly 4 distinct corners is kept as is (arbitrary quadrilaterals are valid
DOTA objects); any other ring (a triangle, a pentagon after clipping, a digitised crown)
becomes its minimum-area enclosing rectangle (the rectangle :meth:`RBoxes.from_polygons`
gives; here GEOS computes it, which is much faster for many-vertex outlines). Results are
ordered clockwise on screen (y down), the DOTA order, and start at the corner closest to the
top-left of their envelope.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

__all__ = ["clockwise_from_top_left", "quads_from_rings"]


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


def _min_area_quads(point_sets: Sequence[np.ndarray]) -> np.ndarray:
    """Minimum-area rectangles (N, 4, 2) around point sets, by GEOS.

    ``shapely.oriented_envelope`` returns the minimum-*area* rectangle since GEOS 3.12
    (older GEOS gave the minimum-width one; pyproject requires shapely >= 2.1, whose wheels
    bundle a newer GEOS). Collinear or coincident points give a line or a point, which
    becomes a zero-width rectangle.
    """
    counts = [len(p) for p in point_sets]
    coords = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in point_sets])
    envelopes = shapely.oriented_envelope(
        shapely.multipoints(coords, indices=np.repeat(np.arange(len(counts)), counts))
    )
    out = np.zeros((len(point_sets), 4, 2))
    for i, env in enumerate(envelopes):
        pts = shapely.get_coordinates(env)
        if isinstance(env, shapely.Polygon):
            out[i] = pts[:4]
        else:  # LineString (2 points) or Point (1 point)
            out[i] = pts[[0, -1, -1, 0]]
    return out


def quads_from_rings(rings: Sequence[np.ndarray]) -> np.ndarray:
    """4-vertex outlines of polygon rings (rule in the module docstring).

    Args:
        rings: K_i x 2 vertex arrays in pixels (closed or not, either orientation).

    Returns:
        (N, 4, 2) float64 quadrilaterals, clockwise on screen from the top-left.
    """
    out = np.zeros((len(rings), 4, 2))
    point_sets: list[np.ndarray] = []
    set_idx: list[int] = []
    for i, ring in enumerate(rings):
        pts = np.asarray(ring, np.float64).reshape(-1, 2)
        if len(pts) > 1 and np.array_equal(pts[0], pts[-1]):
            pts = pts[:-1]
        distinct = _distinct_ring(pts) if len(pts) >= 3 else pts
        if len(distinct) == 4:
            out[i] = distinct
            continue
        point_sets.append(pts)
        set_idx.append(i)
    if point_sets:
        out[set_idx] = _min_area_quads(point_sets)
    return clockwise_from_top_left(out)
