"""dense_predictions: every prior's box and scores, of which decode keeps a subset."""

import math

import pytest
import torch

from rsdet.models.dcfl import DCFLConfig, build_dcfl
from rsdet.models.rs_tinynet import RSTinyNetConfig, build_rs_tinynet
from rsdet.models.spec import Postprocess
from tests.pipelines.detect_doubles import PlantedConfig, PlantedNet

pytestmark = pytest.mark.usefixtures("one_thread")


def _assert_decoded_rows_are_dense_rows(dets, boxes, scores, angle_col=None):
    """Every decoded detection is one dense row: same box, same score for its label."""
    for box, score, label in zip(dets.boxes.tensor, dets.scores, dets.labels, strict=True):
        diff = (boxes - box).abs()
        if angle_col is not None:  # theta is defined modulo pi
            d = diff[:, angle_col]
            diff[:, angle_col] = torch.minimum(d, (math.pi - d).abs())
        row = diff.amax(dim=1).argmin()
        assert diff[row].max() < 1e-4
        assert abs(float(scores[row, label] - score)) < 1e-6


def test_rs_tinynet_dense_rows_hold_what_decode_keeps():
    torch.manual_seed(0)
    net = build_rs_tinynet(RSTinyNetConfig(num_classes=2)).deploy().eval()
    with torch.no_grad():
        raw = net(torch.randn(1, 3, 64, 96))
    boxes, scores = net.dense_predictions(raw, (64, 96))
    n = raw.boxes.shape[1]
    assert boxes.shape == (1, n, 4) and scores.shape == (1, n, 2)
    assert boxes[..., 0::2].min() >= 0 and boxes[..., 0::2].max() <= 96
    assert boxes[..., 1::2].min() >= 0 and boxes[..., 1::2].max() <= 64
    dets = net.decode(raw, (64, 96), Postprocess(score_thr=0.0, max_det=30))[0]
    assert len(dets) == 30
    _assert_decoded_rows_are_dense_rows(dets, boxes[0], scores[0])


def test_dcfl_dense_rows_are_le90_and_hold_what_decode_keeps():
    torch.manual_seed(0)
    cfg = DCFLConfig(num_classes=3, backbone="csp-n", neck_channels=16, feat_channels=16)
    net = build_dcfl(cfg, load_weights=False).eval()
    torch.nn.init.normal_(net.head.reg_out.weight, std=0.5)  # varied sizes and angles
    with torch.no_grad():
        raw = net(torch.randn(2, 3, 64, 64))
    boxes, scores = net.dense_predictions(raw, (64, 64))
    n = sum(c.shape[-2] * c.shape[-1] for c in raw.cls_logits)
    assert boxes.shape == (2, n, 5) and scores.shape == (2, n, 3)
    assert (boxes[..., 2] >= boxes[..., 3]).all()  # le90: w >= h, theta in [-pi/2, pi/2)
    assert boxes[..., 4].min() >= -math.pi / 2 and boxes[..., 4].max() < math.pi / 2
    for i, dets in enumerate(net.decode(raw, (64, 64), Postprocess(score_thr=0.0, max_det=40))):
        assert len(dets) == 40
        _assert_decoded_rows_are_dense_rows(dets, boxes[i], scores[i], angle_col=4)


def test_a_network_without_a_dense_form_says_so():
    net = PlantedNet(PlantedConfig())
    with pytest.raises(NotImplementedError, match="PlantedNet gives no dense predictions"):
        net.dense_predictions(torch.zeros(1), (32, 32))
