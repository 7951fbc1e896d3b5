"""A PNG that shows a run's result without a GIS: the scenes with their objects drawn.

Each scene is read once, resampled to its panel (``out_shape`` reads, which GDAL serves
from overviews when the file has them, so a huge scene costs little). Its first three bands
(or its one band) are stretched to 8 bits between the 2nd and 98th percentiles of its valid
pixels, and the layer's polygons are drawn as outlines in the class colours of the QGIS
style (:func:`rsdet.io.qml.class_colors`). Several scenes become panels of one image, in
run order, each labelled with its name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
from rasterio.enums import Resampling

from rsdet.io.atomic import write_bytes_atomic
from rsdet.io.qml import class_colors
from rsdet.io.raster import SceneInfo, open_dataset

__all__ = ["PREVIEW_MAX_PX", "write_preview"]

PREVIEW_MAX_PX = 1600
_OTHER_BGR = (160, 160, 160)


def write_preview(
    path: str | Path,
    scenes: Sequence[SceneInfo],
    names: Sequence[str],
    layer: gpd.GeoDataFrame,
    classes: Sequence[str],
    max_px: int = PREVIEW_MAX_PX,
) -> Path:
    """Write the preview PNG of ``layer`` over ``scenes`` to ``path`` (atomically).

    Args:
        path: the ``.png`` to write.
        scenes, names: the scenes and their values in the layer's ``scene`` column.
        layer: the features, in any CRS (each scene's are reprojected to it).
        classes: the model's classes (colour order).
        max_px: the image's longer side in pixels.
    """
    cols = math.ceil(math.sqrt(len(scenes)))
    rows = math.ceil(len(scenes) / cols)
    cell = max(64, max_px // max(cols, rows))
    canvas = np.zeros((rows * cell, cols * cell, 3), np.uint8)
    colors = {name: _bgr(c) for name, c in zip(classes, class_colors(len(classes)), strict=True)}
    for k, (scene, name) in enumerate(zip(scenes, names, strict=True)):
        panel = _panel(scene, layer[layer["scene"] == name], colors, cell)
        for color, weight in (((0, 0, 0), 3), ((255, 255, 255), 1)):  # white on a black edge
            font = cv2.FONT_HERSHEY_SIMPLEX
            cv2.putText(panel, Path(name).name, (4, 16), font, 0.5, color, weight, cv2.LINE_AA)
        r, c = divmod(k, cols)
        canvas[r * cell : r * cell + panel.shape[0], c * cell : c * cell + panel.shape[1]] = panel
    ok, png = cv2.imencode(".png", canvas)
    if not ok:
        raise ValueError("could not encode the preview")
    path = Path(path)
    write_bytes_atomic(path, png.tobytes())
    return path


def _panel(
    scene: SceneInfo, features: gpd.GeoDataFrame, colors: dict[str, tuple[int, int, int]], cell: int
) -> np.ndarray:
    """One scene resampled to fit ``cell`` pixels, its features outlined (BGR uint8)."""
    scale = cell / max(scene.height, scene.width)  # small scenes are enlarged to be seen
    h, w = max(1, round(scene.height * scale)), max(1, round(scene.width * scale))
    image = _overview(scene, h, w)
    if features.crs is not None and scene.crs is not None and features.crs != scene.crs:
        features = features.to_crs(scene.crs)
    to_px = ~scene.transform
    width = 2 if scale >= 0.5 else 1  # thin lines where a panel shrinks the scene a lot
    for geom, name in zip(features.geometry, features["class_name"], strict=True):
        xs, ys = np.asarray(geom.exterior.coords).T
        cols = to_px.a * xs + to_px.b * ys + to_px.c
        rows = to_px.d * xs + to_px.e * ys + to_px.f
        pts = np.stack([cols * w / scene.width, rows * h / scene.height], axis=1)
        color = colors.get(str(name), _OTHER_BGR)
        cv2.polylines(image, [np.round(pts).astype(np.int32)], True, color, width, cv2.LINE_AA)
    return image


def _overview(scene: SceneInfo, h: int, w: int) -> np.ndarray:
    """The scene at ``(h, w)``: bands 1-3 (or band 1 as grey), stretched, BGR uint8."""
    bands = [1, 2, 3] if scene.count >= 3 else [1]
    with open_dataset(scene.path) as ds:
        data = ds.read(
            bands, out_shape=(len(bands), h, w), resampling=Resampling.average, masked=True
        )
    out = np.zeros((h, w, len(bands)), np.uint8)
    for i, band in enumerate(data):
        valid = band.compressed().astype(np.float64)
        if valid.size == 0:
            continue
        lo, hi = np.percentile(valid, (2, 98))
        scaled = (band.filled(lo).astype(np.float64) - lo) / max(hi - lo, 1e-12)
        out[..., i] = np.clip(scaled * 255.0, 0, 255).astype(np.uint8)
    if len(bands) == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out[..., ::-1])  # RGB -> BGR for OpenCV


def _bgr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return rgb[2], rgb[1], rgb[0]
