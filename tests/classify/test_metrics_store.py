from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rsdet.classify import (
    BoVWConfig,
    ClassifierConfig,
    TrainConfig,
    confusion_png,
    load_classifier,
    save_classifier,
    score_report,
    train_classifier,
)
from rsdet.classify.data import TileSet
from rsdet.errors import InputError
from tests.classify.conftest import two_class_images


def test_report_counts_precision_recall_and_loss():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    r = score_report(scores, np.array([0, 1, 1, 1]), ("a", "b"), seconds=2.0)
    assert r.confusion == ((1, 0), (1, 2))
    assert r.accuracy == 0.75 and r.seconds_per_image == 0.5
    assert r.precision == (0.5, 1.0) and r.recall == (1.0, pytest.approx(2 / 3))
    assert r.loss == pytest.approx(-np.log([0.9, 0.8, 0.4, 0.7]).mean())


def test_confusion_png_is_written(tmp_path):
    r = score_report(np.eye(3), np.arange(3), ("x", "y", "z"), 1.0)
    confusion_png(r, tmp_path / "c.png")
    img = cv2.imread(str(tmp_path / "c.png"))
    assert img is not None and img.shape[0] == img.shape[1] > 3 * 48


def tileset(n: int = 8, size: int = 32) -> TileSet:
    images, labels = two_class_images(n, size)
    return TileSet(images, labels, ("dark", "stripes"), tuple(map(str, range(2 * n))))


@pytest.mark.parametrize(
    "config",
    [
        ClassifierConfig("tinynet-cnn", 32, widths=(8, 16), depthwise=True),
        ClassifierConfig("mlp", 16, hidden=(16,)),
        ClassifierConfig("bovw", 32, bovw=BoVWConfig(k=8, pca=4)),
    ],
    ids=lambda c: c.model,
)
def test_a_saved_classifier_scores_the_same(tmp_path, config):
    data = tileset()
    clf = train_classifier(config, data, TrainConfig(epochs=2, batch=8))
    save_classifier(clf, tmp_path / "m" / "classifier.pt")
    back = load_classifier(tmp_path / "m")
    assert back.config == config and back.classes == data.classes
    assert np.allclose(back.scores(data.images), clf.scores(data.images))


def test_a_bad_classifier_file_is_named(tmp_path: Path):
    torch.save({"format": "something"}, tmp_path / "x.pt")
    with pytest.raises(InputError, match=r"x\.pt: not an rsdet classifier"):
        load_classifier(tmp_path / "x.pt")
    (tmp_path / "y.pt").write_text("junk")
    with pytest.raises(InputError, match=r"y\.pt"):
        load_classifier(tmp_path / "y.pt")
    with pytest.raises(InputError, match="unknown"):
        ClassifierConfig("resnet", 32)


def test_training_learns_the_textures():
    data = tileset(16)
    clf = train_classifier(
        ClassifierConfig("tinynet-cnn", 32, widths=(8, 16)), data, TrainConfig(epochs=8, batch=8)
    )
    test, labels = two_class_images(8, 32, seed=5)
    assert (clf.scores(test).argmax(1) == labels).mean() >= 0.9
