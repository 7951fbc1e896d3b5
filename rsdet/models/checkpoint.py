"""One self-describing checkpoint file: architecture, weights, classes, input spec, provenance.

Layout of the dict saved with ``torch.save`` (every value is plain data or a tensor, so it
loads with ``torch.load(weights_only=True)``)::

    format:        "rsdet-checkpoint/1"
    spec:          ModelSpec as a dict (arch name, classes, input spec, box type, ...)
    arch_config:   the architecture's config dataclass as a dict
    state_dict:    network weights (EMA weights when training used EMA)
    provenance:    {"recipe": ..., "data": ..., "epochs": ..., "metrics": ..., "command": ...}
    train_state:   optional; optimiser/scheduler/EMA/RNG state for ``rsdet train --resume``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rsdet.config import ConfigError, from_dict, to_dict
from rsdet.errors import RsdetError
from rsdet.io.atomic import atomic_output
from rsdet.models.spec import ModelSpec

__all__ = ["FORMAT", "Checkpoint", "CheckpointError", "read_checkpoint", "write_checkpoint"]

FORMAT = "rsdet-checkpoint/1"


class CheckpointError(RsdetError, ValueError):
    """A file is not a readable rsdet checkpoint; the message names the file."""


@dataclass
class Checkpoint:
    """The content of a checkpoint file (see module docstring)."""

    spec: ModelSpec
    arch_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    provenance: dict[str, Any] = field(default_factory=dict)
    train_state: dict[str, Any] | None = None


def write_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "spec": to_dict(ckpt.spec),
        "arch_config": ckpt.arch_config,
        "state_dict": ckpt.state_dict,
        "provenance": ckpt.provenance,
    }
    if ckpt.train_state is not None:
        payload["train_state"] = ckpt.train_state
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`write_checkpoint`, or an ``.rsdz`` file.

    Raises:
        CheckpointError: missing file, not a torch file, or not an rsdet checkpoint; a
            damaged ``.rsdz`` file (:func:`rsdet.models.rsdz.read_rsdz`).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    from rsdet.models import rsdz  # lazy: rsdz builds on this module

    if rsdz.is_rsdz(path):  # a compressed model (rsdet compress) decodes to the same thing
        return rsdz.read_rsdz(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types (KeyError, EOFError...) for other files
        what = "the file is empty" if path.stat().st_size == 0 else "PyTorch cannot load it"
        raise CheckpointError(
            f"{path} is not an rsdet model file: not a readable checkpoint ({what}; "
            "rsdet train writes model files)"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an rsdet model file: a PyTorch file, but not an rsdet checkpoint "
            f"(expected format {FORMAT})"
        )
    try:
        spec = from_dict(ModelSpec, payload["spec"])
    except (ConfigError, KeyError) as err:
        raise CheckpointError(f"{path}: invalid model metadata ({err})") from err
    return Checkpoint(
        spec=spec,
        arch_config=dict(payload.get("arch_config", {})),
        state_dict=payload["state_dict"],
        provenance=dict(payload.get("provenance", {})),
        train_state=payload.get("train_state"),
    )
