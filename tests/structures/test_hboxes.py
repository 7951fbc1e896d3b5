import numpy as np
import pytest
import torch

from rsdet.structures import HBoxes, box_iou, pairwise_iof, pairwise_ios, pairwise_iou


def test_zero_boxes_give_empty_matrices():
    empty = HBoxes(torch.zeros(0, 4))
    some = HBoxes([[0, 0, 1, 1]])
    assert pairwise_iou(empty, some).shape == (0, 1)
    assert pairwise_iou(some, empty).shape == (1, 0)
    assert len(HBoxes([])) == 0


def test_iou_by_hand():
    # Two 10x10 squares offset by 5 in x: intersection 5*10=50, union 150.
    a = HBoxes([[0, 0, 10, 10]])
    b = HBoxes([[5, 0, 15, 10]])
    assert pairwise_iou(a, b).item() == pytest.approx(50 / 150)
    assert box_iou(a, b).item() == pytest.approx(50 / 150)


def test_iof_and_ios_of_a_fragment_inside_its_full_box():
    full = HBoxes([[0, 0, 10, 10]])
    fragment = HBoxes([[6, 0, 10, 10]])  # the part of the box that a tile border left
    assert pairwise_iou(fragment, full).item() == pytest.approx(0.4)
    assert pairwise_iof(fragment, full).item() == pytest.approx(1.0)
    assert pairwise_iof(full, fragment).item() == pytest.approx(0.4)
    assert pairwise_ios(full, fragment).item() == pytest.approx(1.0)


def test_touching_and_degenerate_boxes_have_zero_overlap_without_nan():
    a = HBoxes([[0, 0, 10, 10], [3, 3, 3, 8], [5, 5, 5, 5]])
    b = HBoxes([[10, 0, 20, 10], [3, 3, 3, 8], [5, 5, 5, 5]])
    for f in (pairwise_iou, pairwise_iof, pairwise_ios):
        m = f(a, b)
        assert torch.isfinite(m).all()
    assert pairwise_iou(a, b)[0, 0] == 0  # touching edge
    assert pairwise_iou(a, b)[1, 1] == 0  # zero-width line with itself
    assert pairwise_iou(a, b)[2, 2] == 0  # a point


def test_pixel_convention_first_pixel_box():
    box = HBoxes([[0, 0, 1, 1]])
    assert box.area().item() == 1.0
    assert box.centers().tolist() == [[0.5, 0.5]]


def test_clip_uses_height_width_order():
    clipped = HBoxes([[-5, -5, 50, 50]]).clip(height=20, width=30)
    assert clipped.tensor.tolist() == [[0, 0, 30, 20]]


def test_float64_numpy_input_is_kept():
    assert HBoxes(np.zeros((2, 4))).tensor.dtype == torch.float64
    assert HBoxes([[0, 0, 1, 1]]).tensor.dtype == torch.float32


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        HBoxes([[0, 0, 1]])
