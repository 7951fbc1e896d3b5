"""``rsdet eval``: score predictions with an official benchmark protocol."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer
from rsdet.cli._common import print_json, user_errors


class Protocol(StrEnum):
    """Protocols, named as on the command line."""

    coco = "coco"
    aitod = "aitod"
    dota = "dota"
    dota_hbb = "dota-hbb"
    dior = "dior"
    dior_r = "dior-r"


class ApModeOption(StrEnum):
    """DIOR AP integration."""

    point11 = "11point"
    area = "area"


def eval(
    protocol: Annotated[
        Protocol, typer.Option("--protocol", "-p", help="Benchmark protocol to score with.")
    ],
    gt: Annotated[
        str,
        typer.Option(
            "--gt",
            help="Ground truth: a COCO json (coco, aitod), a DOTA folder (dota, dota-hbb; "
            "dota1.5:PATH / dota2:PATH pick the version), a DIOR root (dior, dior-r), "
            "synthetic:?n=8&size=256&kind=vehicles (dota, dota-hbb, dior, dior-r), or your "
            "own GeoTIFFs with vector labels, geo:DIR or geo:scene.tif (every protocol).",
        ),
    ],
    pred: Annotated[
        Path,
        typer.Option(
            "--pred",
            help="Predictions: a COCO results json (coco, aitod) or a folder of "
            "Task1_<class>.txt (dota, dior-r) / Task2_<class>.txt (dota-hbb, dior) files; "
            "with geo: ground truth, the layer rsdet detect wrote (.gpkg, .geojson, .shp, "
            ".parquet), matched to scenes by its scene field.",
        ),
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help="Also write the result as JSON here.")
    ] = None,
    ap_mode: Annotated[
        ApModeOption | None,
        typer.Option("--ap-mode", help="dior / dior-r only: 11point (default) or area."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --json-out file.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout (no table).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score predictions exactly as the benchmark's official script does."""
    with user_errors():
        from rich.console import Console
        from rsdet.pipelines.evaluate import check_output, result_table, run_eval, write_result

        mode: Literal["11point", "area"] | None = None
        if ap_mode is not None:
            mode = "area" if ap_mode is ApModeOption.area else "11point"
        if json_out is not None:
            check_output(json_out, overwrite)
        result = run_eval(
            protocol.value,
            gt,
            pred,
            ap_mode=mode,
            quiet=quiet,
        )
        if json_out is not None:
            write_result(result, json_out, overwrite)
        if as_json:
            print_json(result.to_json())
        else:
            Console().print(result_table(result))
