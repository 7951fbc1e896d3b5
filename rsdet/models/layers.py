"""Small building blocks shared by the detectors."""

from __future__ import annotations

from torch import nn

__all__ = ["ConvNormAct"]


class ConvNormAct(nn.Sequential):
    """``Conv2d -> BatchNorm2d -> activation``, padding chosen to keep ``H / stride``.

    Args:
        c_in, c_out: channels.
        k: kernel size (odd).
        s: stride.
        groups: conv groups (``c_in`` for a depthwise conv).
        act: activation module; ``None`` means SiLU, ``nn.Identity()`` none.
        dilation: conv dilation.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        k: int = 3,
        s: int = 1,
        groups: int = 1,
        act: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        pad = dilation * (k - 1) // 2
        super().__init__(
            nn.Conv2d(c_in, c_out, k, s, pad, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03),
            nn.SiLU(inplace=True) if act is None else act,
        )
