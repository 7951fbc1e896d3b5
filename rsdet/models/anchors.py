"""Anchors and the box-delta coder of mmdetection v1, in rsdet's box frame.

TinyDet is built on mmdetection v1, whose boxes have inclusive integer ends: a box
``(x1, y1, x2, y2)`` covers pixels ``x1..x2`` and is ``x2 - x1 + 1`` wide. rsdet's HBoxes are
continuous (edges, not pixel indices), so the v1 box is the rsdet box
``(x1, y1, x2 + 1, y2 + 1)``. In that frame every v1 ``+ 1`` and ``0.5`` cancels:

* v1 anchor centres ``0.5 (stride - 1) + j stride`` (pixel indices) are cell centres
  ``(j + 0.5) stride``;
* v1 widths ``x2 - x1 + 1`` are rsdet widths ``x2 - x1``, so IoUs agree;
* v1's ``bbox2delta`` / ``delta2bbox`` are the plain centre-size coder of :class:`DeltaCoder`.

So the anchors, deltas and IoUs here are the official ones, with no ``+ 1`` anywhere. The one
v1 quirk kept on purpose is the rounding of the base anchors' corners (``.round()`` in
``AnchorGenerator.gen_base_anchors``): TinyDet-M's smallest square anchor is 12 px, not 12.8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["AnchorGenerator", "DeltaCoder", "inside_image"]


@dataclass(frozen=True)
class AnchorGenerator:
    """mmdet-v1 anchors: per level, ``len(ratios) x len(scales)`` boxes at every cell.

    Base size = stride; an anchor of scale ``s`` and ratio ``r = h / w`` has
    ``w = stride * s / sqrt(r)`` and ``h = stride * s * sqrt(r)`` before rounding, centred on
    the cell centre (see the module docstring for the frame and the rounding).

    Attributes:
        strides: pixels per cell of each level, finest first.
        scales: anchor side in strides (TinyDet: one scale, 2.25 / 3.2 / 5.12 for S / M / L).
        ratios: height / width ratios (0.5, 1, 2).
    """

    strides: tuple[int, ...]
    scales: tuple[float, ...] = (3.2,)
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0)

    @property
    def num_anchors(self) -> int:
        """Anchors per cell."""
        return len(self.scales) * len(self.ratios)

    def base_anchors(self, stride: int) -> Tensor:
        """(A, 4) anchors of cell (0, 0), ratio-major, in input pixels (rsdet frame).

        Computed in float32 as mmdet v1 does, so that its rounding is reproduced bit for bit.
        """
        h_ratios = torch.tensor(self.ratios).sqrt()  # float32, as v1
        w_ratios = 1 / h_ratios
        scales = torch.tensor(self.scales)
        ws = (stride * w_ratios[:, None] * scales[None, :]).reshape(-1)  # (A,) ratio-major
        hs = (stride * h_ratios[:, None] * scales[None, :]).reshape(-1)
        ctr = 0.5 * (stride - 1)  # v1 pixel index of the cell centre
        v1 = torch.stack(
            [
                ctr - 0.5 * (ws - 1),
                ctr - 0.5 * (hs - 1),
                ctr + 0.5 * (ws - 1),
                ctr + 0.5 * (hs - 1),
            ],
            dim=-1,
        ).round()  # (A, 4) inclusive corners
        return v1 + torch.tensor([0.0, 0.0, 1.0, 1.0])  # inclusive ends -> rsdet edges

    def grid(
        self, stride: int, height: int, width: int, device: torch.device | str = "cpu"
    ) -> Tensor:
        """(H * W * A, 4) anchors of one level, in input pixels.

        Row ``(i * W + j) * A + a`` is anchor ``a`` of cell (i, j): the order of the RPN
        outputs flattened as (A, H, W) -> (H, W, A).
        """
        base = self.base_anchors(stride).to(device)  # (A, 4)
        ys = torch.arange(height, device=device, dtype=torch.float32) * stride
        xs = torch.arange(width, device=device, dtype=torch.float32) * stride
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)  # (HW, 1, 4)
        return (shifts + base[None]).reshape(-1, 4)  # (HW, A, 4) -> (HWA, 4)

    def __call__(
        self, sizes: Sequence[tuple[int, int]], device: torch.device | str = "cpu"
    ) -> list[Tensor]:
        """Anchors of every level, given each level's (height, width) in cells."""
        if len(sizes) != len(self.strides):
            raise ValueError(f"{len(sizes)} feature maps for {len(self.strides)} strides")
        return [self.grid(s, h, w, device) for s, (h, w) in zip(self.strides, sizes, strict=True)]


