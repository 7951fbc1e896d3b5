"""Oriented boxes as 2-D Gaussians, and the distances between Gaussians detectors use.

A box ``(cx, cy, w, h, theta)`` becomes ``N(mu, Sigma)`` with ``mu = (cx, cy)`` and
``Sigma = R(theta) diag(w^2/4, h^2/4) R(theta)^T``. ``Sigma`` does not change under
``theta -> theta + pi`` or ``(w, h, theta) -> (h, w, theta + pi/2)``, so these measures have
no angle-boundary discontinuity (the price: a square's orientation is invisible).

All functions broadcast over leading dimensions: pass ``mu1[:, None], s1[:, None]`` and
``mu2[None], s2[None]`` for a pairwise matrix. Work in float32 or float64; never fp16 (the
log-determinants underflow).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rsdet.structures.rboxes import RBoxes

__all__ = ["bhattacharyya_distance", "gjsd", "kld", "rboxes_to_gaussian"]

# Side lengths are clamped to [_MIN_SIDE, _MAX_SIDE] so degenerate boxes stay invertible.
_MIN_SIDE = 1e-7
_MAX_SIDE = 1e7


def rboxes_to_gaussian(boxes: RBoxes) -> tuple[Tensor, Tensor]:
    """Return ``mu`` (N, 2) and ``Sigma`` (N, 2, 2) of oriented boxes, in pixels / pixels^2."""
    cx, cy, w, h, theta = boxes.tensor.unbind(-1)
    w = w.clamp(_MIN_SIDE, _MAX_SIDE)
    h = h.clamp(_MIN_SIDE, _MAX_SIDE)
    a, b = w**2 / 4, h**2 / 4
    cos, sin = torch.cos(theta), torch.sin(theta)
    s11 = a * cos**2 + b * sin**2
    s22 = a * sin**2 + b * cos**2
    s12 = (a - b) * sin * cos
    sigma = torch.stack([torch.stack([s11, s12], -1), torch.stack([s12, s22], -1)], -2)
    return torch.stack([cx, cy], dim=-1), sigma


def _det(s: Tensor) -> Tensor:
    return s[..., 0, 0] * s[..., 1, 1] - s[..., 0, 1] * s[..., 1, 0]


def _inv(s: Tensor) -> Tensor:
    """Closed-form inverse of (..., 2, 2) symmetric matrices."""
    det = _det(s)[..., None, None]
    adj = torch.stack(
        [
            torch.stack([s[..., 1, 1], -s[..., 0, 1]], -1),
            torch.stack([-s[..., 1, 0], s[..., 0, 0]], -1),
        ],
        -2,
    )
    return adj / det


def _quad(d: Tensor, m: Tensor) -> Tensor:
    """``d^T m d`` for (..., 2) vectors and (..., 2, 2) matrices."""
    return (d[..., None, :] @ m @ d[..., :, None])[..., 0, 0]


def bhattacharyya_distance(mu1: Tensor, s1: Tensor, mu2: Tensor, s2: Tensor) -> Tensor:
    """Bhattacharyya distance ``1/8 d^T S^-1 d + 1/2 ln(|S| / sqrt(|S1||S2|))``, S = (S1+S2)/2.

    Symmetric, zero for identical Gaussians, and numerically stable at large coordinates
    (only the centre difference enters).
    """
    s = (s1 + s2) / 2
    d = mu1 - mu2
    maha = _quad(d, _inv(s))
    logdet = torch.log(_det(s)) - 0.5 * (torch.log(_det(s1)) + torch.log(_det(s2)))
    return maha / 8 + logdet / 2


def gjsd(mu1: Tensor, s1: Tensor, mu2: Tensor, s2: Tensor, alpha: float = 0.5) -> Tensor:
    """Generalised Jensen-Shannon divergence of two Gaussians (DCFL's coarse matching metric).

    For ``alpha = 0.5`` (DCFL's value) it equals :func:`bhattacharyya_distance`, which we then
    return for its better numerics; other ``alpha`` use the closed form
    ``1/2 [(1-a) m1' S1^-1 m1 + a m2' S2^-1 m2 - ma' Sa^-1 ma + ln(|S1|^(1-a) |S2|^a / |Sa|)]``
    with ``Sa = ((1-a) S1^-1 + a S2^-1)^-1`` and ``ma = Sa ((1-a) S1^-1 m1 + a S2^-1 m2)``,
    evaluated around ``mu1`` to limit cancellation.
    """
    if alpha == 0.5:
        return bhattacharyya_distance(mu1, s1, mu2, s2)
    m2 = mu2 - mu1  # translate so that mu1 is the origin (the divergence is shift-invariant)
    i1, i2 = _inv(s1), _inv(s2)
    sa = _inv((1 - alpha) * i1 + alpha * i2)
    ma = (sa @ (alpha * (i2 @ m2[..., None])))[..., 0]
    term = alpha * _quad(m2, i2) - _quad(ma, _inv(sa))
    logdet = (1 - alpha) * torch.log(_det(s1)) + alpha * torch.log(_det(s2)) - torch.log(_det(sa))
    return 0.5 * (term + logdet)


def kld(mu_p: Tensor, s_p: Tensor, mu_t: Tensor, s_t: Tensor) -> Tensor:
    """Kullback-Leibler divergence ``KL(N_p || N_t)`` in 2-D (not symmetric).

    ``1/2 [tr(St^-1 Sp) + (mp - mt)' St^-1 (mp - mt) - 2 + ln(|St| / |Sp|)]``.
    """
    it = _inv(s_t)
    tr = (it @ s_p).diagonal(dim1=-2, dim2=-1).sum(-1)
    d = mu_p - mu_t
    return 0.5 * (tr + _quad(d, it) - 2 + torch.log(_det(s_t)) - torch.log(_det(s_p)))
