"""Candidate pairs of overlapping boxes in linear time, by hashing envelopes into a grid.

Greedy suppression (per-tile NMS, the cross-tile scene merge) needs exact overlaps only
for boxes whose envelopes overlap. Comparing all pairs is quadratic; instead every box is
entered into the cells of a uniform grid that its envelope touches (cells about two median
boxes wide, coarsened when a few huge boxes would touch too many cells), and only boxes that
share a cell are compared. For a fixed box density the number of candidates, and the time,
grow linearly with the number of boxes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["overlapping_pairs"]

# Candidate pairs produced per chunk while expanding grid cells: bounds peak memory.
_PAIR_CHUNK = 1 << 22


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
