"""``rsdet compress MODEL --prune 0.8 --bits conv=5,fc=5 --out small.rsdz``: Deep Compression."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rsdet.cli._common import err_console, print_json, user_errors


class Scope(StrEnum):
    """Where the pruning threshold is computed."""

    global_ = "global"
    layer = "layer"


class Schedule(StrEnum):
    """How pruning reaches its target."""

    oneshot = "oneshot"
    iterative = "iterative"


def compress(
    model: Annotated[
        str, typer.Argument(help="Model file (.pt, .rsdz) or packaged model name ('trees').")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .rsdz file to write.")],
    prune: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="Share of the conv/linear weights to remove.")
    ] = 0.8,
    scope: Annotated[
        Scope, typer.Option(help="global: one magnitude threshold; layer: same share per tensor.")
    ] = Scope.global_,
    schedule: Annotated[
        Schedule,
        typer.Option(help="oneshot, or iterative: three pruning steps, each fine-tuned."),
    ] = Schedule.oneshot,
    bits: Annotated[
        str, typer.Option(help="Codebook bits of conv and fully connected weights (1-8).")
    ] = "conv=5,fc=5",
    min_weights: Annotated[
        int,
        typer.Option(
            "--min-weights",
            min=1,
            help="Tensors with fewer weights stay unpruned (first conv, prediction convs).",
        ),
    ] = 4096,
    finetune_data: Annotated[
        str | None,
        typer.Option("--finetune-data", help="Dataset spec to fine-tune on (FORMAT:PATH)."),
    ] = None,
    finetune_epochs: Annotated[
        int, typer.Option("--finetune-epochs", min=0, help="Epochs after each stage.")
    ] = 2,
    val_data: Annotated[
        str | None, typer.Option("--val-data", help="Dataset spec scored (AP50) after each stage.")
    ] = None,
    windows_per_epoch: Annotated[
        int | None,
        typer.Option(
            "--windows-per-epoch",
            min=1,
            help="Fine-tuning windows per epoch (default: the model's recipe's).",
        ),
    ] = None,
    precise_bn: Annotated[
        int,
        typer.Option(
            "--precise-bn",
            min=0,
            help="Batches over which BatchNorm statistics are recomputed "
            "after each stage (with --finetune-data; 0: never).",
        ),
    ] = 16,
    fold_bn: Annotated[
        bool,
        typer.Option(
            "--fold-bn/--keep-bn",
            help="Fold BatchNorm statistics into a float16 scale and shift "
            "(smaller file, same eval-mode network).",
        ),
    ] = True,
    lr: Annotated[
        float | None, typer.Option(help="Fine-tuning learning rate (default: model's lr / 10).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")
    ] = False,
) -> None:
    """Prune, share weights and Huffman-code a model into one .rsdz file (Deep Compression).

    rsdet detect, rsdet info and a recipe's model.init read the .rsdz file like a checkpoint.
    """
    with user_errors():
        from rsdet.pipelines.compress import compress_model, parse_bits

        summary = compress_model(
            model,
            out,
            prune=prune,
            scope="global" if scope is Scope.global_ else "layer",
            schedule="iterative" if schedule is Schedule.iterative else "oneshot",
            bits=parse_bits(bits),
            min_weights=min_weights,
            finetune_data=finetune_data,
            finetune_epochs=finetune_epochs,
            val_data=val_data,
            lr=lr,
            windows_per_epoch=windows_per_epoch,
            precise_bn=precise_bn,
            fold_bn=fold_bn,
            device=device,
            overwrite=overwrite,
            log=None if as_json else lambda line: err_console.print(line, soft_wrap=True),
        )
        if as_json:
            print_json(json.dumps(summary, indent=2))
        else:
            err_console.print(_format(summary), soft_wrap=True)


def _format(s: dict[str, Any]) -> str:
    """The per-stage table, then where the file went."""
    done = f"Wrote {s['out']} ({s['bytes']:,} bytes) from {s['model']} in {s['seconds']:.0f} s."
    return f"{s['table']}\n{done}"
