"""Linear soft-NMS for horizontal boxes, in plain torch.

Bodla et al., "Soft-NMS: Improving Object Detection With One Line of Code", ICCV 2017.

Instead of dropping a box that overlaps a better one, soft-NMS lowers its score: repeatedly
take the box of highest *current* score, then multiply the score of every remaining box ``b``
by ``1 - IoU(taken, b)`` when that IoU is above the threshold, and discard the boxes whose
score fell below ``min_score``. This is mmdetection's ``soft_nms_cpu`` with ``method=1``
(the Cython loop of the original authors), which TinyDet uses at test time.

The scores of taken boxes never increase from one step to the next (each step takes the
maximum of scores that only decrease), so the first ``max_det`` boxes taken are the
``max_det`` best boxes of the full run: the loop stops there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rsdet.structures.hboxes import HBoxes, pairwise_iou

__all__ = ["soft_nms"]


def soft_nms(
    boxes: HBoxes,
    scores: Tensor,
    iou_threshold: float,
    min_score: float,
    labels: Tensor | None = None,
    max_det: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Linear soft-NMS (see the module docstring).

    Args:
        boxes: N horizontal boxes.
        scores: (N,) confidences.
        iou_threshold: a remaining box is decayed when its IoU with the taken box is
            *greater* than this (0.5 in TinyDet).
        min_score: boxes whose decayed score falls below this are discarded (boxes below it
            from the start are never taken).
        labels: (N,) int64 classes; boxes only decay boxes of their own class. None: one class.
        max_det: stop after taking this many boxes (None: take every surviving box).

    Returns:
        ``keep``: (K,) int64 indices of the taken boxes, in the order taken (decreasing
        decayed score; ties go to the lower index); ``kept_scores``: (K,) their decayed scores.
    """
    n = len(boxes)
    if scores.numel() != n:
        raise ValueError(f"{n} boxes but {scores.numel()} scores")
    limit = n if max_det is None else min(n, max_det)
    current = scores.clone()
    alive = current >= min_score
    keep: list[int] = []
    kept: list[Tensor] = []
    while len(keep) < limit and bool(alive.any()):
        i = int(torch.where(alive, current, current.new_tensor(-torch.inf)).argmax())
        keep.append(i)
        kept.append(current[i])
        alive[i] = False
        iou = pairwise_iou(boxes[i : i + 1], boxes)[0]  # (N,) IoU with the taken box
        decay = torch.where(iou > iou_threshold, 1 - iou, torch.ones_like(iou))
        if labels is not None:  # other classes keep their scores
            decay = torch.where(labels == labels[i], decay, torch.ones_like(decay))
        current = torch.where(alive, current * decay, current)
        alive &= current >= min_score
    index = torch.tensor(keep, dtype=torch.long, device=scores.device)
    return index, torch.stack(kept) if kept else scores.new_zeros(0)
