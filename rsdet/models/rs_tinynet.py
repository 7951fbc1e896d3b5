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
          -> decoupled head -> TAL loss (train) | decode + class-aware NMS (eval)
    training only: image + C2..C5 -> ARB auxiliary backbone -> auxiliary head -> 0.25 x loss

Each module can be switched off in :class:`RSTinyNetConfig` to measure its effect.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from torch import Tensor, nn

from rsdet.config import ConfigError
from rsdet.models.arb import AuxiliaryReversibleBranch
from rsdet.models.backbones import BASE_DEPTHS, CSPBackbone, scaled_depth, scaled_widths
from rsdet.models.detector import Postprocess
from rsdet.models.heads import DecoupledHead, TaskAlignedLoss, decode_detections
from rsdet.models.mdca import MDCA
from rsdet.models.pan import PAN
from rsdet.models.pfdh import ProgressiveFusion
from rsdet.structures import Detections, Targets

__all__ = ["SIZES", "RSTinyNet", "RSTinyNetConfig", "Scale"]


class Scale(NamedTuple):
    """Multipliers of a model size: C2f depth, channel width, and the channel cap."""

    depth: float
    width: float
    max_channels: int


SIZES: dict[str, Scale] = {
    "n": Scale(depth=0.33, width=0.25, max_channels=128),  # CPU scene inference
    "s": Scale(depth=0.33, width=0.50, max_channels=512),
    "m": Scale(depth=0.67, width=0.75, max_channels=768),  # the paper's comparisons are m-scale
}


@dataclass(frozen=True)
class RSTinyNetConfig:
    """Architecture of an :class:`RSTinyNet` (stored in checkpoints as ``arch_config``).

    Attributes:
        size: ``"n"``, ``"s"`` or ``"m"`` (see :data:`SIZES`).
        num_classes: number of object classes.
        in_channels: image bands (3 for RGB, 4 for RGB + NIR, ...).
        strides: strides of the detection levels, finest first: consecutive powers of two
            from 4 or 8 up to at most 32. Stride 4 keeps 3-10 px objects on several cells.
        mdca: multi-dimensional collaborative attention on the backbone levels.
        arb: auxiliary reversible branch during training (no inference cost).
        pfdh: progressive fusion before the head; ``False`` uses the plain PAN neck.
    """

    size: Literal["n", "s", "m"] = "n"
    num_classes: int = 1
    in_channels: int = 3
    strides: tuple[int, ...] = (4, 8, 16, 32)
    mdca: bool = True
    arb: bool = True
    pfdh: bool = True

    def __post_init__(self) -> None:
        s = self.strides
        doubling = all(b == 2 * a for a, b in itertools.pairwise(s))
        if len(s) < 2 or s[0] not in (4, 8) or s[-1] > 32 or not doubling:
            raise ConfigError(f"strides: expected doubling levels from 4 or 8 to <= 32, got {s}")
        if self.num_classes < 1:
            raise ConfigError(f"num_classes: expected at least 1, got {self.num_classes}")
        if self.in_channels < 1:
            raise ConfigError(f"in_channels: expected at least 1, got {self.in_channels}")


