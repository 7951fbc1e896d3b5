"""Scene pixels -> map coordinates, and box measurements in metres.

Frame: continuous scene pixel coordinates ``(col, row)`` whose integer values are pixel
*corners* (pixel ``(0, 0)`` covers ``[0, 1) x [0, 1)``), as in :mod:`rsdet.structures`.
The scene's affine transform maps them to the CRS, ``(x, y) = transform * (col, row)``,
which is exact for north-up, rotated and sheared transforms alike. Box corners are mapped
one by one, so a box stays a quadrilateral in the CRS whatever the transform.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from affine import Affine

from rsdet.structures import HBoxes, RBoxes

__all__ = [
    "box_corners_px",
    "box_measures",
    "linear_unit_m",
    "pixel_map",
    "pixel_size_m",
    "polygons_crs",
    "px_to_crs",
]


def px_to_crs(
    transform: Affine, cols: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Map continuous pixel coordinates to the CRS: ``(x, y) = transform * (col, row)``.

    Args:
        transform: the scene's affine transform.
        cols, rows: arrays of the same shape, pixels (corners are integers).

    Returns:
        ``(x, y)`` arrays of that shape, CRS units.
    """
    a, b, c, d, e, f = transform[:6]
    return a * cols + b * rows + c, d * cols + e * rows + f


def pixel_map(
    transform: Affine, crs: Any, map_crs: Any
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Functions between a scene's pixels and a map frame: ``(to_map, from_map)``.

    Args:
        transform: the scene's affine transform (pixel corners -> its CRS).
        crs: the scene's CRS.
        map_crs: the map frame's CRS: the scene's own, or another one (reprojected with
            pyproj in x, y axis order, as ``GeoDataFrame.to_crs`` does).

    Returns:
        Two functions of (N, 2) float64 arrays: pixels ``(col, row)`` -> map ``(x, y)``,
        and back.
    """
    inverse = ~transform

    def to_crs(px: np.ndarray) -> np.ndarray:
        return np.stack(px_to_crs(transform, px[:, 0], px[:, 1]), axis=1)

    def from_crs(xy: np.ndarray) -> np.ndarray:
        return np.stack(px_to_crs(inverse, xy[:, 0], xy[:, 1]), axis=1)

    if crs == map_crs:
        return to_crs, from_crs
    import pyproj

    there = pyproj.Transformer.from_crs(crs.to_wkt(), map_crs.to_wkt(), always_xy=True)

    def to_map(px: np.ndarray) -> np.ndarray:
        xy = to_crs(px)
        return np.stack(there.transform(xy[:, 0], xy[:, 1]), axis=1)

    def from_map(xy: np.ndarray) -> np.ndarray:
        backward = pyproj.enums.TransformDirection.INVERSE
        back = there.transform(xy[:, 0], xy[:, 1], direction=backward)
        return from_crs(np.stack(back, axis=1))

    return to_map, from_map


def box_corners_px(boxes: HBoxes | RBoxes) -> np.ndarray:
    """(N, 4, 2) float64 corners ``(col, row)`` of the boxes, in their documented order."""
    if isinstance(boxes, RBoxes):
        return RBoxes(boxes.tensor.detach().cpu().double()).corners().numpy()
    return HBoxes(boxes.tensor.detach().cpu().double()).corners().numpy()


def polygons_crs(corners_px: np.ndarray, transform: Affine) -> np.ndarray:
    """(N,) shapely polygons of (N, 4, 2) pixel corners, counter-clockwise in the CRS."""
    x, y = px_to_crs(transform, corners_px[..., 0], corners_px[..., 1])
    ring = np.stack([x, y], axis=-1)  # (N, 4, 2)
    # Shoelace sign: negative means clockwise; reverse those rings (OGC / RFC 7946 order).
    signed = np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1)
    ring = np.where((signed < 0)[:, None, None], ring[:, ::-1], ring)
    return np.asarray(shapely.polygons(ring))


def linear_unit_m(crs: Any) -> float | None:
    """Metres per CRS unit for a projected CRS; None for a geographic CRS or no CRS."""
    if crs is None or not crs.is_projected:
        return None
    return float(crs.linear_units_factor[1])


def pixel_size_m(
    transform: Affine, crs: Any, height: int, width: int
) -> tuple[float, float] | None:
    """Ground size ``(x, y)`` of one pixel in metres, measured at the scene centre.

    Projected CRS: the lengths of the transform's column and row steps times the unit
    size. Geographic CRS: geodesic lengths of one-pixel steps from the scene centre on the
    CRS's ellipsoid (degrees become metres at the centre latitude). None without a CRS.
    """
    a, b, _, d, e, _ = transform[:6]
    unit = linear_unit_m(crs)
    if unit is not None:
        return math.hypot(a, d) * unit, math.hypot(b, e) * unit
    if crs is None or not crs.is_geographic:
        return None
    import pyproj

    geod = pyproj.CRS.from_wkt(crs.to_wkt()).get_geod()
    if geod is None:
        return None
    cols = np.array([width / 2, width / 2 + 1, width / 2])
    rows = np.array([height / 2, height / 2, height / 2 + 1])
    lon, lat = px_to_crs(transform, cols, rows)
    dist_x = geod.inv(lon[0], lat[0], lon[1], lat[1])[2]
    dist_y = geod.inv(lon[0], lat[0], lon[2], lat[2])[2]
    return abs(float(dist_x)), abs(float(dist_y))


def box_measures(
    boxes: HBoxes | RBoxes, transform: Affine, unit_m: float | None
) -> dict[str, np.ndarray]:
    """Side lengths in metres and, for oriented boxes, the orientation on the map.

    Args:
        boxes: N boxes in scene pixels.
        transform: scene pixels -> output coordinates.
        unit_m: metres per CRS unit, or None (sizes are then NaN).

    Returns:
        ``width_m`` and ``height_m`` (N,): lengths of the box's own x side (``w``; the long
        side of an oriented box) and y side on the ground. For oriented boxes also
        ``angle_deg`` (N,): direction of the long side, degrees clockwise from grid north
        (the CRS's +y axis; for unreferenced scenes the top of the image), in [0, 180).
    """
    if isinstance(boxes, RBoxes):
        t = RBoxes(boxes.tensor.detach().cpu().double()).regularized().tensor.numpy()
        cos, sin = np.cos(t[:, 4]), np.sin(t[:, 4])
        side_u = np.stack([t[:, 2] * cos, t[:, 2] * sin], axis=1)
        side_v = np.stack([-t[:, 3] * sin, t[:, 3] * cos], axis=1)
    else:
        t = boxes.tensor.detach().cpu().double().numpy()
        zeros = np.zeros(len(t))
        side_u = np.stack([t[:, 2] - t[:, 0], zeros], axis=1)
        side_v = np.stack([zeros, t[:, 3] - t[:, 1]], axis=1)
    linear = np.array([[transform.a, transform.b], [transform.d, transform.e]])
    map_u, map_v = side_u @ linear.T, side_v @ linear.T
    scale = np.nan if unit_m is None else unit_m
    out = {
        "width_m": np.hypot(map_u[:, 0], map_u[:, 1]) * scale,
        "height_m": np.hypot(map_v[:, 0], map_v[:, 1]) * scale,
    }
    if isinstance(boxes, RBoxes):
        azimuth = np.mod(np.degrees(np.arctan2(map_u[:, 0], map_u[:, 1])), 180.0)
        # A hair below 180 is a hair west of north: fold it onto 0 like exact north.
        out["angle_deg"] = np.where(azimuth > 180.0 - 1e-6, 0.0, azimuth)
    return out
