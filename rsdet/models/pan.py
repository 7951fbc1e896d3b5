"""PAN neck in the YOLOv8 manner: a top-down FPN path followed by a bottom-up path.

This is RS-TinyNet's *baseline* neck, used when the progressive fusion head (PFDH) is
switched off, so that the ablation compares PFDH against the standard YOLO neck.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsdet.models.backbones.csp import C2f
from rsdet.models.layers import ConvNormAct

__all__ = ["PAN"]


class PAN(nn.Module):
    """Path-aggregation neck (Liu et al., CVPR 2018; YOLOv8 layout) over L levels.

    Input: L maps, finest first, with ``channels[i]`` channels at stride ``s_0 * 2^i``.
    Output: L maps of the same channels and sizes, each mixing every level.

    Args:
        channels: channels per level, finest first.
        depth: C2f blocks per fusion (YOLOv8: 3 x the depth multiplier).
    """

    def __init__(self, channels: Sequence[int], depth: int = 1) -> None:
        super().__init__()
        c = list(channels)
        n = len(c)
        # top-down: level i fuses up(level i+1) with its own lateral input
        self.top_down = nn.ModuleList(
            C2f(c[i + 1] + c[i], c[i], depth, shortcut=False) for i in range(n - 1)
        )
        # bottom-up: level i fuses down(level i-1) with its top-down output
        self.down = nn.ModuleList(ConvNormAct(c[i], c[i], 3, 2) for i in range(n - 1))
        self.bottom_up = nn.ModuleList(
            C2f(c[i] + c[i + 1], c[i + 1], depth, shortcut=False) for i in range(n - 1)
        )

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """Fuse top-down then bottom-up."""
        td = [feats[-1]]
        for i in range(len(feats) - 2, -1, -1):  # coarse -> fine, e.g. 128/32 -> 64/16
            up = F.interpolate(td[0], size=feats[i].shape[-2:], mode="nearest")
            td.insert(0, self.top_down[i](torch.cat([up, feats[i]], dim=1)))  # c_i+1 + c_i -> c_i
        outs = [td[0]]
        for i in range(len(feats) - 1):  # fine -> coarse, e.g. 32/4 -> 64/8
            down = self.down[i](outs[-1])  # c_i/s -> c_i/2s
            outs.append(self.bottom_up[i](torch.cat([down, td[i + 1]], dim=1)))  # -> c_i+1
        return outs
