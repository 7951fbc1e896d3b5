"""State-dict key names of timm, torchvision and TinyDet for the mobile backbones.

rsdet's modules carry timm's names (:mod:`.mbconv`), so a timm file loads as it is. The two
other namings are derived here from the network's table, block by block, following the
code that defines them:

* torchvision (``torchvision/models/mobilenetv3.py``, ``efficientnet.py``): the stem is
  ``features.0.{0 conv, 1 bn}``; a block's layers are numbered in order inside ``block``
  (``block.<i>.0`` conv, ``block.<i>.1`` BN, ``block.<i>.fc1/fc2`` SE). MobileNetV3 numbers
  its blocks flat (``features.1`` ... ``features.15``, then the 960 conv ``features.16``, the
  head ``classifier.0`` and ``classifier.3``, both ``nn.Linear``); EfficientNet numbers
  stages (``features.<stage + 1>.<block>``, head conv ``features.8``, ``classifier.1``).
* TinyDet (``hustvl/TinyDet: mmdet_extra/mobilenetv3_{bc,d}.py``): one flat ``blocks`` list
  with the stem at 0 (``blocks.0.{0,1}``); inside a block ``conv1/bn1`` expand,
  ``conv2/bn2`` depthwise, ``se.se.1/se.se.3`` SE, ``conv3/bn3`` project (``BlockE1`` has no
  ``conv1/bn1``); the stride-64 blocks continue the list; the ImageNet head is ``conv2``
  (960), ``linear3`` (an ``nn.Linear`` 960 -> 1280) and ``linear4``.

No timm, torchvision or TinyDet file can be read here. The MobileNetV3-Large names and
shapes of timm and torchvision are checked against published parameter tables
(``tests/models/backbones/fixtures``), EfficientNet's against entries of published
``efficientnet_b1`` (timm) and ``efficientnet_b2`` (torchvision) tables, TinyDet's only
against its code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from rsdet.errors import InputError
from rsdet.models.backbones.mbconv import ConvSpec, MBConvNet, NetSpec, stage_out

__all__ = ["Naming", "convert_state_dict", "detect_naming", "key_map", "load_weights"]

Naming = Literal["timm", "torchvision", "tinydet"]

# Sub-modules of a block in forward order, rsdet (= timm) names; "se" expands to two convs.
_PARTS = {
    "ds": ("conv_dw", "bn1", "se", "conv_pw", "bn2"),
    "ir": ("conv_pw", "bn1", "conv_dw", "bn2", "se", "conv_pwl", "bn3"),
    "conv": ("conv", "bn1"),
}
_TINYDET = {  # rsdet sub-module -> TinyDet's, per block kind
    "ds": {"conv_dw": "conv2", "bn1": "bn2", "conv_pw": "conv3", "bn2": "bn3"},
    "ir": {
        "conv_pw": "conv1",
        "bn1": "bn1",
        "conv_dw": "conv2",
        "bn2": "bn2",
        "conv_pwl": "conv3",
        "bn3": "bn3",
    },
}


def _blocks(spec: NetSpec) -> Iterator[tuple[str, str, bool, tuple[int, int] | None]]:
    """(rsdet path, kind, has SE, (stage, index) or None for the stride-64 blocks) per block."""
    c, c_tap = spec.stem, spec.stem
    for s, stage in enumerate(spec.stages):
        if isinstance(stage, ConvSpec):
            yield f"blocks.{s}.0", "conv", False, (s, 0)
        for j, b in enumerate(() if isinstance(stage, ConvSpec) else stage):
            yield f"blocks.{s}.{j}", "ds" if b.exp == c else "ir", b.se > 0, (s, j)
            c = b.out
        c = stage_out(c, stage)
        c_tap = c if s == spec.taps[-1] else c_tap
    c = c_tap  # the stride-64 blocks follow the stride-32 tap
    for j, b in enumerate(spec.extra):
        yield f"extra.{j}", "ds" if b.exp == c else "ir", b.se > 0, None
        c = b.out


def _torchvision_block(kind: str, se: bool) -> dict[str, str]:
    """Sub-module names inside one torchvision block (``block.<i>.0/1/fc1/fc2``), by ours."""
    if kind == "conv":
        return {"conv": "0", "bn1": "1"}
    out, layer = {}, 0
    for part in _PARTS[kind]:
        if part == "se":
            if se:
                out.update({"se.conv_reduce": f"block.{layer}.fc1"})
                out.update({"se.conv_expand": f"block.{layer}.fc2"})
                layer += 1
        elif part.startswith("conv"):
            out[part] = f"block.{layer}.0"
        else:  # the BN after that conv; the next conv starts a new layer
            out[part] = f"block.{layer}.1"
            layer += 1
    return out


def _torchvision(net: MBConvNet) -> Iterator[tuple[str, str]]:
    yield from (("conv_stem", "features.0.0"), ("bn1", "features.0.1"))
    flat = 0
    for path, kind, se, where in _blocks(net.spec):
        if where is None:
            continue  # torchvision has no stride-64 blocks
        flat += 1
        stage, index = where
        mnv3 = net.family == "mobilenetv3"
        prefix = f"features.{flat}" if mnv3 else f"features.{stage + 1}.{index}"
        for ours, theirs in _torchvision_block(kind, se).items():
            yield f"{path}.{ours}", f"{prefix}.{theirs}"
    if net.family == "mobilenetv3":
        yield from (("conv_head", "classifier.0"), ("classifier", "classifier.3"))
    else:
        head = f"features.{len(net.spec.stages) + 1}"
        yield from (("conv_head", f"{head}.0"), ("bn2", f"{head}.1"))
        yield ("classifier", "classifier.1")


def _tinydet(net: MBConvNet) -> Iterator[tuple[str, str]]:
    yield from (("conv_stem", "blocks.0.0"), ("bn1", "blocks.0.1"))
    flat = 0
    for path, kind, se, _ in _blocks(net.spec):
        if kind == "conv":
            yield from ((f"{path}.conv", "conv2.0"), (f"{path}.bn1", "conv2.1"))
            continue
        flat += 1
        for ours, theirs in _TINYDET[kind].items():
            yield f"{path}.{ours}", f"blocks.{flat}.{theirs}"
        if se:
            yield f"{path}.se.conv_reduce", f"blocks.{flat}.se.se.1"
            yield f"{path}.se.conv_expand", f"blocks.{flat}.se.se.3"
    yield from (("conv_head", "linear3.0"), ("classifier", "linear4"))


def _timm(net: MBConvNet) -> Iterator[tuple[str, str]]:
    yield from (("conv_stem", "conv_stem"), ("bn1", "bn1"))
    for path, kind, se, _ in _blocks(net.spec):
        for part in _PARTS[kind]:
            if part != "se":
                yield f"{path}.{part}", f"{path}.{part}"
            elif se:
                yield from ((f"{path}.se.conv_reduce",) * 2, (f"{path}.se.conv_expand",) * 2)
    head = ("conv_head",) if net.family == "mobilenetv3" else ("conv_head", "bn2")
    yield from ((m, m) for m in (*head, "classifier"))


def key_map(net: MBConvNet, naming: Naming) -> dict[str, str]:
    """Module paths of the whole network, rsdet's -> ``naming``'s.

    Every stage, the stride-64 blocks where the design has them and the ImageNet head are
    listed, whatever ``net`` builds.
    """
    pairs = {"timm": _timm, "torchvision": _torchvision, "tinydet": _tinydet}[naming](net)
    if naming == "tinydet" and net.family != "mobilenetv3":
        raise ValueError("TinyDet names exist for MobileNetV3 networks only")
    return dict(pairs)


def detect_naming(keys: list[str]) -> Naming | None:
    """Which naming a state dict uses, from its stem's key; None if none fits."""
    if "conv_stem.weight" in keys:
        return "timm"
    if "features.0.0.weight" in keys:
        return "torchvision"
    if "blocks.0.0.weight" in keys:
        return "tinydet"
    return None


