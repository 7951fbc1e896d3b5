"""``rsdet split``: cut a dataset into overlapping patches with labels, DOTA_devkit style."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rsdet.cli._common import err_console, print_json, user_errors


def split(
    dataset: Annotated[
        str,
        typer.Argument(
            metavar="FORMAT:PATH",
            help="Dataset to split: dota, dota1.5, dota2, aitod, dior, dior-r, voc or geo, "
            "e.g. dota:/data/DOTA/train or dior-r:/data/DIOR?split=trainval.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the patches.")],
    size: Annotated[int, typer.Option("--size", help="Patch edge in pixels.")] = 1024,
    gap: Annotated[
        int, typer.Option("--gap", help="Overlap of neighbouring patches, pixels.")
    ] = 200,
    rates: Annotated[
        str,
        typer.Option(
            "--rates", help="Comma-separated resize factors applied before cutting (0.5 = half)."
        ),
    ] = "1.0",
    iof_thr: Annotated[
        float,
        typer.Option(
            "--iof-thr", help="Objects with less of their area inside a patch get difficult = 2."
        ),
    ] = 0.7,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace a split made with other inputs or parameters."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Write patches and their labels in the input's own format (re-running is a no-op)."""
    with user_errors():
        from rsdet.pipelines.split import SplitParams, parse_rates, split_dataset

        params = SplitParams(size=size, gap=gap, rates=parse_rates(rates), iof_thr=iof_thr)
        report = split_dataset(dataset, out, params, overwrite=overwrite, quiet=quiet)
        if as_json:
            print_json(json.dumps(report.to_dict()))
        elif not quiet:
            err_console.print(
                f"{report.patches} patches of {report.sources} images in {out} "
                f"({report.images_written} images written, {report.images_skipped} unchanged, "
                f"{report.labels_written} label files written, {report.removed} stale files "
                f"removed; {report.objects} objects, {report.truncated} truncated)"
            )
