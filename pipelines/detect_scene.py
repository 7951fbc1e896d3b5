"""Detect objects in whole scenes and deliver them as georeferenced polygons.

Data path of a run (each arrow is one function or module)::

    read_scene_info (every scene) -> _resolve (options against the model, once)
      -> per scene: plan_scene (GSD resampling, tile grid, nodata skip, radiometry)
         -> run_batches (reader thread: read window, [tile screener: thumbnail, score, drop],
            scale pixels, stack a batch; model, one batch at a time; tiles_to_scene: edge
            flags, scene pixels) -> journal
      -> per scene: merge_detections (across tiles)
      -> merge_scenes (across the borders of adjacent or overlapping scenes, map frame)
      -> detections_frame (polygons in the CRS) -> one layer, with its run metadata
      -> detect_report: the summary (per class, per scene, density, sizes), [preview PNG]

The per-scene steps run here, one scene after the other, or on a Dask cluster
(:mod:`rsdet.pipelines.detect_cluster`, when ``scheduler`` is given); the merges run here
in both cases, from the journal, so both give the same layer.

Scenes of a run go into one layer (:func:`detect_to_file`), or one scene into a
GeoDataFrame (:func:`detect_scene`). A model is an rsdet :class:`Detector` or any object
with ``predict(image (H, W, C)) -> (boxes, scores, labels)``.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import torch
from rich.progress import Progress, TextColumn
from rsdet.pipelines.detect_models import ModelRunner, load_runner
from rsdet.pipelines.detect_report import check_outputs, check_style, finish, run_metadata
from rsdet.pipelines.detect_units import (
    RunSettings,
    SceneSummary,
    plan_scene,
    run_batches,
)
from rsdet.pipelines.progress import make_progress

from rsdet.errors import InputError, OutputError, RsdetError
from rsdet.io.atomic import make_folder
from rsdet.io.georef import pixel_map
from rsdet.io.journal import Journal, journal_path
from rsdet.io.lock import output_lock
from rsdet.io.radiometry import ScaleOverride, parse_scale
from rsdet.io.raster import (
    SceneInfo,
    SceneWarning,
    check_bands,
    read_errors,
    read_scene_info,
    reading_env,
)
from rsdet.io.vector import (
    combine_frames,
    detections_frame,
    ensure_absent,
    vector_format,
    write_layer,
)
from rsdet.merge import MergeConfig, merge_detections
from rsdet.merge_scenes import ScenePlacement, merge_scenes

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
        scene_merge: also merge objects across the borders of scenes that touch or overlap
            (:mod:`rsdet.merge_scenes`); turn it off for scenes of one place at other dates.
        screen: a tile screener: a classifier file with an ``object`` class, or a
            :class:`~rsdet.classify.screen.Screener`; tiles it rejects skip the model.
            Serial runs only (a ``scheduler`` run refuses it).
        screen_thr: skip a tile when the screener's probability of ``object`` is below
            this (None: the file's recall-picked threshold, else 0.05).
        scale: range scaling in place of the model's: ``"LOW,HIGH"`` (one pair or one per
            band), ``"percentile[:P1,P2]"`` or a :class:`~rsdet.io.radiometry.ScaleOverride`.
        range_check: refuse, before the first tile, a scene whose values miss the model's
            fixed range (:func:`~rsdet.io.radiometry.check_value_range`); off with ``scale``.
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
    scene_merge: bool = True
    screen: Any = None
    screen_thr: float | None = None
    scale: str | ScaleOverride | None = None
    range_check: bool = True


@dataclass
class RunSummary:
    """What a run produced (``rsdet detect --json`` prints this).

    A scene whose ``error`` is set failed on the cluster and is not in the layer; the
    journal is then kept, so ``--resume --overwrite`` retries only what is missing.
    """

    output: str | None
    objects: int
    seconds: float
    scenes: list[SceneSummary]
    files: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)  # detect_report.layer_report

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)

    @property
    def failed(self) -> list[SceneSummary]:
        """The scenes that failed (not in the layer)."""
        return [s for s in self.scenes if s.error is not None]


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
    scale = parse_scale(opts.scale) if isinstance(opts.scale, str) else opts.scale
    for info, scene_bands in zip(infos, bands, strict=True):
        runner.check_band_count(scene_bands)
        check_bands(info, scene_bands)
        with read_errors(info.path):  # the range check reads a sample of the pixels
            runner.check_input(info, scene_bands, scale, opts.range_check)
    default = runner.postprocess
    post = replace(
        default,
        score_thr=default.score_thr if opts.score_thr is None else opts.score_thr,
        iou_thr=default.iou_thr if opts.iou_thr is None else opts.iou_thr,
    )
    merge = replace(opts.merge, iou_thr=post.iou_thr)
    return RunSettings(
        tile,
        overlap,
        bands,
        post,
        merge,
        opts.batch_size,
        opts.prefetch,
        opts.resample,
        _screener(opts, runner, tile),
        scale,
    )


def _screener(opts: DetectOptions, runner: ModelRunner, tile: int) -> Any:
    """The run's tile screener, loaded and checked against the model (None without one)."""
    if opts.screen is None:
        return None
    from rsdet.classify.screen import Screener, check_detector, load_screener

    if isinstance(opts.screen, Screener):
        thr = opts.screen.threshold if opts.screen_thr is None else opts.screen_thr
        screen = replace(opts.screen, threshold=thr)
    else:
        screen = load_screener(opts.screen, opts.screen_thr)
    identity = runner.identity
    model_file = identity.get("path") if isinstance(identity, dict) else None
    check_detector(screen, runner.classes, tile, model_file)
    return screen


