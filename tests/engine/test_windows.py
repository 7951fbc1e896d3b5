"""Training windows: placement, clipping of cut objects, ignore flags."""

import numpy as np

from rsdet.datasets.clip import WindowClipper
from rsdet.engine.windows import Window, WindowPlanner, crop_targets
from rsdet.structures import DIFFICULT, Sample


def square(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def sample(polygons, h=1000, w=800, difficulty=None):
    n = len(polygons)
    return Sample(
        "s", h, w, np.array(polygons, float).reshape(n, 4, 2), np.zeros(n, int),
        difficulty=np.zeros(n, np.int8) if difficulty is None else np.array(difficulty, np.int8),
    )  # fmt: skip


def test_object_centred_windows_contain_their_object():
    s = sample([square(700, 900, 720, 915)])
    planner = WindowPlanner([s], tile=128, object_bias=1.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = planner.draw(rng)
        assert w.left <= 700 and w.left + w.size >= 720
        assert w.top <= 900 and w.top + w.size >= 915
        assert 0 <= w.left <= 800 - 128 and 0 <= w.top <= 1000 - 128


def test_windows_stay_inside_the_image_and_follow_the_zoom_range():
    s = sample([])
    planner = WindowPlanner([s], tile=100, scale=(0.5, 2.0), object_bias=1.0)
    rng = np.random.default_rng(1)
    sizes = []
    for _ in range(200):
        w = planner.draw(rng)
        sizes.append(w.size)
        assert 0 <= w.left and w.left + w.size <= 800
        assert 0 <= w.top and w.top + w.size <= 1000
    assert min(sizes) >= 50 and max(sizes) <= 200 and len(set(sizes)) > 20


def test_image_smaller_than_the_tile_gets_one_padded_window():
    s = sample([square(2, 2, 10, 10)], h=40, w=30)
    planner = WindowPlanner([s], tile=64)
    w = planner.draw(np.random.default_rng(0))
    assert (w.left, w.top, w.size) == (0, 0, 64)
    assert planner.default_length() == 1


def test_big_images_get_more_windows():
    small, big = sample([], h=100, w=100), sample([], h=1000, w=1000)
    planner = WindowPlanner([small, big], tile=100, object_bias=0.0)
    rng = np.random.default_rng(0)
    picks = [planner.draw(rng).sample for _ in range(500)]
    assert picks.count(1) > 10 * picks.count(0)
    assert planner.default_length() == 1 + 100


def test_cut_objects_are_clipped_and_slivers_ignored():
    s = sample([square(90, 10, 110, 20), square(50, 50, 60, 60), square(0, 95, 100, 200)])
    win = Window(0, 0, 0, 100, 200)  # zoom 2
    t = crop_targets(s, WindowClipper(s.polygons), win, min_visible=0.6)
    assert len(t.labels) == 3
    env = np.concatenate([t.polygons.min(1), t.polygons.max(1)], 1)
    np.testing.assert_allclose(env[0], [180, 20, 200, 40])  # half of it left, zoomed x2
    np.testing.assert_allclose(env[1], [100, 100, 120, 120])
    np.testing.assert_allclose(env[2], [0, 190, 200, 200])
    assert t.ignore.tolist() == [True, False, True]  # 50% and 5% visible are slivers


def test_difficult_objects_are_ignored_and_objects_outside_dropped():
    s = sample([square(10, 10, 20, 20), square(500, 500, 520, 520)], difficulty=[DIFFICULT, 0])
    t = crop_targets(s, WindowClipper(s.polygons), Window(0, 0, 0, 100, 100), 0.5)
    assert t.ignore.tolist() == [True]
