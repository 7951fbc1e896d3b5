import math

import pytest
import torch

from rsdet.models.losses import giou_loss, rotated_iou_loss, sigmoid_focal_loss
from rsdet.models.priors import grid_points


def test_grid_points_centres_and_corners():
    pts = grid_points(2, 3, stride=8)
    assert pts.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]
    assert grid_points(1, 2, stride=8, offset=0.0).tolist() == [[0, 0], [8, 0]]


def test_focal_loss_by_hand():
    # p = 0.5 for logit 0: ce = ln 2, (1 - p_t)^2 = 0.25, alpha 0.25 for a positive.
    loss = sigmoid_focal_loss(torch.zeros(1, 1), torch.ones(1, 1))
    assert loss.item() == pytest.approx(math.log(2) * 0.25 * 0.25)
    # Confident correct negatives cost almost nothing.
    assert sigmoid_focal_loss(torch.full((1, 1), -10.0), torch.zeros(1, 1)).item() < 1e-8


def test_giou_loss_identical_disjoint_degenerate():
    a = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 5]])
    b = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [5, 5, 5, 5]])
    loss = giou_loss(a, b)
    assert loss[0].item() == pytest.approx(0, abs=1e-6)
    # Disjoint: IoU 0, hull 30x10=300, union 200 -> GIoU = -1/3 -> loss 4/3.
    assert loss[1].item() == pytest.approx(4 / 3, abs=1e-5)
    assert torch.isfinite(loss).all()


def test_rotated_iou_loss_modes_and_gradient():
    pred = torch.tensor([[10.0, 10, 8, 4, 0.2]], requires_grad=True)
    target = torch.tensor([[11.0, 10, 8, 4, 0.0]])
    loss = rotated_iou_loss(pred, target)
    loss.sum().backward()
    assert loss.item() > 0 and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    same = rotated_iou_loss(target, target, mode="linear")
    assert same.item() == pytest.approx(0, abs=1e-5)
    collapsed = torch.tensor([[10.0, 10, 0, 0, 0.0]], requires_grad=True)
    rotated_iou_loss(collapsed, target).sum().backward()
    assert torch.isfinite(collapsed.grad).all()
