"""Sparsity of a model's parameters and feature maps: the flow behind ``rsdet analyze sparsity``.

::

    refuse an existing --plot (unless overwrite), bad eps, before any work
      -> the checkpoint's deployed network, BatchNorm folded (what rsdet detect runs)
      -> parameters: exact zeros per layer (rsdet.analysis.sparsity.parameter_zeros)
      -> the --data images through rsdet's validation detection (engine.validate), once per
         eps, with every conv input |x| <= eps zeroed by forward pre-hooks (eps 0: the plain
         run, which also gives the per-layer table at every eps and the dead channels)
      -> per eps: share of feature-map loads removed (elements, MAC- and byte-weighted) and
         AP50 (aitod protocol, score >= 0.01) when the data's classes are the model's
      -> a report (plain data) and, with --plot, a PNG written atomically
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rsdet.analysis.sparsity import (
    FeatureMapProbe,
    LayerStats,
    bandwidth_by_kind,
    byte_weighted_share,
    element_share,
    mac_weighted_share,
    parameter_zeros,
)
from rsdet.datasets.loader import load_dataset
from rsdet.engine.recipe import EvalConfig
from rsdet.engine.validate import detect_samples
from rsdet.errors import InputError, OutputExistsError
from rsdet.evaluation import evaluate
from rsdet.io.atomic import atomic_output
from rsdet.models.contract import DetectorNetwork
from rsdet.models.layers import fuse_conv_bn
from rsdet.models.spec import ModelSpec
from rsdet.models.zoo import load_network, resolve_model_path
from rsdet.structures import Sample

__all__ = ["DEFAULT_DATA", "DEFAULT_EPS", "SparsityOptions", "parse_eps", "run_sparsity"]

DEFAULT_EPS = (0.0, 1e-3, 1e-2, 5e-2)
DEFAULT_DATA = "synthetic:?n=8&size=512&seed=1&kind=trees"
# Validation's detection settings: AP wants every box down to a low score.
_EVAL = EvalConfig(protocol="aitod", score_thr=0.01, max_det=1500)


@dataclass(frozen=True)
class SparsityOptions:
    """What ``rsdet analyze sparsity`` was asked.

    Attributes:
        model: checkpoint file or packaged model name.
        data: dataset spec of the images to run (``synthetic:?...``, ``voc:...``).
        images: use the first this many images of ``data``.
        eps: thresholds, >= 0; 0 (exact zeros, the baseline) is always added.
        plot: PNG to write, or None.
        overwrite: replace an existing ``plot``.
    """

    model: str
    data: str = DEFAULT_DATA
    images: int = 8
    eps: tuple[float, ...] = DEFAULT_EPS
    plot: Path | None = None
    overwrite: bool = False


def parse_eps(text: str) -> tuple[float, ...]:
    """``"0,1e-3,1e-2"`` -> sorted unique thresholds with 0 included.

    Raises:
        InputError: a value that is not a number, or a negative one.
    """
    try:
        values = {float(v) for v in text.split(",") if v.strip()}
    except ValueError:
        raise InputError(
            f"--eps {text!r}: expected comma-separated numbers, e.g. 0,1e-3,1e-2"
        ) from None
    if any(v < 0 or v != v for v in values):
        raise InputError(f"--eps {text!r}: thresholds must be >= 0")
    return tuple(sorted(values | {0.0}))


def run_sparsity(opts: SparsityOptions) -> dict[str, Any]:
    """Measure ``opts.model``'s sparsity (see the module docstring); plain data for --json.

    Raises:
        RsdetError: an existing plot without overwrite, a bad option, an unreadable model or
            dataset, matplotlib missing for --plot; one line each.
    """
    started = time.perf_counter()
    eps = tuple(sorted(set(opts.eps) | {0.0}))
    if opts.images < 1:
        raise InputError(f"--images {opts.images}: must be at least 1")
    if opts.plot is not None and opts.plot.exists() and not opts.overwrite:
        raise OutputExistsError(f"{opts.plot}: already exists (pass --overwrite to replace it)")
    path = resolve_model_path(opts.model)
    network, ckpt = load_network(path)
    fuse_conv_bn(network.eval())
    dataset = load_dataset(opts.data)
    samples = dataset.samples[: opts.images]
    scored = _same_classes(dataset.classes, ckpt.spec.classes)
    plain, curve = _pruning_curve(network, ckpt.spec, samples, eps, scored)
    report = {
        "model": str(path),
        "arch": ckpt.spec.arch,
        "data": opts.data,
        "images": len(samples),
        "eps": list(eps),
        "ap50_scored": scored,
        "parameters": _parameters(network),
        "feature_maps": _feature_maps(plain, eps),
        "bandwidth": bandwidth_by_kind(plain.values()),
        "curve": curve,
        "eps_one_point": _first_drop(curve, 0.01),
    }
    if opts.plot is not None:
        write_plot(report, opts.plot)
        report["plot"] = str(opts.plot)
    report["seconds"] = time.perf_counter() - started
    return report


def _same_classes(data: Sequence[str], model: Sequence[str]) -> bool:
    """True when the data's classes are the model's, in order (case aside): AP is meaningful."""
    return [c.lower() for c in data] == [c.lower() for c in model]


def _pruning_curve(
    network: DetectorNetwork[Any],
    spec: ModelSpec,
    samples: list[Sample],
    eps: tuple[float, ...],
    scored: bool,
) -> tuple[dict[str, LayerStats], list[dict[str, Any]]]:
    """The plain run's per-conv stats (every eps) and one curve row per pruning eps."""
    plain: dict[str, LayerStats] = {}
    rows = []
    for e in eps:
        with FeatureMapProbe(network, eps if e == 0 else (e,), prune_eps=e) as probe:
            dets = detect_samples(network, spec, samples, _EVAL, torch.device("cpu"))
        layers = probe.layers.values()
        ap = evaluate("aitod", samples, dets, spec.classes).metrics["AP50"] if scored else None
        rows.append(
            {
                "eps": e,
                "removed_elements": element_share(layers, e),
                "removed_mac_weighted": mac_weighted_share(layers, e),
                "removed_bytes": byte_weighted_share(layers, e),
                "ap50": None if ap is None else float(ap),
                "detections": sum(len(d) for d in dets),
            }
        )
        if e == 0:
            plain = probe.layers
    base = rows[0]["ap50"]
    for row in rows:
        ap = row["ap50"]
        row["ap50_change"] = None if base is None or ap is None else ap - base
    return plain, rows


