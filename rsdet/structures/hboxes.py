"""Horizontal (axis-aligned) boxes and their overlap measures.

Frame and convention: an ``HBoxes`` row is ``(x1, y1, x2, y2)`` in *continuous pixel
coordinates* of the image it was predicted on. Pixel ``(row=0, col=0)`` covers the square
``[0, 1) x [0, 1)``, so a box that covers exactly the first pixel is ``(0, 0, 1, 1)``: box
edges are pixel edges, never pixel centres. No ``+1`` is ever added to widths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "HBoxes",
    "box_iou",
    "pairwise_iof",
    "pairwise_ios",
    "pairwise_iou",
]


def _as_float_tensor(data: Any, ncols: int) -> Tensor:
    """Turn array-like ``data`` into a float (N, ncols) tensor, keeping float64 if given."""
    if isinstance(data, Tensor):
        t = data
    elif isinstance(data, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(data))  # keeps float64 (evaluation uses it)
    else:
        t = torch.as_tensor(data, dtype=torch.float32)
    if not t.is_floating_point():
        t = t.to(torch.float32)
    if t.numel() == 0:
        t = t.reshape(0, ncols)
    if t.dim() != 2 or t.shape[-1] != ncols:
        raise ValueError(f"expected boxes of shape (N, {ncols}), got {tuple(t.shape)}")
    return t


class HBoxes:
    """Axis-aligned boxes: an (N, 4) float tensor of ``x1, y1, x2, y2`` in pixels.

    Args:
        tensor: a tensor, numpy array or nested sequence of shape (N, 4). Integer input and
            Python lists become float32; float64 tensors and arrays stay float64.
    """

    def __init__(self, tensor: Tensor | np.ndarray | Sequence[Sequence[float]]) -> None:
        self.tensor = _as_float_tensor(tensor, 4)

    # --- container protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.tensor.shape[0])

    def __getitem__(self, item: Any) -> HBoxes:
        """Index like a tensor; an int keeps the result 2-D (one box)."""
        if isinstance(item, int):
            return HBoxes(self.tensor[item].view(1, -1))
        return HBoxes(self.tensor[item])

    def __repr__(self) -> str:
        return f"HBoxes({self.tensor!r})"

    @property
    def device(self) -> torch.device:
        """Device of the underlying tensor."""
        return self.tensor.device

    def to(self, *args: Any, **kwargs: Any) -> HBoxes:
        """Move or cast, like :meth:`torch.Tensor.to`."""
        return HBoxes(self.tensor.to(*args, **kwargs))

    def clone(self) -> HBoxes:
        """Deep copy."""
        return HBoxes(self.tensor.clone())

    def numpy(self) -> np.ndarray:
        """The boxes as an (N, 4) numpy array (detached, on the CPU)."""
        return self.tensor.detach().cpu().numpy()

    @staticmethod
    def cat(boxes_list: Sequence[HBoxes]) -> HBoxes:
        """Concatenate several ``HBoxes`` (an empty list gives zero boxes)."""
        if len(boxes_list) == 0:
            return HBoxes(torch.zeros(0, 4))
        return HBoxes(torch.cat([b.tensor for b in boxes_list], dim=0))

    # --- geometry ------------------------------------------------------------------------
    @property
    def widths(self) -> Tensor:
        """(N,) ``x2 - x1`` in pixels."""
        return self.tensor[:, 2] - self.tensor[:, 0]

    @property
    def heights(self) -> Tensor:
        """(N,) ``y2 - y1`` in pixels."""
        return self.tensor[:, 3] - self.tensor[:, 1]

    def area(self) -> Tensor:
        """(N,) area in square pixels; inverted boxes count as zero area."""
        return self.widths.clamp(min=0) * self.heights.clamp(min=0)

    def centers(self) -> Tensor:
        """(N, 2) centre ``(cx, cy)`` in pixels."""
        return (self.tensor[:, :2] + self.tensor[:, 2:]) / 2

    def nonempty(self, min_size: float = 0.0) -> Tensor:
        """(N,) bool: width and height both strictly larger than ``min_size``."""
        return (self.widths > min_size) & (self.heights > min_size)

    def clip(self, height: float, width: float) -> HBoxes:
        """Clip to the image ``[0, width] x [0, height]`` (note the ``height, width`` order)."""
        t = self.tensor.clone()
        t[:, 0::2] = t[:, 0::2].clamp(0, width)
        t[:, 1::2] = t[:, 1::2].clamp(0, height)
        return HBoxes(t)

    def translate(self, dx: float, dy: float) -> HBoxes:
        """Shift by ``(dx, dy)`` pixels, e.g. from tile to scene coordinates."""
        offset = self.tensor.new_tensor([dx, dy, dx, dy])
        return HBoxes(self.tensor + offset)

    def scale(self, sx: float, sy: float) -> HBoxes:
        """Multiply x by ``sx`` and y by ``sy`` (resampling between pixel grids)."""
        factor = self.tensor.new_tensor([sx, sy, sx, sy])
        return HBoxes(self.tensor * factor)

    def corners(self) -> Tensor:
        """(N, 4, 2) corners, clockwise on screen from the top-left: TL, TR, BR, BL."""
        x1, y1, x2, y2 = self.tensor.unbind(-1)
        xs = torch.stack([x1, x2, x2, x1], dim=-1)
        ys = torch.stack([y1, y1, y2, y2], dim=-1)
        return torch.stack([xs, ys], dim=-1)

    def to_polygons(self) -> Tensor:
        """(N, 8) polygons ``x1 y1 x2 y2 x3 y3 x4 y4`` (DOTA order, clockwise on screen)."""
        return self.corners().reshape(-1, 8)

    def envelope(self) -> HBoxes:
        """The boxes themselves (the axis-aligned envelope of an axis-aligned box)."""
        return self


def _inter(a: Tensor, b: Tensor) -> Tensor:
    """(N, M) intersection areas of two (N, 4) / (M, 4) xyxy tensors."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` with 0 where ``den`` is 0 (degenerate boxes never produce NaN)."""
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, num / safe, torch.zeros_like(num))


def pairwise_iou(a: HBoxes, b: HBoxes) -> Tensor:
    """(N, M) intersection over union. Two zero-area boxes have IoU 0."""
    inter = _inter(a.tensor, b.tensor)
    union = a.area()[:, None] + b.area()[None, :] - inter
    return _safe_div(inter, union)


def pairwise_iof(a: HBoxes, b: HBoxes) -> Tensor:
    """(N, M) intersection over the area of ``a`` ("foreground"): how much of a lies in b."""
    inter = _inter(a.tensor, b.tensor)
    return _safe_div(inter, a.area()[:, None].expand_as(inter))


def pairwise_ios(a: HBoxes, b: HBoxes) -> Tensor:
    """(N, M) intersection over the smaller of the two areas (matches border fragments)."""
    inter = _inter(a.tensor, b.tensor)
    smaller = torch.minimum(a.area()[:, None], b.area()[None, :])
    return _safe_div(inter, smaller)


def box_iou(a: HBoxes, b: HBoxes) -> Tensor:
    """(N,) element-wise IoU of two equally long box sets."""
    if len(a) != len(b):
        raise ValueError(f"element-wise IoU needs equal lengths, got {len(a)} and {len(b)}")
    lt = torch.maximum(a.tensor[:, :2], b.tensor[:, :2])
    rb = torch.minimum(a.tensor[:, 2:], b.tensor[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    return _safe_div(inter, a.area() + b.area() - inter)
