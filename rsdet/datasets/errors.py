"""User-facing errors of the dataset readers and writers.

Every message is one line that starts with the file it concerns (``path:line:`` where a
line number exists), then says what is wrong, so the CLI can print it as is.
"""

from __future__ import annotations

from pathlib import Path

from rsdet.errors import InputError

__all__ = ["DatasetError", "ImageError", "LabelError", "SpecError", "where"]


class DatasetError(InputError):
    """A dataset folder, split file or layout is missing or inconsistent."""


class SpecError(DatasetError):
    """A dataset spec ``FORMAT:PATH[?key=value&...]`` is malformed or names an unknown format."""


class LabelError(DatasetError):
    """A label file is malformed or names an unknown class."""


class ImageError(DatasetError):
    """An image is missing, unreadable, or cannot hold the pixels to be written."""


def where(path: Path | str, line: int | None = None) -> str:
    """``path`` or ``path:line``, the prefix of every dataset error message."""
    return f"{path}:{line}" if line is not None else str(path)
