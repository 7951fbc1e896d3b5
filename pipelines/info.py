"""Describe a model: the guts of ``rsdet info``.

Loads the checkpoint, rebuilds its (deployed) network to count parameters and FLOPs, and
returns everything as plain data; the command prints it as text or JSON.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
from torch import nn

from rsdet.config import to_dict
from rsdet.models.backbones import Backbone
from rsdet.models.contract import DetectorNetwork
from rsdet.models.flops import HasParts, count_flops, count_macs_by_part, count_parameters
from rsdet.models.zoo import load_network, resolve_model_path

__all__ = ["describe_model", "list_packaged"]


def list_packaged() -> dict[str, Any]:
    """The models inside the package and the packaged training recipes, as plain data.

    Returns:
        ``{"default_model": name, "models": [{"name", "description", "classes", "path"}],
        "recipes": [{"name", "summary"}]}``; a recipe's summary is the first clause of
        its header comment.
    """
    from rsdet.pipelines.train import RECIPES_DIR

    from rsdet.models.checkpoint import read_checkpoint
    from rsdet.models.zoo import DEFAULT_MODEL, PACKAGED_MODELS

    models = []
    for name in sorted(PACKAGED_MODELS):
        path = resolve_model_path(name)
        spec = read_checkpoint(path).spec
        models.append(
            {
                "name": name,
                "description": spec.description,
                "classes": list(spec.classes),
                "path": str(path),
            }
        )
    recipes = [
        {"name": p.stem, "summary": _header(p.read_text(encoding="utf-8"))}
        for p in sorted(RECIPES_DIR.glob("*.yaml"))
    ]
    return {"default_model": DEFAULT_MODEL, "models": models, "recipes": recipes}


def _header(text: str, width: int = 90) -> str:
    """The first clause of a YAML file's leading ``#`` comment, cut to ``width`` characters."""
    words: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        words += line.lstrip("#").split()
    summary = re.split(r"(?<=[.:])\s", " ".join(words), maxsplit=1)[0].rstrip(".:")
    if len(summary) > width:
        summary = summary[: width - 3].rsplit(" ", 1)[0] + "..."
    return summary


def describe_model(model: str, size: int) -> dict[str, Any]:
    """Everything ``rsdet info`` reports, as plain data.

    Args:
        model: checkpoint file (.pt) or packaged model name (``"default"``).
        size: square input edge, pixels, at which FLOPs are counted.

    Returns:
        A JSON-ready dict: path, arch, description, parameters, flops (at ``size x size``),
        classes, box type, input spec, tiling and post-processing defaults, architecture
        config and provenance; for a network that names its parts (TinyDet, RS-TinyNet, DCFL),
        ``macs`` and ``parts`` (see :func:`describe_parts`).
    """
    path = resolve_model_path(model)
    network, ckpt = load_network(path)
    spec = ckpt.spec
    flops = count_flops(network, size, size, spec.input.num_channels)
    parts = describe_parts(network, size, spec.input.num_channels)
    return {
        "path": str(path),
        "arch": spec.arch,
        "description": spec.description,
        "parameters": count_parameters(network),
        "flops": flops,
        "flops_input": [size, size],
        "flops_convention": "2 x multiply-adds of convolutions and matrix products",
        **parts,
        "classes": list(spec.classes),
        "box_type": spec.box_type,
        "input": to_dict(spec.input),
        "tile_size": spec.tile_size,
        "overlap": spec.overlap,
        "postprocess": to_dict(spec.postprocess()),
        "arch_config": ckpt.arch_config,
        "provenance": ckpt.provenance,
    }


def describe_parts(network: DetectorNetwork[Any], size: int, in_channels: int) -> dict[str, Any]:
    """Parameters and multiply-adds per part, the papers' "MFLOPs" convention.

    Parts are the network's :meth:`~rsdet.models.flops.HasParts.parts`, each backbone part
    followed by its stages (``backbone.blocks.0``...), at a ``size x size`` input padded to
    the size divisor as :func:`~rsdet.models.flops.count_flops` pads it. A two-stage
    detector's R-CNN is counted for its fixed number of RoIs (TinyDet: 200).

    Returns:
        ``{}`` for a network that names no parts; else ``macs`` (the total), ``parts`` (a list
        of ``{"name", "parameters", "macs", "macs_conv_bias"}``, stages without parameters or
        multiply-adds left out) and ``macs_convention``.
    """
    if not isinstance(network, HasParts):
        return {}
    named: dict[str, nn.Module] = {}
    for name, part in network.parts().items():
        named[name] = part
        if isinstance(part, Backbone):
            named.update({f"{name}.{s}": m for s, m in part.named_stages().items()})
    d = network.size_divisor
    side = math.ceil(size / d) * d
    images = torch.zeros(1, in_channels, side, side)
    macs = count_macs_by_part(network, (images,), named)
    biased = count_macs_by_part(network, (images,), named, conv_bias=True)
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "parameters": count_parameters(part),
            "macs": macs[name],
            "macs_conv_bias": biased[name],
        }
        for name, part in named.items()
    ]
    return {
        "macs": macs[""],
        "macs_conv_bias": biased[""],
        "parts": [r for r in rows if "." not in r["name"] or r["parameters"] or r["macs"]],
        "macs_convention": "multiply-adds of convolutions and matrix products (the papers' "
        "'FLOPs'); macs_conv_bias adds one addition per output element of every biased conv "
        "(mmcv's counter, TinyDet's tables)",
    }
