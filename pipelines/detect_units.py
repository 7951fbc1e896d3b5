"""A scene's work in two steps: plan it once, then run any set of its batches.

Both ways of running a detection are built from these steps. The serial run
(:mod:`rsdet.pipelines.detect_scene`) plans a scene and runs all its batches in this
process; the cluster run (:mod:`rsdet.pipelines.detect_cluster`) plans every scene on a
worker and sends blocks of its batches to workers. A batch is a fixed slice of the scene's
valid tiles, so the serial run, a block on a worker and a resumed run all cut the same
batches and write the same journal records, and the merge that follows gives the same
layer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from rsdet.pipelines.detect_models import ModelRunner
from rsdet.pipelines.detect_plan import (
    Looks,
    TileBatch,
    batch_reader,
    plan_tiles,
    thumbnail_reader,
)

from rsdet.io.journal import JournalRecord
from rsdet.io.prefetch import Prefetcher
from rsdet.io.radiometry import ScaleOverride
from rsdet.io.raster import SceneInfo, open_dataset, read_errors
from rsdet.io.validity import MIN_VALID_FRACTION, box_valid_fraction
from rsdet.merge import MergeConfig, tiles_to_scene
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections
from rsdet.tiling import TilePlan

if TYPE_CHECKING:
    from rsdet.classify.screen import Screener

# A tile's full read: raw (C, H, W) pixels and its validity (None: no nodata).
Raw = tuple[np.ndarray, np.ndarray | None]

__all__ = ["RunSettings", "ScenePlan", "SceneSummary", "plan_scene", "run_batches"]


@dataclass(frozen=True)
class RunSettings:
    """A run's options resolved once against the model and the scenes: nothing is None.

    Attributes:
        tile_size, overlap: tile edge and overlap, pixels at the model's GSD.
        bands: per scene, the 1-based bands fed to the model, in model-channel order.
        postprocess: per-tile post-processing.
        merge: the cross-tile merge; its ``iou_thr`` is the post-processing's.
        batch_size, prefetch, resample: as in ``DetectOptions``.
        screen: the tile screener (:class:`~rsdet.classify.screen.Screener`), or None.
        scale: range scaling in place of the model's (``--scale``), or None.
    """

    tile_size: int
    overlap: int
    bands: tuple[tuple[int, ...], ...]
    postprocess: Postprocess
    merge: MergeConfig
    batch_size: int
    prefetch: int
    resample: bool
    screen: Screener | None = None
    scale: ScaleOverride | None = None


@dataclass
class SceneSummary:
    """What happened to one scene.

    Attributes:
        path: the scene.
        tiles, skipped: tiles in its grid, and those skipped for holding no data.
        screened: valid tiles the tile screener rejected (never seen by the model).
        detections: boxes the model returned (all tiles, before any merge).
        objects: features written for the scene (after the merges across tiles and scenes).
        gsd_m: the scene's pixel size along x in metres (None without a CRS).
        resampled: windows were resampled to the model's GSD.
        error: why the scene failed (cluster runs; it is then not in the layer), or None.
    """

    path: str
    tiles: int = 0
    skipped: int = 0
    detections: int = 0
    objects: int = 0
    gsd_m: float | None = None
    resampled: bool = False
    error: str | None = None
    screened: int = 0


@dataclass(frozen=True)
class ScenePlan:
    """A scene's tiles cut into batches, and how its pixels are prepared for the model.

    Attributes:
        index: the scene's index in the run.
        tiles: the tile grid, its valid tiles, the frame the model sees and its scale.
        batches: tile indices of each batch: fixed slices of ``tiles.valid``.
        prepare: ``(raw (C, H, W), valid (H, W) | None) -> model input`` for this scene
            (e.g. its percentile stretch, measured once).
    """

    index: int
    tiles: TilePlan
    batches: list[list[int]]
    prepare: Callable[..., Any]

    def summary(self, scene: SceneInfo) -> SceneSummary:
        """A summary of the scene with its tile counts filled in."""
        skipped = len(self.tiles.windows) - len(self.tiles.valid)
        gsd = scene.pixel_size_m[0] if scene.pixel_size_m else None
        resampled = self.tiles.scale != (1.0, 1.0)
        return SceneSummary(
            scene.path, len(self.tiles.windows), skipped, gsd_m=gsd, resampled=resampled
        )


def plan_scene(index: int, scene: SceneInfo, runner: ModelRunner, run: RunSettings) -> ScenePlan:
    """Lay out a scene's tiles, find those with data, cut batches, measure its radiometry."""
    bands = run.bands[index]
    with open_dataset(scene.path) as ds, read_errors(scene.path):
        tiling = (run.tile_size, run.overlap)
        tiles = plan_tiles(ds, scene, bands, tiling, runner.gsd_m, run.resample)
        prepare = runner.prepare(ds, scene, bands, run.scale)
    # Fixed slices of the valid tiles: a resumed run or a block batches like the first run.
    size = run.batch_size
    batches = [tiles.valid[i : i + size] for i in range(0, len(tiles.valid), size)]
    return ScenePlan(index, tiles, batches, prepare)


