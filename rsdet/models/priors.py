"""Prior locations on feature maps (one point per cell), in input-image pixels."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["grid_points"]


def grid_points(
    height: int,
    width: int,
    stride: int,
    offset: float = 0.5,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Points of a ``height x width`` feature map with the given stride, row-major.

    Args:
        height, width: feature-map size (cells).
        stride: pixels per cell.
        offset: 0.5 puts points at cell centres ``((j + 0.5) s, (i + 0.5) s)``; 0 puts them
            on cell corners ``(j s, i s)`` (the mmdet / DCFL anchor convention).
        device, dtype: of the result.

    Returns:
        (height * width, 2) ``x, y`` in input pixels; index ``i * width + j`` is cell (i, j).
    """
    ys = (torch.arange(height, device=device, dtype=dtype) + offset) * stride
    xs = (torch.arange(width, device=device, dtype=dtype) + offset) * stride
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=-1)
