"""The tile screener in ``rsdet detect``: it never changes what the detector finds on the
tiles it passes, counts what it rejects, resumes the same, and refuses bad files."""

import numpy as np
import pyogrio
import pytest
import rasterio
import rasterio.enums
import torch
from rsdet.cli.main import app
from rsdet.pipelines.detect_models import load_runner
from rsdet.pipelines.detect_plan import thumbnail_reader
from rsdet.pipelines.detect_scene import (
    DetectOptions,
    _open_scenes,
    _resolve,
    detect_to_file,
)
from rsdet.pipelines.detect_units import plan_scene, run_batches
from typer.testing import CliRunner

from rsdet.classify import ClassifierConfig, TileClassifier, save_classifier
from rsdet.classify.nets import TinyCNN
from rsdet.classify.screen import DEFAULT_THRESHOLD, Screener, load_screener
from rsdet.errors import InputError, OutputExistsError
from tests.pipelines.detect_doubles import (
    Planted,
    PlantedDetector,
    register_planted,
    write_planted_checkpoint,
    write_scene,
)

# 200 x 280 px, 64 px tiles with 24 px overlap: 5 x 7 = 35 tiles, most of them empty.
HEIGHT, WIDTH, TILE, OVERLAP = 200, 280, 64, 24
OBJECTS = [
    Planted(10, 56, 10, 16, 0, 0.9),
    Planted(56, 56, 16, 16, 2, 0.6),
    Planted(150, 205, 15, 15, 1, 0.8),
]


def sees_objects(thumbs):
    """A screener double: "object" when a planted (bright) pixel is in the thumbnail."""
    return (thumbs[..., 0].reshape(len(thumbs), -1).max(axis=1) >= 60).astype(float)


def every_other(thumbs):
    """A screener double that rejects tiles by a pixel checksum: some tiles with objects too."""
    return np.array([float(int(t.astype(np.int64).sum()) % 2) for t in thumbs])


def screener(fn, threshold=0.5):
    return Screener(fn, TILE, threshold, identity=fn.__name__)


@pytest.fixture
def scene(tmp_path):
    """The planted scene, with noise in band 3 (the detector ignores it) so tiles differ."""
    path = tmp_path / "scene.tif"
    write_scene(path, HEIGHT, WIDTH, OBJECTS)
    noise = np.random.default_rng(0).integers(0, 50, (HEIGHT, WIDTH), dtype=np.uint8)
    with rasterio.open(path, "r+") as ds:
        ds.write(noise, 3)
    return str(path)


def layer(path):
    frame = pyogrio.read_dataframe(path, layer=path.stem)
    return frame.sort_values(["class_name", "score"]).reset_index(drop=True)


def per_tile(scene, screen):
    """Journal records of one scene, as ``{tile: detections}``, and the screened tiles."""
    opts = DetectOptions(TILE, OVERLAP, screen=screen)
    infos = _open_scenes([scene], False)
    runner = load_runner(PlantedDetector())
    run = _resolve(infos, runner, opts)
    plan = plan_scene(0, infos[0], runner, run)
    records = list(run_batches(infos[0], plan, list(range(len(plan.batches))), runner, run))
    found, screened = {}, []
    for r in records:
        screened += r.screened
        for t in np.unique(r.tile):
            m = r.tile == t
            found[int(t)] = (r.boxes[m].tolist(), r.scores[m].tolist(), r.labels[m].tolist())
    return found, sorted(screened), plan.tiles.valid


def test_a_screener_that_passes_every_tile_changes_nothing(tmp_path, scene):
    opts = DetectOptions(TILE, OVERLAP)
    plain = detect_to_file([scene], tmp_path / "a.gpkg", PlantedDetector(), opts, quiet=True)
    opts = DetectOptions(TILE, OVERLAP, screen=screener(lambda t: np.ones(len(t))))
    screened = detect_to_file([scene], tmp_path / "b.gpkg", PlantedDetector(), opts, quiet=True)
    assert layer(tmp_path / "a.gpkg").equals(layer(tmp_path / "b.gpkg"))
    assert screened.scenes[0].screened == 0
    assert (plain.objects, plain.scenes[0].detections) == (
        screened.objects,
        screened.scenes[0].detections,
    )


