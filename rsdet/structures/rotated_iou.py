"""Exact IoU of oriented boxes (and of convex quadrilaterals), vectorised in torch.

The intersection of two convex quadrilaterals is a convex polygon whose vertices are among
(a) the corners of each that lie inside the other and (b) the crossings of their edges
(4 x 4 pairs). We gather those 24 candidates per pair, order the valid ones by angle around
their mean, and take the shoelace area. Duplicated vertices (identical or touching boxes)
add zero-area slivers, so they are harmless; fewer than three distinct vertices give area 0.

The computation is differentiable almost everywhere (the vertex order comes from a sort
done without gradient, which is piecewise constant), so the same kernel serves evaluation,
NMS, label assignment and the rotated-IoU loss. It runs on whatever device its inputs live.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rsdet.structures.rboxes import RBoxes

__all__ = [
    "pairwise_rotated_iof",
    "pairwise_rotated_ios",
    "pairwise_rotated_iou",
    "quad_intersection_area",
    "rotated_iou",
]

# Relative tolerance of the point-in-polygon test (scaled by the boxes' size), so corners
# lying exactly on the other box's edge count as inside despite rounding.
_REL_TOL = 1e-6
# Pairs per chunk in the pairwise functions: bounds peak memory at a few hundred MB.
_CHUNK = 1 << 18


def _cross(a: Tensor, b: Tensor) -> Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _signed_area(poly: Tensor) -> Tensor:
    """(..., K, 2) -> (...) signed shoelace area (positive = counter-clockwise in math axes)."""
    return 0.5 * _cross(poly, poly.roll(-1, dims=-2)).sum(-1)


def _inside(points: Tensor, poly: Tensor, orient: Tensor, tol: Tensor) -> Tensor:
    """(P, 4, 2) points in (P, 4, 2) convex polys -> (P, 4) bool (boundary counts as inside)."""
    edges = poly.roll(-1, dims=-2) - poly  # (P, 4, 2)
    rel = points[:, :, None, :] - poly[:, None, :, :]  # (P, pts, edges, 2)
    side = _cross(edges[:, None], rel) * orient[:, None, None]
    length = edges.norm(dim=-1)[:, None, :]
    inside: Tensor = (side >= -tol[:, None, None] * length).all(dim=-1)
    return inside


def quad_intersection_area(q1: Tensor, q2: Tensor) -> Tensor:
    """Intersection area of convex quadrilaterals, element-wise.

    Args:
        q1, q2: (P, 4, 2) vertices of convex quadrilaterals (either orientation), pixels.

    Returns:
        (P,) intersection areas in square pixels.
    """
    if q1.shape[0] == 0:
        return q1.new_zeros(0)
    # Shared local origin: keeps float32 precise for map-sized coordinates.
    origin = q1.mean(dim=1, keepdim=True)
    q1, q2 = q1 - origin, q2 - origin
    o1 = torch.where(_signed_area(q1) < 0, -1.0, 1.0).to(q1.dtype)
    o2 = torch.where(_signed_area(q2) < 0, -1.0, 1.0).to(q1.dtype)
    scale = (q1.abs().amax(dim=(1, 2)) + q2.abs().amax(dim=(1, 2))).clamp(min=1.0)
    tol = _REL_TOL * scale

    in1 = _inside(q1, q2, o2, tol)  # corners of q1 inside q2
    in2 = _inside(q2, q1, o1, tol)

    # Edge-edge crossings: a + t*e1 == b + u*e2 with t, u in [0, 1].
    a = q1[:, :, None, :]
    e1 = (q1.roll(-1, dims=1) - q1)[:, :, None, :]
    b = q2[:, None, :, :]
    e2 = (q2.roll(-1, dims=1) - q2)[:, None, :, :]
    den = _cross(e1, e2)  # (P, 4, 4)
    ok_den = den.abs() > 1e-12 * scale[:, None, None] ** 2
    den_safe = torch.where(ok_den, den, torch.ones_like(den))  # no inf/NaN in any branch
    ab = b - a
    t = _cross(ab, e2) / den_safe
    u = _cross(ab, e1) / den_safe
    ok_cross = ok_den & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    crossings = (a + t[..., None] * e1).reshape(-1, 16, 2)

    verts = torch.cat([q1, q2, crossings], dim=1)  # (P, 24, 2)
    valid = torch.cat([in1, in2, ok_cross.reshape(-1, 16)], dim=1)  # (P, 24)
    count = valid.sum(dim=1, keepdim=True).clamp(min=1)
    vmask = valid[..., None].to(verts.dtype)
    center = (verts * vmask).sum(dim=1, keepdim=True) / count[..., None]

    with torch.no_grad():  # the order is piecewise constant: no gradient needed
        rel = verts - center
        ang = torch.atan2(rel[..., 1], rel[..., 0])
        ang = torch.where(valid, ang, torch.full_like(ang, 10.0))  # invalid ones sort last
        order = ang.argsort(dim=1)
    rel = (verts - center).gather(1, order[..., None].expand(-1, -1, 2))
    valid_sorted = valid.gather(1, order)
    # Replace invalid slots by the first vertex: they then add zero area and close the ring.
    first = rel[:, :1].expand_as(rel)
    rel = torch.where(valid_sorted[..., None], rel, first)
    area = 0.5 * _cross(rel, rel.roll(-1, dims=1)).sum(dim=1).abs()
    return torch.where(valid.sum(dim=1) >= 3, area, torch.zeros_like(area))


def _pair_intersection(ta: Tensor, tb: Tensor) -> Tensor:
    """(P,) intersection areas of (P, 5) box pairs, computed around ``ta``'s centres.

    Moving the origin before building corners keeps float32 exact to ~1e-6 even at map-like
    coordinates (1e5 px and more), where absolute corners would lose a hundredth of a pixel.
    """
    shift = torch.cat([ta[:, :2], ta.new_zeros(ta.shape[0], 3)], dim=1)
    return quad_intersection_area(RBoxes(ta - shift).corners(), RBoxes(tb - shift).corners())


def rotated_iou(a: RBoxes, b: RBoxes, eps: float = 0.0) -> Tensor:
    """(N,) element-wise exact IoU of two equally long ``RBoxes``.

    Args:
        a, b: oriented boxes, same length N.
        eps: added to the union (the loss uses a small value); with 0, zero-area pairs
            give IoU 0.
    """
    if len(a) != len(b):
        raise ValueError(f"element-wise IoU needs equal lengths, got {len(a)} and {len(b)}")
    inter = _pair_intersection(a.tensor, b.tensor)
    union = a.area() + b.area() - inter + eps
    safe = torch.where(union > 0, union, torch.ones_like(union))
    return torch.where(union > 0, inter / safe, torch.zeros_like(inter))


def _candidate_pairs(a: RBoxes, b: RBoxes) -> tuple[Tensor, Tensor]:
    """Index pairs whose circumscribed circles overlap (all others have IoU exactly 0)."""
    ca, cb = a.centers(), b.centers()
    ra = 0.5 * torch.hypot(a.widths, a.heights)
    rb = 0.5 * torch.hypot(b.widths, b.heights)
    rows, cols = [], []
    step = max(1, _CHUNK // max(len(b), 1))
    for s in range(0, len(a), step):
        d = torch.cdist(ca[s : s + step], cb)
        hit = d <= (ra[s : s + step, None] + rb[None, :])
        i, j = hit.nonzero(as_tuple=True)
        rows.append(i + s)
        cols.append(j)
    if not rows:
        empty = torch.zeros(0, dtype=torch.long, device=a.device)
        return empty, empty
    return torch.cat(rows), torch.cat(cols)


def _pairwise(a: RBoxes, b: RBoxes, mode: str) -> Tensor:
    """Dense (N, M) overlap matrix; ``mode`` is one of "iou", "iof", "ios" (private helper)."""
    out = a.tensor.new_zeros(len(a), len(b))
    if len(a) == 0 or len(b) == 0:
        return out
    rows, cols = _candidate_pairs(a, b)
    area_a, area_b = a.area(), b.area()
    for s in range(0, rows.numel(), _CHUNK):
        i, j = rows[s : s + _CHUNK], cols[s : s + _CHUNK]
        inter = _pair_intersection(a.tensor[i], b.tensor[j])
        if mode == "iou":
            den = area_a[i] + area_b[j] - inter
        elif mode == "iof":
            den = area_a[i]
        else:
            den = torch.minimum(area_a[i], area_b[j])
        safe = torch.where(den > 0, den, torch.ones_like(den))
        out[i, j] = torch.where(den > 0, inter / safe, torch.zeros_like(inter))
    return out


def pairwise_rotated_iou(a: RBoxes, b: RBoxes) -> Tensor:
    """(N, M) exact IoU matrix of oriented boxes (CPU or CUDA, chunked to bound memory)."""
    return _pairwise(a, b, "iou")


def pairwise_rotated_iof(a: RBoxes, b: RBoxes) -> Tensor:
    """(N, M) intersection over the area of ``a`` (0 where ``a`` has zero area)."""
    return _pairwise(a, b, "iof")


def pairwise_rotated_ios(a: RBoxes, b: RBoxes) -> Tensor:
    """(N, M) intersection over the smaller area: a border fragment inside its full box -> ~1."""
    return _pairwise(a, b, "ios")
