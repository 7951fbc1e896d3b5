"""Enumerate (detection, ground truth) pairs that share a group (image, or image x class).

Evaluation only ever compares a detection with the ground truth of its own group, so the
pairs are built group-wise without Python loops: ground truth is sorted by group, each
detection gets the slice of its group, and the slices are expanded with ``np.repeat``.
Pairs come out ordered by detection, then by ground-truth position, which lets later
steps reduce per detection with ``np.ufunc.reduceat``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["group_slices", "iter_pairs", "segment_starts"]

# Pairs per batch: bounds peak memory (a few arrays of this many float64 / int64).
_MAX_PAIRS = 1 << 21


def group_slices(gt_keys_sorted: np.ndarray, det_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slice ``[start, end)`` of each detection's group in the sorted ground-truth keys.

    Args:
        gt_keys_sorted: (N,) int64 group key of each ground-truth row, ascending.
        det_keys: (D,) int64 group key of each detection.

    Returns:
        ``(start, end)``, two (D,) int64 arrays (``start == end`` when the group is empty).
    """
    start = np.searchsorted(gt_keys_sorted, det_keys, side="left")
    end = np.searchsorted(gt_keys_sorted, det_keys, side="right")
    return start.astype(np.int64), end.astype(np.int64)


def iter_pairs(
    start: np.ndarray, end: np.ndarray, max_pairs: int = _MAX_PAIRS
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All (detection, ground truth) pairs, in batches of about ``max_pairs``.

    Args:
        start, end: (D,) slices from :func:`group_slices`.
        max_pairs: batch size bound (a batch always holds at least one detection).

    Yields:
        ``(det_index, gt_index)``: int64 arrays of equal length, ordered by detection and
        then ground-truth position.
    """
    counts = end - start
    cum = np.cumsum(counts)
    n_det = len(counts)
    first = 0
    while first < n_det:
        base = cum[first - 1] if first else 0
        last = int(np.searchsorted(cum, base + max_pairs, side="right"))
        last = min(max(last, first + 1), n_det)
        c = counts[first:last]
        det_index = np.repeat(np.arange(first, last, dtype=np.int64), c)
        offset = np.arange(det_index.size, dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
        gt_index = np.repeat(start[first:last], c) + offset
        if det_index.size:
            yield det_index, gt_index
        first = last


def segment_starts(sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets of runs of equal values, and the run number of every element.

    Args:
        sorted_ids: (P,) ids where equal values are adjacent; P >= 1.

    Returns:
        ``(starts, run)``: (S,) offsets for ``np.ufunc.reduceat`` and (P,) run numbers.
    """
    change = np.empty(len(sorted_ids), dtype=bool)
    change[0] = True
    np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    run = np.cumsum(change) - 1
    return starts, run
