"""Magnitude pruning: thresholds, and masks that hold through fine-tuning."""

import pytest
import torch

from rsdet.compress.finetune import FinetuneConfig, finetune
from rsdet.compress.prune import Masks, magnitude_masks, prunable
from rsdet.engine.data import load_data
from rsdet.engine.recipe import DataConfig, OptimConfig
from rsdet.models.zoo import load_network

pytestmark = pytest.mark.usefixtures("one_thread")


def test_global_threshold_prunes_layers_unevenly_and_per_layer_evenly():
    small = torch.linspace(-0.1, 0.1, 1000)  # many small weights
    large = torch.linspace(0.5, 1.0, 500).repeat(2) * torch.tensor([1.0, -1.0]).repeat_interleave(
        500
    )
    weights = {"small": small, "large": large}
    per_layer = magnitude_masks(weights, 0.5, "layer")
    assert [int(m.sum()) for m in per_layer.values()] == [500, 500]
    glob = magnitude_masks(weights, 0.5, "global")
    assert int(glob["small"].sum()) + int(glob["large"].sum()) == 1000
    assert int(glob["small"].sum()) == 0 and bool(glob["large"].all())  # one threshold


def test_small_tensors_are_not_prunable():
    network, _ = load_network("trees")
    names = prunable(network, 4096)
    assert "backbone.stem.0.weight" not in names  # the first conv: 432 weights
    assert "head.cls.0.4.weight" not in names  # a prediction conv
    assert all(p.ndim >= 2 and p.numel() >= 4096 for p in names.values())


def test_pruned_weights_stay_zero_through_fine_tuning():
    network, ckpt = load_network("trees")
    targets = prunable(network, 4096)
    before = {n: p.detach().clone() for n, p in targets.items()}
    masks = Masks(targets, magnitude_masks(targets, 0.8, "global"))
    train = load_data("synthetic:?n=2&size=128&seed=0&kind=trees", lambda _: None)
    data = DataConfig(train="synthetic", tile_size=64, windows_per_epoch=4)
    # a large learning rate and weight decay: both would move zero weights without the masks
    optim = OptimConfig(lr=1e-2, weight_decay=0.5)
    config = FinetuneConfig(data, optim, epochs=1, batch_size=2, precise_bn=0)
    finetune(network, ckpt.spec, train, config, [masks])
    moved = 0
    for name, p in targets.items():
        mask = masks.masks[name]
        assert torch.all(p[~mask] == 0), name
        moved += int((p[mask] != before[name][mask]).sum())
    assert moved > 0.9 * masks.kept()  # the kept weights did train
