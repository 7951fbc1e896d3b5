"""MobileNetV3-Large and TinyDet's MobileNetV3-BC and MobileNetV3-D.

Howard et al., "Searching for MobileNetV3", ICCV 2019 (Table 1); Chen et al., "TinyDet:
Accurate Small Object Detection in Lightweight Generic Detectors", arXiv 2304.03428 (Tables
10-12, code ``hustvl/TinyDet: mmdet_extra/mobilenetv3_{bc,d}.py``). Each table row below is a
row of the paper's figure: ``bneck(k, exp, out, SE, NL, s)``.

=======================  ======  ===========  ============================================
network                  stem    SE squeeze   difference
=======================  ======  ===========  ============================================
MobileNetV3-Large        16      round8(e/4)  timm ``mobilenetv3_large_100`` = torchvision
MobileNetV3-BC (M, L)    24      e // 4       early stages 1.5x wider, two more stride-4
                                              blocks; two stride-64 blocks for detection
MobileNetV3-D (S)        16      e // 4       Large's widths, smaller expansions late; one
                                              stride-64 block for detection
=======================  ======  ===========  ============================================

TinyDet's SE convs have no bias; timm's and torchvision's do. Detection taps: the stride 4,
8, 16, 32 stage ends (Large: the 960-wide last conv at stride 32, as timm's
``features_only``; BC and D: the 160-wide stride-32 blocks, as TinyDet), plus the stride-64
stage of BC and D with ``max_stride=64``. TinyDet's backbones are built with the
feature-alignment pool (:mod:`~rsdet.models.backbones.mbconv`) on; Large without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from rsdet.models.backbones.keymaps import Naming, load_weights
from rsdet.models.backbones.mbconv import (
    Act,
    BlockSpec,
    ConvSpec,
    Family,
    MBConvNet,
    NetSpec,
    SEStyle,
    global_pool,
    init_weights,
    make_divisible,
)

__all__ = ["MOBILENETV3_BC", "MOBILENETV3_D", "MOBILENETV3_LARGE", "MobileNetV3"]

RE: Act = "relu"
HS: Act = "hswish"
_SE_TIMM = SEStyle(act="relu", gate="hsigmoid", bias=True)
_SE_TINYDET = SEStyle(act="relu", gate="hsigmoid", bias=False)


def _large(k: int, exp: int, out: int, se: bool, nl: Act, s: int) -> BlockSpec:
    """A bneck row, SE squeezed to round8(exp / 4) (timm, torchvision)."""
    return BlockSpec(k, exp, out, make_divisible(exp / 4) if se else 0, nl, s)


def _tinydet(k: int, exp: int, out: int, se: bool, nl: Act, s: int) -> BlockSpec:
    """A bneck row, SE squeezed to exp // 4 (TinyDet's ``SeModule``)."""
    return BlockSpec(k, exp, out, exp // 4 if se else 0, nl, s)


L, T = _large, _tinydet

MOBILENETV3_LARGE = NetSpec(
    stem=16,
    stem_act=HS,
    stages=(
        (L(3, 16, 16, False, RE, 1),),  # /2
        (L(3, 64, 24, False, RE, 2), L(3, 72, 24, False, RE, 1)),  # /4 -> C2
        (L(5, 72, 40, True, RE, 2), L(5, 120, 40, True, RE, 1), L(5, 120, 40, True, RE, 1)),
        (
            L(3, 240, 80, False, HS, 2),  # /16
            L(3, 200, 80, False, HS, 1),
            L(3, 184, 80, False, HS, 1),
            L(3, 184, 80, False, HS, 1),
        ),
        (L(3, 480, 112, True, HS, 1), L(3, 672, 112, True, HS, 1)),  # /16 -> C4
        (L(5, 672, 160, True, HS, 2), L(5, 960, 160, True, HS, 1), L(5, 960, 160, True, HS, 1)),
        ConvSpec(960, HS),  # /32 -> C5 (960 channels, as timm's features_only)
    ),
    taps=(1, 2, 4, 6),
    extra=(),
    se=_SE_TIMM,
)

MOBILENETV3_BC = NetSpec(
    stem=24,  # c + 50 %
    stem_act=HS,
    stages=(
        (T(3, 24, 24, False, RE, 1),),  # /2, c + 50 %
        (
            T(3, 72, 36, False, RE, 2),  # /4, c + 50 %
            T(3, 108, 36, False, RE, 1),  # added block
            T(3, 108, 36, False, RE, 1),  # added block
            T(3, 108, 36, False, RE, 1),  # -> C2
        ),
        (T(5, 108, 60, True, RE, 2), T(5, 180, 60, True, RE, 1), T(5, 180, 60, True, RE, 1)),
        (
            T(3, 240, 80, False, HS, 2),  # /16
            T(3, 200, 80, False, HS, 1),
            T(3, 184, 80, False, HS, 1),
            T(3, 184, 80, False, HS, 1),
        ),
        (T(3, 480, 112, True, HS, 1), T(3, 672, 112, True, HS, 1)),  # -> C4
        (T(5, 672, 160, True, HS, 2), T(5, 960, 160, True, HS, 1), T(5, 960, 160, True, HS, 1)),
        ConvSpec(960, HS),  # classification only (TinyDet ``conv2`` with ``with_fc``)
    ),
    taps=(1, 2, 4, 5),
    extra=(T(5, 960, 160, True, HS, 2), T(5, 960, 160, True, HS, 1)),  # /64
    se=_SE_TINYDET,
    align=True,
)

MOBILENETV3_D = NetSpec(
    stem=16,
    stem_act=HS,
    stages=(
        (T(3, 16, 16, False, RE, 1),),  # /2
        (T(3, 64, 24, False, RE, 2), T(3, 72, 24, False, RE, 1)),  # /4
        (T(5, 72, 40, True, RE, 2), T(5, 120, 40, True, RE, 1), T(5, 120, 40, True, RE, 1)),
        (
            T(3, 240, 80, False, HS, 2),  # /16
            T(3, 240, 80, False, HS, 1),
            T(5, 240, 80, False, HS, 1),
            T(5, 240, 80, False, HS, 1),
        ),
        (T(3, 240, 112, True, HS, 1), T(3, 336, 112, True, HS, 1)),
        (T(5, 336, 160, True, HS, 2), T(5, 480, 160, True, HS, 1), T(5, 480, 160, True, HS, 1)),
        ConvSpec(960, HS),  # classification only
    ),
    taps=(1, 2, 4, 5),
    extra=(T(5, 960, 160, True, HS, 2),),  # /64
    se=_SE_TINYDET,
    align=True,
)


class MobileNetV3(MBConvNet):
    """A MobileNetV3 backbone (Large, BC or D), optionally with its ImageNet head.

    Input (B, in_channels, H, W), H and W multiples of ``max_stride``; output the stage maps
    at strides 4 ... ``max_stride`` (see :class:`~rsdet.models.backbones.mbconv.MBConvNet`).
    Large at 224 px: 5,483,032 parameters with the 1000-class head (timm = torchvision).

    Args:
        spec: :data:`MOBILENETV3_LARGE`, :data:`MOBILENETV3_BC` or :data:`MOBILENETV3_D`.
        in_channels: image bands.
        max_stride: coarsest map: 8, 16, 32, or 64 (BC, D: TinyDet's extra stage).
        num_classes: build the head (pool -> 1x1 conv 1280 + bias -> h-swish -> linear);
            None for a detection backbone.
        align: the feature-alignment pool; None: the design's (on for BC and D, as TinyDet;
            off for Large).
    """

    family: ClassVar[Family] = "mobilenetv3"

    def __init__(
        self,
        spec: NetSpec = MOBILENETV3_LARGE,
        in_channels: int = 3,
        max_stride: int = 32,
        num_classes: int | None = None,
        align: bool | None = None,
    ) -> None:
        align = spec.align if align is None else align
        super().__init__(spec, in_channels, max_stride, align, num_classes is not None)
        self.num_classes = num_classes
        if num_classes is not None:
            self.conv_head = nn.Conv2d(self.num_features, 1280, 1, bias=True)
            self.act2 = nn.Hardswish(inplace=True)
            self.classifier = nn.Linear(1280, num_classes)
        init_weights(self)

    def head(self, x: Tensor) -> Tensor:
        """(B, 960, h, w) -> pool -> 1x1 conv 1280 -> h-swish -> (B, num_classes)."""
        x = self.act2(self.conv_head(global_pool(x)))  # 960 -> 1280, 1 x 1
        out: Tensor = self.classifier(torch.flatten(x, 1))
        return out

    def load_weights(self, path: str | Path, naming: Naming | None = None) -> None:
        """Load a timm, torchvision or TinyDet state dict (see :mod:`.keymaps`)."""
        load_weights(self, path, naming)
