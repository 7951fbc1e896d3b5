"""COCO greedy matching, vectorised over images, classes, size bins and IoU thresholds.

pycocotools (``COCOeval.evaluateImg``) walks each image x class: detections by descending
score (stable), each one takes the best still-free ground truth with ``IoU >= t``, where

* ground truth is ordered non-ignored first (stable), and a non-ignored match always wins
  over an ignored one; among equal IoUs the *later* ground truth wins (the test is
  ``if iou < best: continue``, so an equal IoU replaces the current best);
* "ignored" means crowd, or an area outside the size bin; crowd ground truth can absorb
  any number of detections, other ground truth only one;
* the threshold is ``min(t, 1 - 1e-10)``.

Matching is sequential only *within* an image x class, so all groups advance together:
step r matches the r-th detection of every group, for every (size bin, threshold) at once.
Pairs below the lowest threshold can never match and are dropped up front.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from rsdet.evaluation.coco_data import CocoDetections, CocoGroundTruth
from rsdet.evaluation.coco_params import CocoParams
from rsdet.evaluation.pairs import group_slices, iter_pairs, segment_starts

__all__ = ["CocoMatches", "box_iou_xywh", "match_coco"]

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class CocoMatches:
    """Per-detection outcome of the matching.

    Detections are those kept (at most ``max_dets[-1]`` per image x class), ordered by
    image, class, then rank; ground truth is ordered by image, class, then file order.

    Attributes:
        det_index: (D,) rows of the input detections, in that order.
        det_rank: (D,) 0-based rank of each detection within its image x class.
        det_label: (D,) class index.
        det_score: (D,) score.
        matched: (A, T, D) bool, matched to some ground truth (crowd included).
        ignored: (A, T, D) bool, neither TP nor FP (matched to ignored ground truth, or
            unmatched and outside the size bin).
        gt_label: (N,) class index of each ground-truth row (sorted order).
        gt_ignored: (A, N) bool, crowd or outside the size bin.
    """

    det_index: np.ndarray
    det_rank: np.ndarray
    det_label: np.ndarray
    det_score: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    gt_label: np.ndarray
    gt_ignored: np.ndarray


def box_iou_xywh(det: np.ndarray, gt: np.ndarray, gt_crowd: np.ndarray) -> np.ndarray:
    """Element-wise IoU of (P, 4) ``xywh`` box pairs, with COCO's crowd rule.

    Mirrors pycocotools' ``bbIou`` operation for operation (float64, no +1): for a crowd
    ground truth the union is the detection's area. Pairs that do not overlap get 0.
    """
    dx, dy, dw, dh = det.T
    gx, gy, gw, gh = gt.T
    det_area = dw * dh
    inter_w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    inter_h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = inter_w * inter_h
    union = np.where(gt_crowd, det_area, det_area + gw * gh - inter)
    out: np.ndarray = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=(inter_w > 0) & (inter_h > 0))
    return out


def _outside(area: np.ndarray, params: CocoParams) -> np.ndarray:
    """(A, N) bool: area outside each size bin (bins are inclusive at both ends)."""
    low = np.array([r.low for r in params.area_ranges])[:, None]
    high = np.array([r.high for r in params.area_ranges])[:, None]
    out: np.ndarray = (area[None, :] < low) | (area[None, :] > high)
    return out


def _candidate_pairs(
    det_xywh: np.ndarray,
    gt_xywh: np.ndarray,
    gt_crowd: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    min_iou: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (det, gt, IoU) of the same group with ``IoU >= min_iou``, ordered by det."""
    dets, gts, ious = [], [], []
    for d, g in iter_pairs(start, end):
        iou = box_iou_xywh(det_xywh[d], gt_xywh[g], gt_crowd[g])
        keep = iou >= min_iou
        dets.append(d[keep])
        gts.append(g[keep])
        ious.append(iou[keep])
    if not dets:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(dets), np.concatenate(gts), np.concatenate(ious)


