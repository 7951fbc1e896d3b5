"""The exception every user-facing error derives from.

Raise a subclass of :class:`RsdetError` for anything the *user* can fix (a missing or
malformed file, a bad option, an output that already exists). Its message is one line that
names the file and what is wrong; the CLI prints it without a traceback and exits with
status 2. Programming errors stay ordinary exceptions and keep their tracebacks.
"""

from __future__ import annotations

__all__ = ["InputError", "OutputExistsError", "RsdetError", "SceneError"]


class RsdetError(Exception):
    """Base class of user-facing errors (one-line message naming the file)."""


class InputError(RsdetError, ValueError):
    """An input file or value is missing, unreadable or malformed."""


class OutputExistsError(RsdetError, FileExistsError):
    """An output exists and ``--overwrite`` was not given."""


class SceneError(RsdetError):
    """A scene failed while it was processed (unreadable data, or the model failed on it)."""