def _detect_scene(
    index: int,
    scene: SceneInfo,
    runner: ModelRunner,
    run: RunSettings,
    journal: Journal,
    progress: Progress,
) -> SceneSummary:
    """Run the model over a scene's valid tiles that the journal lacks; journal each batch."""
    plan = plan_scene(index, scene, runner, run)
    summary = plan.summary(scene)
    todo = [b for b in range(len(plan.batches)) if not journal.done(index, b)]
    found = sum(len(r) for r in journal.scene_records(index))
    valid = len(plan.tiles.valid)
    task = progress.add_task(
        Path(scene.path).name,
        total=valid,
        completed=valid - sum(len(plan.batches[b]) for b in todo),
        skipped=summary.skipped,
        objects=found,
        rate="-",
        screened=_screened(journal, index),
    )
    started, tiles_done = time.perf_counter(), 0
    for record in run_batches(scene, plan, todo, runner, run):
        journal.append(record)
        found += len(record)
        advance = len(plan.batches[record.batch])
        tiles_done += advance
        rate = tiles_done / (time.perf_counter() - started)
        screened = _screened(journal, index)
        progress.update(task, advance=advance, objects=found, rate=f"{rate:.1f}", screened=screened)
    summary.screened = _screened(journal, index)
    return summary


def _screened(journal: Journal, index: int) -> int:
    """Tiles of a scene the screener rejected, as the journal records them (resumes too)."""
    return sum(len(r.screened) for r in journal.scene_records(index))


# --- the layer ----------------------------------------------------------------------------
def _layer_frames(
    infos: Sequence[SceneInfo],
    summaries: Sequence[SceneSummary],
    runner: ModelRunner,
    run: RunSettings,
    journal: Journal,
    scene_merge: bool,
) -> list[gpd.GeoDataFrame]:
    """Merge each finished scene across its tiles, then across scene borders; georeference.

    Works from the journal alone, so serial and cluster runs end the same way. Fills in
    each summary's ``detections`` and ``objects``; failed scenes are left out.
    """
    done = [i for i, s in enumerate(summaries) if s.error is None]
    kept = []
    for i in done:
        dets, fragment = journal.scene_detections(i, runner.oriented)
        summaries[i].detections = len(dets)
        kept.append(dets[torch.from_numpy(merge_detections(dets, fragment, run.merge))])
    if scene_merge and len(done) > 1 and infos[0].crs is not None:
        places = _placements([infos[i] for i in done])
        kept = merge_scenes(kept, places, run.merge)
    names = _scene_names(infos)
    frames = []
    for i, dets in zip(done, kept, strict=True):
        summaries[i].objects = len(dets)
        frames.append(detections_frame(dets, infos[i], runner.classes, names[i]))
    return frames


