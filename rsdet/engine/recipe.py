"""``TrainRecipe``: everything a training run needs, as typed frozen dataclasses.

A recipe is a YAML file (``pipelines/recipes/*.yaml``) read by :func:`load_recipe`: unknown
keys and wrong types are errors that name the file and the dotted key, and any value can be
overridden with ``key.sub=value`` strings (the CLI's ``--set``). The model section's
``config`` is the architecture's own config dict; it is checked by building the network
(:func:`rsdet.engine.model.build_training_network`), with ``num_classes`` and
``in_channels`` filled in from the data and the input bands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rsdet.config import ConfigError, load_yaml
from rsdet.models.spec import ModelDefaults

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "EMAConfig",
    "EvalConfig",
    "ModelRecipe",
    "OptimConfig",
    "OutputConfig",
    "ScheduleConfig",
    "TrainRecipe",
    "load_recipe",
]


@dataclass(frozen=True, kw_only=True)
class ModelRecipe(ModelDefaults):
    """The network, and the metadata stored with it (the :class:`ModelDefaults` fields).

    Attributes:
        arch: a key of ``rsdet.models.zoo.ARCHITECTURES`` (``rs_tinynet``, ``dcfl``).
        config: the architecture's config dict (``num_classes`` / ``in_channels`` may be
            left out: they come from the data and ``input.bands``). :func:`load_recipe`
            checks it against the architecture's config class.
        init: checkpoint file or packaged model name (``trees``) whose weights start the
            training (fine-tuning); None starts from scratch (or from the backbone weights a
            config names). See :func:`rsdet.engine.build.init_from_checkpoint`.

    ``box_type`` must be what the architecture predicts.
    """

    arch: str
    config: dict[str, Any] = field(default_factory=dict)
    init: str | None = None


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (probabilities in [0, 1]; jitter ranges as fractions).

    Attributes:
        hflip, vflip: probability of a horizontal / vertical flip.
        rot90: probability of a rotation by a random multiple of 90 degrees.
        scale: range of the zoom factor applied when a window is read (1 = native GSD).
        brightness, contrast, saturation, hue: colour jitter strengths (0 disables).
        color_p: probability of applying the colour jitter.
        white_balance: per-channel gain jitter, each band times ``1 +- white_balance``
            (a sensor's colour cast; 0 disables).
        gamma: gamma jitter, exponent in ``[1 - gamma, 1 + gamma]`` (0 disables).
        blur: largest Gaussian blur sigma, pixels (0 disables).
        sharpen: largest unsharp-mask strength in [0, 1] (0 disables).
        noise: largest Gaussian sensor noise, standard deviation as a fraction of the
            [0, 1] range (0 disables).
        shot_noise: largest Poisson (photon) noise scale (0 disables).
        jpeg_quality: lowest JPEG re-encode quality, 1-100 (100 disables).
        shadow: probability of dark polygonal shadow patches (0 disables).
        sensor_gsd_m: ``(low, high)`` ground sampling distance of a simulated sensor,
            metres; the tile is reduced to it and resampled back to the model's GSD (the
            detail such a sensor loses; crowns keep their pixel size, so the model's
            declared GSD stays true). None disables.
        degrade_p: probability of each degradation above but ``shadow`` (white balance,
            gamma, sensor GSD, blur or sharpen, noise, shot noise, JPEG), drawn independently.
    """

    hflip: float = 0.5
    vflip: float = 0.5
    rot90: float = 0.5
    scale: tuple[float, float] = (1.0, 1.0)
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    color_p: float = 0.5
    white_balance: float = 0.0
    gamma: float = 0.0
    blur: float = 0.0
    sharpen: float = 0.0
    noise: float = 0.0
    shot_noise: float = 0.0
    jpeg_quality: int = 100
    shadow: float = 0.0
    sensor_gsd_m: tuple[float, float] | None = None
    degrade_p: float = 0.3


@dataclass(frozen=True)
class DataConfig:
    """Where the training data comes from and how windows are cut from it.

    Attributes:
        train, val: dataset specs, ``FORMAT:PATH[?k=v]`` (``rsdet.datasets``) or
            ``synthetic:?n=64&size=512&seed=0&kind=mixed``; ``val`` may be None.
        tile_size: training window edge, pixels after scaling.
        windows_per_epoch: windows drawn per epoch; None covers every image once on
            average (the number of ``tile_size`` tiles over all images).
        object_bias: probability that a window is placed around a random object
            rather than anywhere in the image.
        min_visible: an object cut by the window edge keeps its clipped box but is flagged
            ignore when less than this fraction of its area remains inside.
        augment: flips, rotations, scale and colour jitter.
    """

    train: str
    val: str | None = None
    tile_size: int = 512
    windows_per_epoch: int | None = None
    object_bias: float = 0.7
    min_visible: float = 0.5
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser. Norm weights and biases (1-D parameters) never get weight decay.

    Attributes:
        name: ``sgd`` or ``adamw``.
        lr: peak learning rate (after warm-up) for the whole batch.
        momentum: SGD momentum, or AdamW's beta1.
        weight_decay: decoupled (AdamW) or L2 (SGD) weight decay of conv / linear weights.
        nesterov: Nesterov momentum (SGD only).
        grad_clip: clip the global gradient norm to this; None disables.
        freeze_bn: BatchNorm layers keep their running statistics (eval mode) while
            training; their affine weights still learn. For fine-tuning on few or partly
            blanked windows, whose statistics are not the scenes'.
    """

    name: Literal["sgd", "adamw"] = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.05
    nesterov: bool = False
    grad_clip: float | None = 10.0
    freeze_bn: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule: linear warm-up, then cosine decay or steps.

    Attributes:
        kind: ``cosine`` (to ``min_lr_ratio * lr`` at the last iteration) or ``step``
            (multiply by ``gamma`` at each epoch in ``milestones``).
        warmup_iters: iterations of linear warm-up (counted across epochs).
        warmup_ratio: learning-rate factor at iteration 0 of the warm-up.
        min_lr_ratio: final factor of the cosine schedule.
        milestones: epochs (0-based, counted from the start) at which ``step`` decays.
        gamma: factor per milestone.
    """

    kind: Literal["cosine", "step"] = "cosine"
    warmup_iters: int = 500
    warmup_ratio: float = 0.001
    min_lr_ratio: float = 0.05
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1


@dataclass(frozen=True)
class EMAConfig:
    """Exponential moving average of the weights (what checkpoints store and evaluate).

    Attributes:
        enabled: keep an EMA copy; off, the raw weights are evaluated and saved.
        decay: asymptotic decay per iteration.
        tau: ramp, iterations: the decay used is ``decay * (1 - exp(-updates / tau))`` so
            early, random weights are forgotten quickly.
    """

    enabled: bool = True
    decay: float = 0.9998
    tau: float = 2000.0


@dataclass(frozen=True)
class EvalConfig:
    """Validation during training.

    Attributes:
        protocol: ``rsdet.evaluation`` protocol (``coco``, ``aitod``, ``dota``, ``dior``...).
        interval: validate every this many epochs (and always after the last one).
        metric: the metric that picks ``best.pt`` (higher is better), e.g. ``AP``.
        score_thr, max_det: post-processing while validating (AP wants a low threshold).
        max_size: images larger than this (either side, pixels) are validated tile by tile
            with the model's ``tile_size`` / ``overlap``.
        precise_bn: before each validation (and after the last epoch), recompute the
            BatchNorm statistics of the evaluated weights over this many training batches
            (:mod:`rsdet.engine.precise_bn`); 0 keeps the running averages.
    """

    protocol: str = "coco"
    interval: int = 1
    metric: str = "AP"
    score_thr: float = 0.001
    max_det: int = 1500
    max_size: int = 2048
    precise_bn: int = 0


@dataclass(frozen=True)
class OutputConfig:
    """What a run writes.

    Attributes:
        dir: run folder (``last.pt``, ``best.pt``, ``metrics.csv``, ``recipe.yaml``).
        log_interval: iterations between progress / TensorBoard updates.
        tensorboard: also write TensorBoard events (when ``tensorboard`` is installed).
    """

    dir: str = "runs/train"
    log_interval: int = 10
    tensorboard: bool = True


@dataclass(frozen=True)
class TrainRecipe:
    """A complete training recipe (see the module docstring).

    Attributes:
        epochs: epochs to train.
        batch_size: windows per iteration (per process under ``torchrun``).
        workers: DataLoader worker processes (0 loads in the main process).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seeds weights, data order and augmentation; equal seeds give equal runs on CPU.
        amp: mixed precision (float16 autocast + gradient scaling) when on CUDA.
    """

    model: ModelRecipe
    data: DataConfig
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    epochs: int = 12
    batch_size: int = 8
    workers: int = 2
    device: str = "auto"
    seed: int = 0
    amp: bool = True
    ema: EMAConfig = field(default_factory=EMAConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        _check_positive(self)


def _check_positive(r: TrainRecipe) -> None:
    """Range checks the type checker cannot express; messages name the key."""
    checks = {
        "epochs": r.epochs >= 1,
        "batch_size": r.batch_size >= 1,
        "workers": r.workers >= 0,
        "data.tile_size": r.data.tile_size >= 16,
        "data.object_bias": 0 <= r.data.object_bias <= 1,
        "data.min_visible": 0 <= r.data.min_visible <= 1,
        "data.augment.scale": 0 < r.data.augment.scale[0] <= r.data.augment.scale[1],
        "data.augment.gamma": 0 <= r.data.augment.gamma < 1,
        "data.augment.white_balance": 0 <= r.data.augment.white_balance < 1,
        "data.augment.jpeg_quality": 1 <= r.data.augment.jpeg_quality <= 100,
        "data.augment.degrade_p": 0 <= r.data.augment.degrade_p <= 1,
        "optim.lr": r.optim.lr > 0,
        "schedule.warmup_iters": r.schedule.warmup_iters >= 0,
        "eval.interval": r.eval.interval >= 1,
        "eval.precise_bn": r.eval.precise_bn >= 0,
        "device": re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", r.device) is not None,
    }
    gsd = r.data.augment.sensor_gsd_m
    if gsd is not None:
        checks["data.augment.sensor_gsd_m"] = 0 < gsd[0] <= gsd[1]
        if r.model.input.gsd_m is None:  # nothing to resample back to
            raise ConfigError("data.augment.sensor_gsd_m: needs model.input.gsd_m")
    if r.data.windows_per_epoch is not None:
        checks["data.windows_per_epoch"] = r.data.windows_per_epoch >= 1
    bad = [key for key, ok in checks.items() if not ok]
    if bad:
        value = _lookup(r, bad[0])
        raise ConfigError(f"{bad[0]}: invalid value {value!r}")


def _lookup(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> TrainRecipe:
    """Read a recipe YAML file and apply ``key.sub=value`` overrides.

    Raises:
        ConfigError: unreadable file, unknown key, wrong type or out-of-range value; the
            message starts with the file name and names the dotted key.
    """
    recipe = load_yaml(TrainRecipe, path, overrides)
    _check_model_config(recipe.model, path)
    return recipe


def _check_model_config(model: ModelRecipe, path: str | Path) -> None:
    """Check ``model.config`` against its architecture now, not when training starts.

    An unknown ``model.arch`` is left to the build (architectures can be registered later).
    """
    from rsdet.models.zoo import ARCHITECTURES

    if model.arch not in ARCHITECTURES:
        return
    try:
        ARCHITECTURES[model.arch]().config(model.config)
    except ConfigError as err:
        raise ConfigError(f"{path}: model.config: {err}") from None
