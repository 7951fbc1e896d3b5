"""``rsdet eval``: score a prediction file or folder against ground truth, officially.

Steps: resolve the ground-truth argument for the protocol, read it, read the predictions
against it, match with the protocol's own rules, then show a table and/or write JSON.

Ground-truth argument, per protocol:

* ``coco`` / ``aitod``: a COCO json (``coco:`` or ``aitod:`` prefix optional).
* ``dota`` / ``dota-hbb``: a DOTA folder; a plain path means ``dota:PATH`` (v1.0),
  ``dota1.5:PATH`` / ``dota2:PATH`` pick the version (and with it the difficult policy).
  A folder with only ``labelTxt/`` (no images) is read label-only by the DOTA reader.
* ``dior`` / ``dior-r``: a DIOR root; a plain path means ``dior:PATH?split=test`` (or
  ``dior-r:``) when ``ImageSets/Main/test.txt`` exists, else the reader's split rules.
* The VOC-style protocols (``dota``, ``dota-hbb``, ``dior``, ``dior-r``) also take
  generated ground truth, ``synthetic:?n=8&size=256&kind=vehicles`` (image ids
  ``synthetic_<kind>_<seed>``, the kind's class names).
* Every protocol takes the user's own scenes, ``geo:PATH`` (GeoTIFFs with vector labels,
  :mod:`rsdet.datasets.geo`). Predictions are then the vector layer ``rsdet detect`` wrote
  (``.gpkg``, ``.geojson``, ``.shp``, ``.fgb``, ``.parquet``), brought back to each scene's
  pixels (:mod:`rsdet.evaluation.vector_results`); the VOC-style protocols also take a
  ``Task1_``/``Task2_`` folder whose image names are the scenes' file stems.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rsdet.pipelines.progress import make_progress

from rsdet.datasets import load_dataset
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.spec import DatasetSpec, parse_spec
from rsdet.errors import InputError, OutputExistsError
from rsdet.evaluation import (
    PROTOCOLS,
    ApMode,
    EvalResult,
    evaluate,
    evaluate_coco,
    evaluate_voc,
    read_coco_gt,
    read_coco_results,
    read_submission,
    voc_protocol_for,
)
from rsdet.evaluation.from_samples import voc_ground_truth
from rsdet.evaluation.protocols import coco_params, is_coco_style, normalize_dota_version
from rsdet.evaluation.submission import Task
from rsdet.evaluation.vector_results import VECTOR_RESULT_SUFFIXES, read_vector_results
from rsdet.io.atomic import make_folder, write_bytes_atomic

__all__ = ["GroundTruthSpecError", "check_output", "result_table", "run_eval", "write_result"]

ProgressFn = Callable[[int, int], None]

_GT_FORMATS = {
    "coco": ("coco", "aitod", "geo"),
    "aitod": ("coco", "aitod", "geo"),
    "dota": ("dota", "dota1.5", "dota2", "synthetic", "geo"),
    "dota-hbb": ("dota", "dota1.5", "dota2", "synthetic", "geo"),
    "dior": ("dior", "synthetic", "geo"),
    "dior-r": ("dior-r", "synthetic", "geo"),
}
_KNOWN_PREFIXES = {f for formats in _GT_FORMATS.values() for f in formats}


class GroundTruthSpecError(InputError):
    """The ground-truth argument does not fit the protocol."""


def resolve_gt(protocol: str, text: str) -> DatasetSpec:
    """Read ``--gt`` as ``FORMAT:PATH[?options]`` or as a plain path the protocol implies."""
    if protocol not in _GT_FORMATS:
        raise GroundTruthSpecError(
            f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})"
        )
    prefix, sep, _ = text.partition(":")
    if sep and prefix.strip().lower() in _KNOWN_PREFIXES:
        spec = parse_spec(text)
        if spec.format not in _GT_FORMATS[protocol]:
            raise GroundTruthSpecError(
                f"--gt {text!r}: {spec.format} ground truth does not fit --protocol {protocol} "
                f"(expected {' or '.join(f + ':PATH' for f in _GT_FORMATS[protocol])})"
            )
        return spec
    path = Path(text)
    fmt = _GT_FORMATS[protocol][0] if protocol != "aitod" else "aitod"
    if fmt in ("dior", "dior-r") and (path / "ImageSets" / "Main" / "test.txt").is_file():
        return DatasetSpec(fmt, path, {"split": "test"})
    return DatasetSpec(fmt, path)


def _load_voc_dataset(gt: DatasetSpec) -> Dataset:
    dataset = load_dataset(gt)
    if not dataset.labelled:
        raise GroundTruthSpecError(
            f"{gt.path or gt}: this dataset has no labels to evaluate against"
        )
    return dataset


def _eval_coco(protocol: str, gt: DatasetSpec, pred: Path, on_progress: ProgressFn) -> EvalResult:
    if gt.path is None:  # generated ground truth: resolve_gt allows none for coco protocols
        raise GroundTruthSpecError(f"--gt {gt}: {protocol} ground truth is a COCO json file")
    gt_file = read_coco_gt(gt.path)
    dets = read_coco_results(pred, gt_file)
    return evaluate_coco(gt_file.gt, dets, coco_params(protocol), on_progress)


def _eval_voc(
    protocol: str, gt: DatasetSpec, pred: Path, ap_mode: ApMode | None, on_progress: ProgressFn
) -> EvalResult:
    dataset = _load_voc_dataset(gt)
    version = normalize_dota_version(dataset.version) if gt.format.startswith("dota") else ""
    proto = voc_protocol_for(protocol, version or "1.0", ap_mode)
    images = {s.image_id: i for i, s in enumerate(dataset.samples)}
    task: Task = 1 if protocol in ("dota", "dior-r") else 2
    dets = read_submission(pred, task, images, dataset.classes, gt_name=str(gt.path or gt))
    return evaluate_voc(
        voc_ground_truth(dataset.samples, dataset.classes), dets, proto, on_progress
    )


def _eval_geo(
    protocol: str, gt: DatasetSpec, pred: Path, ap_mode: ApMode | None, on_progress: ProgressFn
) -> EvalResult:
    """The user's scenes: a detections layer in map coordinates, or a Task folder (VOC)."""
    if pred.suffix.lower() not in VECTOR_RESULT_SUFFIXES:
        if is_coco_style(protocol) or not pred.is_dir():
            raise GroundTruthSpecError(
                f"{pred}: with geo: ground truth, --pred is the layer rsdet detect wrote "
                f"({', '.join(VECTOR_RESULT_SUFFIXES)})"
                + ("" if is_coco_style(protocol) else " or a Task1_/Task2_ folder")
            )
        return _eval_voc(protocol, gt, pred, ap_mode, on_progress)
    dataset = _load_voc_dataset(gt)
    dets = read_vector_results(pred, dataset.samples, dataset.classes)
    return evaluate(
        protocol,
        dataset.samples,
        dets,
        dataset.classes,
        ap_mode=ap_mode,
        on_progress=on_progress,
    )


