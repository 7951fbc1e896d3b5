"""Average precision of one precision / recall curve, the PASCAL VOC ways."""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["ApMode", "average_precision", "voc07_ap", "voc12_ap"]

ApMode = Literal["11point", "area"]

# np.arange's floats, quirks included: the "0.3" point is 0.30000000000000004, so a recall
# of exactly 3/10 does not reach it (likewise 0.6000000000000001 and 0.7000000000000001).
_VOC07_POINTS = np.arange(0.0, 1.1, 0.1)


def voc07_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2007 11-point AP: mean over t of the best precision at recall >= t.

    Reproduces DOTA_devkit's ``voc_ap(use_07_metric=True)`` bit for bit, including the
    sequential ``ap += p / 11`` summation.

    Args:
        recall, precision: (n,) curves over score-sorted detections (recall may be NaN
            when the class has no ground truth; NaN never reaches any point).
    """
    ap = 0.0
    for t in _VOC07_POINTS:
        reached = recall >= t
        p = float(np.max(precision[reached])) if np.any(reached) else 0.0
        ap = ap + p / 11.0
    return ap


def voc12_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point AP: area under the monotone precision envelope (VOC2010+ and mmdet 'area')."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def average_precision(recall: np.ndarray, precision: np.ndarray, mode: ApMode) -> float:
    """AP of one curve: ``"11point"`` (VOC07) or ``"area"`` (all points)."""
    if mode == "11point":
        return voc07_ap(recall, precision)
    return voc12_ap(recall, precision)
