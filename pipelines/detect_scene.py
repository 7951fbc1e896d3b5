"""Detect objects in whole scenes and deliver them as georeferenced polygons.

Data path for one scene (each arrow is one function or module)::

    read_scene_info -> _resolve (options against the model, once) -> plan_tiles (GSD
      resampling, tile grid, nodata skip)
      -> Prefetcher (reader thread: read window, scale pixels, stack a batch)
      -> model, one batch at a time -> tiles_to_scene (edge flags, scene pixels) -> journal
      -> merge_detections (across tiles) -> detections_frame (polygons in the CRS)

Scenes of a run go into one layer (:func:`detect_to_file`), or one scene into a
GeoDataFrame (:func:`detect_scene`). A model is an rsdet :class:`Detector` or any object
with ``predict(image (H, W, C)) -> (boxes, scores, labels)``.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import torch
from rich.progress import Progress, TextColumn
from rsdet.pipelines.detect_models import ModelRunner, load_runner
from rsdet.pipelines.detect_plan import batch_reader, plan_tiles
from rsdet.pipelines.progress import make_progress

from rsdet.errors import InputError
from rsdet.io.journal import Journal, JournalRecord, journal_path
from rsdet.io.prefetch import Prefetcher
from rsdet.io.raster import (
    SceneInfo,
    SceneWarning,
    check_bands,
    open_dataset,
    read_scene_info,
    reading_env,
)
from rsdet.io.vector import combine_frames, detections_frame, ensure_absent, write_layer
from rsdet.merge import MergeConfig, merge_detections, tiles_to_scene
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections
from rsdet.tiling import TilePlan

__all__ = ["DetectOptions", "RunSummary", "SceneSummary", "detect_scene", "detect_to_file"]


@dataclass(frozen=True)
class DetectOptions:
    """Settings of a run; ``None`` means the model's own value (its ModelSpec).

    Attributes:
        tile_size: tile edge in pixels at the model's GSD.
        overlap: tile overlap in pixels at the model's GSD (at least the largest object).
        score_thr: drop detections below this score.
        iou_thr: NMS threshold, within a tile and across tiles.
        batch_size: tiles per model call.
        bands: 1-based scene bands fed to the model, in model-channel order.
        resample: resample windows to the model's GSD when the scene's differs by > 10 %.
        require_crs: a scene without a CRS is an error instead of a warning.
        prefetch: batches read ahead of the model (memory: about ``prefetch + 2`` batches).
        merge: cross-tile merge settings; its ``iou_thr`` is replaced by the run's.
    """

    tile_size: int | None = None
    overlap: int | None = None
    score_thr: float | None = None
    iou_thr: float | None = None
    batch_size: int = 4
    bands: tuple[int, ...] | None = None
    resample: bool = True
    require_crs: bool = False
    prefetch: int = 2
    merge: MergeConfig = field(default_factory=MergeConfig)


@dataclass
class SceneSummary:
    """What happened to one scene.

    Attributes:
        path: the scene.
        tiles, skipped: tiles in its grid, and those skipped for holding no data.
        detections: boxes the model returned (all tiles, before the cross-tile merge).
        objects: features written for the scene (after the merge).
        gsd_m: the scene's pixel size along x in metres (None without a CRS).
        resampled: windows were resampled to the model's GSD.
    """

    path: str
    tiles: int = 0
    skipped: int = 0
    detections: int = 0
    objects: int = 0
    gsd_m: float | None = None
    resampled: bool = False


@dataclass
class RunSummary:
    """What a run produced (``rsdet detect --json`` prints this)."""

    output: str | None
    objects: int
    seconds: float
    scenes: list[SceneSummary]
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


@dataclass(frozen=True)
class RunSettings:
    """A run's options resolved once against the model and the scenes: nothing is None.

    Attributes:
        tile_size, overlap: tile edge and overlap, pixels at the model's GSD.
        bands: per scene, the 1-based bands fed to the model, in model-channel order.
        postprocess: per-tile post-processing.
        merge: the cross-tile merge; its ``iou_thr`` is the post-processing's.
        batch_size, prefetch, resample: as in :class:`DetectOptions`.
    """

    tile_size: int
    overlap: int
    bands: tuple[tuple[int, ...], ...]
    postprocess: Postprocess
    merge: MergeConfig
    batch_size: int
    prefetch: int
    resample: bool


# --- one scene ------------------------------------------------------------------------
def _tiling(runner: ModelRunner, opts: DetectOptions) -> tuple[int, int]:
    """``(tile_size, overlap)`` of a run, checked."""
    tile = opts.tile_size or runner.tile_size
    overlap = runner.overlap if opts.overlap is None else opts.overlap
    if tile < 1 or opts.batch_size < 1:
        raise InputError(f"tile size ({tile}) and batch size ({opts.batch_size}) must be >= 1")
    if not 0 <= overlap < tile:
        origin = " (the model's default; pass --overlap)" if opts.overlap is None else ""
        raise InputError(
            f"overlap {overlap} px{origin} must be smaller than the tile size {tile} px"
        )
    return tile, overlap


def _resolve(infos: Sequence[SceneInfo], runner: ModelRunner, opts: DetectOptions) -> RunSettings:
    """Resolve and check everything before the first tile runs (fail in seconds, not hours)."""
    tile, overlap = _tiling(runner, opts)
    bands = tuple(opts.bands or runner.default_bands(info.count) for info in infos)
    for info, scene_bands in zip(infos, bands, strict=True):
        check_bands(info, scene_bands)
    default = runner.postprocess
    post = replace(
        default,
        score_thr=default.score_thr if opts.score_thr is None else opts.score_thr,
        iou_thr=default.iou_thr if opts.iou_thr is None else opts.iou_thr,
    )
    merge = replace(opts.merge, iou_thr=post.iou_thr)
    return RunSettings(
        tile, overlap, bands, post, merge, opts.batch_size, opts.prefetch, opts.resample
    )


def _scene_detections(
    index: int,
    scene: SceneInfo,
    runner: ModelRunner,
    run: RunSettings,
    journal: Journal,
    progress: Progress,
) -> tuple[Detections, np.ndarray, SceneSummary]:
    """Run the model over a scene's valid tiles; return all its detections, unmerged."""
    bands = run.bands[index]
    with open_dataset(scene.path) as ds:
        tiling = (run.tile_size, run.overlap)
        plan = plan_tiles(ds, scene, bands, tiling, runner.gsd_m, run.resample)
        prepare = runner.prepare(ds, scene, bands)
    summary = SceneSummary(scene.path, len(plan.windows), len(plan.windows) - len(plan.valid))
    summary.resampled = plan.scale != (1.0, 1.0)
    summary.gsd_m = scene.pixel_size_m[0] if scene.pixel_size_m else None
    # Batches are fixed slices of the valid tiles, so a resumed run batches like the first.
    size = run.batch_size
    batches = [plan.valid[i : i + size] for i in range(0, len(plan.valid), size)]
    todo = [b for b in range(len(batches)) if not journal.done(index, b)]
    found = sum(len(r) for r in journal.scene_records(index))
    done_before = len(plan.valid) - sum(len(batches[b]) for b in todo)
    task = progress.add_task(
        Path(scene.path).name,
        total=len(plan.valid),
        completed=done_before,
        skipped=summary.skipped,
        objects=found,
        rate="-",
    )
    reader = batch_reader(scene, bands, plan, batches, prepare, runner.collate)
    started, tiles_done = time.perf_counter(), 0
    with Prefetcher(reader, todo, run.prefetch) as stream:
        for b, batch in zip(todo, stream, strict=True):
            dets = runner.run(batch, run.postprocess)
            record = _record(index, b, batches[b], dets, plan, scene, run.merge)
            journal.append(record)
            found += len(record)
            tiles_done += len(batches[b])
            rate = tiles_done / (time.perf_counter() - started)
            progress.update(task, advance=len(batches[b]), objects=found, rate=f"{rate:.1f}")
    dets, fragment = journal.scene_detections(index, runner.oriented)
    summary.detections = len(dets)
    return dets, fragment, summary