def test_detections_are_the_plain_runs_restricted_to_the_passed_tiles(scene):
    plain, none, valid = per_tile(scene, None)
    found, rejected, _ = per_tile(scene, screener(every_other))
    assert none == [] and 0 < len(rejected) < len(valid)
    assert set(rejected) & set(plain)  # it does reject tiles that hold objects
    passed = set(valid) - set(rejected)
    assert found == {t: d for t, d in plain.items() if t in passed}


def test_rejected_tiles_are_counted_and_never_reach_the_detector(tmp_path, scene):
    opts = DetectOptions(TILE, OVERLAP)
    plain = detect_to_file([scene], tmp_path / "a.gpkg", PlantedDetector(), opts, quiet=True)
    double = PlantedDetector()
    opts = DetectOptions(TILE, OVERLAP, screen=screener(sees_objects))
    summary = detect_to_file([scene], tmp_path / "b.gpkg", double, opts, quiet=True)
    s = summary.scenes[0]
    assert s.tiles == 35 and s.skipped == 0
    assert 20 < s.screened < 35
    assert len(double.calls) == s.tiles - s.screened
    assert summary.to_dict()["scenes"][0]["screened"] == s.screened
    # only empty tiles were rejected: the same layer
    assert summary.objects == plain.objects == len(OBJECTS)
    assert layer(tmp_path / "a.gpkg").equals(layer(tmp_path / "b.gpkg"))


def looks_of(scene, screen):
    """The screener's looks at every batch of the scene, as the run makes them."""
    infos = _open_scenes([scene], False)
    runner = load_runner(PlantedDetector())
    run = _resolve(infos, runner, DetectOptions(TILE, OVERLAP, screen=screen))
    plan = plan_scene(0, infos[0], runner, run)
    reader = thumbnail_reader(infos[0], run.bands[0], plan.tiles, plan.batches, run.screen)
    with reader() as look:
        return [look(b) for b in range(len(plan.batches))]


