"""Entry point of the ``rsdet`` command.

Each command lives in its own module and imports its pipeline inside the command function,
so ``rsdet --help`` never imports torch, rasterio or geopandas.
"""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer
from rsdet.cli import analyze as _analyze
from rsdet.cli import classify as _classify
from rsdet.cli import compress as _compress
from rsdet.cli import demo as _demo
from rsdet.cli import detect as _detect
from rsdet.cli import eval as _eval
from rsdet.cli import export as _export
from rsdet.cli import finetune as _finetune
from rsdet.cli import info as _info
from rsdet.cli import split as _split
from rsdet.cli import train as _train
from rsdet.cli._common import hide_flag_placeholders

app = typer.Typer(
    name="rsdet",
    help="Find tiny objects in large remote-sensing scenes; get georeferenced polygons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


hide_flag_placeholders()


def _print_version(value: bool) -> None:
    """``--version``: the installed distribution's version (no rsdet import needed)."""
    if value:
        try:
            number = metadata.version("rsdet")
        except metadata.PackageNotFoundError:  # run from a source tree that is not installed
            number = "unknown (not installed)"
        typer.echo(f"rsdet {number}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print rsdet's version and exit.",
        ),
    ] = False,
) -> None:
    """rsdet: detect, train, evaluate and split remote-sensing detection data."""


# In the order a user meets them: the main job first.
app.command("detect")(_detect.detect)
app.command("train")(_train.train)
app.command("finetune")(_finetune.finetune)
app.command("eval")(_eval.eval)
app.command("split")(_split.split)
app.command("info")(_info.info)
app.command("export")(_export.export)
app.command("compress")(_compress.compress)
app.command("demo")(_demo.demo)
app.add_typer(_classify.app, name="classify")
app.add_typer(_analyze.app, name="analyze")


def main() -> None:
    """Run the CLI (console-script entry point)."""
    app()
