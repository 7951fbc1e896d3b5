"""VOC-style split files ``ROOT/ImageSets/Main/<split>.txt`` (one image id per line).

Rules (shared by ``dior``, ``dior-r`` and ``voc``):

* ``?split=NAME`` reads ``NAME.txt``; ``trainval`` falls back to ``train.txt`` + ``val.txt``
  when there is no ``trainval.txt`` (DIOR ships only train, val and test).
* Without ``?split=``: if ``ImageSets/Main`` holds exactly one split file, it is used (the
  output of ``rsdet split`` has one); if it holds several, the reader stops and asks for
  one (training on a mix of train and test would go unnoticed otherwise); if there is no
  ``ImageSets/Main`` folder, every annotation file is used.
* Only the first token of a line counts (VOC's per-class files add a ``1``/``-1`` column);
  blank lines are skipped; an id listed twice is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rsdet.datasets.errors import DatasetError, LabelError, where

__all__ = ["ImageSet", "read_image_set"]


@dataclass(frozen=True)
class ImageSet:
    """Image ids of a split, with ``(file, line)`` of each id for error messages."""

    name: str
    ids: tuple[str, ...]
    origins: tuple[tuple[Path, int], ...]


def _read_ids(path: Path, ids: list[str], origins: list[tuple[Path, int]], seen: set[str]) -> None:
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0] in seen:
            raise LabelError(f"{where(path, lineno)}: image id {tokens[0]!r} is listed twice")
        seen.add(tokens[0])
        ids.append(tokens[0])
        origins.append((path, lineno))


def read_image_set(root: Path, split: str | None) -> ImageSet | None:
    """The split's ids, or None when no split is asked for and no split files exist."""
    folder = root / "ImageSets" / "Main"
    available = sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []
    if split is None:
        if not available:
            return None
        if len(available) > 1:
            raise DatasetError(
                f"{folder}: holds several splits; choose one with ?split=NAME "
                f"(available: {', '.join(available)})"
            )
        split = available[0]
    parts = [split]
    if split == "trainval" and "trainval" not in available:
        parts = ["train", "val"]
    for part in parts:
        if part not in available:
            known = ", ".join(available) if available else "none"
            raise DatasetError(
                f"{folder / (part + '.txt')}: split file not found (available: {known})"
            )
    ids: list[str] = []
    origins: list[tuple[Path, int]] = []
    seen: set[str] = set()
    for part in parts:
        _read_ids(folder / f"{part}.txt", ids, origins, seen)
    return ImageSet(split, tuple(ids), tuple(origins))
