"""Export a model to ONNX: the flow behind ``rsdet export``.

::

    refuse an existing output (unless overwrite) and an unknown format, before any work
      -> the checkpoint's deployed network, BatchNorm folded into the convs (the network
         rsdet detect runs, so the file gives the same numbers)
      -> rsdet.export.onnx_export.export_onnx: trace, metadata, one file written atomically
         after ONNX Runtime agreed with torch on it
      -> a summary (plain data) for the command to print
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rsdet.errors import InputError, OutputExistsError
from rsdet.export.metadata import Target
from rsdet.export.onnx_export import DEFAULT_OPSET, ExportOptions, export_onnx
from rsdet.models.layers import fuse_conv_bn
from rsdet.models.zoo import load_network, resolve_model_path

__all__ = ["FORMATS", "TARGETS", "export_model"]

FORMATS = ("onnx",)
TARGETS: dict[str, Target] = {"rsdet": "rsdet", "deepness": "deepness"}


def export_model(
    model: str,
    out: str | Path,
    *,
    fmt: str = "onnx",
    target: str = "rsdet",
    opset: int = DEFAULT_OPSET,
    tile_size: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``model`` (checkpoint path or packaged name) as one ONNX file at ``out``.

    Args:
        model: checkpoint file (.pt) or packaged model name.
        out: the ONNX file to write.
        fmt: ``"onnx"`` (the only format).
        target: ``"rsdet"`` (``rsdet detect --model out`` runs it) or ``"deepness"`` (the
            QGIS plugin's layout and metadata).
        opset: ONNX opset (18 or newer).
        tile_size: the tile edge to store (Deepness' fixed input size); None keeps the model's.
        overwrite: replace an existing ``out``.

    Returns:
        What was written (see :class:`~rsdet.export.onnx_export.ExportResult`), the model
        path and the seconds taken.

    Raises:
        RsdetError: an existing output, a bad option, an unreadable model, or an export that
            fails or disagrees with torch; one line each.
    """
    started = time.perf_counter()
    out = Path(out)
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: unknown (known: {', '.join(FORMATS)})")
    chosen = TARGETS.get(target)
    if chosen is None:
        raise InputError(f"--target {target}: unknown (known: {', '.join(TARGETS)})")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists (pass --overwrite to replace it)")
    path = resolve_model_path(model)
    network, ckpt = load_network(path)
    fuse_conv_bn(network.eval())
    options = ExportOptions(target=chosen, opset=opset, tile_size=tile_size)
    result = export_onnx(network, ckpt.spec, ckpt.arch_config, out, options)
    summary = asdict(result)
    summary.update(model=str(path), arch=ckpt.spec.arch, seconds=time.perf_counter() - started)
    return summary
