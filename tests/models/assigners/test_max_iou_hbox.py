import torch

from rsdet.models.assigners import MaxIoUHBoxAssigner

PRIORS = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [100, 100, 110, 110]])


def test_mmdet_v1_rule_by_hand():
    gts = torch.tensor(
        [
            [0.0, 0, 10, 10],  # P0: IoU 1 (positive); P1: 50/150 = 0.33 (between: ignored)
            [21, 21, 29, 29],  # P2: 64/100 = 0.64 (positive)
            [50, 50, 54, 54],  # no overlap with any prior: claims nothing
            [100, 100, 106, 106],  # P3: 36/100 = 0.36 < 0.5, but >= min_pos_iou 0.3: claimed
        ]
    )
    a = MaxIoUHBoxAssigner(pos_thr=0.5, neg_thr=0.3, min_pos_iou=0.3)(PRIORS, gts)
    assert a.gt_index.tolist() == [0, -1, 1, 3]
    assert a.ignored.tolist() == [False, True, False, False]
    assert a.pos.tolist() == [0, 2, 3]
    # R-CNN thresholds (0.5 / 0.5 / 0.5): nothing in between, P3 is now a negative.
    a = MaxIoUHBoxAssigner(0.5, 0.5, 0.5)(PRIORS, gts)
    assert a.gt_index.tolist() == [0, -1, 1, -1] and not a.ignored.any()


def test_a_prior_claimed_by_two_gts_goes_to_the_last_one():
    gts = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10]])
    a = MaxIoUHBoxAssigner()(PRIORS, gts)
    assert a.gt_index[0] == 1
    first_only = MaxIoUHBoxAssigner(gt_max_assign_all=False)(PRIORS[:1], gts)
    assert first_only.gt_index.tolist() == [1]


def test_no_gts_or_no_priors():
    a = MaxIoUHBoxAssigner()(PRIORS, torch.zeros(0, 4))
    assert a.gt_index.tolist() == [-1] * 4 and not a.ignored.any()
    assert MaxIoUHBoxAssigner()(torch.zeros(0, 4), PRIORS).gt_index.numel() == 0
