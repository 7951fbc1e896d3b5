"""Build networks from checkpoints, and find the models that ship inside the package.

``ARCHITECTURES`` is a plain table from the architecture name stored in a checkpoint to its
typed config class and the function that builds the network from that config. It is the
one place where a string picks a class, because a self-describing checkpoint has to name
its architecture; everywhere else models are composed in code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rsdet.config import ConfigError, from_dict
from rsdet.models.checkpoint import Checkpoint, CheckpointError, read_checkpoint
from rsdet.models.contract import DetectorNetwork
from rsdet.models.detector import Detector
from rsdet.models.layers import fuse_conv_bn

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_MODEL",
    "PACKAGED_MODELS",
    "Architecture",
    "architecture",
    "build_network",
    "load_model",
    "load_network",
    "resolve_model_path",
]


@dataclass(frozen=True)
class Architecture:
    """A network family: its config dataclass and its builder.

    Attributes:
        config_type: the frozen dataclass of the architecture's config (``arch_config``).
        build: ``build(config, load_weights)`` -> the untrained network. ``load_weights``
            reads weights files the config names (a pretrained backbone) for training; the
            zoo passes False, as a checkpoint carries every weight.
        legacy_keys: config keys that older checkpoints hold and that are now read
            elsewhere; they are dropped when reading a checkpoint, and refused in recipes.
    """

    config_type: type[Any]
    build: Callable[[Any, bool], DetectorNetwork[Any]]
    legacy_keys: frozenset[str] = frozenset()

    def config(self, data: Mapping[str, Any]) -> Any:
        """The typed config from plain data (ConfigError naming the key when wrong)."""
        return from_dict(self.config_type, data)


def _dcfl() -> Architecture:
    from rsdet.models.dcfl import DCFLConfig, build_dcfl

    # "test" held DCFL's thresholds before they moved to the ModelSpec; those checkpoints'
    # ModelSpec values are what ran, so dropping the key changes nothing.
    return Architecture(DCFLConfig, build_dcfl, frozenset({"test"}))


def _rs_tinynet() -> Architecture:
    from rsdet.models.rs_tinynet import RSTinyNetConfig, build_rs_tinynet

    return Architecture(RSTinyNetConfig, build_rs_tinynet)


def _tinydet() -> Architecture:
    from rsdet.models.tinydet import TinyDetConfig, build_tinydet

    return Architecture(TinyDetConfig, build_tinydet)


# name -> the architecture, looked up lazily so that loading one does not import the others.
ARCHITECTURES: dict[str, Callable[[], Architecture]] = {
    "dcfl": _dcfl,
    "rs_tinynet": _rs_tinynet,
    "tinydet": _tinydet,
}

# Models shipped in rsdet/weights/, by the name users type after --model.
PACKAGED_MODELS: dict[str, str] = {"trees": "trees.pt"}
DEFAULT_MODEL = "trees"


def architecture(arch: str) -> Architecture:
    """The architecture named ``arch``.

    Raises:
        CheckpointError: no such architecture.
    """
    try:
        entry = ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES)) or "none"
        raise CheckpointError(f"unknown architecture {arch!r} (known: {known})") from None
    return entry()


def build_network(
    arch: str, arch_config: Mapping[str, Any], load_weights: bool = False
) -> DetectorNetwork[Any]:
    """Instantiate the network ``arch`` from its config dict (weights not loaded).

    Raises:
        CheckpointError: unknown architecture.
        ConfigError: a config key the architecture does not know, or a wrong value.
    """
    entry = architecture(arch)
    config = {k: v for k, v in arch_config.items() if k not in entry.legacy_keys}
    return entry.build(entry.config(config), load_weights)


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


def load_network(path_or_name: str | Path) -> tuple[DetectorNetwork[Any], Checkpoint]:
    """The deployed network of a checkpoint (file path or packaged name), weights loaded.

    Raises:
        CheckpointError: no such model, an unreadable file, an architecture config that no
            longer builds, or weights that do not fit; the message names the file.
    """
    path = resolve_model_path(path_or_name)
    ckpt = read_checkpoint(path)
    try:
        network = build_network(ckpt.spec.arch, ckpt.arch_config)
    except ConfigError as err:
        raise CheckpointError(f"{path}: invalid architecture config ({err})") from err
    network.deploy()  # checkpoints hold inference weights: training-only parts go first
    try:
        network.load_state_dict(ckpt.state_dict)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the architecture ({first})") from err
    return network, ckpt


def load_model(path_or_name: str | Path = DEFAULT_MODEL, device: str = "auto") -> Detector:
    """Load a checkpoint (file path or packaged model name) as a ready-to-run :class:`Detector`.

    Example:
        >>> model = load_model()  # the default tree-crown model shipped with rsdet
        >>> boxes, scores, labels = model.predict(rgb_uint8_array)
    """
    network, ckpt = load_network(path_or_name)
    fuse_conv_bn(network.eval())  # inference only from here on: BatchNorm folds into the convs
    return Detector(network, ckpt.spec, device=device)
