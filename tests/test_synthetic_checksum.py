"""Synthetic scenes are pinned: the same seed draws the same pixels, boxes and instance map.

Recipes, the RS-TinyNet ablation (docs/rs_tinynet.md) and tests train and score on these
scenes, so any change of the drawing (even a refactoring that reorders random draws) shows
up here. The digests were taken with numpy 2.4 / OpenCV 5.0 on x86-64; update them only on
purpose, when the generator is meant to change (the scenes of every recipe change too).
"""

import hashlib

import numpy as np
import pytest

from rsdet.synthetic import make_scene

PINNED = {
    "trees": ((256, 320), 8, "0416c97676a49cc771d1c6a41169f5c8ce3a417cd02d983990cb4e9369ef3786"),
    "vehicles": (
        (192, 256),
        24,
        "c6d1cbd6cf9a92946d6be24628c505daa0dbd38e7c4258ab65dcfb2fe67ef0a3",
    ),
    "mixed": ((300, 280), 44, "227659f3b45a8b9ea19528c704599f9ee1e66773d7b24893d95ebbf46362528c"),
}


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_small_scene_matches_its_pinned_digest(kind):
    size, count, expected = PINNED[kind]
    s = make_scene(7, size, kind, nodata=3, masks=True)
    assert len(s) == count
    assert digest(s.image, s.polygons, s.labels, s.meta["instances"]) == expected
