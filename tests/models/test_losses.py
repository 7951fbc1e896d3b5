import math

import pytest
import torch

from rsdet.models.losses import quality_focal_loss


def test_quality_focal_loss_by_hand():
    # logit 0 -> p = 0.5. Target 0.5: |p - t| = 0, so no loss although BCE = ln 2.
    assert quality_focal_loss(torch.zeros(1), torch.full((1,), 0.5)).item() == 0.0
    # Target 0: BCE = ln 2, |p - t|^2 = 0.25.
    assert quality_focal_loss(torch.zeros(1), torch.zeros(1)).item() == pytest.approx(
        math.log(2) * 0.25
    )
    # An easy negative costs almost nothing; a confident miss costs a lot.
    assert quality_focal_loss(torch.full((1,), -8.0), torch.zeros(1)).item() < 1e-9
    assert quality_focal_loss(torch.full((1,), -8.0), torch.ones(1)).item() > 7


def test_quality_focal_loss_gradient_points_to_the_target():
    logits = torch.zeros(3, requires_grad=True)
    quality_focal_loss(logits, torch.tensor([0.0, 0.9, 1.0])).sum().backward()
    assert logits.grad[0] > 0 and logits.grad[1] < 0 and logits.grad[2] < 0
