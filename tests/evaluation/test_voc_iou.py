"""The three IoUs of the VOC protocols, against values derived by hand."""

import numpy as np
import pytest

from rsdet.evaluation.voc_data import boxes_to_quads
from rsdet.evaluation.voc_iou import (
    devkit_gt_boxes,
    devkit_hbb_iou,
    devkit_hbb_overlap,
    envelope_iou,
    envelopes,
    polygon_iou,
    quad_areas,
    to_geometries,
)


def poly_iou(a, b):
    a, b = np.asarray([a], float), np.asarray([b], float)
    return polygon_iou(to_geometries(a), to_geometries(b), quad_areas(a), quad_areas(b))[0]


def test_polygon_iou_of_a_trapezoid_and_a_box():
    # Trapezoid of width 10 - 0.8 y (area 60) and the box [0,10] x [0,5] (area 50):
    # inter = integral_0^5 (10 - 0.8 y) dy = 40, union 70 -> 4/7.
    trapezoid = [[0, 0], [10, 0], [6, 10], [4, 10]]
    box = boxes_to_quads([[0, 0, 10, 5]])[0]
    assert poly_iou(trapezoid, box) == pytest.approx(4 / 7, abs=1e-12)


def test_polygon_iou_ignores_vertex_order_and_orientation():
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    half = [[0, 0], [0, 10], [5, 10], [5, 0]]  # counter-clockwise on screen, other start
    assert poly_iou(square, half) == pytest.approx(0.5, abs=1e-15)


def test_polygon_iou_disjoint_and_degenerate_are_zero():
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    far = [[20, 0], [30, 0], [30, 10], [20, 10]]
    point = [[5, 5]] * 4
    assert poly_iou(square, far) == 0.0
    assert poly_iou(point, point) == 0.0


def test_self_intersecting_quad_is_repaired_not_fatal():
    # A bow-tie (vertices in the wrong order) of the square: two triangles of area 25.
    bowtie = [[0, 0], [10, 10], [10, 0], [0, 10]]
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    iou = poly_iou(bowtie, square)
    assert 0.0 <= iou <= 1.0


def test_devkit_prefilter_is_generous_by_one_pixel():
    # Envelopes 0.5 px apart: with +1, iw = 10 - 10.5 + 1 = 0.5 > 0 -> kept; 1.5 px apart
    # -> -0.5 -> dropped.
    det = np.array([[0, 0, 10, 10]], float)
    assert devkit_hbb_overlap(det, np.array([[10.5, 0, 20, 10]]))[0]
    assert not devkit_hbb_overlap(det, np.array([[11.5, 0, 20, 10]]))[0]


def test_devkit_hbb_iou_plus_one():
    # (0,0,9,9) has +1 area 100; (0,0,19,9) has 200; inter 10 x 10 -> 100 / 200.
    iou = devkit_hbb_iou(np.array([[0, 0, 19, 9.0]]), np.array([[0, 0, 9, 9.0]]))
    assert iou[0] == 0.5


def test_devkit_gt_boxes_truncate_vertices_one_and_three():
    # Axis-aligned (reclabelTxt): int() of vertex 1 and vertex 3, as the official script.
    q = boxes_to_quads([[0.9, 1.9, 9.9, 10.5]])
    assert devkit_gt_boxes(q).tolist() == [[0, 1, 9, 10]]
    # Rotated quad (an OBB label given instead): truncated envelope (xmin 0, ymin 0,
    # xmax 10.7, ymax 10.2 -> 10).
    diamond = np.array([[[5, 0], [10.7, 5], [5, 10.2], [0, 5]]], float)
    assert devkit_gt_boxes(diamond).tolist() == [[0, 0, 10, 10]]


def test_envelope_iou_continuous():
    # [0,10]^2 vs [5,15] x [0,10]: inter 50, union 150 -> 1/3.
    quads = boxes_to_quads([[0, 0, 10, 10], [5, 0, 15, 10]])
    env = envelopes(quads)
    assert envelope_iou(env[:1], env[1:])[0] == pytest.approx(1 / 3, abs=1e-15)
