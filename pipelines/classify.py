"""``rsdet classify``: train, evaluate and apply tile classifiers, read top to bottom.

train: load labelled tiles -> stratified split -> fit -> score the held-out part -> (object /
empty classes: pick the screener threshold for tile recall) -> ``OUT/classifier.pt`` +
``OUT/report.json``. eval: load tiles -> score -> report (+ PNG, + recall / tiles-skipped
curve for object / empty classifiers).
predict: images (or scenes cut into tiles) -> one CSV row per image / tile.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsdet.classify import (
    BoVWConfig,
    ClassifierConfig,
    DetectorMatch,
    Report,
    TileClassifier,
    TrainConfig,
    confusion_png,
    default_size,
    load_classifier,
    load_tiles,
    save_classifier,
    score_report,
    stratified_split,
    to_rgb8,
    train_classifier,
)
from rsdet.classify.screen import (
    CURVE_THRESHOLDS,
    DEFAULT_THRESHOLD,
    MAX_TILE_LOSS,
    file_sha256,
    pick_threshold,
    recall_curve,
)
from rsdet.datasets import open_image
from rsdet.errors import InputError
from rsdet.io.atomic import write_bytes_atomic

__all__ = [
    "BoVWConfig",
    "TrainConfig",
    "TrainRequest",
    "detector_match",
    "evaluate_classifier",
    "evaluate_with_curve",
    "predict_images",
    "screen_meta",
    "train_tile_classifier",
]


@dataclass(frozen=True)
class TrainRequest:
    """Everything ``rsdet classify train`` was asked (sizes in px; 0 = the model's default)."""

    data: str
    model: str
    out: Path
    size: int = 0
    val_fraction: float = 0.2
    widths: tuple[int, ...] = (32, 64, 128, 256)
    depthwise: bool = False
    weights: str | None = None
    bovw: BoVWConfig = field(default_factory=BoVWConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    screen_for: str | None = None


def train_tile_classifier(req: TrainRequest, log: Callable[[str], None]) -> dict[str, Any]:
    """Fit, score the held-out split, write ``classifier.pt`` and ``report.json``."""
    config = ClassifierConfig(
        req.model,
        req.size or default_size(req.model),
        widths=req.widths,
        depthwise=req.depthwise,
        weights=req.weights,
        bovw=req.bovw,
    )
    match, made_for = (None, None) if req.screen_for is None else detector_match(req.screen_for)
    tiles = load_tiles(req.data, config.size, match)
    fit_idx, val_idx = stratified_split(tiles.labels, req.val_fraction, req.train.seed)
    log(
        f"{len(tiles)} images, {len(tiles.classes)} classes: {len(fit_idx)} train, "
        f"{len(val_idx)} validation"
    )
    start = time.perf_counter()
    clf = train_classifier(config, tiles.take(fit_idx), req.train, log)
    seconds = time.perf_counter() - start
    report = score(clf, tiles.images[val_idx], tiles.labels[val_idx]) if len(val_idx) else None
    clf.meta = {
        "data": req.data,
        "epochs": req.train.epochs,
        "train_seconds": seconds,
        "validation": None if report is None else report.to_dict(),
        **screen_meta(clf, tiles.images[val_idx], tiles.labels[val_idx]),
    }
    if made_for is not None:
        clf.meta["screen_for"] = made_for
    req.out.mkdir(parents=True, exist_ok=True)
    save_classifier(clf, req.out / "classifier.pt")
    summary = {"model": req.model, "path": str(req.out / "classifier.pt"), **clf.meta}
    write_bytes_atomic(req.out / "report.json", json.dumps(summary, indent=2).encode())
    return summary


def detector_match(model: str) -> tuple[DetectorMatch, dict[str, Any]]:
    """Tiles for a screener of ``model`` (a file or packaged name), and its record.

    The record is stored as the screener's ``meta["screen_for"]``; ``rsdet detect
    --screen`` checks it against the run's model and tile size.
    """
    from rsdet.pipelines.detect_models import load_runner

    runner = load_runner(model, "cpu")
    bands = runner.default_bands(3)
    identity = runner.identity
    path = identity.get("path") if isinstance(identity, dict) else None
    spec = getattr(runner, "spec", None)
    made_for = {
        "model": Path(path).name if path else str(model),
        "sha256": file_sha256(path) if path else None,
        "classes": list(runner.classes),
        "tile_size": runner.tile_size,
        "overlap": runner.overlap,
        "bands": list(bands),
        "scaling": None if spec is None else spec.input.scaling,
    }
    return DetectorMatch(tuple(runner.classes), runner.tile_size, bands), made_for


def score(clf: TileClassifier, images: np.ndarray, labels: np.ndarray) -> Report:
    """Score ``images`` and time it."""
    start = time.perf_counter()
    scores = clf.scores(images)
    return score_report(scores, labels, clf.classes, time.perf_counter() - start)


def screen_meta(clf: TileClassifier, images: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """For an object / empty classifier with labelled tiles: the screener's threshold.

    ``screen_thr``: the largest threshold that skips at most 0.5 % of the object tiles of
    ``images`` (tile recall); ``screen_curve``: recall / tiles skipped at a few thresholds.
    Empty for other classifiers or without object tiles.
    """
    if "object" not in clf.classes or len(images) == 0:
        return {}
    k = clf.classes.index("object")
    is_object = labels == k
    if not is_object.any():
        return {}
    p = clf.scores(images)[:, k]
    return {
        "screen_thr": pick_threshold(p, is_object),
        "screen_max_tile_loss": MAX_TILE_LOSS,
        "screen_curve": recall_curve(p, is_object),
    }


def evaluate_classifier(data: str, model: Path, confusion: Path | None) -> Report:
    """Score a classifier on ``data`` (its classes must be the classifier's)."""
    return evaluate_with_curve(data, model, confusion)[0]


def evaluate_with_curve(
    data: str, model: Path, confusion: Path | None
) -> tuple[Report, list[dict[str, float]] | None]:
    """:func:`evaluate_classifier` and, for object / empty classifiers, the screener curve.

    The curve: per threshold, tile recall and share of tiles skipped on ``data``.
    """
    clf = load_classifier(model)
    tiles = load_tiles(data, clf.config.size)
    if tiles.classes != clf.classes:
        raise InputError(
            f"{model}: classes {list(clf.classes)} differ from the data's {list(tiles.classes)}"
        )
    report = score(clf, tiles.images, tiles.labels)
    if confusion is not None:
        confusion_png(report, confusion)
    curve = None
    if "object" in clf.classes:
        k = clf.classes.index("object")
        p = clf.scores(tiles.images)[:, k]
        thresholds = sorted(
            {*CURVE_THRESHOLDS, float(clf.meta.get("screen_thr", DEFAULT_THRESHOLD))}
        )
        curve = recall_curve(p, tiles.labels == k, thresholds)
    return report, curve


def predict_images(
    inputs: list[Path], model: Path, out: Path, tile: int | None, overwrite: bool = False
) -> int:
    """Write ``out``: ``path, x, y, width, height, class, score`` per image or tile.

    Folders are read for their image files. With ``tile``, every image is cut into
    ``tile`` px tiles (the last row and column overlap the previous ones). ``out`` ending
    in ``.csv``: a table (pixels); any vector format of ``rsdet detect`` (``.gpkg``,
    ``.geojson``, ...): one polygon per tile in the scene's map coordinates (pixel
    coordinates for images without a geotransform), with ``class_name`` and ``score``;
    an existing layer is replaced only with ``overwrite``. Returns rows.
    """
    vector = out.suffix.lower() != ".csv"
    if vector:
        from rsdet.io.vector import ensure_absent, vector_format

        vector_format(out)  # an unknown extension fails before any image is read
        if not overwrite:
            ensure_absent(out)
    clf = load_classifier(model)
    rows: list[list[object]] = []
    for path in _expand(inputs):
        with open_image(path) as reader:
            h, w = reader.height, reader.width
            windows = _windows(h, w, tile)
            pixels = np.stack(
                [
                    clf.resize(to_rgb8(reader.read_region(y, x, th, tw))[None])[0]
                    for x, y, tw, th in windows
                ]
            )
        scores = clf.scores(pixels)
        for (x, y, tw, th), s in zip(windows, scores, strict=True):
            k = int(s.argmax())
            rows.append([str(path), x, y, tw, th, clf.classes[k], round(float(s[k]), 6)])
    if vector:
        _write_tiles_layer(rows, clf.classes, out)
        return len(rows)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "x", "y", "width", "height", "class", "score"])
    writer.writerows(rows)
    write_bytes_atomic(out, buf.getvalue().encode())
    return len(rows)


def _write_tiles_layer(rows: list[list[Any]], classes: tuple[str, ...], out: Path) -> None:
    """One polygon per row ``(path, x, y, w, h, class, score)`` in its scene's CRS.

    Scenes in different CRSs cannot share a layer: that is an InputError.
    """
    import geopandas as gpd

    from rsdet.io.georef import polygons_crs
    from rsdet.io.raster import read_scene_info
    from rsdet.io.vector import write_layer

    frames = []
    crs_seen: dict[str, Any] = {}
    for path in dict.fromkeys(str(r[0]) for r in rows):
        info = read_scene_info(path)
        mine = [r for r in rows if r[0] == path]
        corners = np.asarray(
            [[(x, y), (x + w, y), (x + w, y + h), (x, y + h)] for _, x, y, w, h, *_ in mine],
            np.float64,
        )
        frame = gpd.GeoDataFrame(
            {
                "path": [r[0] for r in mine],
                "x": [r[1] for r in mine],
                "y": [r[2] for r in mine],
                "width": [r[3] for r in mine],
                "height": [r[4] for r in mine],
                "class_name": [r[5] for r in mine],
                "score": [r[6] for r in mine],
            },
            geometry=polygons_crs(corners, info.transform),
            crs=info.crs,
        )
        crs_seen[path] = info.crs
        frames.append(frame)
    if len({str(c) for c in crs_seen.values()}) > 1:
        raise InputError(
            f"{out}: the scenes are in different CRSs ({', '.join(map(str, crs_seen))}); "
            "write one layer per CRS, or a CSV"
        )
    layer = gpd.GeoDataFrame(_concat(frames), crs=frames[0].crs)
    write_layer(layer, out, classes, overwrite=True)


def _concat(frames: list[Any]) -> Any:
    """Row-wise concatenation of frames (pandas, imported lazily)."""
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def _windows(h: int, w: int, tile: int | None) -> list[tuple[int, int, int, int]]:
    """``(x, y, width, height)`` of the whole image, or of ``tile`` px tiles covering it."""
    if tile is None or (h <= tile and w <= tile):
        return [(0, 0, w, h)]
    ys = sorted({*range(0, max(h - tile, 0) + 1, tile), max(h - tile, 0)})
    xs = sorted({*range(0, max(w - tile, 0) + 1, tile), max(w - tile, 0)})
    return [(x, y, min(tile, w), min(tile, h)) for y in ys for x in xs]


def _expand(inputs: list[Path]) -> list[Path]:
    from rsdet.datasets.pixels import IMAGE_SUFFIXES

    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{p}: no such image or folder")
    if not out:
        raise InputError(f"{', '.join(map(str, inputs))}: no images found")
    return out
