"""Describe a model: the guts of ``rsdet info``.

Loads the checkpoint, rebuilds its (deployed) network to count parameters and FLOPs, and
returns everything as plain data; the command prints it as text or JSON.
"""

from __future__ import annotations

from typing import Any

from rsdet.config import to_dict
from rsdet.models.flops import count_flops, count_parameters
from rsdet.models.zoo import load_network, resolve_model_path

__all__ = ["describe_model"]


def describe_model(model: str, size: int) -> dict[str, Any]:
    """Everything ``rsdet info`` reports, as plain data.

    Args:
        model: checkpoint file (.pt) or packaged model name (``"default"``).
        size: square input edge, pixels, at which FLOPs are counted.

    Returns:
        A JSON-ready dict: path, arch, description, parameters, flops (at ``size x size``),
        classes, box type, input spec, tiling and post-processing defaults, architecture
        config and provenance.
    """
    path = resolve_model_path(model)
    network, ckpt = load_network(path)
    spec = ckpt.spec
    flops = count_flops(network, size, size, spec.input.num_channels)
    return {
        "path": str(path),
        "arch": spec.arch,
        "description": spec.description,
        "parameters": count_parameters(network),
        "flops": flops,
        "flops_input": [size, size],
        "flops_convention": "2 x multiply-adds of convolutions and matrix products",
        "classes": list(spec.classes),
        "box_type": spec.box_type,
        "input": to_dict(spec.input),
        "tile_size": spec.tile_size,
        "overlap": spec.overlap,
        "postprocess": to_dict(spec.postprocess()),
        "arch_config": ckpt.arch_config,
        "provenance": ckpt.provenance,
    }
