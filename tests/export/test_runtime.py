"""Running an exported file: same objects as the checkpoint, one-line refusals otherwise."""

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from rsdet.pipelines.export import export_model

from rsdet import load_model
from rsdet.errors import InputError
from rsdet.export.metadata import write_props
from rsdet.export.onnx_export import ExportOptions, export_onnx
from rsdet.export.runtime import load_onnx
from rsdet.models.detector import Detector
from rsdet.synthetic import make_scene
from tests.export.dcfl_model import dcfl_with_objects
from tests.export.toy import export_toy, register_toy

pytestmark = pytest.mark.usefixtures("one_thread")


def assert_same_objects(a, b, box_tol=1e-3, score_tol=1e-4):
    """Equal detections up to float rounding; equal scores may come in either order."""
    assert len(a) == len(b) and len(a) > 0
    ta, tb = a.boxes.tensor.double(), b.boxes.tensor.double()
    diff = (ta[:, None, :4] - tb[None, :, :4]).abs().amax(-1)  # (N, N) box distances
    diff += 1e9 * (a.labels[:, None] != b.labels[None, :])  # a box may come once per class
    j = diff.argmin(dim=1)
    assert sorted(j.tolist()) == list(range(len(a)))  # a one-to-one pairing
    assert diff.min(dim=1).values.max() <= box_tol
    if ta.shape[1] == 5:  # theta modulo pi
        d = (ta[:, 4] - tb[j, 4]).abs()
        assert torch.minimum(d, (torch.pi - d).abs()).max() <= box_tol
    assert (a.scores.double() - b.scores[j].double()).abs().max() <= score_tol
    assert torch.equal(a.labels, b.labels[j])


def standardised(image, spec):
    unit = image.transpose(2, 0, 1) / np.float32(255)
    mean, std = spec.input.standardisation()
    return ((unit - mean[:, None, None]) / std[:, None, None]).astype(np.float32)[None]


def tiny_onnx(path, opset=18, props=None):
    node = helper.make_node("Relu", ["images"], ["out"])
    io = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 32, 32])
        for n in ("images", "out")
    ]
    model = helper.make_model(helper.make_graph([node], "g", io[:1], io[1:]))
    model.opset_import[0].version = opset
    model.ir_version = 8
    for key, value in (props or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_toy(tmp_path_factory.mktemp("toy"), "rsdet", "deepness")


@pytest.fixture
def toy_files(exported, monkeypatch):
    register_toy(monkeypatch)
    ckpt, files = exported
    return ckpt, files["rsdet"], files["deepness"]


def test_same_objects_as_the_checkpoint_on_padded_tiles(toy_files):
    ckpt, path, _ = toy_files
    model = load_onnx(path)
    detector = load_model(ckpt, device="cpu")
    image = make_scene(0, 150, "vehicles").image  # 150 px: padded to 160 on both paths
    x = standardised(image, detector.spec)
    want = detector.predict_batch(x, standardised=True)[0]
    got = model.predict_batch(x)[0]
    assert_same_objects(want, got)
    assert got.boxes.tensor[:, 0::2].max() <= 150  # clipped to the tile, not to the padding


def test_decoding_holds_no_weights(toy_files):
    model = load_onnx(toy_files[1])
    params = list(model.network.parameters())
    assert params and all(p.device.type == "meta" for p in params)


def test_a_file_without_rsdet_metadata_is_refused(tmp_path):
    path = tiny_onnx(tmp_path / "other.onnx")
    with pytest.raises(InputError, match=r"other\.onnx: no rsdet metadata \(not written by rsdet"):
        load_onnx(path)


def test_an_opset_the_runtime_lacks_names_the_fix(tmp_path):
    path = tiny_onnx(tmp_path / "new.onnx", opset=30)
    with pytest.raises(InputError) as err:
        load_onnx(path)
    message = str(err.value)
    assert message.startswith(f"{path}: its ONNX opset is newer than onnxruntime")
    assert "pip install -U onnxruntime" in message and "--opset 2" in message
    assert "\n" not in message


def test_deepness_files_and_unknown_architectures_are_refused(tmp_path, toy_files):
    _, _, deepness = toy_files
    with pytest.raises(InputError, match=r"deepness\.onnx: exported for Deepness.*--target"):
        load_onnx(deepness)
    props = write_props(load_onnx(toy_files[1]).metadata)
    props["rsdet_spec"] = props["rsdet_spec"].replace('"arch": "toy"', '"arch": "yolo99"')
    path = tiny_onnx(tmp_path / "yolo.onnx", props=props)
    with pytest.raises(InputError, match=r"yolo\.onnx: cannot rebuild its decoding \(unknown arch"):
        load_onnx(path)
    with pytest.raises(InputError, match=r"missing\.onnx: no such model file"):
        load_onnx(tmp_path / "missing.onnx")
    assert json.loads(props["rsdet_format"]) == "rsdet-onnx/1"


@pytest.mark.slow
def test_the_tree_model_gives_the_same_trees(tmp_path):
    export_model("trees", tmp_path / "trees.onnx")
    model = load_onnx(tmp_path / "trees.onnx")
    detector = load_model("trees", device="cpu")
    for seed, size in ((0, 1024), (1, 700)):
        x = standardised(make_scene(seed, size, "trees").image, detector.spec)
        want = detector.predict_batch(x, standardised=True)[0]
        assert_same_objects(want, model.predict_batch(x)[0])


@pytest.mark.slow
def test_dcfl_gives_the_same_oriented_boxes(tmp_path):
    network, spec, config = dcfl_with_objects()
    export_onnx(network, spec, config, tmp_path / "dcfl.onnx", ExportOptions())
    model = load_onnx(tmp_path / "dcfl.onnx")
    detector = Detector(network, spec, device="cpu")
    x = standardised(make_scene(3, 320, "mixed").image, spec)
    want = detector.predict_batch(x, standardised=True)[0]
    assert len(want) > 100
    assert_same_objects(want, model.predict_batch(x)[0])
