"""Turn per-tile detections into one set per scene: shift to scene pixels, then merge.

The two steps are separate functions:

1. :func:`shift_to_scene` maps boxes from a tile's pixels (possibly resampled to the
   model's GSD) to scene pixels; :func:`edge_fragments` flags, in the tile's own frame, the
   boxes that touch an *inner* tile edge (an edge that is not the scene's edge).
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

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from rsdet.structures import Detections, HBoxes, RBoxes, greedy_keep, quad_intersection_area
from rsdet.tiling import Window

__all__ = [
    "MatchMetric",
    "MergeConfig",
    "edge_fragments",
    "merge_detections",
    "overlapping_pairs",
    "shift_to_scene",
]

# Candidate pairs produced per chunk while expanding grid cells: bounds peak memory.
_PAIR_CHUNK = 1 << 22
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


def overlapping_pairs(
    env: np.ndarray, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``i < j`` of envelopes that overlap with positive area (same label if given).

    Args:
        env: (N, 4) float ``x1 y1 x2 y2`` envelopes, any frame.
        labels: optional (N,) int labels; pairs must share a label.

    Returns:
        ``(i, j)`` int64 arrays, each pair once, ``i < j``, sorted by ``(i, j)``.
    """
    n = len(env)
    if labels is None:
        labels = np.zeros(n, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if n < 2:
        return empty, empty
    cells = _GridCells.build(env, labels)
    found_i, found_j = [empty], [empty]
    for a, b in cells.pairs():
        hit = (
            (env[a, 0] < env[b, 2])
            & (env[b, 0] < env[a, 2])
            & (env[a, 1] < env[b, 3])
            & (env[b, 1] < env[a, 3])
        )
        found_i.append(a[hit])
        found_j.append(b[hit])
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    order = np.lexsort((j, i))
    return i[order], j[order]


@dataclass
class _GridCells:
    """Boxes expanded to the grid cells their envelopes touch, sorted by (cell, box)."""

    key: np.ndarray  # (M,) int64 cell key (label, row, column) of each entry
    box: np.ndarray  # (M,) int64 box index of each entry
    cx: np.ndarray  # (M,) cell column / row of each entry
    cy: np.ndarray
    x0: np.ndarray  # (N,) first cell column / row of each box
    y0: np.ndarray

    @classmethod
    def build(cls, env: np.ndarray, labels: np.ndarray) -> _GridCells:
        finite = np.isfinite(env).all(axis=1)
        env = np.where(finite[:, None], env, 0.0)
        size = np.maximum(env[:, 2] - env[:, 0], env[:, 3] - env[:, 1])
        # Two median boxes per cell: most boxes touch 1-4 cells, and a cell holds few boxes.
        cell = max(2.0 * float(np.median(size)), 1e-9)
        origin = env[:, :2].min(axis=0)
        while True:
            x0, y0, x1, y1 = (np.floor((env - np.tile(origin, 2)) / cell)).astype(np.int64).T
            counts = (x1 - x0 + 1) * (y1 - y0 + 1)
            # A few huge boxes would touch very many cells: coarsen the grid instead.
            if counts.sum() <= 8 * len(env) + 1024:
                break
            cell *= 2.0
        counts = np.where(finite, counts, 0)
        box = np.repeat(np.arange(len(env)), counts)
        k = np.arange(box.size) - np.repeat(np.cumsum(counts) - counts, counts)
        nx = (x1 - x0 + 1)[box]
        cx, cy = x0[box] + k % nx, y0[box] + k // nx
        ncols, nrows = int(x1.max()) + 1, int(y1.max()) + 1
        key = (labels[box].astype(np.int64) * nrows + cy) * ncols + cx
        order = np.lexsort((box, key))
        return cls(key[order], box[order], cx[order], cy[order], x0, y0)

    def pairs(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Chunks of candidate pairs ``(a, b)`` with ``a < b``, each pair exactly once."""
        m = self.key.size
        new_group = np.r_[True, self.key[1:] != self.key[:-1]]
        starts = np.flatnonzero(new_group)
        ends = np.r_[starts[1:], m]
        group_end = np.repeat(ends, ends - starts)
        partners = group_end - np.arange(m) - 1  # later entries of the same cell
        total = np.cumsum(partners)
        n_chunks = max(1, math.ceil(int(total[-1]) / _PAIR_CHUNK)) if m else 1
        bounds = np.searchsorted(total, np.arange(1, n_chunks) * _PAIR_CHUNK)
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, m], strict=True):
            yield self._expand(np.arange(lo, hi), partners[lo:hi])

    def _expand(self, pos: np.ndarray, cnt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        left = np.repeat(pos, cnt)
        right = left + 1 + np.arange(left.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        a, b = self.box[left], self.box[right]
        # A pair sharing several cells is reported only in the top-left shared cell.
        own = (self.cx[left] == np.maximum(self.x0[a], self.x0[b])) & (
            self.cy[left] == np.maximum(self.y0[a], self.y0[b])
        )
        return a[own], b[own]
