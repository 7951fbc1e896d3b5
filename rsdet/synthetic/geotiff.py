"""Writing a synthetic scene as a georeferenced GeoTIFF (UTM, near Yellowstone by default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsdet.io.atomic import atomic_output
from rsdet.structures import Sample

__all__ = ["DEMO_CRS", "DEMO_ORIGIN", "write_geotiff"]

DEMO_CRS = "EPSG:32612"  # UTM zone 12N
DEMO_ORIGIN = (528000.0, 4979000.0)  # upper-left corner: inside NEON's YELL 528000_4978000 tile


def write_geotiff(
    sample: Sample,
    path: str | Path,
    gsd: float | None = None,
    origin: tuple[float, float] = DEMO_ORIGIN,
    crs: str = DEMO_CRS,
) -> None:
    """Write ``sample.image`` as a tiled, compressed RGB GeoTIFF, atomically.

    Args:
        sample: a scene from :func:`make_scene` (its ``meta["gsd"]`` is the default pixel size).
        path: output file; written to a temporary file in the same folder, then renamed.
        gsd: pixel size in CRS units (metres); None uses the scene's GSD.
        origin: CRS coordinates ``(x, y)`` of the upper-left corner of the upper-left pixel.
        crs: any CRS rasterio understands (default UTM zone 12N).
    """
    import rasterio
    from rasterio.transform import Affine

    if sample.image is None:
        raise ValueError(f"{sample.image_id}: no pixels in memory")
    gsd = float(sample.meta.get("gsd", 1.0) if gsd is None else gsd)
    path = Path(path)
    profile = {
        "driver": "GTiff",
        "height": sample.height,
        "width": sample.width,
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(gsd, 0.0, origin[0], 0.0, -gsd, origin[1]),
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "photometric": "RGB",
        "nodata": sample.meta.get("nodata"),
    }
    with atomic_output(path) as tmp:  # GDAL creates the file: the user's umask applies
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.moveaxis(sample.image, -1, 0))
