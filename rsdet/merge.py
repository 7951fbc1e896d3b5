"""Turn per-tile detections into one set per scene: shift to scene pixels, then merge.

The two steps are separate functions:

1. :func:`shift_to_scene` maps boxes from a tile's pixels (possibly resampled to the
   model's GSD) to scene pixels; :func:`edge_fragments` flags, in the tile's own frame, the
   boxes that touch an *inner* tile edge (an edge that is not the scene's edge).
   :func:`tiles_to_scene` does both for a batch of tiles: it is the one place where scene
   detection and validation turn tile outputs into scene pixels.
2. :func:`merge_detections` removes cross-tile duplicates in scene pixels.

Why two suppression rules
-------------------------
Neighbouring tiles overlap, so an object near a tile border is seen twice (four times at
a corner). Where a tile sees it whole, the boxes agree and their IoU is high: ordinary
class-aware greedy NMS (``iou_thr``) keeps the best one. Where a tile cuts the object,
that tile reports a *fragment*: a box ending on the tile edge and lying inside the full
box seen by the neighbour. Its IoU with the full box is low (a third of a car has IoU
~0.33), so NMS alone lets it survive beside the full box. Intersection over the *smaller*
box (IoS) is ~1 for such a pair, but IoS everywhere would also merge a small object
parked inside a larger one. So IoS applies only to fragments: a box flagged by
:func:`edge_fragments` is dropped when its IoS with a better-ranked box of the same
class exceeds ``fragment_thr``.

Ranking puts every whole box before every fragment (then by score), so a confident
fragment never suppresses the full view of its own object. When the tile overlap is at
least the largest object, every object lies whole inside some tile, so each object comes
out exactly once with its whole-tile box. A fragment with no whole twin (an object larger
than the overlap) survives as the best available box.

Cost
----
Candidate pairs come from a uniform grid hash of the boxes' envelopes (numpy, about two
cells per box, so the number of candidates grows linearly with the number of boxes for a
fixed density); exact IoU / IoS is computed only for those pairs (exact polygon overlap
for oriented boxes); :func:`rsdet.structures.greedy_keep` then solves greedy suppression
without a Python loop over boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from rsdet.structures import (
    Detections,
    HBoxes,
    RBoxes,
    greedy_keep,
    overlapping_pairs,
    quad_intersection_area,
)
from rsdet.tiling import TilePlan, Window

__all__ = [
    "MatchMetric",
    "MergeConfig",
    "edge_fragments",
    "merge_detections",
    "shift_to_scene",
    "tiles_to_scene",
]

# Pairs per chunk for the exact oriented-box intersection kernel.
_ROT_CHUNK = 1 << 17


class MatchMetric(Enum):
    """How two boxes are compared by the fragment rule."""

    IOU = "iou"  # intersection over union
    IOS = "ios"  # intersection over the smaller box's area


@dataclass(frozen=True)
class MergeConfig:
    """Cross-tile merge settings (see the module docstring for the two rules).

    Attributes:
        iou_thr: two boxes of one class with IoU above this are one object.
        fragment_metric: metric of the fragment rule (``IOS`` is the point of the rule;
            ``IOU`` makes fragments behave like any box when ``fragment_thr == iou_thr``).
        fragment_thr: a fragment is dropped when its metric with a better box exceeds this.
        edge_margin_px: a box whose envelope comes within this many tile pixels of an
            inner tile edge is a fragment.
    """

    iou_thr: float = 0.5
    fragment_metric: MatchMetric = MatchMetric.IOS
    fragment_thr: float = 0.6
    edge_margin_px: float = 2.0


def shift_to_scene(
    dets: Detections, window: Window, scale: tuple[float, float] = (1.0, 1.0)
) -> Detections:
    """Map detections from tile pixels to scene pixels (float64).

    Args:
        dets: boxes in the pixels of the image the model saw for ``window``.
        window: the tile, in scene pixels.
        scale: ``(sx, sy)`` scene pixels per model pixel (1 without resampling):
            ``x_scene = window.col_off + sx * x_tile``, likewise for y.

    Returns:
        The same detections in scene pixels; oriented boxes stay oriented (an unequal
        ``sx, sy`` turns them into the minimum-area rectangle around the scaled corners).
    """
    sx, sy = scale
    boxes: HBoxes | RBoxes
    if isinstance(dets.boxes, HBoxes):
        boxes = HBoxes(dets.boxes.tensor.to(torch.float64)).scale(sx, sy)
    elif sx == sy:
        boxes = RBoxes(dets.boxes.tensor.to(torch.float64)).scale(sx).regularized()
    else:
        corners = RBoxes(dets.boxes.tensor.to(torch.float64)).corners()
        boxes = RBoxes.from_polygons(corners * corners.new_tensor([sx, sy]))
    boxes = boxes.translate(float(window.col_off), float(window.row_off))
    return Detections(boxes, dets.scores.to(torch.float64), dets.labels)


def edge_fragments(
    boxes: HBoxes | RBoxes,
    tile_hw: tuple[int, int],
    window: Window,
    scene_hw: tuple[int, int],
    margin_px: float,
) -> np.ndarray:
    """Flag boxes that touch an inner edge of their tile (likely cut by the tile).

    Args:
        boxes: boxes in the tile's pixels (the frame the model saw).
        tile_hw: ``(height, width)`` of the image the model saw, pixels.
        window: the tile in scene pixels; tells which of its edges are inner edges.
        scene_hw: ``(height, width)`` of the scene, pixels.
        margin_px: distance to an edge, in tile pixels, that still counts as touching.

    Returns:
        (N,) bool; edges on the scene border never flag a box.
    """
    env = boxes.envelope().tensor.detach().cpu().to(torch.float64).numpy()
    height, width = tile_hw
    scene_h, scene_w = scene_hw
    frag = np.zeros(len(env), dtype=bool)
    if window.col_off > 0:
        frag |= env[:, 0] <= margin_px
    if window.row_off > 0:
        frag |= env[:, 1] <= margin_px
    if window.col_end < scene_w:
        frag |= env[:, 2] >= width - margin_px
    if window.row_end < scene_h:
        frag |= env[:, 3] >= height - margin_px
    return frag


def tiles_to_scene(
    dets_per_tile: Sequence[Detections],
    tiles: Sequence[int],
    plan: TilePlan,
    scene_hw: tuple[int, int],
    margin_px: float,
) -> tuple[list[Detections], list[np.ndarray]]:
    """Step 1 for a batch of tiles: flag edge fragments in tile pixels, shift to the scene.

    Args:
        dets_per_tile: the model's detections of each tile, in the pixels it saw.
        tiles: indices into ``plan.windows`` of those tiles.
        plan: the scene's tiles, the frame the model saw them in and its scale.
        scene_hw: ``(height, width)`` of the scene, pixels.
        margin_px: see :attr:`MergeConfig.edge_margin_px`.

    Returns:
        Per tile, its detections in scene pixels (float64) and their (N,) fragment flags.
    """
    windows = [plan.windows[t] for t in tiles]
    pairs = zip(dets_per_tile, windows, strict=True)
    fragments = [edge_fragments(d.boxes, plan.out_hw, w, scene_hw, margin_px) for d, w in pairs]
    shifted = [
        shift_to_scene(d, w, plan.scale) for d, w in zip(dets_per_tile, windows, strict=True)
    ]
    return shifted, fragments


def merge_detections(
    dets: Detections, fragment: np.ndarray, config: MergeConfig = MergeConfig()
) -> np.ndarray:
    """Class-aware cross-tile merge in scene pixels (see the module docstring).

    Args:
        dets: N detections of one scene, in scene pixels, in a deterministic order
            (ties in rank are broken by this order).
        fragment: (N,) bool from :func:`edge_fragments`.
        config: thresholds.

    Returns:
        Sorted (K,) int64 indices into ``dets`` of the detections to keep. Degenerate
        boxes (non-finite, or zero or negative area) are never kept.
    """
    n = len(dets)
    fragment = np.asarray(fragment, dtype=bool).reshape(-1)
    if fragment.shape[0] != n:
        raise ValueError(f"{n} detections but {fragment.shape[0]} fragment flags")
    boxes_np = dets.boxes.tensor.detach().cpu().to(torch.float64).numpy()
    area = dets.boxes.area().detach().cpu().to(torch.float64).numpy()
    good = np.flatnonzero(np.isfinite(boxes_np).all(axis=1) & (area > 0))
    scores = dets.scores.detach().cpu().to(torch.float64).numpy()[good]
    # Whole boxes rank before fragments, then by score; input order breaks ties.
    order = good[np.lexsort((good, -scores, fragment[good]))]
    ranked = dets[torch.from_numpy(order)]
    labels = ranked.labels.cpu().numpy()
    env = ranked.boxes.envelope().tensor.detach().cpu().to(torch.float64).numpy()
    i, j = overlapping_pairs(env, labels)
    inter = _pair_intersection(ranked.boxes, i, j)
    area_r = area[order]
    suppress = _ratio(inter, area_r[i] + area_r[j] - inter) > config.iou_thr
    frag_r = fragment[order]
    if config.fragment_metric is MatchMetric.IOS:
        frag_score = _ratio(inter, np.minimum(area_r[i], area_r[j]))
    else:
        frag_score = _ratio(inter, area_r[i] + area_r[j] - inter)
    suppress |= frag_r[j] & (frag_score > config.fragment_thr)
    keep = greedy_keep(len(order), torch.from_numpy(i[suppress]), torch.from_numpy(j[suppress]))
    return np.sort(order[keep.numpy()])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _pair_intersection(boxes: HBoxes | RBoxes, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(P,) exact intersection areas of box pairs ``(i[p], j[p])``, square pixels."""
    if isinstance(boxes, HBoxes):
        xyxy = boxes.tensor.detach().cpu().to(torch.float64).numpy()
        a, b = xyxy[i], xyxy[j]
        ix = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
        iy = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
        inter: np.ndarray = np.clip(ix, 0, None) * np.clip(iy, 0, None)
        return inter
    t = boxes.tensor.detach().cpu().to(torch.float64)
    out = np.zeros(len(i), dtype=np.float64)
    for s in range(0, len(i), _ROT_CHUNK):
        ti = t[torch.from_numpy(i[s : s + _ROT_CHUNK])]
        tj = t[torch.from_numpy(j[s : s + _ROT_CHUNK])]
        # Measure around the first box's centre: scene coordinates reach 1e5 px and more.
        shift = torch.cat([ti[:, :2], ti.new_zeros(len(ti), 3)], dim=1)
        qi, qj = RBoxes(ti - shift).corners(), RBoxes(tj - shift).corners()
        out[s : s + _ROT_CHUNK] = quad_intersection_area(qi, qj).numpy()
    return out
