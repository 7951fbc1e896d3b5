"""What every backbone declares: its output strides and channels, finest level first."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["Backbone"]


class Backbone(nn.Module):
    """Base class of rsdet backbones.

    ``forward(images)`` takes (B, C, H, W) standardised images, H and W multiples of
    ``strides[-1]``, and returns one map per level, finest first:
    (B, out_channels[i], H / strides[i], W / strides[i]).

    Attributes:
        strides: pixels per cell of each output map, doubling (e.g. ``(4, 8, 16, 32)``).
        out_channels: channels of each output map.
    """

    strides: tuple[int, ...]
    out_channels: tuple[int, ...]

    def forward(self, images: Tensor) -> list[Tensor]:
        """Multi-scale feature maps, finest first (subclasses implement it)."""
        raise NotImplementedError

    def named_stages(self) -> dict[str, nn.Module]:
        """The backbone's parts, in forward order, for cost breakdowns (``rsdet info``).

        Keys are submodule paths. By default the direct submodules; a backbone whose stages
        sit in one container lists them one by one.
        """
        return dict(self.named_children())