def run_batches(
    scene: SceneInfo, plan: ScenePlan, todo: list[int], runner: ModelRunner, run: RunSettings
) -> Iterator[JournalRecord]:
    """Run the model over batches ``todo`` of a scene; yield each one's journal record.

    A reader thread reads and prepares the next batches while the model runs. Records hold
    the batch's detections in scene pixels with their tile-edge fragment flags, in ``todo``
    order; detections lying mostly on nodata are dropped first (``_on_data``). With a tile
    screener (``run.screen``), see :func:`_screened_batches`.
    """
    if run.screen is not None:
        yield from _screened_batches(scene, plan, todo, runner, run)
        return
    reader = batch_reader(
        scene, run.bands[plan.index], plan.tiles, plan.batches, plan.prepare, runner.collate
    )
    with read_errors(scene.path), Prefetcher(reader, todo, run.prefetch) as stream:
        for b, batch in zip(todo, stream, strict=True):
            dets = _on_data(runner.run(batch.batch, run.postprocess), batch.valids)
            yield _record(plan, b, plan.batches[b], dets, scene, run.merge)


def _screened_batches(
    scene: SceneInfo, plan: ScenePlan, todo: list[int], runner: ModelRunner, run: RunSettings
) -> Iterator[JournalRecord]:
    """Like :func:`run_batches`, with the tile screener deciding before the full read.

    Three threads in a pipeline: one reader makes each tile's thumbnail
    (:func:`thumbnail_reader`: a decimated read from the overviews, or else the full read,
    which is kept for the detector); the model's thread scores a batch's thumbnails ``lag``
    batches before the detector needs it (two threads running torch at once fight over
    the cores); a second reader reads (or takes over) and prepares only the tiles kept. A
    rejected tile costs its look and the screener, never its preparation or detection; the
    detector runs on the kept tiles in the same batches (smaller). Memory: about
    ``2 * prefetch + 4`` batches of tiles in flight (a plain run: ``prefetch + 2``).
    """
    assert run.screen is not None
    screen, bands = run.screen, run.bands[plan.index]
    decided = _Decisions()
    lag = run.prefetch + 1  # the full reader never waits for a decision
    looks = thumbnail_reader(scene, bands, plan.tiles, plan.batches, screen)
    full = _kept_reader(scene, bands, plan, runner, decided)
    with (
        read_errors(scene.path),
        Prefetcher(looks, todo, run.prefetch + lag) as thumbs,
        Prefetcher(full, todo, run.prefetch) as batches,
    ):
        try:
            ahead = zip(todo, thumbs, strict=True)
            for _ in range(lag):
                _decide(ahead, screen, plan, decided)
            for b, batch in zip(todo, batches, strict=True):
                _decide(ahead, screen, plan, decided)
                kept = decided.tiles(b)
                rejected = [t for t in plan.batches[b] if t not in kept]
                dets = []
                if batch is not None:
                    dets = _on_data(runner.run(batch.batch, run.postprocess), batch.valids)
                yield _record(plan, b, kept, dets, scene, run.merge, rejected)
        finally:
            decided.close()  # a full reader waiting for a decision gives up


