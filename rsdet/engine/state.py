"""What a run saves and restores: random-number states, deployable weights, checkpoints.

A resumed run must continue *exactly* where the interrupted one stopped, so besides the
weights, the optimiser, scheduler position and gradient scaler, the global random states
of torch, numpy and Python are saved (the data pipeline draws from its own seeded
generators; see :mod:`rsdet.engine.dataset`). Everything is stored as plain data and
tensors, so checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import ModelSpec

__all__ = [
    "deployed_weights",
    "get_rng_state",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
]


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """Global random states as plain data and tensors."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    keys = np.asarray(keys)
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def deployed_weights(module: DetectorNetwork[Any]) -> dict[str, torch.Tensor]:
    """CPU state dict of a copy of ``module`` after ``deploy()`` (training-only parts gone).

    :func:`rsdet.models.zoo.load_model` deploys a fresh network before loading, so this is
    the state dict it expects.
    """
    clone = copy.deepcopy(module).cpu().eval().deploy()
    return {k: v.detach().clone() for k, v in clone.state_dict().items()}


def save_checkpoint(
    path: Path,
    spec: ModelSpec,
    config: dict[str, Any],
    module: DetectorNetwork[Any],
    provenance: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> None:
    """Write one self-describing checkpoint (atomically) with ``module``'s deployed weights.

    ``provenance`` is reduced to plain JSON data first (a ``torch.__version__`` is a str
    subclass that ``torch.load(weights_only=True)`` refuses to unpickle).
    """
    facts = json.loads(json.dumps(provenance, default=str))
    write_checkpoint(path, Checkpoint(spec, config, deployed_weights(module), facts, train_state))