def _first_drop(curve: list[dict[str, Any]], drop: float) -> float | None:
    """The smallest eps whose AP50 is ``drop`` (absolute) or more below eps 0's; None if none."""
    for row in curve:
        if row["ap50_change"] is not None and row["ap50_change"] <= -drop:
            return float(row["eps"])
    return None


def _parameters(network: torch.nn.Module) -> dict[str, Any]:
    """Exact zeros among the parameters: overall and per layer."""
    stats = parameter_zeros(network)
    total = sum(s.elements for s in stats)
    zeros = sum(s.zeros for s in stats)
    return {
        "elements": total,
        "zeros": zeros,
        "share": zeros / total if total else 0.0,
        "layers": [
            {
                "name": s.name,
                "elements": s.elements,
                "zeros": s.zeros,
                "share": s.zeros / s.elements,
            }
            for s in stats
        ],
    }


def _feature_maps(layers: dict[str, LayerStats], eps: tuple[float, ...]) -> dict[str, Any]:
    """Conv-input sparsity of the plain run: totals per eps, and per layer."""
    values = list(layers.values())
    return {
        "convs": len(values),
        "dead_channels": sum(s.dead_channels for s in values),
        "input_channels": sum(len(s.channel_peak) for s in values if s.channel_peak is not None),
        "totals": [
            {
                "eps": e,
                "elements": element_share(values, e),
                "mac_weighted": mac_weighted_share(values, e),
                "byte_weighted": byte_weighted_share(values, e),
            }
            for e in eps
        ],
        "layers": [
            {
                "name": s.name,
                "kind": s.kind,
                "calls": s.calls,
                "macs": s.macs,
                "input_bytes": s.input_bytes,
                "weight_bytes": s.weight_bytes,
                "dead_channels": s.dead_channels,
                "input_channels": 0 if s.channel_peak is None else len(s.channel_peak),
                "share": {str(e): s.share(e) for e in eps},
            }
            for s in values
        ],
    }


def write_plot(report: dict[str, Any], path: Path) -> None:
    """Two panels: per-conv input zero shares, and AP50 against feature-map loads removed.

    Raises:
        InputError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError(
            f"{path}: --plot needs matplotlib (pip install 'rsdet[analyze]')"
        ) from None
    layers = report["feature_maps"]["layers"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), width_ratios=(2, 1))
    for e in reversed(report["eps"]):
        label = "x == 0" if e == 0 else f"|x| <= {e:g}"
        left.bar(range(len(layers)), [r["share"][str(e)] for r in layers], width=1.0, label=label)
    left.set(xlabel="conv layer (module order)", ylabel="share of input elements",
             title=f"{report['arch']}: conv inputs near zero", ylim=(0, 1))  # fmt: skip
    left.legend(fontsize=8)
    curve = report["curve"]
    x = [100 * r["removed_elements"] for r in curve]
    if report["ap50_scored"]:
        y = [100 * r["ap50"] for r in curve]
        right.set_ylabel("AP50 (%)")
    else:
        y = [r["detections"] for r in curve]
        right.set_ylabel("detections (data classes are not the model's)")
    right.plot(x, y, "o-")
    for xi, yi, r in zip(x, y, curve, strict=True):
        right.annotate(f"{r['eps']:g}", (xi, yi), fontsize=8, textcoords="offset points",
                       xytext=(4, 4))  # fmt: skip
    right.set(xlabel="feature-map loads removed (%)", title="dynamic pruning (labels: eps)")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
