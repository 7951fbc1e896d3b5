"""The per-stage table, laid out like Deep Compression's (Han et al., Tables 1-5).

One row per stage: weights kept, bits per kept conv/linear weight (value + position),
bytes, ratio to the fp32 original and the validation metric after that stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rsdet.models.rsdz import TensorSize

__all__ = ["Stage", "format_table", "huffman_stage", "stage_bytes"]


@dataclass(frozen=True)
class Stage:
    """One row of the table.

    Attributes:
        name: ``original``, ``pruned``, ``quantized`` or ``huffman``.
        weights: conv/linear weights kept (of ``total_weights``).
        total_weights: conv/linear weights of the network.
        bits_per_weight: bits per kept conv/linear weight, its position included.
        bytes: size of the whole model at this stage (all tensors).
        ratio: fp32 original bytes / ``bytes``.
        metric: the validation metric (AP50, 0-1) after the stage; None without --val-data.
    """

    name: str
    weights: int
    total_weights: int
    bits_per_weight: float
    bytes: int
    ratio: float
    metric: float | None

    def to_dict(self) -> dict[str, Any]:
        """The row as plain data (JSON)."""
        return asdict(self)


def stage_bytes(
    shapes: dict[str, int], kept: dict[str, int], value_bits: dict[str, int], other_bytes: int
) -> tuple[int, float]:
    """Bytes and bits per kept weight of a stage before entropy coding.

    Kept weights cost ``value_bits`` each (32 unquantised), a pruned tensor adds an 8-bit
    relative position per kept weight (Deep Compression's fixed-width index), and a
    quantised one its float32 codebook.

    Args:
        shapes: elements of each conv/linear tensor.
        kept: kept elements of each.
        value_bits: bits per kept value of each (32: float32; else codebook of 2**bits).
        other_bytes: every other tensor (biases, BatchNorm) in float32.
    """
    bits = 0
    for name, numel in shapes.items():
        bits += kept[name] * value_bits[name]
        bits += 8 * kept[name] if kept[name] < numel else 0
        bits += 32 * 2 ** value_bits[name] if value_bits[name] < 32 else 0
    total_kept = max(sum(kept.values()), 1)
    return other_bytes + (bits + 7) // 8, bits / total_kept


def huffman_stage(sizes: Sequence[TensorSize], names: set[str]) -> tuple[int, float]:
    """Weights kept and bits per kept weight of the conv/linear tensors ``names``, as coded."""
    coded = [s for s in sizes if s.name in names]
    kept = sum(s.kept for s in coded)
    bits = 8 * sum(s.index_bytes + s.gap_bytes + s.other_bytes for s in coded)
    return kept, bits / max(kept, 1)


def format_table(stages: Sequence[Stage]) -> str:
    """A plain-text table (one line per stage)."""
    lines = [
        f"{'stage':<10} {'weights kept':>16} {'bits/w':>7} {'bytes':>11} {'ratio':>7} {'AP50':>7}"
    ]
    for s in stages:
        metric = "-" if s.metric is None else f"{s.metric:.4f}"
        share = f"{s.weights} ({100 * s.weights / max(s.total_weights, 1):.0f}%)"
        lines.append(
            f"{s.name:<10} {share:>16} {s.bits_per_weight:>7.2f} {s.bytes:>11,} "
            f"{s.ratio:>6.1f}x {metric:>7}"
        )
    return "\n".join(lines)
