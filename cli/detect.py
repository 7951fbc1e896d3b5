"""``rsdet detect``: find objects in scenes and write them as one georeferenced layer."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text
from rsdet.cli._common import err_console, print_json, user_errors

from rsdet.errors import InputError


class Device(StrEnum):
    """Where the model runs."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def detect(
    scenes: Annotated[
        list[str],
        typer.Argument(
            help="Scenes to search: GeoTIFF, VRT or any GDAL path (e.g. /vsicurl/https://...).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output layer; the extension picks the format: .gpkg (QGIS style and run "
            "metadata inside), .geojson (WGS 84), .shp or .parquet (GeoParquet 1.0.0: needs "
            "GDAL >= 3.8 with its Parquet driver, e.g. a QGIS built on it; GDAL 3.6 / QGIS "
            "3.22 cannot open it). The other formats get a QGIS style <name>.qml beside them.",
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Model file (.pt, .rsdz from rsdet compress, .onnx from rsdet export) or "
            "packaged model name (rsdet info --list).",
        ),
    ] = "trees",
    tile_size: Annotated[
        int | None,
        typer.Option(
            "--tile-size",
            min=1,
            help="Tile edge in pixels at the model's GSD (default: the model's).",
        ),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option(
            "--overlap",
            min=0,
            help="Tile overlap in pixels; at least the largest object (default: the model's).",
        ),
    ] = None,
    score_thr: Annotated[
        float | None,
        typer.Option("--score-thr", min=0.0, max=1.0, help="Minimum score (default: the model's)."),
    ] = None,
    iou_thr: Annotated[
        float | None,
        typer.Option(
            "--iou-thr",
            min=0.0,
            max=1.0,
            help="Overlap (IoU) above which two boxes are one object (default: the model's).",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Tiles per model call.")
    ] = 4,
    device: Annotated[Device, typer.Option("--device", help="Where the model runs.")] = (
        Device.auto
    ),
    bands: Annotated[
        str | None,
        typer.Option(
            "--bands", help="Scene bands fed to the model, e.g. 4,3,2 (default: the model's)."
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            "--scale",
            help="Pixel range scaling instead of the model's: LOW,HIGH (e.g. 0,10000 for "
            "16-bit data; or one pair per band) or percentile[:2,98] (stretch per scene).",
        ),
    ] = None,
    no_range_check: Annotated[
        bool,
        typer.Option(
            "--no-range-check",
            help="Run even when a scene's values miss the model's range (checked at start).",
        ),
    ] = False,
    no_resample: Annotated[
        bool,
        typer.Option(
            "--no-resample", help="Keep the scene's pixel size even if the model's differs."
        ),
    ] = False,
    keep_crs: Annotated[
        bool,
        typer.Option("--keep-crs", help="GeoJSON: keep the scene CRS instead of WGS 84."),
    ] = False,
    require_crs: Annotated[
        bool, typer.Option("--require-crs", help="Fail on a scene without a CRS.")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run with the same output.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.")
    ] = False,
    append: Annotated[
        bool,
        typer.Option(
            "--append",
            help="Add the objects to the existing .gpkg layer of --out (same model classes "
            "and columns); the file is replaced atomically.",
        ),
    ] = False,
    preview: Annotated[
        Path | None,
        typer.Option(
            "--preview",
            help="Also write this PNG: the scenes at low resolution with the objects drawn "
            "in their class colours (one panel per scene).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a machine-readable summary on stdout (its report: objects per class "
            "with sizes, per scene with density per hectare).",
        ),
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Run the scenes on a Dask cluster: local:N (N worker processes here), an "
            "address such as tcp://host:8786, or a scheduler file (.json). Same output as "
            "without. Needs pip install 'rsdet\\[cluster]'.",
        ),
    ] = None,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast",
            help="With --scheduler: stop at the first scene that fails (otherwise failed "
            "scenes are listed at the end, the others written, and the exit status is 1).",
        ),
    ] = False,
    no_scene_merge: Annotated[
        bool,
        typer.Option(
            "--no-scene-merge",
            help="Do not merge objects across the borders of touching or overlapping scenes "
            "(e.g. for scenes of one place at different dates).",
        ),
    ] = False,
    screen: Annotated[
        Path | None,
        typer.Option(
            "--screen",
            help="Tile screener: a classifier file from rsdet classify train with object / "
            "empty tiles; tiles it rejects never reach the detector (not with --scheduler).",
        ),
    ] = None,
    screen_thr: Annotated[
        float | None,
        typer.Option(
            "--screen-thr",
            min=0.0,
            max=1.0,
            help="Skip a tile when its probability of 'object' is below this (default: the "
            "threshold stored in the file, picked for recall; else 0.05).",
        ),
    ] = None,
) -> None:
    """Detect objects in SCENES and write one polygon per object in map coordinates.

    The output format follows the extension of --out: .gpkg, .shp and .parquet keep the
    scene CRS; .geojson is WGS 84 (RFC 7946) unless --keep-crs.
    """
    with user_errors():
        from rsdet.pipelines.detect_scene import DetectOptions, detect_to_file

        options = DetectOptions(
            tile_size=tile_size,
            overlap=overlap,
            score_thr=score_thr,
            iou_thr=iou_thr,
            batch_size=batch_size,
            bands=_parse_bands(bands),
            scale=scale,
            range_check=not no_range_check,
            resample=not no_resample,
            require_crs=require_crs,
            scene_merge=not no_scene_merge,
            screen=screen,
            screen_thr=screen_thr,
        )
        with _warnings_on_stderr():
            summary = detect_to_file(
                scenes,
                out,
                model,
                options,
                device=device.value,
                keep_crs=keep_crs,
                resume=resume,
                overwrite=overwrite,
                quiet=quiet or as_json,
                scheduler=scheduler or None,
                fail_fast=fail_fast,
                append=append,
                preview=preview,
            )
        if as_json:
            print_json(json.dumps(summary.to_dict(), indent=2))
        elif not quiet:
            _print_summary(summary)
    if summary.failed:
        _print_failures(summary)
        raise typer.Exit(code=1)


