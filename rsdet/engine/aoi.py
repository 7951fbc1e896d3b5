"""Areas of interest: the part of an image where its labels are complete.

A user who labels 30 tree crowns in a corner of a scene has said nothing about the rest:
the unlabelled crowns there must not teach the model that crowns are background. A sample
restricted to an AOI (:func:`restrict_to_aoi`) carries the AOI polygon, in its pixel frame,
in ``meta[AOI_KEY]``; the training engine then

* draws its windows over the AOI's bounding box (:func:`aoi_bounds`), and
* blanks every window pixel whose centre lies outside the AOI (:func:`window_mask`): it
  gets the mean colour, as padding beyond the image does, so the only objects the model
  sees are inside the AOI, where every object is labelled.

Blanking is what guarantees the rule, whatever the AOI's shape or size: a window placed
wholly inside a small or thin AOI would often not exist, and ignore regions would still
show the unlabelled objects. Objects that cross the AOI border are kept but flagged
``TRUNCATED`` (ignored: neither taught nor punished); objects wholly outside are dropped.

Frames: continuous pixel coordinates, pixel ``(0, 0)`` covers ``[0, 1) x [0, 1)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import shapely

from rsdet.structures import TRUNCATED, Sample

__all__ = ["AOI_KEY", "aoi_bounds", "restrict_to_aoi", "window_mask"]

AOI_KEY = "aoi"
_FULLY_INSIDE = 0.999  # area fraction; guards against float noise on the AOI border


def restrict_to_aoi(sample: Sample, aoi: Any) -> Sample:
    """``sample`` limited to the shapely (multi)polygon ``aoi`` (pixel frame).

    Objects wholly outside are dropped; objects partly outside become ``TRUNCATED``
    (training ignores them: neither taught nor punished). The AOI is clipped to the image.
    """
    image = shapely.box(0, 0, sample.width, sample.height)
    region = shapely.intersection(aoi, image)
    hulls = shapely.convex_hull(shapely.multipoints(sample.polygons)) if len(sample) else []
    inside = np.array([_fraction_inside(h, region) for h in hulls], np.float64)
    keep = np.flatnonzero(inside > 0)
    out = sample.subset(keep)
    difficulty = out.difficulty.copy()
    difficulty[inside[keep] < _FULLY_INSIDE] = TRUNCATED
    meta = dict(out.meta) | {AOI_KEY: region}
    return dataclasses.replace(out, difficulty=difficulty, meta=meta)


def _fraction_inside(hull: Any, region: Any) -> float:
    """Area of ``hull`` inside ``region`` over its area (1 or 0 for degenerate outlines)."""
    if hull.area <= 0:
        return 1.0 if region.covers(hull.centroid) else 0.0
    return float(shapely.intersection(hull, region).area / hull.area)


def aoi_bounds(sample: Sample) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` integer pixel bounds of the AOI, or of the image."""
    region = sample.meta.get(AOI_KEY)
    if region is None or region.is_empty:
        return 0, 0, sample.width, sample.height
    x0, y0, x1, y1 = region.bounds
    left, top = max(math.floor(x0), 0), max(math.floor(y0), 0)
    return left, top, min(math.ceil(x1), sample.width), min(math.ceil(y1), sample.height)


def window_mask(sample: Sample, left: int, top: int, size: int) -> np.ndarray | None:
    """(size, size) bool: window pixels whose centre lies in the AOI; None without an AOI.

    Args:
        sample: the image (its ``meta[AOI_KEY]``).
        left, top: source pixel of the window's top-left corner.
        size: window edge, source pixels.
    """
    from affine import Affine
    from rasterio.features import rasterize

    region = sample.meta.get(AOI_KEY)
    if region is None:
        return None
    window = shapely.box(left, top, left + size, top + size)
    if region.contains(window):  # the common case, and 50x faster than burning
        return np.ones((size, size), bool)
    part = shapely.intersection(region, window)
    if part.area <= 0:
        return np.zeros((size, size), bool)
    # GDAL burns the pixels whose centre lies inside (all_touched=False).
    burnt = rasterize([part], (size, size), transform=Affine.translation(left, top), dtype="uint8")
    return np.asarray(burnt, bool)
