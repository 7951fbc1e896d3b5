"""File-system helpers shared by the readers and writers: image lookup and atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rsdet.datasets.errors import DatasetError
from rsdet.datasets.pixels import IMAGE_SUFFIXES

__all__ = ["atomic_output", "index_images", "write_bytes_atomic"]


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


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The temporary name keeps the suffix, so drivers that pick a format by extension
    (GDAL, OGR) still work. On error the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL refuse to write over an existing file
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