def run_eval(
    protocol: str, gt: str, pred: str | Path, *, ap_mode: ApMode | None = None, quiet: bool = False
) -> EvalResult:
    """Evaluate predictions against ground truth with an official protocol.

    Args:
        protocol: ``coco``, ``aitod``, ``dota``, ``dota-hbb``, ``dior`` or ``dior-r``.
        gt: ground-truth argument (see the module docstring).
        pred: COCO results json (``coco``/``aitod``) or a folder of per-class
            ``Task1_<class>.txt`` (``dota``, ``dior-r``) / ``Task2_<class>.txt``
            (``dota-hbb``, ``dior``) files; with ``geo:`` ground truth, the vector layer
            ``rsdet detect`` wrote.
        ap_mode: ``dior`` / ``dior-r`` only: ``"11point"`` (default) or ``"area"``.
        quiet: no progress bar.

    Raises:
        RsdetError: any problem with the inputs, as a one-line message naming the file.
    """
    gt_arg = resolve_gt(protocol, gt)
    if is_coco_style(protocol) and ap_mode not in (None, "11point"):
        raise GroundTruthSpecError(f"--ap-mode applies to dior / dior-r, not {protocol}")
    with make_progress(quiet) as progress:
        task = progress.add_task(f"eval {protocol}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if gt_arg.format == "geo":
            return _eval_geo(protocol, gt_arg, Path(pred), ap_mode, on_progress)
        if is_coco_style(protocol):
            return _eval_coco(protocol, gt_arg, Path(pred), on_progress)
        return _eval_voc(protocol, gt_arg, Path(pred), ap_mode, on_progress)


def check_output(path: Path, overwrite: bool) -> None:
    """Stop early if ``path`` exists and may not be replaced, or its folder cannot be made."""
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists (pass --overwrite to replace it)")
    make_folder(path.parent, path, create=False)  # a file in the way fails before the scoring


def write_result(result: EvalResult, path: Path, overwrite: bool) -> None:
    """Write ``result.to_json()`` to ``path`` atomically (never clobbers without overwrite)."""
    check_output(path, overwrite)
    write_bytes_atomic(path, (result.to_json() + "\n").encode("utf-8"))


def _pct(value: float | int | None) -> str:
    return "-" if value is None else f"{100 * float(value):.2f}"


def result_table(result: EvalResult) -> Group:
    """Per-class table, then the overall metrics (values in percent)."""
    per_class = Table(title=f"rsdet eval --protocol {result.protocol}", title_justify="left")
    per_class.add_column("class")
    keys = [k for k in ("AP", "AP50", "recall") if any(k in v for v in result.per_class.values())]
    for key in keys:
        per_class.add_column(f"{key} %", justify="right")
    per_class.add_column("gt", justify="right")
    per_class.add_column("det", justify="right")
    for name, values in result.per_class.items():
        counts = [str(values.get("num_gt", "")), str(values.get("num_det", ""))]
        per_class.add_row(name, *(_pct(values.get(k)) for k in keys), *counts)
    overall = Table("metric", "%")
    overall.columns[1].justify = "right"
    for name, value in result.metrics.items():
        overall.add_row(name, _pct(value), style="bold" if name == result.primary else None)
    return Group(per_class, overall)
