"""Model runners of ``rsdet detect``: what the reader thread prepares is what the model expects."""

import numpy as np
import torch
from rsdet.pipelines.detect_models import SpecRunner, load_runner

from rsdet import load_model
from rsdet.models.spec import ModelSpec
from rsdet.synthetic import make_scene


def test_cpu_batches_standardised_in_the_reader_give_predict_batch_detections():
    detector = load_model(device="cpu")
    runner = load_runner(detector, device="cpu")
    tiles = [
        np.ascontiguousarray(make_scene(s, 256, "trees").image.transpose(2, 0, 1)) / np.float32(255)
        for s in (0, 1)
    ]
    direct = detector.predict_batch(np.stack(tiles))
    batch = runner.collate(tiles)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    via_runner = runner.run(batch, detector.spec.postprocess())
    for a, b in zip(direct, via_runner, strict=True):
        assert len(a) > 0 and len(a) == len(b)
        torch.testing.assert_close(a.boxes.tensor, b.boxes.tensor, atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(a.scores, b.scores, atol=1e-4, rtol=1e-4)


class PrepareOnly(SpecRunner):
    def run(self, batch, postprocess):
        raise AssertionError("not called")


def test_spec_runner_fills_nodata_with_the_tiles_mean_colour():
    runner = PrepareOnly(ModelSpec(arch="x", classes=("a",)), "id")
    raw = np.zeros((3, 4, 4), np.uint8)
    raw[:, :, :2] = [[[51]], [[102]], [[204]]]  # valid left half, one colour per band
    valid = np.zeros((4, 4), bool)
    valid[:, :2] = True
    prepare = runner.prepare(None, None, (1, 2, 3))
    image = prepare(raw, valid)
    expected = np.broadcast_to(np.array([0.2, 0.4, 0.8])[:, None, None], (3, 4, 2))
    np.testing.assert_allclose(image[:, :, 2:], expected, rtol=1e-6)
