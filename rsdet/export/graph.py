"""The network as export traces it: raw outputs as a flat tuple of tensors, and back again.

An ONNX graph has a flat list of named outputs, while a network's raw output
(:mod:`rsdet.models.contract`) is a NamedTuple whose fields are tensors or per-level lists of
tensors (``RSTinyNetRaw(cls_logits, boxes)``, ``DCFLRaw(cls_logits[5], deltas[5])``). So:

1. :func:`raw_layout` records the structure (field names, list lengths) once, from an eager
   run; it travels in the file's metadata (:class:`~rsdet.export.metadata.RawField`);
2. :class:`RawOutputs` wraps the network so that tracing sees ``images -> tuple of tensors``
   (:func:`flatten_raw`);
3. at run time :func:`unflatten_raw` rebuilds the NamedTuple from ONNX Runtime's arrays, and
   the architecture's own ``decode`` runs on it unchanged.

:func:`export_form` switches the operators that have a faster ONNX form (DCN's gather
sampler) for the duration of the trace.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

from rsdet.export.errors import ExportError
from rsdet.export.metadata import RawField
from rsdet.models.contract import DetectorNetwork
from rsdet.models.ops import ModulatedDeformConv2d

__all__ = [
    "RawOutputs",
    "export_form",
    "flatten_raw",
    "raw_layout",
    "raw_type",
    "unflatten_raw",
]


class RawOutputs(nn.Module):
    """``images (B, C, H, W) standardised -> tuple of raw tensors`` in :func:`raw_layout` order."""

    def __init__(self, network: DetectorNetwork[Any]) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """The network's raw outputs, flattened."""
        return tuple(flatten_raw(self.network(images)))


def raw_layout(raw: Any) -> tuple[RawField, ...]:
    """The structure of a raw output: one :class:`RawField` per NamedTuple field.

    Raises:
        ExportError: ``raw`` is not a NamedTuple of tensors and lists of tensors.
    """
    names = getattr(raw, "_fields", None)
    if not isinstance(raw, tuple) or names is None:
        raise ExportError(f"raw outputs of type {type(raw).__name__} are not a NamedTuple")
    fields = []
    for name, value in zip(names, raw, strict=True):
        if isinstance(value, Tensor):
            fields.append(RawField(name))
        elif isinstance(value, list) and all(isinstance(v, Tensor) for v in value):
            fields.append(RawField(name, len(value)))
        else:
            raise ExportError(f"raw output field {name!r} is neither a tensor nor a list of them")
    return tuple(fields)


def flatten_raw(raw: Any) -> list[Tensor]:
    """A raw NamedTuple's tensors in field order, lists expanded in place."""
    flat: list[Tensor] = []
    for value in raw:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def unflatten_raw(tensors: Sequence[Tensor], layout: Sequence[RawField], raw_cls: type) -> Any:
    """Rebuild ``raw_cls(...)`` from flat tensors (the inverse of :func:`flatten_raw`).

    Raises:
        ExportError: the layout does not match ``raw_cls``'s fields or the tensor count.
    """
    names = tuple(f.name for f in layout)
    if names != getattr(raw_cls, "_fields", None):
        raise ExportError(f"outputs {names} do not match {raw_cls.__name__} in this rsdet")
    if len(tensors) != sum(len(f.output_names()) for f in layout):
        raise ExportError(f"{len(tensors)} outputs do not match the layout {names}")
    values: list[Any] = []
    start = 0
    for field in layout:
        n = 1 if field.count is None else field.count
        part = list(tensors[start : start + n])
        values.append(part[0] if field.count is None else part)
        start += n
    return raw_cls(*values)


def raw_type(network: DetectorNetwork[Any]) -> type:
    """The raw output class ``R`` of a ``DetectorNetwork[R]`` subclass (from its bases).

    Raises:
        ExportError: the class does not name its raw output type.
    """
    for cls in type(network).__mro__:
        for base in getattr(cls, "__orig_bases__", ()):
            args = typing.get_args(base)
            if typing.get_origin(base) is DetectorNetwork and args and isinstance(args[0], type):
                return args[0]
    raise ExportError(f"{type(network).__name__} does not declare DetectorNetwork[RawType]")


@contextmanager
def export_form(network: nn.Module) -> Iterator[None]:
    """Within the block, operators use their ONNX-friendly forms (same outputs).

    Deformable convolutions read with row gathers instead of ``grid_sample``, which ONNX
    Runtime runs about three times slower (see :mod:`rsdet.models.ops.deform_conv`).
    """
    layers = [m for m in network.modules() if isinstance(m, ModulatedDeformConv2d)]
    before = [m.sampler for m in layers]
    for m in layers:
        m.sampler = "gather"
    try:
        yield
    finally:
        for m, sampler in zip(layers, before, strict=True):
            m.sampler = sampler
