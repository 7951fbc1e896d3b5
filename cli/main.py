"""Entry point of the ``rsdet`` command.

Commands import their pipeline inside the function body, so ``rsdet --help`` never imports
torch, rasterio or geopandas.
"""

from __future__ import annotations

import typer

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


# Commands: each module imports its pipeline lazily inside the command function, so these
# imports cost nothing at start-up. Add a command as two adjacent lines below the marker:
#   from rsdet.cli import detect as _detect
#   app.command("detect")(_detect.detect)
# --- commands ---
from rsdet.cli import detect as _detect

app.command("detect")(_detect.detect)
from rsdet.cli import split as _split
app.command("split")(_split.split)
from rsdet.cli import train as _train

app.command("train")(_train.train)
from rsdet.cli import demo as _demo

app.command("demo")(_demo.demo)
from rsdet.cli import info as _info

app.command("info")(_info.info)
from rsdet.cli import eval as _eval

app.command("eval")(_eval.eval)


def main() -> None:
    """Run the CLI (console-script entry point)."""
    app()
