"""``rsdet export MODEL --format onnx``: one ONNX file that carries its own metadata."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rsdet.cli._common import err_console, print_json, user_errors


class Format(StrEnum):
    """File format."""

    onnx = "onnx"


class Target(StrEnum):
    """Who runs the file."""

    rsdet = "rsdet"
    deepness = "deepness"


def export(
    model: Annotated[
        str,
        typer.Argument(help="Checkpoint file (.pt) or packaged model name (rsdet info --list)."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The ONNX file to write.")],
    fmt: Annotated[Format, typer.Option("--format", help="File format.")] = Format.onnx,
    target: Annotated[
        Target,
        typer.Option(
            help="rsdet: raw outputs, any tile size, for rsdet detect --model OUT. deepness: "
            "the QGIS Deepness plugin's input, output layout and metadata, fixed tile size."
        ),
    ] = Target.rsdet,
    opset: Annotated[int, typer.Option(min=1, help="ONNX opset (18 or newer).")] = 18,
    tile_size: Annotated[
        int | None,
        typer.Option(
            "--tile-size",
            min=1,
            help="Tile edge in pixels to store with the file (Deepness' fixed input size); "
            "default: the model's.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")
    ] = False,
) -> None:
    """Export a model to one ONNX file, checked in ONNX Runtime against the model."""
    with user_errors():
        from rsdet.pipelines.export import export_model

        summary = export_model(
            model,
            out,
            fmt=fmt.value,
            target=target.value,
            opset=opset,
            tile_size=tile_size,
            overwrite=overwrite,
        )
        if as_json:
            print_json(json.dumps(summary, indent=2))
        else:
            err_console.print(_format(summary), soft_wrap=True)


def _format(s: dict[str, Any]) -> str:
    """One sentence: what was written, and how it compares with torch."""
    outputs = ", ".join(f"{name} {_shape(dims)}" for name, dims in s["outputs"].items())
    size_mb = s["size_bytes"] / 1e6
    return (
        f"Wrote {s['path']} ({size_mb:.1f} MB, opset {s['opset']}, target {s['target']}, "
        f"tile {s['tile_size']} px) from {s['model']} in {s['seconds']:.0f} s: input "
        f"{_shape(s['input_shape'])}, outputs {outputs}; ONNX Runtime matches torch within "
        f"{s['max_abs_diff']:.2g}."
    )


def _shape(dims: list[Any]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"
