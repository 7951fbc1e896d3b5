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
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from affine import Affine

from rsdet.structures import HBoxes, RBoxes

__all__ = [
    "box_corners_px",
    "box_measures",
    "ground_lengths_m",
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


@lru_cache(maxsize=32)
def _geodesy(wkt: str) -> tuple[Any, Any] | None:
    """``(CRS -> lon/lat Transformer, Geod)`` of a CRS; None when it has no ellipsoid."""
    import pyproj

    try:
        crs = pyproj.CRS.from_wkt(wkt)
        geodetic, geod = crs.geodetic_crs, crs.get_geod()
        if geodetic is None or geod is None:
            return None
        return pyproj.Transformer.from_crs(crs, geodetic, always_xy=True), geod
    except pyproj.exceptions.ProjError:
        return None


def ground_lengths_m(crs: Any, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Lengths on the ground, metres, of short segments given in CRS coordinates.

    Geodesic distances on the CRS's ellipsoid between the segments' ends, so conformal
    projections whose scale factor is not 1 (Web Mercator, UTM away from its central
    meridian, polar stereographic) and geographic CRSs are measured alike. A CRS without
    an ellipsoid (an engineering CRS) falls back to CRS length times the unit.

    Args:
        crs: the CRS of the coordinates, or None (the lengths are then NaN).
        start, end: (N, 2) float64 ``(x, y)`` ends of each segment, CRS units.

    Returns:
        (N,) float64 lengths in metres (NaN where they cannot be measured).
    """
    if crs is None:
        return np.full(len(start), np.nan)
    unit = linear_unit_m(crs)
    step = end - start
    grid: np.ndarray = np.hypot(step[:, 0], step[:, 1]) * (np.nan if unit is None else unit)
    geodesy = _geodesy(crs.to_wkt())
    if geodesy is None or len(start) == 0:
        return grid
    to_lonlat, geod = geodesy
    lon0, lat0 = to_lonlat.transform(start[:, 0], start[:, 1])
    lon1, lat1 = to_lonlat.transform(end[:, 0], end[:, 1])
    dist = np.abs(np.asarray(geod.inv(lon0, lat0, lon1, lat1)[2], dtype=np.float64))
    # Outside the projection's domain PROJ returns inf: keep the grid length there.
    return np.where(np.isfinite(dist), dist, grid)


def pixel_size_m(
    transform: Affine, crs: Any, height: int, width: int
) -> tuple[float, float] | None:
    """Ground size ``(x, y)`` of one pixel in metres, measured at the scene centre.

    Geodesic lengths of the one-pixel column and row steps centred on the scene centre
    (:func:`ground_lengths_m`): in a projected CRS this is the transform's step divided by
    the projection's scale factor there (1.41 for Web Mercator at 45 degrees), in a
    geographic CRS degrees become metres at the centre latitude. None without a CRS or
    when the size cannot be measured.
    """
    if crs is None:
        return None
    cc, rr = width / 2, height / 2
    # Segment starts then ends: one column step, then one row step, centred on the centre.
    cols = np.array([cc - 0.5, cc, cc + 0.5, cc])
    rows = np.array([rr, rr - 0.5, rr, rr + 0.5])
    xy = np.stack(px_to_crs(transform, cols, rows), axis=1)
    gx, gy = ground_lengths_m(crs, xy[:2], xy[2:])
    if not (math.isfinite(gx) and math.isfinite(gy)):
        return None
    return float(gx), float(gy)


def box_measures(boxes: HBoxes | RBoxes, transform: Affine, crs: Any) -> dict[str, np.ndarray]:
    """Side lengths in metres and, for oriented boxes, the orientation on the map.

    Args:
        boxes: N boxes in scene pixels.
        transform: scene pixels -> coordinates in ``crs``.
        crs: the scene CRS, or None (sizes are then NaN).

    Returns:
        ``width_m`` and ``height_m`` (N,): ground lengths of the box's own x side (``w``;
        the long side of an oriented box) and y side, each measured through the box centre
        (geodesic, :func:`ground_lengths_m`: true metres in any projection). For oriented
        boxes also ``angle_deg`` (N,): direction of the long side, degrees clockwise from
        grid north (the CRS's +y axis; for unreferenced scenes the top of the image), in
        [0, 180).
    """
    if isinstance(boxes, RBoxes):
        t = RBoxes(boxes.tensor.detach().cpu().double()).regularized().tensor.numpy()
        centre = t[:, :2]
        cos, sin = np.cos(t[:, 4]), np.sin(t[:, 4])
        side_u = np.stack([t[:, 2] * cos, t[:, 2] * sin], axis=1)
        side_v = np.stack([-t[:, 3] * sin, t[:, 3] * cos], axis=1)
    else:
        t = boxes.tensor.detach().cpu().double().numpy()
        centre = (t[:, :2] + t[:, 2:4]) / 2
        zeros = np.zeros(len(t))
        side_u = np.stack([t[:, 2] - t[:, 0], zeros], axis=1)
        side_v = np.stack([zeros, t[:, 3] - t[:, 1]], axis=1)
    linear = np.array([[transform.a, transform.b], [transform.d, transform.e]])
    map_u, map_v = side_u @ linear.T, side_v @ linear.T
    mid = np.stack(px_to_crs(transform, centre[:, 0], centre[:, 1]), axis=1)
    out = {
        "width_m": ground_lengths_m(crs, mid - map_u / 2, mid + map_u / 2),
        "height_m": ground_lengths_m(crs, mid - map_v / 2, mid + map_v / 2),
    }
    if isinstance(boxes, RBoxes):
        azimuth = np.mod(np.degrees(np.arctan2(map_u[:, 0], map_u[:, 1])), 180.0)
        # A hair below 180 is a hair west of north: fold it onto 0 like exact north.
        out["angle_deg"] = np.where(azimuth > 180.0 - 1e-6, 0.0, azimuth)
    return out
