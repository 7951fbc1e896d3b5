"""The detector contract: raw forward, then decode with thresholds passed in, never stored."""

import dataclasses

import numpy as np
import pytest
import torch

from rsdet.models.contract import DetectorNetwork
from rsdet.models.detector import Detector
from rsdet.models.rs_tinynet import RSTinyNetConfig, RSTinyNetRaw, build_rs_tinynet
from rsdet.models.spec import ModelSpec, Postprocess

pytestmark = pytest.mark.usefixtures("one_thread")


def _net():
    torch.manual_seed(0)
    return build_rs_tinynet(RSTinyNetConfig(num_classes=2)).deploy().eval()


def test_a_network_without_decode_cannot_be_built():
    class NoDecode(DetectorNetwork):
        size_divisor = 1
        box_type = "hbox"

        def forward(self, images, targets=None):
            return images

    with pytest.raises(TypeError, match="decode"):
        NoDecode()


def test_raw_forward_is_tensors_only_and_detect_is_decode_of_it():
    net = _net()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        raw = net(x)
    assert isinstance(raw, RSTinyNetRaw) and all(isinstance(t, torch.Tensor) for t in raw)
    post = Postprocess(score_thr=0.0, max_det=20)
    via_detect = net.detect(x, post)
    via_decode = net.decode(raw, (64, 96), post)
    for a, b in zip(via_detect, via_decode, strict=True):
        assert torch.equal(a.boxes.tensor, b.boxes.tensor) and torch.equal(a.scores, b.scores)


def test_decode_refuses_an_input_that_is_not_a_multiple_of_the_size_divisor():
    net = _net()
    with torch.no_grad():
        raw = net(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="multiple of 32"):
        net.decode(raw, (60, 64), Postprocess())


def test_thresholds_are_arguments_and_the_detector_is_never_changed():
    spec = ModelSpec(arch="rs_tinynet", classes=("a", "b"), score_thr=0.3, max_det=7)
    det = Detector(_net(), spec, device="cpu")
    assert det.postprocess == spec.postprocess()
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    loose = dataclasses.replace(det.postprocess, score_thr=0.0, max_det=50)
    many = det.predict(image, loose)
    few = det.predict(image)
    assert len(many.boxes) > len(few.boxes) and len(few.boxes) <= 7
    assert det.postprocess == spec.postprocess()  # the loose call left no trace
    assert not hasattr(det.network, "postprocess")
