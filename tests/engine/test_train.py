"""The training loop: determinism, exact resume, checkpoints that load, failure modes."""

import csv
import os
import signal

import pytest
import torch

from rsdet.config import ConfigError, from_dict
from rsdet.engine.recipe import TrainRecipe
from rsdet.engine.train import TrainingError, train
from rsdet.models.checkpoint import read_checkpoint
from rsdet.models.zoo import load_model
from rsdet.synthetic import make_scene
from tests.engine.fake_network import FakeNet, register_fake, tiny_recipe_dict


@pytest.fixture(autouse=True)
def _fake(monkeypatch):
    register_fake(monkeypatch)


def recipe(**changes) -> TrainRecipe:
    return from_dict(TrainRecipe, tiny_recipe_dict(**changes))


def weights(path) -> dict[str, torch.Tensor]:
    state = read_checkpoint(path).train_state
    return state["model"] | {f"ema.{k}": v for k, v in state["ema"]["weights"].items()}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_same_seed_gives_identical_weights_and_another_seed_does_not(tmp_path):
    r = recipe(**{"model.config.dropout": 0.2})
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    train(r, tmp_path / "a")
    train(r, tmp_path / "b")
    train(recipe(seed=1, **{"model.config.dropout": 0.2}), tmp_path / "c")
    assert_same(weights(tmp_path / "a/last.pt"), weights(tmp_path / "b/last.pt"))
    a, c = weights(tmp_path / "a/last.pt"), weights(tmp_path / "c/last.pt")
    assert not all(torch.equal(a[k], c[k]) for k in a)


# Mid-epoch in the main process, and at the last batch of an epoch with loader workers.
@pytest.mark.parametrize(("stop_at", "workers"), [(3, 0), (4, 2)])
def test_ctrl_c_then_resume_reaches_the_uninterrupted_weights(
    tmp_path, monkeypatch, stop_at, workers
):
    r = recipe(epochs=3, workers=workers, **{"model.config.dropout": 0.2})
    (tmp_path / "full").mkdir()
    (tmp_path / "cut").mkdir()
    train(r, tmp_path / "full")

    original = FakeNet.forward

    def interrupting(self, images, targets=None):
        if self.training and self.calls + 1 == stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
        return original(self, images, targets)

    monkeypatch.setattr(FakeNet, "forward", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train(r, tmp_path / "cut")
    monkeypatch.setattr(FakeNet, "forward", original)
    saved = read_checkpoint(tmp_path / "cut/last.pt").train_state["position"]
    assert saved[2] == stop_at  # iterations done: the interrupted one was finished
    result = train(r, tmp_path / "cut", resume=True)
    assert result.iterations == 3 * 2
    assert_same(weights(tmp_path / "full/last.pt"), weights(tmp_path / "cut/last.pt"))
    rows = (tmp_path / "cut/metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3"]


def test_checkpoint_is_self_describing_and_loads_for_inference(tmp_path):
    result = train(recipe(**{"eval.interval": 2}), tmp_path)
    assert result.epochs == 2 and result.best_epoch == 2
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert rows[0]["val_AP50"] == "" and rows[1]["val_AP50"] != ""  # validated at epoch 2 only
    assert {p.name for p in tmp_path.iterdir()} == {"last.pt", "best.pt", "metrics.csv"}
    best = read_checkpoint(tmp_path / "best.pt")
    assert best.train_state is None
    assert best.spec.classes == ("vehicle",) and best.spec.arch == "fake"
    assert best.spec.tile_size == 128 and best.spec.overlap == 16
    assert best.arch_config["num_classes"] == 1 and best.arch_config["in_channels"] == 3
    assert not any(k.startswith("aux") for k in best.state_dict)  # deployed weights
    assert best.provenance["data"]["train"].startswith("synthetic:")
    assert best.provenance["metrics"]["AP50"] is not None
    model = load_model(tmp_path / "best.pt", device="cpu")
    boxes, scores, labels = model.predict(make_scene(3, 96, "vehicles").image)
    assert boxes.shape[1] == 4 and len(scores) == len(labels)


def test_oriented_targets_reach_the_network(tmp_path, monkeypatch):
    seen = []
    original = FakeNet.forward

    def spy(self, images, targets=None):
        if targets is not None:
            seen.extend(targets)
        return original(self, images, targets)

    monkeypatch.setattr(FakeNet, "forward", spy)
    train(recipe(epochs=1, **{"model.box_type": "rbox", "model.config.oriented": True}), tmp_path)
    assert seen and all(t.boxes.tensor.shape[1] == 5 for t in seen)
    assert sum(len(t) for t in seen) > 0


def test_nan_loss_stops_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(
        FakeNet,
        "forward",
        lambda self, x, t=None: {"heat": torch.tensor(float("nan"), requires_grad=True)},
    )
    with pytest.raises(TrainingError, match="loss became nan at iteration 0"):
        train(recipe(), tmp_path)


def test_validation_metric_must_exist(tmp_path):
    with pytest.raises(ConfigError, match=r"eval.metric: 'mAP' is not a coco metric"):
        train(recipe(epochs=1, **{"eval.metric": "mAP"}), tmp_path)


def test_training_without_validation_keeps_the_latest_weights_as_best(tmp_path):
    result = train(recipe(epochs=1, **{"data.val": None}), tmp_path)
    assert result.best_score is None
    assert (tmp_path / "best.pt").is_file()


def test_unknown_architecture_and_conflicting_class_count_are_config_errors(tmp_path):
    with pytest.raises(Exception, match="unknown architecture 'nope'"):
        train(recipe(**{"model.arch": "nope"}), tmp_path)
    with pytest.raises(ConfigError, match=r"model.config.num_classes: 3, but the data .* give 1"):
        train(recipe(**{"model.config.num_classes": 3}), tmp_path)
    with pytest.raises(ConfigError, match=r"model.config: unknown key widht"):
        train(recipe(**{"model.config.widht": 3}), tmp_path)


def test_validation_data_with_other_classes_is_refused(tmp_path):
    other = "synthetic:?n=1&size=200&kind=trees"
    with pytest.raises(ConfigError, match=r"data\.val: classes \['tree'\] differ .*\['vehicle'\]"):
        train(recipe(**{"data.val": other}), tmp_path)


def test_dense_validation_images_under_coco_get_a_warning(tmp_path):
    notes = []

    class Notes:
        def begin(self, title, total, done):
            pass

        def advance(self, fields):
            pass

        def note(self, message):
            notes.append(message)

    dense = "synthetic:?n=1&size=1024&seed=2&kind=vehicles"
    train(
        recipe(epochs=1, **{"data.val": dense, "data.windows_per_epoch": 4}),
        tmp_path,
        reporter=Notes(),
    )
    assert any("more than 100 objects" in n and "aitod allows 1500" in n for n in notes)
    assert notes[-1].startswith("epoch 1: ")


def test_sigterm_saves_and_stops_like_ctrl_c(tmp_path, monkeypatch):
    original = FakeNet.forward

    def terminated(self, images, targets=None):
        if self.training and self.calls + 1 == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what a cluster sends at the end of a job
        return original(self, images, targets)

    monkeypatch.setattr(FakeNet, "forward", terminated)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        train(recipe(), tmp_path)
    assert read_checkpoint(tmp_path / "last.pt").train_state["position"][2] == 2
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is put back
