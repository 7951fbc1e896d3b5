import dataclasses
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from rsdet.config import ConfigError, from_dict, to_dict
from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.mdca import MDCA
from rsdet.models.pan import PAN
from rsdet.models.pfdh import ProgressiveFusion
from rsdet.models.rs_tinynet import SIZES, RSTinyNetConfig, build_rs_tinynet
from rsdet.models.spec import InputSpec, ModelSpec, Postprocess
from rsdet.models.zoo import ARCHITECTURES, load_model
from rsdet.structures import Detections, HBoxes, pairwise_iou
from tests.models.helpers import hbox_targets

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: threads only spin


def _model(**kw):
    torch.manual_seed(0)
    return build_rs_tinynet(RSTinyNetConfig(**kw))


# --- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "strides", [(4,), (2, 4, 8), (4, 8, 16, 32, 64), (4, 16, 32), (16, 32), (8, 4)]
)
def test_config_rejects_bad_strides(strides):
    with pytest.raises(ConfigError, match="strides"):
        RSTinyNetConfig(strides=strides)


def test_config_round_trips_through_a_dict():
    cfg = RSTinyNetConfig(size="s", num_classes=5, in_channels=4, strides=(8, 16, 32), arb=False)
    assert from_dict(RSTinyNetConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="num_classes"):
        from_dict(RSTinyNetConfig, {"num_classes": 0})


@pytest.mark.parametrize("mdca, arb, pfdh", list(itertools.product([True, False], repeat=3)))
def test_every_module_switches_off_to_the_baseline(mdca, arb, pfdh):
    model = _model(mdca=mdca, arb=arb, pfdh=pfdh)
    assert all(isinstance(a, MDCA if mdca else nn.Identity) for a in model.attention)
    assert isinstance(model.neck, ProgressiveFusion if pfdh else PAN)
    assert (model.aux_branch is not None) == arb
    losses = model.train()(torch.randn(2, 3, 64, 64), [hbox_targets([[8, 8, 20, 16]])] * 2)
    expected = {"cls", "box"} | ({"aux_cls", "aux_box"} if arb else set())
    assert set(losses) == expected and all(torch.isfinite(v) for v in losses.values())


def test_n_size_fits_the_cpu_budget():
    deployed = _model(size="n").deploy()
    assert sum(p.numel() for p in deployed.parameters()) <= 1_500_000
    assert list(SIZES) == ["n", "s", "m"]
    assert SIZES["n"].width < SIZES["s"].width < SIZES["m"].width


# --- the network contract ---------------------------------------------------------------


def test_eval_returns_hboxes_inside_the_image_for_4_bands():
    model = _model(in_channels=4, num_classes=3).eval()
    dets = model.detect(torch.randn(2, 4, 64, 96), Postprocess(score_thr=0.0, max_det=50))
    assert len(dets) == 2
    for d in dets:
        assert isinstance(d, Detections) and isinstance(d.boxes, HBoxes)
        assert 0 < len(d) <= 50
        b = d.boxes.tensor
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= 96).all() and (b[:, 3] <= 64).all()
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        assert ((d.scores > 0) & (d.scores < 1)).all() and (d.labels < 3).all()


def test_size_divisor_is_the_coarsest_stride():
    assert _model().size_divisor == 32
    assert _model(strides=(4, 8, 16)).size_divisor == 16


def test_train_mode_without_targets_is_an_error():
    with pytest.raises(ValueError, match="targets"):
        _model().train()(torch.randn(1, 3, 32, 32))


def test_image_without_objects_gives_zero_box_loss_and_lowers_scores():
    model = _model(num_classes=2).train()
    images = torch.randn(2, 3, 64, 64)
    empty = [hbox_targets([]), hbox_targets([])]
    losses = model(images, empty)
    assert losses["box"].item() == 0.0 and losses["aux_box"].item() == 0.0
    assert losses["cls"].item() > 0

    def max_score():
        feats = model.backbone(images)[-model.num_levels :]
        feats = [a(f) for a, f in zip(model.attention, feats, strict=True)]
        return model.head(model.neck(feats)).cls_logits.sigmoid().max()

    with torch.no_grad():
        before = max_score()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        sum(model(images, empty).values()).backward()
        opt.step()
    with torch.no_grad():
        assert max_score() < before


def test_1x1_coarsest_map_trains_and_detects():
    model = _model()
    losses = model.train()(torch.randn(2, 3, 32, 32), [hbox_targets([[4, 4, 9, 8]])] * 2)
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    with torch.no_grad():
        assert len(model.eval().detect(torch.randn(1, 3, 32, 32), Postprocess())) == 1


