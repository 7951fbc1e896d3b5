"""The export's user-facing error, and the optional packages it needs.

onnx, onnxruntime and onnxscript are not rsdet dependencies: they come with the ``onnx`` extra
and are imported on first use, so that ``import rsdet`` and ``rsdet --help`` stay light and a
missing package is one line that says what to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rsdet.errors import RsdetError

__all__ = ["ExportError", "optional_module"]


class ExportError(RsdetError, ValueError):
    """A model cannot be exported as asked, or an ONNX file cannot be run; one line."""


def optional_module(name: str) -> ModuleType:
    """Import ``name`` (``onnx``, ``onnxruntime``, ``onnxscript``) or explain how to get it.

    Raises:
        ExportError: the package is not installed.
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ExportError(
            f"{name} is not installed: ONNX export and runs need pip install 'rsdet[onnx]'"
        ) from err
