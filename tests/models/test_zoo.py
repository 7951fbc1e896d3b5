"""Checkpoints rebuild their network through the typed architecture table."""

import pytest
import torch

from rsdet.config import to_dict
from rsdet.models.checkpoint import Checkpoint, CheckpointError, write_checkpoint
from rsdet.models.dcfl import DCFLConfig, build_dcfl
from rsdet.models.spec import ModelSpec
from rsdet.models.zoo import architecture, load_model

SMALL_DCFL = DCFLConfig(num_classes=1, backbone="csp-n", neck_channels=16, feat_channels=16)


def _write(path, arch_config, state_dict):
    spec = ModelSpec(arch="dcfl", classes=("ship",), box_type="rbox", iou_thr=0.4)
    write_checkpoint(path, Checkpoint(spec, arch_config, state_dict))
    return path


def test_dcfl_checkpoint_from_before_the_thresholds_moved_to_the_spec_still_loads(tmp_path):
    torch.manual_seed(0)
    net = build_dcfl(SMALL_DCFL)
    old = dict(to_dict(SMALL_DCFL), test={"nms_pre": 2000, "score_thr": 0.05})
    det = load_model(_write(tmp_path / "old.pt", old, net.state_dict()), device="cpu")
    assert det.postprocess.iou_thr == 0.4  # the spec's, as it always was at run time


def test_a_config_key_the_architecture_does_not_know_names_the_file(tmp_path):
    bad = dict(to_dict(SMALL_DCFL), widht=3)
    with pytest.raises(CheckpointError, match=r"bad\.pt: invalid architecture config"):
        load_model(_write(tmp_path / "bad.pt", bad, {}), device="cpu")


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(CheckpointError, match=r"unknown architecture 'yolo' \(known: dcfl"):
        architecture("yolo")
