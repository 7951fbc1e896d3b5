import math

import torch

from rsdet.models.anchors import AnchorGenerator
from rsdet.models.assigners import MaxIoUHBoxAssigner
from rsdet.models.gtmr import gtmr, missed_gts

RPN = MaxIoUHBoxAssigner(pos_thr=0.5, neg_thr=0.3, min_pos_iou=0.3)
# 8 x 8 anchors on an 8-px grid: stride 8, scale 1, ratio 1 -> (8j, 8i, 8j + 8, 8i + 8).
GRID = AnchorGenerator((8,), (1.0,), (1.0,))


def _anchors(hw):
    return GRID.grid(8, hw[0] // 8, hw[1] // 8)


def test_hand_case_per_size_bin():
    gts = torch.tensor(
        [
            [0.0, 0, 8, 8],  # A: IoU 1 with anchor 0 ... which C claims after it: missed
            [4, 4, 12, 12],  # B: 16/112 = 0.14 with four anchors, below 0.3: missed
            [0, 0, 6, 6],  # C: 36/64 = 0.56 with anchor 0, the later gt: assigned
            [0, 0, 32, 32],  # D: 64/1024 with every anchor: missed (area 32^2: medium)
        ]
    )
    assert missed_gts(_anchors((32, 32)), gts, RPN).tolist() == [True, True, False, True]
    result = gtmr(_anchors, [((32, 32), gts)], RPN)
    assert result.total == {"all": 4, "small": 3, "medium": 1, "large": 0}
    assert result.missed == {"all": 3, "small": 2, "medium": 1, "large": 0}
    ratio = result.ratio()
    assert ratio["all"] == 0.75 and ratio["small"] == 2 / 3 and math.isnan(ratio["large"])


def test_anchors_past_the_border_cannot_be_assigned():
    # A gt on the image edge matches an anchor that reaches 4 px outside (a 16-px anchor
    # centred on the first cell): with allowed_border 0 that anchor does not count.
    big = AnchorGenerator((8,), (2.0,), (1.0,))
    anchors = lambda hw: big.grid(8, hw[0] // 8, hw[1] // 8)  # noqa: E731
    gts = [((32, 32), torch.tensor([[0.0, 0, 12, 12]]))]
    assert gtmr(anchors, gts, RPN).missed["all"] == 1
    assert gtmr(anchors, gts, RPN, allowed_border=-1).missed["all"] == 0
