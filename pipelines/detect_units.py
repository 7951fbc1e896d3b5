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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rsdet.pipelines.detect_models import ModelRunner
from rsdet.pipelines.detect_plan import ScreenedBatch, batch_reader, plan_tiles

from rsdet.io.journal import JournalRecord
from rsdet.io.prefetch import Prefetcher
from rsdet.io.raster import SceneInfo, open_dataset
from rsdet.merge import MergeConfig, tiles_to_scene
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections
from rsdet.tiling import TilePlan

if TYPE_CHECKING:
    from rsdet.classify.screen import Screener

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
    with open_dataset(scene.path) as ds:
        tiling = (run.tile_size, run.overlap)
        tiles = plan_tiles(ds, scene, bands, tiling, runner.gsd_m, run.resample)
        prepare = runner.prepare(ds, scene, bands)
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
    order. With a tile screener (``run.screen``), the reader thread also makes each tile's
    thumbnail; here, before the model, the screener scores them (in the model's thread: two
    threads running torch at once fight over the cores), the model sees only the tiles it
    keeps, and a record lists the others.
    """
    bands = run.bands[plan.index]
    screen = run.screen.thumbnail if run.screen is not None else None
    reader = batch_reader(
        scene, bands, plan.tiles, plan.batches, plan.prepare, runner.collate, screen
    )
    with Prefetcher(reader, todo, run.prefetch) as stream:
        for b, batch in zip(todo, stream, strict=True):
            if run.screen is None:
                dets = runner.run(batch, run.postprocess)
                yield _record(plan, b, plan.batches[b], dets, scene, run.merge)
            else:
                yield _screened_record(plan, b, batch, runner, scene, run)


def _screened_record(
    plan: ScenePlan,
    b: int,
    batch: ScreenedBatch,
    runner: ModelRunner,
    scene: SceneInfo,
    run: RunSettings,
) -> JournalRecord:
    """Screen batch ``b`` by its thumbnails, run the model on the tiles kept, record both."""
    assert run.screen is not None
    keep = run.screen.keep(batch.thumbs)
    tiles = [t for t, k in zip(plan.batches[b], keep, strict=True) if k]
    rejected = [t for t, k in zip(plan.batches[b], keep, strict=True) if not k]
    images = [im for im, k in zip(batch.images, keep, strict=True) if k]
    dets = runner.run(runner.collate(images), run.postprocess) if images else []
    return _record(plan, b, tiles, dets, scene, run.merge, rejected)


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
