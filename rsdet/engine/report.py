"""How the training loop reports progress, without knowing who listens.

The CLI passes a reporter that draws a rich progress bar; tests and library users pass
nothing and get :class:`Silent`. :class:`Meter` keeps the running means of an epoch.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Protocol

from torch import Tensor

__all__ = ["Meter", "Reporter", "Silent"]


class Reporter(Protocol):
    """Receives progress from the loop (the CLI draws it; tests stay silent)."""

    def begin(self, title: str, total: int, done: int) -> None:
        """A new phase (an epoch, a validation) of ``total`` steps, ``done`` already done."""

    def advance(self, fields: dict[str, float]) -> None:
        """One step done; ``fields`` are the latest loss, lr, speed..."""

    def note(self, message: str) -> None:
        """A line of text (warnings, epoch summaries)."""


class Silent:
    """A reporter that reports nothing."""

    def begin(self, title: str, total: int, done: int) -> None:
        """Ignore."""

    def advance(self, fields: dict[str, float]) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""


class Meter:
    """Running means of one epoch's losses, passed on to a reporter as they come."""

    def __init__(self, rep: Reporter, title: str, total: int, done: int) -> None:
        self.rep = rep
        self.sums: dict[str, float] = defaultdict(float)
        self.count, self.lr, self.tic = 0, 0.0, time.perf_counter()
        rep.begin(title, total, done)

    def add(self, losses: dict[str, Tensor], loss: Tensor, lr: float) -> dict[str, float]:
        """Record one iteration; returns its scalars (each loss, ``loss``, ``lr``)."""
        values = {k: float(v.detach()) for k, v in losses.items()} | {"loss": float(loss.detach())}
        for k, v in values.items():
            self.sums[k] += v
        self.count, self.lr = self.count + 1, lr
        speed = self.count / max(time.perf_counter() - self.tic, 1e-9)
        self.rep.advance({"loss": values["loss"], "lr": lr, "it/s": speed})
        return values | {"lr": lr}

    def row(self, epoch: int, iteration: int) -> dict[str, Any]:
        """The epoch's ``metrics.csv`` row: position, last lr, mean losses."""
        means = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        return {"epoch": epoch, "iteration": iteration, "lr": self.lr} | means
