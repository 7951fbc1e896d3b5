"""Losses shared by the detectors. Each returns per-element values; callers reduce.

Keeping the reduction outside lets every head normalise the way its paper does (by the
number of positives, by the sum of quality targets, ...), which the docstring of each head
states.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rsdet.structures import RBoxes, rotated_iou

__all__ = ["giou_loss", "quality_focal_loss", "rotated_iou_loss", "sigmoid_focal_loss"]


def sigmoid_focal_loss(
    logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> Tensor:
    """Focal loss (Lin et al., 2017) on sigmoid logits, element-wise.

    Args:
        logits: (..., C) raw scores.
        targets: same shape, in [0, 1] (one-hot, or soft quality targets).
        alpha: weight of positives (``1 - alpha`` for negatives); negative disables it.
        gamma: focusing exponent.

    Returns:
        Loss of the same shape as ``logits``.
    """
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss


def giou_loss(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    """``1 - GIoU`` of (N, 4) ``x1 y1 x2 y2`` boxes, element-wise; (N,) result.

    Degenerate boxes are safe: areas are clamped at 0 and every ratio gets ``eps``.
    """
    lt = torch.maximum(pred[:, :2], target[:, :2])
    rb = torch.minimum(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_p = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(dim=1)
    area_t = (target[:, 2:] - target[:, :2]).clamp(min=0).prod(dim=1)
    union = area_p + area_t - inter + eps
    iou = inter / union
    hull = torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])
    hull_area = hull.clamp(min=0).prod(dim=1) + eps
    return 1 - (iou - (hull_area - union) / hull_area)


def rotated_iou_loss(
    pred: Tensor, target: Tensor, mode: str = "log", min_side: float = 1e-3, eps: float = 1e-6
) -> Tensor:
    """Rotated IoU loss of (N, 5) oriented boxes (``cx cy w h theta``), element-wise.

    The IoU is the exact polygon IoU of :func:`rsdet.structures.rotated_iou`, which is
    differentiable almost everywhere.

    Args:
        pred, target: (N, 5) boxes in pixels (rsdet angle convention, any spelling).
        mode: ``"log"`` gives ``-ln(IoU)`` (DCFL, with IoU clamped to ``eps``);
            ``"linear"`` gives ``1 - IoU``.
        min_side: sides are clamped to at least this (pixels) so collapsed predictions
            still receive a gradient.
        eps: lower clamp of the IoU in log mode.

    Returns:
        (N,) losses.
    """
    sides = torch.tensor([0, 0, 1, 1, 0], dtype=torch.bool, device=pred.device)
    pred = torch.where(sides, pred.clamp(min=min_side), pred)
    target = torch.where(sides, target.clamp(min=min_side), target)
    iou = rotated_iou(RBoxes(pred), RBoxes(target))
    if mode == "log":
        return -torch.log(iou.clamp(min=eps))
    if mode == "linear":
        return 1 - iou
    raise ValueError(f"unknown rotated IoU loss mode {mode!r} (use 'log' or 'linear')")


def quality_focal_loss(logits: Tensor, targets: Tensor, beta: float = 2.0) -> Tensor:
    """Quality focal loss (Li et al., GFL, NeurIPS 2020) on sigmoid logits, element-wise.

    ``BCE(sigmoid(x), t) * |t - sigmoid(x)|^beta``: a focal loss whose positive targets are
    soft quality scores ``t`` in [0, 1] (e.g. the normalised task-alignment metric), so that
    a detector's confidence ranks its boxes by localisation quality. Easy negatives (the
    vast majority on a stride-4 map) cost almost nothing.

    Args:
        logits: (..., C) raw scores.
        targets: same shape, in [0, 1]; 0 for background.
        beta: focusing exponent.

    Returns:
        Loss of the same shape as ``logits``.
    """
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return ce * (p - targets).abs().pow(beta)
