import math

import numpy as np
import pytest
import torch

from rsdet.structures import (
    HBoxes,
    RBoxes,
    batched_nms,
    greedy_keep,
    nms,
    pairwise_iou,
    pairwise_rotated_iou,
)


def _reference_greedy(iou: np.ndarray, scores: np.ndarray, thr: float, labels=None) -> list[int]:
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    for i in order:
        if all(iou[i, k] <= thr or (labels is not None and labels[i] != labels[k]) for k in keep):
            keep.append(int(i))
    return keep


def test_zero_boxes():
    assert nms(HBoxes(torch.zeros(0, 4)), torch.zeros(0), 0.5).numel() == 0
    assert nms(RBoxes(torch.zeros(0, 5)), torch.zeros(0), 0.5).numel() == 0


def test_by_hand():
    boxes = HBoxes([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    # Class-aware: box 1 has its own class and survives.
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0, 0]), 0.5).tolist() == [3, 1, 2]


def test_threshold_is_strict():
    # IoU exactly 0.5 is not suppressed at threshold 0.5.
    boxes = HBoxes([[0, 0, 3, 1], [1, 0, 4, 1]])  # inter 2, union 4
    assert nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]


def test_chain_suppression_matches_greedy():
    # A suppresses B, B would suppress C, but B is gone so C stays.
    boxes = HBoxes([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.3).tolist() == [0, 2]


@pytest.mark.parametrize("oriented", [False, True])
def test_random_matches_reference_greedy(oriented):
    rng = np.random.default_rng(7)
    n = 400
    cx, cy = rng.uniform(0, 200, (2, n))
    w, h = rng.uniform(5, 40, (2, n))
    scores = torch.tensor(rng.permutation(n) / n)
    labels = torch.tensor(rng.integers(0, 3, n))
    if oriented:
        boxes = RBoxes(torch.tensor(np.stack([cx, cy, w, h, rng.uniform(-math.pi, math.pi, n)], 1)))
        iou = pairwise_rotated_iou(boxes, boxes).numpy()
    else:
        boxes = HBoxes(torch.tensor(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)))
        iou = pairwise_iou(boxes, boxes).numpy()
    for thr in (0.1, 0.5):
        assert nms(boxes, scores, thr).tolist() == _reference_greedy(iou, scores.numpy(), thr)
        assert batched_nms(boxes, scores, labels, thr).tolist() == _reference_greedy(
            iou, scores.numpy(), thr, labels.numpy()
        )


def test_oriented_nms_does_not_merge_side_by_side_ships():
    # Two long thin parallel ships whose envelopes overlap heavily but whose rotated boxes don't.
    ships = RBoxes([[50, 50, 60, 6, math.pi / 4], [56, 44, 60, 6, math.pi / 4]])
    assert nms(ships, torch.tensor([0.9, 0.8]), 0.3).tolist() == [0, 1]
    assert nms(ships.envelope(), torch.tensor([0.9, 0.8]), 0.3).tolist() == [0]


def test_greedy_keep_rejects_nothing_without_edges():
    empty = torch.zeros(0, dtype=torch.long)
    assert greedy_keep(3, empty, empty).tolist() == [True, True, True]
