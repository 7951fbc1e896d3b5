"""Build networks from checkpoints, and find the models that ship inside the package.

``ARCHITECTURES`` is a plain table from the architecture name stored in a checkpoint to
the function that builds the network from its config dict. It is the one place where a
string picks a class, because a self-describing checkpoint has to name its architecture;
everywhere else models are composed in code.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from torch import nn

from rsdet.models.checkpoint import CheckpointError, read_checkpoint
from rsdet.models.detector import Detector
from rsdet.models.layers import fuse_conv_bn

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_MODEL",
    "PACKAGED_MODELS",
    "build_network",
    "load_model",
    "resolve_model_path",
]


def _build_dcfl(config: dict[str, Any]) -> nn.Module:
    from rsdet.config import from_dict
    from rsdet.models.dcfl import DCFLConfig, build_dcfl

    return build_dcfl(from_dict(DCFLConfig, config), load_backbone_weights=False)


def _build_rs_tinynet(config: dict[str, Any]) -> nn.Module:
    from rsdet.config import from_dict
    from rsdet.models.rs_tinynet import RSTinyNet, RSTinyNetConfig

    return RSTinyNet(from_dict(RSTinyNetConfig, config))


# name -> builder(config dict) -> nn.Module. Builders import lazily so that loading one
# architecture does not import the others.
ARCHITECTURES: dict[str, Callable[[dict[str, Any]], nn.Module]] = {
    "dcfl": _build_dcfl,
    "rs_tinynet": _build_rs_tinynet,
}

# Models shipped in rsdet/weights/, by the name users type after --model.
PACKAGED_MODELS: dict[str, str] = {"trees": "trees.pt"}
DEFAULT_MODEL = "trees"


def build_network(arch: str, arch_config: dict[str, Any]) -> nn.Module:
    """Instantiate the network ``arch`` from its config dict (weights not loaded)."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES)) or "none"
        raise CheckpointError(f"unknown architecture {arch!r} (known: {known})") from None
    return builder(arch_config)


def resolve_model_path(path_or_name: str | Path) -> Path:
    """Map a packaged model name (``trees``, ``default``) or a file path to a file path.

    Raises:
        CheckpointError: neither an existing file nor a packaged model name.
    """
    name = str(path_or_name)
    if name == "default":
        name = DEFAULT_MODEL
    if name in PACKAGED_MODELS:
        ref = resources.files("rsdet") / "weights" / PACKAGED_MODELS[name]
        return Path(str(ref))
    path = Path(path_or_name)
    if path.is_file():
        return path
    known = ", ".join(sorted(PACKAGED_MODELS)) or "none"
    raise CheckpointError(f"{path}: no such model file or packaged model name (packaged: {known})")


def load_model(path_or_name: str | Path = DEFAULT_MODEL, device: str = "auto") -> Detector:
    """Load a checkpoint (file path or packaged model name) as a ready-to-run :class:`Detector`.

    Example:
        >>> model = load_model()  # the default tree-crown model shipped with rsdet
        >>> boxes, scores, labels = model.predict(rgb_uint8_array)
    """
    path = resolve_model_path(path_or_name)
    ckpt = read_checkpoint(path)
    network = build_network(ckpt.spec.arch, ckpt.arch_config)
    deploy = getattr(network, "deploy", None)
    if callable(deploy):
        # Checkpoints hold inference weights: training-only branches are dropped first.
        deploy()
    try:
        network.load_state_dict(ckpt.state_dict)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the architecture ({first})") from err
    fuse_conv_bn(network.eval())  # inference only from here on: BatchNorm folds into the convs
    return Detector(network, ckpt.spec, device=device)
