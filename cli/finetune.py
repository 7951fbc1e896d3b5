"""``rsdet finetune``: fine-tune a model on your own labelled scenes (rsdet.pipelines.finetune)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rsdet.cli._common import err_console, print_json, user_errors

from rsdet.errors import InputError

_VECTOR = (".gpkg", ".geojson", ".json", ".shp", ".fgb")


def finetune(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="SCENE.tif LABELS.gpkg, repeated for several scenes. Labels: polygons or "
            "boxes in any CRS, drawn where --aoi says the labels are complete.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The fine-tuned checkpoint (.pt).")],
    aoi: Annotated[
        Path | None,
        typer.Option(
            "--aoi",
            help="Polygons (any CRS) where every object is labelled; training sees nothing "
            "outside them. Default: the convex hull of each scene's labels.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Base model: packaged name or checkpoint file.")
    ] = "trees",
    minutes: Annotated[
        float, typer.Option(min=0.1, help="Time budget of the whole run, minutes.")
    ] = 10.0,
    iterations: Annotated[
        int | None,
        typer.Option(min=1, help="Train exactly this many iterations (ignores --minutes)."),
    ] = None,
    holdout: Annotated[
        float, typer.Option(help="Fraction of each scene's labelled objects held out to score.")
    ] = 0.25,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = 5e-4,
    tile_size: Annotated[
        int | None,
        typer.Option(
            "--tile-size", min=16, help="Training window edge, pixels (default: from the AOI)."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Tiles per iteration.")
    ] = 4,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of windows and augmentation.")] = 0,
    train_bn: Annotated[
        bool,
        typer.Option(
            "--train-bn",
            help="Update BatchNorm statistics from the training windows (default: keep the "
            "base model's).",
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fine-tune a model on scenes you labelled; prints hold-out AP50 before and after."""
    with user_errors():
        from rsdet.pipelines.finetune import FinetuneOptions, run_finetune

        opts = FinetuneOptions(
            pairs=_pairs(inputs),
            out=out,
            aoi=aoi,
            model=model,
            minutes=minutes,
            iterations=iterations,
            holdout=holdout,
            lr=lr,
            tile_size=tile_size,
            batch_size=batch_size,
            device=device,
            seed=seed,
            train_bn=train_bn,
            overwrite=overwrite,
            quiet=quiet or json_,
        )
        result = run_finetune(opts)
        for note in result.notes:
            err_console.print(f"[yellow]Note:[/] {note}")
        if json_:
            print_json(json.dumps(result.to_dict(), indent=2))
            return
        err_console.print(
            f"Hold-out AP50 ({result.holdout_objects} objects): "
            f"before {_score(result.before_ap50)} -> after {_score(result.after_ap50)}"
        )
        err_console.print(f"Wrote {result.out} (rsdet detect --model {result.out} ...)")


def _pairs(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """``SCENE LABELS [SCENE LABELS ...]`` as pairs; a labels file must follow each scene."""
    if len(inputs) % 2:
        raise InputError(f"{inputs[-1]}: expected SCENE.tif LABELS pairs, got {len(inputs)} paths")
    pairs = list(zip(inputs[::2], inputs[1::2], strict=True))
    for scene, labels in pairs:
        if scene.suffix.lower() in _VECTOR or labels.suffix.lower() not in _VECTOR:
            raise InputError(
                f"{labels}: expected SCENE.tif LABELS pairs (a vector file after each scene: "
                f"{', '.join(_VECTOR)})"
            )
    return pairs


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
