"""Where the tiles of a scene go, at what resolution the model sees them, which hold data.

The grid is laid in scene pixels. When the model declares the ground sampling distance
(GSD) it was trained at and the scene's differs by more than :data:`GSD_TOLERANCE`, tiles
of ``tile_size`` *model* pixels cover ``tile_size / f`` scene pixels (``f`` = model pixels
per scene pixel, per axis) and are read resampled to ``tile_size``; boxes come back through
``scale``. Tiles without valid pixels are listed apart (:mod:`rsdet.io.validity`), and
:func:`batch_reader` reads the others, a batch at a time, in the reader thread.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rsdet.io.raster import (
    SceneInfo,
    SceneWarning,
    open_dataset,
    read_thumbnail,
    read_window,
    reading_env,
)
from rsdet.io.validity import scan_validity
from rsdet.tiling import TilePlan, tile_grid

if TYPE_CHECKING:
    from rsdet.classify.screen import Screener

__all__ = [
    "GSD_TOLERANCE",
    "Looks",
    "TileBatch",
    "batch_reader",
    "plan_tiles",
    "resample_factors",
    "thumbnail_reader",
]

# Resample to the model's GSD only when the scene's differs by more than this fraction.
GSD_TOLERANCE = 0.10


class TileBatch(NamedTuple):
    """A batch ready for the model, and where each of its tiles holds data.

    Attributes:
        batch: ``collate`` of the prepared tiles.
        valids: per tile, (H, W) bool in the model's frame (None: scene without nodata).
    """

    batch: Any
    valids: list[np.ndarray | None]


def plan_tiles(
    ds: Any,
    scene: SceneInfo,
    bands: tuple[int, ...],
    tiling: tuple[int, int],
    model_gsd: float | None,
    resample: bool,
) -> TilePlan:
    """Lay out the tiles of a scene and find those that hold data.

    Args:
        ds: the open scene (read for its validity mask only).
        scene: its description.
        bands: the bands the model reads (validity is checked on them).
        tiling: ``(tile_size, overlap)`` in model pixels.
        model_gsd: the model's GSD in metres, or None.
        resample: allow resampling to ``model_gsd``.
    """
    tile, overlap = tiling
    fy, fx = resample_factors(scene, model_gsd, resample)
    size_hw = (max(1, round(tile / fy)), max(1, round(tile / fx)))
    over_hw = (min(round(overlap / fy), size_hw[0] - 1), min(round(overlap / fx), size_hw[1] - 1))
    windows = tile_grid(scene.height, scene.width, size_hw, over_hw)
    h, w = windows[0].height, windows[0].width
    out_hw = (max(1, round(h * fy)), max(1, round(w * fx)))
    validity = scan_validity(ds, scene, bands, cell_px=max(1, min(size_hw) // 8))
    valid = [i for i, win in enumerate(windows) if validity is None or validity.any_valid(win)]
    return TilePlan(windows, valid, out_hw, (w / out_hw[1], h / out_hw[0]))


def resample_factors(
    scene: SceneInfo, model_gsd: float | None, enabled: bool
) -> tuple[float, float]:
    """``(fy, fx)``: model pixels per scene pixel, or ``(1, 1)`` to keep the scene's grid."""
    if model_gsd is None or not enabled:
        return 1.0, 1.0
    if scene.pixel_size_m is None:
        warnings.warn(
            f"{scene.path}: no CRS, so its GSD is unknown; "
            f"using it as is (the model expects {model_gsd:g} m)",
            SceneWarning,
            stacklevel=3,
        )
        return 1.0, 1.0
    gx, gy = scene.pixel_size_m
    if max(abs(gx / model_gsd - 1), abs(gy / model_gsd - 1)) <= GSD_TOLERANCE:
        return 1.0, 1.0
    return gy / model_gsd, gx / model_gsd


def batch_reader(
    scene: SceneInfo,
    bands: tuple[int, ...],
    plan: TilePlan,
    batches: list[list[int]],
    prepare: Callable[[np.ndarray, np.ndarray | None], Any],
    collate: Callable[[list[Any]], Any],
) -> Callable[[], AbstractContextManager[Callable[[int], Any]]]:
    """The reader thread's worker for :class:`~rsdet.io.prefetch.Prefetcher`.

    Opened in the reader thread, it holds its own dataset handle (rasterio datasets must
    not cross threads) and turns a batch index into a model-ready batch:
    :class:`TileBatch` of ``collate([prepare(raw, valid) for each tile of batches[b]])``
    and the tiles' validity masks (to drop detections that lie mostly on nodata).
    """

    @contextmanager
    def open_worker() -> Iterator[Callable[[int], Any]]:
        with reading_env(), open_dataset(scene.path) as ds:

            def read_batch(b: int) -> TileBatch:
                images, valids = [], []
                for t in batches[b]:
                    raw, valid = read_window(
                        ds, plan.windows[t], bands, plan.out_hw, scene.has_mask
                    )
                    images.append(prepare(raw, valid))
                    valids.append(valid)
                return TileBatch(collate(images), valids)

            yield read_batch

    return open_worker


class Looks(NamedTuple):
    """A batch's thumbnails for the tile screener, and the full reads made on the way.

    Attributes:
        thumbs: (N, S, S, 3) uint8.
        raws: per tile ``(raw, valid)`` as :func:`read_window` returns them, when the
            thumbnails were made from full reads (a scene without overviews); else None.
    """

    thumbs: np.ndarray
    raws: list[tuple[np.ndarray, np.ndarray | None]] | None


def thumbnail_reader(
    scene: SceneInfo,
    bands: tuple[int, ...],
    plan: TilePlan,
    batches: list[list[int]],
    screen: Screener,
) -> Callable[[], AbstractContextManager[Callable[[int], Looks]]]:
    """The reader thread's worker for the tile screener's look at each batch.

    Turns a batch index into :class:`Looks`. When the scene has overviews that serve the
    thumbnail's scale, each window is read *decimated* (GDAL's average over the overview:
    the area resize the classifier was trained with) and only the thumbnail is kept: a
    rejected tile costs that small read. Without overviews GDAL's decimated reads are
    slower than full ones (4x to 100x, measured: it decodes blocks again per output
    line), so the window is read in full, the thumbnail made from it
    (:meth:`~rsdet.classify.screen.Screener.thumbnail`), and the read kept for the
    detector; a rejected tile then costs the read but not its preparation or detection.
    """
    from rsdet.classify.data import to_rgb8

    rgb, size = bands[:3], screen.size

    @contextmanager
    def open_worker() -> Iterator[Callable[[int], Looks]]:
        with reading_env(), open_dataset(scene.path) as ds:
            decimate = _overview_serves(ds, bands[0], plan, size)

            def look(b: int) -> Looks:
                if decimate:
                    thumbs = [
                        to_rgb8(
                            np.moveaxis(
                                read_thumbnail(ds, plan.windows[t], rgb, (size, size)), 0, -1
                            )
                        )
                        for t in batches[b]
                    ]
                    return Looks(np.stack(thumbs), None)
                raws = [
                    read_window(ds, plan.windows[t], bands, plan.out_hw, scene.has_mask)
                    for t in batches[b]
                ]
                return Looks(np.stack([screen.thumbnail(raw) for raw, _ in raws]), raws)

            yield look

    return open_worker


def _overview_serves(ds: Any, band: int, plan: TilePlan, size: int) -> bool:
    """Whether GDAL can read a window at ``size`` px from an overview (factor >= 2)."""
    factor = min(plan.windows[0].width, plan.windows[0].height) / size
    return any(2 <= f <= factor for f in ds.overviews(band))
