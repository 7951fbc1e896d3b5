"""The default score threshold of a model: the one with the best F1 on held-out data.

A detector's ``score_thr`` decides what a user gets from ``rsdet detect``; AP averages over
every threshold and says nothing about which one to ship. Here each detection is matched
greedily (highest score first) to the unmatched ground-truth box of its class with the
highest IoU, at IoU >= ``iou_thr`` (as VOC and COCO match); difficult, truncated and crowd
objects neither count as misses nor make a detection on them a false positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsdet.structures import NORMAL, Detections, Sample

__all__ = ["F1Point", "best_f1_threshold", "match_detections"]


@dataclass(frozen=True)
class F1Point:
    """One operating point: keep detections with ``score >= score_thr``.

    Attributes:
        score_thr: the threshold.
        f1, precision, recall: at that threshold, over all images and classes.
        true_pos, false_pos, positives: counts (``positives``: scored ground truth).
    """

    score_thr: float
    f1: float
    precision: float
    recall: float
    true_pos: int
    false_pos: int
    positives: int


def match_detections(sample: Sample, dets: Detections, iou_thr: float = 0.5) -> np.ndarray:
    """Per detection (in ``dets`` order): 1 true positive, 0 false positive, -1 ignored.

    Boxes are compared as horizontal envelopes (image pixels).
    """
    boxes = dets.boxes.envelope().tensor.numpy().astype(np.float64).reshape(-1, 4)
    gt = sample.hboxes().tensor.numpy().astype(np.float64).reshape(-1, 4)
    scored = (sample.difficulty == NORMAL) & ~sample.crowd
    gt_labels, labels = sample.labels, dets.labels.numpy()
    used = np.zeros(len(gt), bool)
    out = np.zeros(len(boxes), np.int8)
    for i in np.argsort(-dets.scores.numpy(), kind="stable"):
        iou = _iou(boxes[i], gt)
        iou[(gt_labels != labels[i]) | (used & scored)] = -1.0  # a scored box matches once
        j = int(np.argmax(iou)) if len(gt) else -1
        if j < 0 or iou[j] < iou_thr:
            continue  # stays a false positive
        out[i] = 1 if scored[j] else -1
        used[j] = True
    return out


def best_f1_threshold(
    samples: list[Sample], detections: list[Detections], iou_thr: float = 0.5
) -> F1Point:
    """The score threshold with the highest F1 over ``samples`` (ties: the higher one).

    Args:
        samples: held-out images with ground truth.
        detections: one per sample, from a low threshold (e.g. 0.01) so every candidate
            operating point is seen.
        iou_thr: IoU at which a detection counts as found.
    """
    scores, hits = [], []
    for sample, dets in zip(samples, detections, strict=True):
        flags = match_detections(sample, dets, iou_thr)
        keep = flags >= 0
        scores.append(dets.scores.numpy()[keep])
        hits.append(flags[keep])
    positives = sum(int(((s.difficulty == NORMAL) & ~s.crowd).sum()) for s in samples)
    score, hit = np.concatenate(scores), np.concatenate(hits)
    order = np.argsort(-score, kind="stable")
    score, hit = score[order], hit[order]
    tp, fp = np.cumsum(hit == 1), np.cumsum(hit == 0)
    last = np.r_[score[1:] != score[:-1], True]  # a threshold keeps every tie
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(positives, 1)
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    f1 = np.where(last, f1, -1.0)
    if not len(f1) or f1.max() <= 0:
        return F1Point(1.0, 0.0, 0.0, 0.0, 0, 0, positives)
    k = int(np.argmax(f1))  # first maximum: the highest threshold among equals
    return F1Point(
        float(score[k]), float(f1[k]), float(precision[k]), float(recall[k]),
        int(tp[k]), int(fp[k]), positives,
    )  # fmt: skip


def _iou(box: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of one (4,) ``x1 y1 x2 y2`` box with (M, 4) boxes."""
    w = np.clip(np.minimum(box[2], gt[:, 2]) - np.maximum(box[0], gt[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], gt[:, 3]) - np.maximum(box[1], gt[:, 1]), 0, None)
    inter = w * h
    area = (box[2] - box[0]) * (box[3] - box[1])
    gt_area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    iou: np.ndarray = inter / np.maximum(area + gt_area - inter, 1e-12)
    return iou