@dataclass(frozen=True)
class DeltaCoder:
    """Centre-size box deltas (R-CNN), normalised by ``stds`` (all means are 0 in TinyDet).

    ``encode(p, g) = ((gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph)) / stds`` for
    priors ``p`` and targets ``g`` with centres ``(x, y)`` and sizes ``(w, h)``; ``decode``
    inverts it, with ``log`` sizes clamped to ``max_ratio``. ``decode(p, encode(p, g)) == g``
    for sizes within that ratio.

    Attributes:
        stds: per-coordinate divisors (RPN 1, 1, 1, 1; R-CNN 0.1, 0.1, 0.2, 0.2).
        max_ratio: clamp of the decoded log size ratio (mmdet: ``|log(16 / 1000)|``).
    """

    stds: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    max_ratio: float = abs(math.log(16 / 1000))

    def encode(self, priors: Tensor, targets: Tensor) -> Tensor:
        """(N, 4) xyxy priors and targets (input pixels) -> (N, 4) normalised deltas."""
        pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
        gw, gh = targets[:, 2] - targets[:, 0], targets[:, 3] - targets[:, 1]
        dx = (targets[:, 0] + targets[:, 2] - priors[:, 0] - priors[:, 2]) / (2 * pw)
        dy = (targets[:, 1] + targets[:, 3] - priors[:, 1] - priors[:, 3]) / (2 * ph)
        deltas = torch.stack([dx, dy, torch.log(gw / pw), torch.log(gh / ph)], dim=1)
        return deltas / deltas.new_tensor(self.stds)

    def decode(
        self, priors: Tensor, deltas: Tensor, max_shape: tuple[int, int] | None = None
    ) -> Tensor:
        """(N, 4) priors and normalised deltas -> (N, 4) xyxy boxes, clipped to ``max_shape``.

        Args:
            priors: (N, 4) xyxy, input pixels.
            deltas: (N, 4) as :meth:`encode` gives them.
            max_shape: ``(height, width)`` to clip to (edges in ``[0, W] x [0, H]``), or None.
        """
        d = deltas * deltas.new_tensor(self.stds)
        dwh = d[:, 2:].clamp(-self.max_ratio, self.max_ratio)
        size = priors[:, 2:] - priors[:, :2]  # (N, 2) w, h
        centre = (priors[:, :2] + priors[:, 2:]) / 2 + size * d[:, :2]
        half = size * dwh.exp() / 2
        boxes = torch.cat([centre - half, centre + half], dim=1)  # (N, 4)
        if max_shape is not None:
            h, w = max_shape
            boxes = torch.minimum(boxes.clamp(min=0), boxes.new_tensor([w, h, w, h]))
        return boxes


def inside_image(anchors: Tensor, image_hw: tuple[int, int], border: float = 0.0) -> Tensor:
    """(N,) True for (N, 4) anchors lying within ``border`` pixels of the image.

    mmdet v1's ``allowed_border`` (0 for TinyDet's RPN: only anchors inside the image train);
    a negative ``border`` accepts every anchor.
    """
    if border < 0:
        return torch.ones(anchors.shape[0], dtype=torch.bool, device=anchors.device)
    h, w = image_hw
    low = (anchors[:, :2] >= -border).all(dim=1)
    high = (anchors[:, 2] <= w + border) & (anchors[:, 3] <= h + border)
    return low & high
