import itertools
import math

import numpy as np
import pytest

from rsdet.tiling import Window, grid_shape, tile_grid, tiles_along

# Every combination of these is checked: small enough to run in a blink, varied enough to
# hit exact fits, one-pixel remainders, scenes smaller than a tile and zero overlap.
HEIGHTS = [1, 2, 7, 16, 17, 31, 64, 100]
WIDTHS = [1, 5, 16, 33, 96]
SIZES_OVERLAPS = [(1, 0), (4, 0), (4, 3), (8, 2), (16, 4), (16, 15), (32, 8)]
CASES = list(itertools.product(HEIGHTS, WIDTHS, SIZES_OVERLAPS))


def expected_count(length, size, overlap):
    return 1 if length <= size else math.ceil((length - size) / (size - overlap)) + 1


@pytest.mark.parametrize(("height", "width", "so"), CASES)
def test_grid_properties(height, width, so):
    size, overlap = so
    windows = tile_grid(height, width, size, overlap)
    # count = formula
    assert len(windows) == expected_count(height, size, overlap) * expected_count(
        width, size, overlap
    )
    assert grid_shape(height, width, size, overlap) == (
        tiles_along(height, size, overlap),
        tiles_along(width, size, overlap),
    )
    covered = np.zeros((height, width), dtype=np.int32)
    for w in windows:
        # inside the scene, one common shape, never padded
        assert 0 <= w.col_off and w.col_end <= width
        assert 0 <= w.row_off and w.row_end <= height
        assert (w.height, w.width) == (min(size, height), min(size, width))
        covered[w.row_off : w.row_end, w.col_off : w.col_end] += 1
    assert covered.min() >= 1  # full coverage
    assert len(set(windows)) == len(windows)  # no duplicates


def test_neighbours_share_at_least_the_overlap():
    windows = tile_grid(50, 50, 16, 4)
    cols = sorted({w.col_off for w in windows})
    assert cols == [0, 12, 24, 34]  # stride 12; last pulled back to 50 - 16
    gaps = [b - a for a, b in itertools.pairwise(cols)]
    assert all(16 - g >= 4 for g in gaps)


def test_scene_smaller_than_a_tile_is_one_tile():
    assert tile_grid(10, 7, 1024, 128) == [Window(0, 0, 7, 10)]


def test_exact_fit_has_no_extra_tile():
    # 48 = 16 + 2 * 16: three tiles, the last one not pulled back
    assert [w.col_off for w in tile_grid(16, 48, 16, 0)] == [0, 16, 32]


def test_row_major_order():
    windows = tile_grid(20, 20, 16, 8)
    assert [(w.row_off, w.col_off) for w in windows] == [(0, 0), (0, 4), (4, 0), (4, 4)]


def test_non_square_tiles():
    windows = tile_grid(30, 100, (10, 40), (2, 8))
    assert {(w.height, w.width) for w in windows} == {(10, 40)}
    assert grid_shape(30, 100, (10, 40), (2, 8)) == (4, 3)


@pytest.mark.parametrize(
    ("height", "width", "size", "overlap"),
    [(0, 10, 4, 0), (10, 10, 0, 0), (10, 10, 4, 4), (10, 10, 4, -1)],
)
def test_invalid_arguments(height, width, size, overlap):
    with pytest.raises(ValueError):
        tile_grid(height, width, size, overlap)


def test_window_is_frozen():
    w = Window(1, 2, 3, 4)
    assert (w.col_end, w.row_end) == (4, 6)
    with pytest.raises(AttributeError):
        w.col_off = 5  # type: ignore[misc]
