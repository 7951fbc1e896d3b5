"""Precision / recall tables from COCO matches, exactly as pycocotools' ``accumulate``.

The tables have pycocotools' layout and conventions: ``precision[t, r, k, a, m]`` is the
interpolated precision at recall ``recall_thresholds[r]`` (101-point grid, first grid
point at or above each recall reached, 0 beyond the largest recall), and entries of a
class without non-ignored ground truth in a size bin are -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsdet.evaluation.coco_match import CocoMatches
from rsdet.evaluation.coco_params import CocoParams

__all__ = ["CocoTables", "accumulate"]


@dataclass(frozen=True)
class CocoTables:
    """Accumulated curves.

    Attributes:
        precision: (T, R, K, A, M) interpolated precision, -1 where undefined.
        recall: (T, K, A, M) final recall, -1 where undefined.
        num_gt: (K, A) number of non-ignored ground truth.
    """

    precision: np.ndarray
    recall: np.ndarray
    num_gt: np.ndarray


def _class_curves(
    tp: np.ndarray, fp: np.ndarray, npig: int, recall_grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(T, R) interpolated precision and (T,) final recall of one class, bin and cap.

    Args:
        tp, fp: (T, n) bool, detections sorted by descending score.
        npig: number of non-ignored ground truth (> 0).
        recall_grid: (R,) recall thresholds.
    """
    n_thr, n = tp.shape
    tp_sum = np.cumsum(tp, axis=1).astype(float)
    fp_sum = np.cumsum(fp, axis=1).astype(float)
    rc = tp_sum / npig
    # Same expression and order of operations as pycocotools, for bit-identical values.
    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    final_recall = rc[:, -1] if n else np.zeros(n_thr)
    pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    precision = np.zeros((n_thr, len(recall_grid)))
    for t in range(n_thr):
        inds = np.searchsorted(rc[t], recall_grid, side="left")
        reached = inds < n
        precision[t, reached] = pr[t, inds[reached]]
    return precision, final_recall


def accumulate(matches: CocoMatches, params: CocoParams, n_classes: int) -> CocoTables:
    """Build the precision / recall tables.

    Detections of one class are pooled over images in (image, rank) order, each image
    capped at the ``max_dets`` value, then stably sorted by descending score, as
    pycocotools does (so score ties are broken by image order, then rank).
    """
    n_thr, n_rec = len(params.iou_thresholds), len(params.recall_thresholds)
    n_area, n_cap = len(params.area_ranges), len(params.max_dets)
    precision = -np.ones((n_thr, n_rec, n_classes, n_area, n_cap))
    recall = -np.ones((n_thr, n_classes, n_area, n_cap))
    num_gt = np.zeros((n_classes, n_area), dtype=np.int64)
    recall_grid = np.asarray(params.recall_thresholds)
    counted = ~matches.ignored
    tp_all = matches.matched & counted
    fp_all = ~matches.matched & counted
    for k in range(n_classes):
        in_class = np.flatnonzero(matches.det_label == k)
        of_class = matches.gt_label == k
        num_gt[k] = np.count_nonzero(of_class[None, :] & ~matches.gt_ignored, axis=1)
        for m, cap in enumerate(params.max_dets):
            sel = in_class[matches.det_rank[in_class] < cap]
            sel = sel[np.argsort(-matches.det_score[sel], kind="stable")]
            for a in range(n_area):
                if num_gt[k, a] == 0:
                    continue
                prec, rec = _class_curves(
                    tp_all[a][:, sel], fp_all[a][:, sel], int(num_gt[k, a]), recall_grid
                )
                precision[:, :, k, a, m] = prec
                recall[:, k, a, m] = rec
    return CocoTables(precision=precision, recall=recall, num_gt=num_gt)
