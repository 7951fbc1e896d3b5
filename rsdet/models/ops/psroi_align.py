"""Position-sensitive RoI Align (R-FCN / Light-Head R-CNN pooling) in plain PyTorch.

Semantics are those of TinyDet's CUDA op ``PSROIAlign_ori``
(``hustvl/TinyDet: mmdet_extra/ps_roi_align_ori/PSROIAlign_cuda.cu``), reproduced exactly:

* the input has ``D * k * k`` channels; output bin ``(ph, pw)`` of output channel ``d``
  reads input channel ``(d * k + ph) * k + pw`` only (k = ``out_size``, 7 in TinyDet);
* a RoI ``(x1, y1, x2, y2)`` is multiplied by ``spatial_scale`` (1 / stride) with no half-pixel
  offset; its width and height on the map are at least 0.1;
* each bin takes ``sampling_ratio x sampling_ratio`` bilinear samples at
  ``((i + 0.5) / sampling_ratio)`` of the bin and keeps their **maximum** (not the mean);
* a sample at ``y < -1`` or ``y > H`` (likewise x) reads 0; otherwise its coordinates are
  clamped into ``[0, H - 1]`` before interpolating (a feature pixel ``i`` sits at ``i``).

The backward pass of the CUDA op routes a bin's gradient to its argmax sample; autograd
through :meth:`torch.Tensor.max` over the samples does the same.

Vectorised: every (RoI, output channel, bin, sample) reads its four neighbours with one
``take`` on the flattened map, so only the ``D * k * k * s * s`` samples a RoI needs are
interpolated (``grid_sample`` would interpolate all ``D * k * k`` channels at every sample).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["psroi_align"]


def psroi_align(
    features: Tensor,
    rois: Tensor,
    spatial_scale: float,
    out_size: int = 7,
    sampling_ratio: int = 2,
) -> Tensor:
    """Pool position-sensitive RoI features (see the module docstring for the semantics).

    Args:
        features: (B, D * k * k, H, W) score maps, k = ``out_size``.
        rois: (N, 5) ``batch_index, x1, y1, x2, y2`` in the op's frame: input pixels that
            ``spatial_scale`` maps onto feature pixels with no offset (mmdet-v1 boxes with
            inclusive ends, as TinyDet passes them; see :mod:`rsdet.models.rcnn`).
        spatial_scale: feature pixels per input pixel (1 / stride).
        out_size: bins per side k.
        sampling_ratio: samples per bin side (2 in TinyDet), max-pooled.

    Returns:
        (N, D, k, k) pooled features, in the dtype of ``features``.
    """
    _, c, h, w = features.shape
    k, s = out_size, sampling_ratio
    if c % (k * k):
        raise ValueError(f"{c} channels are not a multiple of out_size^2 = {k * k}")
    d, n = c // (k * k), rois.shape[0]
    if n == 0:
        return features.new_zeros(0, d, k, k)
    box = rois[:, 1:].to(features.dtype) * spatial_scale  # (N, 4) feature pixels
    ys = _sample_positions(box[:, 1], box[:, 3], k, s)  # (N, k, s)
    xs = _sample_positions(box[:, 0], box[:, 2], k, s)  # (N, k, s)
    y_tap, y_weight = _linear_taps(ys, h)  # (N, k, s, 2): the two rows of each sample
    x_tap, x_weight = _linear_taps(xs, w)  # (N, k, s, 2): the two columns
    # Flat index of (image, channel) planes: channel (d * k + ph) * k + pw for bin (ph, pw).
    chan = torch.arange(c, device=features.device).reshape(d, k, k)
    plane = rois[:, 0].long().reshape(n, 1, 1, 1) * c + chan  # (N, D, k, k)
    # Axes: (N, D, ph, pw, sample y, sample x, tap y, tap x).
    pos = y_tap.reshape(n, 1, k, 1, s, 1, 2, 1) * w + x_tap.reshape(n, 1, 1, k, 1, s, 1, 2)
    index = plane.reshape(n, d, k, k, 1, 1, 1, 1) * (h * w) + pos  # (N, D, k, k, s, s, 2, 2)
    weight = y_weight.reshape(n, 1, k, 1, s, 1, 2, 1) * x_weight.reshape(n, 1, 1, k, 1, s, 1, 2)
    value = (features.reshape(-1).take(index) * weight).sum(dim=(6, 7))  # bilinear
    return value.flatten(4).max(dim=4).values  # (N, D, k, k, s * s) -> (N, D, k, k)


def _sample_positions(start: Tensor, end: Tensor, k: int, s: int) -> Tensor:
    """(N,) RoI extents on one axis -> (N, k, s) sample coordinates, bin-major."""
    size = (end - start).clamp(min=0.1)  # "force too small RoIs to be 1x1" (at least 0.1)
    bin_size = size / k  # (N,)
    frac = torch.arange(k, device=start.device, dtype=start.dtype).reshape(1, k, 1)
    frac = frac + (torch.arange(s, device=start.device, dtype=start.dtype) + 0.5) / s
    return start.reshape(-1, 1, 1) + frac * bin_size.reshape(-1, 1, 1)  # (N, k, s)


def _linear_taps(pos: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Neighbours and weights of 1-D linear interpolation, as the CUDA kernel computes them.

    Args:
        pos: sample coordinates (feature pixels, pixel ``i`` at ``i``), any shape ``S``.
        size: map extent along this axis.

    Returns:
        ``taps`` (*S, 2) int64 indices (low, high) and their ``weights`` (*S, 2); both weights
        are 0 for samples outside ``[-1, size]``.
    """
    inside = (pos >= -1.0) & (pos <= size)
    p = pos.clamp(min=0.0)
    low = p.floor()
    last = low >= size - 1  # at or past the last pixel: both neighbours are the last pixel
    low = torch.where(last, torch.full_like(low, size - 1), low)
    p = torch.where(last, low, p)
    high = torch.where(last, low, low + 1)
    frac = (p - low) * inside
    taps = torch.stack([low, high], dim=-1).long()
    return taps, torch.stack([(1 - frac) * inside, frac], dim=-1)
