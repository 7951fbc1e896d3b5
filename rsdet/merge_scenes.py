"""Merge objects across the borders of a run's scenes, in one map frame.

Why
---
The scenes of one run are often pieces of one map: NEON-style 1 km tiles that share an
edge, or flight strips that overlap. The cross-tile merge (:mod:`rsdet.merge`) works inside
one scene, so an object on the border between two scenes comes out once per scene. Two
cases need two rules:

1. **Overlapping scenes** both see an object where their footprints overlap, just as
   neighbouring tiles do. The cross-tile rules apply unchanged, in map coordinates and only
   between boxes of different scenes: IoU above ``iou_thr`` is one object; a *scene
   fragment* is dropped when its IoS with a better box of its class exceeds
   ``fragment_thr``; whole boxes rank before fragments, then by score.
2. **Abutting scenes** (edges touch, footprints do not overlap) each see only their part of
   an object on the border. The two parts touch without overlapping, so their IoU and IoS
   are 0 and no suppression rule can tell they are one object. They are *joined*: two
   fragments of one class on either side of a shared edge, each reaching the other's cut
   line, whose extents *along* the edge agree (their 1-D IoS along the edge above
   ``fragment_thr``), become one box around both parts. It stays in the scene of the
   better-scored part, with that part's score. The same join mends an object cut by both
   scenes of an overlap narrower than the object (neither sees it whole).

A box is a scene fragment when its envelope comes within ``edge_margin_px`` scene pixels of
an edge of its scene that another scene's footprint continues beside the box (probed just
outside the edge). Edges on the outside of the mosaic never flag a box.

Frames
------
Every scene keeps its own pixels; a :class:`ScenePlacement` maps them to and from one map
frame shared by the run (the caller's choice, e.g. the first scene's CRS, other CRSs
reprojected). IoU and IoS are measured between the boxes' corner quadrilaterals in the map
frame; edge tests and joins in the pixels of one of the two scenes, so margins are pixels.

Limits: two different objects that touch each other exactly on the border of abutting
scenes cannot be told apart from one object cut there; they are joined.

Cost
----
Only boxes whose map envelope reaches a neighbouring scene's footprint take part (found by
the grid hash of :func:`rsdet.structures.overlapping_pairs`, over scenes and over boxes), so
the cost grows with the number of objects along shared borders, not with the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from rsdet.merge import MatchMetric, MergeConfig
from rsdet.structures import (
    Detections,
    HBoxes,
    RBoxes,
    greedy_keep,
    overlapping_pairs,
    quad_intersection_area,
)

__all__ = ["PointMap", "ScenePlacement", "merge_scenes", "scene_edge_fragments"]

# (N, 2) float64 points in one frame -> (N, 2) float64 points in another.
PointMap = Callable[[np.ndarray], np.ndarray]

# The four sides of a scene as (axis across the side: 0 = x, 1 = y; side at the far end).
_SIDES = ((0, False), (1, False), (0, True), (1, True))  # left, top, right, bottom
# Pairs per chunk for the quadrilateral intersection kernel.
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ScenePlacement:
    """Where a scene lies in the run's map frame.

    Attributes:
        hw: ``(height, width)`` of the scene, pixels.
        to_map: (N, 2) scene pixels ``(col, row)`` (integers are pixel corners) -> (N, 2)
            map coordinates ``(x, y)``.
        from_map: the inverse of ``to_map``.
    """

    hw: tuple[int, int]
    to_map: PointMap
    from_map: PointMap


@dataclass(frozen=True)
class _Border:
    """The boxes of all scenes that reach another scene's footprint, flattened (M boxes).

    Attributes:
        scene, index: (M,) int64 scene of each box and its index in that scene's detections.
        env_px: (M, 4) float64 envelope ``x1 y1 x2 y2`` in its own scene's pixels.
        quad: (M, 4, 2) float64 corners in map coordinates.
        label, score, fragment: (M,) int64 / float64 / bool.
    """

    scene: np.ndarray
    index: np.ndarray
    env_px: np.ndarray
    quad: np.ndarray
    label: np.ndarray
    score: np.ndarray
    fragment: np.ndarray

    @classmethod
    def empty(cls) -> _Border:
        """No boxes."""
        none = np.zeros(0, dtype=np.int64)
        boxes, quad, score = np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0)
        return cls(none, none, boxes, quad, none, score, np.zeros(0, dtype=bool))


def merge_scenes(
    dets: Sequence[Detections],
    places: Sequence[ScenePlacement],
    config: MergeConfig,
) -> list[Detections]:
    """Merge objects across scene borders (see the module docstring).

    Args:
        dets: per scene, its detections in its own pixels, already merged across its tiles.
        places: per scene, where it lies in the map frame.
        config: the cross-tile thresholds; ``edge_margin_px`` is in scene pixels here.

    Returns:
        Per scene, its detections after the merge, in its own pixels and in their input
        order; a joined object's box grows to cover its parts. A scene that nothing
        happened to gets its input object back.
    """
    if len(dets) != len(places):
        raise ValueError(f"{len(dets)} scenes of detections but {len(places)} placements")
    neighbours = _neighbours(places, config.edge_margin_px)
    border = _border_boxes(dets, places, neighbours, config.edge_margin_px)
    if len(border.score) < 2:
        return list(dets)
    alive = _suppress(border, config)
    groups = _join_groups(border, alive, places, config)
    return _rebuild(dets, places, border, alive, groups)


def scene_edge_fragments(
    env_px: np.ndarray,
    place: ScenePlacement,
    others: Sequence[ScenePlacement],
    margin_px: float,
) -> np.ndarray:
    """Flag boxes at an edge of their scene that another scene continues beside them.

    Args:
        env_px: (N, 4) envelopes ``x1 y1 x2 y2`` in the scene's pixels.
        place: the scene.
        others: the scenes that may continue it (its neighbours).
        margin_px: distance to an edge, in scene pixels, that still counts as touching.

    Returns:
        (N,) bool: within ``margin_px`` of a side, and a point ``margin_px + 0.5`` px
        outside that side, beside the box (at its two ends or its middle), lies in another
        scene.
    """
    frag = np.zeros(len(env_px), dtype=bool)
    size = (place.hw[1], place.hw[0])
    offset = margin_px + 0.5
    for axis, far in _SIDES:
        edge = float(size[axis]) if far else 0.0
        near = env_px[:, 2 + axis] >= edge - margin_px if far else env_px[:, axis] <= margin_px
        if not near.any() or not others:
            continue
        along = 1 - axis
        lo, hi = env_px[near, along], env_px[near, 2 + along]
        spots = np.clip(np.stack([lo, (lo + hi) / 2, hi], axis=1), 0.0, size[along])  # (n, 3)
        probe = np.empty((*spots.shape, 2))
        probe[..., along] = spots
        probe[..., axis] = edge + offset if far else -offset
        frag[near] = _in_any(place.to_map(probe.reshape(-1, 2)), others).reshape(-1, 3).any(1)
    return frag


def _in_any(points_map: np.ndarray, scenes: Sequence[ScenePlacement]) -> np.ndarray:
    """(N,) bool: each map point lies in (or on the edge of) one of ``scenes``."""
    inside = np.zeros(len(points_map), dtype=bool)
    for scene in scenes:
        px = scene.from_map(points_map)
        height, width = scene.hw
        inside |= (px[:, 0] >= 0) & (px[:, 0] <= width) & (px[:, 1] >= 0) & (px[:, 1] <= height)
    return inside


# --- which boxes take part ------------------------------------------------------------
def _pixel_length(place: ScenePlacement) -> float:
    """Map length of the longer side of one pixel at the scene centre."""
    cy, cx = place.hw[0] / 2, place.hw[1] / 2
    pts = place.to_map(np.array([[cx, cy], [cx + 1, cy], [cx, cy + 1]], dtype=np.float64))
    return float(max(np.hypot(*(pts[1] - pts[0])), np.hypot(*(pts[2] - pts[0]))))


def _footprint_envelopes(places: Sequence[ScenePlacement], margin_px: float) -> np.ndarray:
    """(S, 4) map envelopes of the scenes (corners and edge midpoints), padded by the margin."""
    env = np.empty((len(places), 4))
    for s, place in enumerate(places):
        h, w = place.hw
        ring = np.array(
            [[0, 0], [w / 2, 0], [w, 0], [w, h / 2], [w, h], [w / 2, h], [0, h], [0, h / 2]],
            dtype=np.float64,
        )
        pts = place.to_map(ring)
        pad = (margin_px + 1.0) * _pixel_length(place)
        env[s] = [*(pts.min(axis=0) - pad), *(pts.max(axis=0) + pad)]
    return env


def _neighbours(places: Sequence[ScenePlacement], margin_px: float) -> list[list[int]]:
    """Per scene, the scenes whose padded footprint envelopes overlap its own."""
    found: list[list[int]] = [[] for _ in places]
    i, j = overlapping_pairs(_footprint_envelopes(places, margin_px))
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        found[a].append(b)
        found[b].append(a)
    return found


def _border_boxes(
    dets: Sequence[Detections],
    places: Sequence[ScenePlacement],
    neighbours: list[list[int]],
    margin_px: float,
) -> _Border:
    """The boxes whose map envelope reaches a neighbour's padded footprint envelope."""
    scene_env = _footprint_envelopes(places, margin_px)
    parts: list[tuple[np.ndarray, ...]] = []
    for s, (d, near) in enumerate(zip(dets, neighbours, strict=True)):
        if not near or not len(d):
            continue
        corners = d.boxes.corners().detach().cpu().to(torch.float64).numpy()
        quad = places[s].to_map(corners.reshape(-1, 2)).reshape(-1, 4, 2)
        lo, hi = quad.min(axis=1), quad.max(axis=1)
        other = scene_env[near]
        reach = (lo[:, None, 0] < other[None, :, 2]) & (other[None, :, 0] < hi[:, None, 0])
        reach &= (lo[:, None, 1] < other[None, :, 3]) & (other[None, :, 1] < hi[:, None, 1])
        idx = np.flatnonzero(reach.any(axis=1))
        env_px = d.boxes.envelope().tensor.detach().cpu().to(torch.float64).numpy()[idx]
        frag = scene_edge_fragments(env_px, places[s], [places[t] for t in near], margin_px)
        scores = d.scores.detach().cpu().to(torch.float64).numpy()[idx]
        labels = d.labels.detach().cpu().numpy().astype(np.int64)[idx]
        parts.append((np.full(len(idx), s), idx, env_px, quad[idx], labels, scores, frag))
    if not parts:
        return _Border.empty()
    return _Border(*(np.concatenate(column) for column in zip(*parts, strict=True)))


