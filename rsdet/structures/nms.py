"""Non-maximum suppression for horizontal and oriented boxes, in plain torch.

Greedy NMS keeps the best-scoring box, drops every box overlapping it by more than the
threshold, and repeats. We compute the same result without a Python loop over boxes:

1. sort by score and list the *candidate* pairs whose envelopes overlap (only they can
   have a positive IoU), in linear time with :func:`~rsdet.structures.overlapping_pairs`;
2. measure the exact IoU of those pairs and keep the edges ``i -> j`` above the threshold
   (``i`` ranked before ``j``);
3. solve ``keep[j] = not any(keep[i] for i -> j)`` by fixed-point iteration
   (:func:`greedy_keep`). Its unique solution is exactly greedy NMS; the number of rounds is
   the longest chain of boxes suppressing one another, a handful in practice.

The same candidate search and :func:`greedy_keep` serve the cross-tile scene merger.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rsdet.structures.hboxes import HBoxes, box_iou
from rsdet.structures.rboxes import RBoxes
from rsdet.structures.rotated_iou import rotated_iou
from rsdet.structures.spatial import overlapping_pairs

__all__ = ["batched_nms", "greedy_keep", "nms"]


def greedy_keep(num: int, src: Tensor, dst: Tensor) -> Tensor:
    """Greedy suppression on a directed graph whose edges point down the ranking.

    Args:
        num: number of items, ranked ``0`` (best) to ``num - 1``.
        src, dst: (E,) int64 edges: item ``src[e]`` would suppress item ``dst[e]``; every
            edge must satisfy ``src < dst``.

    Returns:
        (num,) bool mask, equal to processing items in rank order and keeping an item iff no
        kept item suppresses it.
    """
    keep = torch.ones(num, dtype=torch.bool, device=src.device)
    if src.numel() == 0:
        return keep
    for _ in range(num + 1):
        suppressed = torch.zeros_like(keep)
        suppressed[dst[keep[src]]] = True
        new_keep = ~suppressed
        if torch.equal(new_keep, keep):
            return keep
        keep = new_keep
    raise RuntimeError("greedy_keep did not converge; are all edges src < dst?")


def _candidate_pairs(env: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
    """Pairs ``i < j`` of (N, 4) envelopes with positive-area overlap (and equal labels).

    The grid hash runs in numpy on the CPU (an (N, 4) copy is cheap even from a GPU); the
    exact IoUs of the candidates are then computed on the boxes' own device.
    """
    env_np = env.detach().to("cpu", torch.float64).numpy()
    labels_np = None if labels is None else labels.detach().cpu().numpy()
    i, j = overlapping_pairs(env_np, labels_np)
    return torch.from_numpy(i).to(env.device), torch.from_numpy(j).to(env.device)


def _pair_iou(boxes: HBoxes | RBoxes, i: Tensor, j: Tensor) -> Tensor:
    if isinstance(boxes, RBoxes):
        return rotated_iou(boxes[i], boxes[j])
    return box_iou(boxes[i], boxes[j])


def _nms(
    boxes: HBoxes | RBoxes, scores: Tensor, iou_threshold: float, labels: Tensor | None
) -> Tensor:
    if len(boxes) != scores.numel():
        raise ValueError(f"{len(boxes)} boxes but {scores.numel()} scores")
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    order = torch.argsort(scores, descending=True, stable=True)
    ranked = boxes[order]
    ranked_labels = labels[order] if labels is not None else None
    i, j = _candidate_pairs(ranked.envelope().tensor, ranked_labels)
    over = _pair_iou(ranked, i, j) > iou_threshold
    keep = greedy_keep(len(ranked), i[over], j[over])
    return order[keep]


def nms(boxes: HBoxes | RBoxes, scores: Tensor, iou_threshold: float) -> Tensor:
    """Class-agnostic greedy NMS.

    Args:
        boxes: N horizontal or oriented boxes (exact rotated IoU for the latter).
        scores: (N,) confidence; ties are broken by input order.
        iou_threshold: a box is dropped when its IoU with a kept, better box is *greater*
            than this value.

    Returns:
        (K,) int64 indices of the kept boxes, by decreasing score.
    """
    return _nms(boxes, scores, iou_threshold, None)


def batched_nms(
    boxes: HBoxes | RBoxes, scores: Tensor, labels: Tensor, iou_threshold: float
) -> Tensor:
    """Class-aware NMS: boxes only suppress boxes of the same label. Same output as :func:`nms`."""
    return _nms(boxes, scores, iou_threshold, labels)
