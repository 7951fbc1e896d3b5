"""``rsdet train``: train a detector from a recipe (thin layer over rsdet.pipelines.train)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rsdet.cli._common import err_console, user_errors


def train(
    recipe: Annotated[
        str | None,
        typer.Option(
            "--recipe",
            "-r",
            help="Recipe YAML file, or the name of a packaged recipe (rs_tinynet_synthetic, "
            "rs_tinynet_trees, rs_tinynet_aitod, rs_tinynet_dior...).",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Training data, FORMAT:PATH (dota:, aitod:, dior:, voc:, geo:, synthetic:).",
        ),
    ] = None,
    val_data: Annotated[
        str | None, typer.Option("--val-data", help="Validation data, FORMAT:PATH.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs to train.")] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Tiles per iteration (per GPU).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default: the recipe's).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default: the recipe's).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted run in --out.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any recipe value: key.sub=value (repeatable)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a finished or abandoned run in --out.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a detector; writes RUN/best.pt (for rsdet detect), last.pt, metrics.csv."""
    with user_errors():
        from rsdet.pipelines.train import TrainOptions, run_train

        opts = TrainOptions(
            recipe=recipe,
            data=data,
            val_data=val_data,
            epochs=epochs,
            batch_size=batch_size,
            device=device,
            out=out,
            resume=resume,
            overwrite=overwrite,
            sets=list(set_ or []),
            quiet=quiet,
        )
        result = run_train(opts)
        best = result.run_dir / "best.pt"
        if not quiet:
            score = (
                ""
                if result.best_score is None
                else f" (best {result.best_score:.4f}, epoch {result.best_epoch})"
            )
            err_console.print(f"Trained {result.epochs} epochs{score}: {best}")
