"""The exception every user-facing error derives from.

Raise a subclass of :class:`RsdetError` for anything the *user* can fix (a missing or
malformed file, a bad option, an output that already exists). Its message is one line that
names the file and what is wrong; the CLI prints it without a traceback and exits with
status 2. Programming errors stay ordinary exceptions and keep their tracebacks.
"""

from __future__ import annotations

__all__ = [
    "InputError",
    "OutputError",
    "OutputExistsError",
    "RsdetError",
    "SceneError",
    "user_message",
]


class RsdetError(Exception):
    """Base class of user-facing errors (one-line message naming the file)."""


class InputError(RsdetError, ValueError):
    """An input file or value is missing, unreadable or malformed."""


class OutputExistsError(RsdetError, FileExistsError):
    """An output exists and ``--overwrite`` was not given."""


class OutputError(RsdetError, OSError):
    """An output cannot be written (read-only folder, full disk, another run writing it)."""


class SceneError(RsdetError):
    """A scene failed while it was processed (unreadable data, or the model failed on it)."""


def user_message(err: BaseException) -> str:
    """The one-line message of a user error, also when a DataLoader worker raised it.

    torch re-raises a worker's exception in the main process with the worker's whole
    traceback as its message; the user's line is that traceback's last line.
    """
    text = str(err).strip()
    if "\nOriginal Traceback" not in text:
        return text
    last = text.splitlines()[-1]
    name = f"{type(err).__module__}.{type(err).__qualname__}: "
    return last.removeprefix(name)
