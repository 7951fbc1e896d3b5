"""``rsdet finetune``'s pipeline: hold-out split, AOI, schedule, the checkpoint it writes,
one-line errors for bad input, and that fine-tuning lifts the hold-out AP50."""

import numpy as np
import pytest
import shapely
import torch
from rsdet.pipelines.finetune import (
    MIN_ITERATIONS,
    FinetuneOptions,
    _fit_iterations,
    _split,
    _zoom,
    run_finetune,
)

from rsdet import load_model
from rsdet.engine.aoi import AOI_KEY
from rsdet.errors import InputError, OutputExistsError
from rsdet.models.checkpoint import read_checkpoint
from rsdet.structures import Sample
from tests.engine.fake_network import register_fake
from tests.pipelines.finetune_scene import (
    fake_base_model,
    labelled_scene,
    to_map,
    write_geotiff,
    write_vectors,
)


@pytest.fixture
def base(tmp_path, monkeypatch):
    register_fake(monkeypatch)
    return fake_base_model(tmp_path / "base.pt")


def options(tmp_path, scene, labels, base, **changes):
    kw = dict(model=str(base), iterations=3, tile_size=64, batch_size=4, device="cpu",
              quiet=True)  # fmt: skip
    kw.update(changes)
    out = kw.pop("out", tmp_path / "tuned.pt")
    return FinetuneOptions([(scene, labels)], out, **kw)


def test_holdout_is_the_far_strip_of_the_aoi_with_a_quarter_of_the_objects():
    xs = np.arange(20) * 10.0 + 5
    polys = np.array([[[x - 2, 48], [x + 2, 48], [x + 2, 52], [x - 2, 52]] for x in xs])
    sample = Sample("s", 100, 220, polys, np.zeros(20))
    aoi = shapely.box(0, 0, 220, 100)  # wider than tall: the strip is on the right
    train, holdout = _split(sample, aoi, 0.25)
    assert holdout.bounds == (150.0, 0.0, 220.0, 100.0)  # halfway between x=145 and x=155
    assert train.intersection(holdout).area == 0 and train.union(holdout).equals(aoi)
    tall = Sample("t", 220, 100, polys[:, :, ::-1], np.zeros(20))
    _, strip = _split(tall, shapely.box(0, 0, 100, 220), 0.25)
    assert strip.bounds == (0.0, 150.0, 100.0, 220.0)  # taller than wide: the bottom
    assert _split(sample.subset(np.arange(3)), aoi, 0.25) == (aoi, None)  # too few to split


def test_time_budget_sets_the_iterations_with_a_floor():
    notes = []
    assert _fit_iterations(100.0, 0.5, notes) == 200 and notes == []
    assert _fit_iterations(-3.0, 0.5, notes) == MIN_ITERATIONS
    assert "room for 0 iterations" in notes[0]


def test_writes_a_checkpoint_detect_takes_with_the_base_spec(tmp_path, base):
    scene, labels, _ = labelled_scene(tmp_path)
    result = run_finetune(options(tmp_path, scene, labels, base))
    assert result.iterations == 3 and result.holdout_objects >= 2 and result.train_objects >= 5
    assert result.before_ap50 is not None and result.after_ap50 is not None
    tuned, original = read_checkpoint(result.out), read_checkpoint(base)
    assert tuned.train_state is None and tuned.provenance["finetune"]["iterations"] == 3
    assert tuned.spec.description.startswith("fake base; fine-tuned on scene (")
    same = {k: v for k, v in vars(tuned.spec).items() if k != "description"}
    assert same == {k: v for k, v in vars(original.spec).items() if k != "description"}
    model = load_model(result.out, device="cpu")
    assert model.classes == ("vehicle",)
    with pytest.raises(OutputExistsError, match=r"tuned\.pt: already exists; pass --overwrite"):
        run_finetune(options(tmp_path, scene, labels, base))


def test_an_aoi_file_limits_labels_and_training_to_it(tmp_path, base, monkeypatch):
    scene, labels, sample = labelled_scene(tmp_path, size=384)
    left = np.array([[[0, 0], [192, 0], [192, 384], [0, 384]]], float)
    aoi = write_vectors(tmp_path / "aoi.geojson", to_map(left))
    seen = {}

    def spy(recipe, run_dir, **kw):
        seen["samples"] = kw["data"][0].samples
        return real(recipe, run_dir, **kw)

    import rsdet.engine.train as engine_train

    real = engine_train.train
    monkeypatch.setattr(engine_train, "train", spy)
    run_finetune(options(tmp_path, scene, labels, base, aoi=aoi))
    (trained,) = seen["samples"]
    assert trained.meta[AOI_KEY].bounds[2] <= 192.0 + 1e-6
    assert 0 < len(trained) < len(sample) and np.all(trained.polygons.min(axis=1)[:, 0] < 192)


