"""Parameter and feature-map sparsity of a network, and dynamic feature-map pruning.

Counts what the dynamic runtime feature-map pruning paper (arXiv 1812.09922) counts, on any
``nn.Module``:

* **parameters**: exact zeros per layer (per module that owns parameters) and overall;
* **feature maps at run time**: for the input of every ``nn.Conv2d``, over every call
  (a head shared by pyramid levels is called once per level), the elements that are exactly
  0 and those with ``|x| <= eps``, per input channel the channels that are 0 at every
  position of every image ("dead"), the multiply-adds of the call and the bytes it reads
  (input feature map, weights) and writes (output feature map);
* **dynamic pruning**: the same forward pre-hooks can zero every conv input element with
  ``|x| <= eps`` before the conv runs, so that the network's outputs are those of an
  accelerator that skips loading them (the counts are then taken on the pruned inputs).

A skipped input element saves its load and, for the conv, the multiply-adds it feeds:
``C_out / groups * kh * kw`` of them, about the layer's MACs times the share of skipped
inputs (exact without padding and stride), which is how :func:`mac_weighted_share` weights
layers. Counts are hook-based, like :mod:`rsdet.models.flops`, and its per-conv MACs agree.
Only ``nn.Conv2d`` inputs are counted (a deformable conv's sampling is not).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import torch
from torch import nn

__all__ = [
    "ConvKind",
    "FeatureMapProbe",
    "LayerStats",
    "ParameterStats",
    "bandwidth_by_kind",
    "byte_weighted_share",
    "conv_kind",
    "element_share",
    "mac_weighted_share",
    "parameter_zeros",
]

ConvKind = Literal["depthwise", "pointwise", "conv"]


@dataclass(frozen=True)
class ParameterStats:
    """Exact zeros among the parameters a module owns itself (not its children's).

    Attributes:
        name: the module's ``named_modules`` path (``""``: the root).
        elements: parameter elements (weights and biases).
        zeros: those exactly 0.
    """

    name: str
    elements: int
    zeros: int


def parameter_zeros(module: nn.Module) -> list[ParameterStats]:
    """One :class:`ParameterStats` per module owning parameters, in ``named_modules`` order."""
    out = []
    for name, m in module.named_modules():
        params = list(m.parameters(recurse=False))
        if params:
            zeros = sum(int((p == 0).sum()) for p in params)
            out.append(ParameterStats(name, sum(p.numel() for p in params), zeros))
    return out


def conv_kind(conv: nn.Conv2d) -> ConvKind:
    """``depthwise`` (one group per input channel), ``pointwise`` (1x1, one group), ``conv``."""
    if conv.groups == conv.in_channels and conv.in_channels > 1:
        return "depthwise"
    if tuple(conv.kernel_size) == (1, 1) and conv.groups == 1:
        return "pointwise"
    return "conv"


@dataclass
class LayerStats:
    """What one ``nn.Conv2d`` read and did over every call of a probed run.

    Attributes:
        name: its ``named_modules`` path.
        kind: :func:`conv_kind`.
        calls: forward calls counted.
        macs: multiply-adds, ``output elements x C_in / groups x kh x kw`` summed over calls.
        input_elements, output_elements: feature-map elements read / written.
        input_bytes, weight_bytes, output_bytes: bytes read (input map; weights and bias,
            once per call) and written (output map), at the tensors' own element sizes.
        below: ``eps -> input elements with |x| <= eps`` (``eps = 0``: exactly 0).
        channel_peak: per input channel, the largest ``|x|`` seen (shape (C_in,)).
    """

    name: str
    kind: ConvKind
    calls: int = 0
    macs: int = 0
    input_elements: int = 0
    output_elements: int = 0
    input_bytes: int = 0
    weight_bytes: int = 0
    output_bytes: int = 0
    below: dict[float, int] = field(default_factory=dict)
    channel_peak: torch.Tensor | None = None

    @property
    def dead_channels(self) -> int:
        """Input channels exactly 0 everywhere in every call (0 before any call)."""
        return 0 if self.channel_peak is None else int((self.channel_peak == 0).sum())

    def share(self, eps: float) -> float:
        """Share of this layer's input elements with ``|x| <= eps`` (0.0 before any call)."""
        return self.below[eps] / self.input_elements if self.input_elements else 0.0


class FeatureMapProbe:
    """Hooks on every ``nn.Conv2d`` of ``module`` while in a ``with`` block.

    Example:
        >>> with FeatureMapProbe(network, eps=(0.0, 1e-2)) as probe:
        ...     network(images)
        >>> element_share(probe.layers.values(), 1e-2)

    Args:
        module: any module; its convs are found with ``named_modules``.
        eps: thresholds to count ``|x| <= eps`` at (0: exact zeros); non-negative.
        prune_eps: when given, zero every conv input element with ``|x| <= prune_eps``
            before the conv runs (dynamic pruning); the counts are taken after. ``0`` changes
            nothing (an exact zero is already 0).
    """

    def __init__(
        self, module: nn.Module, eps: Iterable[float] = (0.0,), prune_eps: float | None = None
    ) -> None:
        self.eps = tuple(sorted({float(e) for e in eps}))
        if any(e < 0 for e in self.eps) or (prune_eps is not None and prune_eps < 0):
            raise ValueError(f"eps must be >= 0, got {self.eps} and prune_eps={prune_eps}")
        self.prune_eps = prune_eps
        self.convs = {n: m for n, m in module.named_modules() if isinstance(m, nn.Conv2d)}
        self.layers = {n: LayerStats(n, conv_kind(m), below=dict.fromkeys(self.eps, 0))
                       for n, m in self.convs.items()}  # fmt: skip
        self._hooks: list[Any] = []

    def __enter__(self) -> FeatureMapProbe:
        for name, conv in self.convs.items():
            self._hooks += [
                conv.register_forward_pre_hook(self._before(self.layers[name])),
                conv.register_forward_hook(self._after(self.layers[name], conv)),
            ]
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _before(self, stats: LayerStats) -> Any:
        def hook(_m: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
            x = args[0]
            pruned = self.prune_eps is not None and self.prune_eps > 0
            if pruned:
                x = x.masked_fill(x.abs() <= self.prune_eps, 0)
            _count_input(stats, x)
            return (x, *args[1:]) if pruned else None

        return hook

    def _after(self, stats: LayerStats, conv: nn.Conv2d) -> Any:
        per_output = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
        weights = sum(p.numel() * p.element_size() for p in conv.parameters(recurse=False))

        def hook(_m: nn.Module, _args: Any, y: torch.Tensor) -> None:
            stats.calls += 1
            stats.macs += y.numel() * per_output
            stats.output_elements += y.numel()
            stats.output_bytes += y.numel() * y.element_size()
            stats.weight_bytes += weights

        return hook


def _count_input(stats: LayerStats, x: torch.Tensor) -> None:
    """Add one conv input (N, C, H, W) to ``stats``."""
    magnitude = x.detach().abs()
    stats.input_elements += x.numel()
    stats.input_bytes += x.numel() * x.element_size()
    for eps in stats.below:
        stats.below[eps] += int((magnitude <= eps).sum())
    peak = magnitude.amax(dim=(0, 2, 3)).float().cpu()
    stats.channel_peak = peak if stats.channel_peak is None else stats.channel_peak.maximum(peak)


def element_share(layers: Iterable[LayerStats], eps: float) -> float:
    """Share of all conv input elements (= of feature-map bytes read) with ``|x| <= eps``."""
    layers = list(layers)
    total = sum(s.input_elements for s in layers)
    return sum(s.below[eps] for s in layers) / total if total else 0.0


def mac_weighted_share(layers: Iterable[LayerStats], eps: float) -> float:
    """Layers' shares of ``|x| <= eps`` inputs weighted by their multiply-adds."""
    layers = list(layers)
    total = sum(s.macs for s in layers)
    return sum(s.macs * s.share(eps) for s in layers) / total if total else 0.0


def byte_weighted_share(layers: Iterable[LayerStats], eps: float) -> float:
    """Share of all bytes the convs read (input maps and weights) that skipping saves.

    Skipping an input element saves its load; weights are still read in full.
    """
    layers = list(layers)
    total = sum(s.input_bytes + s.weight_bytes for s in layers)
    saved = sum(s.below[eps] * s.input_bytes / s.input_elements for s in layers if s.calls)
    return saved / total if total else 0.0


def bandwidth_by_kind(layers: Iterable[LayerStats]) -> dict[str, dict[str, int]]:
    """``kind -> {"layers", "macs", "input_bytes", "weight_bytes", "output_bytes"}``, summed."""
    out: dict[str, dict[str, int]] = {}
    for s in layers:
        row = out.setdefault(s.kind, dict.fromkeys(_BANDWIDTH_KEYS, 0))
        row["layers"] += 1
        for key in _BANDWIDTH_KEYS[1:]:
            row[key] += getattr(s, key)
    return out


_BANDWIDTH_KEYS = ("layers", "macs", "input_bytes", "weight_bytes", "output_bytes")


def run_probe(
    module: nn.Module, batches: Sequence[torch.Tensor], eps: Iterable[float] = (0.0,)
) -> dict[str, LayerStats]:
    """Per-conv :class:`LayerStats` of eval-mode ``module(batch)`` over ``batches``.

    The module's train/eval mode is restored afterwards.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode(), FeatureMapProbe(module, eps) as probe:
            for batch in batches:
                module(batch)
    finally:
        module.train(was_training)
    return probe.layers
