import math

import numpy as np
import pytest
import torch

from rsdet.merge import (
    MatchMetric,
    MergeConfig,
    edge_fragments,
    merge_detections,
    shift_to_scene,
    tiles_to_scene,
)
from rsdet.structures import Detections, HBoxes, RBoxes, batched_nms
from rsdet.tiling import TilePlan, Window


def hdets(boxes, scores, labels=None):
    n = len(boxes)
    labels = [0] * n if labels is None else labels
    return Detections(
        HBoxes(torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4)),
        torch.tensor(scores, dtype=torch.float64),
        torch.tensor(labels),
    )


def rdets(boxes, scores, labels=None):
    n = len(boxes)
    labels = [0] * n if labels is None else labels
    return Detections(
        RBoxes(torch.tensor(boxes, dtype=torch.float64).reshape(-1, 5)),
        torch.tensor(scores, dtype=torch.float64),
        torch.tensor(labels),
    )


def no_frag(n):
    return np.zeros(n, dtype=bool)


# --- merge: awkward cases first --------------------------------------------------------
def test_zero_detections():
    assert merge_detections(hdets([], []), no_frag(0)).tolist() == []
    assert merge_detections(rdets([], []), no_frag(0)).tolist() == []


def test_degenerate_boxes_never_survive():
    dets = hdets(
        [[0, 0, 0, 5], [3, 3, 2, 4], [0, 0, float("nan"), 1], [10, 10, 12, 12]],
        [0.9, 0.9, 0.9, 0.5],
    )
    assert merge_detections(dets, no_frag(4)).tolist() == [3]


def test_object_seen_by_two_tiles_comes_out_once_with_the_best_score():
    dets = hdets([[10, 10, 20, 20], [10.5, 10, 20.5, 20]], [0.6, 0.8])
    assert merge_detections(dets, no_frag(2)).tolist() == [1]


def test_fragment_beside_its_full_box_is_dropped_even_when_it_scores_higher():
    # The left tile ends at x = 16 and sees a third of a car that spans x = 12..24.
    full, fragment = [12, 10, 24, 16], [12, 10, 16, 16]
    dets = hdets([fragment, full], [0.95, 0.7])
    iou = 4 * 6 / (12 * 6)  # 1/3: plain NMS at 0.5 would keep both
    assert iou < MergeConfig().iou_thr
    assert merge_detections(dets, np.array([True, False])).tolist() == [1]
    # Unflagged, the same pair is two objects: the IoS rule applies to fragments only.
    assert merge_detections(dets, no_frag(2)).tolist() == [0, 1]


def test_fragment_rule_can_fall_back_to_iou():
    dets = hdets([[12, 10, 16, 16], [12, 10, 24, 16]], [0.95, 0.7])
    cfg = MergeConfig(fragment_metric=MatchMetric.IOU, fragment_thr=0.5)
    assert merge_detections(dets, np.array([True, False]), cfg).tolist() == [0, 1]


def test_small_object_inside_a_large_one_survives():
    # A car under a tree crown (same class for the sake of the test): not fragments.
    dets = hdets([[0, 0, 40, 40], [10, 10, 14, 14]], [0.9, 0.8])
    assert merge_detections(dets, no_frag(2)).tolist() == [0, 1]


def test_merge_is_class_aware():
    dets = hdets([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], labels=[0, 1])
    assert merge_detections(dets, no_frag(2)).tolist() == [0, 1]


def test_fragment_without_a_whole_twin_is_kept():
    dets = hdets([[12, 10, 16, 16]], [0.4])
    assert merge_detections(dets, np.array([True])).tolist() == [0]


def test_ties_are_broken_by_input_order():
    dets = hdets([[0, 0, 10, 10], [0, 0, 10, 10]], [0.5, 0.5])
    assert merge_detections(dets, no_frag(2)).tolist() == [0]


def test_oriented_merge_uses_exact_polygon_overlap():
    # Two thin boxes crossing at right angles: their envelopes coincide (envelope IoU 1)
    # but the rectangles overlap by 2 x 2 out of 20 x 2 each (IoU 4/76): two objects.
    cross = rdets([[50, 50, 20, 2, 0.0], [50, 50, 20, 2, math.pi / 2]], [0.9, 0.8])
    assert merge_detections(cross, no_frag(2)).tolist() == [0, 1]
    # The same rotated box seen by two tiles: one object.
    twin = rdets([[50, 50, 20, 6, 0.3], [50.2, 50, 20, 6, 0.31]], [0.7, 0.9])
    assert merge_detections(twin, no_frag(2)).tolist() == [1]


def test_oriented_fragment_is_dropped_by_ios():
    full = [100, 100, 30, 8, math.radians(30)]
    # The part of that box left of x = 95: a shorter box along the same axis.
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    frag = [100 - 9 * c, 100 - 9 * s, 12, 8, math.radians(30)]
    dets = rdets([frag, full], [0.9, 0.6])
    assert merge_detections(dets, np.array([True, False])).tolist() == [1]


