"""RS-TinyNet: a one-stage, anchor-free tiny-object detector with MDCA, ARB and PFDH.

After Jiang, Zhang and Mao, "RS-TinyNet: Stage-wise Feature Fusion Network for Detecting
Tiny Objects in Remote Sensing Images" (arXiv 2507.13120). Only the paper's abstract is
public, so this is an *RS-TinyNet-inspired* design: the base detector is a YOLOv8/11-style
network (the paper compares against YOLOv5m and YOLO11m), and each of the three modules
follows the closest published design that carries its name and purpose:

* **MDCA** (tiny-object saliency) -> MCA attention, :mod:`rsdet.models.mdca`;
* **ARB** (information flow) -> YOLOv9's auxiliary reversible branch, :mod:`rsdet.models.arb`;
* **PFDH** (multi-level fusion) -> AFPN progressive fusion + decoupled head,
  :mod:`rsdet.models.pfdh` and :mod:`rsdet.models.heads`.

The data path, as in the paper's figure::

    image -> CSP backbone -> C2..C5 (strides 4..32) -> MDCA on each level
          -> PFDH progressive fusion (or the plain PAN when pfdh=False)
          -> decoupled head -> raw (class logits, boxes)
          -> TAL loss (train) | decode + class-aware NMS (inference)
    training only: image + C2..C5 -> ARB auxiliary backbone -> auxiliary head -> 0.25 x loss

Each module can be switched off in :class:`RSTinyNetConfig` to measure its effect, and any
backbone of :mod:`rsdet.models.backbones` can replace the CSP one (``backbone: resnet50``).
:func:`build_rs_tinynet` builds the parts from a config; :class:`RSTinyNet` only wires them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from rsdet.config import ConfigError
from rsdet.models.arb import AuxiliaryReversibleBranch
from rsdet.models.backbones import Backbone, BackboneConfig, CSPBackbone, CSPScale, build_backbone
from rsdet.models.backbones.csp import scaled_depth
from rsdet.models.contract import DetectorNetwork
from rsdet.models.heads import DecoupledHead, TaskAlignedLoss, decode_detections
from rsdet.models.mdca import MDCA
from rsdet.models.pan import PAN
from rsdet.models.pfdh import ProgressiveFusion
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections, Targets

__all__ = ["SIZES", "RSTinyNet", "RSTinyNetConfig", "RSTinyNetRaw", "build_rs_tinynet"]

SIZES: dict[str, CSPScale] = {
    "n": CSPScale(depth=0.33, width=0.25, max_channels=128),  # CPU scene inference
    "s": CSPScale(depth=0.33, width=0.50, max_channels=512),
    "m": CSPScale(depth=0.67, width=0.75, max_channels=768),  # the paper's comparisons are m-scale
}


@dataclass(frozen=True)
class RSTinyNetConfig:
    """Architecture of an :class:`RSTinyNet` (stored in checkpoints as ``arch_config``).

    Attributes:
        size: ``"n"``, ``"s"`` or ``"m"`` (see :data:`SIZES`): the CSP backbone's size, the
            neck's depth, and the auxiliary backbone's size.
        num_classes: number of object classes.
        in_channels: image bands (3 for RGB, 4 for RGB + NIR, ...).
        strides: strides of the detection levels, finest first: consecutive powers of two
            from 4 or 8 up to at most 32. Stride 4 keeps 3-10 px objects on several cells.
        mdca: multi-dimensional collaborative attention on the backbone levels.
        arb: auxiliary reversible branch during training (no inference cost).
        pfdh: progressive fusion before the head; ``False`` uses the plain PAN neck.
        backbone: a name of :data:`rsdet.models.backbones.BACKBONES` instead of the
            size's CSP backbone (None); its last levels must have ``strides``.
    """

    size: Literal["n", "s", "m"] = "n"
    num_classes: int = 1
    in_channels: int = 3
    strides: tuple[int, ...] = (4, 8, 16, 32)
    mdca: bool = True
    arb: bool = True
    pfdh: bool = True
    backbone: str | None = None

    def __post_init__(self) -> None:
        s = self.strides
        doubling = all(b == 2 * a for a, b in itertools.pairwise(s))
        if len(s) < 2 or s[0] not in (4, 8) or s[-1] > 32 or not doubling:
            raise ConfigError(f"strides: expected doubling levels from 4 or 8 to <= 32, got {s}")
        if self.num_classes < 1:
            raise ConfigError(f"num_classes: expected at least 1, got {self.num_classes}")
        if self.in_channels < 1:
            raise ConfigError(f"in_channels: expected at least 1, got {self.in_channels}")


class RSTinyNetRaw(NamedTuple):
    """Raw outputs of :class:`RSTinyNet`: all levels concatenated, finest first.

    Attributes:
        cls_logits: (B, N, K) class logits (sigmoid gives scores).
        boxes: (B, N, 4) ``x1 y1 x2 y2`` in input pixels.
    """

    cls_logits: Tensor
    boxes: Tensor


class RSTinyNet(DetectorNetwork[RSTinyNetRaw]):
    """RS-TinyNet-inspired detector (see the module docstring for the design and sources).

    Follows :mod:`rsdet.models.contract`: ``model(images)`` gives :class:`RSTinyNetRaw`,
    :meth:`decode` turns it into HBoxes ``x1 y1 x2 y2`` in input pixels after class-aware
    NMS. In train mode ``model(images, targets)`` returns the losses ``{"cls", "box"}``
    plus ``{"aux_cls", "aux_box"}`` (already weighted) when ARB is on.

    Args:
        backbone: its last ``len(strides)`` levels feed the neck.
        attention: one module per level applied to the backbone maps (MDCA or identity).
        neck: multi-level fusion (ProgressiveFusion for PFDH, or PAN).
        head: the decoupled head, at ``strides``.
        criterion: the training loss of the head outputs.
        aux_branch: ARB, or None for no auxiliary supervision.
    """

    box_type = "hbox"

    def __init__(
        self,
        backbone: Backbone,
        attention: nn.ModuleList,
        neck: nn.Module,
        head: DecoupledHead,
        criterion: TaskAlignedLoss,
        aux_branch: AuxiliaryReversibleBranch | None = None,
    ) -> None:
        super().__init__()
        self.strides = head.strides
        self.num_levels = len(self.strides)
        self.backbone = backbone
        self.attention = attention
        self.neck = neck
        self.head = head
        self.criterion = criterion
        self.aux_branch = aux_branch
        self.aux_weight = 0.25  # YOLOv9: L = L_main + 0.25 L_aux
        self.size_divisor = self.strides[-1]

    def forward(
        self, images: Tensor, targets: Sequence[Targets] | None = None
    ) -> RSTinyNetRaw | dict[str, Tensor]:
        """Raw outputs, or the training losses when ``targets`` are given."""
        if self.training and targets is None:
            raise ValueError("train mode needs targets; call model.eval() to detect")
        feats = self.backbone(images)[-self.num_levels :]  # C_l, finest first, e.g. 32/4..128/32
        feats = [att(f) for att, f in zip(self.attention, feats, strict=True)]  # MDCA
        out = self.head(self.neck(feats))  # PFDH (or PAN) -> decoupled head
        if targets is None:
            return RSTinyNetRaw(out.cls_logits, out.boxes)
        losses: dict[str, Tensor] = self.criterion(out, targets)
        if self.aux_branch is not None:  # ARB: extra supervision reaching the backbone
            aux = self.criterion(self.aux_branch(images, feats), targets)
            losses.update({f"aux_{k}": self.aux_weight * v for k, v in aux.items()})
        return losses

    def decode(
        self, raw: RSTinyNetRaw, image_hw: tuple[int, int], postprocess: Postprocess
    ) -> list[Detections]:
        """Threshold, top-k per level, class-aware NMS, cap (see :func:`decode_detections`)."""
        height, width = image_hw
        sizes = tuple((height // s) * (width // s) for s in self.strides)
        if sum(sizes) != raw.boxes.shape[1]:
            raise ValueError(f"input {height}x{width} is not a multiple of {self.size_divisor}")
        return decode_detections(raw.cls_logits, raw.boxes, sizes, image_hw, postprocess)

    def dense_predictions(
        self, raw: RSTinyNetRaw, image_hw: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """Boxes clipped to the input, (B, N, 4) ``x1 y1 x2 y2``; sigmoid scores (B, N, K)."""
        height, width = image_hw
        x1, y1, x2, y2 = raw.boxes.unbind(-1)
        clipped = [x1.clamp(0, width), y1.clamp(0, height), x2.clamp(0, width), y2.clamp(0, height)]
        return torch.stack(clipped, dim=-1), raw.cls_logits.sigmoid()

    def parts(self) -> dict[str, nn.Module]:
        """The parts a cost breakdown lists (``rsdet info``), ARB (training only) excluded."""
        return {
            "backbone": self.backbone,
            "attention": self.attention,
            "neck": self.neck,
            "head": self.head,
        }

    def deploy(self) -> RSTinyNet:
        """Drop the training-only auxiliary branch (inference outputs are unchanged)."""
        self.aux_branch = None
        return self


def build_rs_tinynet(config: RSTinyNetConfig, load_weights: bool = True) -> RSTinyNet:
    """Build the parts of an RS-TinyNet from its config and wire them.

    Args:
        config: the architecture.
        load_weights: unused (no RS-TinyNet part reads a weights file); the argument keeps
            every architecture's builder alike for :mod:`rsdet.models.zoo`.

    Raises:
        ConfigError: a named backbone whose levels do not end at ``config.strides``.
    """
    backbone = _backbone(config)
    channels = backbone.out_channels[-len(config.strides) :]  # n: 32/4 64/8 128/16 128/32
    # MDCA on every level that feeds the neck, the stride-4 one included (saliency before
    # fusion, so faint tiny objects are not averaged away by coarser levels).
    attention = nn.ModuleList(MDCA(c) if config.mdca else nn.Identity() for c in channels)
    neck = _neck(config, channels)  # PFDH: progressive fusion (baseline: PAN), same head
    head = DecoupledHead(channels, config.strides, config.num_classes)
    # ARB: auxiliary backbone + head, trained alongside, deleted by deploy()
    aux = _aux_branch(config, channels) if config.arb else None
    return RSTinyNet(backbone, attention, neck, head, TaskAlignedLoss(), aux)


def _csp(cfg: RSTinyNetConfig) -> CSPBackbone:
    """The CSP backbone of a config's size, down to its coarsest stride."""
    scale = SIZES[cfg.size]
    return CSPBackbone(cfg.in_channels, scale.widths(), scale.depths(), cfg.strides[-1])


