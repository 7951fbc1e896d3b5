"""The scene kinds: their names, the classes they label and their default GSD."""

from __future__ import annotations

from typing import Literal

__all__ = ["CLASSES", "DEFAULT_GSD", "KINDS", "Kind"]

Kind = Literal["trees", "vehicles", "mixed"]
KINDS: tuple[str, ...] = ("trees", "vehicles", "mixed")
CLASSES: dict[str, tuple[str, ...]] = {
    "trees": ("tree",),
    "vehicles": ("vehicle",),
    "mixed": ("airplane", "ship", "storage-tank", "vehicle", "tree"),
}
DEFAULT_GSD: dict[str, float] = {"trees": 0.1, "vehicles": 0.3, "mixed": 0.5}
