"""Which assigned candidates (anchors, RoIs) a two-stage detector trains on, per image.

mmdetection v1's ``RandomSampler`` and ``OHEMSampler`` (Shrivastava et al., "Training
Region-based Object Detectors with Online Hard Example Mining", CVPR 2016): take at most
``num * pos_fraction`` positives, then fill up to ``num`` with negatives. The random sampler
draws uniformly; OHEM keeps the candidates of highest loss (its ``hard_mining`` ranks by the
classification loss of a no-grad pass of the R-CNN head).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rsdet.models.assigners import Assignment
from rsdet.structures import HBoxes, pairwise_iou

__all__ = ["candidate_labels", "sample"]


def candidate_labels(
    assignment: Assignment, priors: Tensor, ignored_gts: Tensor, ignore_iou: float
) -> tuple[Tensor, Tensor]:
    """Positive and negative masks of N candidates, ignore boxes taken into account.

    Args:
        assignment: of the candidates against the gts that are not ignored.
        priors: (N, 4) xyxy candidates, input pixels.
        ignored_gts: (G, 4) xyxy boxes flagged ``ignore`` (crowd, difficult, cut by the
            window edge): a candidate overlapping one by IoU ``>= ignore_iou`` is neither
            positive nor negative, so that such objects are neither learnt nor punished.
        ignore_iou: the assigner's negative threshold.

    Returns:
        (N,) bool ``positive``, (N,) bool ``negative``; candidates in neither are ignored.
    """
    positive = assignment.positive
    negative = ~positive & ~assignment.ignored
    if ignored_gts.numel() and priors.numel():
        near = pairwise_iou(HBoxes(ignored_gts.to(priors)), HBoxes(priors)).max(dim=0).values
        negative &= near < ignore_iou
    return positive, negative


def sample(
    positive: Tensor,
    negative: Tensor,
    num: int,
    pos_fraction: float,
    hardness: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Indices of the sampled positives and negatives of one image.

    Args:
        positive, negative: (N,) bool masks (disjoint).
        num: candidates to sample in total (RPN 256, R-CNN 512).
        pos_fraction: at most ``int(num * pos_fraction)`` positives.
        hardness: (N,) loss per candidate: keep the hardest (OHEM); None draws at random.

    Returns:
        (P,) and (Q,) int64 indices, ``P + Q <= num``.
    """
    pos = _pick(torch.nonzero(positive).squeeze(1), int(num * pos_fraction), hardness)
    neg = _pick(torch.nonzero(negative).squeeze(1), num - pos.numel(), hardness)
    return pos, neg


def _pick(index: Tensor, k: int, hardness: Tensor | None) -> Tensor:
    """At most ``k`` of ``index``: all of them, a random subset, or the hardest."""
    if index.numel() <= k:
        return index
    if hardness is None:
        return index[torch.randperm(index.numel(), device=index.device)[:k]]
    return index[hardness[index].topk(k).indices]
