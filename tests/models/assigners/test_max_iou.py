import torch

from rsdet.models.assigners.max_iou import MaxIoUAssigner
from rsdet.structures import RBoxes


def _priors(rows):
    """Square priors (cx, cy, side), theta 0, float64."""
    t = torch.tensor(rows, dtype=torch.float64)
    return torch.cat(
        [t[:, :2], t[:, 2:3], t[:, 2:3], torch.zeros(len(t), 1, dtype=torch.float64)], 1
    )


def _run(assigner, priors, gts):
    n = priors.shape[0]
    logits, deltas = torch.zeros(n, 1, dtype=torch.float64), torch.zeros(n, 5, dtype=torch.float64)
    boxes = RBoxes(torch.tensor(gts, dtype=torch.float64).reshape(-1, 5))
    return assigner(priors, priors, boxes, logits, deltas)


def test_max_iou_assigner_thresholds_and_low_quality_matches():
    # A 32x32 gt: prior 0 IoU 1 (pos), prior 1 at 8 px -> IoU 24/40 = 0.6 (pos), prior 2 at 12 px
    # -> 20/44 = 0.4545 (ignored), prior 3 far (neg). A tiny 8x8 gt inside prior 4 has IoU
    # 64/1024 < 0.4 but claims its best prior anyway.
    priors = _priors([[0, 0, 32], [8, 0, 32], [12, 0, 32], [100, 0, 32], [200, 200, 32]])
    gts = [[0, 0, 32, 32, 0], [201, 200, 8, 8, 0]]
    a = _run(MaxIoUAssigner(), priors, gts)
    assert a.gt_index.tolist() == [0, 0, -1, -1, 1]
    assert a.ignored.tolist() == [False, False, True, False, False]
    # A gt overlapping no prior gets nothing (and does not turn every prior positive).
    none = _run(MaxIoUAssigner(), priors, [[500, 500, 8, 8, 0]])
    assert (none.gt_index == -1).all()


def test_max_iou_ties_claim_all_or_one():
    # An 8x8 gt inside three 32-px priors: the same IoU 64/1024 with each.
    priors = _priors([[100, 100, 32], [104, 100, 32], [96, 100, 32], [200, 0, 32]])
    gts = [[100, 100, 8, 8, 0]]
    assert _run(MaxIoUAssigner(), priors, gts).gt_index.tolist() == [0, 0, 0, -1]
    one = _run(MaxIoUAssigner(gt_max_assign_all=False), priors, gts)
    assert one.gt_index.tolist() == [0, -1, -1, -1]


def test_no_gts_means_all_negative():
    a = _run(MaxIoUAssigner(), _priors([[0, 0, 32], [8, 0, 32]]), [])
    assert a.gt_index.tolist() == [-1, -1] and not a.ignored.any()


def test_hard_assignment_lists_positives_with_unit_targets():
    priors = _priors([[0, 0, 32], [8, 0, 32], [12, 0, 32], [100, 0, 32], [200, 200, 32]])
    a = _run(MaxIoUAssigner(), priors, [[0, 0, 32, 32, 0], [201, 200, 8, 8, 0]])
    assert a.pos.tolist() == [0, 1, 4]  # ascending, exactly the priors with gt_index >= 0
    assert a.quality.tolist() == a.box_weight.tolist() == [1.0, 1.0, 1.0]
