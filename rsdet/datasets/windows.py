"""The patch grid: where DOTA_devkit-style windows fall on an image (pure functions).

Along one axis of length ``L`` with window ``size`` and overlap ``gap`` (``step = size -
gap``), windows start at ``0, step, 2*step, ...`` until one reaches the end; that last one
is pulled back to ``L - size`` so no window hangs over the edge. Hence the count

    n = 1                            if L <= size
    n = ceil((L - size) / step) + 1  otherwise

and an image gives ``n_rows * n_cols`` windows, row by row (top to bottom, then left to
right within a row). An image smaller than ``size`` gets one window at 0 that extends past
it; the splitter pads that part with zeros, as DOTA_devkit does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Window", "window_count", "window_grid", "window_starts"]


@dataclass(frozen=True)
class Window:
    """A square-or-rectangular window: rows ``[top, top+height)``, cols ``[left, left+width)``."""

    top: int
    left: int
    height: int
    width: int


def _check(size: int, gap: int) -> None:
    if size <= 0:
        raise ValueError(f"window size must be positive, got {size}")
    if not 0 <= gap < size:
        raise ValueError(f"gap must be in [0, size), got gap={gap} for size={size}")


def window_count(length: int, size: int, gap: int) -> int:
    """Number of windows along an axis of ``length`` pixels (formula in the module docstring)."""
    _check(size, gap)
    if length <= size:
        return 1
    return math.ceil((length - size) / (size - gap)) + 1


def window_starts(length: int, size: int, gap: int) -> list[int]:
    """Start offsets (pixels) of the windows along one axis, ascending, without repeats."""
    n = window_count(length, size, gap)
    step = size - gap
    starts = [i * step for i in range(n - 1)] + [max(length - size, 0)]
    return starts


def window_grid(height: int, width: int, size: int, gap: int) -> list[Window]:
    """All ``size x size`` windows covering an image of ``height x width`` pixels.

    Raises:
        ValueError: ``size <= 0`` or ``gap`` outside ``[0, size)``.
    """
    rows = window_starts(height, size, gap)
    cols = window_starts(width, size, gap)
    return [Window(top, left, size, size) for top in rows for left in cols]
