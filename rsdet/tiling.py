"""Cut a scene into overlapping tiles: pure arithmetic, no I/O, no torch.

A *tile* is a :class:`Window` of the scene, in scene pixels. :func:`tile_grid` lays tiles
on a regular grid with a fixed pixel stride ``size - overlap``; the last row and the last
column are pulled back so that they end exactly on the scene edge. Every tile therefore
lies inside the scene and has the same shape, and no tile is ever padded past the edge
(the model pads to its size divisor at inference instead). Pulling back makes the overlap
of the last row or column larger than ``overlap``, never smaller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TilePlan", "Window", "grid_shape", "tile_grid", "tiles_along"]


@dataclass(frozen=True)
class Window:
    """A rectangle of scene pixels, like :class:`rasterio.windows.Window`.

    Attributes:
        col_off, row_off: column and row of the top-left pixel (0-based).
        width, height: size in pixels (both at least 1).
    """

    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def col_end(self) -> int:
        """One past the last column."""
        return self.col_off + self.width

    @property
    def row_end(self) -> int:
        """One past the last row."""
        return self.row_off + self.height


@dataclass(frozen=True)
class TilePlan:
    """The tiles of one scene, and the frame the model sees each in.

    Attributes:
        windows: every tile of the grid, in scene pixels.
        valid: indices into ``windows`` of the tiles that hold data, in grid order.
        out_hw: ``(height, width)`` of the image the model sees for every tile.
        scale: ``(sx, sy)`` scene pixels per model pixel (``(1, 1)`` without resampling).
    """

    windows: list[Window]
    valid: list[int]
    out_hw: tuple[int, int]
    scale: tuple[float, float]

    @classmethod
    def native(cls, windows: list[Window]) -> TilePlan:
        """Every tile valid and seen at the scene's own resolution (grid of equal tiles)."""
        first = windows[0]
        return cls(windows, list(range(len(windows))), (first.height, first.width), (1.0, 1.0))


def tiles_along(length: int, size: int, overlap: int) -> int:
    """Number of tiles along one axis (see :func:`tile_grid` for the formula)."""
    _check(length, size, overlap)
    if length <= size:
        return 1
    return math.ceil((length - size) / (size - overlap)) + 1


def grid_shape(
    height: int, width: int, size: int | tuple[int, int], overlap: int | tuple[int, int]
) -> tuple[int, int]:
    """``(rows, cols)`` of the grid :func:`tile_grid` lays out (see its count formula)."""
    (size_h, size_w), (over_h, over_w) = _pair(size), _pair(overlap)
    return tiles_along(height, size_h, over_h), tiles_along(width, size_w, over_w)


def tile_grid(
    height: int, width: int, size: int | tuple[int, int], overlap: int | tuple[int, int]
) -> list[Window]:
    """Overlapping tiles that cover every pixel of a ``height x width`` scene.

    Count formula: with stride ``s = size - overlap`` and ``n(L) = 1`` if ``L <= size``
    else ``ceil((L - size) / s) + 1``, the grid has ``n(height) * n(width)`` tiles.
    Tile ``i`` along an axis starts at ``i * s``, except the last one, which starts at
    ``L - size`` (pulled back inside the scene). A scene smaller than a tile along an axis
    gets one tile of the scene's extent along that axis.

    Args:
        height, width: scene size in pixels (at least 1).
        size: tile edge in pixels (at least 1), or ``(height, width)`` for non-square
            tiles (scenes with non-square pixels resampled to a model's GSD).
        overlap: pixels shared by neighbouring tiles, ``0 <= overlap < size``, or
            ``(rows, cols)``; the formula applies per axis.

    Returns:
        Windows in row-major order (left to right, then top to bottom), all of shape
        ``min(size_h, height) x min(size_w, width)``.

    Raises:
        ValueError: a non-positive size or an overlap outside ``[0, size)``.
    """
    (size_h, size_w), (over_h, over_w) = _pair(size), _pair(overlap)
    rows = _starts(height, size_h, over_h)
    cols = _starts(width, size_w, over_w)
    tile_h, tile_w = min(size_h, height), min(size_w, width)
    return [Window(c, r, tile_w, tile_h) for r in rows for c in cols]


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _starts(length: int, size: int, overlap: int) -> list[int]:
    n = tiles_along(length, size, overlap)
    if n == 1:
        return [0]
    stride = size - overlap
    return [i * stride for i in range(n - 1)] + [length - size]


def _check(length: int, size: int, overlap: int) -> None:
    if length < 1:
        raise ValueError(f"scene extent must be at least 1 pixel, got {length}")
    if size < 1:
        raise ValueError(f"tile size must be at least 1 pixel, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in [0, {size}) for tile size {size}, got {overlap}")
