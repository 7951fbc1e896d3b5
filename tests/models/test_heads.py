import math

import pytest
import torch

from rsdet.models.heads import DecoupledHead, HeadOutput, TaskAlignedLoss
from rsdet.models.heads import decode_detections as _decode
from rsdet.models.spec import Postprocess
from rsdet.structures import HBoxes
from tests.models.helpers import hbox_targets


def test_initial_predictions_by_hand():
    head = DecoupledHead([8, 16], strides=[4, 8], num_classes=3).eval()
    # Zero features: every conv + BN (fresh running stats) + SiLU gives 0, so the outputs
    # are the prediction biases: p = 0.01 and l = t = r = b = 1 stride.
    out = head([torch.zeros(2, 8, 4, 4), torch.zeros(2, 16, 2, 2)])
    assert out.cls_logits.shape == (2, 20, 3) and out.boxes.shape == (2, 20, 4)
    assert out.level_sizes == (16, 4) and out.image_size == (16, 16)
    assert torch.allclose(out.cls_logits.sigmoid(), torch.full((2, 20, 3), 0.01))
    assert out.priors[0].tolist() == [2, 2] and out.priors[16].tolist() == [4, 4]
    assert out.strides.tolist() == [4.0] * 16 + [8.0] * 4
    assert out.boxes[0, 0].tolist() == [-2, -2, 6, 6]  # prior (2, 2) +- 4 px
    assert out.boxes[0, 16].tolist() == [-4, -4, 12, 12]  # prior (4, 4) +- 8 px


def test_head_outputs_are_float32_under_autocast():
    head = DecoupledHead([8], strides=[8], num_classes=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head([torch.randn(1, 8, 2, 2)])
    assert out.boxes.dtype == torch.float32 and out.cls_logits.dtype == torch.float32


def _output(logits, boxes, level_sizes, image_size=(100, 100)):
    logits = torch.tensor(logits, dtype=torch.float32)[None]
    boxes = torch.tensor(boxes, dtype=torch.float32)[None]
    n = logits.shape[1]
    return HeadOutput(logits, boxes, torch.zeros(n, 2), torch.ones(n), level_sizes, image_size)


def decode_detections(out, post):
    return _decode(out.cls_logits, out.boxes, out.level_sizes, out.image_size, post)


def _logit(p):
    return math.log(p / (1 - p))


def test_decode_thresholds_nms_per_class_and_clips():
    box = [10, 10, 20, 20]
    logits = [
        [_logit(0.9), _logit(0.1)],  # kept: class 0
        [_logit(0.8), _logit(0.7)],  # class 0 suppressed by the first; class 1 kept
        [_logit(0.2), _logit(0.2)],  # below the threshold
        [_logit(0.6), -9.0],  # kept, clipped to the 100 x 100 image
        [_logit(0.95), -9.0],  # zero area after clipping: dropped
    ]
    boxes = [box, box, box, [90, 90, 120, 130], [101, 0, 120, 10]]
    dets = decode_detections(_output(logits, boxes, (5,)), Postprocess(score_thr=0.3))[0]
    assert dets.labels.tolist() == [0, 1, 0]
    assert torch.allclose(dets.scores, torch.tensor([0.9, 0.7, 0.6]))
    assert dets.boxes.tensor[2].tolist() == [90, 90, 100, 100]


def test_decode_caps_candidates_per_level_and_detections_per_image():
    probs = [0.9, 0.8, 0.7, 0.6]
    logits = [[_logit(p)] for p in probs]
    boxes = [[i * 10, 0, i * 10 + 5, 5] for i in range(4)]  # disjoint
    out = _output(logits, boxes, (2, 2))
    dets = decode_detections(out, Postprocess(score_thr=0.1, pre_nms_top_k=1))[0]
    assert torch.allclose(dets.scores, torch.tensor([0.9, 0.7]))  # best of each level
    dets = decode_detections(out, Postprocess(score_thr=0.1, max_det=3))[0]
    assert len(dets) == 3


def test_decode_with_nothing_above_threshold_gives_empty_detections():
    out = _output([[-9.0]] * 3, [[0, 0, 5, 5]] * 3, (3,))
    dets = decode_detections(out, Postprocess())[0]
    assert len(dets) == 0 and isinstance(dets.boxes, HBoxes)


def _dense_output(logits, batch=1):
    head = DecoupledHead([8], strides=[8], num_classes=2).eval()
    out = head([torch.zeros(batch, 8, 4, 4)])  # priors at 4, 12, 20, 28 px
    logits = logits.expand_as(out.cls_logits).clone().requires_grad_(True)
    return out._replace(cls_logits=logits), logits


def test_zero_targets_give_exactly_zero_box_loss_and_push_scores_down():
    out, logits = _dense_output(torch.zeros(1, 1, 2))
    losses = TaskAlignedLoss()(out, [hbox_targets([])])
    assert losses["box"].item() == 0.0
    # 16 priors x 2 classes, each QFL(0, 0) = ln 2 / 4, normaliser 1.
    assert losses["cls"].item() == pytest.approx(32 * math.log(2) / 4)
    losses["cls"].backward()
    assert (logits.grad > 0).all()  # gradient descent lowers every score


def test_ignored_region_gets_no_classification_loss():
    out, _ = _dense_output(torch.zeros(1, 1, 2))
    everything = hbox_targets([[0, 0, 32, 32]], ignore=[True])
    losses = TaskAlignedLoss()(out, [everything])
    assert losses["cls"].item() == 0.0 and losses["box"].item() == 0.0


def test_loss_with_objects_is_positive_and_reaches_box_predictions():
    head = DecoupledHead([8], strides=[8], num_classes=2)
    feats = torch.randn(2, 8, 4, 4, requires_grad=True)
    out = head([feats])
    targets = [hbox_targets([[2, 2, 14, 14]], labels=[1]), hbox_targets([])]
    losses = TaskAlignedLoss()(out, targets)
    assert losses["box"] > 0 and losses["cls"] > 0
    losses["box"].backward()
    assert head.reg[0][-1].weight.grad.abs().sum() > 0


def test_loss_rejects_a_batch_size_mismatch():
    out, _ = _dense_output(torch.zeros(1, 1, 2), batch=2)
    with pytest.raises(ValueError, match="2 images but 1 targets"):
        TaskAlignedLoss()(out, [hbox_targets([])])
