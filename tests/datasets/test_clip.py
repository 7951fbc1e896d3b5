import numpy as np

from rsdet.datasets import WindowClipper
from rsdet.datasets.geometry import clockwise_from_top_left, quads_from_rings


def _box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_inside_objects_keep_their_vertex_order():
    quad = [[5, 2], [8, 5], [5, 8], [2, 5]]  # starts at the top vertex
    clipped = WindowClipper(np.array([quad], float)).clip(0, 0, 10, 10)
    assert clipped.index.tolist() == [0] and clipped.inside.tolist() == [1.0]
    np.testing.assert_array_equal(clipped.polygons[0], quad)


def test_horizontal_boxes_are_clipped_exactly():
    clipped = WindowClipper(np.array([_box(8, 2, 12, 6)], float)).clip(0, 0, 10, 10)
    np.testing.assert_array_equal(clipped.polygons[0], _box(8, 2, 10, 6))
    assert clipped.inside.tolist() == [0.5]


def test_cut_corner_becomes_a_minimum_rectangle_clamped_to_the_window():
    diamond = [[0, 5], [5, 0], [10, 5], [5, 10]]
    clipped = WindowClipper(np.array([diamond], float)).clip(5, 5, 10, 10)
    assert clipped.inside[0] == 0.25  # the triangle (5,5) (10,5) (5,10) of area 12.5 / 50
    poly = clipped.polygons[0]
    assert poly.min() >= 5 and poly.max() <= 10
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs((x * np.roll(y, -1) - np.roll(x, -1) * y).sum())
    assert area >= 12.5  # it encloses the visible part


def test_touching_and_outside_objects_are_dropped_and_degenerate_ones_kept_by_centre():
    polys = np.array([_box(10, 0, 12, 4), _box(20, 20, 22, 22), [[3, 3]] * 4, [[11, 3]] * 4], float)
    clipped = WindowClipper(polys).clip(0, 0, 10, 10)
    assert clipped.index.tolist() == [2]


def test_bow_tie_annotations_are_clipped_through_their_hull():
    bow_tie = [[0, 0], [10, 10], [10, 0], [0, 10]]
    clipped = WindowClipper(np.array([bow_tie], float)).clip(0, 0, 5, 10)
    assert clipped.inside[0] == 0.5
    np.testing.assert_array_equal(clipped.polygons[0], _box(0, 0, 5, 10))


def test_empty_input():
    clipped = WindowClipper(np.zeros((0, 4, 2))).clip(0, 0, 10, 10)
    assert clipped.polygons.shape == (0, 4, 2) and clipped.index.dtype == np.int64


def test_quads_are_ordered_clockwise_from_the_top_left():
    ccw = np.array([_box(0, 0, 4, 2)[::-1]], float)
    np.testing.assert_array_equal(clockwise_from_top_left(ccw)[0], _box(0, 0, 4, 2))
    collinear = np.array([[0, 0], [2, 0], [4, 0], [4, 2], [0, 2], [0, 0]], float)
    np.testing.assert_array_equal(quads_from_rings([collinear])[0], _box(0, 0, 4, 2))


def test_minimum_rectangles_match_rboxes_from_polygons_and_enclose_the_points():
    import shapely

    from rsdet.structures import RBoxes

    rng = np.random.default_rng(0)
    for k in (3, 5, 9, 24):
        # Map-like offsets (1e5 px) check the precision of the centroid-relative computation.
        pts = rng.normal(size=(50, k, 2)) * 20 + rng.uniform(-1e5, 1e5, size=(50, 1, 2))
        quads = quads_from_rings(list(pts))
        x, y = quads[..., 0], quads[..., 1]
        area = 0.5 * np.abs((x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y).sum(1))
        expect = RBoxes.from_polygons(pts.copy()).area().numpy()
        np.testing.assert_allclose(area, expect, rtol=1e-6)
        for p, q in zip(pts, quads, strict=True):
            assert shapely.Polygon(q).buffer(1e-6).contains(shapely.MultiPoint(p))
