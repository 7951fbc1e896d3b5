"""File-system helpers shared by the readers: image lookup by stem."""

from __future__ import annotations

from pathlib import Path

from rsdet.datasets.errors import DatasetError
from rsdet.datasets.pixels import IMAGE_SUFFIXES

__all__ = ["index_images"]


def index_images(folder: Path) -> dict[str, Path]:
    """Map file stem -> image path for the images directly inside ``folder``.

    Only known image suffixes count (``.png``, ``.jpg``, ``.tif``...; any case), so stray
    files such as ``Thumbs.db`` are ignored.

    Raises:
        DatasetError: two images share a stem (``P0001.png`` and ``P0001.jpg``).
    """
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in found:
            raise DatasetError(
                f"{path}: two images named {path.stem!r} ({found[path.stem].name} and "
                f"{path.name}); keep one"
            )
        found[path.stem] = path
    return found
