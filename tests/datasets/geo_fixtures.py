"""Tiny GeoTIFF scenes and vector label files for the geo reader and splitter tests."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin

# A 0.5 m UTM 33N grid whose top-left corner is at (500000, 4000000).
ORIGIN_X, ORIGIN_Y, RES = 500000.0, 4000000.0, 0.5
UTM = "EPSG:32633"


def write_scene(
    path: Path,
    height: int = 40,
    width: int = 60,
    crs: str | None = UTM,
    count: int = 3,
    dtype: str = "uint16",
    nodata: float | None = 0,
) -> np.ndarray:
    """Write a GeoTIFF with pixel values that encode their row/column; return (H, W, C)."""
    rows, cols = np.mgrid[0:height, 0:width]
    bands = np.stack([rows * 100 + cols + 1 + 10000 * b for b in range(count)]).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff",
        height=height,
        width=width,
        count=count,
        dtype=dtype,
        transform=from_origin(ORIGIN_X, ORIGIN_Y, RES, RES),
        nodata=nodata,
    )
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(bands)
    return np.moveaxis(bands, 0, -1)


def px_box(c0: float, r0: float, c1: float, r1: float) -> shapely.Polygon:
    """The map-space (UTM) polygon covering pixel columns [c0, c1) and rows [r0, r1)."""
    return shapely.box(
        ORIGIN_X + c0 * RES, ORIGIN_Y - r1 * RES, ORIGIN_X + c1 * RES, ORIGIN_Y - r0 * RES
    )


def write_labels(path: Path, geoms: list, crs: str | None = UTM, **columns) -> Path:
    """Write polygons given in UTM; ``crs`` other than UTM reprojects them first."""
    frame = gpd.GeoDataFrame(columns, geometry=list(geoms), crs=UTM)
    if crs is None:
        frame = frame.set_crs(None, allow_override=True)
    elif crs != UTM:
        frame = frame.to_crs(crs)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_file(path)
    return path