def _placements(infos: Sequence[SceneInfo]) -> list[ScenePlacement]:
    """Where each scene lies in the layer's frame (the first scene's CRS)."""
    places = []
    for info in infos:
        to_map, from_map = pixel_map(info.transform, info.crs, infos[0].crs)
        places.append(ScenePlacement((info.height, info.width), to_map, from_map))
    return places


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


def _progress(quiet: bool, screen: bool = False) -> Progress:
    screened = (TextColumn("{task.fields[screened]} screened out"),) if screen else ()
    progress: Progress = make_progress(
        quiet,
        TextColumn("{task.fields[skipped]} skipped"),
        *screened,
        TextColumn("{task.fields[objects]} detections"),
        TextColumn("{task.fields[rate]} tiles/s"),
    )
    return progress


def _fingerprint(
    scenes: Sequence[SceneInfo], runner: ModelRunner, opts: DetectOptions, screen: Any = None
) -> dict[str, Any]:
    """What must not change between an interrupted run and its ``--resume``."""
    files = []
    for scene in scenes:
        entry: dict[str, Any] = {"path": scene.path}
        if os.path.exists(scene.path):
            stat = os.stat(scene.path)
            entry.update(size=stat.st_size, mtime=stat.st_mtime_ns)
        files.append(entry)
    settings = asdict(replace(opts, screen=None))
    settings.pop("prefetch")
    settings["merge"] = {k: str(v) for k, v in asdict(opts.merge).items()}
    for key in ("screen", "screen_thr"):  # runs without a screener keep their old form
        settings.pop(key)
    settings.pop("range_check")  # it refuses scenes, never changes a result
    if settings["scale"] is None:  # runs without --scale keep their old form
        settings.pop("scale")
    fingerprint = {"scenes": files, "model": runner.identity, "options": settings}
    if screen is not None:
        fingerprint["screen"] = {"identity": screen.identity, "threshold": screen.threshold}
    return fingerprint


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
    scheduler: str | None = None,
    fail_fast: bool = False,
    append: bool = False,
    preview: str | os.PathLike[str] | None = None,
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
        scheduler: run the scenes on a Dask cluster: ``local:N`` (N worker processes on
            this machine), an address such as ``tcp://host:8786``, or a scheduler file
            (``.json``). None runs them here, one after the other. Same layer either way.
        fail_fast: on a cluster, stop at the first scene that fails (without a cluster,
            the first failure always stops the run).
        append: add the objects to the existing GeoPackage layer ``out`` (same columns
            and classes), atomically.
        preview: also write this PNG: the scenes at low resolution with the objects drawn.

    Returns:
        A :class:`RunSummary`. Scenes that failed on a cluster are listed in its
        ``failed``; the layer holds the others (nothing is written when none finished)
        and the journal is kept.

    Raises:
        RsdetError: unreadable scene, unknown model, existing output, bad option, no
            scheduler at ``scheduler``; with ``fail_fast``, the first scene that failed.
    """
    opts = options or DetectOptions()
    started = time.perf_counter()
    out_path = Path(out)
    vector_format(out_path)  # an unknown extension fails now, not after the last tile
    preview_path = None if preview is None else Path(preview)
    check_outputs(out_path, preview_path, overwrite=overwrite, append=append)
    if not overwrite and not append:
        ensure_absent(out_path)
    infos = _open_scenes(scenes, opts.require_crs)
    # On a cluster, this copy of the model only answers questions: the workers load theirs.
    runner = load_runner(model, device if scheduler is None else "cpu")
    run = _resolve(infos, runner, opts)
    check_style(out_path, runner.classes, overwrite=overwrite, append=append)
    fingerprint = _fingerprint(infos, runner, opts, run.screen)
    make_folder(out_path.parent, out_path)  # a bad --out fails now, not after the last tile
    # Held until the layer is written: a second run on this output refuses to start (and
    # is not sent to --resume a journal that this run is still writing).
    with output_lock(out_path), _cluster(scheduler) as client:  # connected before the journal
        journal = Journal.open(journal_path(out_path), fingerprint, resume, overwrite)
        # A cluster run keeps its journal: it retries the scenes that failed (cluster.md).
        with _journal_kept_if_resumable(journal, keep=resume or client is not None):
            if client is None:
                summaries = _detect_scenes(infos, runner, run, journal, quiet)
            else:
                from rsdet.pipelines.detect_cluster import detect_on_cluster

                summaries = detect_on_cluster(
                    client, infos, (model, device), run, journal, fail_fast=fail_fast, quiet=quiet
                )
                for index, summary in enumerate(summaries):  # resumed batches count too
                    summary.screened = _screened(journal, index)
        frames = _layer_frames(infos, summaries, runner, run, journal, opts.scene_merge)
        done = [i for i, s in enumerate(summaries) if s.error is None]
        done_infos, names = [infos[i] for i in done], [_scene_names(infos)[i] for i in done]
        meta = run_metadata(done_infos, names, runner, run)
        files = _write_output(
            frames, out_path, runner.classes, (keep_crs, overwrite), journal, meta, append
        )
        report, extra = finish(frames, done_infos, names, runner.classes, preview_path)
        files += extra
        if all(s.error is None for s in summaries):
            journal.remove()
    total = sum(s.objects for s in summaries)
    seconds = time.perf_counter() - started
    written = str(out_path) if files else None
    return RunSummary(written, total, seconds, summaries, [str(f) for f in files], report)


@contextmanager
def _journal_kept_if_resumable(journal: Journal, keep: bool) -> Iterator[None]:
    """Remove the journal of a new serial run that fails on a user error (unless ``keep``).

    A broken scene, a bad option, a model that fails on the data: ``--resume`` would fail
    the same way, and a repaired scene is another input, which the journal refuses. The
    journal is kept after an interruption or a crash, after a full disk, and with ``keep``
    (a resumed journal was there before this attempt).
    """
    try:
        yield
    except RsdetError as err:
        if not keep and not isinstance(err, OutputError):  # a full disk: resume goes on
            journal.remove()
        raise


def _write_output(
    frames: list[gpd.GeoDataFrame],
    out: Path,
    classes: Sequence[str],
    flags: tuple[bool, bool],
    journal: Journal,
    metadata: dict[str, Any] | None = None,
    append: bool = False,
) -> list[Path]:
    """Write the layer (nothing when no scene finished); ``flags``: (keep_crs, overwrite).

    A failed write (read-only folder, full disk) keeps the journal: ``--resume`` then
    writes the layer without running the model again.
    """
    if not frames:
        return []
    keep_crs, overwrite = flags
    try:
        layer = combine_frames(frames)
        return write_layer(layer, out, classes, keep_crs, overwrite, metadata, append)
    except OSError as err:
        if isinstance(err, RsdetError):
            raise
        lines = str(err).strip().splitlines()
        reason = err.strerror or (lines[0] if lines else type(err).__name__)
        raise OutputError(
            f"{err.filename or out}: cannot write the layer ({reason}); the detections are "
            f"kept in {journal.path}: make room or fix the folder, then rerun with --resume"
        ) from None


@contextmanager
def _cluster(scheduler: str | None) -> Iterator[Any]:
    """A Dask client for ``scheduler`` (closed at the end), or None to run here."""
    if scheduler is None:
        yield None
        return
    from rsdet.pipelines.detect_cluster import connect

    with connect(scheduler) as client:
        yield client


def _detect_scenes(
    infos: Sequence[SceneInfo],
    runner: ModelRunner,
    run: RunSettings,
    journal: Journal,
    quiet: bool,
) -> list[SceneSummary]:
    """Run every scene here, one after the other (the first failure stops the run)."""
    with reading_env(), _progress(quiet, run.screen is not None) as progress:
        return [
            _detect_scene(i, info, runner, run, journal, progress) for i, info in enumerate(infos)
        ]


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
    scale: str | ScaleOverride | None = None,
    range_check: bool = True,
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
        tile_size, overlap, score_thr, iou_thr, batch_size, bands, resample, require_crs,
        scale, range_check: see :class:`DetectOptions` (None: the model's own value).
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
        scale=scale,
        range_check=range_check,
    )
    infos = _open_scenes([path], require_crs)
    runner = load_runner(model, device)
    run = _resolve(infos, runner, opts)
    journal = Journal()
    summaries = _detect_scenes(infos, runner, run, journal, quiet)
    return _layer_frames(infos, summaries, runner, run, journal, scene_merge=False)[0]
