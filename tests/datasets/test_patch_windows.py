import itertools
import math

import pytest

from rsdet.datasets import Window, patch_windows, tile_grid, tiles_along


def window_starts(length, size, gap):
    """Start offsets along one axis (the columns of a one-row image)."""
    return [w.col_off for w in patch_windows(1, length, size, gap)]


def test_devkit_example_grid():
    # 2000 px wide, size 1024, gap 200 -> step 824: 0, 824, then 1648 snaps back to 976.
    assert window_starts(2000, 1024, 200) == [0, 824, 976]
    assert window_starts(1848, 1024, 200) == [0, 824]  # exact fit: no extra window


def test_small_images_get_one_window_at_zero():
    assert window_starts(500, 1024, 200) == [0]
    assert window_starts(1024, 1024, 200) == [0]


@pytest.mark.parametrize("length", [1, 100, 1023, 1024, 1025, 1848, 1849, 5000, 20000])
def test_count_formula_matches_the_starts_and_covers_the_axis(length):
    starts = window_starts(length, 1024, 200)
    assert len(starts) == tiles_along(length, 1024, 200)
    expect = 1 if length <= 1024 else math.ceil((length - 1024) / 824) + 1
    assert len(starts) == expect
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert starts[-1] + 1024 >= length  # the last window reaches the end
    assert all(b - a <= 824 for a, b in itertools.pairwise(starts))  # overlap >= gap


def test_grid_is_rows_then_columns_in_height_width_order():
    grid = patch_windows(height=1100, width=2000, size=1024, gap=200)
    assert len(grid) == 2 * 3
    assert grid[0] == Window(row_off=0, col_off=0, height=1024, width=1024)
    assert grid[2] == Window(row_off=0, col_off=976, height=1024, width=1024)
    assert grid[3] == Window(row_off=76, col_off=0, height=1024, width=1024)


def test_patches_are_the_tile_grid_padded_to_the_patch_size():
    # Same offsets as the project's tile grid; only images smaller than a patch differ:
    # their window hangs past the image (the splitter pads it, as DOTA_devkit does).
    tiles = tile_grid(25, 35, 32, 8)
    assert [(w.row_off, w.col_off, w.height, w.width) for w in tiles] == [
        (0, 0, 25, 32),
        (0, 3, 25, 32),
    ]
    assert patch_windows(25, 35, 32, 8) == [Window(0, 0, 32, 32), Window(3, 0, 32, 32)]
    assert patch_windows(20, 20, 32, 8) == [Window(0, 0, 32, 32)]


@pytest.mark.parametrize(("size", "gap"), [(0, 0), (100, 100), (100, -1)])
def test_invalid_size_or_gap(size, gap):
    with pytest.raises(ValueError):
        patch_windows(10, 10, size, gap)
