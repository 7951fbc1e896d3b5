"""The training loop: one plain loop you can read top to bottom.

::

    setup (session.py): data -> network -> EMA -> optimiser -> loader -> (resume) -> DDP
    for epoch:
        for batch: lr -> forward (autocast) -> loss dict -> backward -> clip -> step -> EMA
        validate (rank 0) -> metrics.csv -> last.pt / best.pt

Nothing is hidden behind hooks: to change what happens, edit this file. Every random
choice is seeded (weights from ``seed``, data from ``(seed, epoch, index)``), so two CPU runs
with the same recipe give identical weights, and ``resume=True`` continues from ``last.pt``
to exactly the weights an uninterrupted run would have reached. Ctrl-C (SIGINT) or SIGTERM
(what clusters and ``kill`` send) finishes the current iteration, saves ``last.pt`` and
raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, cast

import torch
from torch import nn

from rsdet.config import ConfigError
from rsdet.engine.data import TrainData
from rsdet.engine.dataset import TileDataset, collate
from rsdet.engine.distributed import any_true
from rsdet.engine.optim import lr_factor
from rsdet.engine.precise_bn import recompute_bn_stats
from rsdet.engine.recipe import TrainRecipe
from rsdet.engine.report import Meter, Reporter, Silent
from rsdet.engine.session import Position, Session, open_session
from rsdet.engine.validate import validate
from rsdet.errors import RsdetError

__all__ = ["RunResult", "TrainingError", "train"]

Metrics = dict[str, float | None]


class TrainingError(RsdetError):
    """Training cannot go on (the loss stopped being a finite number)."""


@dataclass
class RunResult:
    """Outcome of :func:`train`: how far it went, the best score, the last metrics."""

    run_dir: Path
    epochs: int
    iterations: int
    best_score: float | None
    best_epoch: int | None
    metrics: Metrics = field(default_factory=dict)


def train(
    recipe: TrainRecipe,
    run_dir: Path,
    *,
    resume: bool = False,
    provenance: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    data: tuple[TrainData, TrainData | None] | None = None,
) -> RunResult:
    """Train ``recipe`` into ``run_dir``: ``last.pt``, ``best.pt``, ``metrics.csv``.

    Args:
        recipe: the validated recipe.
        run_dir: an existing folder (the pipeline decides about overwriting).
        resume: continue from ``run_dir / "last.pt"``.
        provenance: extra facts stored in every checkpoint (command line, git commit...).
        reporter: progress sink; None reports nothing.
        data: training and validation samples already loaded (e.g. restricted to areas of
            interest); None loads ``recipe.data.train`` and ``recipe.data.val``.

    Raises:
        TrainingError: the loss became NaN or infinite.
        KeyboardInterrupt: after Ctrl-C or SIGTERM, once ``last.pt`` holds the current
            iteration.
    """
    rep = reporter or Silent()
    s = open_session(recipe, run_dir, resume, provenance or {}, rep, data)
    pos, ctx, optimizer, scaler = s.pos, s.ctx, s.optimizer, s.scaler
    metrics: Metrics = {}
    with _StopOnSigint() as stop:
        for epoch in range(pos.epoch, recipe.epochs):
            s.sampler.set_epoch(epoch, start=pos.batch * recipe.batch_size)
            _train_mode(s.network, recipe.optim.freeze_bn)
            meter = Meter(rep, f"epoch {epoch + 1}/{recipe.epochs}", s.per_epoch, pos.batch)
            for images, targets in s.loader:
                lr = recipe.optim.lr * lr_factor(
                    pos.iteration, s.per_epoch, recipe.epochs, recipe.schedule
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images = images.to(ctx.device, non_blocking=True)
                targets = [t.to(ctx.device) for t in targets]
                with torch.autocast(ctx.device.type, dtype=torch.float16, enabled=s.amp):
                    losses = s.model(images, targets)
                loss = torch.stack([v.float() for v in losses.values()]).sum()
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"the loss became {loss.item()} at iteration {pos.iteration} "
                        f"(epoch {epoch + 1}); lower optim.lr or check the data"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                if recipe.optim.grad_clip is not None:
                    scaler.unscale_(optimizer)  # clip the true gradients, not scaled ones
                    nn.utils.clip_grad_norm_(s.network.parameters(), recipe.optim.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                if s.ema is not None:
                    s.ema.update(s.network)
                pos.batch, pos.iteration = pos.batch + 1, pos.iteration + 1
                values = meter.add(losses, loss, lr)
                if s.book is not None and pos.iteration % recipe.output.log_interval == 0:
                    s.book.scalars(pos.iteration, values)
                if any_true(stop.requested, ctx):
                    s.save("last.pt", True, metrics)
                    raise KeyboardInterrupt
            pos.epoch, pos.batch = epoch + 1, 0
            fresh = _evaluate(s, rep, epoch) if _due(pos.epoch, recipe) else {}
            metrics = fresh or metrics  # checkpoints carry the latest validation
            improved = _improved(pos, fresh, recipe, s.val_data is not None)
            row = meter.row(pos.epoch, pos.iteration) | {f"val_{k}": v for k, v in fresh.items()}
            if s.book is not None:
                s.book.epoch(row)
            rep.note(_summary(row))
            s.save("last.pt", True, metrics)
            if improved:
                s.save("best.pt", False, metrics)
            if any_true(stop.requested, ctx):  # Ctrl-C during validation
                raise KeyboardInterrupt
    if s.book is not None:
        s.book.close()
    return RunResult(run_dir, pos.epoch, pos.iteration, pos.best, pos.best_epoch, metrics)


def _train_mode(network: nn.Module, freeze_bn: bool) -> None:
    """Training mode, but with ``freeze_bn`` every BatchNorm layer stays in eval mode.

    A frozen layer normalises with, and keeps, its running statistics; its affine weights
    still learn.
    """
    network.train()
    if freeze_bn:
        for module in network.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def _due(epoch: int, recipe: TrainRecipe) -> bool:
    """Validate every ``eval.interval`` epochs and after the last one."""
    return epoch % recipe.eval.interval == 0 or epoch == recipe.epochs


def _evaluate(s: Session, rep: Reporter, epoch: int) -> Metrics:
    """Precise BatchNorm statistics, then validation (when there is validation data)."""
    _precise_bn(s, epoch)
    return _validate(s, rep)


def _precise_bn(s: Session, epoch: int) -> None:
    """Rank 0 recomputes the BatchNorm statistics of the weights it evaluates and saves.

    The batches are training windows of a separate key range (epoch ``2**20 + epoch``), so
    they never repeat the training batches' random draws.
    """
    n = s.recipe.eval.precise_bn
    if n == 0 or not s.ctx.main:
        return
    dataset, size = cast(TileDataset, s.loader.dataset), s.recipe.batch_size
    first = (2**20 + epoch) * len(dataset)
    batches = (collate([dataset[first + b * size + i] for i in range(size)]) for b in range(n))
    recompute_bn_stats(s.averaged, batches, s.ctx.device)


def _validate(s: Session, rep: Reporter) -> Metrics:
    """Rank 0 scores the averaged weights (if there is validation data); others wait."""
    metrics: Metrics = {}
    if s.val_data is None:
        return metrics
    if s.ctx.main:
        rep.begin("validate", len(s.val_data.samples), 0)
        result = validate(
            s.averaged,
            s.spec,
            s.val_data.samples,
            s.recipe.eval,
            s.ctx.device,
            s.val_data.version or "1.0",
            lambda done, total: rep.advance({}),
        )
        metrics = {k: (None if v is None else float(v)) for k, v in result.metrics.items()}
        if s.recipe.eval.metric not in metrics:
            raise ConfigError(
                f"eval.metric: {s.recipe.eval.metric!r} is not a {s.recipe.eval.protocol} "
                f"metric (known: {', '.join(metrics)})"
            )
    if s.ctx.world > 1:
        torch.distributed.barrier()
    return metrics


def _improved(pos: Position, metrics: Metrics, recipe: TrainRecipe, validating: bool) -> bool:
    """Whether this epoch's weights are the best so far (always, without validation)."""
    if not validating:
        return True
    score = metrics.get(recipe.eval.metric)
    if score is None or (pos.best is not None and score <= pos.best):
        return False
    pos.best, pos.best_epoch = score, pos.epoch
    return True


def _summary(row: dict[str, Any]) -> str:
    """One line per epoch: mean losses and validation metrics."""
    parts = [f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float) and k != "lr"]
    return f"epoch {row['epoch']}: " + " ".join(parts)


# Ctrl-C, and what a cluster's scheduler (Slurm, Kubernetes) or ``kill`` sends to stop a job.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StopOnSigint:
    """Turns Ctrl-C or SIGTERM into a request that the loop honours at the end of an iteration."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # a second Ctrl-C: stop now, last.pt stays at the last epoch
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnSigint:
        for signum in STOP_SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: the signals keep their default behaviour
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
