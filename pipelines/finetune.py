"""``rsdet finetune``: label a few objects on your own scene, fine-tune, detect again.

::

    SCENE.tif + LABELS (any CRS), per scene
      -> AOI: where the labels are complete (--aoi, else the labels' convex hull), pixels
      -> hold-out: the far strip of the AOI along its long side (``holdout`` of its objects)
      -> training samples = AOI minus the hold-out (rsdet.engine.aoi: nothing else is shown)
    before: the base model's AP50 on the hold-out
    schedule: time a few iterations, fit the iterations into --minutes
    rsdet.engine.train (init from the base model, EMA, BatchNorm statistics frozen unless
        --train-bn) in a temporary run folder
    after: AP50 of the fine-tuned weights on the hold-out -> OUT (the base model's ModelSpec)

The hold-out is deterministic: in each scene with at least ``MIN_SPLIT`` objects, the
objects are sorted by centre along the longer side of the AOI's bounding box (x if it is
wider than tall, else y) and the last ``round(holdout * n)`` of them (the right or bottom
end) are held out; the cut runs halfway between the last training and the first hold-out
centre. Training never sees the hold-out strip (its pixels are outside the training AOI).
Scoring counts the objects and detections whose centre lies in the strip (AI-TOD-style
COCO AP at IoU 0.5, up to 1500 detections).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import shapely

from rsdet.datasets.geo import GeoOptions, read_geo, scene_info
from rsdet.datasets.pixels import open_image
from rsdet.engine.aoi import aoi_bounds, restrict_to_aoi
from rsdet.engine.data import TrainData
from rsdet.engine.recipe import (
    AugmentConfig,
    DataConfig,
    EMAConfig,
    EvalConfig,
    ModelRecipe,
    OptimConfig,
    OutputConfig,
    ScheduleConfig,
    TrainRecipe,
)
from rsdet.errors import InputError, OutputExistsError
from rsdet.models.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from rsdet.models.spec import ModelDefaults, ModelSpec
from rsdet.structures import NORMAL, Sample

__all__ = ["FinetuneOptions", "FinetuneResult", "run_finetune"]

MIN_SPLIT = 4  # a scene with fewer labelled objects in its AOI trains on all of them
MIN_ITERATIONS = 10  # however small the time budget
PROBE_ITERATIONS = 4  # timed to size the schedule; the first one is not counted
SETUP_SECONDS = 10.0  # the training session's own start (imports, network, EMA copy)
EVAL = EvalConfig(protocol="aitod", metric="AP50", score_thr=0.01, max_det=1500)


@dataclass(frozen=True)
class FinetuneOptions:
    """What ``rsdet finetune`` was asked.

    Attributes:
        pairs: (scene GeoTIFF, labels vector file) per scene.
        out: the checkpoint to write.
        aoi: polygons (any CRS) where the labels are complete; None: each scene's labels'
            convex hull.
        model: base checkpoint file or packaged model name.
        minutes: wall-clock budget of the whole run (evaluations included).
        iterations: train exactly this many iterations (ignores ``minutes``).
        holdout: fraction of each scene's AOI objects held out for scoring.
        lr: peak AdamW learning rate (half the packaged recipes' from-scratch rate).
        tile_size: training window edge, model pixels; None: the training AOI's longer
            side, rounded up to 32 and kept within 128-512 (no bigger than the AOI needs).
        train_bn: let BatchNorm layers update their running statistics from the training
            windows; default False keeps the base model's (the windows are few and partly
            blanked outside the AOI, so their statistics are not the scene's).
        batch_size, device, seed: as in training recipes.
    """

    pairs: list[tuple[Path, Path]]
    out: Path
    aoi: Path | None = None
    model: str = "trees"
    minutes: float = 10.0
    iterations: int | None = None
    holdout: float = 0.25
    lr: float = 5e-4
    tile_size: int | None = None
    batch_size: int = 4
    device: str = "auto"
    seed: int = 0
    train_bn: bool = False
    overwrite: bool = False
    quiet: bool = False


@dataclass(frozen=True)
class FinetuneResult:
    """Outcome of :func:`run_finetune` (``--json`` prints :meth:`to_dict`)."""

    out: Path
    before_ap50: float | None
    after_ap50: float | None
    train_objects: int
    holdout_objects: int
    iterations: int
    seconds_per_iteration: float
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"out": str(self.out)}


@dataclass(frozen=True)
class _Scene:
    """One labelled scene: its objects (model label indices) and its regions, pixels."""

    sample: Sample
    train: Any  # shapely region of the AOI the model trains on
    holdout: Any | None  # shapely region scored before and after; None: none held out


def run_finetune(opts: FinetuneOptions) -> FinetuneResult:
    """Fine-tune ``opts.model`` on the labelled scenes (see the module docstring).

    Raises:
        InputError: unreadable or CRS-less files, labels outside their scene, an empty label
            layer, classes the model does not know, too few objects; the message names the
            file.
        OutputExistsError: ``out`` exists and ``overwrite`` is not set.
    """
    from rsdet.pipelines.train import ProgressReporter

    from rsdet.engine.train import train
    from rsdet.models.zoo import load_network, resolve_model_path

    start = time.perf_counter()
    _check_out(opts)
    source = resolve_model_path(opts.model)
    with tempfile.TemporaryDirectory(prefix="rsdet-finetune-") as tmp:
        # One copy of the base model for the whole run, even if its file is replaced meanwhile.
        base_path, run_dir = Path(tmp) / "base.pt", Path(tmp) / "run"
        shutil.copyfile(source, base_path)
        base = read_checkpoint(base_path)
        scenes = _load_scenes(opts, base.spec.classes)
        data = _train_data(scenes, base.spec.classes)
        zoom = _zoom([s.sample for s in scenes], base.spec.input.gsd_m)
        holdout = [h for s in scenes if (h := _holdout_sample(s, base.spec, zoom)) is not None]
        notes: list[str] = []
        with ProgressReporter(quiet=opts.quiet) as rep:
            t0 = time.perf_counter()
            before = _ap50(load_network(base_path)[0], base.spec, holdout, opts.device)
            eval_s = time.perf_counter() - t0
            iterations = opts.iterations
            if iterations is None:
                probe = _recipe(base, base_path, data, opts, 1, zoom)
                per_iter = _seconds_per_iteration(probe, data)
                spent = time.perf_counter() - start + eval_s + SETUP_SECONDS  # eval_s: "after"
                iterations = _fit_iterations(opts.minutes * 60 * 0.95 - spent, per_iter, notes)
            recipe = _recipe(base, base_path, data, opts, iterations, zoom)
            rep.note(f"fine-tuning on {_count_normal(data)} objects for {iterations} "
                     f"iterations; {_count(holdout)} objects held out")  # fmt: skip
            t0 = time.perf_counter()
            run_dir.mkdir()
            train(recipe, run_dir, provenance={"base_model": str(source)}, reporter=rep,
                  data=(data, None))  # fmt: skip
            train_s = time.perf_counter() - t0
            tuned = read_checkpoint(run_dir / "best.pt")
            after = _ap50(load_network(run_dir / "best.pt")[0], base.spec, holdout, opts.device)
    if before is not None and after is not None and after < before:
        notes.append(
            f"the fine-tuned model scores below the base model on the {_count(holdout)} "
            "held-out objects; keep the base model, or label more objects (or lower --lr)"
        )
    result = FinetuneResult(opts.out, before, after, _count_normal(data), _count(holdout),
                            iterations, train_s / iterations, time.perf_counter() - start,
                            notes)  # fmt: skip
    _write(tuned, base, scenes, result)
    return result


def _check_out(opts: FinetuneOptions) -> None:
    """No clobbering without ``overwrite``; sane numbers."""
    if opts.out.exists() and not opts.overwrite:
        raise OutputExistsError(f"{opts.out}: already exists; pass --overwrite to replace it")
    if not 0 < opts.holdout < 1:
        raise InputError(f"--holdout: {opts.holdout} is not a fraction between 0 and 1")
    if opts.tile_size is not None and opts.tile_size < 16:
        raise InputError(f"--tile-size: {opts.tile_size} is below 16 pixels")
    if opts.lr <= 0:
        raise InputError(f"--lr: {opts.lr} is not a positive learning rate")
    if opts.minutes <= 0:
        raise InputError(f"--minutes: {opts.minutes} is not a positive number of minutes")
    if not opts.pairs:
        raise InputError("give at least one SCENE.tif LABELS pair")


def _load_scenes(opts: FinetuneOptions, classes: tuple[str, ...]) -> list[_Scene]:
    """Every scene with its objects, AOI and hold-out split."""
    aoi_frame = _read_aoi(opts.aoi) if opts.aoi is not None else None
    scenes = []
    for scene_path, labels_path in opts.pairs:
        sample = _labelled_sample(scene_path, labels_path, classes)
        if aoi_frame is None:
            aoi = shapely.convex_hull(shapely.multipoints(sample.polygons.reshape(-1, 2)))
        else:
            aoi = _aoi_pixels(aoi_frame, opts.aoi, sample)
        train_region, holdout = _split(sample, aoi, opts.holdout)
        scenes.append(_Scene(restrict_to_aoi(sample, aoi), train_region, holdout))
    if not any(s.holdout is not None for s in scenes):
        n = max(_centres_inside(s.sample, s.train) for s in scenes)
        raise InputError(
            f"{opts.pairs[0][1]}: {n} labelled objects with their centre inside the AOI are "
            f"too few to hold some out for scoring; label at least {MIN_SPLIT} (20-50 work well)"
        )
    return scenes


def _labelled_sample(scene: Path, labels: Path, classes: tuple[str, ...]) -> Sample:
    """The scene's objects in its pixels, labels indexing the model's ``classes``."""
    single = classes[0] if len(classes) == 1 else None
    ds = read_geo(scene, GeoOptions(labels=labels, default_class=single))
    sample = ds.samples[0]
    if len(sample) == 0:
        raise InputError(f"{labels}: holds no label polygons for {scene.name}")
    names = [ds.classes[int(i)] for i in sample.labels]
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise InputError(
            f"{labels}: class {unknown[0]!r} is not one of the model's classes "
            f"({', '.join(classes)})"
        )
    labels_ = np.asarray([classes.index(n) for n in names], np.int64)
    return dataclasses.replace(sample, labels=labels_)


def _read_aoi(path: Path) -> Any:
    """The AOI polygons as a GeoDataFrame; errors name the file."""
    import geopandas as gpd
    import pyogrio

    if not path.is_file():
        raise InputError(f"{path}: AOI file not found")
    try:
        frame = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
        raise InputError(f"{path}: cannot read the AOI ({str(err).splitlines()[0]})") from None
    if frame.crs is None:
        raise InputError(f"{path}: the AOI has no CRS, so it cannot be placed on a scene")
    polygonal = frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if len(frame) == 0 or not polygonal.all():
        raise InputError(f"{path}: the AOI must hold at least one polygon, and only polygons")
    return frame


def _aoi_pixels(frame: Any, path: Path | None, sample: Sample) -> Any:
    """The AOI polygons over ``sample``'s scene, in its pixels (clipped to the scene)."""
    import pyproj
    from affine import Affine

    info = scene_info(Path(str(sample.image_path)))
    merged = shapely.union_all(frame.to_crs(pyproj.CRS.from_wkt(info.crs_wkt)).geometry.values)
    a, b, c, d, e, f = (~Affine(*info.transform))[:6]
    pixels = shapely.transform(merged, lambda xy: xy @ np.array([[a, d], [b, e]]) + (c, f))
    region = shapely.intersection(pixels, shapely.box(0, 0, sample.width, sample.height))
    if region.area <= 0:
        raise InputError(f"{path}: the AOI does not overlap scene {sample.image_id}")
    return region


def _split(sample: Sample, aoi: Any, fraction: float) -> tuple[Any, Any | None]:
    """(training region, hold-out region or None) of ``aoi`` (module docstring)."""
    x0, y0, x1, y1 = aoi.bounds
    axis = 0 if x1 - x0 >= y1 - y0 else 1
    centres = sample.polygons.mean(axis=1)
    along = np.sort(centres[_centres_inside(sample, aoi, count=False), axis])
    n, k = len(along), round(fraction * len(along))
    if n < MIN_SPLIT or k == 0:
        return aoi, None
    cut = (along[n - k - 1] + along[n - k]) / 2
    far = (
        shapely.box(cut, y0 - 1, x1 + 1, y1 + 1)
        if axis == 0
        else shapely.box(x0 - 1, cut, x1 + 1, y1 + 1)
    )
    return aoi.difference(far), aoi.intersection(far)


def _centres_inside(sample: Sample, region: Any, count: bool = True) -> Any:
    """Which objects (bool array), or how many (``count``), have their centre in ``region``."""
    centres = sample.polygons.mean(axis=1)
    inside = np.asarray(shapely.contains_xy(region, centres[:, 0], centres[:, 1]), bool)
    return int(inside.sum()) if count else inside


def _train_data(scenes: list[_Scene], classes: tuple[str, ...]) -> TrainData:
    """Training samples: each scene restricted to its training region."""
    samples = [restrict_to_aoi(s.sample, s.train) for s in scenes]
    data = TrainData("finetune:" + ",".join(s.image_id for s in samples), classes, "rbox", samples)
    if _count_normal(data) == 0:
        raise InputError(f"{data.spec}: no labelled object lies wholly inside the training AOI")
    return data


def _count_normal(data: TrainData) -> int:
    return sum(int((s.difficulty == NORMAL).sum()) for s in data.samples)


def _count(holdout: list[tuple[Sample, Any]]) -> int:
    return sum(len(s) for s, _ in holdout)


def _holdout_sample(scene: _Scene, spec: ModelSpec, zoom: float) -> tuple[Sample, Any] | None:
    """The hold-out strip's bounding box (plus context) as an in-memory sample.

    Its pixels are range-scaled to [0, 1] with the whole scene's range (percentile models
    measure the scene, never the crop), so :func:`_unit_spec` reads them unchanged, and
    resampled by ``zoom`` to the model's GSD as ``rsdet detect`` does. The ground truth is
    the objects whose centre lies in the strip; the strip comes back in the crop's frame.
    """
    from rsdet.engine.dataset import image_range
    from rsdet.io.radiometry import scale_to_unit

    if scene.holdout is None:
        return None
    s, margin = scene.sample, spec.overlap // 2
    left, top, right, bottom = scene.holdout.bounds
    x0, y0 = max(math.floor(left) - margin, 0), max(math.floor(top) - margin, 0)
    x1, y1 = min(math.ceil(right) + margin, s.width), min(math.ceil(bottom) + margin, s.height)
    with open_image(s) as reader:
        raw = reader.read_region(y0, x0, y1 - y0, x1 - x0)
        if max(spec.input.bands) > raw.shape[2]:
            raise InputError(
                f"{s.image_path}: has {raw.shape[2]} bands but the model reads bands "
                f"{list(spec.input.bands)}"
            )
        raw = raw[:, :, [b - 1 for b in spec.input.bands]]
        low, high = image_range(reader, spec.input)
    unit = scale_to_unit(np.moveaxis(raw, -1, 0), low, high).transpose(1, 2, 0)
    h, w = max(1, round((y1 - y0) * zoom)), max(1, round((x1 - x0) * zoom))
    if zoom != 1:
        interp = cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR
        unit = cv2.resize(unit, (w, h), interpolation=interp).reshape(h, w, -1)
    centres = s.polygons.mean(axis=1)
    keep = shapely.contains_xy(scene.holdout, centres[:, 0], centres[:, 1])
    crop = s.subset(keep)
    crop = dataclasses.replace(
        crop, image_id=f"{s.image_id}_holdout", height=h, width=w,
        polygons=(crop.polygons - (x0, y0)) * zoom, image=np.ascontiguousarray(unit),
        image_path=None, difficulty=np.zeros(len(crop), np.int8), meta={},
    )  # fmt: skip
    return crop, shapely.transform(scene.holdout, lambda xy: (xy - (x0, y0)) * zoom)


def _zoom(samples: list[Sample], model_gsd: float | None) -> float:
    """Model pixels per scene pixel: what ``rsdet detect`` resamples the scenes by.

    1 when the model states no GSD or the scenes are within ``GSD_TOLERANCE`` of it.

    Raises:
        InputError: scenes at different GSDs (one run trains at one zoom).
    """
    from affine import Affine
    from rasterio.crs import CRS
    from rsdet.pipelines.detect_plan import GSD_TOLERANCE

    from rsdet.io.georef import pixel_size_m

    if model_gsd is None:
        return 1.0
    sizes = []
    for s in samples:
        crs = CRS.from_wkt(s.meta["crs"])
        size = pixel_size_m(Affine(*s.meta["transform"]), crs, s.height, s.width)
        sizes.append(model_gsd if size is None else (size[0] + size[1]) / 2)
    if max(sizes) > min(sizes) * (1 + GSD_TOLERANCE):
        shown = ", ".join(f"{s.image_id} {g:.3g} m" for s, g in zip(samples, sizes, strict=True))
        raise InputError(f"scenes at different pixel sizes ({shown}): fine-tune them separately")
    gsd = float(np.mean(sizes))
    return 1.0 if abs(gsd / model_gsd - 1) <= GSD_TOLERANCE else gsd / model_gsd


def _unit_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` reading bands already picked and scaled to [0, 1]."""
    n = spec.input.num_channels
    unit = dataclasses.replace(
        spec.input, bands=tuple(range(1, n + 1)), scaling="fixed", low=(0.0,), high=(1.0,)
    )
    return dataclasses.replace(spec, input=unit)


def _ap50(
    network: Any, spec: ModelSpec, holdout: list[tuple[Sample, Any]], device: str
) -> float | None:
    """AP50 on the hold-out strips: objects and detections whose centre lies in a strip."""
    import torch

    from rsdet.engine.validate import detect_samples
    from rsdet.evaluation import evaluate
    from rsdet.models.detector import resolve_device

    samples = [s for s, _ in holdout]
    found = detect_samples(network, _unit_spec(spec), samples, EVAL, resolve_device(device))
    kept = []
    for dets, (_, region) in zip(found, holdout, strict=True):
        env = dets.boxes.envelope().tensor.cpu().numpy().reshape(-1, 4)
        cx, cy = (env[:, 0] + env[:, 2]) / 2, (env[:, 1] + env[:, 3]) / 2
        kept.append(dets[torch.from_numpy(shapely.contains_xy(region, cx, cy))])
    value = evaluate(EVAL.protocol, samples, kept, spec.classes).metrics.get("AP50")
    return None if value is None else float(value)


def _recipe(
    base: Checkpoint,
    base_path: Path,
    data: TrainData,
    opts: FinetuneOptions,
    iterations: int,
    zoom: float,
) -> TrainRecipe:
    """The base model's recipe, sized for ``iterations`` of fine-tuning at ``zoom``."""
    from rsdet.models.zoo import architecture

    spec = base.spec
    legacy = architecture(spec.arch).legacy_keys
    model = ModelRecipe(
        arch=spec.arch,
        config={k: v for k, v in base.arch_config.items() if k not in legacy},
        init=str(base_path),
        **{f.name: getattr(spec, f.name) for f in fields(ModelDefaults)},
    )
    sides = [max(b[2] - b[0], b[3] - b[1]) for b in map(aoi_bounds, data.samples)]
    window = max(sides) * zoom  # model pixels
    tile = opts.tile_size or min(max(32 * math.ceil(window / 32), 128), 512)
    # Windows are read at the model's GSD (``zoom``), jittered by -20 % / +25 %.
    augment = AugmentConfig(scale=(0.8 * zoom, 1.25 * zoom), brightness=0.2, contrast=0.2,
                            saturation=0.2, hue=0.02)  # fmt: skip
    return TrainRecipe(
        model=model,
        data=DataConfig(data.spec, None, tile, iterations * opts.batch_size, 0.8, 0.5, augment),
        optim=OptimConfig(name="adamw", lr=opts.lr, weight_decay=0.01, freeze_bn=not opts.train_bn),
        schedule=ScheduleConfig(warmup_iters=min(20, iterations // 5), warmup_ratio=0.1),
        epochs=1,
        batch_size=opts.batch_size,
        workers=0,
        device=opts.device,
        seed=opts.seed,
        # The EMA starts at the base weights (good ones), so no ramp; it averages about
        # the last fifth of the run.
        ema=EMAConfig(decay=1 - 1 / max(5.0, iterations / 5), tau=1.0),
        eval=EVAL,
        output=OutputConfig(log_interval=max(1, iterations // 20), tensorboard=False),
    )


def _seconds_per_iteration(recipe: TrainRecipe, data: TrainData) -> float:
    """Wall time of one training iteration (windows, forward, backward), measured."""
    import torch

    from rsdet.engine.build import build_training_network, model_spec
    from rsdet.engine.dataset import TileDataset, collate
    from rsdet.models.detector import resolve_device

    device = resolve_device(recipe.device)
    network, _ = build_training_network(recipe.model, data.classes)
    network.to(device).train()
    spec = model_spec(recipe.model, data.classes)
    dataset = TileDataset(data.samples, recipe.data, spec.input, recipe.model.box_type, 2**20)
    times = []
    for i in range(PROBE_ITERATIONS):
        t0 = time.perf_counter()
        batch = [dataset[i * recipe.batch_size + j] for j in range(recipe.batch_size)]
        images, targets = collate(batch)
        losses = network(images.to(device), [t.to(device) for t in targets])
        torch.stack([v.float() for v in losses.values()]).sum().backward()  # type: ignore[no-untyped-call]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    # The optimiser step and the EMA update add about a tenth on small networks.
    return 1.1 * statistics.median(times[1:])


def _fit_iterations(seconds_left: float, per_iteration: float, notes: list[str]) -> int:
    """Iterations that fit the time left (at least ``MIN_ITERATIONS``)."""
    fit = int(seconds_left / per_iteration)
    if fit < MIN_ITERATIONS:
        notes.append(
            f"the time budget leaves room for {max(fit, 0)} iterations of "
            f"{per_iteration:.2f} s; running {MIN_ITERATIONS}"
        )
    return max(fit, MIN_ITERATIONS)


def _write(tuned: Checkpoint, base: Checkpoint, scenes: list[_Scene], r: FinetuneResult) -> None:
    """The fine-tuned checkpoint: the base model's spec, a description saying what changed."""
    names = ", ".join(s.sample.image_id for s in scenes)
    what = f"fine-tuned on {names} ({r.train_objects} objects, {r.iterations} iterations)"
    described = f"{base.spec.description}; {what}" if base.spec.description else what
    spec = dataclasses.replace(base.spec, description=described)
    facts = tuned.provenance | {"finetune": r.to_dict()}
    r.out.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(r.out, Checkpoint(spec, tuned.arch_config, tuned.state_dict, facts, None))
