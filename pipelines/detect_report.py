"""What a detection run tells about itself: layer metadata and the end-of-run summary.

The metadata is stored with the layer; the summary (objects per class and scene, density,
sizes) is printed at the end of a run and is part of ``--json``.

Both are plain JSON data. The metadata's ``date`` is the date of the *inputs*, not the wall
clock, so the same scenes and model give byte-identical outputs: ``SOURCE_DATE_EPOCH``
(seconds, the reproducible-builds convention) when set, else the newest modification time
of the scenes, else (scenes that cannot be stat'ed, e.g. ``/vsicurl/``) none.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from rsdet.pipelines.detect_models import ModelRunner
from rsdet.pipelines.detect_units import RunSettings

from rsdet import __version__
from rsdet.errors import InputError, OutputExistsError
from rsdet.io.preview import write_preview
from rsdet.io.qml import qml_style
from rsdet.io.raster import SceneInfo
from rsdet.io.vector import check_append, combine_frames, ensure_absent

__all__ = [
    "check_outputs",
    "check_style",
    "finish",
    "layer_report",
    "run_date",
    "run_metadata",
]

_SQ_M_PER_HA = 10_000.0
_SIZE_QUANTILES = {"min": 0.0, "p10": 0.1, "median": 0.5, "p90": 0.9, "max": 1.0}


def run_metadata(
    scenes: Sequence[SceneInfo], names: Sequence[str], runner: ModelRunner, run: RunSettings
) -> dict[str, Any]:
    """The metadata stored with the layer (see :mod:`rsdet.io.vector` for where).

    Keys: ``version`` (of rsdet), ``model`` (``name``, ``sha256`` of the model file when it is
    one), ``classes``, ``score_thr``, ``iou_thr``, ``tile_size``, ``overlap`` (pixels at
    the model's GSD), ``scenes`` (the layer's ``scene`` values), ``date`` (ISO 8601 UTC).
    """
    meta: dict[str, Any] = {
        "version": __version__,
        "model": _model_entry(runner),
        "classes": list(runner.classes),
        "score_thr": run.postprocess.score_thr,
        "iou_thr": run.postprocess.iou_thr,
        "tile_size": run.tile_size,
        "overlap": run.overlap,
        "scenes": list(names),
    }
    date = run_date(scenes)
    if date is not None:
        meta["date"] = date
    return meta


def run_date(scenes: Sequence[SceneInfo]) -> str | None:
    """``SOURCE_DATE_EPOCH``, else the newest scene modification time (ISO 8601 UTC)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        seconds = float(epoch)
    else:
        try:
            seconds = max(os.stat(s.path).st_mtime for s in scenes)
        except (OSError, ValueError):
            return None
    return datetime.fromtimestamp(int(seconds), tz=UTC).isoformat()


def _model_entry(runner: ModelRunner) -> dict[str, Any]:
    """The model's file name and SHA-256, or how the caller's object names itself."""
    identity = runner.identity
    if isinstance(identity, dict) and "path" in identity:
        path = Path(identity["path"])
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return {"name": path.name, "sha256": digest.hexdigest()}
    return {"name": str(identity), "sha256": None}


def layer_report(
    layer: gpd.GeoDataFrame, scenes: Sequence[SceneInfo], names: Sequence[str]
) -> dict[str, Any]:
    """Objects per class and per scene, density per hectare, size distribution.

    Args:
        layer: the written features (``class_name``, ``scene``, ``width_m``, ``height_m``).
        scenes, names: the run's finished scenes and their ``scene`` values.

    Returns:
        ``{"classes": {name: {"objects", "size_m"}}, "scenes": [{"scene", "objects",
        "area_ha", "per_ha"}]}``. ``size_m`` holds quantiles (min, p10, median, p90, max)
        of each object's long side in metres, None without sizes (no CRS); ``area_ha`` is
        the scene's footprint (nodata included), None without a CRS.
    """
    classes = {}
    for name, group in layer.groupby("class_name", sort=True):
        classes[str(name)] = {"objects": len(group), "size_m": _size_quantiles(group)}
    counts = layer["scene"].value_counts()
    rows = []
    for scene, name in zip(scenes, names, strict=True):
        n = int(counts.get(name, 0))
        area = _area_ha(scene)
        per_ha = round(n / area, 3) if area else None
        rows.append({"scene": name, "objects": n, "area_ha": area, "per_ha": per_ha})
    return {"classes": classes, "scenes": rows}


def _size_quantiles(group: gpd.GeoDataFrame) -> dict[str, float] | None:
    long_side = np.fmax(group["width_m"].to_numpy(float), group["height_m"].to_numpy(float))
    long_side = long_side[np.isfinite(long_side)]
    if long_side.size == 0:
        return None
    values = np.quantile(long_side, list(_SIZE_QUANTILES.values()))
    return {k: round(float(v), 3) for k, v in zip(_SIZE_QUANTILES, values, strict=True)}


def _area_ha(scene: SceneInfo) -> float | None:
    """Ground area of the scene's footprint in hectares (None without a CRS)."""
    if scene.pixel_size_m is None:
        return None
    px, py = scene.pixel_size_m
    return round(px * py * scene.width * scene.height / _SQ_M_PER_HA, 4)


def check_outputs(out: Path, preview: Path | None, *, overwrite: bool, append: bool) -> None:
    """Fail before the model loads on an ``--append`` or ``--preview`` that cannot work."""
    if append:
        if overwrite:
            raise InputError("--append and --overwrite exclude each other")
        check_append(out)
    if preview is None:
        return
    if preview.suffix.lower() != ".png":
        raise InputError(f"{preview}: the preview is a PNG image (use a .png name)")
    if preview.exists() and not overwrite:
        raise OutputExistsError(f"{preview}: already exists (pass --overwrite to replace it)")


def check_style(out: Path, classes: Sequence[str], *, overwrite: bool, append: bool) -> None:
    """Fail before the first tile on a conflict that needs the model's classes.

    That is another style in ``<out>.qml``, or, with ``append``, a layer of other classes.
    """
    if append:
        check_append(out, classes)
    elif not overwrite:
        ensure_absent(out, qml_style(classes))


def finish(
    frames: Sequence[gpd.GeoDataFrame],
    scenes: Sequence[SceneInfo],
    names: Sequence[str],
    classes: Sequence[str],
    preview: Path | None,
) -> tuple[dict[str, Any], list[Path]]:
    """The run's summary (:func:`layer_report`) and its preview PNG, if asked for.

    ``frames``, ``scenes`` and ``names`` are the finished scenes' (same order).
    """
    if not frames:
        return {}, []
    layer = combine_frames(frames)
    report = layer_report(layer, scenes, names)
    if preview is None:
        return report, []
    return report, [write_preview(preview, scenes, names, layer, classes)]