# --- rule 1: suppression, as across tiles -------------------------------------------------
def _suppress(border: _Border, config: MergeConfig) -> np.ndarray:
    """(M,) bool: the boxes that survive the cross-tile rules applied across scenes."""
    m = len(border.score)
    order = np.lexsort((np.arange(m), -border.score, border.fragment))
    quad, scene, frag = border.quad[order], border.scene[order], border.fragment[order]
    env = np.concatenate([quad.min(axis=1), quad.max(axis=1)], axis=1)
    i, j = overlapping_pairs(env, border.label[order])
    cross = scene[i] != scene[j]
    i, j = i[cross], j[cross]
    inter = _intersection(quad, i, j)
    area = np.abs(_shoelace(quad))
    union = area[i] + area[j] - inter
    suppress = _ratio(inter, union) > config.iou_thr
    smaller = np.minimum(area[i], area[j])
    frag_den = smaller if config.fragment_metric is MatchMetric.IOS else union
    suppress |= frag[j] & (_ratio(inter, frag_den) > config.fragment_thr)
    keep = greedy_keep(m, torch.from_numpy(i[suppress]), torch.from_numpy(j[suppress]))
    alive = np.zeros(m, dtype=bool)
    alive[order[keep.numpy()]] = True
    return alive


def _intersection(quad: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(P,) exact intersection areas of the convex quadrilaterals ``quad[i], quad[j]``."""
    out = np.zeros(len(i), dtype=np.float64)
    q = torch.from_numpy(quad)
    for s in range(0, len(i), _CHUNK):
        qi = q[torch.from_numpy(i[s : s + _CHUNK])]
        qj = q[torch.from_numpy(j[s : s + _CHUNK])]
        out[s : s + _CHUNK] = quad_intersection_area(qi, qj).numpy()
    return out


def _shoelace(quad: np.ndarray) -> np.ndarray:
    """(M,) signed areas of (M, 4, 2) polygons."""
    x, y = quad[..., 0], quad[..., 1]
    area: np.ndarray = 0.5 * np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, 1)
    return area


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


# --- rule 2: joins across abutting edges --------------------------------------------------
def _join_groups(
    border: _Border, alive: np.ndarray, places: Sequence[ScenePlacement], config: MergeConfig
) -> list[np.ndarray]:
    """Groups (indices into ``border``, two or more each) of surviving fragments to join."""
    frag = np.flatnonzero(alive & border.fragment)
    pad = np.array([(config.edge_margin_px + 0.5) * _pixel_length(p) for p in places])
    quad = border.quad[frag]
    grow = pad[border.scene[frag]][:, None]
    env = np.concatenate([quad.min(axis=1) - grow, quad.max(axis=1) + grow], axis=1)
    i, j = overlapping_pairs(env, border.label[frag])
    a, b = frag[i], frag[j]
    cross = border.scene[a] != border.scene[b]
    a, b = a[cross], b[cross]
    joined = _meet_in_scene(border, a, b, places, config)
    joined |= _meet_in_scene(border, b, a, places, config)
    a, b = a[joined], b[joined]
    if not len(a):
        return []
    m = len(border.score)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(m, m))
    _, component = connected_components(graph, directed=False)
    members = np.unique(np.concatenate([a, b]))
    return [members[component[members] == c] for c in np.unique(component[members])]


def _meet_in_scene(
    border: _Border,
    a: np.ndarray,
    b: np.ndarray,
    places: Sequence[ScenePlacement],
    config: MergeConfig,
) -> np.ndarray:
    """(P,) bool: box ``b[p]``, seen in the pixels of box ``a[p]``'s scene, continues it."""
    out = np.zeros(len(a), dtype=bool)
    for s in np.unique(border.scene[a]):
        sel = np.flatnonzero(border.scene[a] == s)
        corners = places[s].from_map(border.quad[b[sel]].reshape(-1, 2)).reshape(-1, 4, 2)
        env_b = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
        out[sel] = _continues(border.env_px[a[sel]], env_b, places[s].hw, config)
    return out


def _continues(
    env_a: np.ndarray, env_b: np.ndarray, hw: tuple[int, int], config: MergeConfig
) -> np.ndarray:
    """(P,) bool: ``b`` lies across a side of ``a``'s scene that cuts ``a``, and fits ``a``.

    Both envelopes are in ``a``'s scene pixels. For the right side (``x = width``): ``a``
    ends within the margin of it, ``b`` starts within the margin of it (touching or
    overlapping) and reaches past it, ``a`` starts before ``b``; the other sides likewise.
    Along the side, the two extents must match (1-D IoS, or IoU, above ``fragment_thr``).
    """
    m = config.edge_margin_px
    size = (hw[1], hw[0])
    hit = np.zeros(len(env_a), dtype=bool)
    for axis, far in _SIDES:
        lo_a, hi_a = env_a[:, axis], env_a[:, 2 + axis]
        lo_b, hi_b = env_b[:, axis], env_b[:, 2 + axis]
        if far:
            edge = size[axis]
            across = (hi_a >= edge - m) & (lo_b <= edge + m) & (hi_b >= edge) & (lo_a <= lo_b)
        else:
            across = (lo_a <= m) & (hi_b >= -m) & (lo_b <= 0) & (hi_a >= hi_b)
        hit |= across & (_along_overlap(env_a, env_b, 1 - axis, config) > config.fragment_thr)
    return hit


def _along_overlap(
    env_a: np.ndarray, env_b: np.ndarray, along: int, config: MergeConfig
) -> np.ndarray:
    """(P,) overlap of the two envelopes' extents on axis ``along``: 1-D IoS (or IoU)."""
    lo_a, hi_a = env_a[:, along], env_a[:, 2 + along]
    lo_b, hi_b = env_b[:, along], env_b[:, 2 + along]
    inter = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0.0, None)
    len_a, len_b = hi_a - lo_a, hi_b - lo_b
    if config.fragment_metric is MatchMetric.IOS:
        return _ratio(inter, np.minimum(len_a, len_b))
    return _ratio(inter, len_a + len_b - inter)


