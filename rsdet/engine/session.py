"""Everything the training loop works with, built (or restored) before it starts.

:func:`open_session` loads the data, builds the network, EMA, optimiser, scaler and loader,
restores ``last.pt`` when resuming and wraps the network for DDP; :meth:`Session.save`
writes a checkpoint. The loop itself is in :mod:`rsdet.engine.train`.
"""

from __future__ import annotations

import math
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader

from rsdet.config import ConfigError, to_dict
from rsdet.engine.build import build_training_network, init_from_checkpoint, model_spec
from rsdet.engine.data import TrainData, load_data
from rsdet.engine.dataset import TileDataset, WindowSampler, collate
from rsdet.engine.distributed import Distributed, setup_distributed
from rsdet.engine.ema import ModelEMA
from rsdet.engine.logbook import Logbook
from rsdet.engine.optim import build_optimizer
from rsdet.engine.recipe import TrainRecipe
from rsdet.engine.report import Reporter
from rsdet.engine.state import get_rng_state, save_checkpoint, seed_everything, set_rng_state
from rsdet.errors import RsdetError
from rsdet.models.checkpoint import read_checkpoint
from rsdet.models.contract import DetectorNetwork
from rsdet.models.detector import resolve_device
from rsdet.models.spec import ModelSpec

__all__ = ["Position", "ResumeError", "Session", "load_training_data", "open_session"]


class ResumeError(RsdetError):
    """A run folder cannot be resumed."""


