import pytest
import torch

from rsdet.structures import Detections, HBoxes, RBoxes


def test_boolean_indexing_keeps_fields_aligned():
    dets = Detections(
        HBoxes([[0, 0, 1, 1], [2, 2, 3, 3]]), torch.tensor([0.2, 0.9]), torch.tensor([1, 0])
    )
    high = dets[dets.scores > 0.5]
    assert len(high) == 1
    assert high.labels.tolist() == [0]
    assert high.boxes.tensor.tolist() == [[2, 2, 3, 3]]


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        Detections(HBoxes([[0, 0, 1, 1]]), torch.tensor([0.1, 0.2]), torch.tensor([0]))


def test_cat_and_empty():
    e = Detections.empty(oriented=True)
    one = Detections(RBoxes([[0, 0, 2, 1, 0]]), torch.tensor([0.5]), torch.tensor([3]))
    both = Detections.cat([e, one, one])
    assert len(both) == 2 and both.oriented
    with pytest.raises(ValueError):
        Detections.cat([Detections.empty(), one])
