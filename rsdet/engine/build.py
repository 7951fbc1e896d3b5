"""The network and its :class:`~rsdet.models.spec.ModelSpec`, built from a recipe.

Every architecture's config has ``num_classes`` and ``in_channels``; the engine fills them
in from the data's class list and the input bands, so a recipe never repeats them (and a
recipe that states them differently is an error rather than a silent mismatch).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rsdet.config import ConfigError
from rsdet.engine.recipe import ModelRecipe
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import ModelSpec

__all__ = [
    "arch_config",
    "build_training_network",
    "init_from_checkpoint",
    "model_spec",
    "network_config",
]


def arch_config(model: ModelRecipe, classes: tuple[str, ...]) -> dict[str, Any]:
    """The architecture config dict with ``num_classes`` and ``in_channels`` filled in."""
    config = dict(model.config)
    for key, value in (("num_classes", len(classes)), ("in_channels", model.input.num_channels)):
        if key in config and config[key] != value:
            raise ConfigError(
                f"model.config.{key}: {config[key]!r}, but the data and input bands give {value}"
            )
        config[key] = value
    return config


def network_config(model: ModelRecipe, classes: tuple[str, ...]) -> Any:
    """The architecture's typed config (``num_classes`` and ``in_channels`` filled in).

    Raises:
        CheckpointError: unknown architecture.
        ConfigError: a key the architecture does not know, or a wrong value; the message
            names ``model.config.<key>``.
    """
    from rsdet.models.zoo import architecture

    entry = architecture(model.arch)
    try:
        return entry.config(arch_config(model, classes))
    except ConfigError as err:
        raise ConfigError(f"model.config: {err}") from None


def build_training_network(
    model: ModelRecipe, classes: tuple[str, ...]
) -> tuple[DetectorNetwork[Any], dict[str, Any]]:
    """Build the (untrained) network; returns it and the config dict it was built from.

    Weights files the config names (DCFL's ImageNet backbone) are read here, for training
    only: the model zoo never reads them, as checkpoints carry every weight.

    Raises:
        ConfigError: unknown architecture, a config key the architecture rejects, or a
            ``box_type`` the architecture does not predict.
        RsdetError: pretrained weights named in the config cannot be read.
    """
    from rsdet.models.zoo import architecture

    typed = network_config(model, classes)
    try:
        network = architecture(model.arch).build(typed, True)
    except ConfigError as err:
        raise ConfigError(f"model.config: {err}") from None
    if network.box_type != model.box_type:
        raise ConfigError(
            f"model.box_type: {model.box_type}, but {model.arch} predicts {network.box_type}"
        )
    return network, arch_config(model, classes)


def init_from_checkpoint(network: nn.Module, arch: str, source: str) -> tuple[int, list[str]]:
    """Copy the weights of checkpoint ``source`` (a path or packaged name) into ``network``.

    This is fine-tuning (a recipe's ``model.init``); ``arch`` is the network's architecture.

    Tensors are matched by name and shape. Those that do not match keep their fresh
    initialisation: a class layer for another number of classes, and the training-only
    branches that deployed checkpoints leave out (RS-TinyNet's auxiliary branch).

    Returns:
        The number of tensors copied, and the names of those left fresh.

    Raises:
        RsdetError: the checkpoint cannot be found or read.
        ConfigError: it holds another architecture, or no tensor fits.
    """
    from rsdet.models.checkpoint import read_checkpoint
    from rsdet.models.zoo import resolve_model_path

    path = resolve_model_path(source)
    ckpt = read_checkpoint(path)
    if ckpt.spec.arch != arch:
        raise ConfigError(
            f"model.init: {path} holds a {ckpt.spec.arch} network, the recipe trains {arch}"
        )
    own = network.state_dict()
    fits = {k: v for k, v in ckpt.state_dict.items() if k in own and own[k].shape == v.shape}
    if not fits:
        raise ConfigError(f"model.init: no weight of {path} fits the network of model.config")
    network.load_state_dict(fits, strict=False)
    return len(fits), sorted(set(own) - set(fits))


def model_spec(model: ModelRecipe, classes: tuple[str, ...]) -> ModelSpec:
    """The metadata stored in the checkpoint."""
    return ModelSpec.from_defaults(model, model.arch, classes)
