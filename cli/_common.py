"""Pieces every command shares: user-error handling and the console.

Only light imports here (typer, rich, rsdet.errors): this module is imported at start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from rsdet.errors import RsdetError

# Messages and progress go to stderr so that stdout stays clean for --json output.
err_console = Console(stderr=True, highlight=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`RsdetError` into ``Error: <message>`` on stderr and exit status 2."""
    try:
        yield
    except RsdetError as err:
        # Escaped: messages hold paths and hints like rsdet[cluster], not rich markup.
        err_console.print(f"[bold red]Error:[/] {escape(str(err))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/] Re-run with --resume to continue.")
        raise typer.Exit(code=130) from None


def print_json(text: str) -> None:
    """Write machine-readable output to stdout (and nothing else goes there)."""
    sys.stdout.write(text.rstrip("\n") + "\n")
