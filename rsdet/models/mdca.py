"""MDCA: multi-dimensional collaborative attention (RS-TinyNet's saliency module).

RS-TinyNet's paper gives only the module's name and purpose ("multi-dimensional attention to
enhance the saliency of tiny objects"); its authors later describe it as jointly using
channel-spatial dependencies and global-local context. The closest published design is MCA
(Yu et al., "MCA: Multidimensional collaborative attention in deep convolutional neural
networks", Eng. Appl. of AI 2023), which this module follows:

* three gates, along channels, rows (height) and columns (width);
* each gate pools the two other axes with the mean *and* the standard deviation (global
  context: a tiny bright object barely moves a row's mean but raises its spread), mixes the
  two with learnt scalars, and runs a 1-D convolution along its own axis (local context
  between neighbouring channels / rows / columns) followed by a sigmoid;
* the three gated copies are averaged: ``y = x * (a_c + a_h + a_w) / 3``.

The standard deviation is the population one (``unbiased=False``) so that 1x1 maps and
single rows give 0, never NaN.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["MDCA", "AxisGate", "channel_kernel_size"]


def channel_kernel_size(channels: int, gamma: float = 1.0, lam: float = 1.5) -> int:
    """Odd 1-D kernel size for the channel gate, growing with ``log2(channels)`` (MCA / ECA).

    ``t = round(|log2(C) - gamma| / lam)``; ``t`` if odd else ``t - 1``; at least 1.
    E.g. 16 -> 1, 32 -> 3, 64 -> 3, 256 -> 5.
    """
    t = round(abs(math.log2(channels) - gamma) / lam)
    return max(1, t if t % 2 else t - 1)


class AxisGate(nn.Module):
    """Sigmoid gate along one axis of a (B, C, H, W) tensor, from mean + std pooling.

    Args:
        axis: 1 (channels), 2 (height) or 3 (width); the other two axes are pooled.
        kernel_size: odd length of the 1-D convolution along ``axis``.

    ``forward`` returns the gate, broadcastable to the input: (B, C, 1, 1), (B, 1, H, 1)
    or (B, 1, 1, W), values in (0, 1).
    """

    def __init__(self, axis: int, kernel_size: int) -> None:
        super().__init__()
        if axis not in (1, 2, 3):
            raise ValueError(f"axis must be 1, 2 or 3, got {axis}")
        self.axis = axis
        self.pooled = tuple(d for d in (1, 2, 3) if d != axis)
        # MCA's learnt mixing weights of the mean and std descriptors (initialised U(0, 1)).
        self.mix = nn.Parameter(torch.rand(2))
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Compute the gate of ``x`` (B, C, H, W)."""
        mean = x.mean(dim=self.pooled, keepdim=True)
        std = x.std(dim=self.pooled, keepdim=True, unbiased=False)  # 0 on 1x1, never NaN
        alpha, beta = self.mix.sigmoid()
        s = 0.5 * (mean + std) + alpha * mean + beta * std  # e.g. (B, 1, H, 1) for axis 2
        shape = s.shape
        z: Tensor = self.conv(s.reshape(shape[0], 1, -1))  # (B, 1, L): L = gated axis length
        return z.sigmoid().reshape(shape)  # (B, 1, L) -> broadcastable gate


class MDCA(nn.Module):
    """Multi-dimensional collaborative attention; (B, C, H, W) -> (B, C, H, W).

    Follows MCA (see the module docstring): channel, height and width gates, averaged.

    Args:
        channels: input channels (sets the channel gate's kernel size).
        spatial_kernel: 1-D kernel size of the height and width gates (MCA: 3).
    """

    def __init__(self, channels: int, spatial_kernel: int = 3) -> None:
        super().__init__()
        self.channel_gate = AxisGate(1, channel_kernel_size(channels))
        self.height_gate = AxisGate(2, spatial_kernel)
        self.width_gate = AxisGate(3, spatial_kernel)

    def forward(self, x: Tensor) -> Tensor:
        """Re-weight ``x`` by the mean of its three gates."""
        # x*a_c, x*a_h, x*a_w averaged = x times the averaged gates (one full-size product).
        gate: Tensor = self.channel_gate(x) + self.height_gate(x) + self.width_gate(x)
        return x * (gate / 3)  # (B, C, 1, 1) + (B, 1, H, 1) + (B, 1, 1, W) -> (B, C, H, W)