def _parse_bands(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        bands = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--bands: expected band numbers like 1,2,3, got {text!r}") from None
    if not bands or min(bands) < 1:
        raise InputError(f"--bands: band numbers start at 1, got {text!r}")
    return bands


@contextmanager
def _warnings_on_stderr() -> Iterator[None]:
    """Show warnings as one yellow line each, as they happen (not Python's two-line form)."""

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        err_console.print(Text.assemble(("Warning: ", "yellow"), str(message)), soft_wrap=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


def _print_summary(summary: Any) -> None:
    for scene in summary.scenes:
        if scene.error is not None:
            continue  # listed by _print_failures
        skipped = f" ({scene.skipped} empty, skipped)" if scene.skipped else ""
        if scene.screened:
            skipped += f" ({scene.screened} screened out)"
        err_console.print(
            f"{scene.path}: {scene.tiles} tiles{skipped}, {scene.detections} detections "
            f"-> {scene.objects} objects",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    _print_report(summary.report)
    files = ", ".join(summary.files)
    line = f"{summary.objects} objects written to {files} in {summary.seconds:.1f} s"
    err_console.print(Text(line, style="bold"), soft_wrap=True)


def _print_report(report: dict[str, Any]) -> None:
    """Objects per class with their sizes, then per scene with their density."""
    for name, entry in report.get("classes", {}).items():
        size = entry["size_m"]
        sizes = ""
        if size is not None:
            sizes = f", long side {size['min']}-{size['max']} m (median {size['median']} m)"
        err_console.print(
            f"  {name}: {entry['objects']} objects{sizes}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    for row in report.get("scenes", []):
        density = ""
        if row["per_ha"] is not None:
            density = f" on {row['area_ha']:.2f} ha: {row['per_ha']:.2f} per ha"
        err_console.print(
            f"  {row['scene']}: {row['objects']} objects{density}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )


def _print_failures(summary: Any) -> None:
    """Name every failed scene, say what was written anyway and how to retry."""
    failed = summary.failed
    head = f"{len(failed)} of {len(summary.scenes)} scenes failed and are not in the layer:"
    err_console.print(Text.assemble(("Error: ", "bold red"), head), soft_wrap=True)
    for scene in failed:
        err_console.print(f"  {scene.path}: {scene.error}", soft_wrap=True, markup=False)
    written = "Nothing was written."
    if summary.files:
        where = ", ".join(summary.files)
        written = f"{summary.objects} objects of the other scenes were written to {where}."
    err_console.print(
        f"{written} The journal is kept: rerun the same command with --resume --overwrite "
        "to retry only what failed.",
        soft_wrap=True,
        markup=False,
    )
