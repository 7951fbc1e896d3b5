"""TinyDet's R-CNN stage: RoI level mapping, PSRoIAlign, one FC, OHEM, soft-NMS decoding.

Chen et al., TinyDet (arXiv 2304.03428), Fig. 8 and Eq. (1); ``hustvl/TinyDet:
mmdet_extra/single_level_modified.py, shared_fc_bbox_head_modified.py``::

    RoI (x1, y1, x2, y2) -> level l = floor(log2(sqrt(w h) / finest_scale + 1e-6)), clamped
      -> PSRoIAlign on P_l (245 = 5 x 7 x 7 ch) -> (5, 7, 7) -> flatten 245
      -> FC 1024 + ReLU -> FC K + 1 class logits (softmax; background last)
                        -> FC 4 box deltas (class-agnostic, stds 0.1, 0.1, 0.2, 0.2)

Only the finest levels pool (TinyDet-M/L: strides 4, 8, 16 with finest_scale 22.4 / 35.8;
TinyDet-S: 8, 16 with 30). Training (:func:`rcnn_loss`): the gts join the proposals, max-IoU
assignment at 0.5, OHEM keeps the 512 candidates of highest classification loss with at most
25% positives (ranked by a no-grad pass over all candidates, as mmdet's ``OHEMSampler``, when
there are more than it may keep); cross-entropy and smooth-L1 (beta 1), both divided by the
RoIs sampled.
Inference (:func:`rcnn_detections`): softmax scores, decoded boxes, class-wise linear soft-NMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsdet.models.anchors import DeltaCoder
from rsdet.models.assigners import MaxIoUHBoxAssigner
from rsdet.models.ops import psroi_align
from rsdet.models.samplers import candidate_labels, sample
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections, HBoxes, Targets, soft_nms

__all__ = [
    "RCNN",
    "RCNN_CODER",
    "RCNNTrainConfig",
    "map_roi_levels",
    "rcnn_detections",
    "rcnn_loss",
]

RCNN_CODER = DeltaCoder((0.1, 0.1, 0.2, 0.2))


@dataclass(frozen=True)
class RCNNTrainConfig:
    """R-CNN training targets (TinyDet's ``train_cfg.rcnn``).

    Attributes:
        pos_iou, neg_iou, min_pos_iou: the max-IoU assigner's thresholds (0.5 each).
        num: RoIs sampled per image (512).
        pos_fraction: at most this share of them positive (0.25).
        ohem: keep the hardest RoIs (online hard example mining) rather than random ones.
        beta: smooth-L1 transition point (1).
    """

    pos_iou: float = 0.5
    neg_iou: float = 0.5
    min_pos_iou: float = 0.5
    num: int = 512
    pos_fraction: float = 0.25
    ohem: bool = True
    beta: float = 1.0

    def assigner(self) -> MaxIoUHBoxAssigner:
        """The max-IoU assigner of these thresholds."""
        return MaxIoUHBoxAssigner(self.pos_iou, self.neg_iou, self.min_pos_iou)


def map_roi_levels(boxes: Tensor, finest_scale: float, num_levels: int) -> Tensor:
    """(N,) pyramid level of (N, 4) xyxy RoIs: ``floor(log2(sqrt(w h) / finest_scale + 1e-6))``.

    Clamped to ``[0, num_levels - 1]``: a RoI smaller than ``2 * finest_scale`` on a side pools
    from the finest level (TinyDet-M: below 44.8 px, stride 4).
    """
    scale = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=0).sqrt()
    level = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return level.clamp(0, num_levels - 1).long()


class RCNN(nn.Module):
    """PSRoIAlign on the finest pyramid levels, then one FC (see the module docstring).

    Args:
        strides: strides of the levels it pools from (the pyramid's finest, in order).
        finest_scale: RoI side below which ``2 *`` this maps to the first level (22.4).
        num_classes: object classes K (the classifier has K + 1 outputs, background last).
        pooled_dim: output channels D of PSRoIAlign (5); the pyramid has ``D k^2`` channels.
        roi_size: bins per side k (7).
        fc_channels: width of the FC (1024).
    """

    def __init__(
        self,
        strides: Sequence[int],
        finest_scale: float,
        num_classes: int,
        pooled_dim: int = 5,
        roi_size: int = 7,
        fc_channels: int = 1024,
    ) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.finest_scale, self.roi_size = finest_scale, roi_size
        self.fc = nn.Linear(pooled_dim * roi_size**2, fc_channels)
        self.fc_cls = nn.Linear(fc_channels, num_classes + 1)
        self.fc_reg = nn.Linear(fc_channels, 4)
        nn.init.xavier_uniform_(self.fc.weight)  # mmdet v1 ConvFCBBoxHead / BBoxHead init
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.normal_(self.fc_reg.weight, std=0.001)
        for fc in (self.fc, self.fc_cls, self.fc_reg):
            nn.init.zeros_(fc.bias)

    def forward(self, feats: Sequence[Tensor], rois: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 5) ``batch, x1, y1, x2, y2`` RoIs -> logits (N, K + 1), box deltas (N, 4)."""
        x = F.relu(self.fc(self.pool(feats, rois).flatten(1)))  # (N, 5, 7, 7) -> 245 -> 1024
        return self.fc_cls(x), self.fc_reg(x)

    def pool(self, feats: Sequence[Tensor], rois: Tensor) -> Tensor:
        """(N, D, k, k) PSRoIAlign features of each RoI from its level, in float32.

        The official op scales mmdet-v1 boxes (inclusive ends), so rsdet edges ``x2, y2``
        are moved back by one pixel before pooling.
        """
        levels = map_roi_levels(rois[:, 1:], self.finest_scale, len(self.strides))
        v1 = rois.float() - rois.new_tensor([0.0, 0.0, 0.0, 1.0, 1.0])  # edges -> inclusive ends
        d, k = self.fc.in_features // self.roi_size**2, self.roi_size
        out = v1.new_zeros(rois.shape[0], d, k, k)
        for level, stride in enumerate(self.strides):
            index = torch.nonzero(levels == level).squeeze(1)
            pooled = psroi_align(feats[level].float(), v1[index], 1 / stride, k, 2)
            out = out.index_copy(0, index, pooled)
        return out


def rcnn_loss(
    rcnn: RCNN,
    feats: Sequence[Tensor],
    proposals: Sequence[Tensor],
    targets: Sequence[Targets],
    cfg: RCNNTrainConfig,
) -> dict[str, Tensor]:
    """``{"loss_rcnn_cls", "loss_rcnn_bbox"}`` of a batch (see the module docstring).

    Args:
        rcnn: the head.
        feats: the pyramid (the R-CNN reads its first ``len(rcnn.strides)`` levels).
        proposals: per image, (P_i, 4) xyxy proposals (no gradient).
        targets: per image, HBoxes in input pixels.
        cfg: assignment, sampling and loss settings.
    """
    rois, labels, gt_boxes, pos_masks, neg_masks = _roi_targets(rcnn, proposals, targets, cfg)
    hardness = None
    if cfg.ohem and _must_choose(pos_masks, neg_masks, cfg):
        with torch.no_grad():  # OHEM's ranking pass over every candidate
            hardness = F.cross_entropy(rcnn(feats, rois)[0].float(), labels, reduction="none")
    picked = []
    for image, (pos_mask, neg_mask) in enumerate(zip(pos_masks, neg_masks, strict=True)):
        own = torch.nonzero(rois[:, 0] == image).squeeze(1)
        hard = None if hardness is None else hardness[own]
        pos, neg = sample(pos_mask, neg_mask, cfg.num, cfg.pos_fraction, hard)
        picked.append(own[torch.cat([pos, neg])])
    sel = torch.cat(picked)  # the sampled RoIs of every image
    logits, deltas = rcnn(feats, rois[sel])
    logits, deltas = logits.float(), deltas.float()
    count = max(sel.numel(), 1)
    loss_cls = F.cross_entropy(logits, labels[sel], reduction="sum") / count
    pos = labels[sel] < logits.shape[1] - 1  # sampled positives
    target = RCNN_CODER.encode(rois[sel][pos, 1:], gt_boxes[sel][pos])
    loss_reg = F.smooth_l1_loss(deltas[pos], target, reduction="sum", beta=cfg.beta) / count
    return {"loss_rcnn_cls": loss_cls, "loss_rcnn_bbox": loss_reg + 0 * deltas.sum()}


def _must_choose(
    pos_masks: Sequence[Tensor], neg_masks: Sequence[Tensor], cfg: RCNNTrainConfig
) -> bool:
    """Whether some image has more positives or negatives than it may sample."""
    for positive, negative in zip(pos_masks, neg_masks, strict=True):
        pos = min(int(positive.sum()), int(cfg.num * cfg.pos_fraction))
        if int(positive.sum()) > pos or int(negative.sum()) > cfg.num - pos:
            return True
    return False


def _roi_targets(
    rcnn: RCNN, proposals: Sequence[Tensor], targets: Sequence[Targets], cfg: RCNNTrainConfig
) -> tuple[Tensor, Tensor, Tensor, list[Tensor], list[Tensor]]:
    """Candidates of every image (its gts first, then its proposals) and their labels.

    Returns:
        rois (R, 5) ``batch, x1, y1, x2, y2``; class labels (R,) (background = K); matched gt
        boxes (R, 4) (a dummy box for non-positives); per image, positive and negative masks
        over that image's candidates.
    """
    background = rcnn.fc_cls.out_features - 1
    rois, labels, gt_boxes, pos_masks, neg_masks = [], [], [], [], []
    for image, (props, t) in enumerate(zip(proposals, targets, strict=True)):
        keep = ~t.ignore.to(props.device).bool()
        gts = t.boxes.tensor.to(props)[keep]
        cand = torch.cat([gts, props])  # add_gt_as_proposals
        a = cfg.assigner()(cand, gts)
        positive, negative = candidate_labels(a, cand, t.boxes.tensor.to(props)[~keep], cfg.neg_iou)
        # One row past the gts (background, a dummy box) for gt_index -1 to pick.
        extra = torch.full((1,), background, dtype=torch.long, device=props.device)
        gt_labels = torch.cat([t.labels.to(props.device).long()[keep], extra])
        rois.append(torch.cat([cand.new_full((len(cand), 1), image), cand], dim=1))
        labels.append(gt_labels[a.gt_index])
        gt_boxes.append(torch.cat([gts, gts.new_ones(1, 4)])[a.gt_index])
        pos_masks.append(positive)
        neg_masks.append(negative)
    return torch.cat(rois), torch.cat(labels), torch.cat(gt_boxes), pos_masks, neg_masks


def rcnn_detections(
    proposals: Tensor,
    logits: Tensor,
    deltas: Tensor,
    image_hw: tuple[int, int],
    postprocess: Postprocess,
) -> Detections:
    """Detections of one image from its R-CNN outputs.

    Per class, the boxes scoring above ``score_thr`` go through linear soft-NMS (IoU threshold
    ``iou_thr``; a box whose decayed score falls below ``score_thr`` is dropped); at most
    ``pre_nms_top_k`` candidates enter it, at most ``max_det`` come out, best first.

    Args:
        proposals: (P, 4) xyxy RoIs, input pixels.
        logits: (P, K + 1) class logits, background last.
        deltas: (P, 4) class-agnostic box deltas.
        image_hw: boxes are clipped to it.
        postprocess: thresholds and caps.
    """
    boxes = RCNN_CODER.decode(proposals.float(), deltas.float(), image_hw)  # (P, 4)
    scores = logits.float().softmax(dim=1)[:, :-1]  # (P, K) without the background
    roi, label = torch.nonzero(scores > postprocess.score_thr, as_tuple=True)
    score = scores[roi, label]
    top = score.topk(min(postprocess.pre_nms_top_k, score.numel())).indices
    roi, label, score = roi[top], label[top], score[top]
    keep, kept = soft_nms(
        HBoxes(boxes[roi]),
        score,
        postprocess.iou_thr,
        min_score=postprocess.score_thr,
        labels=label,
        max_det=postprocess.max_det,
    )
    return Detections(HBoxes(boxes[roi[keep]]), kept, label[keep])
