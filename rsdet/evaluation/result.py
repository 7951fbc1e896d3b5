"""``EvalResult``: what every protocol returns, in memory and as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EvalResult", "Number"]

# A metric value: a fraction in [0, 1], a count, or None when the protocol leaves it
# undefined (e.g. COCO AP of a class without ground truth).
Number = float | int | None


def _clean(value: Number) -> Number:
    """Plain Python numbers for JSON: numpy scalars become float/int, NaN becomes None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = float(value)
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class EvalResult:
    """Scores of one evaluation run.

    Attributes:
        protocol: the protocol name (``coco``, ``aitod``, ``dota``, ``dota-hbb``, ``dior``,
            ``dior-r``).
        metrics: overall metrics by name, fractions in [0, 1] (``AP``, ``AP50``, ... for
            COCO-style protocols; ``mAP`` for VOC-style ones). None means undefined.
        per_class: class name -> that class's values (always an ``AP`` key: AP@[.5:.95]
            for COCO-style protocols, AP@0.5 for VOC-style ones; plus counts).
        primary: the key of ``metrics`` to select checkpoints on.
        settings: the knobs that produced the numbers (version, AP mode, thresholds).
    """

    protocol: str
    metrics: Mapping[str, Number]
    per_class: Mapping[str, Mapping[str, Number]]
    primary: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """The primary metric, with an undefined value read as 0 (for model selection)."""
        value = self.metrics.get(self.primary)
        return 0.0 if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: ``{"protocol", "metrics", "per_class", "settings"}``."""
        return {
            "protocol": self.protocol,
            "metrics": {k: _clean(v) for k, v in self.metrics.items()},
            "per_class": {
                name: {k: _clean(v) for k, v in values.items()}
                for name, values in self.per_class.items()
            },
            "settings": dict(self.settings),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON text (undefined values are ``null``, never NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)
