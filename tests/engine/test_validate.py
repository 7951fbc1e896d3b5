"""Validation: whole images and tiled large images give the same, exactly placed boxes."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from rsdet.engine.recipe import EvalConfig
from rsdet.engine.validate import detect_samples, validate
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import InputSpec, ModelSpec
from rsdet.structures import Detections, HBoxes, Sample


class BrightBlobs(DetectorNetwork):
    """Detects every 4-connected bright blob of channel 0, score 0.9: a perfect oracle."""

    size_divisor = 1
    box_type = "hbox"

    def forward(self, images, targets=None):
        return images

    def decode(self, raw, image_hw, postprocess):
        out = []
        for x in raw:
            labels, n = ndimage.label((x[0] > 0).numpy())
            boxes = [
                [s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(labels)
            ]
            out.append(
                Detections(
                    HBoxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)),
                    torch.full((n,), 0.9),
                    torch.zeros(n),
                )
            )
        return out


SQUARES = [(40, 30, 60, 50), (400, 200, 430, 240), (120, 100, 140, 112)]


def scene():
    image = np.zeros((300, 500, 3), np.uint8)
    polys = []
    for x0, y0, x1, y1 in SQUARES:
        image[y0:y1, x0:x1] = 255
        polys.append([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    return Sample("scene", 300, 500, np.array(polys, float), np.zeros(3), image=image)


SPEC = ModelSpec(
    arch="oracle",
    classes=("square",),
    input=InputSpec(mean=(0.5,) * 3, std=(1,) * 3),
    tile_size=128,
    overlap=64,
)


@pytest.mark.parametrize("max_size", [4096, 128])  # whole image, then 128 px tiles
def test_boxes_come_back_once_in_image_pixels(max_size):
    cfg = EvalConfig(max_size=max_size)
    (dets,) = detect_samples(BrightBlobs(), SPEC, [scene()], cfg, torch.device("cpu"))
    boxes = sorted(dets.boxes.tensor.tolist())
    assert boxes == sorted([list(map(float, s)) for s in SQUARES])


def test_validate_scores_with_the_protocol():
    result = validate(
        BrightBlobs(),
        SPEC,
        [scene()],
        EvalConfig(protocol="coco", max_size=128),
        torch.device("cpu"),
    )
    assert result.metrics["AP"] == pytest.approx(1.0)