def _sort_detections(
    dets: CocoDetections, n_classes: int, max_det: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kept detection rows ordered by (image, class, -score, file order); keys; ranks."""
    keys = dets.image * n_classes + dets.label
    order = np.lexsort((-dets.score, keys))  # lexsort is stable: ties keep file order
    keys = keys[order]
    rank = np.arange(len(keys)) - np.searchsorted(keys, keys, side="left")
    keep = rank < max_det
    return order[keep], keys[keep], rank[keep]


class _Matcher:
    """State of the step-by-step matching (one instance per evaluation)."""

    def __init__(
        self, thresholds: np.ndarray, gt_ignored: np.ndarray, gt_crowd: np.ndarray
    ) -> None:
        self.thr = thresholds[None, :, None]  # (1, T, 1)
        self.gt_ignored = gt_ignored  # (A, N)
        self.gt_crowd = gt_crowd
        n_area, n_gt = gt_ignored.shape
        self.taken = np.zeros((n_area, len(thresholds), n_gt), dtype=bool)

    def step(self, det: np.ndarray, gt: np.ndarray, iou: np.ndarray) -> tuple[np.ndarray, ...]:
        """Match one detection per group; pairs ordered by det. Returns index arrays.

        Returns:
            ``(a, t, det, gt)`` for every successful match.
        """
        starts, run = segment_starts(det)
        ignored = self.gt_ignored[:, None, gt]  # (A, 1, P)
        free = ~self.taken[:, :, gt] | self.gt_crowd[gt]
        ok = free & (iou >= self.thr)  # (A, T, P)
        good = ok & ~ignored
        any_good = np.logical_or.reduceat(good, starts, axis=2)
        cand = np.where(any_good[:, :, run], good, ok)
        value = np.where(cand, iou, -1.0)
        best = np.maximum.reduceat(value, starts, axis=2)
        hit = cand & (value == best[:, :, run])
        pos = np.where(hit, np.arange(len(gt)), -1)
        last = np.maximum.reduceat(pos, starts, axis=2)  # (A, T, S): later gt wins ties
        a_idx, t_idx, s_idx = np.nonzero(last >= 0)
        chosen = last[a_idx, t_idx, s_idx]
        self.taken[a_idx, t_idx, gt[chosen]] = True
        return a_idx, t_idx, det[chosen], gt[chosen]


def _steps(
    matcher: _Matcher,
    p_det: np.ndarray,
    p_gt: np.ndarray,
    p_iou: np.ndarray,
    det_rank: np.ndarray,
    on_progress: ProgressFn | None,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Run the matcher rank by rank; yields ``(a, t, det, gt)`` index arrays per step."""
    by_rank = np.argsort(det_rank[p_det], kind="stable")
    p_det, p_gt, p_iou = p_det[by_rank], p_gt[by_rank], p_iou[by_rank]
    ranks = det_rank[p_det]
    bounds = np.flatnonzero(np.diff(ranks, prepend=-1, append=-1))
    n_steps = len(bounds) - 1
    for step, (lo, hi) in enumerate(itertools.pairwise(bounds), start=1):
        yield matcher.step(p_det[lo:hi], p_gt[lo:hi], p_iou[lo:hi])
        if on_progress is not None:
            on_progress(step, n_steps)


def match_coco(
    gt: CocoGroundTruth,
    dets: CocoDetections,
    params: CocoParams,
    on_progress: ProgressFn | None = None,
) -> CocoMatches:
    """Match detections to ground truth exactly as pycocotools' ``evaluateImg``.

    Args:
        gt: ground truth (any row order; file order within an image x class is kept).
        dets: detections; image and label indices must refer to ``gt``.
        params: protocol settings.
        on_progress: called as ``on_progress(done, total)`` after each matching step.

    Returns:
        The per-detection outcome (see :class:`CocoMatches`).
    """
    n_classes = len(gt.class_names)
    gt_keys = gt.image * n_classes + gt.label
    gt_order = np.argsort(gt_keys, kind="stable")
    gt_keys = gt_keys[gt_order]
    gt_xywh, gt_crowd = gt.xywh[gt_order], gt.crowd[gt_order]
    gt_ignored = _outside(gt.area[gt_order], params) | gt_crowd[None, :]

    det_index, det_keys, det_rank = _sort_detections(dets, n_classes, params.max_dets[-1])
    det_xywh = dets.xywh[det_index]
    thresholds = np.minimum(np.asarray(params.iou_thresholds), 1 - 1e-10)
    start, end = group_slices(gt_keys, det_keys)
    p_det, p_gt, p_iou = _candidate_pairs(
        det_xywh, gt_xywh, gt_crowd, start, end, float(thresholds.min())
    )

    det_area = det_xywh[:, 2] * det_xywh[:, 3]
    # Unmatched detections outside a size bin are ignored in it; matches overwrite this.
    ignored = np.repeat(_outside(det_area, params)[:, None, :], len(thresholds), axis=1)
    matched = np.zeros_like(ignored)
    matcher = _Matcher(thresholds, gt_ignored, gt_crowd)
    for a_idx, t_idx, d_idx, g_idx in _steps(matcher, p_det, p_gt, p_iou, det_rank, on_progress):
        matched[a_idx, t_idx, d_idx] = True
        ignored[a_idx, t_idx, d_idx] = gt_ignored[a_idx, g_idx]
    return CocoMatches(
        det_index=det_index,
        det_rank=det_rank,
        det_label=dets.label[det_index],
        det_score=dets.score[det_index],
        matched=matched,
        ignored=ignored,
        gt_label=gt.label[gt_order],
        gt_ignored=gt_ignored,
    )
