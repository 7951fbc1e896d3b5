"""COCO-style evaluation (``coco`` and ``aitod``): match, accumulate, summarise.

Summaries follow pycocotools' ``_summarize``: the mean of all defined (> -1) entries of
the precision (or recall) table over IoU thresholds, recall points and classes, for one
size bin and detection cap. Unlike pycocotools' ``summarize()``, every AP and per-size
metric uses the *last* cap (``stats[0]`` there hard-codes 100, which matters for AI-TOD's
1500), the labels follow the protocol's own size bins, and an undefined value is None.
"""

from __future__ import annotations

import numpy as np

from rsdet.evaluation.coco_accumulate import CocoTables, accumulate
from rsdet.evaluation.coco_data import CocoDetections, CocoGroundTruth
from rsdet.evaluation.coco_match import ProgressFn, match_coco
from rsdet.evaluation.coco_params import CocoParams
from rsdet.evaluation.result import EvalResult, Number

__all__ = ["coco_tables", "evaluate_coco", "summarize"]


def _mean_defined(values: np.ndarray) -> float | None:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else None


def _iou_index(params: CocoParams, iou: float) -> int:
    # Exact float equality, as pycocotools' np.where(iouThr == p.iouThrs).
    return params.iou_thresholds.index(iou)


def summarize(tables: CocoTables, params: CocoParams) -> dict[str, float | None]:
    """Summary metrics named by :meth:`CocoParams.metric_names`."""
    prec, rec = tables.precision, tables.recall
    last = len(params.max_dets) - 1
    out: dict[str, float | None] = {
        "AP": _mean_defined(prec[:, :, :, 0, last]),
        "AP50": _mean_defined(prec[[_iou_index(params, 0.5)], :, :, 0, last]),
        "AP75": _mean_defined(prec[[_iou_index(params, 0.75)], :, :, 0, last]),
    }
    for a, rng in enumerate(params.area_ranges[1:], start=1):
        out[f"AP{rng.label}"] = _mean_defined(prec[:, :, :, a, last])
    for m, cap in enumerate(params.max_dets):
        out[f"AR{cap}"] = _mean_defined(rec[:, :, 0, m])
    for a, rng in enumerate(params.area_ranges[1:], start=1):
        out[f"AR{rng.label}"] = _mean_defined(rec[:, :, a, last])
    return out


def _per_class(
    tables: CocoTables, params: CocoParams, gt: CocoGroundTruth, dets: CocoDetections
) -> dict[str, dict[str, Number]]:
    """Per-class AP and AP50 (all sizes, last cap), ground-truth and detection counts."""
    prec = tables.precision
    last = len(params.max_dets) - 1
    i50 = _iou_index(params, 0.5)
    det_counts = np.bincount(dets.label, minlength=len(gt.class_names))
    return {
        name: {
            "AP": _mean_defined(prec[:, :, k, 0, last]),
            "AP50": _mean_defined(prec[i50, :, k, 0, last]),
            "num_gt": int(tables.num_gt[k, 0]),
            "num_det": int(det_counts[k]),
        }
        for k, name in enumerate(gt.class_names)
    }


def coco_tables(
    gt: CocoGroundTruth,
    dets: CocoDetections,
    params: CocoParams,
    on_progress: ProgressFn | None = None,
) -> CocoTables:
    """Precision / recall tables in pycocotools' layout (for parity checks and plots)."""
    matches = match_coco(gt, dets, params, on_progress)
    return accumulate(matches, params, len(gt.class_names))


def evaluate_coco(
    gt: CocoGroundTruth,
    dets: CocoDetections,
    params: CocoParams,
    on_progress: ProgressFn | None = None,
) -> EvalResult:
    """Score detections with a COCO-style protocol.

    Args:
        gt: ground truth.
        dets: detections whose image / label indices refer to ``gt``.
        params: :data:`~rsdet.evaluation.coco_params.COCO_PARAMS`,
            :data:`~rsdet.evaluation.coco_params.AITOD_PARAMS` or your own.
        on_progress: ``on_progress(done, total)`` during matching.

    Returns:
        Metrics named by :meth:`CocoParams.metric_names` and per-class AP / AP50; ``AP``
        is the primary metric.
    """
    tables = coco_tables(gt, dets, params, on_progress)
    return EvalResult(
        protocol=params.name,
        metrics=summarize(tables, params),
        per_class=_per_class(tables, params, gt, dets),
        primary="AP",
        settings={
            "max_dets": list(params.max_dets),
            "area_ranges": {r.label or "all": [r.low, r.high] for r in params.area_ranges},
            "iou_thresholds": list(params.iou_thresholds),
        },
    )
