"""The shipped score threshold is the F1-best one on held-out data."""

import numpy as np
import torch

from rsdet.engine.threshold import best_f1_threshold, match_detections
from rsdet.structures import TRUNCATED, Detections, HBoxes, Sample
from rsdet.structures.sample import NORMAL


def square(x, y, s=10.0):
    return [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]


def sample(*corners, difficulty=None):
    polys = np.array([square(x, y) for x, y in corners], float)
    n = len(polys)
    diff = np.array(difficulty if difficulty else [NORMAL] * n, np.int8)
    return Sample("s", 100, 100, polys, np.zeros(n), difficulty=diff)


def dets(boxes, scores):
    b = HBoxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    return Detections(b, torch.tensor(scores), torch.zeros(len(scores), dtype=torch.int64))


def test_each_ground_truth_is_found_once_and_ignored_objects_do_not_count():
    s = sample((0, 0), (50, 50), difficulty=[NORMAL, TRUNCATED])
    d = dets([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [80, 80, 90, 90]],
             [0.9, 0.8, 0.7, 0.6])  # fmt: skip
    np.testing.assert_array_equal(match_detections(s, d), [1, 0, -1, 0])


def test_the_threshold_drops_the_low_scoring_false_positives_but_keeps_the_crowns():
    s = sample((0, 0), (20, 20), (40, 40))
    d = dets(
        [[0, 0, 10, 10], [20, 20, 30, 30], [70, 70, 80, 80], [40, 40, 50, 50], [85, 0, 95, 10]],
        [0.9, 0.8, 0.5, 0.45, 0.2],
    )
    point = best_f1_threshold([s], [d])
    # keeping down to 0.45 finds all three crowns with one false positive: F1 = 6/7
    assert point.score_thr == np.float32(0.45)
    assert (point.true_pos, point.false_pos, point.positives) == (3, 1, 3)
    assert abs(point.f1 - 6 / 7) < 1e-6


def test_no_true_positive_gives_a_threshold_that_keeps_nothing_found():
    point = best_f1_threshold([sample((0, 0))], [dets([[50, 50, 60, 60]], [0.9])])
    assert point.f1 == 0.0 and point.score_thr == 1.0
