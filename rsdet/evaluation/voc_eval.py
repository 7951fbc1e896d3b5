"""VOC-style evaluation (DOTA Task 1 / 2, DIOR, DIOR-R): one IoU threshold, AP per class.

The matching is DOTA_devkit's ``voc_eval`` (and mmdet's ``tpfp_default``, which differs
only in the threshold test): per class, detections in descending score order; each is
compared with the ground truth of its image and class, and only its *best* ground truth
(highest IoU, first in file order on ties) counts:

* best IoU passes the threshold and that ground truth is ignored (difficult, when the
  protocol ignores difficult objects) -> the detection is neither TP nor FP;
* passes and the ground truth is still free -> TP (it takes the ground truth);
* passes but the ground truth was taken by a higher-scored detection -> FP (a duplicate;
  the detection does not fall back to a second-best ground truth);
* otherwise -> FP.

Because a detection only ever looks at its best ground truth, the whole pass vectorises:
"first claimant of each ground truth in score order" is a ``np.unique`` away.

Score ties: DOTA_devkit sorts with ``np.argsort(-score)`` (quicksort, tie order undefined
and platform dependent); here ties keep the order of the input (stable sort), so results
are reproducible. They can differ from the devkit only when tied detections of one class
compete for the same ground truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from rsdet.evaluation.pairs import group_slices, iter_pairs, segment_starts
from rsdet.evaluation.result import EvalResult, Number
from rsdet.evaluation.voc_ap import ApMode, average_precision
from rsdet.evaluation.voc_data import VocDetections, VocGroundTruth
from rsdet.evaluation.voc_iou import (
    IouKind,
    devkit_det_boxes,
    devkit_gt_boxes,
    devkit_hbb_iou,
    devkit_hbb_overlap,
    envelope_iou,
    envelopes,
    polygon_iou,
    polygon_iou_bound,
    quad_areas,
    to_geometries,
)

__all__ = ["ClassOutcome", "VocProtocol", "evaluate_voc", "match_class"]

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class VocProtocol:
    """One VOC-style protocol.

    Attributes:
        name: protocol name written into results.
        iou: which IoU (see :mod:`rsdet.evaluation.voc_iou`).
        strict: True for DOTA_devkit's ``IoU > threshold``; False for mmdet's ``>=``.
        ignore_difficult: difficult ground truth is ignored (DOTA v1.0) rather than
            counted as a positive (DOTA v1.5 / v2.0, DIOR).
        ap_mode: ``"11point"`` (VOC07) or ``"area"`` (all points).
        zero_ap_without_gt: a class without (counted) ground truth gets AP 0 and counts in
            the mean, as DOTA_devkit does; otherwise its AP is None and the mean skips it,
            as mmdet / mmrotate / OBBDetection do.
        iou_threshold: the match threshold.
        version: dataset version, for the record (``"1.0"``, ``"1.5"``, ``"2.0"``, or "").
    """

    name: str
    iou: IouKind
    strict: bool
    ignore_difficult: bool
    ap_mode: ApMode
    zero_ap_without_gt: bool
    iou_threshold: float = 0.5
    version: str = ""


@dataclass(frozen=True)
class ClassOutcome:
    """Per-detection decisions for one class, detections in descending score order.

    Attributes:
        tp, fp: (n,) bool; a detection with neither is ignored.
        num_pos: number of ground truth that count as positives.
    """

    tp: np.ndarray
    fp: np.ndarray
    num_pos: int


class _ClassData:
    """Ground truth and detections of one class, sorted for pair building."""

    def __init__(self, gt: VocGroundTruth, dets: VocDetections, k: int) -> None:
        g = np.flatnonzero(gt.label == k)
        g = g[np.argsort(gt.image[g], kind="stable")]  # by image, file order within
        d = np.flatnonzero(dets.label == k)
        d = d[np.argsort(-dets.score[d], kind="stable")]
        self.gt_image, self.gt_quads, self.gt_difficult = gt.image[g], gt.quads[g], gt.difficult[g]
        self.det_image, self.det_quads = dets.image[d], dets.quads[d]
        self.gt_env, self.det_env = envelopes(self.gt_quads), envelopes(self.det_quads)
        self.gt_area, self.det_area = quad_areas(self.gt_quads), quad_areas(self.det_quads)
        self._geoms: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def geometries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Shapely polygons of detections and ground truth, and whether each was valid."""
        if self._geoms is None:
            det, gt = shapely.polygons(self.det_quads), shapely.polygons(self.gt_quads)
            det_ok, gt_ok = shapely.is_valid(det), shapely.is_valid(gt)
            self._geoms = (to_geometries(self.det_quads) if not det_ok.all() else det,
                           to_geometries(self.gt_quads) if not gt_ok.all() else gt,
                           det_ok, gt_ok)  # fmt: skip
        return self._geoms


def _polygon_ious(data: _ClassData, det: np.ndarray, gt: np.ndarray, thr: float) -> np.ndarray:
    """Exact polygon IoU where it can reach ``thr``; 0 where it provably cannot."""
    det_geoms, gt_geoms, det_ok, gt_ok = data.geometries()
    bound = polygon_iou_bound(
        data.det_env[det], data.gt_env[gt], data.det_area[det], data.gt_area[gt]
    )
    # The bound assumes simple polygons; repaired (self-intersecting) ones are always exact.
    exact = (bound >= thr - 1e-9) | ~det_ok[det] | ~gt_ok[gt]
    ious = np.zeros(len(det))
    d, g = det[exact], gt[exact]
    ious[exact] = polygon_iou(det_geoms[d], gt_geoms[g], data.det_area[d], data.gt_area[g])
    return ious