def test_bad_input_gives_one_line_errors_naming_the_file(tmp_path, base):
    scene, labels, sample = labelled_scene(tmp_path)
    geoms = to_map(sample.polygons)

    def fails(labels_path, match, **kw):
        with pytest.raises(InputError, match=match) as err:
            run_finetune(options(tmp_path, scene, labels_path, base, **kw))
        assert "\n" not in str(err.value)

    no_crs = write_vectors(tmp_path / "nocrs.gpkg", geoms, crs=None)
    fails(no_crs, r"nocrs\.gpkg: the labels have no CRS")
    empty = write_vectors(tmp_path / "empty.gpkg", [])
    fails(empty, r"empty\.gpkg: holds no label polygons for scene\.tif")
    far = [shapely.affinity.translate(g, 10000, 0) for g in geoms]
    fails(write_vectors(tmp_path / "far.gpkg", far), r"far\.gpkg: none of the .* overlaps it")
    cars = write_vectors(tmp_path / "cars.gpkg", geoms, **{"class": ["car"] * len(geoms)})
    fails(cars, r"cars\.gpkg: class 'car' is not one of the model's classes \(vehicle\)")
    few = write_vectors(tmp_path / "few.gpkg", geoms[:3])
    fails(few, r"few\.gpkg: 3 labelled objects with their centre inside the AOI are too few")
    aoi = write_vectors(tmp_path / "aoi.gpkg", [shapely.box(0, 0, 1, 1)], crs=None)
    fails(labels, r"aoi\.gpkg: the AOI has no CRS", aoi=aoi)
    nowhere = write_vectors(tmp_path / "nowhere.gpkg", [shapely.box(0, 0, 1, 1)])
    fails(labels, r"nowhere\.gpkg: the AOI does not overlap scene scene", aoi=nowhere)
    bare = write_geotiff(tmp_path / "bare.tif", sample.image, crs=None)
    with pytest.raises(InputError, match=r"bare\.tif: the scene has no CRS"):
        run_finetune(options(tmp_path, bare, labels, base))
    gray = write_geotiff(tmp_path / "gray.tif", sample.image[:, :, :1])
    with pytest.raises(InputError, match=r"gray\.tif: has 1 bands but the model reads bands"):
        run_finetune(options(tmp_path, gray, labels, base))


def test_finetuning_lifts_the_holdout_ap50(tmp_path, base, one_thread):
    """60 iterations of 8 tiles turn an untrained network into one that finds vehicles.

    An untrained base has no BatchNorm statistics worth keeping (they must follow the
    weights from scratch), so this one runs with ``train_bn``.
    """
    scene, labels, _ = labelled_scene(tmp_path, size=384)
    opts = options(tmp_path, scene, labels, base, iterations=60, lr=0.02, batch_size=8,
                   train_bn=True)  # fmt: skip
    result = run_finetune(opts)
    assert result.holdout_objects >= 5
    assert result.before_ap50 is not None and result.before_ap50 < 0.05
    assert result.after_ap50 is not None and result.after_ap50 > result.before_ap50 + 0.3
    weights = torch.load(result.out, weights_only=True)["state_dict"]
    assert any(not torch.equal(v, read_checkpoint(base).state_dict[k]) for k, v in weights.items())


def _bn_buffers(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}


def test_batchnorm_statistics_stay_the_base_models_unless_train_bn(tmp_path, base):
    """Windows blanked outside the AOI must not become the model's BatchNorm statistics."""
    scene, labels, _ = labelled_scene(tmp_path)
    original = read_checkpoint(base).state_dict
    assert len(_bn_buffers(original)) == 4  # the fake network's two BatchNorm layers
    frozen = read_checkpoint(run_finetune(options(tmp_path, scene, labels, base)).out)
    for key, value in _bn_buffers(frozen.state_dict).items():
        assert torch.equal(value, original[key]), key
    assert frozen.provenance["recipe"]["optim"]["freeze_bn"] is True
    # The BatchNorm affine weights still learn, as do the convolutions.
    assert not torch.equal(frozen.state_dict["body.1.weight"], original["body.1.weight"])
    moving = options(tmp_path, scene, labels, base, out=tmp_path / "moving.pt", train_bn=True)
    trained = read_checkpoint(run_finetune(moving).out).state_dict
    assert any(not torch.equal(v, original[k]) for k, v in _bn_buffers(trained).items())


def test_the_schedule_comes_from_the_time_budget(tmp_path, base):
    scene, labels, _ = labelled_scene(tmp_path)
    result = run_finetune(options(tmp_path, scene, labels, base, iterations=None, minutes=0.01))
    assert result.iterations == MIN_ITERATIONS and result.seconds_per_iteration > 0
    assert len(result.notes) == 1 and f"running {MIN_ITERATIONS}" in result.notes[0]


def test_scenes_are_trained_and_scored_at_the_model_gsd(tmp_path):
    scene, labels, _ = labelled_scene(tmp_path)  # 30 cm pixels
    from rsdet.datasets.geo import GeoOptions, read_geo

    (sample,) = read_geo(scene, GeoOptions(labels=labels, default_class="vehicle")).samples
    assert _zoom([sample], 0.1) == pytest.approx(3.0, rel=1e-3)  # rsdet detect upsamples 3x
    assert _zoom([sample], 0.31) == 1.0 and _zoom([sample], None) == 1.0  # within 10 %: as is
    other = sample.subset(np.arange(len(sample)))
    other.meta["transform"] = (0.1, 0.0, 500000.0, 0.0, -0.1, 4000000.0)
    with pytest.raises(InputError, match=r"scenes at different pixel sizes .*separately"):
        _zoom([sample, other], 0.1)
