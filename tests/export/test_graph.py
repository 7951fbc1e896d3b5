"""Raw outputs as export sees them: flat tensors in a recorded layout, rebuilt for decode."""

import pytest
import torch

from rsdet.export.errors import ExportError
from rsdet.export.graph import (
    RawOutputs,
    export_form,
    flatten_raw,
    raw_layout,
    raw_type,
    unflatten_raw,
)
from rsdet.export.metadata import RawField
from rsdet.models.dcfl import DCFLConfig, DCFLRaw, build_dcfl
from rsdet.models.ops import ModulatedDeformConv2d
from rsdet.models.rs_tinynet import RSTinyNetConfig, RSTinyNetRaw, build_rs_tinynet
from rsdet.models.spec import Postprocess

pytestmark = pytest.mark.usefixtures("one_thread")


def _dcfl():
    torch.manual_seed(0)
    cfg = DCFLConfig(num_classes=2, backbone="csp-n", neck_channels=16, feat_channels=16)
    return build_dcfl(cfg, load_weights=False).eval()


def test_dcfl_raw_layout_flattens_and_rebuilds_for_decode():
    net = _dcfl()
    with torch.no_grad():
        raw = net(torch.randn(1, 3, 64, 96))
    layout = raw_layout(raw)
    assert layout == (RawField("cls_logits", 5), RawField("deltas", 5))
    flat = RawOutputs(net)(torch.randn(1, 3, 64, 96))
    assert len(flat) == 10 and all(isinstance(t, torch.Tensor) for t in flat)
    rebuilt = unflatten_raw(flatten_raw(raw), layout, raw_type(net))
    assert isinstance(rebuilt, DCFLRaw)
    post = Postprocess(score_thr=0.0, max_det=50)
    a, b = net.decode(raw, (64, 96), post)[0], net.decode(rebuilt, (64, 96), post)[0]
    assert len(a) == 50 and torch.equal(a.boxes.tensor, b.boxes.tensor)


def test_tensor_fields_stay_tensors():
    torch.manual_seed(0)
    net = build_rs_tinynet(RSTinyNetConfig(num_classes=2)).deploy().eval()
    with torch.no_grad():
        raw = net(torch.randn(1, 3, 64, 64))
    layout = raw_layout(raw)
    assert layout == (RawField("cls_logits"), RawField("boxes"))
    assert raw_type(net) is RSTinyNetRaw
    rebuilt = unflatten_raw(flatten_raw(raw), layout, RSTinyNetRaw)
    assert torch.equal(rebuilt.boxes, raw.boxes) and torch.equal(rebuilt.cls_logits, raw.cls_logits)


def test_a_layout_that_does_not_fit_the_raw_class_is_refused():
    t = [torch.zeros(1)] * 2
    with pytest.raises(ExportError, match="do not match RSTinyNetRaw"):
        unflatten_raw(t, (RawField("logits"), RawField("boxes")), RSTinyNetRaw)
    with pytest.raises(ExportError, match="4 outputs do not match"):
        unflatten_raw(t * 2, (RawField("cls_logits"), RawField("boxes", 2)), RSTinyNetRaw)
    with pytest.raises(ExportError, match="not a NamedTuple"):
        raw_layout((torch.zeros(1),))
    with pytest.raises(ExportError, match="neither a tensor"):
        raw_layout(RSTinyNetRaw(torch.zeros(1), [1, 2]))


def test_export_form_uses_gather_sampling_and_restores():
    net = _dcfl()
    layers = [m for m in net.modules() if isinstance(m, ModulatedDeformConv2d)]
    assert len(layers) == 2
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = net(x)
        with export_form(net):
            assert all(m.sampler == "gather" for m in layers)
            during = net(x)
    assert all(m.sampler == "grid_sample" for m in layers)
    for a, b in zip(flatten_raw(before), flatten_raw(during), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
