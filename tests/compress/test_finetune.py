"""Fine-tuning ends by recomputing BatchNorm statistics for the pruned weights."""

import pytest
import torch

from rsdet.compress.finetune import FinetuneConfig, finetune
from rsdet.compress.prune import Masks, magnitude_masks, prunable
from rsdet.engine.data import load_data
from rsdet.engine.recipe import DataConfig, OptimConfig
from rsdet.models.zoo import load_network

pytestmark = pytest.mark.usefixtures("one_thread")


def test_without_epochs_only_the_batchnorm_statistics_change():
    network, ckpt = load_network("trees")
    targets = prunable(network, 4096)
    Masks(targets, magnitude_masks(targets, 0.8, "global"))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    train = load_data("synthetic:?n=2&size=128&seed=0&kind=trees", lambda _: None)
    data = DataConfig(train="synthetic", tile_size=64, windows_per_epoch=4)
    config = FinetuneConfig(data, OptimConfig(), epochs=0, batch_size=2, precise_bn=2)
    finetune(network, ckpt.spec, train, config, [])
    after = network.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(
        k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed
    )
    assert not network.training
