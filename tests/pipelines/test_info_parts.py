"""``rsdet info``'s per-part breakdown: parameters and multiply-adds of each named part."""

import json
from dataclasses import replace

import pytest
import torch
from rsdet.cli.main import app
from rsdet.pipelines.info import describe_model
from torch import nn
from typer.testing import CliRunner

from rsdet.config import to_dict
from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.dcfl import DCFLConfig, build_dcfl
from rsdet.models.flops import count_flops, count_macs_by_part, count_parameters
from rsdet.models.rs_tinynet import RSTinyNetConfig, build_rs_tinynet
from rsdet.models.spec import ModelSpec
from rsdet.models.tinydet import SIZES, build_tinydet


def _checkpoint(tmp_path, arch, cfg, network, classes=2):
    path = tmp_path / f"{arch}.pt"
    spec = ModelSpec(arch=arch, classes=tuple(f"c{i}" for i in range(classes)))
    write_checkpoint(path, Checkpoint(spec, to_dict(cfg), network.deploy().state_dict(), {}))
    return path


def _rows(info):
    return {row["name"]: row for row in info["parts"]}


def test_parts_of_a_shared_module_nested_and_outside_work():
    conv = nn.Conv2d(2, 3, 3, padding=1)  # 3 x 2 x 9 = 54 multiply-adds per pixel, biased

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, 2, 1, bias=False)  # 2 per pixel
            self.head = nn.Sequential(conv)

        def forward(self, x):
            y = self.stem(x)
            return self.head(y) + self.head(y), (y.flatten(1) @ y.flatten(1).T)  # head twice

    net, x = Net(), torch.zeros(1, 1, 4, 4)
    parts = {"stem": net.stem, "head": net.head, "head.0": conv}
    macs = count_macs_by_part(net, (x,), parts)
    outside = 32  # the (1, 32) x (32, 1) product in forward, in no part
    assert macs == {"": 16 * 2 + 2 * 16 * 54 + outside, "stem": 32, "head": 1728, "head.0": 1728}
    biased = count_macs_by_part(net, (x,), parts, conv_bias=True)
    assert biased["head"] == 1728 + 2 * 3 * 16 and biased["stem"] == 32
    assert biased[""] == macs[""] + 96


@pytest.mark.parametrize(("size", "paper"), [("s", (347.48, 63.77, 16.17, 67.58))])
def test_tinydet_parts_reproduce_the_paper_rows(tmp_path, size, paper):
    cfg = replace(SIZES[size], num_classes=80)
    path = _checkpoint(tmp_path, "tinydet", cfg, build_tinydet(cfg, load_weights=False), 80)
    info = describe_model(str(path), 320)
    rows = _rows(info)
    for name, mflops in zip(("backbone", "neck", "rpn", "rcnn"), paper, strict=True):
        assert rows[name]["macs_conv_bias"] / 1e6 == pytest.approx(mflops, rel=0.01), name
    assert info["macs_conv_bias"] / 1e6 == pytest.approx(495, rel=0.01)  # Table 9
    # rsdet's own FLOPs are twice the multiply-adds without the bias additions
    assert info["flops"] == 2 * info["macs"]
    top = [r for r in info["parts"] if "." not in r["name"]]
    assert sum(r["macs"] for r in top) == info["macs"]  # nothing is done outside the parts
    assert sum(r["parameters"] for r in top) == info["parameters"]
    stages = [r for r in info["parts"] if r["name"].startswith("backbone.")]
    assert [r["name"] for r in stages][:3] == [
        "backbone.conv_stem",
        "backbone.bn1",
        "backbone.blocks.0",
    ]
    assert stages[-1]["name"] == "backbone.extra"  # the stride-64 stage
    assert sum(r["macs"] for r in stages) == rows["backbone"]["macs"]
    assert sum(r["parameters"] for r in stages) == rows["backbone"]["parameters"]


@pytest.mark.parametrize("arch", ["rs_tinynet", "dcfl"])
def test_one_stage_detectors_name_backbone_neck_head(tmp_path, arch):
    if arch == "rs_tinynet":
        cfg = RSTinyNetConfig(num_classes=2, strides=(8, 16, 32))
        net = build_rs_tinynet(cfg)
        names = ["backbone", "attention", "neck", "head"]
    else:
        cfg = DCFLConfig(num_classes=2, backbone="csp-n", neck_channels=64, feat_channels=64)
        net = build_dcfl(cfg)
        names = ["backbone", "neck", "head"]
    info = describe_model(str(_checkpoint(tmp_path, arch, cfg, net)), 128)
    top = [r for r in info["parts"] if "." not in r["name"]]
    assert [r["name"] for r in top] == names
    assert all(r["macs"] > 0 for r in top if r["name"] != "attention" or cfg.mdca)
    assert sum(r["macs"] for r in top) == info["macs"] == count_flops(net, 128, 128, 3) // 2
    assert sum(r["parameters"] for r in top) == info["parameters"] == count_parameters(net)
    stages = [r["name"] for r in info["parts"] if r["name"].startswith("backbone.")]
    n = len(net.backbone.stages)  # a CSP backbone: the stem, then one entry per stage
    assert stages == ["backbone.stem", *(f"backbone.stages.{i}" for i in range(n))] and n >= 3


def test_cli_prints_parts_and_json_carries_them(tmp_path):
    cfg = replace(SIZES["s"], num_classes=2)
    path = _checkpoint(tmp_path, "tinydet", cfg, build_tinydet(cfg, load_weights=False))
    runner = CliRunner()
    text = runner.invoke(app, ["info", str(path), "--size", "128"])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    parts = next(line for line in lines if line.startswith("Parts "))
    assert "at 128 x 128 px" in parts and "rpn" in parts and "rcnn" in parts
    assert any(line.startswith("Stages ") and "backbone.blocks.0" in line for line in lines)
    result = runner.invoke(app, ["info", str(path), "--size", "128", "--json"])
    info = json.loads(result.stdout)
    assert [r["name"] for r in info["parts"] if "." not in r["name"]] == [
        "backbone",
        "neck",
        "rpn",
        "rcnn",
    ]
    assert info["macs"] > 0 and info["macs_conv_bias"] > info["macs"]
