import json

import pytest
import torch
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.config import to_dict
from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.flops import count_flops, count_parameters
from rsdet.models.rs_tinynet import RSTinyNetConfig, build_rs_tinynet
from rsdet.models.spec import InputSpec, ModelSpec

runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = RSTinyNetConfig(num_classes=2, strides=(8, 16, 32))
    torch.manual_seed(0)
    network = build_rs_tinynet(cfg).deploy()
    spec = ModelSpec(
        arch="rs_tinynet",
        classes=("vehicle", "ship"),
        input=InputSpec(gsd_m=0.5),
        tile_size=512,
        description="synthetic test model",
    )
    provenance = {
        "recipe": {"epochs": 3, "optim": {"name": "adamw", "lr": 0.004}, "model": {"arch": "x"}},
        "data": "synthetic:?n=8",
        "epochs": 3,
        "metrics": {"AP": 0.25},
    }
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    write_checkpoint(path, Checkpoint(spec, to_dict(cfg), network.state_dict(), provenance))
    return path, network


def test_json_reports_counts_of_the_deployed_network(checkpoint):
    path, network = checkpoint
    result = runner.invoke(app, ["info", str(path), "--size", "64", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["parameters"] == count_parameters(network)
    assert info["flops"] == count_flops(network, 64, 64, 3) > 0
    assert info["flops_input"] == [64, 64]
    assert info["classes"] == ["vehicle", "ship"] and info["box_type"] == "hbox"
    assert info["input"]["gsd_m"] == 0.5 and info["input"]["bands"] == [1, 2, 3]
    assert info["tile_size"] == 512 and info["arch_config"]["strides"] == [8, 16, 32]
    assert info["provenance"]["metrics"] == {"AP": 0.25} and info["provenance"]["epochs"] == 3
    assert info["provenance"]["recipe"]["model"] == {"arch": "x"}  # --json keeps all of it


def test_human_output_names_the_facts(checkpoint):
    path, _ = checkpoint
    result = runner.invoke(app, ["info", str(path), "--size", "64"])
    assert result.exit_code == 0, result.output
    for fact in (
        "Parameters",
        "at 64 x 64 px",
        "2: vehicle, ship",
        "GSD 0.5 m",
        "AP=0.25",
        "epochs=3 optim=adamw lr=0.004",  # the stored recipe, shortened
    ):
        assert fact in result.stdout


def _one_line_error(result, *words):
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:")
    assert all(w in lines[0] for w in words)
    assert result.stdout == ""


def test_missing_file_is_a_one_line_error(tmp_path):
    missing = tmp_path / "nope.pt"
    _one_line_error(runner.invoke(app, ["info", str(missing)]), str(missing), "no such model")


def test_not_a_checkpoint_is_a_one_line_error(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    _one_line_error(runner.invoke(app, ["info", str(junk)]), str(junk), "not a readable checkpoint")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    _one_line_error(runner.invoke(app, ["info", str(other)]), str(other), "not an rsdet checkpoint")


def test_weights_that_do_not_fit_are_a_one_line_error(tmp_path, checkpoint):
    _, network = checkpoint
    wrong = tmp_path / "wrong.pt"
    cfg = to_dict(RSTinyNetConfig(num_classes=2, strides=(8, 16, 32), size="s"))
    spec = ModelSpec(arch="rs_tinynet", classes=("vehicle", "ship"))
    write_checkpoint(wrong, Checkpoint(spec, cfg, network.state_dict()))
    _one_line_error(runner.invoke(app, ["info", str(wrong)]), str(wrong), "do not fit")
    bad_cfg = tmp_path / "bad_cfg.pt"
    write_checkpoint(bad_cfg, Checkpoint(spec, {"strides": [3]}, network.state_dict()))
    _one_line_error(runner.invoke(app, ["info", str(bad_cfg)]), str(bad_cfg), "strides")
