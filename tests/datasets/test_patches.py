import numpy as np
import pytest
import torch

from rsdet.datasets import PatchOrigin, parse_patch_name, patch_name
from rsdet.structures import Detections, HBoxes, RBoxes


def test_devkit_names_round_trip():
    assert patch_name("P0706", 1.0, 824, 0) == "P0706__1__824___0"
    assert parse_patch_name("P0706__1__824___0") == PatchOrigin("P0706", 1.0, 824, 0)
    assert parse_patch_name("P0706__0.5__0___412.png") == PatchOrigin("P0706", 0.5, 0, 412)
    # Ids may themselves contain double underscores (AI-TOD xView patch names do).
    origin = parse_patch_name("1036__800_600__1.5__10___20")
    assert (origin.image_id, origin.rate, origin.name) == (
        "1036__800_600",
        1.5,
        "1036__800_600__1.5__10___20",
    )


@pytest.mark.parametrize("bad", ["P0706", "P0706__1__824__0", "P0706__x__1___2", "P0706__0__1___2"])
def test_bad_names_are_rejected(bad):
    with pytest.raises(ValueError, match="not a patch name"):
        parse_patch_name(bad)


def test_mapping_back_undoes_offset_and_rate():
    origin = PatchOrigin("P1", 0.5, 100, 40)
    # Patch point (10, 20) is (110, 60) in the half-size image, (220, 120) in the source.
    np.testing.assert_allclose(origin.points_to_source(np.array([[10.0, 20.0]])), [[220, 120]])
    flat = origin.points_to_source(np.array([[0, 0, 2, 0, 2, 2, 0, 2]], float))
    assert flat.shape == (1, 8) and flat[0, :2].tolist() == [200, 80]
    hb = origin.hboxes_to_source(HBoxes(torch.tensor([[0.0, 0.0, 4.0, 2.0]])))
    assert hb.tensor.tolist() == [[200, 80, 208, 84]]
    rb = origin.rboxes_to_source(RBoxes(torch.tensor([[2.0, 1.0, 4.0, 2.0, 0.3]])))
    np.testing.assert_allclose(rb.tensor.numpy(), [[204, 82, 8, 4, 0.3]], rtol=1e-6)
    dets = Detections(
        RBoxes(torch.tensor([[2.0, 1.0, 4.0, 2.0, 0.3]])), torch.tensor([0.9]), torch.tensor([3])
    )
    back = origin.detections_to_source(dets)
    assert back.scores.tolist() == pytest.approx([0.9]) and back.labels.tolist() == [3]
    np.testing.assert_allclose(back.boxes.tensor.numpy(), rb.tensor.numpy())
