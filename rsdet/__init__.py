"""rsdet: tiny-object detection for large remote-sensing scenes.

The top-level package is deliberately light: importing ``rsdet`` (which the CLI does
before anything else) must not import torch, so ``rsdet --help`` stays instant.
Heavy entry points are resolved lazily on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rsdet.models.zoo import load_model

__all__ = ["__version__", "load_model"]


def __getattr__(name: str) -> Any:
    if name == "load_model":
        from rsdet.models.zoo import load_model

        return load_model
    raise AttributeError(f"module 'rsdet' has no attribute {name!r}")
