"""Anchor-free decoupled detection head, its training objective and its decoding.

The head follows YOLOv8 / YOLO11 (Ultralytics): for every pyramid level, one branch regresses
a box and a separate branch classifies, at every cell ("prior", one point per cell, no
anchor boxes). Differences, chosen for tiny objects on CPUs:

* **plain ``l, t, r, b`` regression with a GIoU loss instead of DFL.** DFL needs
  ``4 x reg_max`` (= 64) output channels per cell; on a stride-4 map that is the most
  expensive layer of the network, and tiny objects span only a few strides anyway, so a
  16-bin distribution buys little. GIoU still gives a gradient when a predicted box and a
  3 px object do not overlap, where the IoU loss would be flat. Distances are *signed*
  (``raw * stride``): a prior just outside a tiny object can still regress onto it;
* **quality focal loss** (GFL) on the classifier with task-aligned soft targets: the
  ~87 000 priors of a 1024 px tile are almost all easy background, which plain BCE (YOLOv8)
  would let dominate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rsdet.models.assigners import TaskAlignedAssigner
from rsdet.models.layers import ConvNormAct
from rsdet.models.losses import giou_loss, quality_focal_loss
from rsdet.models.priors import grid_points
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections, HBoxes, Targets, batched_nms

__all__ = ["DecoupledHead", "HeadOutput", "TaskAlignedLoss", "decode_detections"]


class HeadOutput(NamedTuple):
    """Dense predictions of a batch; all levels concatenated, finest level first.

    Attributes:
        cls_logits: (B, N, K) raw class scores (sigmoid gives probabilities).
        boxes: (B, N, 4) predicted boxes ``x1 y1 x2 y2`` in input pixels.
        priors: (N, 2) prior points ``x, y`` (cell centres), input pixels.
        strides: (N,) stride of each prior's level, pixels.
        level_sizes: priors per level (sums to N).
        image_size: ``(height, width)`` of the input, pixels.
    """

    cls_logits: Tensor
    boxes: Tensor
    priors: Tensor
    strides: Tensor
    level_sizes: tuple[int, ...]
    image_size: tuple[int, int]


class DecoupledHead(nn.Module):
    """Per-level box and class branches (YOLO11 layout, ltrb regression).

    Input: L maps, finest first, ``in_channels[i]`` channels at stride ``strides[i]``.
    Output: a :class:`HeadOutput`.

    Args:
        in_channels: channels per level.
        strides: stride per level, pixels.
        num_classes: K.
        reg_channels: width of the box branch (default ``max(16, in_channels[0] // 2)``).
        cls_channels: width of the class branch (YOLOv8: ``max(c0, min(K, 100))``).
        prior_prob: initial foreground probability of every class (RetinaNet: 0.01), so
            that training from scratch does not start with a flood of false positives.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        strides: Sequence[int],
        num_classes: int,
        reg_channels: int | None = None,
        cls_channels: int | None = None,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        c_reg = reg_channels or max(16, in_channels[0] // 2)
        c_cls = cls_channels or max(in_channels[0], min(num_classes, 100))
        self.strides = tuple(strides)
        self.num_classes = num_classes
        self.reg = nn.ModuleList(
            nn.Sequential(
                ConvNormAct(c, c_reg, 3), ConvNormAct(c_reg, c_reg, 3), nn.Conv2d(c_reg, 4, 1)
            )
            for c in in_channels
        )
        # YOLO11: depthwise-separable convs in the class branch (cheap on fine levels).
        self.cls = nn.ModuleList(
            nn.Sequential(
                ConvNormAct(c, c, 3, groups=c),
                ConvNormAct(c, c_cls, 1),
                ConvNormAct(c_cls, c_cls, 3, groups=c_cls),
                ConvNormAct(c_cls, c_cls, 1),
                nn.Conv2d(c_cls, num_classes, 1),
            )
            for c in in_channels
        )
        self._init_biases(prior_prob)

    def _init_biases(self, prior_prob: float) -> None:
        for branch in self.cls:
            _, bias = _prediction_layer(branch)
            nn.init.constant_(bias, -math.log((1 - prior_prob) / prior_prob))
        for branch in self.reg:
            # l = t = r = b = 1 stride: every prior starts as a 2x2-stride box around itself,
            # which overlaps any object whose centre is within a stride (TAL needs IoU > 0).
            weight, bias = _prediction_layer(branch)
            nn.init.constant_(bias, 1.0)
            nn.init.normal_(weight, std=0.01)

    def forward(self, feats: Sequence[Tensor]) -> HeadOutput:
        """Predict on every level and concatenate."""
        logits, boxes, priors, strides = [], [], [], []
        for feat, stride, reg, cls in zip(feats, self.strides, self.reg, self.cls, strict=True):
            h, w = feat.shape[-2:]
            # float32 even under autocast: fp16 steps are 0.5-1 px at x = 1000 px, as large
            # as the localisation error that matters for a 6 px object.
            points = grid_points(h, w, stride, device=feat.device)  # (HW, 2)
            reg_out, cls_out = reg(feat).float(), cls(feat).float()
            ltrb = reg_out.flatten(2).transpose(1, 2) * stride  # (B, 4, H, W) -> (B, HW, 4)
            xyxy = [points - ltrb[..., :2], points + ltrb[..., 2:]]  # 2 x (B, HW, 2)
            boxes.append(torch.cat(xyxy, dim=-1))  # -> (B, HW, 4) x1 y1 x2 y2
            logits.append(cls_out.flatten(2).transpose(1, 2))  # (B, K, H, W) -> (B, HW, K)
            priors.append(points)
            strides.append(points.new_full((h * w,), float(stride)))
        height, width = feats[0].shape[-2] * self.strides[0], feats[0].shape[-1] * self.strides[0]
        return HeadOutput(
            cls_logits=torch.cat(logits, dim=1),  # L x (B, HW_l, K) -> (B, N, K)
            boxes=torch.cat(boxes, dim=1),  # L x (B, HW_l, 4) -> (B, N, 4)
            priors=torch.cat(priors),  # L x (HW_l, 2) -> (N, 2)
            strides=torch.cat(strides),  # L x (HW_l,) -> (N,)
            level_sizes=tuple(p.shape[0] for p in priors),
            image_size=(height, width),
        )


class TaskAlignedLoss(nn.Module):
    """Training objective of :class:`DecoupledHead` (TOOD assignment, QFL + GIoU).

    QFL against the soft quality targets, and GIoU weighted by each positive's box weight
    (see :mod:`rsdet.models.assigners`). Both terms are sums over the batch divided by the
    sum of the quality targets (at least 1), as in YOLOv8. An image without targets gives a
    box loss of exactly 0 and a classification loss that pushes every prior towards
    background.

    Args:
        assigner: the prior-to-box assignment (default :class:`TaskAlignedAssigner`).
        cls_weight, box_weight: loss weights (TOOD / GFL: 1 and 2).
    """

    def __init__(
        self,
        assigner: TaskAlignedAssigner | None = None,
        cls_weight: float = 1.0,
        box_weight: float = 2.0,
    ) -> None:
        super().__init__()
        self.assigner = assigner if assigner is not None else TaskAlignedAssigner()
        self.cls_weight, self.box_weight = cls_weight, box_weight

    def forward(self, out: HeadOutput, targets: Sequence[Targets]) -> dict[str, Tensor]:
        """Return ``{"cls": ..., "box": ...}`` for a batch and its per-image targets."""
        if len(targets) != out.cls_logits.shape[0]:
            raise ValueError(f"{out.cls_logits.shape[0]} images but {len(targets)} targets")
        cls_terms, box_terms, norm = [], [], out.boxes.new_zeros(())
        for logits, boxes, t in zip(out.cls_logits, out.boxes, targets, strict=True):
            gt = t.boxes if isinstance(t.boxes, HBoxes) else t.boxes.envelope()
            gt = gt.to(boxes.device)
            a = self.assigner(
                logits.detach().sigmoid(),
                boxes.detach(),
                out.priors,
                out.strides,
                gt,
                t.labels.to(boxes.device),
                t.ignore.to(boxes.device).bool(),
            )
            matched = a.gt_index[a.pos]  # (P,) gt of each positive, in the order of a.quality
            soft = torch.zeros_like(logits)  # (N, K) soft one-hot
            soft[a.pos, t.labels.to(boxes.device)[matched]] = a.quality.to(soft.dtype)
            qfl = quality_focal_loss(logits, soft) * ~a.ignored[:, None]
            cls_terms.append(qfl.sum())
            giou = giou_loss(boxes[a.pos], gt.tensor[matched].to(boxes))  # (P,)
            box_terms.append((giou * a.box_weight).sum())  # exactly 0 when P == 0
            norm = norm + a.quality.sum()
        norm = norm.clamp(min=1.0)  # per-image scalars below: B x () -> (B,) -> summed
        return {
            "cls": self.cls_weight * torch.stack(cls_terms).sum() / norm,
            "box": self.box_weight * torch.stack(box_terms).sum() / norm,
        }


def decode_detections(
    cls_logits: Tensor,
    boxes: Tensor,
    level_sizes: Sequence[int],
    image_hw: tuple[int, int],
    post: Postprocess,
) -> list[Detections]:
    """Per image: threshold, keep the top candidates per level, class-aware NMS, cap.

    Args:
        cls_logits: (B, N, K) class logits, levels concatenated finest first.
        boxes: (B, N, 4) ``x1 y1 x2 y2`` in input pixels.
        level_sizes: priors per level (sums to N).
        image_hw: ``(height, width)`` of the input; boxes are clipped to it and empty ones
            dropped.
        post: thresholds and caps.

    Returns:
        One :class:`Detections` (HBoxes in input pixels) per image.
    """
    height, width = image_hw
    k = cls_logits.shape[-1]
    results = []
    for logits, image_boxes in zip(cls_logits, boxes, strict=True):
        scores = logits.sigmoid().flatten()  # (N, K) -> (N K,): one entry per (prior, class)
        idx = []
        for start, n in zip(_starts(level_sizes), level_sizes, strict=True):
            level = scores[start * k : (start + n) * k]
            keep = (level > post.score_thr).nonzero().squeeze(1)
            if keep.numel() > post.pre_nms_top_k:
                keep = keep[level[keep].topk(post.pre_nms_top_k).indices]
            idx.append(keep + start * k)
        flat = torch.cat(idx)  # L x (M_l,) -> (M,) indices into the (N K,) scores
        prior, label = flat // k, flat % k
        dets = HBoxes(image_boxes[prior]).clip(height, width)
        valid = dets.nonempty()
        dets, score, label = dets[valid], scores[flat][valid], label[valid]
        order = batched_nms(dets, score, label, post.iou_thr)[: post.max_det]
        results.append(Detections(dets[order], score[order], label[order]))
    return results


def _prediction_layer(branch: nn.Module) -> tuple[Tensor, Tensor]:
    """Weight and bias of the final (prediction) conv of a head branch."""
    last = list(branch.children())[-1]
    bias = last.bias if isinstance(last, nn.Conv2d) else None
    if not isinstance(last, nn.Conv2d) or bias is None:
        raise TypeError(f"a head branch must end with a biased Conv2d, got {type(last).__name__}")
    return last.weight, bias


def _starts(sizes: Sequence[int]) -> list[int]:
    """Offsets of consecutive blocks of the given sizes."""
    return [sum(sizes[:i]) for i in range(len(sizes))]
