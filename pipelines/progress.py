"""One progress-bar style for every long-running pipeline (rich, on stderr).

When stderr is not a terminal (a log file, CI, a cluster job), a live bar draws nothing
useful; :class:`PlainLines` writes a plain line now and then instead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["LinesProgress", "PlainLines", "format_duration", "make_progress"]

_EPOCH_TITLE = re.compile(r"epoch (\d+)/(\d+)")


def make_progress(quiet: bool = False, *extra_columns: TextColumn) -> Progress:
    """A rich ``Progress`` on stderr: description, bar, done/total, extra fields, elapsed, ETA.

    When stderr is not a terminal (a log file, CI, a cluster job) the bar is not drawn;
    the same tasks are written as plain lines instead (:class:`LinesProgress`).

    Args:
        quiet: when True nothing is drawn or written.
        extra_columns: more columns, e.g. ``TextColumn("{task.fields[objects]} objects")``.
    """
    console = Console(stderr=True)
    if not quiet and not console.is_terminal:
        return LinesProgress(console)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )


class LinesProgress(Progress):
    """A ``Progress`` that draws no bar and writes a plain line per task now and then.

    A line is written at a task's first step, every ``every`` seconds, and when it
    completes: ``tiles 120/480 objects 311 rate 4.2 elapsed 1m10s eta 3m30s``. The task's
    fields are written as ``name value`` pairs (empty ones left out).

    Args:
        console: where lines go (stderr).
        every: seconds between lines of one task.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, console: Console, every: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(console=console, disable=True)
        self.lines_console, self.every, self.clock = console, every, clock
        self.last_line: dict[TaskID, float] = {}
        self.reported_done: set[TaskID] = set()

    def update(self, task_id: TaskID, **kwargs: Any) -> None:  # noqa: D102 (rich's)
        super().update(task_id, **kwargs)
        self._maybe_line(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:  # noqa: D102 (rich's)
        super().advance(task_id, advance)
        self._maybe_line(task_id)

    def _maybe_line(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        now, last = self.clock(), self.last_line.get(task_id)
        done = task.total is not None and task.completed >= task.total
        if task_id in self.reported_done or task.completed == 0:
            return
        if last is None or now - last >= self.every or done:
            self.last_line[task_id] = now
            if done:
                self.reported_done.add(task_id)
            self.lines_console.print(self.line(task), highlight=False, soft_wrap=True)

    @staticmethod
    def line(task: Task) -> str:
        """The plain line of one task."""
        total = "?" if task.total is None else f"{task.total:g}"
        parts = [task.description, f"{task.completed:g}/{total}"]
        parts += [f"{k} {v}" for k, v in task.fields.items() if str(v) != ""]
        parts.append(f"elapsed {format_duration(task.elapsed or 0.0)}")
        if task.time_remaining is not None:
            parts.append(f"eta {format_duration(task.time_remaining)}")
        return " ".join(parts)


class PlainLines:
    """Progress as plain lines, for logs: a phase's first and last step, and every ``every`` s.

    A line reads ``epoch 3/60 120/500 loss 1.234 lr 1.00e-03 2.35 it/s eta 2m41s (run
    1h10m)``: the phase's title and steps, the latest fields, the speed since the phase
    began and the time left in it. For a phase titled ``epoch N/M`` (the training loop's),
    the run's time left assumes the later epochs are as long (validation not counted).

    Args:
        console: where lines go (stderr).
        every: seconds between lines within a phase.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, console: Console, every: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console, self.every, self.clock = console, every, clock
        self.title, self.total, self.done, self.start = "", 0, 0, 0
        self.began = 0.0
        self.last: float | None = None  # when the last line was printed

    def begin(self, title: str, total: int, done: int) -> None:
        """A new phase of ``total`` steps, ``done`` already done (a resumed epoch)."""
        self.title, self.total, self.done, self.start = title, total, done, done
        self.began, self.last = self.clock(), None

    def advance(self, fields: dict[str, float]) -> None:
        """One step done; print a line when one is due. ``fields``: loss, lr (optional)."""
        self.done += 1
        now = self.clock()
        due = self.last is None or now - self.last >= self.every or self.done >= self.total
        if due:
            self.last = now
            self.console.print(self.line(fields, now), highlight=False, soft_wrap=True)

    def line(self, fields: dict[str, float], now: float) -> str:
        """The progress line for the current step."""
        parts = [self.title, f"{self.done}/{self.total}"]
        if "loss" in fields:
            parts.append(f"loss {fields['loss']:.4g}")
        if "lr" in fields:
            parts.append(f"lr {fields['lr']:.2e}")
        speed = (self.done - self.start) / max(now - self.began, 1e-9)
        parts.append(f"{speed:.2f} it/s")
        left = max(self.total - self.done, 0) / max(speed, 1e-9)
        eta = f"eta {format_duration(left)}"
        epoch = _EPOCH_TITLE.fullmatch(self.title)
        if epoch is not None:
            later = int(epoch[2]) - int(epoch[1])
            eta += f" (run {format_duration(left + later * self.total / max(speed, 1e-9))})"
        return " ".join([*parts, eta])


def format_duration(seconds: float) -> str:
    """``1h10m``, ``2m41s`` or ``12s`` (rounded to whole seconds)."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
