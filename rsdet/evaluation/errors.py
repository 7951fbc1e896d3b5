"""The error raised when in-memory evaluation inputs do not fit together."""

from __future__ import annotations

from rsdet.errors import RsdetError

__all__ = ["EvaluationInputError"]


class EvaluationInputError(RsdetError, ValueError):
    """Evaluation inputs do not fit together (protocol, version, ids, lengths, labels)."""