def _backbone(cfg: RSTinyNetConfig) -> Backbone:
    """The size's CSP backbone, or the named one with the config's strides checked."""
    if cfg.backbone is None:
        return _csp(cfg)
    named = BackboneConfig(cfg.backbone, cfg.in_channels, max_stride=cfg.strides[-1])
    backbone = build_backbone(named)
    if backbone.strides[-len(cfg.strides) :] != cfg.strides:
        raise ConfigError(
            f"backbone: {cfg.backbone} has strides {backbone.strides}, not ending at {cfg.strides}"
        )
    return backbone


def _neck(cfg: RSTinyNetConfig, channels: Sequence[int]) -> nn.Module:
    """PFDH's progressive fusion, or the PAN baseline (C2f blocks as YOLOv8's neck)."""
    if cfg.pfdh:
        return ProgressiveFusion(channels)  # no refinement blocks: see rsdet.models.pfdh
    return PAN(channels, scaled_depth(3, SIZES[cfg.size].depth))


def _aux_branch(cfg: RSTinyNetConfig, channels: Sequence[int]) -> AuxiliaryReversibleBranch:
    """ARB with an auxiliary CSP backbone and head of the main network's size."""
    aux = _csp(cfg)
    head = DecoupledHead(aux.out_channels[-len(channels) :], cfg.strides, cfg.num_classes)
    return AuxiliaryReversibleBranch(aux, channels, head)
