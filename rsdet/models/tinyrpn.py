"""TinyRPN: TinyDet's region proposal network, its proposals and its loss.

Chen et al., TinyDet (arXiv 2304.03428), Fig. 4; ``hustvl/TinyDet: mmdet_extra/tinyrpn.py``
on mmdetection v1's ``AnchorHead`` / ``RPNHead``::

    P_l (245 ch) -> SCConv(245, g=49) -> ReLU -> 1x1 -> A objectness logits (sigmoid)
                                              -> 1x1 -> 4A box deltas
    (the same weights at every level; A = 3 anchors of ratios 0.5, 1, 2 per position)

Proposals (:func:`propose`), per image and level: the ``pre_nms`` best anchors, decoded and
clipped, NMS at 0.7, the ``post_nms`` best; then the ``max_num`` best over all levels
(TinyDet tests with 1000 / 1000 / 200, trains with 2000 / 2000 / 2000).

Loss (:func:`rpn_loss`): anchors lying inside the image (``allowed_border`` 0) are assigned by
max IoU (positive >= 0.5, negative < 0.3, a gt claims its best anchors from 0.3), 256 of them
sampled with at most half positives; binary cross-entropy and smooth-L1 (beta 1/9), both
summed and divided by ``sum_i max(#pos_i, 1) + max(#neg_i, 1)`` as mmdet v1 does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsdet.models.anchors import DeltaCoder, inside_image
from rsdet.models.assigners import MaxIoUHBoxAssigner
from rsdet.models.samplers import candidate_labels, sample
from rsdet.models.tinyfpn import SCConv
from rsdet.structures import HBoxes, Targets, nms

__all__ = ["RPN_CODER", "ProposalConfig", "RPNTrainConfig", "TinyRPN", "propose", "rpn_loss"]

RPN_CODER = DeltaCoder((1.0, 1.0, 1.0, 1.0))


@dataclass(frozen=True)
class ProposalConfig:
    """From RPN outputs to proposals (mmdet v1 ``rpn_proposal`` / ``test_cfg.rpn``).

    Every key is required: train and test differ in all but one.

    Attributes:
        pre_nms: best anchors per level kept before NMS.
        post_nms: proposals per level kept after NMS.
        max_num: proposals per image over all levels (the R-CNN's RoIs at test time).
        nms_thr: IoU threshold of the per-level NMS.
    """

    pre_nms: int
    post_nms: int
    max_num: int
    nms_thr: float


@dataclass(frozen=True)
class RPNTrainConfig:
    """RPN training targets (TinyDet's ``train_cfg.rpn``).

    Attributes:
        pos_iou, neg_iou, min_pos_iou: the max-IoU assigner's thresholds.
        num: anchors sampled per image.
        pos_fraction: at most this share of them positive.
        allowed_border: anchors reaching more than this many pixels past the image are not
            trained (0: only anchors inside the image); negative trains every anchor.
        beta: smooth-L1 transition point.
    """

    pos_iou: float = 0.5
    neg_iou: float = 0.3
    min_pos_iou: float = 0.3
    num: int = 256
    pos_fraction: float = 0.5
    allowed_border: float = 0.0
    beta: float = 1 / 9

    def assigner(self) -> MaxIoUHBoxAssigner:
        """The max-IoU assigner of these thresholds."""
        return MaxIoUHBoxAssigner(self.pos_iou, self.neg_iou, self.min_pos_iou)


class TinyRPN(nn.Module):
    """The RPN head shared by all pyramid levels (see the module docstring).

    Args:
        channels: pyramid width (245).
        groups: groups of the SCConv's 1x1 (49).
        num_anchors: anchors per position A (3).
    """

    def __init__(self, channels: int = 245, groups: int = 49, num_anchors: int = 3) -> None:
        super().__init__()
        self.num_anchors = num_anchors
        self.rpn_conv = SCConv(channels, groups)
        self.rpn_cls = nn.Conv2d(channels, num_anchors, 1)
        self.rpn_reg = nn.Conv2d(channels, 4 * num_anchors, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # N(0, 0.01), bias 0 (TinyRPN.init_weights)
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Per level: objectness logits (B, A, H, W) and deltas (B, 4A, H, W)."""
        objectness, deltas = [], []
        for f in feats:
            x = F.relu(self.rpn_conv(f))  # 245 -> 245, same size
            objectness.append(self.rpn_cls(x))  # 245 -> A
            deltas.append(self.rpn_reg(x))  # 245 -> 4A, anchor-major: channel 4a + coord
        return objectness, deltas


def propose(
    objectness: Sequence[Tensor],
    deltas: Sequence[Tensor],
    anchors: Sequence[Tensor],
    image_hw: tuple[int, int],
    cfg: ProposalConfig,
) -> tuple[Tensor, Tensor]:
    """Proposals of a batch, padded to ``cfg.max_num`` per image (no gradient).

    Args:
        objectness, deltas: per level, (B, A, H, W) and (B, 4A, H, W) RPN outputs.
        anchors: per level, (H * W * A, 4) anchors in the same order.
        image_hw: input height and width; proposals are clipped to it.
        cfg: the selection.

    Returns:
        (B, max_num, 4) xyxy proposals in input pixels, best first, zero rows after the last;
        (B, max_num) bool, True for real proposals.
    """
    b = objectness[0].shape[0]
    boxes = objectness[0].new_zeros(b, cfg.max_num, 4, dtype=torch.float32)
    valid = torch.zeros(b, cfg.max_num, dtype=torch.bool, device=boxes.device)
    with torch.no_grad():
        for i in range(b):
            found = _image_proposals(
                [o[i] for o in objectness], [d[i] for d in deltas], anchors, image_hw, cfg
            )
            boxes[i, : len(found)] = found
            valid[i, : len(found)] = True
    return boxes, valid


def _image_proposals(
    objectness: Sequence[Tensor],
    deltas: Sequence[Tensor],
    anchors: Sequence[Tensor],
    image_hw: tuple[int, int],
    cfg: ProposalConfig,
) -> Tensor:
    """(P, 4) proposals of one image, best first (mmdet v1 ``get_bboxes_single``)."""
    boxes, scores = [], []
    for obj, delta, anchor in zip(objectness, deltas, anchors, strict=True):
        score = obj.permute(1, 2, 0).reshape(-1).float().sigmoid()  # (A, H, W) -> (HWA,)
        top = score.topk(min(cfg.pre_nms, score.numel())).indices
        reg = delta.permute(1, 2, 0).reshape(-1, 4)[top].float()  # (4A, H, W) -> (HWA, 4)
        box = RPN_CODER.decode(anchor[top], reg, image_hw)
        keep = nms(HBoxes(box), score[top], cfg.nms_thr)[: cfg.post_nms]
        boxes.append(box[keep])
        scores.append(score[top][keep])
    score = torch.cat(scores)
    best = score.topk(min(cfg.max_num, score.numel())).indices
    return torch.cat(boxes)[best]


def rpn_loss(
    objectness: Sequence[Tensor],
    deltas: Sequence[Tensor],
    anchors: Sequence[Tensor],
    targets: Sequence[Targets],
    image_hw: tuple[int, int],
    cfg: RPNTrainConfig,
) -> dict[str, Tensor]:
    """``{"loss_rpn_cls", "loss_rpn_bbox"}`` of a batch (see the module docstring).

    Args:
        objectness, deltas, anchors: as :func:`propose` takes them.
        targets: one per image, HBoxes in input pixels.
        image_hw: input height and width (the border of ``allowed_border``).
        cfg: assignment, sampling and loss settings.
    """
    logits = torch.cat([o.flatten(1) for o in _hwa(objectness, 1)], dim=1).float()  # (B, N)
    reg = torch.cat(_hwa(deltas, 4), dim=1).float()  # (B, N, 4)
    priors = torch.cat(list(anchors))  # (N, 4)
    inside = inside_image(priors, image_hw, cfg.allowed_border)
    cls_terms, reg_terms, count = [], [], 0
    for i, t in enumerate(targets):
        pos, neg, gt = _sample_anchors(priors, inside, t, cfg)
        labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).float()
        sampled = logits[i, torch.cat([pos, neg])]
        cls_terms.append(F.binary_cross_entropy_with_logits(sampled, labels, reduction="sum"))
        target = RPN_CODER.encode(priors[pos], gt)
        reg_terms.append(F.smooth_l1_loss(reg[i, pos], target, reduction="sum", beta=cfg.beta))
        count += max(pos.numel(), 1) + max(neg.numel(), 1)
    return {
        "loss_rpn_cls": torch.stack(cls_terms).sum() / count,
        # "+ 0 * reg.sum()": the graph stays whole (and the loss 0) without positives.
        "loss_rpn_bbox": torch.stack(reg_terms).sum() / count + 0 * reg.sum(),
    }


def _sample_anchors(
    priors: Tensor, inside: Tensor, t: Targets, cfg: RPNTrainConfig
) -> tuple[Tensor, Tensor, Tensor]:
    """Sampled positive and negative anchor indices of one image, and the positives' gt boxes."""
    gts = t.boxes.tensor.to(priors)
    keep = ~t.ignore.to(priors.device).bool()
    index = torch.nonzero(inside).squeeze(1)  # anchors that may train
    a = cfg.assigner()(priors[index], gts[keep])
    positive, negative = candidate_labels(a, priors[index], gts[~keep], cfg.neg_iou)
    pos, neg = sample(positive, negative, cfg.num, cfg.pos_fraction)
    return index[pos], index[neg], gts[keep][a.gt_index[pos]]


def _hwa(maps: Sequence[Tensor], k: int) -> list[Tensor]:
    """Per level (B, A * k, H, W) -> (B, H * W * A, k): the anchors' order."""
    out = []
    for m in maps:
        b = m.shape[0]
        out.append(m.permute(0, 2, 3, 1).reshape(b, -1, k))  # (B, H, W, A*k) -> (B, HWA, k)
    return out