def convert_state_dict(
    state: dict[str, Tensor], net: MBConvNet, naming: Naming
) -> tuple[dict[str, Tensor], list[str]]:
    """Rename ``state`` from ``naming`` to ``net``'s keys.

    Entries of layers ``net`` does not build (the head of a detection backbone, stages past
    its coarsest tap) are dropped; ``nn.Linear`` weights become 1x1 conv weights where
    ``net`` has a conv (torchvision's and TinyDet's MobileNetV3 head).

    Returns:
        The renamed state dict and the keys that fit no layer of the network (empty when
        the file is of this network).
    """
    modules = key_map(net, naming)
    theirs_to_ours = {theirs: ours for ours, theirs in modules.items()}
    own = net.state_dict()
    out, unknown = {}, []
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        ours = theirs_to_ours.get(module)
        if ours is None:
            unknown.append(key)
            continue
        target = own.get(f"{ours}.{leaf}")
        if target is not None and value.dim() == 2 and target.dim() == 4:
            value = value[:, :, None, None]  # Linear (out, in) -> 1x1 conv (out, in, 1, 1)
        if target is not None:
            out[f"{ours}.{leaf}"] = value
    return out, unknown


def load_weights(net: MBConvNet, path: str | Path, naming: Naming | None = None) -> None:
    """Load a timm, torchvision or TinyDet state-dict file into ``net`` (never downloads).

    The file may hold the state dict itself or ``{"state_dict": ...}``, keys may carry a
    ``module.`` prefix. Every layer ``net`` builds must be in the file except the stride-64
    blocks (TinyDet starts them from random weights too). A torchvision MobileNetV3 was
    trained with BN eps 1e-3: loading one sets that eps on every BN.

    Args:
        net: the network.
        path: the file.
        naming: the file's naming; None detects it from the stem's key.

    Raises:
        InputError: unreadable file, unknown naming, keys of another network, missing or
            misshapen weights (the message names the first offender).
    """
    path = Path(path)
    state = _read(path)
    naming = naming or detect_naming(list(state))
    if naming is None:
        raise InputError(f"{path}: not a timm, torchvision or TinyDet state dict of this net")
    converted, unknown = convert_state_dict(state, net, naming)
    if unknown:
        raise InputError(f"{path}: {len(unknown)} {naming} keys fit no layer, e.g. {unknown[0]}")
    own = net.state_dict()
    missing = [k for k in own if k not in converted and not k.startswith("extra.")]
    if missing:
        raise InputError(f"{path}: no weights for {len(missing)} entries, e.g. {missing[0]}")
    for key, value in converted.items():
        if value.shape != own[key].shape:
            shapes = f"{tuple(value.shape)} in the file, {tuple(own[key].shape)} here"
            raise InputError(f"{path}: {key} does not fit ({shapes})")
    net.load_state_dict(converted, strict=False)
    if naming == "torchvision" and net.family == "mobilenetv3":
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = 1e-3


def _read(path: Path) -> dict[str, Tensor]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for missing or corrupt files
        raise InputError(f"{path}: cannot read backbone weights ({type(err).__name__})") from err
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise InputError(f"{path}: not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}
