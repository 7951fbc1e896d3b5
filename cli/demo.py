"""``rsdet demo``: write a synthetic, georeferenced scene to try rsdet on."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rsdet.cli._common import err_console, user_errors


class Kind(StrEnum):
    """What the scene shows."""

    trees = "trees"
    vehicles = "vehicles"
    mixed = "mixed"


def demo(
    out: Annotated[
        Path,
        typer.Argument(
            help="Output GeoTIFF, e.g. scene.tif; its ground truth goes beside it (scene.gpkg)."
        ),
    ],
    size: Annotated[int, typer.Option(min=64, max=16384, help="Scene edge, pixels.")] = 2048,
    seed: Annotated[int, typer.Option(min=0, help="Equal seeds give equal scenes.")] = 0,
    gsd: Annotated[
        float | None,
        typer.Option(
            min=0.01, help="Metres per pixel (default: 0.1 trees, 0.3 vehicles, 0.5 mixed)."
        ),
    ] = None,
    kind: Annotated[Kind, typer.Option(help="Scene content.")] = Kind.trees,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUT and its labels.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No messages.")] = False,
) -> None:
    """Write a synthetic aerial GeoTIFF (UTM 12N, near Yellowstone) and its ground truth."""
    with user_errors():
        from rsdet.pipelines.demo import demo_labels_path, write_demo_scene

        scene = write_demo_scene(
            out, size=size, seed=seed, kind=kind.value, gsd=gsd, overwrite=overwrite
        )
        if not quiet:
            labels = demo_labels_path(out)
            found = Path(f"{kind.value}.gpkg")
            if found.resolve() == labels.resolve():  # never suggest writing over the labels
                found = Path(f"found_{kind.value}.gpkg")
            err_console.print(
                f"Wrote {out}: {size}x{size} px at {scene.meta['gsd']:g} m/px (EPSG:32612), "
                f"{len(scene)} objects ({', '.join(scene.meta['classes'])}), labelled in "
                f"{labels}.\nNext: rsdet detect {out} --out {found}\n"
                f"Then: rsdet eval --protocol aitod --gt geo:{out} --pred {found}",
                soft_wrap=True,
            )
