"""DCFL: Dynamic Coarse-to-Fine Learning for oriented tiny objects, in plain PyTorch.

Xu, Ding, Wang, Yang, Yu, Yu, Xia, "Dynamic Coarse-to-Fine Learning for Oriented Tiny Object
Detection", CVPR 2023 (arXiv 2304.08876). A one-stage RetinaNet-O whose head carries a
*Prior Capturing Block* (a dilated conv, then a learned DCNv2 whose offsets the cls branch
shares) and whose labels come from the coarse-to-fine assigner of
:mod:`rsdet.models.assigners.c2f`, fed with *dynamic priors*: the static square priors with
centres moved by the mean DCN offset (assignment only; boxes are decoded from static priors).

Figure:  image -> ResNet (C3-C5) -> FPN (P3-P7) -> DCFL head -> {loss | decode + rotated NMS}.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from rsdet.models.assigners import Assigner, C2FAssigner, MaxIoUAssigner, ignore_inside
from rsdet.models.backbones import Backbone, BackboneConfig, build_backbone
from rsdet.models.contract import DetectorNetwork
from rsdet.models.fpn import FPN
from rsdet.models.losses import rotated_iou_loss, sigmoid_focal_loss
from rsdet.models.ops import ModulatedDeformConv2d
from rsdet.models.priors import grid_points
from rsdet.models.rbox_coder import DCFL_CODER
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections, HBoxes, RBoxes, Targets, batched_nms

__all__ = ["DCFL", "DCFLConfig", "DCFLHead", "DCFLRaw", "build_dcfl"]

STRIDES = (8, 16, 32, 64, 128)  # P3-P7


@dataclass(frozen=True)
class DCFLConfig:
    """Everything that defines a DCFL network (stored in checkpoints as ``arch_config``).

    Attributes:
        num_classes: object classes (15 for DOTA-v1.0).
        in_channels: input bands.
        backbone: any name of :data:`rsdet.models.backbones.BACKBONES` (an unknown one is a
            ConfigError): ``"resnet50"`` (the paper), ``"resnet101"``, ``"resnet18"`` /
            ``"resnet34"``, or for CPU use the YOLOv8-style CSP backbone at nano (``"csp-n"``:
            width 0.25, depth 0.33) or small (``"csp-s"``: width 0.5) size, or a mobile one
            (``"mobilenetv3-large"``, ``"tinynet-c"`` ...). ``frozen_stages`` and
            ``norm_eval`` concern the ResNets only.
        backbone_weights: a torchvision-style ImageNet state-dict file, or None to train the
            backbone from scratch. ``frozen_stages`` and ``norm_eval`` apply only with
            weights: a random backbone must learn all its stages and BN statistics.
        frozen_stages: backbone stages kept fixed with weights (1: stem + layer1).
        norm_eval: keep backbone BN in eval mode with weights.
        neck_channels: FPN width (256).
        feat_channels: head width (256).
        stacked_convs: head convs per branch, the two PCB layers included (4).
        dilation: dilation of the PCB's first conv (3; 4 in the DOTA-v1.0 config).
        prior_scale: prior side = ``prior_scale * stride`` (4: 32 px on P3 ... 512 px on P7).
        assigner: ``"c2f"`` (DCFL) or ``"iou"`` (RetinaNet-O max-IoU, the ablation).
        dynamic_prior: assign with offset-moved priors (DCFL) or static ones.
        fix_offset_scale: scale the mean DCN offset by the level's stride; officially it is
            scaled by ``(image height / 256) * 2^level``, i.e. stride / 2 at 1024 px.
        c2f: coarse-to-fine constants and quirk flags.
        iou: max-IoU thresholds.
        focal_alpha, focal_gamma: focal loss (0.25, 2).

    Test-time thresholds (DCFL's DOTA values: score 0.05, rotated NMS 0.4, 2000 per image,
    2000 candidates per level) are the model's ``score_thr`` / ``iou_thr`` / ``max_det`` /
    ``pre_nms_top_k`` (:class:`~rsdet.models.spec.ModelSpec`), like every rsdet detector's.
    """

    num_classes: int = 15
    in_channels: int = 3
    backbone: str = "resnet50"
    backbone_weights: str | None = None
    frozen_stages: int = 1
    norm_eval: bool = True
    neck_channels: int = 256
    feat_channels: int = 256
    stacked_convs: int = 4
    dilation: int = 3
    prior_scale: float = 4.0
    assigner: Literal["c2f", "iou"] = "c2f"
    dynamic_prior: bool = True
    fix_offset_scale: bool = False
    c2f: C2FAssigner = field(default_factory=C2FAssigner)
    iou: MaxIoUAssigner = field(default_factory=MaxIoUAssigner)
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0

    def __post_init__(self) -> None:
        self.backbone_config()  # an unknown backbone name is a ConfigError here

    def backbone_config(self) -> BackboneConfig:
        """The backbone part of this config (C2-C5, or C3-C5 of a CSP, down to stride 32)."""
        return BackboneConfig(
            self.backbone,
            self.in_channels,
            weights=self.backbone_weights,
            frozen_stages=self.frozen_stages,
            norm_eval=self.norm_eval,
        )


class DCFLRaw(NamedTuple):
    """Raw outputs of :class:`DCFL`, one tensor per level P3-P7.

    Attributes:
        cls_logits: (B, C, H_l, W_l) class logits per level.
        deltas: (B, 5, H_l, W_l) box deltas of the static priors per level.
    """

    cls_logits: list[Tensor]
    deltas: list[Tensor]


class DCFLHead(nn.Module):
    """Shared head over P3-P7: per branch ``stacked_convs - 2`` conv+ReLU, then the PCB.

    The PCB is a dilated 3x3 conv (official: an mmcv DeformConv2d with constant offsets
    ``(d - 1) p_k``, which samples integer positions and is therefore exactly this conv) and a
    DCNv2; the reg branch's DCN predicts offsets and mask, the cls branch's DCN reuses them.
    Neither PCB layer has a bias or an activation (as in the official head).

    Output per level: cls logits (B, C, H, W), deltas (B, 5, H, W), offsets (B, 18, H, W) in
    feature pixels ``[dy_0, dx_0, ..., dy_8, dx_8]``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 256,
        feat_channels: int = 256,
        stacked_convs: int = 4,
        dilation: int = 3,
    ) -> None:
        super().__init__()
        if stacked_convs < 2:
            raise ValueError("stacked_convs counts the two PCB layers and must be >= 2")

        def tower() -> nn.Sequential:  # (stacked_convs - 2) x [3x3 conv + ReLU]
            layers: list[nn.Module] = []
            for i in range(stacked_convs - 2):
                c_in = in_channels if i == 0 else feat_channels
                layers += [nn.Conv2d(c_in, feat_channels, 3, 1, 1), nn.ReLU(inplace=True)]
            return nn.Sequential(*layers)

        c_pcb = feat_channels if stacked_convs > 2 else in_channels
        self.cls_convs, self.reg_convs = tower(), tower()
        self.cls_dilated = nn.Conv2d(c_pcb, feat_channels, 3, 1, dilation, dilation, bias=False)
        self.reg_dilated = nn.Conv2d(c_pcb, feat_channels, 3, 1, dilation, dilation, bias=False)
        self.reg_offset = nn.Conv2d(feat_channels, 27, 3, 1, 1)  # 9 dy/dx pairs + 9 mask logits
        self.cls_dcn = ModulatedDeformConv2d(feat_channels, feat_channels)
        self.reg_dcn = ModulatedDeformConv2d(feat_channels, feat_channels)
        self.cls_out = nn.Conv2d(feat_channels, num_classes, 3, 1, 1)
        self.reg_out = nn.Conv2d(feat_channels, 5, 3, 1, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        """Init as mmcv: N(0, 0.01) convs; prior prob 0.01 for the classifier; kaiming PCB."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.cls_out.bias is not None:  # prior probability 0.01 (focal loss paper)
            nn.init.constant_(self.cls_out.bias, -math.log((1 - 0.01) / 0.01))
        for conv in (self.cls_dilated, self.reg_dilated):  # official DeformConv2d init
            nn.init.kaiming_uniform_(conv.weight, nonlinearity="relu")

    def forward_level(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, 256, H, W) -> cls (B, C, H, W), deltas (B, 5, H, W), offsets (B, 18, H, W)."""
        cls = self.cls_dilated(self.cls_convs(x))
        reg = self.reg_dilated(self.reg_convs(x))
        o1, o2, m = self.reg_offset(reg).chunk(3, dim=1)  # (B, 27, H, W) -> 3 x (B, 9, H, W)
        offset, mask = torch.cat([o1, o2], dim=1), m.sigmoid()  # (B, 18, H, W), (B, 9, H, W)
        cls = self.cls_dcn(cls, offset, mask)  # "Align": the cls branch samples where reg does
        reg = self.reg_dcn(reg, offset, mask)
        return self.cls_out(cls), self.reg_out(reg), offset

    def forward(self, feats: list[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """P3-P7 -> per-level lists of cls logits, deltas and offsets."""
        outs = [self.forward_level(f) for f in feats]
        return [o[0] for o in outs], [o[1] for o in outs], [o[2] for o in outs]


class DCFL(DetectorNetwork[DCFLRaw]):
    """DCFL detector (Xu et al., CVPR 2023) following :mod:`rsdet.models.contract`.

    Input: (B, C, H, W) standardised images, H and W multiples of :attr:`size_divisor`.
    ``model(images)`` gives :class:`DCFLRaw`; :meth:`decode` turns it into :class:`RBoxes`
    in rsdet's canonical (le90) convention, in input pixels. With ``targets`` (one
    :class:`Targets` per image, boxes in input pixels): ``{"loss_cls", "loss_reg"}``, focal
    loss and ``-ln(rotated IoU)`` on decoded boxes, each summed and divided by
    ``sum_i max(#pos_i, 1)``.

    Args:
        backbone: C2-C5 (or C3-C5), strides ending at 32.
        neck: the FPN P3-P7.
        head: the DCFL head over P3-P7.
        assigner: coarse-to-fine (DCFL) or max-IoU (the ablation).
        dynamic_prior: move the priors by the mean DCN offset for assignment.
        fix_offset_scale: see :class:`DCFLConfig`.
        prior_scale: prior side in strides (4).
        focal: (alpha, gamma) of the focal loss.
    """

    box_type = "rbox"
    # P6/P7 come from stride-2 convs with padding 1, so their cell j is centred on cell 2j of
    # the level below: priors at j * stride stay aligned for any multiple of 32 and padding
    # to 128 would only add empty border.
    size_divisor = 32

    def __init__(
        self,
        backbone: Backbone,
        neck: FPN,
        head: DCFLHead,
        assigner: Assigner,
        dynamic_prior: bool = True,
        fix_offset_scale: bool = False,
        prior_scale: float = 4.0,
        focal: tuple[float, float] = (0.25, 2.0),
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.head = head
        self.assigner = assigner
        self.dynamic_prior, self.fix_offset_scale = dynamic_prior, fix_offset_scale
        self.prior_scale, self.focal = prior_scale, focal

    def forward(
        self, images: Tensor, targets: Sequence[Targets] | None = None
    ) -> DCFLRaw | dict[str, Tensor]:
        """Raw outputs, or the loss dict when ``targets`` are given (see the class docstring)."""
        if self.training and targets is None:
            raise ValueError("DCFL in train mode needs targets (call .eval() to detect)")
        feats = self.neck(self.backbone(images))  # P3-P7: 256 ch, strides 8/16/32/64/128
        cls, deltas, offsets = self.head(feats)
        if targets is None:
            return DCFLRaw(cls, deltas)
        priors = self.priors(feats)  # (N, 5) static priors, all levels
        moved = self.moved_priors(priors, offsets, images.shape[-2])  # (B, N, 5)
        # Assignment and losses in float32 even under autocast (pixel coordinates, IoUs).
        return self.loss(_flatten(cls).float(), _flatten(deltas).float(), priors, moved, targets)

    def parts(self) -> dict[str, nn.Module]:
        """The parts a cost breakdown lists (``rsdet info``)."""
        return {"backbone": self.backbone, "neck": self.neck, "head": self.head}

    def priors(self, feats: list[Tensor]) -> Tensor:
        """(N, 5) le135 static priors: squares of side ``prior_scale * stride``, theta 0.

        Centres sit on cell corners ``(j s, i s)`` (mmdet's anchor convention), level by level
        in the order of the flattened head outputs.
        """
        out = []
        for f, s in zip(feats, STRIDES, strict=True):
            h, w = f.shape[-2:]
            pts = grid_points(h, w, s, offset=0.0, device=f.device)  # (HW, 2) float32
            size = pts.new_full((h * w, 2), self.prior_scale * s)
            out.append(torch.cat([pts, size, pts.new_zeros(h * w, 1)], dim=1))  # (HW, 5)
        return torch.cat(out, dim=0)  # (N, 5)

    def moved_priors(self, priors: Tensor, offsets: list[Tensor], image_h: int) -> Tensor:
        """The dynamic prior: static priors shifted by the detached mean DCN offset.

        The mean of the 9 taps' offsets (feature pixels) is scaled to input pixels by the
        level's stride with ``fix_offset_scale``, else by the official
        ``(image_h / 256) * 2^level`` (stride / 2 for 1024-px inputs).

        Returns:
            (B, N, 5) priors; equal to ``priors`` when the dynamic prior is off.
        """
        b = offsets[0].shape[0]
        if not self.dynamic_prior:
            return priors[None].expand(b, -1, -1)
        shifts = []
        for level, (off, s) in enumerate(zip(offsets, STRIDES, strict=True)):
            scale = s if self.fix_offset_scale else image_h / 256 * 2**level
            taps = off.detach().reshape(b, 9, 2, -1)  # (B, 18, H, W) -> (B, 9, [dy, dx], HW)
            mean = taps.mean(dim=1).flip(1).transpose(1, 2)  # (B, HW, [dx, dy]) feature px
            shifts.append(mean.float() * scale)
        shift = torch.cat(shifts, dim=1)  # (B, N, 2) input px
        sizes = priors[None, :, 2:].expand(b, -1, -1)  # (B, N, 3): w, h, theta unchanged
        return torch.cat([priors[None, :, :2] + shift, sizes], dim=2)  # (B, N, 5)

    def loss(
        self,
        logits: Tensor,
        deltas: Tensor,
        priors: Tensor,
        moved: Tensor,
        targets: Sequence[Targets],
    ) -> dict[str, Tensor]:
        """Focal + rotated-IoU loss, both normalised by ``sum_i max(#pos_i, 1)``.

        Args:
            logits: (B, N, C). deltas: (B, N, 5). priors: (N, 5). moved: (B, N, 5).
            targets: one per image.
        """
        terms = [
            self.image_loss(logits[i], deltas[i], priors, moved[i], t)
            for i, t in enumerate(targets)
        ]
        num_pos = sum(max(n, 1) for _, _, n in terms)
        loss_cls = torch.stack([c for c, _, _ in terms]).sum() / num_pos  # (B,) -> ()
        # "+ 0 * deltas.sum()" keeps the graph whole (and the loss exactly 0) with no positives.
        loss_reg = torch.stack([r for _, r, _ in terms]).sum() / num_pos + 0 * deltas.sum()
        return {"loss_cls": loss_cls, "loss_reg": loss_reg}

    def image_loss(
        self, logits: Tensor, deltas: Tensor, priors: Tensor, moved: Tensor, t: Targets
    ) -> tuple[Tensor, Tensor, int]:
        """Summed focal and IoU losses of one image, and its number of positives.

        Args:
            logits: (N, C). deltas: (N, 5). priors: (N, 5) static. moved: (N, 5) dynamic.
            t: the image's targets; boxes flagged ``ignore`` teach nothing and silence the
                negatives whose prior centre falls inside them.
        """
        boxes = _rboxes(t.boxes).to(priors)
        keep = ~t.ignore.to(priors.device).bool()
        a = self.assigner(priors, moved, boxes[keep], logits.detach(), deltas.detach())
        a = ignore_inside(a, priors[:, :2], boxes[~keep])
        pos = torch.nonzero(a.positive).squeeze(1)
        gt = a.gt_index[pos]
        onehot = torch.zeros_like(logits)  # (N, C); background rows stay 0
        onehot[pos, t.labels.to(priors.device)[keep][gt]] = 1.0
        valid = ~a.ignored
        loss_cls = sigmoid_focal_loss(logits[valid], onehot[valid], *self.focal).sum()
        pred = DCFL_CODER.decode(priors[pos], deltas[pos])  # static priors: the real boxes
        loss_reg = rotated_iou_loss(pred, boxes[keep].tensor[gt], mode="log").sum()
        return loss_cls, loss_reg, int(pos.numel())

    @torch.no_grad()
    def decode(
        self, raw: DCFLRaw, image_hw: tuple[int, int], postprocess: Postprocess
    ) -> list[Detections]:
        """Per image: top ``pre_nms_top_k`` per level -> decode -> threshold -> rotated NMS."""
        cls, deltas = raw
        priors = self.priors(cls)  # (N, 5): the level maps give the grid, whatever the channels
        level_priors = torch.split(priors, [c.shape[-2] * c.shape[-1] for c in cls])
        top_k, out = postprocess.pre_nms_top_k, []
        for b in range(cls[0].shape[0]):
            scores, boxes = [], []
            for c, d, p in zip(cls, deltas, level_priors, strict=True):
                s = c[b].flatten(1).T.float().sigmoid()  # (C, H, W) -> (HW, C)
                top = s.max(dim=1).values.topk(min(top_k, s.shape[0])).indices
                reg = d[b].flatten(1).T[top].float()  # (5, H, W) -> (HW, 5) -> (k, 5)
                boxes.append(DCFL_CODER.decode(p[top], reg, max_shape=image_hw))
                scores.append(s[top])
            out.append(_select(torch.cat(scores), torch.cat(boxes), postprocess))
        return out

    def dense_predictions(self, raw: DCFLRaw, image_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Every static prior decoded, (B, N, 5) le90 boxes; sigmoid scores (B, N, C).

        The same arithmetic as :meth:`decode` (which first keeps the top priors per level).
        """
        cls, deltas = raw
        priors = self.priors(cls)  # (N, 5) le135
        boxes = DCFL_CODER.decode(priors, _flatten(deltas).float(), max_shape=image_hw)
        le90 = RBoxes(boxes.reshape(-1, 5)).regularized().tensor  # (B N, 5) -> canonical
        return le90.reshape(boxes.shape), _flatten(cls).float().sigmoid()


def _select(scores: Tensor, boxes: Tensor, pp: Postprocess) -> Detections:
    """(K, C) scores and (K, 5) le135 boxes -> thresholded, NMS-ed, capped detections."""
    k, c = torch.nonzero(scores > pp.score_thr, as_tuple=True)
    dets = RBoxes.from_le135(boxes[k])  # canonical rsdet convention from here on
    s = scores[k, c]
    keep = batched_nms(dets, s, c, pp.iou_thr)[: pp.max_det]
    return Detections(dets[keep], s[keep], c[keep])


def _flatten(maps: list[Tensor]) -> Tensor:
    """Per-level (B, K, H, W) maps -> (B, sum HW, K), levels in order."""
    flat = [m.flatten(2).transpose(1, 2) for m in maps]  # (B, K, H, W) -> (B, HW, K)
    return torch.cat(flat, dim=1)  # (B, N, K)


def _rboxes(boxes: HBoxes | RBoxes) -> RBoxes:
    return boxes if isinstance(boxes, RBoxes) else RBoxes.from_hboxes(boxes)


def build_dcfl(config: DCFLConfig, load_weights: bool = True) -> DCFL:
    """Build the parts of a DCFL network from its config and wire them.

    Args:
        config: the architecture.
        load_weights: read ``config.backbone_weights`` now (training). The model zoo passes
            False: a checkpoint brings all weights, and the ImageNet file named at training
            time need not exist where the model is used.

    Raises:
        ConfigError: unknown backbone, or a weights file for a backbone that takes none.
        InputError: the backbone weights file is unreadable or does not fit.
    """
    backbone = build_backbone(config.backbone_config(), load_weights)
    head = DCFLHead(
        config.num_classes,
        config.neck_channels,
        config.feat_channels,
        config.stacked_convs,
        config.dilation,
    )
    neck = FPN(backbone.out_channels, config.neck_channels)  # P3-P7
    assigner: Assigner = config.c2f if config.assigner == "c2f" else config.iou
    return DCFL(
        backbone,
        neck,
        head,
        assigner,
        dynamic_prior=config.dynamic_prior,
        fix_offset_scale=config.fix_offset_scale,
        prior_scale=config.prior_scale,
        focal=(config.focal_alpha, config.focal_gamma),
    )
