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

The standard deviation is the population one, with the variance clamped at 1e-12, so that
1x1 maps and single rows give ~0, never NaN (see :func:`axis_moments`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["MDCA", "AxisGate", "axis_moments", "channel_kernel_size"]


def channel_kernel_size(channels: int, gamma: float = 1.0, lam: float = 1.5) -> int:
    """Odd 1-D kernel size for the channel gate, growing with ``log2(channels)`` (MCA / ECA).

    ``t = round(|log2(C) - gamma| / lam)``; ``t`` if odd else ``t - 1``; at least 1.
    E.g. 16 -> 1, 32 -> 3, 64 -> 3, 256 -> 5.
    """
    t = round(abs(math.log2(channels) - gamma) / lam)
    return max(1, t if t % 2 else t - 1)


class AxisGate(nn.Module):
    """Sigmoid gate along one axis, from the mean and std of the other two axes.

    ``forward(mean, std)`` takes the two (B, L) descriptors of the L positions along the
    gated axis (channels, rows or columns) and returns the (B, L) gate, values in (0, 1).

    Args:
        kernel_size: odd length of the 1-D convolution along the gated axis.
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        # MCA's learnt mixing weights of the mean and std descriptors (initialised U(0, 1)).
        self.mix = nn.Parameter(torch.rand(2))
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, mean: Tensor, std: Tensor) -> Tensor:
        """Gate from (B, L) descriptors."""
        alpha, beta = self.mix.sigmoid()
        s = 0.5 * (mean + std) + alpha * mean + beta * std  # (B, L)
        z: Tensor = self.conv(s[:, None])  # (B, L) -> (B, 1, L): local context along L
        return z[:, 0].sigmoid()  # (B, 1, L) -> (B, L)


class MDCA(nn.Module):
    """Multi-dimensional collaborative attention; (B, C, H, W) -> (B, C, H, W).

    Follows MCA (see the module docstring): channel, height and width gates, averaged.

    Args:
        channels: input channels (sets the channel gate's kernel size).
        spatial_kernel: 1-D kernel size of the height and width gates (MCA: 3).
    """

    def __init__(self, channels: int, spatial_kernel: int = 3) -> None:
        super().__init__()
        self.channel_gate = AxisGate(channel_kernel_size(channels))
        self.height_gate = AxisGate(spatial_kernel)
        self.width_gate = AxisGate(spatial_kernel)

    def forward(self, x: Tensor) -> Tensor:
        """Re-weight ``x`` by the mean of its three gates."""
        (c_mean, c_std), (h_mean, h_std), (w_mean, w_std) = axis_moments(x)
        a_c = self.channel_gate(c_mean, c_std)[:, :, None, None]  # (B, C) -> (B, C, 1, 1)
        a_h = self.height_gate(h_mean, h_std)[:, None, :, None]  # (B, H) -> (B, 1, H, 1)
        a_w = self.width_gate(w_mean, w_std)[:, None, None, :]  # (B, W) -> (B, 1, 1, W)
        # x*a_c, x*a_h, x*a_w averaged = x times the averaged gates: the spatial part is
        # (B, 1, H, W), so only one full-size sum and one full-size product are made.
        gate: Tensor = a_c / 3 + (a_h + a_w) / 3  # -> (B, C, H, W)
        return x * gate.to(x.dtype)


Moments = tuple[Tensor, Tensor]


def axis_moments(x: Tensor) -> tuple[Moments, Moments, Moments]:
    """Mean and population std along channels, rows and columns of a (B, C, H, W) tensor.

    Returns ``((mean, std) over H, W per channel: (B, C); over C, W per row: (B, H);
    over C, H per column: (B, W))``. Computed in float32 from two partial sums over C
    (of ``x`` and ``x^2``) and two over H, W: a few passes over the map instead of one
    strided reduction per statistic and axis, which on a stride-4 map cost more CPU time
    than the convolutions around it. The variance is clamped at 1e-12 before the square
    root, so constant maps (1x1 maps, single rows) give a std of 1e-6 and finite gradients.
    """
    x = x.float()  # fp16 sums over C x W elements would overflow
    _, c, h, w = x.shape
    sq = x * x
    by_pixel, sq_by_pixel = x.sum(dim=1), sq.sum(dim=1)  # (B, C, H, W) -> (B, H, W)
    channel = (x.mean(dim=(2, 3)), sq.mean(dim=(2, 3)))  # (B, C)
    row = (by_pixel.sum(dim=2) / (c * w), sq_by_pixel.sum(dim=2) / (c * w))  # (B, H)
    column = (by_pixel.sum(dim=1) / (c * h), sq_by_pixel.sum(dim=1) / (c * h))  # (B, W)
    return _mean_std(*channel), _mean_std(*row), _mean_std(*column)


def _mean_std(mean: Tensor, mean_sq: Tensor) -> Moments:
    """``(mean, sqrt(E[x^2] - mean^2))`` with the variance clamped at 1e-12."""
    return mean, (mean_sq - mean * mean).clamp(min=1e-12).sqrt()
