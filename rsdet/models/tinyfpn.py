"""TinyFPN and the sparsely-connected convolution (SCConv) of TinyDet.

Chen et al., "TinyDet: Accurate Small Object Detection in Lightweight Generic Detectors"
(arXiv 2304.03428), Fig. 4; ``hustvl/TinyDet: mmdet_extra/tinyfpn.py``::

    C_l (c_l ch, stride s_l) -> 1x1 lateral, 245 ch, bias, no norm/activation
    top-down: lateral_{l-1} += nearest x2 upsample(lateral_l), coarsest level first
    output:   SCConv(245, g_l) = depthwise 3x3 (245 groups) + grouped 1x1 (g_l groups)

The groups are sparsest at the finest level (TinyDet-M: 49, 7, 5, 1, 1 at strides 4-64), where
the maps are largest. No extra levels are added: the pyramid has one level per backbone map.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SCConv", "TinyFPN"]


class SCConv(nn.Sequential):
    """Sparsely-connected conv: depthwise 3x3 then a grouped 1x1, both with bias, no norm.

    (B, C, H, W) -> (B, C, H, W). Multiply-adds per position: ``9 C + C * C / groups``.

    Args:
        channels: input = output channels (245 in TinyDet).
        groups: groups of the 1x1 (``channels`` must divide by it).
    """

    def __init__(self, channels: int, groups: int) -> None:
        if channels % groups:
            raise ValueError(f"SCConv: {channels} channels do not split into {groups} groups")
        super().__init__(
            nn.Conv2d(channels, channels, 3, 1, 1, groups=channels),  # depthwise 3x3
            nn.Conv2d(channels, channels, 1, groups=groups),  # point-wise, grouped
        )


class TinyFPN(nn.Module):
    """Feature pyramid with 1x1 laterals, a top-down sum and an SCConv per level.

    Input: one map per level, finest first, (B, in_channels[l], H / s_l, W / s_l) with each
    level half the size of the one before. Output: the same levels with ``channels`` channels.

    Args:
        in_channels: backbone channels per level (TinyDet-M: 36, 60, 112, 160, 160).
        channels: pyramid width (245 = 5 x 7 x 7, the position-sensitive layout).
        groups: SCConv groups per level (TinyDet-M: 49, 7, 5, 1, 1).
    """

    def __init__(
        self, in_channels: Sequence[int], channels: int = 245, groups: Sequence[int] = ()
    ) -> None:
        super().__init__()
        if len(groups) != len(in_channels):
            raise ValueError(f"{len(groups)} SCConv groups for {len(in_channels)} levels")
        self.lateral_convs = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.fpn_convs = nn.ModuleList(SCConv(channels, g) for g in groups)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # Xavier-uniform, bias 0 (TinyFPN.init_weights)
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        """[C_l] -> [P_l], finest first, e.g. 36/4 60/8 112/16 160/32 160/64 -> 245/4 ... 245/64."""
        laterals = [conv(f) for conv, f in zip(self.lateral_convs, feats, strict=True)]
        for i in range(len(laterals) - 1, 0, -1):  # coarsest first: 245/64 -> 245/32 -> ...
            up = F.interpolate(laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest")
            laterals[i - 1] = laterals[i - 1] + up
        return [conv(x) for conv, x in zip(self.fpn_convs, laterals, strict=True)]
