"""Scenes on disk: open and check them, find their valid tiles, read windows.

Everything here reads through rasterio *windows*, so it works on any GDAL path (a local
GeoTIFF, a VRT, a ``/vsicurl/`` COG) and never holds more than one window of a scene in
memory. Which tiles hold data: :mod:`rsdet.io.validity`; scaling the values read to
``[0, 1]``: :mod:`rsdet.io.radiometry`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window as RioWindow

from rsdet.errors import InputError, SceneError
from rsdet.io.georef import pixel_size_m
from rsdet.tiling import Window

__all__ = [
    "UNREFERENCED_TRANSFORM",
    "SceneInfo",
    "SceneWarning",
    "check_bands",
    "open_dataset",
    "read_errors",
    "read_scene_info",
    "read_thumbnail",
    "read_window",
    "reading_env",
]

# A scene without a geotransform is written in the frame QGIS draws such rasters in:
# x = column, y = -row (QGIS replaces GDAL's default (1, 1) pixel size by (1, -1)).
UNREFERENCED_TRANSFORM = Affine(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
# GDAL block cache while reading scenes, MiB. GDAL's default (5 % of RAM) lets memory grow
# with the scene up to that cap; 256 MiB still holds the blocks that overlapping tiles
# read twice (one band of blocks across scenes up to ~150k pixels wide).
READ_CACHE_MB = 256


class SceneWarning(UserWarning):
    """Something about a scene the user should know, that does not stop the run."""


@dataclass(frozen=True)
class SceneInfo:
    """What the pipeline needs to know about a scene before reading pixels.

    Attributes:
        path: the GDAL path as given.
        height, width: size in pixels.
        count: number of bands.
        dtype: numpy dtype name of band 1.
        crs: the scene CRS, or None.
        transform: scene pixel corners -> output coordinates (:data:`UNREFERENCED_TRANSFORM`
            when the file has no geotransform).
        has_mask: True when some pixels can be invalid (nodata value, mask or alpha band).
        pixel_size_m: ground size of one pixel ``(x, y)`` in metres at the scene centre,
            or None without a CRS.
    """

    path: str
    height: int
    width: int
    count: int
    dtype: str
    crs: CRS | None
    transform: Affine
    has_mask: bool
    pixel_size_m: tuple[float, float] | None


def open_dataset(path: str) -> Any:
    """``rasterio.open(path)`` with a one-line :class:`InputError` for unreadable input."""
    if "://" not in path and not path.startswith("/vsi") and not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            # read_scene_info says this once per scene, in words that name the fix.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioError as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not a readable raster ({reason})") from err


def reading_env() -> Any:
    """A ``rasterio.Env`` with a bounded block cache; enter it in every reading thread."""
    return rasterio.Env(GDAL_CACHEMAX=READ_CACHE_MB)


@contextmanager
def read_errors(path: str) -> Iterator[None]:
    """Turn a failed read of ``path``'s pixels into a one-line :class:`SceneError`.

    A truncated or damaged file, or a dropped connection, fails only when a window is read.
    """
    try:
        yield
    except RasterioError as err:
        # rasterio says "Read failed. See previous exception"; GDAL's cause says where.
        cause = err.__cause__ or err.__context__ or err
        lines = str(cause).strip().splitlines() or [type(cause).__name__]
        raise SceneError(
            f"{path}: cannot read its pixels ({lines[0]}); the file may be truncated or damaged"
        ) from err


def read_scene_info(path: str) -> SceneInfo:
    """Open ``path`` and describe it (raises :class:`InputError` for unusable scenes)."""
    with open_dataset(path) as ds:
        if ds.height < 1 or ds.width < 1 or ds.count < 1:
            raise InputError(f"{path}: empty raster ({ds.height} x {ds.width}, {ds.count} bands)")
        crs = ds.crs if ds.crs else None
        has_geotransform = ds.transform != Affine.identity() or crs is not None
        transform = ds.transform if has_geotransform else UNREFERENCED_TRANSFORM
        flags = ds.mask_flag_enums
        has_mask = any(f != [MaskFlags.all_valid] for f in flags)
        size = pixel_size_m(transform, crs, ds.height, ds.width) if crs else None
        return SceneInfo(
            path, ds.height, ds.width, ds.count, ds.dtypes[0], crs, transform, has_mask, size
        )


def check_bands(scene: SceneInfo, bands: tuple[int, ...]) -> None:
    """Raise :class:`InputError` unless every 1-based band index exists in the scene."""
    listed = ",".join(str(b) for b in bands)
    if not bands or min(bands) < 1:
        raise InputError(f"{scene.path}: invalid band selection {listed!r} (bands start at 1)")
    if max(bands) > scene.count:
        have = "1 band" if scene.count == 1 else f"{scene.count} bands"
        raise InputError(
            f"{scene.path}: has {have} but the model reads bands {listed} "
            "(choose others with --bands)"
        )


def read_window(
    ds: Any,
    window: Window,
    bands: tuple[int, ...],
    out_hw: tuple[int, int],
    masked: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read one window, resampled to ``out_hw`` (bilinear) when that differs from its size.

    Args:
        ds: an open rasterio dataset.
        window: the window in scene pixels (inside the scene).
        bands: 1-based band indices, in model-channel order.
        out_hw: ``(height, width)`` of the returned image.
        masked: also return the validity of each pixel (scenes with nodata / masks).

    Returns:
        ``(raw, valid)``: raw (C, H, W) values in the scene's dtype, and an (H, W) bool
        array that is True where any band holds data (None when ``masked`` is False).
    """
    rio_window = RioWindow(window.col_off, window.row_off, window.width, window.height)
    same = out_hw == (window.height, window.width)
    resampling = Resampling.nearest if same else Resampling.bilinear
    shape = (len(bands), *out_hw)
    data = ds.read(
        list(bands), window=rio_window, out_shape=shape, resampling=resampling, masked=masked
    )
    if not masked:
        return np.asarray(data), None
    valid = np.asarray(~np.ma.getmaskarray(data).all(axis=0))
    return np.ma.getdata(data), valid


def read_thumbnail(
    ds: Any, window: Window, bands: tuple[int, ...], out_hw: tuple[int, int]
) -> np.ndarray:
    """Read one window decimated to ``out_hw`` by area averaging: (C, H, W), scene dtype.

    GDAL serves it from the file's overviews when it has them; without, it averages the
    full-resolution pixels without handing them to Python. For cheap looks at a window
    (the tile screener), not for the model's input.
    """
    rio_window = RioWindow(window.col_off, window.row_off, window.width, window.height)
    shape = (len(bands), *out_hw)
    data = ds.read(list(bands), window=rio_window, out_shape=shape, resampling=Resampling.average)
    return np.asarray(data)
