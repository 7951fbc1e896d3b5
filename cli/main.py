"""Entry point of the ``rsdet`` command.

Each command lives in its own module and imports its pipeline inside the command function,
so ``rsdet --help`` never imports torch, rasterio or geopandas.
"""

from __future__ import annotations

import typer
from rsdet.cli import classify as _classify
from rsdet.cli import demo as _demo
from rsdet.cli import detect as _detect
from rsdet.cli import eval as _eval
from rsdet.cli import export as _export
from rsdet.cli import info as _info
from rsdet.cli import split as _split
from rsdet.cli import train as _train

app = typer.Typer(
    name="rsdet",
    help="Find tiny objects in large remote-sensing scenes; get georeferenced polygons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """rsdet: detect, train, evaluate and split remote-sensing detection data."""


# In the order a user meets them: the main job first.
app.command("detect")(_detect.detect)
app.command("train")(_train.train)
app.command("eval")(_eval.eval)
app.command("split")(_split.split)
app.command("info")(_info.info)
app.command("export")(_export.export)
app.command("demo")(_demo.demo)
app.add_typer(_classify.app, name="classify")


def main() -> None:
    """Run the CLI (console-script entry point)."""
    app()