def test_with_overviews_thumbnails_come_from_decimated_reads(tmp_path, scene):
    half = Screener(sees_objects, TILE // 2, 0.5, identity="half")
    full_reads = looks_of(scene, half)
    assert all(looks.raws is not None for looks in full_reads)  # no overviews: read in full
    opts = DetectOptions(TILE, OVERLAP)
    detect_to_file([scene], tmp_path / "a.gpkg", PlantedDetector(), opts, quiet=True)
    with rasterio.open(scene, "r+") as ds:
        ds.build_overviews([2], rasterio.enums.Resampling.average)
    decimated = looks_of(scene, half)
    assert all(looks.raws is None for looks in decimated)  # a 32 px look at the 2x level
    for a, b in zip(full_reads, decimated, strict=True):  # the same picture, +-1 rounding
        assert np.abs(a.thumbs.astype(int) - b.thumbs.astype(int)).max() <= 1
    double = PlantedDetector()
    opts = DetectOptions(TILE, OVERLAP, screen=half)
    summary = detect_to_file([scene], tmp_path / "b.gpkg", double, opts, quiet=True)
    assert 20 < summary.scenes[0].screened < 35
    assert len(double.calls) == 35 - summary.scenes[0].screened
    assert layer(tmp_path / "a.gpkg").equals(layer(tmp_path / "b.gpkg"))


def test_resume_gives_the_same_layer_and_counts(tmp_path, scene):
    opts = DetectOptions(TILE, OVERLAP, batch_size=2, screen=screener(every_other))
    whole = detect_to_file([scene], tmp_path / "a.gpkg", PlantedDetector(), opts, quiet=True)
    out = tmp_path / "b.gpkg"
    with pytest.raises(KeyboardInterrupt):
        detect_to_file([scene], out, PlantedDetector(fail_at=5), opts, quiet=True)
    with pytest.raises(OutputExistsError):
        detect_to_file([scene], out, PlantedDetector(), opts, quiet=True)
    again = detect_to_file([scene], out, PlantedDetector(), opts, resume=True, quiet=True)
    assert again.scenes[0].screened == whole.scenes[0].screened > 0
    assert again.objects == whole.objects
    assert layer(tmp_path / "a.gpkg").equals(layer(out))


def test_resume_with_another_threshold_is_refused(tmp_path, scene):
    out = tmp_path / "b.gpkg"
    opts = DetectOptions(TILE, OVERLAP, screen=screener(every_other))
    with pytest.raises(KeyboardInterrupt):
        detect_to_file([scene], out, PlantedDetector(fail_at=2), opts, quiet=True)
    other = DetectOptions(TILE, OVERLAP, screen=screener(every_other), screen_thr=0.2)
    with pytest.raises(InputError):
        detect_to_file([scene], out, PlantedDetector(), other, resume=True, quiet=True)


def tiny_screener_file(path, classes=("empty", "object"), meta=None):
    torch.manual_seed(0)
    config = ClassifierConfig("tinynet-cnn", 32, widths=(4, 8))
    net = TinyCNN(config.widths, config.depthwise, len(classes)).eval()
    save_classifier(TileClassifier(config, classes, net=net, meta=meta or {}), path)
    return path


def test_a_classifier_file_screens_with_its_stored_threshold(tmp_path, scene):
    path = tiny_screener_file(tmp_path / "s.pt", meta={"screen_thr": 0.25})
    assert load_screener(path).threshold == 0.25
    assert load_screener(path, 0.1).threshold == 0.1
    bare = tiny_screener_file(tmp_path / "bare.pt")
    assert load_screener(bare).threshold == DEFAULT_THRESHOLD
    # a real (untrained) network at threshold 0 passes every tile: the same layer
    opts = DetectOptions(TILE, OVERLAP)
    detect_to_file([scene], tmp_path / "a.gpkg", PlantedDetector(), opts, quiet=True)
    opts = DetectOptions(TILE, OVERLAP, screen=str(path), screen_thr=0.0)
    summary = detect_to_file([scene], tmp_path / "b.gpkg", PlantedDetector(), opts, quiet=True)
    assert summary.scenes[0].screened == 0
    assert layer(tmp_path / "a.gpkg").equals(layer(tmp_path / "b.gpkg"))
    opts = DetectOptions(TILE, OVERLAP, screen=str(path), screen_thr=1.0)
    summary = detect_to_file([scene], tmp_path / "c.gpkg", PlantedDetector(), opts, quiet=True)
    assert summary.scenes[0].screened == 35 and summary.objects == 0


# --- the CLI ------------------------------------------------------------------------------
@pytest.fixture
def model(tmp_path, monkeypatch):
    register_planted(monkeypatch)
    return str(write_planted_checkpoint(tmp_path / "planted.pt"))


def one_error_line(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("kind", ["missing", "garbage", "no-object-class"])
def test_a_bad_screen_file_is_a_one_line_error(tmp_path, model, scene, kind):
    bad = tmp_path / "bad.pt"
    if kind == "garbage":
        bad.write_bytes(b"not a classifier")
    elif kind == "no-object-class":
        tiny_screener_file(bad, classes=("dark", "stripes"))
    args = [scene, "--out", tmp_path / "x.gpkg", "--model", model, "--screen", bad]
    result = CliRunner().invoke(app, ["detect", *map(str, args)])
    one_error_line(result, "bad.pt")
    assert not (tmp_path / "x.gpkg").exists()


def test_cli_screen_json_summary(tmp_path, model, scene):
    import json

    path = tiny_screener_file(tmp_path / "s.pt")
    out = tmp_path / "x.gpkg"
    args = [scene, "--out", out, "--model", model, "--screen", path, "--screen-thr", "1", "--json"]
    result = CliRunner().invoke(app, ["detect", *map(str, args)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    s = summary["scenes"][0]
    assert s["screened"] == s["tiles"] - s["skipped"] > 0
    assert summary["objects"] == 0
