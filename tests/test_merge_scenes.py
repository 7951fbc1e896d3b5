"""The cross-scene merge on hand-made scenes: joins across abutting edges, suppression in
overlaps, and nothing at all where scenes do not meet."""

import numpy as np
import pytest
import torch
from affine import Affine

from rsdet.merge import MatchMetric, MergeConfig
from rsdet.merge_scenes import ScenePlacement, merge_scenes, scene_edge_fragments
from rsdet.structures import Detections, HBoxes, RBoxes

CONFIG = MergeConfig(iou_thr=0.5)


def place(transform, hw=(100, 100)):
    """A scene of ``hw`` pixels whose pixels map to the map frame through ``transform``."""
    inverse = ~transform

    def apply(t):
        return lambda p: np.stack(
            [t.a * p[:, 0] + t.b * p[:, 1] + t.c, t.d * p[:, 0] + t.e * p[:, 1] + t.f], axis=1
        )

    return ScenePlacement(hw, apply(transform), apply(inverse))


def grid_place(col, row=0, hw=(100, 100), step=(100, 100)):
    """Scene ``(row, col)`` of a grid of abutting scenes, 1 map unit per pixel, north up."""
    return place(Affine(1, 0, col * step[1], 0, -1, -row * step[0]), hw)


def hdets(boxes, scores=None, labels=None):
    n = len(boxes)
    scores = [0.9] * n if scores is None else scores
    labels = [0] * n if labels is None else labels
    return Detections(
        HBoxes(torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4)),
        torch.tensor(scores, dtype=torch.float64),
        torch.tensor(labels, dtype=torch.int64),
    )


def boxes_of(dets):
    return dets.boxes.tensor.tolist()


# --- abutting scenes: join ------------------------------------------------------------------
def test_an_object_cut_by_a_shared_edge_is_joined_into_one_box():
    left = hdets([[90, 10, 100, 20], [40, 40, 50, 50]], scores=[0.8, 0.7])
    right = hdets([[0, 12, 5, 18]], scores=[0.6])
    out = merge_scenes([left, right], [grid_place(0), grid_place(1)], CONFIG)
    # The better-scored part's scene keeps the object, its box grows over the other part.
    assert boxes_of(out[0]) == [[90, 10, 105, 20], [40, 40, 50, 50]]
    assert out[0].scores.tolist() == [0.8, 0.7]
    assert len(out[1]) == 0


def test_the_better_part_keeps_the_object_even_in_the_second_scene():
    left = hdets([[96, 10, 100, 20]], scores=[0.5])
    right = hdets([[0, 10, 12, 20]], scores=[0.9])
    out = merge_scenes([left, right], [grid_place(0), grid_place(1)], CONFIG)
    assert len(out[0]) == 0
    assert boxes_of(out[1]) == [[-4, 10, 12, 20]]


def test_an_object_on_the_corner_of_four_scenes_comes_out_once():
    places = [grid_place(c, r) for r in (0, 1) for c in (0, 1)]
    parts = [
        hdets([[95, 94, 100, 100]], scores=[0.9]),  # top left
        hdets([[0, 94, 4, 100]], scores=[0.8]),  # top right
        hdets([[95, 0, 100, 3]], scores=[0.7]),  # bottom left
        hdets([[0, 0, 4, 3]], scores=[0.6]),  # bottom right
    ]
    out = merge_scenes(parts, places, CONFIG)
    assert [len(d) for d in out] == [1, 0, 0, 0]
    assert boxes_of(out[0]) == [[95, 94, 104, 103]]


def test_parts_that_do_not_line_up_along_the_edge_stay_apart():
    left = hdets([[90, 10, 100, 20]])
    right = hdets([[0, 30, 5, 40], [0, 18, 6, 28]])  # beside it; overlapping 2 of 10 px
    out = merge_scenes([left, right], [grid_place(0), grid_place(1)], CONFIG)
    assert [len(d) for d in out] == [1, 2]


def test_other_classes_and_parts_away_from_the_edge_stay_apart():
    left = hdets([[90, 10, 100, 20], [80, 40, 92, 50]], labels=[0, 0])
    right = hdets([[0, 10, 5, 20], [0, 40, 5, 50]], labels=[1, 0])  # other class; a gap
    out = merge_scenes([left, right], [grid_place(0), grid_place(1)], CONFIG)
    assert [len(d) for d in out] == [2, 2]


