"""What an exported ONNX file says about itself: rsdet's metadata keys and their values.

An ONNX file carries a map of string keys to string values (``metadata_props``). rsdet
writes there everything a checkpoint holds except the weights (which are the graph), so the
file alone is a runnable model: ``rsdet detect --model model.onnx`` reads the
:class:`~rsdet.models.spec.ModelSpec` (bands, scaling, GSD, tile size, classes, thresholds)
and rebuilds decoding from the architecture name and config. Every value is JSON text, as
the Deepness plugin reads its own keys (:mod:`rsdet.export.deepness`)::

    rsdet_format       "rsdet-onnx/1"
    rsdet_target       "rsdet": raw outputs that rsdet decodes; "deepness": the plugin's layout
    rsdet_spec         the ModelSpec as a dict (what rsdet info prints)
    rsdet_arch_config  the architecture's config dict, as in the checkpoint
    rsdet_outputs      raw output layout: [[field, null | n], ...] (n: one tensor per level)
    rsdet_input        one sentence on what the input tensor holds

Nothing here imports torch or onnx: the map is plain strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rsdet.config import ConfigError, from_dict, to_dict
from rsdet.errors import InputError
from rsdet.models.spec import ModelSpec

__all__ = ["FORMAT", "OnnxMetadata", "RawField", "Target", "read_props", "write_props"]

FORMAT = "rsdet-onnx/1"

Target = Literal["rsdet", "deepness"]


@dataclass(frozen=True)
class RawField:
    """One field of a network's raw output (a NamedTuple, see rsdet.models.contract).

    Attributes:
        name: the field name, e.g. ``cls_logits``.
        count: None for one tensor (ONNX output ``name``); ``n`` for a list of ``n`` tensors,
            one per level (outputs ``name_0`` ... ``name_{n-1}``).
    """

    name: str
    count: int | None = None

    def output_names(self) -> list[str]:
        """The ONNX output names of this field, in order."""
        if self.count is None:
            return [self.name]
        return [f"{self.name}_{i}" for i in range(self.count)]


@dataclass(frozen=True)
class OnnxMetadata:
    """rsdet's part of an exported file's metadata (see the module docstring).

    Attributes:
        spec: the model's ModelSpec (the exported tile size included).
        arch_config: the architecture's config, as stored in the checkpoint.
        target: what the graph computes: raw outputs (``rsdet``) or Deepness' layout.
        outputs: the raw output layout (``rsdet`` target; empty for ``deepness``).
        input_note: one sentence on the input tensor, for people reading the file.
    """

    spec: ModelSpec
    arch_config: dict[str, Any]
    target: Target = "rsdet"
    outputs: tuple[RawField, ...] = ()
    input_note: str = ""

    def output_names(self) -> list[str]:
        """All ONNX output names of the raw layout, in order."""
        return [name for f in self.outputs for name in f.output_names()]


def write_props(meta: OnnxMetadata) -> dict[str, str]:
    """The metadata as ONNX ``metadata_props`` (key -> JSON text)."""
    values: dict[str, Any] = {
        "rsdet_format": FORMAT,
        "rsdet_target": meta.target,
        "rsdet_spec": to_dict(meta.spec),
        "rsdet_arch_config": meta.arch_config,
        "rsdet_outputs": [[f.name, f.count] for f in meta.outputs],
        "rsdet_input": meta.input_note,
    }
    return {key: json.dumps(value) for key, value in values.items()}


def read_props(props: Mapping[str, str], path: str | Path) -> OnnxMetadata:
    """Read what :func:`write_props` wrote.

    Raises:
        InputError: no rsdet metadata (a file not written by ``rsdet export``), another
            format version, or values that do not parse; the message names ``path``.
    """
    if "rsdet_format" not in props:
        raise InputError(
            f"{path}: no rsdet metadata (not written by rsdet export); rsdet runs only ONNX "
            "files it exported, which carry their classes, input scaling and decoding"
        )
    try:
        values = {key: json.loads(text) for key, text in props.items() if key.startswith("rsdet_")}
        if values["rsdet_format"] != FORMAT:
            raise ValueError(f"format {values['rsdet_format']!r}, expected {FORMAT!r}")
        spec = from_dict(ModelSpec, values["rsdet_spec"])
        fields = tuple(RawField(str(name), count) for name, count in values["rsdet_outputs"])
        target = values["rsdet_target"]
        if target not in ("rsdet", "deepness"):
            raise ValueError(f"unknown target {target!r}")
        return OnnxMetadata(
            spec, dict(values["rsdet_arch_config"]), target, fields, values["rsdet_input"]
        )
    except (ValueError, KeyError, TypeError, ConfigError) as err:
        raise InputError(f"{path}: invalid rsdet metadata ({err})") from err
