"""Model runners of ``rsdet detect``: what the reader thread prepares is what the model expects."""

import numpy as np
import torch
from rsdet.pipelines.detect_models import load_runner

from rsdet import load_model
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
