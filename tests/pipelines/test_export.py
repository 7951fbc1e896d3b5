"""``export_model`` and ``rsdet detect`` with its file: the same objects as the checkpoint."""

import numpy as np
import pytest
import shapely
from rsdet.pipelines.detect_models import OnnxRunner, load_runner
from rsdet.pipelines.detect_scene import detect_scene, detect_to_file
from rsdet.pipelines.export import export_model

from rsdet.errors import InputError, OutputExistsError
from rsdet.synthetic import make_scene, write_geotiff
from tests.export.toy import CLASSES, export_toy, register_toy

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    ckpt, files = export_toy(folder, "rsdet")
    scene = folder / "scene.tif"
    write_geotiff(make_scene(1, 300, "vehicles"), scene, gsd=0.5)
    return str(ckpt), str(files["rsdet"]), str(scene)


@pytest.fixture
def files(exported, monkeypatch):
    register_toy(monkeypatch)
    return exported


def assert_same_frames(a, b):
    """Same objects: each polygon has a twin of the same class within 1 mm, score within 1e-4."""
    assert len(a) == len(b) > 0
    dist = shapely.hausdorff_distance(np.asarray(a.geometry)[:, None], np.asarray(b.geometry)[None])
    dist += 1e9 * (a.class_id.to_numpy()[:, None] != b.class_id.to_numpy()[None])
    j = dist.argmin(axis=1)
    assert sorted(j) == list(range(len(a))) and dist.min(axis=1).max() < 1e-3  # metres
    assert np.abs(a.score.to_numpy() - b.score.to_numpy()[j]).max() < 1e-4


def test_detect_with_the_onnx_file_gives_the_checkpoints_objects(files, tmp_path):
    ckpt, onnx_file, scene = files
    runner = load_runner(onnx_file)
    assert isinstance(runner, OnnxRunner) and runner.classes == CLASSES
    assert (runner.tile_size, runner.overlap, runner.gsd_m) == (128, 32, 0.5)
    assert runner.identity["path"].endswith("toy_rsdet.onnx")
    assert_same_frames(detect_scene(scene, ckpt), detect_scene(scene, onnx_file))
    summary = detect_to_file([scene], tmp_path / "out.gpkg", onnx_file, quiet=True)
    assert summary.objects > 0


def test_an_existing_output_is_refused_before_any_work(tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match=r"model\.onnx: already exists \(pass --overwrite"):
        export_model("no-such-model", out)
    assert out.read_bytes() == b"keep"


def test_overwrite_replaces_the_file(files, tmp_path):
    ckpt, onnx_file, _ = files
    out = tmp_path / "copy.onnx"
    out.write_bytes(open(onnx_file, "rb").read())
    summary = export_model(ckpt, out, overwrite=True, tile_size=256)
    assert summary["tile_size"] == 256 and out.read_bytes() != open(onnx_file, "rb").read()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"fmt": "tflite"}, "--format tflite: unknown"), ({"target": "qgis"}, "--target qgis")],
)
def test_unknown_formats_and_targets(tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        export_model("trees", tmp_path / "m.onnx", **kwargs)