def _decide(
    ahead: Iterator[tuple[int, Looks]], screen: Screener, plan: ScenePlan, decided: _Decisions
) -> None:
    """Score the next batch's thumbnails (if any left) and publish the tiles kept.

    Full reads made for the thumbnails go with the kept tiles; the others are dropped here.
    """
    item = next(ahead, None)
    if item is not None:
        b, looks = item
        keep = screen.keep(looks.thumbs)
        tiles = [t for t, k in zip(plan.batches[b], keep, strict=True) if k]
        raws = (
            None if looks.raws is None else [r for r, k in zip(looks.raws, keep, strict=True) if k]
        )
        decided.set(b, tiles, raws)


class _Decisions:
    """Kept tiles per batch, and their full reads if made.

    Set by the model's thread, awaited by the full reader.
    """

    def __init__(self) -> None:
        self._kept: dict[int, tuple[list[int], list[Raw] | None]] = {}
        self._closed = False
        self._changed = threading.Condition()

    def set(self, b: int, tiles: list[int], raws: list[Raw] | None) -> None:
        with self._changed:
            self._kept[b] = (tiles, raws)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def tiles(self, b: int) -> list[int]:
        """Batch ``b``'s kept tiles (waits for the decision)."""
        return self._wait(b)[0]

    def take_raws(self, b: int) -> list[Raw] | None:
        """Batch ``b``'s full reads, handed over once (waits for the decision)."""
        tiles, raws = self._wait(b)
        with self._changed:
            self._kept[b] = (tiles, None)
        return raws

    def _wait(self, b: int) -> tuple[list[int], list[Raw] | None]:
        with self._changed:
            while b not in self._kept:
                if self._closed:
                    raise RuntimeError("screening stopped before this batch was decided")
                self._changed.wait()
            return self._kept[b]


def _kept_reader(
    scene: SceneInfo,
    bands: tuple[int, ...],
    plan: ScenePlan,
    runner: ModelRunner,
    decided: _Decisions,
) -> Callable[[], AbstractContextManager[Callable[[int], TileBatch | None]]]:
    """The full reader's worker: batch ``b``'s kept tiles, prepared and collated.

    None when no tile was kept. Tiles whose full read came with the thumbnails are not
    read again.
    """
    tiles: list[list[int]] = [[] for _ in plan.batches]
    reader = batch_reader(scene, bands, plan.tiles, tiles, plan.prepare, runner.collate)

    @contextmanager
    def open_worker() -> Iterator[Callable[[int], TileBatch | None]]:
        with reader() as read:

            def read_kept(b: int) -> TileBatch | None:
                tiles[b] = decided.tiles(b)
                raws = decided.take_raws(b)
                if not tiles[b]:
                    return None
                if raws is None:
                    return read(b)  # type: ignore[no-any-return]
                images = [plan.prepare(raw, valid) for raw, valid in raws]
                return TileBatch(runner.collate(images), [valid for _, valid in raws])

            yield read_kept

    return open_worker


def _on_data(dets: list[Detections], valids: list[np.ndarray | None]) -> list[Detections]:
    """Per tile, drop the detections lying mostly on nodata (``MIN_VALID_FRACTION``)."""
    kept = []
    for d, valid in zip(dets, valids, strict=True):
        if valid is not None and len(d):
            d = d[torch.from_numpy(box_valid_fraction(d.boxes, valid) >= MIN_VALID_FRACTION)]
        kept.append(d)
    return kept


def _record(
    plan: ScenePlan,
    batch: int,
    tiles: list[int],
    dets_per_tile: list[Detections],
    scene: SceneInfo,
    merge: MergeConfig,
    screened: list[int] | None = None,
) -> JournalRecord:
    """One batch's detections in scene pixels, with their edge flags, for the journal.

    ``tiles``: the tiles the model saw; ``screened``: those the tile screener rejected.
    """
    scene_hw = (scene.height, scene.width)
    margin = merge.edge_margin_px
    shifted, fragments = tiles_to_scene(dets_per_tile, tiles, plan.tiles, scene_hw, margin)
    record = JournalRecord.from_tiles(plan.index, batch, tiles, shifted, fragments)
    return replace(record, screened=tuple(screened)) if screened else record
