"""Write a network to one ONNX file with its metadata, checked in ONNX Runtime before it lands.

The steps, each a function below:

1. :func:`build_graph`: what is traced. Target ``rsdet``: ``images -> raw outputs`` with
   batch, height and width free (:class:`~rsdet.export.graph.RawOutputs`; rsdet decodes).
   Target ``deepness``: the plugin's ``raw / 255 -> dense predictions`` at a fixed
   (1, C, T, T) (:class:`~rsdet.export.deepness.DeepnessGraph`);
2. :func:`trace`: torch's ``torch.export``-based ONNX exporter, with the operators in their
   export forms (:func:`~rsdet.export.graph.export_form`);
3. :func:`stamp`: rsdet's metadata (and the plugin's keys), the producer, and the lowest IR
   version the opset allows, so that older runtimes load the file;
4. one file with the weights inside, written through a temporary file that
   :func:`check_file` runs in ONNX Runtime first, on an input of another size than the
   trace's for target ``rsdet``: it must agree with the network in eager torch, or nothing
   is written.

Why opset 18 and not lower: torch 2.13's exporter writes opset 18 and newer, and onnx's
version converter cannot take its graphs down to 17 (it has no adapter for ``Split`` from 18
to 17). Opset 18 came with ONNX 1.13 (2022).
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, replace
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rsdet.export.deepness import DeepnessGraph, check_input, deepness_props
from rsdet.export.errors import ExportError, optional_module
from rsdet.export.graph import RawOutputs, export_form, flatten_raw, raw_layout
from rsdet.export.metadata import OnnxMetadata, Target, write_props
from rsdet.export.runtime import open_session
from rsdet.io.atomic import atomic_output
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import ModelSpec

__all__ = [
    "DEFAULT_OPSET",
    "ExportOptions",
    "ExportResult",
    "Graph",
    "build_graph",
    "check_file",
    "export_onnx",
    "stamp",
    "trace",
]

DEFAULT_OPSET = 18
MIN_OPSET = 18  # see the module docstring

# ONNX Runtime must match eager torch within this, relative to the output's largest value.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportOptions:
    """How to export.

    Attributes:
        target: ``"rsdet"`` (raw outputs, any tile size, ``rsdet detect`` runs it) or
            ``"deepness"`` (the plugin's layout at a fixed tile size).
        opset: ONNX opset of the ``ai.onnx`` domain (18 or newer).
        tile_size: tile edge T in pixels at the model's GSD; None keeps the model's. It is
            the default tile size stored with the file, and Deepness' fixed input size.
    """

    target: Target = "rsdet"
    opset: int = DEFAULT_OPSET
    tile_size: int | None = None


@dataclass(frozen=True)
class ExportResult:
    """What was written.

    Attributes:
        path: the ONNX file.
        target, opset, tile_size: as exported.
        input_shape: the input's dimensions (names for the free ones).
        outputs: output name -> dimensions.
        max_abs_diff: largest difference between ONNX Runtime and eager torch in the check.
        size_bytes: file size.
    """

    path: str
    target: Target
    opset: int
    tile_size: int
    input_shape: list[int | str]
    outputs: dict[str, list[int | str]]
    max_abs_diff: float
    size_bytes: int


@dataclass(frozen=True)
class Graph:
    """A module ready to trace, with its inputs.

    Attributes:
        module: maps one float32 tensor to a tuple of tensors (or one tensor).
        example: the input traced with.
        check: the input :func:`check_file` runs (another size for dynamic graphs).
        dynamic: torch.export dynamic shapes of the input, or None for a fixed shape.
        metadata: rsdet's metadata of the result.
        extra_props: other metadata keys (Deepness').
    """

    module: nn.Module
    example: Tensor
    check: Tensor
    dynamic: dict[str, Any] | None
    metadata: OnnxMetadata
    extra_props: dict[str, str]


def export_onnx(
    network: DetectorNetwork[Any],
    spec: ModelSpec,
    arch_config: Mapping[str, Any],
    path: Path,
    options: ExportOptions,
) -> ExportResult:
    """Export an eval-mode, deployed ``network`` to ``path`` (see the module docstring).

    Raises:
        ExportError: a bad option, a model the target cannot carry, a missing optional
            package, a failed trace, or a file that ONNX Runtime does not run as torch does.
    """
    if options.opset < MIN_OPSET:
        raise ExportError(
            f"--opset {options.opset}: torch's ONNX exporter writes opset {MIN_OPSET} or newer "
            f"(onnx cannot convert its graphs lower); use --opset {MIN_OPSET}"
        )
    tile = _tile_size(network, spec, options)
    graph = build_graph(network, replace(spec, tile_size=tile), dict(arch_config), options.target)
    proto = trace(graph, options.opset)
    stamp(proto, {**write_props(graph.metadata), **graph.extra_props}, spec.description)
    onnx = optional_module("onnx")
    with atomic_output(path) as tmp:
        onnx.save_model(proto, str(tmp))
        diff = check_file(tmp, graph)
    return ExportResult(
        path=str(path),
        target=options.target,
        opset=options.opset,
        tile_size=tile,
        input_shape=_dims(proto.graph.input[0]),
        outputs={o.name: _dims(o) for o in proto.graph.output},
        max_abs_diff=diff,
        size_bytes=path.stat().st_size,
    )


def _tile_size(network: DetectorNetwork[Any], spec: ModelSpec, options: ExportOptions) -> int:
    """The tile size of the export, checked against the network and the model's overlap."""
    tile = options.tile_size or spec.tile_size
    divisor = network.size_divisor
    if options.target == "deepness" and tile % divisor:
        raise ExportError(
            f"--tile-size {tile}: Deepness feeds fixed tiles, which must be a multiple of "
            f"{divisor} for this network (e.g. {max(divisor, tile - tile % divisor)})"
        )
    if not spec.overlap < tile:
        raise ExportError(f"--tile-size {tile}: must exceed the model's overlap {spec.overlap} px")
    return tile


def build_graph(
    network: DetectorNetwork[Any], spec: ModelSpec, arch_config: dict[str, Any], target: Target
) -> Graph:
    """The module to trace for ``target``, its example and check inputs, and its metadata."""
    channels, divisor = spec.input.num_channels, network.size_divisor
    if target == "deepness":
        check_input(spec)
        fixed = torch.rand(1, channels, spec.tile_size, spec.tile_size)  # raw / 255 in [0, 1]
        note = f"(1, {channels}, T, T) float32 raw pixel values / 255, T = {spec.tile_size}"
        meta = OnnxMetadata(spec, arch_config, "deepness", (), note)
        module = DeepnessGraph(network, spec, spec.tile_size)
        return Graph(module, fixed, fixed, None, meta, deepness_props(spec, spec.tile_size))
    # Free batch, height and width; the check input has other sizes than the example, so a
    # shape baked into the trace shows up as a mismatch.
    example = torch.randn(2, channels, 8 * divisor, 8 * divisor)
    check = torch.randn(1, channels, 5 * divisor, 7 * divisor)
    with torch.no_grad():
        layout = raw_layout(network(check))
    note = (
        f"(B, {channels}, H, W) float32 standardised: ((raw - low) / (high - low) clipped to "
        f"[0, 1] - mean) / std as in rsdet_spec.input; H, W multiples of {divisor}"
    )
    meta = OnnxMetadata(spec, arch_config, "rsdet", layout, note)
    return Graph(RawOutputs(network), example, check, _free_dims(divisor), meta, {})


def _free_dims(divisor: int) -> dict[str, Any]:
    """torch.export dynamic shapes: any batch, heights and widths multiples of ``divisor``."""
    dim = torch.export.Dim
    rows, cols = dim("rows", min=1, max=4096), dim("cols", min=1, max=4096)
    return {"images": {0: dim("batch", min=1, max=4096), 2: divisor * rows, 3: divisor * cols}}


def trace(graph: Graph, opset: int) -> Any:
    """``torch.onnx.export`` of the graph in its export form -> an ``onnx.ModelProto``.

    Raises:
        ExportError: onnxscript is missing, or torch cannot export the graph.
    """
    optional_module("onnxscript")  # the torch.export-based exporter needs it
    names = graph.metadata.output_names() or ["output0"]
    try:
        with export_form(graph.module), _quiet_exporter():
            program = torch.onnx.export(
                graph.module.eval(),
                (graph.example,),
                dynamo=True,
                opset_version=opset,
                dynamic_shapes=graph.dynamic,
                input_names=["images"],
                output_names=names,
                verbose=False,
            )
    except Exception as err:  # the exporter raises many types; the message is what matters
        why = _root_cause(err)
        raise ExportError(f"torch could not export the network at opset {opset}: {why}") from err
    if program is None:
        raise ExportError("torch's exporter returned no program")
    return program.model_proto


def _root_cause(err: BaseException) -> str:
    """First line of the innermost cause (the exporter wraps torch.export's error), no colour."""
    while err.__cause__ is not None:
        err = err.__cause__
    lines = [line for line in str(err).splitlines() if line.strip()]
    text = lines[0].strip() if lines else type(err).__name__
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's warnings, torch's log lines, and torch.export's partial graph.

    torch.export prints the graph it traced so far to stderr when it fails; the one-line
    error already says what failed.
    """
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def stamp(proto: Any, props: Mapping[str, str], description: str) -> None:
    """Write metadata keys, the producer and the lowest IR version the opsets allow."""
    onnx = optional_module("onnx")
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "rsdet"
    proto.producer_version = _version()
    proto.doc_string = description
    # torch stamps its newest IR version; the opset decides which IR a runtime needs.
    lowest = onnx.helper.find_min_ir_version_for(list(proto.opset_import), ignore_unknown=True)
    proto.ir_version = min(proto.ir_version, lowest)


def _version() -> str:
    try:
        return package_metadata.version("rsdet")
    except package_metadata.PackageNotFoundError:
        return "unknown"


def check_file(path: Path, graph: Graph) -> float:
    """Run ``path`` in ONNX Runtime on ``graph.check`` and compare with eager torch.

    Returns:
        The largest absolute difference over all outputs.

    Raises:
        ExportError: an output differs by more than :data:`TOLERANCE` relative to its
            largest value (1 + max |torch|).
    """
    with torch.no_grad():
        out = graph.module(graph.check)
    expected = flatten_raw(out) if isinstance(out, tuple) else [out]
    session = open_session(path, threads=1)
    got = session.run(None, {session.get_inputs()[0].name: graph.check.numpy()})
    worst = 0.0
    names = graph.metadata.output_names() or ["output0"]
    for name, want, have in zip(names, expected, got, strict=True):
        diff = float(np.abs(have - want.numpy()).max(initial=0.0))
        worst = max(worst, diff)
        scale = 1.0 + float(want.abs().max()) if want.numel() else 1.0
        if diff > TOLERANCE * scale:
            raise ExportError(
                f"ONNX Runtime's {name} differs from torch by {diff:.3g} (allowed "
                f"{TOLERANCE * scale:.3g}); the file was not written"
            )
    return worst


def _dims(value_info: Any) -> list[int | str]:
    """Dimensions of an ONNX graph input or output (names for free dimensions)."""
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
