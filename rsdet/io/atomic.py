"""Atomic file output: write to a temporary file beside the target, then rename over it.

A reader never sees a half-written file, and an interrupted write leaves the previous file
(or nothing) in place. The temporary file is created fresh by the writer, so the result gets
the user's usual permissions (umask), not the 0600 of ``mkstemp``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rsdet.errors import OutputError

__all__ = ["atomic_output", "make_folder", "write_bytes_atomic"]


def make_folder(folder: Path, output: Path | None = None, create: bool = True) -> None:
    """``mkdir -p folder``, or a one-line :class:`OutputError` naming what is in the way.

    In the way: a file where a folder should be, or a parent that cannot be written in.
    The message names ``output`` (the file to be written in ``folder``) when given. With
    ``create=False`` only the check runs (the first atomic write creates the folder, so a
    run that fails before it leaves no empty folder).
    """
    name, what = (folder, "this folder") if output is None else (output, "its folder")
    blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise OutputError(f"{name}: cannot create {what}, {blocker} is a file")
    if not create:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{name}: cannot create {what} {folder} ({err.strerror})") from None


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The temporary name keeps the suffix, so drivers that pick a format by extension
    (GDAL, OGR) still work. On error the temporary file is removed and ``path`` is untouched.

    Raises:
        OutputError: the folder cannot be created or written in, or ``path`` not replaced.
    """
    make_folder(path.parent, path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent
        )
    except OSError as err:
        raise OutputError(f"{path}: cannot write in {path.parent} ({err.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL refuse to write over an existing file
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise OutputError(f"{path}: cannot replace it ({err.strerror})") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
