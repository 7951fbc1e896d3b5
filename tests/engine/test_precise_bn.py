"""Precise BatchNorm: statistics become the plain mean over the given batches."""

import torch
from torch import nn

from rsdet.engine.precise_bn import recompute_bn_stats
from rsdet.structures import HBoxes, Targets


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(2, momentum=0.03)
        self.drop = nn.Dropout(0.5)

    def forward(self, x, targets=None):
        assert targets is not None, "train mode must be called with targets"
        return {"loss": self.drop(self.bn(x)).sum()}


def no_targets(n):
    return [
        Targets(
            HBoxes(torch.zeros(0, 4)),
            torch.zeros(0, dtype=torch.long),
            torch.zeros(0, dtype=torch.bool),
        )
    ] * n


def test_running_stats_become_the_mean_over_batches_and_nothing_else_changes():
    net = Net().eval()
    batches = [torch.randn(4, 2, 5, 5) + i for i in range(3)]
    torch.manual_seed(0)
    expected_next = torch.rand(3)
    torch.manual_seed(0)
    n = recompute_bn_stats(net, [(b, no_targets(4)) for b in batches], torch.device("cpu"))
    assert n == 1
    means = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    torch.testing.assert_close(net.bn.running_mean, means)
    assert net.bn.momentum == 0.03 and not net.training
    assert torch.equal(torch.rand(3), expected_next)  # the global random stream is untouched


def test_models_without_batchnorm_are_left_alone():
    assert recompute_bn_stats(nn.Linear(2, 2), [], torch.device("cpu")) == 0
