"""Fit a :class:`TileClassifier` on a :class:`TileSet` (BoVW: scikit-learn; networks: torch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rsdet.classify.bovw import BoVW
from rsdet.classify.data import TileSet
from rsdet.classify.model import ClassifierConfig, TileClassifier, build_net, to_tensor
from rsdet.classify.nets import InceptionV3, load_torchvision_inception

__all__ = ["TrainConfig", "train_classifier"]


@dataclass(frozen=True)
class TrainConfig:
    """How networks are trained (BoVW ignores it but for nothing).

    Attributes:
        epochs: passes over the training images.
        batch: images per step.
        lr: peak learning rate of the one-cycle schedule (AdamW, weight decay 1e-4).
        seed: torch seed (initialisation, shuffling).
        flip: random horizontal and vertical flips.
    """

    epochs: int = 20
    batch: int = 32
    lr: float = 1e-3
    seed: int = 0
    flip: bool = True


def train_classifier(
    config: ClassifierConfig,
    data: TileSet,
    train: TrainConfig,
    log: Callable[[str], None] | None = None,
) -> TileClassifier:
    """Fit ``config``'s model on ``data`` (images resized to ``config.size``)."""
    clf = TileClassifier(config, data.classes)
    images = clf.resize(data.images)
    if config.model == "bovw":
        clf.bovw = BoVW(config.bovw)
        clf.bovw.fit(images, data.labels)
        return clf
    torch.manual_seed(train.seed)
    net = build_net(config, len(data.classes))
    if isinstance(net, InceptionV3) and config.weights is not None:
        load_torchvision_inception(net, Path(config.weights))
    _fit(net, images, data.labels, train, log)
    clf.net = net.eval()
    return clf


def _fit(
    net: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    cfg: TrainConfig,
    log: Callable[[str], None] | None,
) -> None:
    """One-cycle AdamW on cross-entropy; batches of one are dropped (BatchNorm needs two)."""
    n = len(labels)
    steps = max(1, -(-n // cfg.batch)) * cfg.epochs
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    y_all = torch.from_numpy(labels)
    net.train()
    for epoch in range(cfg.epochs):
        order, total = torch.randperm(n, generator=gen), 0.0
        for i in range(0, n, cfg.batch):
            idx = order[i : i + cfg.batch]
            if len(idx) < 2:
                continue
            x = to_tensor(images[idx.numpy()])
            if cfg.flip:
                x = _flip(x, gen)
            loss = nn.functional.cross_entropy(net(x), y_all[idx])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log is not None:
            log(f"epoch {epoch + 1}/{cfg.epochs}  loss {total / n:.4f}")


def _flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip each (3, S, S) image left-right and / or up-down with probability 1/2."""
    lr, ud = torch.rand(2, len(x), generator=gen) < 0.5
    x = torch.where(lr.view(-1, 1, 1, 1), x.flip(3), x)
    return torch.where(ud.view(-1, 1, 1, 1), x.flip(2), x)
