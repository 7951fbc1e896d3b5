import pytest
import torch

from rsdet.structures import HBoxes, soft_nms

# A hand case, IoUs derived by hand (threshold 0.5):
#   A (0,0,10,10)  0.9
#   B (1,0,11,10)  0.8   IoU(A,B) = 90/110 = 9/11   -> decays to 0.8 * 2/11
#   C (0,5,10,15)  0.7   IoU(A,C) = 50/150 = 1/3    -> kept as is (not above 0.5)
#   D (20,20,30,30) 0.3  no overlap
#   E (0,0,10,12)  0.6   IoU(A,E) = 100/120 = 5/6   -> decays to 0.6 * 1/6 = 0.1
# After A: C (0.7) is taken before B although B started higher; IoU(C,B) = 45/155 and
# IoU(C,E) = 70/150 are below 0.5, so nothing decays further.
BOXES = HBoxes([[0, 0, 10, 10], [1, 0, 11, 10], [0, 5, 10, 15], [20, 20, 30, 30], [0, 0, 10, 12]])
SCORES = torch.tensor([0.9, 0.8, 0.7, 0.3, 0.6])


def test_linear_decay_reorders_and_discards_below_min_score():
    keep, scores = soft_nms(BOXES, SCORES, 0.5, min_score=0.12)
    assert keep.tolist() == [0, 2, 3, 1]  # E fell to 0.1 < 0.12
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.7, 0.3, 0.8 * 2 / 11]))
    keep, scores = soft_nms(BOXES, SCORES, 0.5, min_score=1e-3)
    # Kept this time, E decays again when B is taken: IoU(B,E) = 90/130.
    assert keep.tolist() == [0, 2, 3, 1, 4]
    torch.testing.assert_close(scores[-1], torch.tensor(0.1 * 40 / 130))


def test_decays_compound_over_steps():
    # X1 (0,0,10,10) 0.9, X2 (0,0,10,11) 0.8, X3 (0,0,11,10) 0.7. IoU(X1,X2) = IoU(X1,X3) =
    # 100/110; IoU(X2,X3) = 100/120. X2 -> 0.8/11; X3 -> 0.7/11, then x (1 - 5/6).
    boxes = HBoxes([[0, 0, 10, 10], [0, 0, 10, 11], [0, 0, 11, 10]])
    keep, scores = soft_nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5, min_score=1e-3)
    assert keep.tolist() == [0, 1, 2]
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.8 / 11, 0.7 / 11 / 6]))


def test_classes_do_not_decay_each_other_and_max_det_stops_early():
    labels = torch.tensor([0, 1, 0, 0, 1])
    keep, scores = soft_nms(BOXES, SCORES, 0.5, min_score=0.05, labels=labels)
    # B and E are of class 1: B is taken undecayed; E then decays by B: IoU(B,E) = 90/130.
    assert keep.tolist() == [0, 1, 2, 3, 4]
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.8, 0.7, 0.3, 0.6 * 40 / 130]))
    keep, _ = soft_nms(BOXES, SCORES, 0.5, min_score=1e-3, max_det=2)
    assert keep.tolist() == [0, 2]


def test_empty_input_and_length_mismatch():
    keep, scores = soft_nms(HBoxes(torch.zeros(0, 4)), torch.zeros(0), 0.5, 1e-3)
    assert keep.numel() == 0 and scores.numel() == 0
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        soft_nms(HBoxes([[0, 0, 1, 1], [0, 0, 2, 2]]), torch.ones(1), 0.5, 1e-3)