def _pair_ious(
    data: _ClassData, proto: VocProtocol, det: np.ndarray, gt: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU of one batch of same-image pairs; polygon pairs are pre-filtered by envelope."""
    if proto.iou == "devkit_hbb":
        det_box = devkit_det_boxes(data.det_quads[det])
        return det, gt, devkit_hbb_iou(det_box, devkit_gt_boxes(data.gt_quads[gt]))
    if proto.iou == "hbb":
        return det, gt, envelope_iou(data.det_env[det], data.gt_env[gt])
    keep = devkit_hbb_overlap(data.det_env[det], data.gt_env[gt])
    det, gt = det[keep], gt[keep]
    return det, gt, _polygon_ious(data, det, gt, proto.iou_threshold)


def _best_match(data: _ClassData, proto: VocProtocol) -> tuple[np.ndarray, np.ndarray]:
    """(n,) best IoU (-inf without candidates) and (n,) its ground truth (first on ties)."""
    n = len(data.det_image)
    best_iou = np.full(n, -np.inf)
    best_gt = np.full(n, -1, dtype=np.int64)
    start, end = group_slices(data.gt_image, data.det_image)
    for det, gt in iter_pairs(start, end):
        det, gt, ious = _pair_ious(data, proto, det, gt)
        if len(det) == 0:
            continue
        starts, run = segment_starts(det)
        seg_max = np.maximum.reduceat(ious, starts)
        at_max = np.where(ious == seg_max[run], np.arange(len(det)), len(det))
        first = np.minimum.reduceat(at_max, starts)
        best_iou[det[starts]] = seg_max
        best_gt[det[starts]] = gt[first]
    return best_iou, best_gt


def match_class(
    gt: VocGroundTruth, dets: VocDetections, k: int, proto: VocProtocol
) -> ClassOutcome:
    """TP / FP decisions of class ``k``'s detections (see the module docstring)."""
    data = _ClassData(gt, dets, k)
    ignored_gt = data.gt_difficult if proto.ignore_difficult else np.zeros_like(data.gt_difficult)
    best_iou, best_gt = _best_match(data, proto)
    thr = proto.iou_threshold
    hit = best_iou > thr if proto.strict else best_iou >= thr
    ignored = np.zeros(len(hit), dtype=bool)
    ignored[hit] = ignored_gt[best_gt[hit]]
    claims = np.flatnonzero(hit & ~ignored)
    _, first = np.unique(best_gt[claims], return_index=True)
    tp = np.zeros(len(hit), dtype=bool)
    tp[claims[first]] = True
    return ClassOutcome(tp=tp, fp=~tp & ~ignored, num_pos=int(np.count_nonzero(~ignored_gt)))


def _class_ap(outcome: ClassOutcome, proto: VocProtocol) -> tuple[float | None, float | None]:
    """(AP, final recall) of one class; AP 0 or None without positives (see protocol)."""
    if outcome.num_pos == 0:
        return (0.0 if proto.zero_ap_without_gt else None), None
    tp = np.cumsum(outcome.tp.astype(float))
    fp = np.cumsum(outcome.fp.astype(float))
    recall = tp / float(outcome.num_pos)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    final_recall = float(recall[-1]) if len(recall) else 0.0
    return average_precision(recall, precision, proto.ap_mode), final_recall


def _mean_ap(aps: list[float | None], proto: VocProtocol) -> float | None:
    if proto.zero_ap_without_gt:
        # DOTA_devkit: sequential sum over all classes, divided by their number.
        total = 0.0
        for ap in aps:
            total = total + (ap or 0.0)
        return total / len(aps) if aps else None
    defined = [ap for ap in aps if ap is not None]
    return float(np.mean(defined)) if defined else None


def evaluate_voc(
    gt: VocGroundTruth,
    dets: VocDetections,
    proto: VocProtocol,
    on_progress: ProgressFn | None = None,
) -> EvalResult:
    """Score detections with a VOC-style protocol.

    Args:
        gt: ground truth of every image evaluated (images without objects included).
        dets: detections whose image / label indices refer to ``gt``.
        proto: protocol settings (see :mod:`rsdet.evaluation.protocols`).
        on_progress: ``on_progress(done, total)`` after each class.

    Returns:
        ``metrics = {"mAP": ...}`` (primary) and per class ``AP``, ``recall``, ``num_gt``
        (counted positives) and ``num_det``.
    """
    per_class: dict[str, dict[str, Number]] = {}
    aps: list[float | None] = []
    n_classes = len(gt.class_names)
    for k, name in enumerate(gt.class_names):
        outcome = match_class(gt, dets, k, proto)
        ap, recall = _class_ap(outcome, proto)
        aps.append(ap)
        per_class[name] = {
            "AP": ap,
            "recall": recall,
            "num_gt": outcome.num_pos,
            "num_det": len(outcome.tp),
        }
        if on_progress is not None:
            on_progress(k + 1, n_classes)
    return EvalResult(
        protocol=proto.name,
        metrics={"mAP": _mean_ap(aps, proto)},
        per_class=per_class,
        primary="mAP",
        settings={
            "version": proto.version,
            "iou_threshold": proto.iou_threshold,
            "iou_test": ">" if proto.strict else ">=",
            "ap_mode": proto.ap_mode,
            "difficult": "ignored" if proto.ignore_difficult else "counted",
            "classes_without_gt": "AP 0, in the mean" if proto.zero_ap_without_gt else "skipped",
        },
    )
