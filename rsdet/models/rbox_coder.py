"""DCFL's box coder: deltas ``(dx, dy, dw, dh, dtheta)`` relative to an oriented prior.

This is mmrotate's ``DeltaXYWHAOBBoxCoder`` as DCFL configures it (means 0, stds 1, no edge
swap). It works in **le135** (``w >= h`` for encoding, theta in ``[-pi/4, 3pi/4)``), the
convention the deltas were defined in; callers convert at the edge with
:meth:`RBoxes.to_le135` / :meth:`RBoxes.from_le135`. With ``a = (xa, ya, wa, ha, ta)``::

    x = xa + dx wa cos(ta) - dy ha sin(ta)        (proj_xy; else x = xa + dx wa)
    y = ya + dx wa sin(ta) + dy ha cos(ta)        (proj_xy; else y = ya + dy ha)
    w = wa exp(clip(dw, +-ln(1000/16)))           h likewise
    theta = wrap_le135(ta + angle_factor pi dtheta)   (angle_factor None: ta + dtheta)

``decode(a, encode(a, g)) == g`` for any le135 ``g`` whose size ratio to ``a`` is within the
clip (``tests/models/test_rbox_coder.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rsdet.structures import norm_angle

__all__ = ["DCFL_CODER", "RBoxCoder"]

_LE135_START = -math.pi / 4


@dataclass(frozen=True)
class RBoxCoder:
    """Encode / decode oriented boxes against priors, all as (N, 5) le135 tensors in pixels.

    Attributes:
        angle_factor: ``dtheta`` is multiplied by ``angle_factor * pi`` (DCFL's head: 1.0,
            mmrotate ``norm_factor=1``). None applies ``dtheta`` in radians as is (the
            coder DCFL's assigner builds by default, see ``fix_posterior_decode``).
        proj_xy: centre deltas are in the prior's rotated frame (irrelevant for DCFL's
            theta = 0 priors, kept for generality).
        wh_ratio_clip: ``dw``, ``dh`` are clipped to ``+-|ln(wh_ratio_clip)|`` (= 4.135).
    """

    angle_factor: float | None = 1.0
    proj_xy: bool = True
    wh_ratio_clip: float = 16 / 1000

    def _angle_scale(self) -> float:
        return 1.0 if self.angle_factor is None else self.angle_factor * math.pi

    def decode(
        self, priors: Tensor, deltas: Tensor, max_shape: tuple[int, int] | None = None
    ) -> Tensor:
        """Apply deltas to priors.

        Args:
            priors: (N, 5) le135 ``cx, cy, w, h, theta`` in pixels.
            deltas: (N, 5) raw head outputs.
            max_shape: ``(height, width)``; when given, centres are clamped into the image
                (continuous frame ``[0, width] x [0, height]``), as DCFL does at test time.

        Returns:
            (N, 5) boxes, theta wrapped into le135; ``w < h`` is possible (no edge swap).
        """
        px, py, pw, ph, pa = priors.unbind(-1)
        dx, dy, dw, dh, da = deltas.unbind(-1)
        clip = abs(math.log(self.wh_ratio_clip))
        dw, dh = dw.clamp(-clip, clip), dh.clamp(-clip, clip)
        if self.proj_xy:
            cos, sin = torch.cos(pa), torch.sin(pa)
            x = px + dx * pw * cos - dy * ph * sin
            y = py + dx * pw * sin + dy * ph * cos
        else:
            x, y = px + dx * pw, py + dy * ph
        if max_shape is not None:
            x, y = x.clamp(0, max_shape[1]), y.clamp(0, max_shape[0])
        theta = norm_angle(pa + da * self._angle_scale(), _LE135_START)
        return torch.stack([x, y, pw * dw.exp(), ph * dh.exp(), theta], dim=-1)  # (N, 5)

    def encode(self, priors: Tensor, boxes: Tensor) -> Tensor:
        """The deltas that :meth:`decode` turns back into ``boxes`` (both (N, 5) le135)."""
        px, py, pw, ph, pa = priors.unbind(-1)
        gx, gy, gw, gh, ga = boxes.unbind(-1)
        ox, oy = gx - px, gy - py
        if self.proj_xy:
            cos, sin = torch.cos(pa), torch.sin(pa)
            ox, oy = cos * ox + sin * oy, -sin * ox + cos * oy
        da = norm_angle(ga - pa, _LE135_START) / self._angle_scale()
        dw, dh = torch.log(gw / pw), torch.log(gh / ph)
        return torch.stack([ox / pw, oy / ph, dw, dh, da], dim=-1)  # (N, 5)


# The coder of DCFL's head (mmrotate ``norm_factor=1``, ``proj_xy=True``): training and test.
DCFL_CODER = RBoxCoder()
