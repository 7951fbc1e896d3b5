import itertools
import math

import pytest

from rsdet.datasets import Window, window_count, window_grid, window_starts


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
    assert len(starts) == window_count(length, 1024, 200)
    expect = 1 if length <= 1024 else math.ceil((length - 1024) / 824) + 1
    assert len(starts) == expect
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert starts[-1] + 1024 >= length  # the last window reaches the end
    assert all(b - a <= 824 for a, b in itertools.pairwise(starts))  # overlap >= gap


def test_grid_is_rows_then_columns_in_height_width_order():
    grid = window_grid(height=1100, width=2000, size=1024, gap=200)
    assert len(grid) == 2 * 3
    assert grid[0] == Window(top=0, left=0, height=1024, width=1024)
    assert grid[2] == Window(top=0, left=976, height=1024, width=1024)
    assert grid[3] == Window(top=76, left=0, height=1024, width=1024)


@pytest.mark.parametrize(("size", "gap"), [(0, 0), (100, 100), (100, -1)])
def test_invalid_size_or_gap(size, gap):
    with pytest.raises(ValueError):
        window_grid(10, 10, size, gap)