@dataclass
class Position:
    """How far training has come."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed in the current epoch
    iteration: int = 0  # batches completed in total
    best: float | None = None  # best validation score so far
    best_epoch: int | None = None


@dataclass
class Session:
    """The objects of one training run (see :func:`open_session`)."""

    recipe: TrainRecipe
    run_dir: Path
    ctx: Distributed
    train_data: TrainData
    val_data: TrainData | None
    network: DetectorNetwork[Any]  # the bare network (``model`` may wrap it in DDP)
    model: nn.Module
    config: dict[str, Any]
    spec: ModelSpec
    ema: ModelEMA | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    sampler: WindowSampler
    loader: DataLoader[Any]
    book: Logbook | None
    pos: Position = field(default_factory=Position)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def amp(self) -> bool:
        """Mixed precision is on (CUDA only)."""
        return self.recipe.amp and self.ctx.device.type == "cuda"

    @property
    def per_epoch(self) -> int:
        """Iterations in a whole epoch (per process), however far the epoch has come."""
        return math.ceil(self.sampler.epoch_length / self.recipe.batch_size)

    @property
    def averaged(self) -> DetectorNetwork[Any]:
        """The weights that are evaluated and shipped: the EMA when there is one."""
        if self.ema is None:
            return self.network
        return cast(DetectorNetwork[Any], self.ema.module)  # a deep copy of the network

    def save(self, name: str, with_state: bool, metrics: dict[str, float | None]) -> None:
        """Write ``run_dir / name`` on rank 0; ``with_state`` adds what resuming needs."""
        if not self.ctx.main:
            return
        p = self.pos
        self.facts.update(epochs=p.epoch, iterations=p.iteration, metrics=metrics)
        state = None
        if with_state:
            state = {
                "position": [p.epoch, p.batch, p.iteration, p.best, p.best_epoch],
                "model": self.network.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": get_rng_state(),
            }
        path = self.run_dir / name
        save_checkpoint(path, self.spec, self.config, self.averaged, self.facts, state)


def open_session(
    recipe: TrainRecipe,
    run_dir: Path,
    resume: bool,
    provenance: dict[str, Any],
    rep: Reporter,
    prepared: tuple[TrainData, TrainData | None] | None = None,
) -> Session:
    """Build everything for :func:`rsdet.engine.train.train` (restoring ``last.pt`` if asked).

    ``prepared`` (training, validation) replaces loading ``recipe.data.train`` / ``val``: samples
    a pipeline prepared itself (``rsdet finetune``'s AOI-restricted scenes).
    """
    device = resolve_device(recipe.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {recipe.device!r}, but this machine has no usable CUDA GPU")
    ctx = setup_distributed(device)
    train_data, val_data = prepared if prepared is not None else _load(recipe, rep)
    seed_everything(recipe.seed)  # the same initial weights on every process
    network, config = build_training_network(recipe.model, train_data.classes)
    if recipe.model.init is not None and not resume:
        source = recipe.model.init
        copied, fresh = init_from_checkpoint(network, recipe.model.arch, source)
        shown = ", ".join(fresh[:3]) + (", ..." if len(fresh) > 3 else "")
        rep.note(f"model.init: {copied} tensors from {source}, {len(fresh)} left fresh {shown}")
    network.to(ctx.device)
    ema = ModelEMA(network, recipe.ema.decay, recipe.ema.tau) if recipe.ema.enabled else None
    amp = recipe.amp and ctx.device.type == "cuda"
    box_type, spec = recipe.model.box_type, model_spec(recipe.model, train_data.classes)
    dataset = TileDataset(train_data.samples, recipe.data, spec.input, box_type, recipe.seed)
    sampler = WindowSampler(len(dataset), ctx.rank, ctx.world)
    if sampler.epoch_length == 0:
        raise ConfigError(
            f"data.windows_per_epoch: {len(dataset)} windows cannot feed {ctx.world} processes"
        )
    s = Session(
        recipe=recipe,
        run_dir=run_dir,
        ctx=ctx,
        train_data=train_data,
        val_data=val_data,
        network=network,
        model=network,
        config=config,
        spec=spec,
        ema=ema,
        optimizer=build_optimizer(network, recipe.optim),
        scaler=torch.amp.GradScaler("cuda", enabled=amp),
        sampler=sampler,
        loader=_loader(dataset, sampler, recipe, ctx),
        book=None,
    )
    if resume:
        s.pos = _restore(run_dir / "last.pt", s)
    if ctx.world > 1:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        s.model = nn.parallel.DistributedDataParallel(network, device_ids=ids)
    if ctx.main:
        s.book = Logbook(run_dir, recipe.output.tensorboard, s.pos.epoch if resume else None)
    data = {"train": train_data.spec, "val": val_data.spec if val_data else None}
    s.facts = {**provenance, "recipe": to_dict(recipe), "data": data}
    return s


def load_training_data(recipe: TrainRecipe, rep: Reporter) -> tuple[TrainData, TrainData | None]:
    """The recipe's training and validation data, loaded and checked.

    :func:`open_session` does this first; a pipeline calls it before it writes anything,
    so that bad data fails early, and passes the result to ``open_session``.

    Raises:
        InputError, ConfigError: missing or unusable data, or classes that differ.
    """
    return _load(recipe, rep)


def _load(recipe: TrainRecipe, rep: Reporter) -> tuple[TrainData, TrainData | None]:
    """Training and validation data; their class lists must agree."""
    train_data = load_data(recipe.data.train, rep.note)
    if recipe.data.val is None:
        return train_data, None
    val_data = load_data(recipe.data.val, rep.note)
    dense = sum(1 for sample in val_data.samples if len(sample) > 100)
    if recipe.eval.protocol == "coco" and dense:
        rep.note(
            f"{recipe.data.val}: {dense} images hold more than 100 objects, but coco scores at "
            "most 100 detections per image; eval.protocol aitod allows 1500"
        )
    if val_data.classes != train_data.classes:
        raise ConfigError(
            f"data.val: classes {list(val_data.classes)} differ from the training data's "
            f"{list(train_data.classes)}"
        )
    return train_data, val_data


def _loader(
    dataset: TileDataset, sampler: WindowSampler, recipe: TrainRecipe, ctx: Distributed
) -> DataLoader[Any]:
    """Batches of tiles. The loader's own generator keeps it off torch's global RNG."""
    return DataLoader(
        dataset,
        batch_size=recipe.batch_size,
        sampler=sampler,
        num_workers=recipe.workers,
        collate_fn=collate,
        pin_memory=ctx.device.type == "cuda",
        generator=torch.Generator().manual_seed(recipe.seed),
        persistent_workers=recipe.workers > 0,
        worker_init_fn=_ignore_sigint,
    )


def _ignore_sigint(worker_id: int) -> None:
    """Workers leave Ctrl-C to the main process, and end quietly on SIGTERM.

    The main process finishes the iteration and saves. A cluster sends SIGTERM to every
    process of the job: a worker *killed* by it makes torch raise in the main process at
    once, mid-iteration, while a worker that exits with status 0 is not an error (and the
    loader's own shutdown, which sends SIGTERM, still ends it).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_quietly)


def _exit_quietly(signum: int, frame: object) -> None:
    os._exit(0)


def _restore(path: Path, s: Session) -> Position:
    """Load a ``last.pt`` written by :meth:`Session.save` into the freshly built objects."""
    state = read_checkpoint(path).train_state
    if state is None:
        raise ResumeError(f"{path}: holds no training state, so the run cannot be resumed")
    s.network.load_state_dict(state["model"])
    if s.ema is not None and state["ema"] is not None:
        s.ema.load_state_dict(state["ema"])
    s.optimizer.load_state_dict(state["optimizer"])
    s.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return Position(*state["position"])
