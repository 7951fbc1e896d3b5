"""EfficientNet-B0 and TinyNet-A..E: one builder applying (r, w, d) to the B0 table.

Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019 (Table 1); Han et al.,
"Model Rubik's Cube: Twisting Resolution, Depth and Width for TinyNets", NeurIPS 2020. The
rules are timm's ``_gen_efficientnet`` / ``_gen_tinynet`` (which the TinyNet authors' code
``huawei-noah/CV-Backbones: tinynet_pytorch`` calls):

=============  ===========================  ==================================
rule           EfficientNet                 TinyNet
=============  ===========================  ==================================
stage widths   round8(c w)                  round8(c w)
stem           round8(32 w)                 32 (fixed)
head conv      round8(1280 w)               max(1280, round8(1280 w))
repeats        ceil(n d)                    max(1, round(n d))  (Python round)
=============  ===========================  ==================================

``round8`` is :func:`~rsdet.models.backbones.mbconv.make_divisible`; an MBConv's expanded
width is round8(6 c_in) and its SE squeezes to round(c_in / 4). The resolution r is the
ImageNet input side (224 r); detection sets it by the tile size instead.

Detection taps (timm ``features_only``, ``out_indices=(1, 2, 3, 4)``): the ends of stages 2,
3, 5 and 7 at strides 4, 8, 16, 32 (24, 40, 112, 320 channels at w = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from rsdet.models.backbones.keymaps import Naming, load_weights
from rsdet.models.backbones.mbconv import (
    BlockSpec,
    Family,
    MBConvNet,
    NetSpec,
    SEStyle,
    Stage,
    global_pool,
    init_weights,
    make_divisible,
)

__all__ = [
    "B0_STAGES",
    "EFFICIENTNET_B0",
    "TINYNETS",
    "EfficientNet",
    "EfficientNetScale",
    "StageDef",
    "efficientnet_spec",
]


@dataclass(frozen=True)
class StageDef:
    """A row of EfficientNet-B0's table: ``repeats`` MBConv blocks (SE 0.25, swish)."""

    repeats: int
    k: int
    stride: int
    expand: int
    out: int


# EfficientNet-B0 (Table 1): MBConv1 k3 16, MBConv6 k3 24 x2, k5 40 x2, k3 80 x3, k5 112 x3,
# k5 192 x4, k3 320; the stem and the 1280 head conv are not rows.
B0_STAGES = (
    StageDef(1, 3, 1, 1, 16),  # /2
    StageDef(2, 3, 2, 6, 24),  # /4 -> C2
    StageDef(2, 5, 2, 6, 40),  # /8 -> C3
    StageDef(3, 3, 2, 6, 80),  # /16
    StageDef(3, 5, 1, 6, 112),  # /16 -> C4
    StageDef(4, 5, 2, 6, 192),  # /32
    StageDef(1, 3, 1, 6, 320),  # /32 -> C5
)
_SE = SEStyle(act="swish", gate="sigmoid", bias=True)


@dataclass(frozen=True)
class EfficientNetScale:
    """(r, w, d) and the rounding rules that apply them (see the module docstring).

    Attributes:
        resolution: ImageNet input side, ``int(224 r)``.
        width: channel multiplier w.
        depth: repeat multiplier d.
        depth_trunc: ``ceil`` (EfficientNet) or ``round`` (TinyNet).
        fix_stem: keep the 32-wide stem (TinyNet).
        min_head: the head conv is never narrower (1280 for TinyNet, 0 for EfficientNet).
    """

    resolution: int
    width: float
    depth: float
    depth_trunc: Literal["ceil", "round"]
    fix_stem: bool
    min_head: int

    @classmethod
    def efficientnet(cls, r: float, w: float, d: float) -> EfficientNetScale:
        """EfficientNet's compound scaling rules (timm ``_gen_efficientnet``)."""
        return cls(int(224 * r), w, d, "ceil", fix_stem=False, min_head=0)

    @classmethod
    def tinynet(cls, r: float, w: float, d: float) -> EfficientNetScale:
        """TinyNet's rules (timm ``_gen_tinynet``)."""
        return cls(int(224 * r), w, d, "round", fix_stem=True, min_head=1280)

    def repeats(self, n: int) -> int:
        """Blocks of a stage of ``n`` in B0."""
        if self.depth_trunc == "ceil":
            return math.ceil(n * self.depth)
        return max(1, round(n * self.depth))

    def head_width(self) -> int:
        """Width of the 1x1 head conv."""
        return max(self.min_head, make_divisible(1280 * self.width))


