import math

import numpy as np
import pytest
import shapely
import torch

from rsdet.structures import (
    HBoxes,
    RBoxes,
    pairwise_iou,
    pairwise_rotated_iof,
    pairwise_rotated_ios,
    pairwise_rotated_iou,
    quad_intersection_area,
    rotated_iou,
)


def _random_boxes(rng, n, span=60.0):
    return np.stack(
        [
            rng.uniform(0, span, n),
            rng.uniform(0, span, n),
            rng.uniform(0.5, 40, n),
            rng.uniform(0.5, 40, n),
            rng.uniform(-math.pi, math.pi, n),
        ],
        1,
    )


def _shapely_iou(a: RBoxes, b: RBoxes) -> np.ndarray:
    pa = shapely.polygons(a.corners().double().numpy())
    pb = shapely.polygons(b.corners().double().numpy())
    inter = shapely.area(shapely.intersection(pa, pb))
    return inter / (shapely.area(pa) + shapely.area(pb) - inter)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_shapely_on_thousands_of_random_pairs(dtype):
    rng = np.random.default_rng(0)
    a = RBoxes(torch.tensor(_random_boxes(rng, 5000), dtype=dtype))
    b = RBoxes(torch.tensor(_random_boxes(rng, 5000), dtype=dtype))
    ours = rotated_iou(a, b).double().numpy()
    ref = _shapely_iou(a, b)
    assert (ref > 0).mean() > 0.3  # the sample really exercises overlapping pairs
    assert np.abs(ours - ref).max() < 1e-4


def test_pairwise_matches_elementwise_and_shapely():
    rng = np.random.default_rng(3)
    a = RBoxes(torch.tensor(_random_boxes(rng, 70), dtype=torch.float64))
    b = RBoxes(torch.tensor(_random_boxes(rng, 90), dtype=torch.float64))
    m = pairwise_rotated_iou(a, b)
    i, j = torch.meshgrid(torch.arange(70), torch.arange(90), indexing="ij")
    ref = _shapely_iou(a[i.reshape(-1)], b[j.reshape(-1)]).reshape(70, 90)
    assert np.abs(m.numpy() - ref).max() < 1e-9


def test_hard_cases_by_hand():
    a = RBoxes(
        [
            [10, 10, 8, 4, 0.3],  # identical
            [10, 10, 8, 4, 0.3],  # same rectangle, other spelling (w/h swapped, +90 deg)
            [10, 10, 2, 1, 0.3],  # nested, same angle: IoU = 2 / 32
            [0, 0, 2, 2, 0.0],  # touching along an edge
            [0, 0, 2, 2, 0.0],  # touching at a corner
            [0, 0, 0, 5, 0.2],  # degenerate (zero width) with itself
            [0, 0, 2, 2, 0.0],  # far apart
        ]
    )
    b = RBoxes(
        [
            [10, 10, 8, 4, 0.3],
            [10, 10, 4, 8, 0.3 + math.pi / 2],
            [10, 10, 8, 4, 0.3],
            [2, 0, 2, 2, 0.0],
            [2, 2, 2, 2, 0.0],
            [0, 0, 0, 5, 0.2],
            [100, 100, 2, 2, 0.0],
        ]
    )
    iou = rotated_iou(a, b)
    assert iou.tolist() == pytest.approx([1, 1, 2 / 32, 0, 0, 0, 0], abs=1e-6)


def test_square_rotated_45_degrees_inside_itself():
    # A unit-diagonal diamond vs the axis-aligned square of side 2: intersection is
    # the diamond of area 2 (side sqrt 2) -> IoU = 2 / 4.
    sq = RBoxes([[0, 0, 2, 2, 0.0]])
    diamond = RBoxes([[0, 0, math.sqrt(2), math.sqrt(2), math.pi / 4]])
    assert rotated_iou(sq, diamond).item() == pytest.approx(0.5, abs=1e-6)


def test_axis_aligned_agrees_with_horizontal_iou():
    rng = np.random.default_rng(4)
    x1, y1 = rng.uniform(0, 50, (2, 300))
    w, h = rng.uniform(1, 30, (2, 300))
    hb = HBoxes(torch.tensor(np.stack([x1, y1, x1 + w, y1 + h], 1)))
    rb = RBoxes.from_hboxes(hb)
    assert torch.allclose(pairwise_rotated_iou(rb, rb), pairwise_iou(hb, hb), atol=1e-9)


def test_large_map_coordinates_in_float32():
    box = RBoxes([[512345.5, 4977001.25, 12.0, 5.0, 0.7]])
    assert rotated_iou(box, box).item() == pytest.approx(1.0, abs=1e-5)


def test_iof_and_ios():
    full = RBoxes([[0, 0, 10, 4, 0.5]])
    inner = RBoxes([[0, 0, 5, 4, 0.5]])
    assert pairwise_rotated_iof(inner, full).item() == pytest.approx(1.0, abs=1e-6)
    assert pairwise_rotated_iof(full, inner).item() == pytest.approx(0.5, abs=1e-6)
    assert pairwise_rotated_ios(full, inner).item() == pytest.approx(1.0, abs=1e-6)


def test_empty_inputs():
    empty = RBoxes(torch.zeros(0, 5))
    one = RBoxes([[0, 0, 1, 1, 0]])
    assert pairwise_rotated_iou(empty, one).shape == (0, 1)
    assert pairwise_rotated_iou(one, empty).shape == (1, 0)
    assert rotated_iou(empty, empty).shape == (0,)


def test_gradients_are_finite_for_identical_and_degenerate_boxes():
    a = torch.tensor(
        [[10.0, 10, 8, 4, 0.3], [5.0, 5, 0, 0, 0.0], [1.0, 1, 3, 2, 0.2]], requires_grad=True
    )
    b = torch.tensor([[10.0, 10, 8, 4, 0.3], [5.0, 5, 0, 0, 0.0], [1.5, 1, 3, 2, 0.1]])
    rotated_iou(RBoxes(a), RBoxes(b)).sum().backward()
    assert torch.isfinite(a.grad).all()
    assert a.grad[2].abs().sum() > 0  # overlapping pair does get a gradient


def test_general_convex_quadrilaterals():
    # The kernel takes any convex quad in either orientation (DOTA ground truth is not always
    # a rectangle).
    q1 = torch.tensor([[[0.0, 0], [10, 1], [10, 6], [0, 5]]], dtype=torch.float64)
    q2 = torch.tensor(
        [[[5.0, -2], [5, 9], [15, 9], [15, -2]]], dtype=torch.float64
    )  # other orientation
    ref = shapely.Polygon(q1[0].numpy()).intersection(shapely.Polygon(q2[0].numpy())).area
    assert quad_intersection_area(q1, q2).item() == pytest.approx(ref, abs=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(5)
    a = RBoxes(torch.tensor(_random_boxes(rng, 1000)))
    b = RBoxes(torch.tensor(_random_boxes(rng, 1000)))
    cpu = rotated_iou(a, b)
    gpu = rotated_iou(a.to("cuda"), b.to("cuda")).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-5)
