"""RetinaNet-style feature pyramid P3-P7 (Lin et al., "Focal Loss for Dense Object Detection").

Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017, with the RetinaNet
extra levels: P6 is a stride-2 3x3 conv on C5 (the backbone output, not P5) and P7 a stride-2
3x3 conv on P6, with no activation in between (mmdet ``add_extra_convs="on_input"``, as in
DCFL's configs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FPN"]


class FPN(nn.Module):
    """Feature pyramid from C3, C4, C5 to P3-P7 at strides 8, 16, 32, 64, 128.

    Input: the backbone's maps, of which the last three (C3, C4, C5 at strides 8, 16, 32)
    are used. Output: five maps with ``out_channels`` channels. Odd sizes are fine: the top-down
    path upsamples to the finer map's exact size, and P6/P7 have ``ceil(size / 2)`` cells whose
    cell ``j`` is centred on cell ``2j`` of the level below.

    Args:
        in_channels: channels of C3, C4, C5 (e.g. 512, 1024, 2048 for ResNet-50).
        out_channels: pyramid width (256 in DCFL).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256) -> None:
        super().__init__()
        c3, c4, c5 = in_channels[-3:]
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in (c3, c4, c5))
        self.output = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, 1, 1) for _ in range(3)
        )
        self.p6 = nn.Conv2d(c5, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # Xavier-uniform, bias 0, as mmdet's FPN
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        """[..., C3, C4, C5] -> [P3, P4, P5, P6, P7]."""
        c3, c4, c5 = feats[-3:]
        l5 = self.lateral[2](c5)  # C5->256/32
        l4 = self.lateral[1](c4) + F.interpolate(l5, size=c4.shape[-2:], mode="nearest")  # 256/16
        l3 = self.lateral[0](c3) + F.interpolate(l4, size=c3.shape[-2:], mode="nearest")  # 256/8
        p3, p4, p5 = (conv(x) for conv, x in zip(self.output, (l3, l4, l5), strict=True))
        p6 = self.p6(c5)  # C5->256/64
        p7 = self.p7(p6)  # 256->256/128
        return [p3, p4, p5, p6, p7]
