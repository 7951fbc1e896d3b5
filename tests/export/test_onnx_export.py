"""Export: one file with its metadata, traced with free shapes, checked before it lands."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from rsdet.export.errors import ExportError, optional_module
from rsdet.export.metadata import RawField, read_props
from rsdet.export.onnx_export import ExportOptions, build_graph, check_file, export_onnx
from rsdet.models.zoo import load_network
from tests.export.toy import (
    ToyConfig,
    ToyNet,
    export_toy,
    register_toy,
    toy_spec,
    write_toy_checkpoint,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_toy(tmp_path_factory.mktemp("toy"), "rsdet")[1]["rsdet"]


@pytest.fixture
def toy(tmp_path, monkeypatch):
    register_toy(monkeypatch)
    network, ckpt = load_network(write_toy_checkpoint(tmp_path / "toy.pt"))
    return network.eval(), ckpt


def test_the_file_carries_its_metadata_and_runs_any_batch_and_size(tmp_path, toy):
    network, ckpt = toy
    out = tmp_path / "toy.onnx"
    result = export_onnx(network, ckpt.spec, ckpt.arch_config, out, ExportOptions())
    assert result.input_shape[:2] == ["batch", 3] and result.opset == 18
    assert list(result.outputs) == ["cls_logits_0", "cls_logits_1", "boxes"]
    assert result.max_abs_diff < 1e-3 and result.size_bytes == out.stat().st_size
    model = onnx.load(str(out))
    assert model.producer_name == "rsdet" and model.ir_version == 8  # lowest for opset 18
    meta = read_props({p.key: p.value for p in model.metadata_props}, out)
    assert meta.spec == ckpt.spec and meta.arch_config == ckpt.arch_config
    assert meta.outputs == (RawField("cls_logits", 2), RawField("boxes"))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, 96, 160)
    with torch.no_grad():
        want = network(x)
    got = session.run(None, {"images": x.numpy()})
    np.testing.assert_allclose(got[2], want.boxes.numpy(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(got[1], want.cls_logits[1].numpy(), rtol=1e-5, atol=1e-4)


def test_the_tile_size_is_stored_and_checked(tmp_path, toy):
    network, ckpt = toy
    out = tmp_path / "toy.onnx"
    export_onnx(network, ckpt.spec, ckpt.arch_config, out, ExportOptions(tile_size=200))
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["rsdet_spec"])["tile_size"] == 200
    with pytest.raises(ExportError, match="--tile-size 32: must exceed the model's overlap 32"):
        export_onnx(network, ckpt.spec, ckpt.arch_config, out, ExportOptions(tile_size=32))


def test_opsets_below_18_are_refused_with_the_fix(tmp_path, toy):
    network, ckpt = toy
    with pytest.raises(ExportError, match=r"--opset 17: .*writes opset 18 or newer.*--opset 18"):
        export_onnx(
            network, ckpt.spec, ckpt.arch_config, tmp_path / "x.onnx", ExportOptions(opset=17)
        )
    assert not (tmp_path / "x.onnx").exists()


def test_a_file_that_disagrees_with_torch_is_not_written(tmp_path, toy, exported, monkeypatch):
    network, ckpt = toy
    out = exported
    other = ToyNet(ToyConfig()).eval()  # other weights: the file must disagree with them
    graph = build_graph(other, ckpt.spec, {}, "rsdet")
    with pytest.raises(ExportError, match="differs from torch by"):
        check_file(out, graph)
    # Inside export_onnx the failed check leaves nothing behind, not even a temporary file.
    import rsdet.export.onnx_export as onnx_export

    def fail(path, graph):
        raise ExportError("ONNX Runtime's boxes differs from torch by 1 (allowed 0.1)")

    monkeypatch.setattr(onnx_export, "check_file", fail)
    with pytest.raises(ExportError):
        export_onnx(network, ckpt.spec, ckpt.arch_config, tmp_path / "new.onnx", ExportOptions())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.pt"]


class Branchy(ToyNet):
    def forward(self, images, targets=None):
        if images.mean() > 0:  # data-dependent control flow: torch.export cannot trace it
            images = images * 2
        return super().forward(images)


def test_a_network_torch_cannot_trace_is_one_line(tmp_path):
    net = Branchy(ToyConfig()).eval()
    with pytest.raises(
        ExportError, match=r"^torch could not export the network at opset 18: "
    ) as err:
        export_onnx(net, toy_spec(), {}, tmp_path / "x.onnx", ExportOptions())
    assert "\n" not in str(err.value)


def test_a_missing_optional_package_names_the_extra():
    with pytest.raises(ExportError, match=r"pip install 'rsdet\[onnx\]'"):
        optional_module("onnx_package_that_does_not_exist")
