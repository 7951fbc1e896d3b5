"""Metrics of a run: one CSV row per epoch, and TensorBoard scalars when it is installed.

``metrics.csv`` is rewritten whole on every row (it is small), so new columns (the first
validation, a new loss term) simply widen it, and a resumed run first drops the rows of
epochs the checkpoint has not seen.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from rsdet.io.atomic import atomic_output

__all__ = ["Logbook"]


class Logbook:
    """Writes ``metrics.csv`` (and TensorBoard events under ``tb/``) in a run folder.

    Args:
        run_dir: the run folder.
        tensorboard: also write TensorBoard events, if ``torch.utils.tensorboard`` imports.
        keep_epochs: rows of ``metrics.csv`` with ``epoch <= keep_epochs`` are kept (resume);
            None starts a new file.
    """

    def __init__(self, run_dir: Path, tensorboard: bool, keep_epochs: int | None = None) -> None:
        self.path = run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        if keep_epochs is not None and self.path.is_file():
            with self.path.open(newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= keep_epochs]
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                pass
            else:
                self._tb = SummaryWriter(str(run_dir / "tb"))

    def scalars(self, step: int, values: dict[str, float], prefix: str = "train") -> None:
        """Per-iteration scalars (TensorBoard only)."""
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(f"{prefix}/{key}", value, step)

    def epoch(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to ``metrics.csv`` (atomic rewrite) and to TensorBoard."""
        self.rows.append(row)
        columns: list[str] = []
        for r in self.rows:
            columns += [k for k in r if k not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        with atomic_output(self.path) as tmp:
            tmp.write_text(text.getvalue(), encoding="utf-8")
        numbers = {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
        self.scalars(int(row.get("iteration", 0)), numbers, prefix="epoch")

    def close(self) -> None:
        """Flush TensorBoard."""
        if self._tb is not None:
            self._tb.close()
