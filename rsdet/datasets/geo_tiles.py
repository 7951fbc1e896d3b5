"""GeoTIFF tiles with vector labels: the ``rsdet split`` output of ``geo:`` datasets.

* ``images/<patch>.tif``: the window of the scene, with the window's own transform, the
  scene CRS, nodata, dtype and every band (DEFLATE-compressed). A rate other than 1 scales
  the pixel size by ``1 / rate``. Padding beyond the scene is nodata (0 when the scene
  has none).
* ``labels.gpkg``: one layer, one feature per object with attributes ``scene`` (the tile
  name), ``class`` and ``difficult`` (0, 1, 2), in the CRS of the first scene (objects of
  scenes in other CRSs are reprojected to it).
* ``classes.txt``: the class order.

``load_dataset("geo:OUT")`` reads this back (rule 2 of :mod:`rsdet.datasets.geo`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from rsdet.datasets.classes import write_classes_file
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.patch_writers import LabelOutput, PatchWriter
from rsdet.datasets.patches import PatchOrigin
from rsdet.structures import Sample

__all__ = ["GeoTileWriter", "window_transform"]

Transform = tuple[float, float, float, float, float, float]


def window_transform(transform: Transform, left: float, top: float, rate: float) -> Transform:
    """Affine ``a, b, c, d, e, f`` of a tile cut from a scene resized by ``rate``.

    The tile's pixel (0, 0) is at ``(left, top)`` of the resized scene, so scene pixel =
    (tile pixel + offset) / rate.
    """
    a, b, c, d, e, f = transform
    return (
        a / rate,
        b / rate,
        c + (a * left + b * top) / rate,
        d / rate,
        e / rate,
        f + (d * left + e * top) / rate,
    )


class GeoTileWriter(PatchWriter):
    """GeoTIFF tiles plus one GeoPackage of labels (layout in the module docstring)."""

    image_suffix = ".tif"

    def __init__(self, out: Path, dataset: Dataset) -> None:
        super().__init__(out, dataset)
        self._rows: list[
            tuple[str, str, int, np.ndarray, str]
        ] = []  # scene, class, diff, ring, crs
        self._crs = dataset.samples[0].meta["crs"] if dataset.samples else None

    def image_relpath(self, name: str) -> str:
        """``images/<name>.tif``."""
        return f"images/{name}.tif"

    def write_image(
        self, path: Path, pixels: np.ndarray, source: Sample, origin: PatchOrigin
    ) -> None:
        """A GeoTIFF with the window's transform and the scene's CRS, nodata, dtype."""
        import rasterio
        from affine import Affine

        meta = source.meta
        height, width, count = pixels.shape
        profile: dict[str, Any] = {
            "driver": "GTiff",
            "height": height,
            "width": width,
            "count": count,
            "dtype": pixels.dtype.name,
            "crs": meta["crs"],
            "transform": Affine(
                *window_transform(meta["transform"], origin.left, origin.top, origin.rate)
            ),
            "nodata": meta["nodata"],
            "compress": "deflate",
        }
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(np.moveaxis(pixels, -1, 0))

    def add(self, name: str, patch: Sample) -> list[LabelOutput]:
        """Keep the patch's objects, in map coordinates, for ``labels.gpkg``."""
        source = patch.meta["source"]
        t = window_transform(
            source.meta["transform"], patch.meta["left"], patch.meta["top"], patch.meta["rate"]
        )
        a, b, c, d, e, f = t
        for poly, label, diff in zip(patch.polygons, patch.labels, patch.difficulty, strict=True):
            x, y = poly[:, 0], poly[:, 1]
            ring = np.stack([a * x + b * y + c, d * x + e * y + f], axis=-1)
            self._rows.append(
                (name, self.dataset.classes[int(label)], int(diff), ring, source.meta["crs"])
            )
        return []

    def _frame(self) -> Any:
        import geopandas as gpd
        import pyproj
        import shapely

        rows = sorted(self._rows, key=lambda r: r[0])
        target = pyproj.CRS.from_wkt(self._crs) if self._crs else None
        geoms = []
        for *_, ring, crs in rows:
            geom = shapely.Polygon(ring)
            if crs != self._crs:
                geom = gpd.GeoSeries([geom], crs=pyproj.CRS.from_wkt(crs)).to_crs(target).iloc[0]
            geoms.append(geom)
        columns = {
            "scene": [r[0] for r in rows],
            "class": [r[1] for r in rows],
            "difficult": np.asarray([r[2] for r in rows], np.int64),
        }
        return gpd.GeoDataFrame(columns, geometry=geoms, crs=target)

    def finish(self) -> list[LabelOutput]:
        """``labels.gpkg`` (digest of its rows and CRS) and ``classes.txt``."""
        import shapely

        frame = self._frame()
        digest = hashlib.sha256(str(self._crs).encode())
        for scene, cls, diff, geom in zip(
            frame["scene"], frame["class"], frame["difficult"], frame.geometry, strict=True
        ):
            digest.update(f"{scene}|{cls}|{diff}|".encode() + shapely.to_wkb(geom))

        def write(path: Path) -> None:
            frame.to_file(path, driver="GPKG", layer="labels")

        classes = LabelOutput.of_bytes("classes.txt", write_classes_file(self.dataset.classes))
        return [LabelOutput("labels.gpkg", None, digest.hexdigest(), write), classes]
