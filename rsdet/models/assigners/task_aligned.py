"""Task-aligned assignment of ground-truth boxes to dense predictions (TOOD / YOLOv8).

For one image, a prior becomes a positive for a ground-truth box when it is among the ``topk``
candidates of that box by the *alignment metric*

    t = s^alpha * u^beta,

where ``s`` is the predicted score of the box's class and ``u`` the IoU of the predicted box
with it (Feng et al., "TOOD: Task-aligned One-stage Object Detection", ICCV 2021; YOLOv8's
``alpha = 0.5, beta = 6, topk = 10``). Positives are thus the priors that *already* classify
and localise the object best, so classification and regression are trained on the same
priors. Each positive's soft classification target is ``t / max_t * max_iou`` over its
box's positives (TOOD).

Its box-loss weight is ``t / max_t``, without TOOD's ``* max_iou`` factor. This is our
change, made for tiny objects. A 4 px object starts with IoU ~0.25 against the initial
2-stride boxes. With TOOD's weight its regression would then be scaled down 4x, so its IoU
would stay low: a rich-get-richer loop that we saw leave 4 px objects unlearnt. With
``t / max_t`` the best prior of every object gets full regression weight.

Candidates are priors whose centre lies inside the box, or within ``center_radius`` strides
of its centre (both axes). The second rule is ours, for tiny objects: a 3 px vehicle can
fall between the centres of a stride-4 grid and would otherwise have no candidate at all.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rsdet.models.assigners.assignment import Assignment
from rsdet.structures import HBoxes, box_iou

__all__ = ["TaskAlignedAssigner", "points_in_boxes"]


def points_in_boxes(points: Tensor, boxes: Tensor) -> Tensor:
    """(M, N) bool: point n lies strictly inside box m. points (N, 2) xy, boxes (M, 4) xyxy."""
    x, y = points[None, :, 0], points[None, :, 1]
    return (
        (x > boxes[:, None, 0])
        & (x < boxes[:, None, 2])
        & (y > boxes[:, None, 1])
        & (y < boxes[:, None, 3])
    )


class TaskAlignedAssigner:
    """Task-aligned assigner (see the module docstring). Stateless; call once per image.

    Args:
        topk: positives per box, at most (YOLOv8: 10).
        alpha, beta: exponents of score and IoU in the alignment metric (YOLOv8: 0.5, 6).
        center_radius: candidate half-width around the box centre, in strides.
        eps: guards the normalisation by the best metric.
    """

    def __init__(
        self,
        topk: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
        center_radius: float = 2.5,
        eps: float = 1e-9,
    ) -> None:
        self.topk, self.alpha, self.beta = topk, alpha, beta
        self.center_radius, self.eps = center_radius, eps

    def candidates(self, priors: Tensor, strides: Tensor, boxes: Tensor) -> Tensor:
        """(M, N) bool: prior centre in the box, or near its centre (``center_radius`` strides)."""
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2  # (M, 2)
        near = (priors[None] - centre[:, None]).abs().amax(dim=-1)  # (M, N) L-inf distance, px
        return points_in_boxes(priors, boxes) | (near < self.center_radius * strides[None])

    @torch.no_grad()
    def __call__(
        self,
        scores: Tensor,
        boxes: Tensor,
        priors: Tensor,
        strides: Tensor,
        targets: HBoxes,
        labels: Tensor,
        ignore: Tensor,
    ) -> Assignment:
        """Assign one image.

        Args:
            scores: (N, K) predicted class probabilities (after sigmoid).
            boxes: (N, 4) predicted boxes, xyxy input pixels.
            priors: (N, 2) prior centres, input pixels; strides: (N,) their strides.
            targets: M ground-truth boxes; labels (M,) int64; ignore (M,) bool.

        Returns:
            The assignment, positives grouped by gt; ignored boxes get no positives, and the
            priors whose centre lies inside one are ignored unless positive.
        """
        gt = targets.tensor.to(boxes)
        ignored = points_in_boxes(priors, gt[ignore]).any(dim=0)  # (N,) centre in an ignored box
        gt_index = torch.full_like(ignored, -1, dtype=torch.long)
        keep = (~ignore).nonzero().squeeze(1)
        if keep.numel() == 0:
            empty = torch.zeros(0, dtype=torch.long, device=boxes.device)
            none = boxes.new_zeros(0)
            return Assignment(gt_index, ignored, empty, none, none)
        gt, gt_labels = gt[keep], labels[keep]
        metric, overlaps, cand = self._metric(scores, boxes, priors, strides, gt, gt_labels)
        selected = self._select(metric, overlaps, cand)
        gt_idx, pos = selected.nonzero(as_tuple=True)  # grouped by gt
        t, u = metric[gt_idx, pos], overlaps[gt_idx, pos]
        m = len(gt)
        best_t = t.new_zeros(m).scatter_reduce(0, gt_idx, t, "amax", include_self=False)
        best_u = u.new_zeros(m).scatter_reduce(0, gt_idx, u, "amax", include_self=False)
        box_weight = t / (best_t[gt_idx] + self.eps)
        quality = box_weight * best_u[gt_idx]
        gt_index[pos] = keep[gt_idx]  # indices into the unfiltered targets
        ignored[pos] = False  # a positive inside an ignored box keeps its classification loss
        return Assignment(gt_index, ignored, pos, quality, box_weight)

    def _metric(
        self,
        scores: Tensor,
        boxes: Tensor,
        priors: Tensor,
        strides: Tensor,
        gt: Tensor,
        gt_labels: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(M, N) alignment metric (-1 outside the candidates), IoU, candidate mask."""
        cand = self.candidates(priors, strides, gt)
        g, p = cand.nonzero(as_tuple=True)  # IoU only for candidate pairs
        iou = box_iou(HBoxes(boxes[p]), HBoxes(gt[g]))
        t = scores[p, gt_labels[g]].pow(self.alpha) * iou.pow(self.beta)
        metric = torch.full(cand.shape, -1.0, dtype=boxes.dtype, device=boxes.device)
        metric[g, p] = t  # -1 elsewhere: a candidate always outranks a non-candidate
        overlaps = torch.zeros_like(metric)
        overlaps[g, p] = iou
        return metric, overlaps, cand

    def _select(self, metric: Tensor, overlaps: Tensor, cand: Tensor) -> Tensor:
        """(M, N) bool, at most one True per column: each box's top-k candidates."""
        k = min(self.topk, metric.shape[1])
        top = metric.topk(k, dim=1).indices  # (M, k)
        selected = torch.zeros_like(cand).scatter_(1, top, True) & cand
        # A prior claimed by several boxes goes to the one its prediction overlaps most.
        contested = selected.sum(dim=0) > 1
        if contested.any():
            best = torch.where(selected, overlaps, -1.0).argmax(dim=0)  # (N,)
            rows = torch.arange(len(metric), device=metric.device)[:, None]
            selected[:, contested] = (rows == best[None])[:, contested]
        return selected
