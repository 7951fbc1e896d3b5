"""One run per output: a lock file beside the output, held for the whole run.

Two runs writing the same output at once would interleave their journals and race to
replace the same files. A run therefore holds ``<output>.rsdet-lock`` (its PID and host
name inside) with ``fcntl.flock`` from before it reads the journal until its output is
written. The kernel drops the lock when the process ends, however it ends, so a lock file
left by a killed run is simply taken over; only a live holder makes a second run refuse.
Where ``flock`` is unavailable (Windows, some network file systems), the PID in the file
decides: a lock of this host whose process is gone is taken over.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rsdet.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["lock_path", "output_lock"]


def lock_path(output: str | Path) -> Path:
    """Where the lock of a run writing ``output`` lives."""
    output = Path(output)
    return output.with_name(output.name + ".rsdet-lock")


@contextmanager
def output_lock(output: Path, lock_file: Path | None = None) -> Iterator[Path]:
    """Hold the lock of ``output`` for the ``with`` block; the lock file is removed after.

    Args:
        output: what the run writes (named in the error).
        lock_file: the lock's path (default :func:`lock_path` of ``output``); its folder
            must exist.

    Raises:
        OutputError: another live process holds the lock, or the folder is not writable.
    """
    path = lock_file or lock_path(output)
    fd = _acquire(path, output)
    try:
        yield path
    finally:
        # Unlinked while still held: a run that opened the old file sees it is gone and
        # opens a fresh one (see _acquire), so two runs never both hold a lock.
        path.unlink(missing_ok=True)
        os.close(fd)


def _acquire(path: Path, output: Path) -> int:
    """Open, lock and stamp the lock file; return its descriptor."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise OutputError(f"{output}: cannot write in {path.parent} ({err.strerror})") from None
        if not _lock(fd):
            holder = _holder(fd)
            os.close(fd)
            raise OutputError(
                f"{output}: another rsdet run ({holder}) is writing it right now; wait for "
                f"it to end, or write to another output"
            )
        if _is_current(fd, path):
            break
        os.close(fd)  # the previous holder removed the file before we locked it: retry
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
    return fd


def _lock(fd: int) -> bool:
    """Lock ``fd`` without waiting; False when a live process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            # ENOLCK and friends: a file system without flock; fall back to the PID
    return not _holder_alive(fd)


def _is_current(fd: int, path: Path) -> bool:
    """True when ``path`` still names the file open as ``fd``."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def _read(fd: int) -> tuple[int, str] | None:
    """``(pid, host)`` written in the lock file, or None when it holds neither."""
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 256).decode(errors="replace").split()
    if len(raw) < 2 or not raw[0].isdigit():
        return None
    return int(raw[0]), raw[1]


def _holder(fd: int) -> str:
    """Who holds the lock, in words."""
    found = _read(fd)
    return "holder unknown" if found is None else f"PID {found[0]} on {found[1]}"


def _holder_alive(fd: int) -> bool:
    """True when the PID in the file is a live process of this host (another host: assume so)."""
    found = _read(fd)
    if found is None:
        return False
    pid, host = found
    if host != socket.gethostname():
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