def test_oriented_parts_join_into_the_rectangle_around_them():
    left = Detections(
        RBoxes(torch.tensor([[95.0, 50.0, 10.0, 4.0, 0.0]], dtype=torch.float64)),
        torch.tensor([0.9], dtype=torch.float64),
        torch.tensor([2]),
    )
    right = Detections(
        RBoxes(torch.tensor([[3.0, 50.0, 6.0, 4.0, 0.0]], dtype=torch.float64)),
        torch.tensor([0.8], dtype=torch.float64),
        torch.tensor([2]),
    )
    out = merge_scenes([left, right], [grid_place(0), grid_place(1)], CONFIG)
    assert len(out[1]) == 0 and out[0].oriented
    corners = out[0].boxes.corners()[0]
    assert corners.amin(0).tolist() == pytest.approx([90, 48])
    assert corners.amax(0).tolist() == pytest.approx([106, 52])


def test_a_neighbour_in_another_frame_is_compared_in_map_coordinates():
    # The right scene has 0.5 map units per pixel and its rows run up: a reprojected
    # neighbour as far as the merge can tell.
    right = place(Affine(0.5, 0, 100, 0, 0.5, -100), hw=(200, 200))
    left = hdets([[90, 10, 100, 20]])
    # Map x 100..106, y -20..-10 -> right pixels col 0..12, row 160..180.
    part = hdets([[0, 160, 12, 180]], scores=[0.5])
    out = merge_scenes([left, part], [grid_place(0), right], CONFIG)
    assert boxes_of(out[0]) == [[90, 10, 106, 20]] and len(out[1]) == 0


# --- overlapping scenes: suppression ------------------------------------------------------
def test_a_whole_object_seen_by_two_overlapping_scenes_comes_out_once():
    places = [grid_place(0), grid_place(1, step=(100, 80))]  # 20 columns overlap
    left = hdets([[85, 10, 95, 20]], scores=[0.7])
    right = hdets([[5.5, 10, 15.5, 20]], scores=[0.9])  # the same object, a bit shifted
    out = merge_scenes([left, right], places, CONFIG)
    assert [len(d) for d in out] == [0, 1]


def test_a_fragment_inside_the_other_scenes_whole_box_is_dropped():
    places = [grid_place(0), grid_place(1, step=(100, 80))]
    left = hdets([[70, 10, 82, 20]], scores=[0.6])  # whole, inside the overlap
    right = hdets([[0, 10, 2, 20]], scores=[0.95])  # cut by the right scene's left edge
    out = merge_scenes([left, right], places, CONFIG)
    assert [len(d) for d in out] == [1, 0]


def test_parts_of_an_object_wider_than_a_narrow_overlap_are_joined():
    places = [grid_place(0), grid_place(1, step=(100, 96))]  # 4 columns overlap
    left = hdets([[90, 10, 100, 20]], scores=[0.9])  # map x 90..100
    right = hdets([[0, 10, 10, 20]], scores=[0.8])  # map x 96..106
    out = merge_scenes([left, right], places, CONFIG)
    assert boxes_of(out[0]) == [[90, 10, 106, 20]] and len(out[1]) == 0


def test_the_iou_fragment_metric_is_honoured():
    places = [grid_place(0), grid_place(1, step=(100, 80))]
    left = hdets([[70, 10, 82, 20]], scores=[0.6])
    right = hdets([[0, 10, 2, 20]], scores=[0.95])
    iou = MergeConfig(iou_thr=0.5, fragment_metric=MatchMetric.IOU, fragment_thr=0.5)
    assert [len(d) for d in merge_scenes([left, right], places, iou)] == [1, 1]


# --- where nothing happens ----------------------------------------------------------------
def test_scenes_that_do_not_meet_come_back_untouched():
    a, b = hdets([[95, 10, 100, 20]]), hdets([[0, 10, 5, 20]])
    out = merge_scenes([a, b], [grid_place(0), grid_place(3)], CONFIG)
    assert out[0] is a and out[1] is b


def test_boxes_on_the_outer_edge_of_the_mosaic_are_not_fragments():
    env = np.array([[0, 40, 5, 50], [95, 40, 100, 50], [40, 0, 50, 3], [40, 98, 50, 100.0]])
    frag = scene_edge_fragments(env, grid_place(0), [grid_place(1)], 2.0)
    assert frag.tolist() == [False, True, False, False]
    below = scene_edge_fragments(env, grid_place(0), [grid_place(0, 1)], 2.0)
    assert below.tolist() == [False, False, False, True]


def test_a_box_beside_a_shorter_neighbour_is_a_fragment_only_where_it_continues():
    short = grid_place(1, hw=(50, 100))  # continues the left scene's right edge for y < 50
    env = np.array([[95, 10, 100, 20], [95, 70, 100, 80.0]])
    assert scene_edge_fragments(env, grid_place(0), [short], 2.0).tolist() == [True, False]


def test_scenes_and_placements_must_match():
    with pytest.raises(ValueError, match="2 scenes"):
        merge_scenes([hdets([]), hdets([])], [grid_place(0)], CONFIG)
