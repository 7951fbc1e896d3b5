"""Clipping object outlines to a window (a patch, or a scene's extent).

For one axis-aligned window ``[x0, x1) x [y0, y1)``:

* an object entirely inside keeps its polygon unchanged (vertex order included);
* an object partly inside is replaced by the intersection of its convex hull with the
  window, reduced to 4 vertices by :func:`~rsdet.datasets.geometry.quads_from_rings` (a
  4-corner intersection is kept; otherwise its minimum-area rectangle, clamped to the
  window, which turns it into a general quadrilateral when it stuck out). Horizontal boxes
  stay exact horizontal boxes;
* ``inside`` is area(hull ∩ window) / area(hull), measured on the true intersection; objects
  with nothing inside (touching the border only) are dropped;
* zero-area objects (repeated or collinear points) are kept unchanged when the mean of
  their vertices lies in the window, else dropped.

The convex hull makes self-intersecting ("bow-tie") annotations safe to clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from rsdet.datasets.geometry import quads_from_rings

__all__ = ["DEFAULT_IOF_THR", "Clipped", "WindowClipper"]

# Objects with less than this fraction of their area inside a window are TRUNCATED
# (DOTA_devkit's ``thresh`` and mmrotate's ``iof_thr``).
DEFAULT_IOF_THR = 0.7


@dataclass(frozen=True)
class Clipped:
    """Objects overlapping a window.

    Attributes:
        index: (M,) int64 indices of the objects, ascending.
        polygons: (M, 4, 2) outlines inside the window, in the input frame (not shifted).
        inside: (M,) fraction of each object's area inside the window, in (0, 1].
    """

    index: np.ndarray
    polygons: np.ndarray
    inside: np.ndarray


class WindowClipper:
    """Clip one set of (N, 4, 2) polygons (pixels) to many windows; hulls are built once."""

    def __init__(self, polygons: np.ndarray) -> None:
        self.polygons = np.asarray(polygons, np.float64).reshape(-1, 4, 2)
        self._hulls = shapely.convex_hull(shapely.multipoints(self.polygons))
        self._areas = shapely.area(self._hulls)
        self._lo = self.polygons.min(axis=1) if len(self.polygons) else np.zeros((0, 2))
        self._hi = self.polygons.max(axis=1) if len(self.polygons) else np.zeros((0, 2))
        self._centers = self.polygons.mean(axis=1) if len(self.polygons) else np.zeros((0, 2))

    def clip(self, x0: float, y0: float, x1: float, y1: float) -> Clipped:
        """Objects overlapping the window ``[x0, x1) x [y0, y1)`` (pixels), clipped to it."""
        lo, hi, c = self._lo, self._hi, self._centers
        degenerate = self._areas <= 0
        overlap = (lo[:, 0] < x1) & (hi[:, 0] > x0) & (lo[:, 1] < y1) & (hi[:, 1] > y0)
        full = (lo[:, 0] >= x0) & (hi[:, 0] <= x1) & (lo[:, 1] >= y0) & (hi[:, 1] <= y1)
        center_in = (c[:, 0] >= x0) & (c[:, 0] < x1) & (c[:, 1] >= y0) & (c[:, 1] < y1)
        keep_whole = np.where(degenerate, center_in, full & overlap)
        partial = np.flatnonzero(overlap & ~degenerate & ~full)

        inter = shapely.intersection(self._hulls[partial], shapely.box(x0, y0, x1, y1))
        inside = shapely.area(inter) / self._areas[partial]
        hit = inside > 0
        partial, inter, inside = partial[hit], inter[hit], inside[hit]
        rings = [np.asarray(g.exterior.coords) for g in inter]
        quads = quads_from_rings(rings) if rings else np.zeros((0, 4, 2))
        quads[..., 0] = quads[..., 0].clip(x0, x1)
        quads[..., 1] = quads[..., 1].clip(y0, y1)

        whole = np.flatnonzero(keep_whole)
        index = np.concatenate([whole, partial])
        order = np.argsort(index, kind="stable")
        polygons = np.concatenate([self.polygons[whole], quads])[order]
        fractions = np.concatenate([np.ones(len(whole)), inside])[order]
        return Clipped(index[order].astype(np.int64), polygons, fractions)
