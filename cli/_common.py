"""Pieces every command shares: user-error handling and the console.

Only light imports here (typer, rich, rsdet.errors): this module is imported at start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from rsdet.errors import RsdetError, user_message

# Messages and progress go to stderr so that stdout stays clean for --json output.
err_console = Console(stderr=True, highlight=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`RsdetError` into ``Error: <message>`` on stderr and exit status 2.

    An ``OSError`` that names a file gets the same one line (exit status 2); one that names
    none is a programming error and keeps its traceback.
    """
    try:
        yield
    except RsdetError as err:
        # Escaped: messages hold paths and hints like rsdet[cluster], not rich markup.
        err_console.print(f"[bold red]Error:[/] {escape(user_message(err))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except OSError as err:
        if err.filename is None:  # not about a file the user named: a bug, keep the traceback
            raise
        # The net under every command: a filesystem call on a user's path that no pipeline
        # turned into an RsdetError (read-only folder, full disk, a file where a folder is).
        err_console.print(f"[bold red]Error:[/] {escape(_os_message(err))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/] Re-run with --resume to continue.")
        raise typer.Exit(code=130) from None


def _os_message(err: OSError) -> str:
    """``<file>: <reason>`` (and the second file of a rename), from an OSError."""
    where = str(err.filename)
    if err.filename2 is not None:
        where += f" -> {err.filename2}"
    return f"{where}: {err.strerror or type(err).__name__}"


def hide_flag_placeholders() -> None:
    """Show no placeholder after on/off flags in ``--help``: ``--quiet``, not ``--quiet <bool>``.

    typer 0.2x prints every option's type, flags included, which reads as if ``--quiet``
    took a value. A flag takes none, so its type column is left empty; every other option
    keeps its ``<int>``, ``<path>``... (``tests/cli/test_help.py`` walks every command).
    """
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_rsdet_flags_hidden", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:  # ctx: typer's click
        return None if self.is_flag else shown(self, ctx)

    display_type_rich._rsdet_flags_hidden = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def print_json(text: str) -> None:
    """Write machine-readable output to stdout (and nothing else goes there)."""
    sys.stdout.write(text.rstrip("\n") + "\n")
