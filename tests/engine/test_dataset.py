"""Training tiles: pixels and targets agree, padding, range scaling, bands, determinism."""

import numpy as np
import pytest
import torch

from rsdet.engine.dataset import TileDataset, WindowSampler, collate
from rsdet.engine.recipe import AugmentConfig, DataConfig
from rsdet.errors import InputError
from rsdet.models.spec import InputSpec
from rsdet.structures import Sample

SPEC = InputSpec(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def one_object(h=200, w=300, box=(100, 80, 124, 96), dtype=np.uint8, value=250, channels=3):
    image = np.full((h, w, channels), 20, dtype)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = value
    poly = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return Sample("one", h, w, np.array([poly], float), np.array([0]), image=image)


def data(**changes):
    base = {"train": "unused", "tile_size": 64, "windows_per_epoch": 10, "object_bias": 1.0}
    base.update(changes)
    return DataConfig(**base)


def unstandardise(x: torch.Tensor) -> np.ndarray:
    return (x.numpy().transpose(1, 2, 0) * 0.25) + 0.5


@pytest.mark.parametrize("box_type", ["hbox", "rbox"])
def test_boxes_match_the_object_pixels_through_zoom_flips_and_rotations(box_type):
    aug = AugmentConfig(hflip=0.5, vflip=0.5, rot90=0.5, scale=(0.7, 1.4))
    ds = TileDataset([one_object()], data(augment=aug), SPEC, box_type, seed=0)
    for key in range(30):
        image, t = ds[key]
        assert image.shape == (3, 64, 64) and image.dtype == torch.float32
        assert len(t) == 1 and not t.ignore.any()
        env = t.boxes.envelope().tensor[0].numpy()
        ys, xs = np.nonzero(unstandardise(image)[..., 0] > 0.5)
        np.testing.assert_allclose(env, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.0)
        if box_type == "rbox":
            assert abs(np.sin(2 * t.boxes.tensor[0, 4].item())) < 1e-5  # still axis-aligned


def test_padding_past_the_image_is_zero_after_standardisation():
    ds = TileDataset([one_object(h=40, w=30, box=(5, 5, 15, 15))], data(), SPEC, "hbox", 0)
    image, _ = ds[0]
    assert torch.all(image[:, 40:, :] == 0) and torch.all(image[:, :, 30:] == 0)
    assert image[:, :40, :30].abs().sum() > 0


def test_percentile_scaling_measures_the_whole_image():
    s = one_object(dtype=np.uint16, value=5000)
    s.image[:100] += 1000  # a brighter half: stretched with the rest, not per tile
    spec = InputSpec(scaling="percentile", percentiles=(1.0, 99.9), mean=(0, 0, 0), std=(1, 1, 1))
    ds = TileDataset([s], data(), spec, "hbox", 0)
    image, _ = ds[0]
    assert 0 <= image.min() and image.max() <= 1 and image.max() > 0.9


def test_bands_are_picked_in_model_order_and_missing_bands_are_an_error():
    s = one_object(channels=4)
    s.image[..., 3] = 7
    spec = InputSpec(bands=(4, 1, 2), high=(255.0,), mean=(0, 0, 0), std=(1, 1, 1))
    image, _ = TileDataset([s], data(), spec, "hbox", 0)[0]
    assert torch.allclose(image[0], torch.tensor(7 / 255))
    bad = InputSpec(bands=(1, 2, 5))
    with pytest.raises(InputError, match=r"has 4 bands but the model reads bands \[1, 2, 5\]"):
        TileDataset([s], data(), bad, "hbox", 0)[0]


def test_items_depend_only_on_seed_epoch_and_index():
    a = TileDataset([one_object()], data(augment=AugmentConfig(scale=(0.5, 2))), SPEC, "hbox", 3)
    b = TileDataset([one_object()], data(augment=AugmentConfig(scale=(0.5, 2))), SPEC, "hbox", 3)
    b[7]  # other draws in between change nothing
    assert torch.equal(a[4][0], b[4][0])
    assert not torch.equal(a[4][0], a[14][0])  # index 4 of epoch 1 is another window


def test_background_images_give_empty_targets_that_collate():
    s = Sample(
        "empty", 100, 100, np.zeros((0, 4, 2)), np.zeros(0), image=np.zeros((100, 100, 3), np.uint8)
    )
    ds = TileDataset([s], data(), SPEC, "rbox", 0)
    images, targets = collate([ds[0], ds[1]])
    assert images.shape == (2, 3, 64, 64)
    assert [len(t) for t in targets] == [0, 0] and targets[0].boxes.tensor.shape == (0, 5)


def test_sampler_splits_an_epoch_between_processes_and_resumes_mid_epoch():
    ranks = [list(WindowSampler(10, rank, 3)) for rank in range(3)]
    assert sorted(k for r in ranks for k in r) == list(
        range(9)
    )  # 9: equal shares, remainder dropped
    s = WindowSampler(10)
    s.set_epoch(2, start=4)
    assert list(s) == list(range(24, 30)) and len(s) == 6 and s.epoch_length == 10


def test_batches_are_the_same_with_any_number_of_workers():
    from torch.utils.data import DataLoader

    aug = AugmentConfig(scale=(0.7, 1.4), brightness=0.2, hue=0.02)
    ds = TileDataset([one_object(), one_object(h=90, w=120)], data(augment=aug), SPEC, "hbox", 1)

    def batches(workers):
        sampler = WindowSampler(len(ds))
        sampler.set_epoch(3)
        loader = DataLoader(ds, 3, sampler=sampler, num_workers=workers, collate_fn=collate)
        return [(x, [t.boxes.tensor for t in ts]) for x, ts in loader]

    for (xa, ba), (xb, bb) in zip(batches(0), batches(2), strict=True):
        assert torch.equal(xa, xb) and all(torch.equal(p, q) for p, q in zip(ba, bb, strict=True))
