"""Oriented (rotated) boxes and the one angle convention rsdet uses.

The convention (read this once; everything in rsdet follows it)
------------------------------------------------------------------
An ``RBoxes`` row is ``(cx, cy, w, h, theta)``:

* ``cx, cy``: centre in continuous pixel coordinates (x to the right, y **down**; pixel
  ``(0, 0)`` covers ``[0, 1) x [0, 1)``), the same frame as :class:`~rsdet.structures.HBoxes`.
* ``w, h``: side lengths in pixels. ``w`` is the side along the box's own x axis.
* ``theta``: **radians**. The box's x axis (its ``w`` side) is the image x axis rotated by
  ``theta`` towards the image +y axis. Because y points down, a positive angle looks
  **clockwise on screen**.

The canonical form is **le90**: ``w >= h`` and ``theta`` in ``[-pi/2, pi/2)``. Every
converter in this module returns canonical boxes; the constructor accepts any
``(w, h, theta)`` (the same rectangle has many spellings) and :meth:`RBoxes.regularized`
brings them to canonical form. Other conventions exist only at the edges of the library,
through explicit converters:

=============  =================  ===========================  =============================
name           theta range        side rule                    converters
=============  =================  ===========================  =============================
``le90``       ``[-pi/2, pi/2)``  ``w >= h``                   ``from_le90`` / ``to_le90``
``le135``      ``[-pi/4, 3pi/4)`` ``w >= h`` (DCFL)            ``from_le135`` / ``to_le135``
``oc``         ``(0, pi/2]``      ``w`` = the side at theta    ``from_oc`` / ``to_oc``
polygon        --                 4 corners, any order         ``from_polygons`` / ``to_polygons``
=============  =================  ===========================  =============================

Corners (``corners``/``to_polygons``) with ``v1 = (w/2 cos t, w/2 sin t)`` and
``v2 = (-h/2 sin t, h/2 cos t)`` are ``c - v1 - v2, c + v1 - v2, c + v1 + v2, c - v1 + v2``:
for ``theta = 0`` that is top-left, top-right, bottom-right, bottom-left, i.e. clockwise on
screen, the DOTA order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rsdet.structures.hboxes import HBoxes, _as_float_tensor

__all__ = ["RBoxes", "norm_angle"]

_HALF_PI = math.pi / 2


def norm_angle(theta: Tensor, start: float) -> Tensor:
    """Wrap ``theta`` (radians) into ``[start, start + pi)``: the period of a rectangle."""
    return torch.remainder(theta - start, math.pi) + start


def _regularize(t: Tensor, start: float) -> Tensor:
    """Long side first, angle wrapped into ``[start, start + pi)``; (N, 5) -> (N, 5)."""
    cx, cy, w, h, theta = t.unbind(-1)
    swap = w < h
    w2 = torch.where(swap, h, w)
    h2 = torch.where(swap, w, h)
    theta = torch.where(swap, theta + _HALF_PI, theta)
    return torch.stack([cx, cy, w2, h2, norm_angle(theta, start)], dim=-1)


class RBoxes:
    """Oriented boxes: an (N, 5) float tensor ``cx, cy, w, h, theta`` (see module docstring).

    Args:
        tensor: anything ``torch.as_tensor`` accepts, of shape (N, 5). It is stored as given;
            call :meth:`regularized` for the canonical le90 form.
    """

    def __init__(self, tensor: Tensor | np.ndarray | Sequence[Sequence[float]]) -> None:
        self.tensor = _as_float_tensor(tensor, 5)

    # --- container protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.tensor.shape[0])

    def __getitem__(self, item: Any) -> RBoxes:
        """Index like a tensor; an int keeps the result 2-D (one box)."""
        if isinstance(item, int):
            return RBoxes(self.tensor[item].view(1, -1))
        return RBoxes(self.tensor[item])

    def __repr__(self) -> str:
        return f"RBoxes({self.tensor!r})"

    @property
    def device(self) -> torch.device:
        """Device of the underlying tensor."""
        return self.tensor.device

    def to(self, *args: Any, **kwargs: Any) -> RBoxes:
        """Move or cast, like :meth:`torch.Tensor.to`."""
        return RBoxes(self.tensor.to(*args, **kwargs))

    def clone(self) -> RBoxes:
        """Deep copy."""
        return RBoxes(self.tensor.clone())

    def numpy(self) -> np.ndarray:
        """The boxes as an (N, 5) numpy array (detached, on the CPU)."""
        return self.tensor.detach().cpu().numpy()

    @staticmethod
    def cat(boxes_list: Sequence[RBoxes]) -> RBoxes:
        """Concatenate several ``RBoxes`` (an empty list gives zero boxes)."""
        if len(boxes_list) == 0:
            return RBoxes(torch.zeros(0, 5))
        return RBoxes(torch.cat([b.tensor for b in boxes_list], dim=0))

    # --- geometry ------------------------------------------------------------------------
    @property
    def widths(self) -> Tensor:
        """(N,) side ``w`` in pixels."""
        return self.tensor[:, 2]

    @property
    def heights(self) -> Tensor:
        """(N,) side ``h`` in pixels."""
        return self.tensor[:, 3]

    @property
    def angles(self) -> Tensor:
        """(N,) ``theta`` in radians."""
        return self.tensor[:, 4]

    def area(self) -> Tensor:
        """(N,) area in square pixels."""
        return self.widths.clamp(min=0) * self.heights.clamp(min=0)

    def centers(self) -> Tensor:
        """(N, 2) centre ``(cx, cy)`` in pixels."""
        return self.tensor[:, :2]

    def nonempty(self, min_size: float = 0.0) -> Tensor:
        """(N,) bool: both sides strictly larger than ``min_size``."""
        return (self.widths > min_size) & (self.heights > min_size)

    def regularized(self) -> RBoxes:
        """The same rectangles in canonical le90 form (``w >= h``, theta in [-pi/2, pi/2))."""
        return RBoxes(_regularize(self.tensor, -_HALF_PI))

    def translate(self, dx: float, dy: float) -> RBoxes:
        """Shift the centres by ``(dx, dy)`` pixels."""
        offset = self.tensor.new_tensor([dx, dy, 0.0, 0.0, 0.0])
        return RBoxes(self.tensor + offset)

    def scale(self, factor: float) -> RBoxes:
        """Scale centres and sides by ``factor`` (isotropic, so the angle is unchanged)."""
        f = self.tensor.new_tensor([factor, factor, factor, factor, 1.0])
        return RBoxes(self.tensor * f)

    def corners(self) -> Tensor:
        """(N, 4, 2) corners in the order given in the module docstring."""
        cx, cy, w, h, theta = self.tensor.unbind(-1)
        cos, sin = torch.cos(theta), torch.sin(theta)
        v1 = torch.stack([w / 2 * cos, w / 2 * sin], dim=-1)
        v2 = torch.stack([-h / 2 * sin, h / 2 * cos], dim=-1)
        c = torch.stack([cx, cy], dim=-1)
        return torch.stack([c - v1 - v2, c + v1 - v2, c + v1 + v2, c - v1 + v2], dim=1)

    def to_polygons(self) -> Tensor:
        """(N, 8) polygons ``x1 y1 ... x4 y4`` (corners in the documented order)."""
        return self.corners().reshape(-1, 8)

    def envelope(self) -> HBoxes:
        """Axis-aligned bounding boxes of the rotated rectangles."""
        cx, cy, w, h, theta = self.tensor.unbind(-1)
        cos, sin = torch.cos(theta).abs(), torch.sin(theta).abs()
        dx = w / 2 * cos + h / 2 * sin
        dy = w / 2 * sin + h / 2 * cos
        return HBoxes(torch.stack([cx - dx, cy - dy, cx + dx, cy + dy], dim=-1))

    # --- conventions (explicit converters; the only place other conventions exist) -------
    @classmethod
    def from_hboxes(cls, boxes: HBoxes) -> RBoxes:
        """Axis-aligned boxes as oriented boxes with theta = 0 (canonical form)."""
        t = boxes.tensor
        out = torch.stack(
            [
                (t[:, 0] + t[:, 2]) / 2,
                (t[:, 1] + t[:, 3]) / 2,
                (t[:, 2] - t[:, 0]).clamp(min=0),
                (t[:, 3] - t[:, 1]).clamp(min=0),
                torch.zeros_like(t[:, 0]),
            ],
            dim=-1,
        )
        return cls(out).regularized()

    @classmethod
    def from_le90(cls, tensor: Tensor | np.ndarray) -> RBoxes:
        """From le90 ``(cx, cy, w, h, theta)``; values are checked only by regularising."""
        return cls(tensor).regularized()

    def to_le90(self) -> Tensor:
        """(N, 5) le90 tensor (the canonical form)."""
        return self.regularized().tensor

    @classmethod
    def from_le135(cls, tensor: Tensor | np.ndarray) -> RBoxes:
        """From le135 ``(cx, cy, w, h, theta)`` (``w >= h``, theta in [-pi/4, 3pi/4))."""
        return cls(tensor).regularized()

    def to_le135(self) -> Tensor:
        """(N, 5) tensor in le135 (``w >= h``, theta in [-pi/4, 3pi/4)), as DCFL uses."""
        return _regularize(self.tensor, -math.pi / 4)

    @classmethod
    def from_oc(cls, tensor: Tensor | np.ndarray) -> RBoxes:
        """From OpenCV ``oc`` ``(cx, cy, w, h, theta)`` with theta in (0, pi/2] (radians)."""
        return cls(tensor).regularized()

    def to_oc(self) -> Tensor:
        """(N, 5) tensor in ``oc``: theta in (0, pi/2], ``w`` = the side at angle theta."""
        cx, cy, w, h, theta = self.tensor.unbind(-1)
        # Number of quarter turns to remove so that theta lands in (0, pi/2].
        k = torch.ceil(theta / _HALF_PI) - 1
        theta_oc = theta - k * _HALF_PI
        # Float rounding can leave theta_oc a hair outside (0, pi/2]; fold it back.
        low = theta_oc <= 0
        theta_oc = torch.where(low, theta_oc + _HALF_PI, theta_oc)
        k = torch.where(low, k - 1, k)
        odd = torch.remainder(k, 2) == 1
        return torch.stack(
            [cx, cy, torch.where(odd, h, w), torch.where(odd, w, h), theta_oc], dim=-1
        )

    @classmethod
    def from_polygons(cls, polygons: Tensor | np.ndarray) -> RBoxes:
        """Minimum-area rectangles around polygons, in canonical form.

        Args:
            polygons: (N, 2K) flat ``x1 y1 x2 y2 ...`` or (N, K, 2) vertices, K >= 1, in any
                order (clockwise, counter-clockwise or shuffled). Degenerate input (repeated
                points, collinear points) gives zero-size sides, never NaN.

        Returns:
            The smallest-area enclosing rectangles (exact: one side of the optimum lies on a
            hull edge, and every hull edge joins two of the points, so all point pairs are
            tried). For a rectangle given as 4 corners this recovers it exactly.
        """
        pts = polygons if isinstance(polygons, Tensor) else torch.from_numpy(np.asarray(polygons))
        if not pts.is_floating_point():
            pts = pts.to(torch.float32)
        if pts.dim() == 2:
            pts = pts.reshape(pts.shape[0], -1, 2)
        if pts.shape[0] == 0:
            return cls(pts.new_zeros(0, 5))
        return cls(_min_area_rect(pts))


def _min_area_rect(pts: Tensor) -> Tensor:
    """(N, K, 2) points -> (N, 5) canonical minimum-area rectangles."""
    k = pts.shape[1]
    # Work relative to the centroid so large map-like coordinates keep their precision.
    origin = pts.mean(dim=1, keepdim=True)
    p = pts - origin
    ii, jj = torch.triu_indices(k, k, offset=1, device=pts.device)
    if ii.numel() == 0:  # a single point
        ii = jj = torch.zeros(1, dtype=torch.long, device=pts.device)
    d = p[:, jj] - p[:, ii]  # (N, P, 2) candidate edge directions
    cand = torch.atan2(d[..., 1], d[..., 0])  # atan2(0, 0) == 0: degenerate pairs are harmless
    cos, sin = torch.cos(cand), torch.sin(cand)
    # Project every point on each candidate frame: u along the edge, v across it.
    u = p[:, None, :, 0] * cos[..., None] + p[:, None, :, 1] * sin[..., None]  # (N, P, K)
    v = -p[:, None, :, 0] * sin[..., None] + p[:, None, :, 1] * cos[..., None]
    umin, umax = u.min(-1).values, u.max(-1).values
    vmin, vmax = v.min(-1).values, v.max(-1).values
    area = (umax - umin) * (vmax - vmin)
    best = area.argmin(dim=1, keepdim=True)  # (N, 1)

    def pick(x: Tensor) -> Tensor:
        return x.gather(1, best).squeeze(1)

    uc = (pick(umax) + pick(umin)) / 2
    vc = (pick(vmax) + pick(vmin)) / 2
    c, s = pick(cos), pick(sin)
    cx = uc * c - vc * s + origin[:, 0, 0]
    cy = uc * s + vc * c + origin[:, 0, 1]
    w = pick(umax) - pick(umin)
    h = pick(vmax) - pick(vmin)
    theta = pick(cand)
    return _regularize(torch.stack([cx, cy, w, h, theta], dim=-1), -_HALF_PI)