def test_merge_equals_class_aware_nms_without_fragments():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (400, 2))
    wh = rng.uniform(2, 15, (400, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.permutation(400) / 400.0
    labels = rng.integers(0, 3, 400)
    dets = hdets(boxes.tolist(), scores.tolist(), labels.tolist())
    keep = merge_detections(dets, no_frag(400), MergeConfig(iou_thr=0.3))
    ref = batched_nms(dets.boxes, dets.scores, dets.labels, 0.3)
    assert keep.tolist() == sorted(ref.tolist())


# --- shifting and edge flags ---------------------------------------------------------
def test_shift_to_scene_adds_the_window_offset():
    dets = hdets([[0, 0, 1, 1]], [0.5])
    out = shift_to_scene(dets, Window(100, 40, 64, 64))
    assert out.boxes.tensor.tolist() == [[100, 40, 101, 41]]
    assert out.boxes.tensor.dtype == torch.float64


def test_shift_to_scene_undoes_resampling():
    # the model saw the window at half resolution: one model pixel = 2 scene pixels
    dets = hdets([[1, 2, 3, 4]], [0.5])
    out = shift_to_scene(dets, Window(10, 20, 64, 64), scale=(2.0, 2.0))
    assert out.boxes.tensor.tolist() == [[12, 24, 16, 28]]
    rot = rdets([[4, 4, 6, 2, 0.5]], [0.5])
    out = shift_to_scene(rot, Window(10, 20, 64, 64), scale=(2.0, 2.0))
    assert torch.allclose(
        out.boxes.tensor, torch.tensor([[18.0, 28, 12, 4, 0.5]], dtype=torch.float64)
    )


def test_anisotropic_scale_keeps_an_axis_aligned_rbox_exact():
    rot = rdets([[4, 4, 6, 2, 0.0]], [0.5])
    out = shift_to_scene(rot, Window(0, 0, 8, 8), scale=(2.0, 1.0))
    assert torch.allclose(out.boxes.tensor, torch.tensor([[8.0, 4, 12, 2, 0]], dtype=torch.float64))


def test_edge_fragments_only_at_inner_edges():
    boxes = HBoxes(torch.tensor([[0, 5, 4, 9], [5, 5, 9, 9], [12, 5, 16, 9.0], [5, 0, 9, 3]]))
    # Tile in the top-left corner of the scene: its left and top edges are scene edges.
    corner = Window(0, 0, 16, 16)
    flags = edge_fragments(boxes, (16, 16), corner, (100, 100), margin_px=1.0)
    assert flags.tolist() == [False, False, True, False]
    # Same boxes in a tile in the middle of the scene: every edge is inner.
    middle = Window(40, 40, 16, 16)
    flags = edge_fragments(boxes, (16, 16), middle, (100, 100), margin_px=1.0)
    assert flags.tolist() == [True, False, True, True]


def test_edge_fragments_use_the_envelope_of_oriented_boxes():
    boxes = RBoxes(torch.tensor([[8.0, 8, 14, 2, math.pi / 4]]))  # envelope ~ 2.3..13.7
    flags = edge_fragments(boxes, (16, 16), Window(40, 40, 16, 16), (100, 100), margin_px=2.5)
    assert flags.tolist() == [True]


@pytest.mark.slow
def test_a_million_detections_merge_in_seconds():
    import time

    rng = np.random.default_rng(0)
    n = 1_000_000
    xy = rng.uniform(0, 100_000, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 20, (n, 2))], axis=1)
    dets = hdets(boxes.tolist(), rng.uniform(0, 1, n).tolist(), rng.integers(0, 5, n).tolist())
    start = time.perf_counter()
    merge_detections(dets, rng.uniform(size=n) < 0.1)
    assert time.perf_counter() - start < 30


def test_tiles_to_scene_flags_in_tile_pixels_then_shifts_by_the_plan_scale():
    # Two 10x10 scene-pixel tiles side by side, seen by the model at 20x20 (sx = sy = 0.5).
    windows = [Window(0, 0, 10, 10), Window(8, 0, 10, 10)]
    plan = TilePlan(windows, [0, 1], (20, 20), (0.5, 0.5))
    # Tile 1 (col_off 8): a box on its left edge (inner: a fragment) and one in the middle.
    tile_dets = hdets([[0, 4, 6, 10], [8, 8, 12, 12]], [0.9, 0.8])
    (shifted,), (flags,) = tiles_to_scene([tile_dets], [1], plan, (10, 18), margin_px=2.0)
    assert flags.tolist() == [True, False]
    assert shifted.boxes.tensor.tolist() == [[8.0, 2.0, 11.0, 5.0], [12.0, 4.0, 14.0, 6.0]]
    expected = edge_fragments(tile_dets.boxes, (20, 20), windows[1], (10, 18), 2.0)
    assert flags.tolist() == expected.tolist()
    same = shift_to_scene(tile_dets, windows[1], (0.5, 0.5))
    assert torch.equal(shifted.boxes.tensor, same.boxes.tensor)


def test_native_plan_keeps_every_tile_at_scene_resolution():
    windows = [Window(0, 0, 16, 8), Window(12, 0, 16, 8)]
    plan = TilePlan.native(windows)
    assert (plan.valid, plan.out_hw, plan.scale) == ([0, 1], (8, 16), (1.0, 1.0))
