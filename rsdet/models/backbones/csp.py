"""A CSP backbone in the YOLOv8 / YOLO11 manner, sized by width and depth multipliers.

Layout (channels for the base widths; a size multiplies them, see :func:`scaled_widths`)::

    stem   ConvNormAct 3x3 s2              in -> 64   /2
    stage  ConvNormAct 3x3 s2 + C2f x3      64 -> 128  /4
    stage  ConvNormAct 3x3 s2 + C2f x6     128 -> 256  /8
    stage  ConvNormAct 3x3 s2 + C2f x6     256 -> 512  /16
    stage  ConvNormAct 3x3 s2 + C2f x3     512 -> 1024 /32  (+ SPPF for context)

A network built for fewer levels (``max_stride=16``) stops after the /16 stage, which then
carries the SPPF. C2f is the CSP block of YOLOv8 (Jocher et al., Ultralytics 2023): half of
the channels go straight to the output, the other half through ``n`` bottlenecks whose
intermediate outputs are all concatenated, so gradients reach every depth directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsdet.models.backbones.base import Backbone
from rsdet.models.layers import ConvNormAct

__all__ = [
    "SPPF",
    "Bottleneck",
    "C2f",
    "CSPBackbone",
    "CSPScale",
    "scaled_depth",
    "scaled_widths",
]

# YOLOv8 base widths (stem, /4, /8, /16, /32) and base depths (C2f blocks in /4../32).
BASE_WIDTHS = (64, 128, 256, 512, 1024)
BASE_DEPTHS = (3, 6, 6, 3)


def scaled_widths(width: float, max_channels: int) -> tuple[int, ...]:
    """Base widths times ``width``, capped at ``max_channels``, rounded up to multiples of 8."""
    return tuple(min(max_channels, math.ceil(c * width / 8) * 8) for c in BASE_WIDTHS)


def scaled_depth(n: int, depth: float) -> int:
    """Blocks in a repeated unit: ``round(n * depth)``, at least one."""
    return max(1, round(n * depth))


@dataclass(frozen=True)
class CSPScale:
    """Multipliers of a CSP network size: C2f depth, channel width, and the channel cap."""

    depth: float
    width: float
    max_channels: int

    def widths(self) -> tuple[int, ...]:
        """Stem and stage widths of this size (see :func:`scaled_widths`)."""
        return scaled_widths(self.width, self.max_channels)

    def depths(self) -> tuple[int, ...]:
        """C2f blocks per stage of this size."""
        return tuple(scaled_depth(n, self.depth) for n in BASE_DEPTHS)


class Bottleneck(nn.Module):
    """Two 3x3 convs with an identity shortcut: ``x + f(x)``; (B, C, H, W) -> same."""

    def __init__(self, channels: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = ConvNormAct(channels, channels, 3)
        self.cv2 = ConvNormAct(channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        y: Tensor = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """CSP block with ``n`` bottlenecks whose outputs are all concatenated (YOLOv8 "C2f").

    Args:
        c_in, c_out: channels; (B, c_in, H, W) -> (B, c_out, H, W).
        n: number of bottlenecks.
        shortcut: residual shortcuts inside the bottlenecks (off in the YOLOv8 neck).
    """

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.hidden = c_out // 2
        self.cv1 = ConvNormAct(c_in, 2 * self.hidden, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden, shortcut) for _ in range(n))
        self.cv2 = ConvNormAct((2 + n) * self.hidden, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        ys = list(self.cv1(x).chunk(2, dim=1))  # (B, 2h, H, W) -> 2 x (B, h, H, W)
        for block in self.blocks:
            ys.append(block(ys[-1]))
        out: Tensor = self.cv2(torch.cat(ys, dim=1))  # (B, (2+n)h, H, W) -> (B, c_out, H, W)
        return out


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast (YOLOv5): three chained 5x5 max-pools widen the context.

    (B, c_in, H, W) -> (B, c_out, H, W); 1x1 maps work (padding keeps the size).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = ConvNormAct(c_in, hidden, 1)
        self.cv2 = ConvNormAct(4 * hidden, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        ys = [self.cv1(x)]
        for _ in range(3):
            ys.append(F.max_pool2d(ys[-1], 5, stride=1, padding=2))
        out: Tensor = self.cv2(torch.cat(ys, dim=1))  # (B, 4 hidden, H, W) -> (B, c_out, H, W)
        return out


class CSPBackbone(Backbone):
    """Stem and stride-2 stages; returns the stage outputs at strides 4, 8, ... ``max_stride``.

    Input: (B, in_channels, H, W) standardised images, H and W multiples of ``max_stride``.
    Output: list of (B, widths[i + 1], H / 2^(i+2), W / 2^(i+2)), finest first.

    Args:
        in_channels: image bands.
        widths: channels of the stem and the four stages (see :func:`scaled_widths`).
        depths: C2f blocks per stage.
        max_stride: stride of the last stage built (8, 16 or 32).
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = BASE_WIDTHS,
        depths: tuple[int, ...] = BASE_DEPTHS,
        max_stride: int = 32,
    ) -> None:
        super().__init__()
        num_stages = int(math.log2(max_stride)) - 1  # /4 is the first stage
        if max_stride not in (8, 16, 32):
            raise ValueError(f"max_stride must be 8, 16 or 32, got {max_stride}")
        self.stem = ConvNormAct(in_channels, widths[0], 3, 2)
        self.stages = nn.ModuleList()
        for i in range(num_stages):
            layers: list[nn.Module] = [
                ConvNormAct(widths[i], widths[i + 1], 3, 2),
                C2f(widths[i + 1], widths[i + 1], depths[i]),
            ]
            if i == num_stages - 1:
                layers.append(SPPF(widths[i + 1], widths[i + 1]))
            self.stages.append(nn.Sequential(*layers))
        self.strides = tuple(2 ** (i + 2) for i in range(num_stages))
        self.out_channels = tuple(widths[1 : num_stages + 1])

    def forward(self, x: Tensor) -> list[Tensor]:
        """Run the stem and every stage, keeping each stage's output."""
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def named_stages(self) -> dict[str, nn.Module]:
        """The stem and each stage (``stages.i``)."""
        return {"stem": self.stem, **{f"stages.{i}": s for i, s in enumerate(self.stages)}}