def test_same_seed_same_network_same_losses():
    images = torch.randn(2, 3, 64, 64)
    targets = [hbox_targets([[8, 8, 20, 16]]), hbox_targets([[30, 30, 36, 34]], labels=[1])]
    a, b = _model(num_classes=2), _model(num_classes=2)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    la, lb = a.train()(images, targets), b.train()(images, targets)
    assert all(torch.equal(la[k], lb[k]) for k in la)


def test_checkpoint_round_trip_through_the_zoo(tmp_path):
    cfg = RSTinyNetConfig(num_classes=2, in_channels=4)
    model = _model(num_classes=2, in_channels=4).deploy().eval()
    bands = InputSpec(bands=(1, 2, 3, 4), mean=(0.5,) * 4, std=(0.25,) * 4)
    spec = ModelSpec(arch="rs_tinynet", classes=("car", "ship"), input=bands)
    path = tmp_path / "tiny.pt"
    write_checkpoint(path, Checkpoint(spec, to_dict(cfg), model.state_dict()))
    assert "rs_tinynet" in ARCHITECTURES
    detector = load_model(path, device="cpu")
    post = dataclasses.replace(detector.postprocess, score_thr=0.0)
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 4), dtype=np.uint8)
    boxes, scores, labels = detector.predict(image, post)
    assert boxes.shape[1] == 4 and len(boxes) == len(scores) == len(labels) > 0
    assert boxes[:, 2].max() <= 50 and boxes[:, 3].max() <= 40


# --- learning ---------------------------------------------------------------------------


def _planted_scene(rng, size=64, n=3):
    """Noise with ``n`` flat rectangles 4-12 px, class 0 red-ish, class 1 green-ish."""
    image = torch.from_numpy(rng.normal(0, 0.3, (3, size, size)).astype(np.float32))
    colours = torch.tensor([[2.0, -1.0, 0.5], [-1.0, 2.0, 0.5]])
    boxes: list[list[int]] = []
    while len(boxes) < n:
        w, h = rng.integers(4, 13, 2)
        x, y = rng.integers(0, size - w), rng.integers(0, size - h)
        b = [int(x), int(y), int(x + w), int(y + h)]
        if all(
            b[0] > o[2] + 2 or o[0] > b[2] + 2 or b[1] > o[3] + 2 or o[1] > b[3] + 2 for o in boxes
        ):
            image[:, b[1] : b[3], b[0] : b[2]] = colours[len(boxes) % 2][:, None, None]
            boxes.append(b)
    return image, hbox_targets(boxes, labels=[i % 2 for i in range(n)])


def _recalibrate_batchnorm(model, images, targets):
    # BatchNorm running statistics (momentum 0.03) lag behind weights that change this fast;
    # a real run averages weights over thousands of iterations instead (EMA).
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the next forward pass
    with torch.no_grad():
        model.train()(images, targets)


def test_overfits_planted_tiny_objects():
    rng = np.random.default_rng(0)
    scenes = [_planted_scene(rng) for _ in range(4)]
    images = torch.stack([s[0] for s in scenes])
    targets = [s[1] for s in scenes]
    model = _model(num_classes=2).train()
    steps = 200
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps, pct_start=0.15)
    for _ in range(steps):
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    _recalibrate_batchnorm(model, images, targets)
    with torch.no_grad():
        detections = model.eval().detect(images, Postprocess())
    for dets, t in zip(detections, targets, strict=True):
        iou = pairwise_iou(dets.boxes, t.boxes)  # (detections, planted)
        same = dets.labels[:, None] == t.labels[None, :]
        assert ((iou > 0.5) & same).any(dim=0).all(), "a planted object was missed"
        assert len(dets) <= len(t) + 1, "too many false positives"


def test_any_named_backbone_feeds_the_neck():
    model = _model(backbone="resnet18", strides=(8, 16, 32), mdca=False, arb=False).eval()
    assert model.backbone.out_channels[-3:] == (128, 256, 512)
    dets = model.detect(torch.randn(1, 3, 64, 64), Postprocess(score_thr=0.0, max_det=5))
    assert len(dets[0]) == 5
    assert _model(backbone="csp-n", strides=(8, 16)).backbone.strides == (4, 8, 16)
    with pytest.raises(ConfigError, match="resnet18 ends at stride 32, not 16"):
        _model(backbone="resnet18", strides=(4, 8, 16))
