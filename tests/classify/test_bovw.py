import numpy as np
import pytest

from rsdet.classify.bovw import BoVW, BoVWConfig, dense_sift, intersection_kernel
from tests.classify.conftest import two_class_images


def test_intersection_kernel_is_the_sum_of_minima():
    rng = np.random.default_rng(0)
    a, b = rng.random((300, 5)), rng.random((4, 5))
    expect = [[np.minimum(x, y).sum() for y in b] for x in a]
    assert np.allclose(intersection_kernel(a, b), expect)


def test_dense_sift_covers_a_grid():
    desc, rows = dense_sift(np.zeros((32, 32, 3), np.uint8), step=8)
    assert desc.shape == (16, 128) and rows.min() >= 0 and rows.max() < 1


@pytest.mark.parametrize("kernel", ["rbf", "linear", "intersection"])
def test_bovw_separates_two_textures(kernel):
    images, labels = two_class_images(12, 32)
    model = BoVW(BoVWConfig(k=16, pca=8, kernel=kernel))
    model.fit(images, labels)
    test, test_labels = two_class_images(6, 32, seed=1)
    scores = model.scores(test)
    assert np.allclose(scores.sum(1), 1)
    assert (scores.argmax(1) == test_labels).mean() >= 0.9
    assert model.histograms(test).shape == (12, 16 * 4)
