import torch

from rsdet.models.assigners.task_aligned import TaskAlignedAssigner, points_in_boxes
from rsdet.structures import HBoxes


def _assign(assigner, pred_boxes, priors, gt, labels=None, ignore=None, scores=None, stride=8.0):
    n, m = len(priors), len(gt)
    priors = torch.tensor(priors, dtype=torch.float32)
    return assigner(
        torch.full((n, 2), 0.5) if scores is None else scores,
        torch.tensor(pred_boxes, dtype=torch.float32),
        priors,
        torch.full((n,), stride),
        HBoxes(torch.tensor(gt, dtype=torch.float32).reshape(-1, 4)),
        torch.zeros(m, dtype=torch.long) if labels is None else torch.tensor(labels),
        torch.zeros(m, dtype=torch.bool) if ignore is None else torch.tensor(ignore),
    )


def _positive_labels(a, labels):
    """Class of each positive, in the order of ``a.pos``, as TaskAlignedLoss reads it."""
    return torch.tensor(labels)[a.gt_index[a.pos]]


def test_points_on_a_box_edge_are_outside():
    inside = points_in_boxes(
        torch.tensor([[0.0, 5], [5, 5], [10, 5]]), torch.tensor([[0.0, 0, 10, 10]])
    )
    assert inside.tolist() == [[False, True, False]]


def test_no_targets_means_no_positives_and_full_classification():
    a = _assign(TaskAlignedAssigner(), [[0, 0, 4, 4]] * 3, [[2, 2], [6, 6], [10, 10]], [])
    assert a.pos.numel() == a.quality.numel() == 0 and (a.gt_index == -1).all()
    assert (~a.ignored).all()


def test_quality_and_box_weight_by_hand():
    # alpha = beta = 1, score 0.5: metric t = 0.5 * IoU. Prior 0 predicts the top half of
    # the box (IoU 0.5), prior 1 its top quarter (IoU 0.25); prior 2 is not a candidate.
    assigner = TaskAlignedAssigner(topk=2, alpha=1.0, beta=1.0, center_radius=0.0)
    pred = [[0, 0, 8, 4], [0, 0, 8, 2], [100, 100, 108, 108]]
    a = _assign(assigner, pred, [[2, 2], [6, 6], [104, 104]], [[0, 0, 8, 8]])
    order = a.pos.argsort()
    assert a.pos[order].tolist() == [0, 1]
    # box weight = t / max t = 0.25 / 0.25 and 0.125 / 0.25; quality = weight * max IoU 0.5.
    assert torch.allclose(a.box_weight[order], torch.tensor([1.0, 0.5]))
    assert torch.allclose(a.quality[order], torch.tensor([0.5, 0.25]))
    assert a.gt_index[a.pos].tolist() == [0, 0] and _positive_labels(a, [0]).tolist() == [0, 0]


def test_topk_limits_positives_per_box():
    assigner = TaskAlignedAssigner(topk=3)
    priors = [[x + 0.5, y + 0.5] for y in range(8) for x in range(8)]
    pred = [[0, 0, 8, 8]] * len(priors)
    a = _assign(assigner, pred, priors, [[0, 0, 8, 8]], stride=1.0)
    assert a.pos.numel() == 3


def test_tiny_box_between_grid_centres_still_gets_positives():
    # A 2 px object lies between the centres (4, 4) and (12, 4) of a stride-8 grid.
    assigner = TaskAlignedAssigner()
    priors = [[4, 4], [12, 4], [4, 12], [12, 12]]
    pred = [[0, 0, 8, 8], [7, 2, 9, 4], [0, 8, 8, 16], [8, 8, 16, 16]]
    a = _assign(assigner, pred, priors, [[7, 2, 9, 4]])
    assert a.pos.numel() > 0 and 1 in a.pos.tolist()
    assert a.quality.max() == 1.0  # prior 1 predicts it exactly


def test_contested_prior_goes_to_the_box_it_overlaps_most():
    assigner = TaskAlignedAssigner(topk=1)
    # One prior inside two overlapping boxes; its prediction matches box 1 better.
    a = _assign(assigner, [[4, 0, 14, 10]], [[6, 5]], [[0, 0, 10, 10], [4, 0, 14, 10]])
    assert a.pos.tolist() == [0] and a.gt_index.tolist() == [1]


def test_ignored_box_gets_no_positives_and_silences_its_region():
    assigner = TaskAlignedAssigner(center_radius=0.0)
    priors = [[2, 2], [6, 6], [22, 22], [26, 26]]
    pred = [[0, 0, 8, 8], [0, 0, 8, 8], [20, 20, 28, 28], [20, 20, 28, 28]]
    gt = [[0, 0, 8, 8], [20, 20, 28, 28]]
    a = _assign(assigner, pred, priors, gt, labels=[0, 1], ignore=[True, False])
    assert sorted(a.pos.tolist()) == [2, 3]
    assert a.gt_index[a.pos].tolist() == [1, 1]  # indices into the original (unfiltered) targets
    assert _positive_labels(a, [0, 1]).tolist() == [1, 1]
    assert (~a.ignored).tolist() == [False, False, True, True]


def test_positive_inside_an_ignored_box_keeps_its_classification_loss():
    assigner = TaskAlignedAssigner(center_radius=0.0)
    gt = [[0, 0, 8, 8], [0, 0, 16, 16]]  # the big one is ignored and covers the small one
    a = _assign(
        assigner, [[0, 0, 8, 8], [8, 8, 16, 16]], [[4, 4], [12, 12]], gt, ignore=[False, True]
    )
    assert a.pos.tolist() == [0]
    assert (~a.ignored).tolist() == [True, False]
