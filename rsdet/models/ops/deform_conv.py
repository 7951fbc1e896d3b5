"""Deformable convolution v1/v2 (DCNv2 with a modulation mask) in plain PyTorch.

Semantics follow mmcv's ``modulated_deform_conv2d`` with one offset group: output position
``p`` of a ``k x k`` kernel reads the input at

    ``s_k(p) = p * stride - padding + k_idx * dilation + delta_k(p)``

by bilinear interpolation, where samples outside the feature map read 0 (each of the four
neighbours of a fractional position contributes only when it lies inside), multiplies
it by ``mask_k(p)`` and sums ``W_k`` over the taps. Offsets are in input-feature pixels and
interleaved ``[dy_0, dx_0, dy_1, dx_1, ...]`` over taps in row-major kernel order.

The bilinear reads use ``F.grid_sample(align_corners=True, padding_mode="zeros")``. Its
normalised coordinate ``2 s / (size - 1) - 1`` is undefined for a map of size 1 (P7 of a
small input), so the input is first zero-padded by one pixel on every side: the padded map
is at least 3 wide, the padding reads 0 exactly as "outside" does, and positions shift by 1.

A second form of the same reads, ``sampler="gather"``, picks the four neighbours of each
position as rows of a channels-last copy of the padded map. ONNX Runtime runs it about three
times faster than its CPU ``GridSample`` (``benchmarks/bench_onnx.py --dcn``), so ONNX export
switches to it; in eager torch ``grid_sample`` is about four times faster, so it stays the
default. The two agree to float rounding (``tests/models/ops/test_deform_conv.py``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ModulatedDeformConv2d", "Sampler", "deform_conv2d"]

# How the bilinear reads are done (see the module docstring); both give the same values.
Sampler = Literal["grid_sample", "gather"]


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else v


def _sample_taps(x: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
    """Bilinear reads of ``x`` at pixel positions, zeros outside.

    Args:
        x: (B, C, H, W) features.
        ys, xs: (B, K, Ho, Wo) row and column positions in pixels of ``x`` (pixel ``i`` at ``i``).

    Returns:
        (B, C, K, Ho, Wo) sampled values.
    """
    b, c, h, w = x.shape
    k, ho, wo = ys.shape[1:]
    xp = F.pad(x, (1, 1, 1, 1))  # zero ring: see the module docstring (size-1 maps)
    gx = 2 * (xs + 1) / (w + 1) - 1  # padded width w + 2 -> denominator w + 1
    gy = 2 * (ys + 1) / (h + 1) - 1
    grid = torch.stack([gx, gy], dim=-1).reshape(b, k * ho, wo, 2)  # (B, K*Ho, Wo, 2)
    out = F.grid_sample(xp, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.reshape(b, c, k, ho, wo)  # (B, C, K*Ho, Wo) -> (B, C, K, Ho, Wo)


def _gather_taps(x: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
    """:func:`_sample_taps` with row gathers instead of ``grid_sample`` (same values).

    Each of the four neighbours of a position is read from the zero-padded map with its row
    and column clamped into the padded frame, so a neighbour outside the map lands on the
    zero ring and reads 0 without a mask.

    Args:
        x: (B, C, H, W) features.
        ys, xs: (B, K, Ho, Wo) row and column positions in pixels of ``x``.

    Returns:
        (B, C, K, Ho, Wo) sampled values.
    """
    b, c, h, w = x.shape
    k, ho, wo = ys.shape[1:]
    hp, wp = h + 2, w + 2  # the padded map
    rows = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1).reshape(b * hp * wp, c)  # (B Hp Wp, C)
    first = (torch.arange(b, device=x.device) * (hp * wp)).reshape(b, 1, 1, 1)  # image offsets
    y, xx = ys + 1, xs + 1  # positions in the padded map
    y0, x0 = y.floor(), xx.floor()
    fy, fx = y - y0, xx - x0  # (B, K, Ho, Wo) bilinear fractions

    def read(yi: Tensor, xi: Tensor) -> Tensor:  # (B, K, Ho, Wo) -> (B, K, Ho, Wo, C)
        index = yi.long().clamp(0, hp - 1) * wp + xi.long().clamp(0, wp - 1) + first
        return rows[index.reshape(-1)].reshape(b, k, ho, wo, c)

    out = (
        read(y0, x0) * ((1 - fy) * (1 - fx))[..., None]
        + read(y0, x0 + 1) * ((1 - fy) * fx)[..., None]
        + read(y0 + 1, x0) * (fy * (1 - fx))[..., None]
        + read(y0 + 1, x0 + 1) * (fy * fx)[..., None]
    )
    return out.permute(0, 4, 1, 2, 3)  # (B, K, Ho, Wo, C) -> (B, C, K, Ho, Wo)


def deform_conv2d(
    x: Tensor,
    offset: Tensor,
    weight: Tensor,
    mask: Tensor | None = None,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    sampler: Sampler = "grid_sample",
) -> Tensor:
    """Deformable convolution (DCNv1 without ``mask``, DCNv2 with it), one offset group.

    Args:
        x: (B, C, H, W) input features.
        offset: (B, 2K, Ho, Wo) offsets in input pixels, ``[dy_0, dx_0, ...]``, K = kh * kw.
        weight: (Cout, C, kh, kw) kernel.
        mask: (B, K, Ho, Wo) modulation (DCNv2), usually a sigmoid output; None means 1.
        bias: (Cout,) or None.
        stride, padding, dilation: as in :func:`torch.nn.functional.conv2d`.
        sampler: how the bilinear reads are done (see the module docstring).

    Returns:
        (B, Cout, Ho, Wo), with ``Ho = (H + 2 pad - dil (kh - 1) - 1) // stride + 1``.
    """
    b, c, h, w = x.shape
    cout, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    k = kh * kw
    if offset.shape != (b, 2 * k, ho, wo):
        raise ValueError(f"offset must be {(b, 2 * k, ho, wo)}, got {tuple(offset.shape)}")

    def arange(n: int) -> Tensor:
        return torch.arange(n, device=x.device, dtype=x.dtype)

    # Regular sampling grid: (K, Ho, Wo) rows and columns before the learned offsets.
    ky, kx = torch.meshgrid(arange(kh), arange(kw), indexing="ij")
    oy, ox = torch.meshgrid(arange(ho), arange(wo), indexing="ij")
    base_y = (oy * sh - ph)[None] + (ky.reshape(-1) * dh)[:, None, None]  # (K, Ho, Wo)
    base_x = (ox * sw - pw)[None] + (kx.reshape(-1) * dw)[:, None, None]  # (K, Ho, Wo)
    off = offset.reshape(b, k, 2, ho, wo)  # (B, 2K, Ho, Wo) -> (B, K, [dy, dx], Ho, Wo)
    sample = _gather_taps if sampler == "gather" else _sample_taps
    cols = sample(x, base_y + off[:, :, 0], base_x + off[:, :, 1])  # (B, C, K, Ho, Wo)
    if mask is not None:
        cols = cols * mask[:, None]  # (B, 1, K, Ho, Wo) broadcast over channels
    cols = cols.reshape(b, c * k, ho * wo)  # (B, C, K, Ho, Wo) -> (B, C*K, Ho*Wo)
    out = weight.reshape(cout, c * k) @ cols  # (Cout, C*K) @ (B, C*K, Ho*Wo) -> (B, Cout, Ho*Wo)
    out = out.reshape(b, cout, ho, wo)  # (B, Cout, Ho*Wo) -> (B, Cout, Ho, Wo)
    if bias is not None:
        out = out + bias[None, :, None, None]
    return out


class ModulatedDeformConv2d(nn.Module):
    """A DCNv2 layer whose offsets and mask are given by the caller (mmcv semantics).

    Zhu et al., "Deformable ConvNets v2: More Deformable, Better Results", CVPR 2019.
    The weight init is mmcv's: ``U(-1/sqrt(C k k), +1/sqrt(C k k))``, bias 0.

    Args:
        in_channels, out_channels: channels.
        kernel_size, stride, padding, dilation: as for ``nn.Conv2d``.
        bias: add a learned bias (DCFL's head uses none).

    Attributes:
        sampler: ``"grid_sample"``; ONNX export sets ``"gather"`` (see the module docstring).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        dilation: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.kernel_size = kernel_size
        self.sampler: Sampler = "grid_sample"
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        bound = 1 / math.sqrt(in_channels * kernel_size**2)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor | None) -> Tensor:
        """Apply the layer; shapes as in :func:`deform_conv2d` (``mask`` None: DCNv1)."""
        return deform_conv2d(
            x,
            offset,
            self.weight,
            mask,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.sampler,
        )
