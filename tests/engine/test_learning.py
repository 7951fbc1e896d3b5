"""RS-TinyNet learns on synthetic scenes through the engine: AP rises from zero.

The fast variant (CI) trains for 60 iterations of 8 tiles of 96 px; the slow one runs the
packaged ``rs_tinynet_synthetic`` recipe end to end through ``rsdet train``.
"""

import time
from pathlib import Path

import pytest
import torch
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.config import from_dict
from rsdet.engine.build import build_training_network, model_spec
from rsdet.engine.recipe import EvalConfig, TrainRecipe
from rsdet.engine.train import train
from rsdet.engine.validate import validate
from rsdet.models.zoo import load_model
from rsdet.synthetic import SyntheticSpec, make_samples

VAL = "synthetic:?n=6&size=256&seed=1&kind=vehicles"


def recipe(**changes) -> TrainRecipe:
    r = {
        "model": {"arch": "rs_tinynet", "config": {"size": "n"}},
        "data": {
            "train": "synthetic:?n=16&size=256&seed=0&kind=vehicles",
            "val": VAL,
            "tile_size": 96,
            "windows_per_epoch": 100,
            "object_bias": 0.8,
        },
        "optim": {"name": "adamw", "lr": 0.004, "weight_decay": 0.05},
        "schedule": {"warmup_iters": 10, "warmup_ratio": 0.01},
        "epochs": 6,
        "batch_size": 8,
        "workers": 0,
        "device": "cpu",
        "ema": {"decay": 0.999, "tau": 20},
        "eval": {
            "metric": "AP50",
            "score_thr": 0.01,
            "max_det": 300,
            "interval": 6,
            "precise_bn": 6,
        },
        "output": {"tensorboard": False},
    }
    r.update(changes)
    return from_dict(TrainRecipe, r)


def untrained_ap50(r: TrainRecipe) -> float:
    torch.manual_seed(r.seed)
    network, _ = build_training_network(r.model, ("vehicle",))
    samples = make_samples(SyntheticSpec(n=6, size=256, seed=1, kind="vehicles"))
    cfg = EvalConfig(score_thr=0.01, max_det=300)
    return validate(
        network, model_spec(r.model, ("vehicle",)), samples, cfg, torch.device("cpu")
    ).metrics["AP50"]


def test_sixty_iterations_lift_ap50_from_zero(tmp_path, one_thread):
    r = recipe()
    before = untrained_ap50(r)
    tic = time.perf_counter()
    result = train(r, tmp_path)
    print(f"AP50 {before:.3f} -> {result.metrics['AP50']:.3f} in {time.perf_counter() - tic:.0f} s")
    assert before < 0.01
    assert result.metrics["AP50"] > 0.25


@pytest.mark.slow
def test_packaged_synthetic_recipe_learns_through_the_cli(tmp_path: Path):
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--recipe",
            "rs_tinynet_synthetic",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    model = load_model(out / "best.pt", device="cpu")
    best = torch.load(out / "best.pt", weights_only=True)["provenance"]["metrics"]
    assert best["AP50"] > 0.6 and model.classes == ("vehicle",)
