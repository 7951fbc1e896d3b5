"""Fine-tuning a compressed network: the engine's data, loss and schedule, plus constraints.

The engine's loop (:mod:`rsdet.engine.train`) builds its own network from a recipe; here the
network already exists and carries constraints that must hold at every step (pruned weights
at zero, shared weights on their codebook). So this is the same loop, shortened: engine
windows (:class:`~rsdet.engine.dataset.TileDataset`), the network's own loss, the engine's
learning-rate schedule and gradient clipping, and each constraint's ``before_step`` /
``after_step`` around the optimiser step. No EMA: an average of shared weights would leave
their codebook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader

from rsdet.engine.data import TrainData
from rsdet.engine.dataset import TileDataset, WindowSampler, collate
from rsdet.engine.optim import lr_factor
from rsdet.engine.precise_bn import recompute_bn_stats
from rsdet.engine.recipe import DataConfig, OptimConfig, ScheduleConfig
from rsdet.engine.train import TrainingError
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import ModelSpec

__all__ = ["Constraint", "FinetuneConfig", "finetune", "recalibrate_bn"]


class Constraint(Protocol):
    """What pruning masks and shared weights do around each optimiser step."""

    def before_step(self) -> None:
        """After ``backward``, before the optimiser step: adjust the gradients."""

    def after_step(self) -> None:
        """After the optimiser step: restore the constraint on the weights."""


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run.

    Attributes:
        data: windows (size, count per epoch, augmentation); ``data.train`` is informative.
        optim: optimiser (its ``lr`` is the peak learning rate).
        epochs: epochs (0: no fine-tuning).
        batch_size: windows per iteration.
        seed: window draws and order.
        precise_bn: batches over which BatchNorm statistics are recomputed at the end
            (0: keep the running averages); see :func:`recalibrate_bn`.
    """

    data: DataConfig
    optim: OptimConfig
    epochs: int
    batch_size: int = 8
    seed: int = 0
    precise_bn: int = 16


def finetune(
    network: DetectorNetwork[Any],
    spec: ModelSpec,
    train: TrainData,
    config: FinetuneConfig,
    constraints: Sequence[Constraint],
    extra_params: Sequence[nn.Parameter] = (),
    frozen: Sequence[nn.Parameter] = (),
    on_epoch: Callable[[int, float], None] | None = None,
) -> None:
    """Train ``network`` in place under ``constraints``, then recompute its BatchNorm stats.

    ``config.epochs`` may be 0: the statistics are still recomputed (:func:`recalibrate_bn`).

    Args:
        extra_params: trained besides the network's parameters (the codebooks).
        frozen: network parameters the optimiser leaves alone (the shared tensors, which a
            constraint rewrites from their codebook).
        on_epoch: called with (epoch, mean loss) after each epoch.

    Raises:
        TrainingError: the loss stopped being a finite number.
    """
    dataset = TileDataset(train.samples, config.data, spec.input, network.box_type, config.seed)
    if config.epochs > 0:
        _train(network, dataset, config, constraints, extra_params, frozen, on_epoch)
    recalibrate_bn(network, dataset, config.precise_bn, config.batch_size)
    network.eval()


def recalibrate_bn(network: nn.Module, dataset: TileDataset, batches: int, size: int) -> None:
    """BatchNorm statistics as a plain mean over ``batches`` batches of training windows.

    Pruning and weight sharing change every layer's output statistics, and the running
    averages lag behind (:mod:`rsdet.engine.precise_bn`). The windows come from a key range
    training never draws (epoch ``2**20``), as in the engine.
    """
    if batches == 0:
        return
    device = next(network.parameters()).device
    first = 2**20 * len(dataset)
    data = (collate([dataset[first + b * size + i] for i in range(size)]) for b in range(batches))
    recompute_bn_stats(network, data, device)


def _train(
    network: DetectorNetwork[Any],
    dataset: TileDataset,
    config: FinetuneConfig,
    constraints: Sequence[Constraint],
    extra_params: Sequence[nn.Parameter],
    frozen: Sequence[nn.Parameter],
    on_epoch: Callable[[int, float], None] | None,
) -> None:
    """The epochs of :func:`finetune`."""
    device = next(network.parameters()).device
    sampler = WindowSampler(len(dataset))
    loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, collate_fn=collate,
                        generator=torch.Generator().manual_seed(config.seed))  # fmt: skip
    optimizer = _optimizer(network, config.optim, extra_params, frozen)
    per_epoch = len(loader)
    schedule = ScheduleConfig(kind="cosine", warmup_iters=0)
    iteration = 0
    for epoch in range(config.epochs):
        sampler.set_epoch(epoch)
        network.train()
        total = 0.0
        for images, targets in loader:
            factor = lr_factor(iteration, per_epoch, config.epochs, schedule)
            for group in optimizer.param_groups:
                group["lr"] = config.optim.lr * factor
            losses = network(images.to(device), [t.to(device) for t in targets])
            loss = torch.stack([v.float() for v in losses.values()]).sum()
            if not torch.isfinite(loss):
                raise TrainingError(f"fine-tuning loss became {loss.item()} (epoch {epoch + 1})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            for c in constraints:
                c.before_step()
            if config.optim.grad_clip is not None:
                params = [p for g in optimizer.param_groups for p in g["params"]]
                nn.utils.clip_grad_norm_(params, config.optim.grad_clip)
            optimizer.step()
            for c in constraints:
                c.after_step()
            total += float(loss.detach())
            iteration += 1
        if on_epoch is not None:
            on_epoch(epoch + 1, total / max(per_epoch, 1))


def _optimizer(
    network: nn.Module,
    cfg: OptimConfig,
    extra: Sequence[nn.Parameter],
    frozen: Sequence[nn.Parameter],
) -> torch.optim.Optimizer:
    """The engine's two weight-decay groups, without ``frozen``, plus an ``extra`` group.

    Codebooks get no weight decay: shrinking shared values is not the regulariser decay is
    for, and it would pull every weight of a cluster at once.
    """
    skip = {id(p) for p in frozen}
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in network.parameters():
        if p.requires_grad and id(p) not in skip:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay + list(extra), "weight_decay": 0.0},
    ]
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999))