EFFICIENTNET_B0 = EfficientNetScale.efficientnet(1.0, 1.0, 1.0)
# (r, w, d) of huawei-noah/CV-Backbones tinynet_pytorch/eval.py = timm's tinynet_a..e.
TINYNETS = {
    "a": EfficientNetScale.tinynet(0.86, 1.0, 1.2),  # 192 px
    "b": EfficientNetScale.tinynet(0.84, 0.75, 1.1),  # 188 px
    "c": EfficientNetScale.tinynet(0.825, 0.54, 0.85),  # 184 px
    "d": EfficientNetScale.tinynet(0.68, 0.54, 0.695),  # 152 px
    "e": EfficientNetScale.tinynet(0.475, 0.51, 0.6),  # 106 px
}


def efficientnet_spec(scale: EfficientNetScale) -> NetSpec:
    """The network table of B0 scaled by ``scale``: widths, repeats, expansions, SE widths."""
    stem = 32 if scale.fix_stem else make_divisible(32 * scale.width)
    c, stages = stem, []
    for row in B0_STAGES:
        out, blocks = make_divisible(row.out * scale.width), []
        for j in range(scale.repeats(row.repeats)):
            exp = c if row.expand == 1 else make_divisible(c * row.expand)
            se = round(exp * (0.25 / row.expand))  # timm: SE 0.25 of the block's input
            blocks.append(BlockSpec(row.k, exp, out, se, "swish", row.stride if j == 0 else 1))
            c = out
        stages.append(tuple(blocks))
    all_stages: tuple[Stage, ...] = tuple(stages)
    return NetSpec(stem, "swish", all_stages, taps=(1, 2, 4, 6), extra=(), se=_SE)


class EfficientNet(MBConvNet):
    """An EfficientNet / TinyNet backbone, optionally with its ImageNet head.

    Input (B, in_channels, H, W), H and W multiples of ``max_stride``; output the ends of
    stages 2, 3, 5, 7 at strides 4 ... ``max_stride``. With ``num_classes`` the head is
    timm's: 1x1 conv to :meth:`EfficientNetScale.head_width` -> BN -> swish -> pool ->
    linear. TinyNet-A with a 1000-class head: 6.19 M parameters, as timm's ``tinynet_a``.

    Args:
        scale: :data:`EFFICIENTNET_B0` or a :data:`TINYNETS` entry.
        in_channels: image bands.
        max_stride: coarsest map: 8, 16 or 32.
        num_classes: build the classification head; None for a detection backbone.
        align: the feature-alignment pool (off in both papers; a switch for experiments).
    """

    family: ClassVar[Family] = "efficientnet"

    def __init__(
        self,
        scale: EfficientNetScale = EFFICIENTNET_B0,
        in_channels: int = 3,
        max_stride: int = 32,
        num_classes: int | None = None,
        align: bool = False,
    ) -> None:
        spec = efficientnet_spec(scale)
        super().__init__(spec, in_channels, max_stride, align, num_classes is not None)
        self.scale, self.num_classes = scale, num_classes
        if num_classes is not None:
            width = scale.head_width()
            self.conv_head = nn.Conv2d(self.num_features, width, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.act2 = nn.SiLU(inplace=True)
            self.classifier = nn.Linear(width, num_classes)
        init_weights(self)

    def head(self, x: Tensor) -> Tensor:
        """(B, 320 w, h, w) -> 1x1 conv -> BN -> swish -> pool -> (B, num_classes)."""
        x = self.act2(self.bn2(self.conv_head(x)))  # 320 w -> 1280, h x w
        out: Tensor = self.classifier(torch.flatten(global_pool(x), 1))
        return out

    def load_weights(self, path: str | Path, naming: Naming | None = None) -> None:
        """Load a timm or torchvision state dict (see :mod:`.keymaps`)."""
        load_weights(self, path, naming)