def _record(
    index: int,
    batch: int,
    tiles: list[int],
    dets_per_tile: list[Detections],
    plan: TilePlan,
    scene: SceneInfo,
    merge: MergeConfig,
) -> JournalRecord:
    """One batch's detections in scene pixels, with their edge flags, for the journal."""
    scene_hw = (scene.height, scene.width)
    shifted, fragments = tiles_to_scene(dets_per_tile, tiles, plan, scene_hw, merge.edge_margin_px)
    return JournalRecord.from_tiles(index, batch, tiles, shifted, fragments)


def _scene_frame(
    index: int,
    scene: SceneInfo,
    name: str,
    runner: ModelRunner,
    run: RunSettings,
    journal: Journal,
    progress: Progress,
) -> tuple[gpd.GeoDataFrame, SceneSummary]:
    """Detect, merge across tiles and georeference one scene."""
    dets, fragment, summary = _scene_detections(index, scene, runner, run, journal, progress)
    keep = merge_detections(dets, fragment, run.merge)
    kept = dets[torch.from_numpy(keep)]
    summary.objects = len(kept)
    return detections_frame(kept, scene, runner.classes, name), summary


def _open_scenes(paths: Sequence[str | os.PathLike[str]], require_crs: bool) -> list[SceneInfo]:
    """Check every scene before the first tile runs (a bad third scene fails fast)."""
    scenes = [read_scene_info(os.fspath(p)) for p in paths]
    if len({s.crs is None for s in scenes}) > 1:
        raise InputError("cannot write scenes with and without a CRS into one layer")
    for scene in scenes:
        if scene.crs is not None:
            continue
        if require_crs:
            raise InputError(f"{scene.path}: has no CRS (--require-crs is set)")
        warnings.warn(
            f"{scene.path}: has no CRS; writing coordinates in its own frame "
            "(pixels as x = column, y = -row when it has no geotransform)",
            SceneWarning,
            stacklevel=3,
        )
    return scenes


