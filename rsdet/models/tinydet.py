"""TinyDet: a two-stage detector for small objects under a 1-GFLOP budget, in plain PyTorch.

Chen, Cheng, Fang, Zhang, Li, Liu, Wang, "TinyDet: Accurate Small Object Detection in
Lightweight Generic Detectors" (arXiv 2304.03428; SCIENCE CHINA Inf. Sci. 2023), after the
official code ``hustvl/TinyDet`` (mmdetection v1). The figure (TinyDet-M, 320 x 320 input)::

    image -> MobileNetV3-BC -> C2..C6: 36/4 60/8 112/16 160/32 160/64
          -> TinyFPN: 1x1 laterals to 245 ch, top-down sum, SCConv (groups 49, 7, 5, 1, 1)
          -> TinyRPN (shared): SCConv (g 49) + ReLU -> 3 objectness + 12 deltas per position
             anchors 12.8-204.8 px (scale 3.2 x stride, ratios 0.5 / 1 / 2)
          -> proposals: per level 1000 best, NMS 0.7; 200 best per image
          -> PSRoIAlign (5 x 7 x 7 from P4/P8/P16 by RoI size) -> FC 1024 -> K + 1 scores, 4 deltas
          -> {RPN + R-CNN (OHEM) losses | decode + linear soft-NMS}

TinyDet-S uses MobileNetV3-D and drops the stride-4 level; TinyDet-L is TinyDet-M at 512 px
with larger anchors (:data:`SIZES`). Any backbone of :mod:`rsdet.models.backbones` can stand
in, as long as it outputs every pyramid stride (``backbone: csp-n, strides: [4, 8, 16, 32]``).

**Raw outputs** (:class:`TinyDetRaw`, what export traces): a two-stage detector cannot defer
all of its selection to decoding, since the R-CNN runs on the proposals. ``forward(images)``
therefore runs the proposal stage with the config's test settings and returns, per image, a
fixed number R of proposals (``test_proposals.max_num``, 200) padded with zero boxes and a
validity mask, and the R-CNN outputs for all of them. :meth:`TinyDet.decode` does the rest with
the thresholds passed in: box decoding, softmax, score threshold and soft-NMS.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rsdet.config import ConfigError
from rsdet.models.anchors import AnchorGenerator
from rsdet.models.backbones import Backbone, BackboneConfig, build_backbone
from rsdet.models.contract import DetectorNetwork
from rsdet.models.rcnn import RCNN, RCNNTrainConfig, rcnn_detections, rcnn_loss
from rsdet.models.spec import Postprocess
from rsdet.models.tinyfpn import TinyFPN
from rsdet.models.tinyrpn import ProposalConfig, RPNTrainConfig, TinyRPN, propose, rpn_loss
from rsdet.structures import Detections, Targets

__all__ = ["INPUT_SIZES", "SIZES", "TinyDet", "TinyDetConfig", "TinyDetRaw", "build_tinydet"]


@dataclass(frozen=True)
class TinyDetConfig:
    """Architecture of a :class:`TinyDet` (stored in checkpoints as ``arch_config``).

    The defaults are TinyDet-M (``configs/tinydet_M.py``); :data:`SIZES` holds S, M and L.

    Attributes:
        num_classes: object classes K.
        in_channels: image bands.
        backbone: a name of :data:`rsdet.models.backbones.BACKBONES`; built down to the
            coarsest of ``strides`` and must output every one of them.
        backbone_weights: a local weights file for the backbone (trained in full, no frozen
            stages, as TinyDet), or None to start from scratch.
        backbone_align: the backbone's feature-alignment pool (MobileNetV3 / EfficientNet
            backbones only); None: the backbone's design (on for MobileNetV3-BC and -D).
        strides: pyramid (and anchor) strides, doubling, finest first.
        fpn_groups: SCConv groups of TinyFPN, one per level.
        rpn_groups: SCConv groups of TinyRPN.
        anchor_scale: anchor side in strides (S 2.25, M 3.2, L 5.12).
        anchor_ratios: anchor height / width ratios.
        roi_strides: the finest pyramid levels the R-CNN pools from.
        finest_scale: RoI side (px) below which ``2 *`` this pools from ``roi_strides[0]``.
        pooled_dim: PSRoIAlign output channels D; the pyramid has ``D * roi_size**2`` (245).
        roi_size: PSRoIAlign bins per side (7).
        fc_channels: width of the R-CNN's FC (1024).
        train_proposals, test_proposals: proposal selection when training / detecting; the
            test ``max_num`` is the fixed number R of RoIs per image in the raw outputs.
        rpn, rcnn: training targets of the two stages.
    """

    num_classes: int = 80
    in_channels: int = 3
    backbone: str = "mobilenetv3-bc"
    backbone_weights: str | None = None
    backbone_align: bool | None = None
    strides: tuple[int, ...] = (4, 8, 16, 32, 64)
    fpn_groups: tuple[int, ...] = (49, 7, 5, 1, 1)
    rpn_groups: int = 49
    anchor_scale: float = 3.2
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    roi_strides: tuple[int, ...] = (4, 8, 16)
    finest_scale: float = 22.4
    pooled_dim: int = 5
    roi_size: int = 7
    fc_channels: int = 1024
    train_proposals: ProposalConfig = field(
        default_factory=lambda: ProposalConfig(
            pre_nms=2000, post_nms=2000, max_num=2000, nms_thr=0.7
        )
    )
    test_proposals: ProposalConfig = field(
        default_factory=lambda: ProposalConfig(
            pre_nms=1000, post_nms=1000, max_num=200, nms_thr=0.7
        )
    )
    rpn: RPNTrainConfig = field(default_factory=RPNTrainConfig)
    rcnn: RCNNTrainConfig = field(default_factory=RCNNTrainConfig)

    def __post_init__(self) -> None:
        s, width = self.strides, self.channels
        if not s or any(b != 2 * a for a, b in itertools.pairwise(s)):
            raise ConfigError(f"strides: expected doubling strides, got {list(s)}")
        if len(self.fpn_groups) != len(s):
            raise ConfigError(f"fpn_groups: {len(self.fpn_groups)} values for {len(s)} strides")
        bad = [g for g in (*self.fpn_groups, self.rpn_groups) if g < 1 or width % g]
        if bad:
            raise ConfigError(f"fpn_groups / rpn_groups: {bad[0]} does not divide {width} channels")
        if not self.roi_strides or self.roi_strides != s[: len(self.roi_strides)]:
            raise ConfigError(
                f"roi_strides: expected the finest of {list(s)}, got {list(self.roi_strides)}"
            )
        if self.num_classes < 1 or self.in_channels < 1:
            raise ConfigError("num_classes and in_channels: expected at least 1")

    @property
    def channels(self) -> int:
        """Pyramid width: ``pooled_dim * roi_size**2`` (245)."""
        return self.pooled_dim * self.roi_size**2


SIZES: dict[str, TinyDetConfig] = {
    "s": TinyDetConfig(
        backbone="mobilenetv3-d",
        strides=(8, 16, 32, 64),
        fpn_groups=(7, 5, 1, 1),
        anchor_scale=2.25,
        roi_strides=(8, 16),
        finest_scale=30.0,
    ),
    "m": TinyDetConfig(),
    "l": TinyDetConfig(anchor_scale=5.12, finest_scale=35.8),
}
INPUT_SIZES: dict[str, int] = {"s": 320, "m": 320, "l": 512}  # the paper's square inputs


class TinyDetRaw(NamedTuple):
    """Raw outputs of :class:`TinyDet`: R proposals per image and the R-CNN's outputs for them.

    Attributes:
        proposals: (B, R, 4) xyxy RoIs in input pixels, best first; zero rows after the last.
        valid: (B, R) bool, True for real proposals.
        cls_logits: (B, R, K + 1) class logits, background last (softmax gives scores).
        deltas: (B, R, 4) class-agnostic box deltas of the proposals (stds 0.1, 0.1, 0.2, 0.2).
    """

    proposals: Tensor
    valid: Tensor
    cls_logits: Tensor
    deltas: Tensor


class TinyDet(DetectorNetwork[TinyDetRaw]):
    """TinyDet (see the module docstring for the figure and what the raw outputs are).

    Follows :mod:`rsdet.models.contract`. With ``targets`` (HBoxes in input pixels) it returns
    ``{"loss_rpn_cls", "loss_rpn_bbox", "loss_rcnn_cls", "loss_rcnn_bbox"}``.

    Args:
        backbone: its last ``len(anchors.strides)`` levels feed the pyramid.
        neck: TinyFPN over those levels.
        rpn: TinyRPN, shared by all levels.
        anchors: the anchors of every level.
        rcnn: PSRoIAlign + FC head on the finest levels.
        config: the proposal and training settings (its ``train_proposals``,
            ``test_proposals``, ``rpn``, ``rcnn``).
    """

    box_type = "hbox"

    def __init__(
        self,
        backbone: Backbone,
        neck: TinyFPN,
        rpn: TinyRPN,
        anchors: AnchorGenerator,
        rcnn: RCNN,
        config: TinyDetConfig,
    ) -> None:
        super().__init__()
        self.backbone, self.neck, self.rpn, self.rcnn = backbone, neck, rpn, rcnn
        self.anchors = anchors
        self.num_levels = len(anchors.strides)
        self.size_divisor = anchors.strides[-1]
        self.train_proposals, self.test_proposals = config.train_proposals, config.test_proposals
        self.rpn_train, self.rcnn_train = config.rpn, config.rcnn

    def forward(
        self, images: Tensor, targets: Sequence[Targets] | None = None
    ) -> TinyDetRaw | dict[str, Tensor]:
        """Raw outputs, or the training losses when ``targets`` are given."""
        if self.training and targets is None:
            raise ValueError("TinyDet in train mode needs targets (call .eval() to detect)")
        feats = self.neck(self.backbone(images)[-self.num_levels :])  # 245 ch, e.g. /4 ... /64
        objectness, deltas = self.rpn(feats)  # per level (B, 3, H, W), (B, 12, H, W)
        anchors = self.anchors([(f.shape[-2], f.shape[-1]) for f in feats], images.device)
        hw = (images.shape[-2], images.shape[-1])
        if targets is None:
            boxes, valid = propose(objectness, deltas, anchors, hw, self.test_proposals)
            logits, box_deltas = self.rcnn(feats, _rois(boxes))  # (B * R, K + 1), (B * R, 4)
            b, r = valid.shape
            return TinyDetRaw(boxes, valid, logits.reshape(b, r, -1), box_deltas.reshape(b, r, 4))
        losses = rpn_loss(objectness, deltas, anchors, targets, hw, self.rpn_train)
        boxes, valid = propose(objectness, deltas, anchors, hw, self.train_proposals)
        proposals = [bx[v] for bx, v in zip(boxes, valid, strict=True)]
        losses.update(rcnn_loss(self.rcnn, feats, proposals, targets, self.rcnn_train))
        return losses

    def parts(self) -> dict[str, nn.Module]:
        """The parts a cost breakdown lists (``rsdet info``): the paper's table rows."""
        return {"backbone": self.backbone, "neck": self.neck, "rpn": self.rpn, "rcnn": self.rcnn}

    @torch.no_grad()
    def decode(
        self, raw: TinyDetRaw, image_hw: tuple[int, int], postprocess: Postprocess
    ) -> list[Detections]:
        """Per image: decode the valid proposals' boxes, score, soft-NMS per class, cap.

        See :func:`~rsdet.models.rcnn.rcnn_detections` for how ``postprocess`` is applied.
        """
        out = []
        for props, valid, logits, deltas in zip(*raw, strict=True):
            out.append(
                rcnn_detections(props[valid], logits[valid], deltas[valid], image_hw, postprocess)
            )
        return out

    def all_anchors(self, image_hw: tuple[int, int]) -> Tensor:
        """(N, 4) anchors of every level, in the RPN's output order, for an input of ``image_hw``.

        The input is padded to the size divisor, as :class:`~rsdet.models.detector.Detector`
        pads it.
        """
        d = self.size_divisor
        h, w = -(-image_hw[0] // d) * d, -(-image_hw[1] // d) * d  # ceil to the divisor
        sizes = [(h // s, w // s) for s in self.anchors.strides]
        return torch.cat(self.anchors(sizes))


def _rois(boxes: Tensor) -> Tensor:
    """(B, R, 4) boxes -> (B * R, 5) ``batch, x1, y1, x2, y2`` RoIs."""
    b, r, _ = boxes.shape
    batch = torch.arange(b, device=boxes.device, dtype=boxes.dtype).repeat_interleave(r)
    return torch.cat([batch[:, None], boxes.reshape(b * r, 4)], dim=1)  # (B*R, 5)


def build_tinydet(config: TinyDetConfig, load_weights: bool = True) -> TinyDet:
    """Build the parts of a TinyDet from its config and wire them.

    Args:
        config: the architecture (e.g. ``dataclasses.replace(SIZES["s"], num_classes=8)``).
        load_weights: read ``config.backbone_weights`` now (training); the model zoo passes
            False, as a checkpoint carries every weight.

    Raises:
        ConfigError: unknown backbone, or one that does not output ``config.strides``.
    """
    backbone = _backbone(config, load_weights)
    in_channels = backbone.out_channels[-len(config.strides) :]  # M: 36 60 112 160 160
    neck = TinyFPN(in_channels, config.channels, config.fpn_groups)
    anchors = AnchorGenerator(config.strides, (config.anchor_scale,), config.anchor_ratios)
    rpn = TinyRPN(config.channels, config.rpn_groups, anchors.num_anchors)
    rcnn = RCNN(
        config.roi_strides,
        config.finest_scale,
        config.num_classes,
        config.pooled_dim,
        config.roi_size,
        config.fc_channels,
    )
    return TinyDet(backbone, neck, rpn, anchors, rcnn, config)


def _backbone(config: TinyDetConfig, load_weights: bool) -> Backbone:
    """The named backbone down to the coarsest stride, its strides checked."""
    named = BackboneConfig(
        config.backbone,
        config.in_channels,
        max_stride=config.strides[-1],
        weights=config.backbone_weights,
        frozen_stages=0,
        norm_eval=False,
        align=config.backbone_align,
    )
    backbone = build_backbone(named, load_weights)
    if tuple(backbone.strides[-len(config.strides) :]) != config.strides:
        raise ConfigError(
            f"backbone: {config.backbone} has strides {backbone.strides}, "
            f"not ending at {config.strides}"
        )
    return backbone
