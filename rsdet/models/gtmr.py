"""Ground-truth miss-assignment ratio (GTMR), TinyDet's measure of anchor coverage.

Chen et al., TinyDet (arXiv 2304.03428), Sec. 3.3 and Table 2: "GTMR is defined as the
proportion of those ground-truth objects that are not assigned to any anchor over all the
objects. It reflects the matching quality between anchors and objects under a certain
assignment strategy." The paper gives no code; here the assignment strategy is the RPN's
training assignment itself: the anchors that may train (inside the image, ``allowed_border``)
are assigned by :class:`~rsdet.models.assigners.MaxIoUHBoxAssigner`, and a gt is *missed*
when no anchor ends up positive for it (its best IoU is below ``min_pos_iou``, or the anchors
it claimed went to a later gt). Table 2 reports it over all objects and per COCO size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from rsdet.models.anchors import inside_image
from rsdet.models.assigners import MaxIoUHBoxAssigner

__all__ = ["COCO_SIZES", "GTMR", "gtmr", "missed_gts"]

# name -> [low, high) of the box area in px^2 (COCO's small / medium / large).
COCO_SIZES: dict[str, tuple[float, float]] = {
    "all": (0.0, math.inf),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, math.inf),
}


@dataclass(frozen=True)
class GTMR:
    """Missed and total gt counts per size bin.

    Attributes:
        missed: bin name -> gts no anchor is assigned to.
        total: bin name -> gts.
    """

    missed: dict[str, int]
    total: dict[str, int]

    def ratio(self) -> dict[str, float]:
        """Bin name -> missed / total (NaN for an empty bin)."""
        return {k: self.missed[k] / n if n else math.nan for k, n in self.total.items()}


def missed_gts(anchors: Tensor, gts: Tensor, assigner: MaxIoUHBoxAssigner) -> Tensor:
    """(M,) True for the gts no anchor is positive for.

    Args:
        anchors: (N, 4) xyxy anchors that may train (input pixels).
        gts: (M, 4) xyxy boxes (input pixels).
        assigner: the assignment rule (TinyDet's RPN: 0.5 / 0.3 / min_pos_iou 0.3).
    """
    a = assigner(anchors, gts)
    hit = torch.zeros(gts.shape[0], dtype=torch.bool, device=gts.device)
    hit[a.gt_index[a.positive]] = True
    return ~hit


def gtmr(
    anchors_for: Callable[[tuple[int, int]], Tensor],
    images: Iterable[tuple[tuple[int, int], Tensor]],
    assigner: MaxIoUHBoxAssigner,
    allowed_border: float = 0.0,
    sizes: Mapping[str, tuple[float, float]] = COCO_SIZES,
) -> GTMR:
    """GTMR of an anchor layout over a dataset.

    Args:
        anchors_for: ``(height, width)`` -> (N, 4) anchors of an input of that size (e.g.
            :meth:`TinyDet.all_anchors <rsdet.models.tinydet.TinyDet.all_anchors>`).
        images: per image, its ``(height, width)`` at the network input and its (M, 4) xyxy
            gt boxes at that scale (crowd / ignored boxes left out).
        assigner: the assignment rule.
        allowed_border: anchors reaching more than this past the image cannot be assigned
            (0 as TinyDet's RPN; negative: all anchors).
        sizes: bin name -> ``[low, high)`` of the gt area in px^2.

    Returns:
        The counts per bin.
    """
    missed = dict.fromkeys(sizes, 0)
    total = dict.fromkeys(sizes, 0)
    for hw, gts in images:
        anchors = anchors_for(hw)
        usable = anchors[inside_image(anchors, hw, allowed_border)]
        miss = missed_gts(usable, gts.to(usable), assigner)
        area = (gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1])
        for name, (low, high) in sizes.items():
            in_bin = (area >= low) & (area < high)
            total[name] += int(in_bin.sum())
            missed[name] += int((in_bin & miss.to(in_bin.device)).sum())
    return GTMR(missed, total)
