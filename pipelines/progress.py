"""One progress-bar style for every long-running pipeline (rich, on stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["make_progress"]


def make_progress(quiet: bool = False, *extra_columns: TextColumn) -> Progress:
    """A rich ``Progress`` on stderr: description, bar, done/total, extra fields, elapsed, ETA.

    Args:
        quiet: when True the bar is disabled (nothing is drawn).
        extra_columns: more columns, e.g. ``TextColumn("{task.fields[objects]} objects")``.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )
