"""Deep-Compress a model into an ``.rsdz`` file: the flow behind ``rsdet compress``.

::

    refuse an existing output and bad options, before any work
      -> the checkpoint's deployed network (BatchNorm not folded: it keeps training)
      -> validate (original)
      -> prune: magnitude masks (global or per layer), one shot or in steps, each step
         fine-tuned with the masks held, then BatchNorm recomputed -> validate (pruned)
      -> share: per-tensor linear-init k-means, codebooks fine-tuned, BatchNorm recomputed
      -> fold BatchNorm statistics into float16 scale/shift (--fold-bn) -> validate (quantized)
      -> Huffman-code into the .rsdz file, read it back, check it decodes bit-exactly
      -> the per-stage table (plain data) for the command to print
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import torch

from rsdet.compress.finetune import FinetuneConfig, finetune
from rsdet.compress.fold import fold_batchnorm_stats
from rsdet.compress.kmeans import SharedWeights
from rsdet.compress.prune import Masks, Scope, magnitude_masks, prunable
from rsdet.compress.report import Stage, format_table, huffman_stage, stage_bytes
from rsdet.config import ConfigError, from_dict
from rsdet.engine.data import TrainData, load_data
from rsdet.engine.recipe import DataConfig, EvalConfig, OptimConfig
from rsdet.engine.validate import validate
from rsdet.errors import InputError, OutputExistsError, RsdetError
from rsdet.models.checkpoint import Checkpoint
from rsdet.models.contract import DetectorNetwork
from rsdet.models.rsdz import read_rsdz, write_rsdz
from rsdet.models.zoo import load_network, resolve_model_path

__all__ = ["CompressError", "compress_model", "parse_bits"]

Log = Callable[[str], None]
Schedule = Literal["oneshot", "iterative"]


class CompressError(RsdetError):
    """The written file does not decode to the compressed weights (a bug, never expected)."""


def parse_bits(text: str) -> dict[str, int]:
    """``"conv=5,fc=5"`` -> ``{"conv": 5, "fc": 5}`` (1-8 bits; both keys needed).

    Raises:
        InputError: another key, a missing one, or a value outside 1-8.
    """
    out: dict[str, int] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip() not in ("conv", "fc") or not value.strip().isdigit():
            raise InputError(f"--bits {text}: expected conv=N,fc=N (N from 1 to 8)")
        out[key.strip()] = int(value)
    if set(out) != {"conv", "fc"} or not all(1 <= b <= 8 for b in out.values()):
        raise InputError(f"--bits {text}: expected conv=N,fc=N (N from 1 to 8)")
    return out


def compress_model(
    model: str,
    out: str | Path,
    *,
    prune: float = 0.8,
    scope: Scope = "global",
    schedule: Schedule = "oneshot",
    bits: dict[str, int] | None = None,
    min_weights: int = 4096,
    finetune_data: str | None = None,
    finetune_epochs: int = 2,
    val_data: str | None = None,
    lr: float | None = None,
    windows_per_epoch: int | None = None,
    precise_bn: int = 16,
    fold_bn: bool = True,
    device: str = "cpu",
    overwrite: bool = False,
    log: Log | None = None,
) -> dict[str, Any]:
    """Prune, share and Huffman-code ``model`` into the ``.rsdz`` file ``out``.

    Args:
        model: checkpoint file or packaged model name.
        out: the ``.rsdz`` file to write.
        prune: share of the prunable weights to remove, in [0, 1).
        scope: ``global`` (one magnitude threshold) or ``layer`` (same share per tensor).
        schedule: ``oneshot`` (prune, then fine-tune) or ``iterative`` (three steps to
            ``prune``, each fine-tuned).
        bits: codebook bits of conv (4-D) and fully connected (2-D) weights; default 5 / 5.
        min_weights: conv/linear tensors with fewer weights are not pruned (first conv,
            prediction convs).
        finetune_data: dataset spec to fine-tune on; None skips fine-tuning.
        finetune_epochs: epochs after each pruning step and after weight sharing.
        val_data: dataset spec scored (AP50) after each stage; None skips validation.
        lr: peak fine-tuning learning rate; default a tenth of the model's training lr.
        windows_per_epoch: training windows per epoch; default the model's recipe's.
        precise_bn: batches over which BatchNorm statistics are recomputed after each
            pruning step and after weight sharing (with ``finetune_data``; 0: never).
        fold_bn: after fine-tuning, fold each BatchNorm's statistics into a float16 scale
            and shift (:func:`~rsdet.compress.fold.fold_batchnorm_stats`); the quantized
            stage scores the folded network, which is what the file holds.
        device: where fine-tuning and validation run.
        overwrite: replace an existing ``out``.
        log: receives one line per step.

    Raises:
        RsdetError: an existing output, a bad option, unreadable model or data; one line.
    """
    started, say = time.perf_counter(), log or (lambda _: None)
    out, bits = Path(out), bits or {"conv": 5, "fc": 5}
    _check(out, overwrite, prune, finetune_epochs, min_weights)
    path = resolve_model_path(model)
    network, ckpt = load_network(path)
    network.to(torch.device(device))
    recipe = ckpt.provenance.get("recipe", {})
    evaluation = _eval_config(recipe)
    train = load_data(finetune_data, say) if finetune_data else None
    val = load_data(val_data, say) if val_data else None
    ft = _finetune_config(recipe, finetune_data, finetune_epochs, lr, windows_per_epoch)
    ft = replace(ft, precise_bn=precise_bn)
    score = _scorer(network, ckpt, val, evaluation, device, say)

    acct = _Accounting(network)
    stages = [acct.stage("original", acct.shapes, acct.full, score())]
    targets = prunable(network, min_weights)
    masks = _prune(network, ckpt, targets, prune, scope, schedule, train, ft, say)
    kept = {
        n: int(masks.masks[n].sum()) if n in masks.masks else acct.shapes[n] for n in acct.shapes
    }
    stages.append(acct.stage("pruned", kept, acct.full, score()))
    shared, value_bits = _share(network, ckpt, acct, masks, bits, train, ft, say)
    if fold_bn:
        say(f"folded {fold_batchnorm_stats(network)} BatchNorm layers into float16 scale/shift")
    stages.append(acct.stage("quantized", kept, value_bits, score()))

    settings = {
        "prune": prune, "scope": scope, "schedule": schedule, "bits": bits,
        "min_weights": min_weights, "finetune_data": finetune_data,
        "finetune_epochs": finetune_epochs, "val_data": val_data, "lr": ft.optim.lr,
        "windows_per_epoch": ft.data.windows_per_epoch, "precise_bn": precise_bn,
        "fold_bn": fold_bn,
    }  # fmt: skip
    state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
    provenance = {**ckpt.provenance, "compressed_from": str(path)}
    compressed = Checkpoint(ckpt.spec, ckpt.arch_config, state, provenance)
    stages.append(_write(out, compressed, shared, settings, stages, acct))
    _check_round_trip(out, state)
    report = {"settings": settings, "stages": [s.to_dict() for s in stages]}
    return {**report, "table": format_table(stages), "model": str(path), "out": str(out),
            "bytes": out.stat().st_size, "seconds": time.perf_counter() - started}  # fmt: skip


class _Accounting:
    """Sizes of a network's conv/linear weights and of everything else, for the table."""

    def __init__(self, network: DetectorNetwork[Any]) -> None:
        self.params = prunable(network, 0)  # every conv / linear weight
        self.shapes = {name: p.numel() for name, p in self.params.items()}
        self.full = {name: 32 for name in self.params}
        state = network.state_dict()
        self.others = sum(
            t.numel() * t.element_size() for n, t in state.items() if n not in self.params
        )
        self.original, _ = stage_bytes(self.shapes, self.shapes, self.full, self.others)

    def stage(
        self, name: str, kept: dict[str, int], bits: dict[str, int], metric: float | None
    ) -> Stage:
        """A row before entropy coding (see :func:`~rsdet.compress.report.stage_bytes`)."""
        size, per_weight = stage_bytes(self.shapes, kept, bits, self.others)
        total = sum(self.shapes.values())
        return Stage(
            name, sum(kept.values()), total, per_weight, size, self.original / size, metric
        )


def _share(
    network: DetectorNetwork[Any],
    ckpt: Checkpoint,
    acct: _Accounting,
    masks: Masks,
    bits: dict[str, int],
    train: TrainData | None,
    ft: FinetuneConfig,
    say: Log,
) -> tuple[SharedWeights, dict[str, int]]:
    """Weight sharing of every tensor larger than 4 codebooks, codebooks fine-tuned.

    Returns:
        The shared weights, and the bits per kept value of every conv/linear tensor (32 for
        the tensors left in float32).
    """
    params = acct.params
    value_bits = {name: bits["conv"] if p.ndim == 4 else bits["fc"] for name, p in params.items()}
    names = [n for n in params if acct.shapes[n] > 4 * 2 ** value_bits[n]]  # codebook << tensor
    shared = SharedWeights({n: params[n] for n in names}, masks.masks, value_bits)
    if train is not None:
        say(f"fine-tuning the shared weights, {ft.epochs} epochs")
        books, frozen = list(shared.codebooks.values()), [params[n] for n in names]
        finetune(network, ckpt.spec, train, ft, [shared], books, frozen, _epoch_log(say))
    return shared, {n: value_bits[n] if n in names else 32 for n in params}


def _write(
    out: Path,
    compressed: Checkpoint,
    shared: SharedWeights,
    settings: dict[str, Any],
    stages: list[Stage],
    acct: _Accounting,
) -> Stage:
    """Write the file with the table stored in it; returns the table's last row (the file).

    The last row holds the file's own size, so the table is rewritten until that size no
    longer changes. Only a number in the compressed header changes, but compressing it can
    move the size by a byte back and forth; then sizes near it are tried until one is a
    fixed point (the file is exactly as long as its table says), padding the header with a
    few bytes where none near it is one (seen on trees at 90 % pruning with --keep-bn).
    """
    coded = shared.export()
    sizes = write_rsdz(out, compressed, coded, {"settings": settings})
    kept, bits = huffman_stage(sizes, set(acct.params))
    total = sum(acct.shapes.values())

    def write(size: int, pad: int = 0) -> Stage:
        final = Stage("huffman", kept, total, bits, size, acct.original / size, stages[-1].metric)
        report = {"settings": settings, "stages": [s.to_dict() for s in [*stages, final]]}
        write_rsdz(out, compressed, coded, {**report, "pad": "x" * pad} if pad else report)
        return final

    size = out.stat().st_size
    for _ in range(3):
        final = write(size)
        if out.stat().st_size == size:
            return final
        size = out.stat().st_size
    for pad in range(16):  # padding the header moves its compressed size off a cycle
        for candidate in sorted(range(size - 8, size + 9), key=lambda c: abs(c - size)):
            final = write(candidate, pad)
            if out.stat().st_size == candidate:
                return final
    raise RuntimeError(f"{out}: the size of the file does not settle (a bug in rsdz)")


def _check(out: Path, overwrite: bool, prune: float, epochs: int, min_weights: int) -> None:
    """Refuse what would fail later, before any work."""
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists (pass --overwrite to replace it)")
    if not 0 <= prune < 1:
        raise InputError(f"--prune {prune}: the share of weights to remove must be in [0, 1)")
    if epochs < 0 or min_weights < 1:
        raise InputError("--finetune-epochs must be >= 0 and --min-weights >= 1")


def _eval_config(recipe: dict[str, Any]) -> EvalConfig:
    """The model's own validation settings (AP50 is reported); COCO-style without them."""
    try:
        stored = from_dict(EvalConfig, recipe["eval"]) if "eval" in recipe else EvalConfig()
    except ConfigError:
        stored = EvalConfig()
    return replace(stored, metric="AP50", precise_bn=0)


def _finetune_config(
    recipe: dict[str, Any], data: str | None, epochs: int, lr: float | None, windows: int | None
) -> FinetuneConfig:
    """The model's training windows and optimiser, at a tenth of its learning rate."""
    try:
        stored = from_dict(DataConfig, recipe["data"]) if "data" in recipe else None
        optim = from_dict(OptimConfig, recipe["optim"]) if "optim" in recipe else OptimConfig()
    except ConfigError:
        stored, optim = None, OptimConfig()
    cfg = replace(stored, train=data or "") if stored is not None else DataConfig(train=data or "")
    if windows is not None:
        cfg = replace(cfg, windows_per_epoch=windows)
    optim = replace(optim, lr=lr if lr is not None else optim.lr / 10)
    batch = int(recipe.get("batch_size", 8))
    return FinetuneConfig(cfg, optim, epochs, batch, int(recipe.get("seed", 0)))


def _scorer(
    network: DetectorNetwork[Any],
    ckpt: Checkpoint,
    val: TrainData | None,
    config: EvalConfig,
    device: str,
    say: Log,
) -> Callable[[], float | None]:
    """A function scoring the network as it is now (None without validation data)."""

    def score() -> float | None:
        if val is None:
            return None
        network.eval()
        result = validate(network, ckpt.spec, val.samples, config, torch.device(device))
        value = result.metrics.get("AP50")
        say(f"validation AP50: {value}")
        return None if value is None else float(value)

    return score


def _prune(
    network: DetectorNetwork[Any],
    ckpt: Checkpoint,
    targets: dict[str, torch.nn.Parameter],
    sparsity: float,
    scope: Scope,
    schedule: Schedule,
    train: TrainData | None,
    ft: FinetuneConfig,
    say: Log,
) -> Masks:
    """Masks reaching ``sparsity`` (in three steps when iterative), fine-tuned after each."""
    steps = [sparsity * f for f in (0.5, 0.75, 1.0)] if schedule == "iterative" else [sparsity]
    for step in steps:
        # magnitudes of the weights as they are now: pruned ones are 0 and stay pruned
        masks = Masks(targets, magnitude_masks(targets, step, scope))
        say(f"pruned to {100 * step:.0f}% sparsity: {masks.kept()} weights kept")
        if train is not None:
            finetune(network, ckpt.spec, train, ft, [masks], on_epoch=_epoch_log(say))
    return masks


def _epoch_log(say: Log) -> Callable[[int, float], None]:
    return lambda epoch, loss: say(f"  epoch {epoch}: loss {loss:.4f}")


def _check_round_trip(out: Path, state: dict[str, torch.Tensor]) -> None:
    """The file must decode to exactly the weights that were compressed."""
    decoded = read_rsdz(out).state_dict
    for name, tensor in state.items():
        if name not in decoded or not torch.equal(decoded[name], tensor):
            raise CompressError(f"{out}: {name} does not decode to the compressed weights")
