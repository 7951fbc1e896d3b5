"""Max-IoU label assignment (RetinaNet-O), the ablation baseline of DCFL's assigner.

Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, with the exact rotated IoU:
a prior is positive for its best gt when their IoU is at least ``pos_thr`` (0.5), negative
when its best IoU is below ``neg_thr`` (0.4), ignored in between; then every gt also claims
the priors of highest IoU with it (mmdet's ``min_pos_iou=0``, ``gt_max_assign_all``), so a
tiny object whose IoU with every 32-px prior is ~0.06 still gets one or a few positives.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rsdet.models.assigners.assignment import Assignment
from rsdet.structures import RBoxes, pairwise_rotated_iou

__all__ = ["MaxIoUAssigner"]


@dataclass(frozen=True)
class MaxIoUAssigner:
    """Max-IoU assigner with the :class:`~rsdet.models.assigners.assignment.Assigner` interface.

    Attributes:
        pos_thr: best IoU at or above this makes a positive.
        neg_thr: best IoU below this makes a negative.
        min_pos_iou: a gt claims its highest-IoU priors when that IoU is at least this and
            above 0 (an IoU of exactly 0 would otherwise make *every* prior positive, a trap
            of mmdet's ``min_pos_iou=0``).
        gt_max_assign_all: a gt claims *every* prior tied at its highest IoU (mmdet's
            default; a tiny gt inside several 32-px priors has the same IoU with all of
            them), or only the first one when False.
    """

    pos_thr: float = 0.5
    neg_thr: float = 0.4
    min_pos_iou: float = 0.0
    gt_max_assign_all: bool = True

    def __call__(
        self, priors: Tensor, moved: Tensor, gts: RBoxes, logits: Tensor, deltas: Tensor
    ) -> Assignment:
        """Assign priors by IoU with the gts.

        Args:
            priors: (N, 5) static priors (unused: IoU is taken against ``moved``).
            moved: (N, 5) priors the IoU is measured against; with the dynamic prior off
                (the RetinaNet-O baseline) these are the static priors.
            gts: M ground-truth boxes, input pixels.
            logits, deltas: unused (this assigner ignores predictions).

        Returns:
            The assignment; with M = 0 every prior is negative.
        """
        n, m = moved.shape[0], len(gts)
        if m == 0 or n == 0:
            empty = torch.full((n,), -1, dtype=torch.long, device=moved.device)
            return Assignment.hard(empty, torch.zeros(n, dtype=torch.bool, device=moved.device))
        iou = pairwise_rotated_iou(RBoxes(gts.tensor.to(moved.dtype)), RBoxes(moved))  # (M, N)
        best, best_gt = iou.max(dim=0)
        gt_index = torch.where(best >= self.pos_thr, best_gt, -1)
        ignored = (best >= self.neg_thr) & (best < self.pos_thr)
        gt_best, gt_arg = iou.max(dim=1, keepdim=True)  # (M, 1)
        if self.gt_max_assign_all:
            claim = iou == gt_best
        else:
            claim = torch.zeros_like(iou, dtype=torch.bool).scatter_(1, gt_arg, True)
        claim &= (gt_best > 0) & (gt_best >= self.min_pos_iou)
        ids = torch.arange(m, device=moved.device)[:, None].expand(m, n)
        claimed = torch.where(claim, ids, -1).max(dim=0).values  # the last gt wins, as mmdet
        gt_index = torch.where(claimed >= 0, claimed, gt_index)
        return Assignment.hard(gt_index, ignored & (gt_index < 0))
