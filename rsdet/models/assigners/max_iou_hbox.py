"""Max-IoU assignment of horizontal priors (anchors, proposals): mmdetection v1's rule.

Ren et al., "Faster R-CNN", NeurIPS 2015, as ``mmdet/core/bbox/assigners/max_iou_assigner.py``
(v1) implements it, which TinyDet's RPN and R-CNN use:

1. a prior whose best IoU is below ``neg_thr`` is negative;
2. a prior whose best IoU is at least ``pos_thr`` is positive for that gt;
3. every gt whose best IoU is at least ``min_pos_iou`` claims the priors of that IoU
   (all of them when tied, ``gt_max_assign_all``); a prior claimed by several gts goes to the
   last one, as in v1's loop over gts;
4. the other priors are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rsdet.models.assigners.assignment import Assignment
from rsdet.structures import HBoxes, pairwise_iou

__all__ = ["MaxIoUHBoxAssigner"]


@dataclass(frozen=True)
class MaxIoUHBoxAssigner:
    """mmdet-v1 max-IoU assigner on HBoxes (see the module docstring for the rule).

    Attributes:
        pos_thr: best IoU at or above this makes a positive (RPN 0.5, R-CNN 0.5).
        neg_thr: best IoU below this makes a negative (RPN 0.3, R-CNN 0.5).
        min_pos_iou: a gt claims its best priors when that IoU is at least this (RPN 0.3,
            R-CNN 0.5) and above 0.
        gt_max_assign_all: claim every prior tied at the gt's best IoU.
    """

    pos_thr: float = 0.5
    neg_thr: float = 0.3
    min_pos_iou: float = 0.3
    gt_max_assign_all: bool = True

    def __call__(self, priors: Tensor, gts: Tensor) -> Assignment:
        """Assign N priors to M gts.

        Args:
            priors: (N, 4) xyxy, input pixels.
            gts: (M, 4) xyxy, input pixels.

        Returns:
            Hard labels; with M = 0 every prior is negative.
        """
        n, m = priors.shape[0], gts.shape[0]
        if m == 0 or n == 0:
            empty = torch.full((n,), -1, dtype=torch.long, device=priors.device)
            return Assignment.hard(empty, torch.zeros(n, dtype=torch.bool, device=priors.device))
        iou = pairwise_iou(HBoxes(gts.to(priors.dtype)), HBoxes(priors))  # (M, N)
        best, best_gt = iou.max(dim=0)  # (N,) each prior's best gt
        gt_index = torch.where(best >= self.pos_thr, best_gt, -1)
        gt_best, gt_arg = iou.max(dim=1, keepdim=True)  # (M, 1) each gt's best prior
        if self.gt_max_assign_all:
            claim = iou == gt_best
        else:
            claim = torch.zeros_like(iou, dtype=torch.bool).scatter_(1, gt_arg, True)
        claim &= (gt_best > 0) & (gt_best >= self.min_pos_iou)
        ids = torch.arange(m, device=priors.device)[:, None].expand(m, n)
        claimed = torch.where(claim, ids, -1).max(dim=0).values  # the last gt wins, as v1
        gt_index = torch.where(claimed >= 0, claimed, gt_index)
        ignored = (best >= self.neg_thr) & (gt_index < 0)
        return Assignment.hard(gt_index, ignored)