# --- the result -------------------------------------------------------------------------
def _rebuild(
    dets: Sequence[Detections],
    places: Sequence[ScenePlacement],
    border: _Border,
    alive: np.ndarray,
    groups: list[np.ndarray],
) -> list[Detections]:
    """Per scene: drop suppressed and joined-away boxes, grow each join's owner box."""
    alive = alive.copy()
    grown: dict[int, torch.Tensor] = {}  # border index of an owner -> its new box row
    for group in groups:
        owner = int(group[np.lexsort((group, -border.score[group]))[0]])
        alive[group[group != owner]] = False
        s = int(border.scene[owner])
        pts = places[s].from_map(border.quad[group].reshape(-1, 2))
        grown[owner] = _enclosing(pts, isinstance(dets[s].boxes, RBoxes))
    out = []
    for s, d in enumerate(dets):
        mine = np.flatnonzero(border.scene == s)
        if not len(mine) or (alive[mine].all() and not any(k in grown for k in mine)):
            out.append(d)
            continue
        tensor = d.boxes.tensor.detach().cpu().to(torch.float64).clone()
        for k in mine:
            if int(k) in grown:
                tensor[int(border.index[k])] = grown[int(k)]
        keep = np.ones(len(d), dtype=bool)
        keep[border.index[mine[~alive[mine]]]] = False
        boxes: HBoxes | RBoxes = RBoxes(tensor) if d.oriented else HBoxes(tensor)
        out.append(Detections(boxes, d.scores, d.labels)[torch.from_numpy(keep)])
    return out


def _enclosing(points_px: np.ndarray, oriented: bool) -> torch.Tensor:
    """The box around (K, 2) pixel points: the envelope, or the minimum-area rectangle."""
    if oriented:
        return RBoxes.from_polygons(torch.from_numpy(points_px[None])).tensor[0]
    return torch.from_numpy(np.concatenate([points_px.min(axis=0), points_px.max(axis=0)]))