def _scene_names(scenes: Sequence[SceneInfo]) -> list[str]:
    """File names, or the full paths when two scenes share a file name."""
    names = [Path(s.path).name for s in scenes]
    return names if len(set(names)) == len(names) else [s.path for s in scenes]


def _progress(quiet: bool) -> Progress:
    progress: Progress = make_progress(
        quiet,
        TextColumn("{task.fields[skipped]} skipped"),
        TextColumn("{task.fields[objects]} detections"),
        TextColumn("{task.fields[rate]} tiles/s"),
    )
    return progress


def _fingerprint(
    scenes: Sequence[SceneInfo], runner: ModelRunner, opts: DetectOptions
) -> dict[str, Any]:
    """What must not change between an interrupted run and its ``--resume``."""
    files = []
    for scene in scenes:
        entry: dict[str, Any] = {"path": scene.path}
        if os.path.exists(scene.path):
            stat = os.stat(scene.path)
            entry.update(size=stat.st_size, mtime=stat.st_mtime_ns)
        files.append(entry)
    settings = asdict(opts)
    settings.pop("prefetch")
    settings["merge"] = {k: str(v) for k, v in asdict(opts.merge).items()}
    return {"scenes": files, "model": runner.identity, "options": settings}


def detect_to_file(
    scenes: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    model: Any = "default",
    options: DetectOptions | None = None,
    *,
    device: str = "auto",
    keep_crs: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> RunSummary:
    """Detect objects in one or more scenes and write them to one vector layer.

    Args:
        scenes: GDAL paths of the scenes (local files, VRTs, ``/vsicurl/`` COGs).
        out: output file; the extension picks the format (see :mod:`rsdet.io.vector`).
        model: checkpoint path, packaged model name, :class:`Detector`, or an object with
            ``predict(image)``.
        options: tiling, thresholds and reading settings.
        device: ``auto``, ``cpu`` or ``cuda`` (only when ``model`` is a path or name).
        keep_crs: GeoJSON only: keep the scene CRS instead of WGS 84.
        resume: continue the interrupted run recorded in ``<out>.rsdet-journal``.
        overwrite: replace existing outputs (and discard an old journal).
        quiet: no progress bar.

    Returns:
        A :class:`RunSummary`.

    Raises:
        RsdetError: unreadable scene, unknown model, existing output, bad option.
    """
    opts = options or DetectOptions()
    started = time.perf_counter()
    out_path = Path(out)
    if not overwrite:
        ensure_absent(out_path)
    infos = _open_scenes(scenes, opts.require_crs)
    runner = load_runner(model, device)
    run = _resolve(infos, runner, opts)
    journal = Journal.open(
        journal_path(out_path), _fingerprint(infos, runner, opts), resume, overwrite
    )
    frames, summaries = _run_scenes(infos, runner, run, journal, quiet)
    files = write_layer(combine_frames(frames), out_path, runner.classes, keep_crs, overwrite)
    journal.remove()
    total = sum(s.objects for s in summaries)
    seconds = time.perf_counter() - started
    return RunSummary(str(out_path), total, seconds, summaries, [str(f) for f in files])


def _run_scenes(
    infos: Sequence[SceneInfo],
    runner: ModelRunner,
    run: RunSettings,
    journal: Journal,
    quiet: bool,
) -> tuple[list[gpd.GeoDataFrame], list[SceneSummary]]:
    frames, summaries = [], []
    with reading_env(), _progress(quiet) as progress:
        for i, (info, name) in enumerate(zip(infos, _scene_names(infos), strict=True)):
            frame, summary = _scene_frame(i, info, name, runner, run, journal, progress)
            frames.append(frame)
            summaries.append(summary)
    return frames, summaries


def detect_scene(
    path: str | os.PathLike[str],
    model: Any = "default",
    *,
    tile_size: int | None = None,
    overlap: int | None = None,
    score_thr: float | None = None,
    iou_thr: float | None = None,
    batch_size: int = 4,
    bands: Sequence[int] | None = None,
    resample: bool = True,
    require_crs: bool = False,
    device: str = "auto",
    quiet: bool = True,
) -> gpd.GeoDataFrame:
    """Detect objects in one scene and return them as a GeoDataFrame (nothing is written).

    Args:
        path: GDAL path of the scene.
        model: checkpoint path, packaged model name, :class:`Detector`, or any object with
            ``predict(image (H, W, C)) -> (boxes, scores, labels)`` (numpy; boxes (N, 4)
            ``x1 y1 x2 y2`` or (N, 5) rsdet oriented boxes, in the image's pixels). Such an
            object gets raw pixel values of the selected bands (default: bands 1-3) and may
            expose ``classes`` (a list, or a dict from label to name).
        tile_size, overlap, score_thr, iou_thr, batch_size, bands, resample, require_crs:
            see :class:`DetectOptions` (None: the model's own value).
        device: ``auto``, ``cpu`` or ``cuda`` (only when ``model`` is a path or name).
        quiet: no progress bar.

    Returns:
        One polygon per object in the scene CRS, with the columns described in
        :func:`rsdet.io.vector.detections_frame`.
    """
    opts = DetectOptions(
        tile_size=tile_size,
        overlap=overlap,
        score_thr=score_thr,
        iou_thr=iou_thr,
        batch_size=batch_size,
        bands=tuple(bands) if bands is not None else None,
        resample=resample,
        require_crs=require_crs,
    )
    infos = _open_scenes([path], require_crs)
    runner = load_runner(model, device)
    run = _resolve(infos, runner, opts)
    frames, _ = _run_scenes(infos, runner, run, Journal(), quiet)
    return frames[0]