class RSTinyNet(nn.Module):
    """RS-TinyNet-inspired detector (see the module docstring for the design and sources).

    Contract (rsdet.models.detector): ``model(images)`` in eval mode takes (B, C, H, W)
    standardised float images, H and W multiples of :attr:`size_divisor`, and returns one
    :class:`~rsdet.structures.Detections` per image (HBoxes ``x1 y1 x2 y2`` in input pixels,
    ``0 <= x1 < x2 <= W``; scores in (0, 1); 0-based labels) after class-aware NMS with
    :attr:`postprocess`. In train mode ``model(images, targets)`` returns the losses
    ``{"cls", "box"}`` plus ``{"aux_cls", "aux_box"}`` (already weighted) when ARB is on.

    Args:
        config: architecture; the parts below are built from it when not given.
        backbone: CSP backbone whose last ``len(strides)`` stages feed the neck.
        attention: one module per level applied to the backbone maps (MDCA or identity).
        neck: multi-level fusion (ProgressiveFusion for PFDH, or PAN).
        head: the decoupled head.
        criterion: the training loss of the head outputs.
        aux_branch: ARB, or None for no auxiliary supervision.
    """

    def __init__(
        self,
        config: RSTinyNetConfig | None = None,
        *,
        backbone: CSPBackbone | None = None,
        attention: nn.ModuleList | None = None,
        neck: nn.Module | None = None,
        head: DecoupledHead | None = None,
        criterion: TaskAlignedLoss | None = None,
        aux_branch: AuxiliaryReversibleBranch | None = None,
    ) -> None:
        super().__init__()
        cfg = config if config is not None else RSTinyNetConfig()
        self.config = cfg
        self.num_levels = len(cfg.strides)
        # CSP backbone down to the coarsest stride; its last stages are the detection levels
        self.backbone = backbone if backbone is not None else _backbone(cfg)
        channels = self.backbone.out_channels[-self.num_levels :]  # n: 32/4 64/8 128/16 128/32
        # MDCA on every level that feeds the neck, the stride-4 one included (saliency
        # before fusion, so faint tiny objects are not averaged away by coarser levels).
        self.attention = attention if attention is not None else _attention(cfg, channels)
        # PFDH: progressive fusion, then the decoupled head (baseline: PAN, same head)
        self.neck = neck if neck is not None else _neck(cfg, channels)
        self.head = head if head is not None else _head(cfg, channels)
        self.criterion = criterion if criterion is not None else TaskAlignedLoss()
        # ARB: auxiliary backbone + head, trained alongside, deleted by deploy()
        if aux_branch is None and cfg.arb:
            aux_branch = _aux_branch(cfg, channels)
        self.aux_branch = aux_branch
        self.aux_weight = 0.25  # YOLOv9: L = L_main + 0.25 L_aux
        self.postprocess = Postprocess()
        self.size_divisor = cfg.strides[-1]

    def forward(
        self, images: Tensor, targets: Sequence[Targets] | None = None
    ) -> list[Detections] | dict[str, Tensor]:
        """Detect (eval mode) or return the training losses (train mode, ``targets`` given)."""
        if self.training and targets is None:
            raise ValueError("train mode needs targets; call model.eval() to detect")
        feats = self.backbone(images)[-self.num_levels :]  # C_l, finest first, e.g. 32/4..128/32
        feats = [att(f) for att, f in zip(self.attention, feats, strict=True)]  # MDCA
        out = self.head(self.neck(feats))  # PFDH (or PAN) -> decoupled head
        if not self.training or targets is None:
            return decode_detections(out, self.postprocess)
        losses: dict[str, Tensor] = self.criterion(out, targets)
        if self.aux_branch is not None:  # ARB: extra supervision reaching the backbone
            aux = self.criterion(self.aux_branch(images, feats), targets)
            losses.update({f"aux_{k}": self.aux_weight * v for k, v in aux.items()})
        return losses

    def deploy(self) -> RSTinyNet:
        """Drop the training-only auxiliary branch (inference outputs are unchanged)."""
        self.aux_branch = None
        return self


def _backbone(cfg: RSTinyNetConfig) -> CSPBackbone:
    """The default backbone of a config's size, down to its coarsest stride."""
    scale = SIZES[cfg.size]
    widths = scaled_widths(scale.width, scale.max_channels)
    depths = tuple(scaled_depth(n, scale.depth) for n in BASE_DEPTHS)
    return CSPBackbone(cfg.in_channels, widths, depths, max_stride=cfg.strides[-1])


def _attention(cfg: RSTinyNetConfig, channels: Sequence[int]) -> nn.ModuleList:
    """MDCA per level, or identities when switched off."""
    return nn.ModuleList(MDCA(c) if cfg.mdca else nn.Identity() for c in channels)


def _neck(cfg: RSTinyNetConfig, channels: Sequence[int]) -> nn.Module:
    """PFDH's progressive fusion, or the PAN baseline (C2f blocks as YOLOv8's neck)."""
    if cfg.pfdh:
        return ProgressiveFusion(channels)  # no refinement blocks: see rsdet.models.pfdh
    return PAN(channels, scaled_depth(3, SIZES[cfg.size].depth))


def _head(cfg: RSTinyNetConfig, channels: Sequence[int]) -> DecoupledHead:
    """The decoupled head over the detection levels."""
    return DecoupledHead(channels, cfg.strides, cfg.num_classes)


def _aux_branch(cfg: RSTinyNetConfig, channels: Sequence[int]) -> AuxiliaryReversibleBranch:
    """ARB with an auxiliary backbone and head of the main network's size."""
    aux = _backbone(cfg)
    return AuxiliaryReversibleBranch(aux, channels, _head(cfg, aux.out_channels[-len(channels) :]))
