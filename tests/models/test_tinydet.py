"""TinyDet: config, parts, raw outputs, losses, the paper's compute rows, and learning."""

import dataclasses
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rsdet.config import ConfigError, from_dict, to_dict
from rsdet.engine.recipe import load_recipe
from rsdet.models.backbones import BACKBONES
from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.flops import count_flops, count_macs
from rsdet.models.rcnn import RCNN, RCNNTrainConfig, map_roi_levels, rcnn_detections, rcnn_loss
from rsdet.models.samplers import sample
from rsdet.models.spec import ModelSpec, Postprocess
from rsdet.models.tinydet import (
    INPUT_SIZES,
    SIZES,
    TinyDet,
    TinyDetConfig,
    TinyDetRaw,
    build_tinydet,
)
from rsdet.models.tinyfpn import SCConv, TinyFPN
from rsdet.models.tinyrpn import ProposalConfig, TinyRPN, propose
from rsdet.models.zoo import load_model
from rsdet.structures import HBoxes, Targets
from tests.models.helpers import hbox_targets

RECIPES_DIR = Path(__file__).parents[2] / "pipelines" / "recipes"

pytestmark = pytest.mark.usefixtures("one_thread")


def _small(**kw) -> TinyDet:
    """TinyDet-M's head on the CSP-n backbone (strides 4-32), for CPU tests."""
    torch.manual_seed(0)
    base = {"num_classes": 2, "backbone": "csp-n", "strides": (4, 8, 16, 32)}
    cfg = TinyDetConfig(**{**base, "fpn_groups": (49, 7, 5, 1), **kw})
    return build_tinydet(cfg)


# ---- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strides": (4, 8, 32), "fpn_groups": (1, 1, 1)}, "doubling strides"),
        ({"fpn_groups": (49, 7, 5, 1)}, "4 values for 5 strides"),
        ({"fpn_groups": (49, 7, 5, 1, 2)}, "2 does not divide 245"),
        ({"roi_strides": (8, 16)}, "the finest of"),
        ({"num_classes": 0}, "at least 1"),
    ],
)
def test_config_rejects_inconsistent_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        TinyDetConfig(**changes)


def test_sizes_are_the_official_configs():
    s, m, l = SIZES["s"], SIZES["m"], SIZES["l"]  # noqa: E741
    # configs/tinydet_{S,M,L}.py: backbone, strides, fpn_conv_groups, anchor_scales, RoI strides
    assert (s.backbone, s.strides, s.fpn_groups, s.anchor_scale) == (
        "mobilenetv3-d",
        (8, 16, 32, 64),
        (7, 5, 1, 1),
        2.25,
    )
    assert (s.roi_strides, s.finest_scale) == ((8, 16), 30.0)
    assert (m.backbone, m.strides, m.fpn_groups, m.anchor_scale, m.finest_scale) == (
        "mobilenetv3-bc",
        (4, 8, 16, 32, 64),
        (49, 7, 5, 1, 1),
        3.2,
        22.4,
    )
    assert dataclasses.replace(m, anchor_scale=5.12, finest_scale=35.8) == l
    assert (m.rpn_groups, m.channels, m.roi_strides, m.fc_channels) == (49, 245, (4, 8, 16), 1024)
    assert (m.test_proposals.pre_nms, m.test_proposals.max_num, m.train_proposals.max_num) == (
        1000,
        200,
        2000,
    )
    assert (m.rcnn.num, m.rcnn.pos_fraction, m.rcnn.ohem, m.rpn.num, m.rpn.neg_iou) == (
        512,
        0.25,
        True,
        256,
        0.3,
    )
    assert INPUT_SIZES == {"s": 320, "m": 320, "l": 512}


def test_config_round_trips_and_partial_proposal_settings_are_refused():
    cfg = SIZES["l"]
    assert from_dict(TinyDetConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match=r"test_proposals\.pre_nms: required key is missing"):
        from_dict(TinyDetConfig, {"test_proposals": {"max_num": 100}})


def test_a_backbone_without_the_pyramid_strides_is_refused():
    with pytest.raises(ConfigError, match="resnet18 ends at stride 32, not 64"):
        build_tinydet(TinyDetConfig(backbone="resnet18"))
    net = build_tinydet(
        TinyDetConfig(
            backbone="resnet18", strides=(8, 16, 32), fpn_groups=(7, 5, 1), roi_strides=(8,)
        )
    )
    assert net.neck.lateral_convs[0].in_channels == 128 and net.size_divisor == 32


# ---- parts -------------------------------------------------------------------------------


def test_scconv_is_depthwise_then_grouped_pointwise():
    conv = SCConv(245, 49)
    dw, pw = conv[0], conv[1]
    assert (dw.groups, dw.weight.shape, pw.groups, pw.weight.shape) == (
        245,
        (245, 1, 3, 3),
        49,
        (245, 5, 1, 1),
    )
    with pytest.raises(ValueError, match="do not split into 2 groups"):
        SCConv(245, 2)


def test_tinyfpn_sums_top_down_before_the_scconv():
    torch.manual_seed(0)
    fpn = TinyFPN((3, 4, 5), channels=10, groups=(5, 2, 1))
    feats = [torch.randn(2, c, 8 // 2**i, 8 // 2**i) for i, c in enumerate((3, 4, 5))]
    lat = [conv(f) for conv, f in zip(fpn.lateral_convs, feats, strict=True)]
    lat[1] = lat[1] + F.interpolate(lat[2], scale_factor=2, mode="nearest")
    lat[0] = lat[0] + F.interpolate(lat[1], scale_factor=2, mode="nearest")
    out = fpn(feats)
    for o, x, conv in zip(out, lat, fpn.fpn_convs, strict=True):
        torch.testing.assert_close(o, conv(x))
    assert [o.shape for o in out] == [(2, 10, 8, 8), (2, 10, 4, 4), (2, 10, 2, 2)]


def test_rpn_channels_follow_the_anchor_order():
    # One anchor (cell (1, 2), anchor 2 of 3) with a high objectness and zero deltas: the best
    # proposal is exactly that anchor; a shift in its deltas channels moves only that box.
    from rsdet.models.anchors import AnchorGenerator

    gen = AnchorGenerator((8,), (1.0,))
    anchors = gen([(3, 4)])
    obj = torch.full((1, 3, 3, 4), -5.0)
    obj[0, 2, 1, 2] = 5.0
    deltas = torch.zeros(1, 12, 3, 4)
    deltas[0, 4 * 2, 1, 2] = 0.25  # dx of anchor 2 at (1, 2)
    cfg = ProposalConfig(pre_nms=50, post_nms=50, max_num=5, nms_thr=0.7)
    boxes, valid = propose([obj], [deltas], anchors, (24, 32), cfg)
    anchor = anchors[0][(1 * 4 + 2) * 3 + 2]
    width = anchor[2] - anchor[0]
    expect = (anchor + torch.tensor([1.0, 0, 1, 0]) * 0.25 * width).clamp(min=0)
    expect = torch.minimum(expect, torch.tensor([32.0, 24, 32, 24]))
    torch.testing.assert_close(boxes[0, 0], expect)
    assert valid.tolist() == [[True] * 5]


def test_roi_levels_by_size():
    # floor(log2(sqrt(wh) / 22.4 + 1e-6)): 44 px -> 0 (log2 1.96), 45 px -> 1, 90 -> 2, 1000 -> 2
    boxes = torch.tensor([[0.0, 0, 44, 44], [0, 0, 45, 45], [0, 0, 90, 90], [0, 0, 1000, 1000]])
    assert map_roi_levels(boxes, 22.4, 3).tolist() == [0, 1, 2, 2]
    assert map_roi_levels(torch.zeros(1, 4), 22.4, 3).tolist() == [0]  # empty RoI: finest


def test_rcnn_pools_each_roi_from_its_level():
    # Constant maps 1, 2, 3 per level: the pooled value tells which level a RoI read
    # (20 px -> level 0, 50 px -> 1, 100 px -> 2; see test_roi_levels_by_size).
    rcnn = RCNN((4, 8, 16), 22.4, num_classes=1)
    feats = [torch.full((1, 245, 128 // s, 128 // s), i + 1.0) for i, s in enumerate((4, 8, 16))]
    rois = torch.tensor([[0.0, 0, 0, 20, 20], [0, 0, 0, 50, 50], [0, 0, 0, 100, 100]])
    pooled = rcnn.pool(feats, rois)
    assert pooled.shape == (3, 5, 7, 7)
    torch.testing.assert_close(pooled.amax(dim=(1, 2, 3)), torch.tensor([1.0, 2.0, 3.0]))


def test_ohem_keeps_the_hardest_and_caps_the_positives():
    positive = torch.tensor([True, True, True, False, False, False, False])
    negative = ~positive
    hardness = torch.tensor([0.1, 0.9, 0.5, 0.2, 0.8, 0.3, 0.7])
    pos, neg = sample(positive, negative, num=4, pos_fraction=0.5, hardness=hardness)
    assert pos.tolist() == [1, 2] and neg.tolist() == [4, 6]
    pos, neg = sample(positive, negative, num=4, pos_fraction=0.5)  # random: sizes only
    assert pos.numel() == 2 and neg.numel() == 2 and positive[pos].all() and negative[neg].all()


def test_ohem_loss_is_the_loss_of_the_hardest_candidates():
    # 40 random proposals + 1 gt, 8 RoIs sampled (at most 2 positive): the loss must be the
    # mean cross-entropy of the 2 hardest positives and the 6 hardest negatives.
    torch.manual_seed(0)
    rcnn = RCNN((4, 8), 22.4, num_classes=2, fc_channels=32)
    feats = [torch.randn(1, 245, 16, 16), torch.randn(1, 245, 8, 8)]
    xy = torch.rand(40, 2) * 40
    props = torch.cat([xy, xy + torch.rand(40, 2) * 24 + 4], dim=1)
    props[:5] = torch.tensor([10.0, 10, 30, 30]) + torch.randn(5, 4)  # positives
    target = hbox_targets([[10, 10, 30, 30]], [1])
    cfg = RCNNTrainConfig(num=8, pos_fraction=0.25)
    loss = rcnn_loss(rcnn, feats, [props], [target], cfg)["loss_rcnn_cls"]
    cand = torch.cat([target.boxes.tensor, props])
    a = cfg.assigner()(cand, target.boxes.tensor)
    labels = torch.where(a.positive, 1, 2)  # gt class 1, background 2
    rois = torch.cat([torch.zeros(41, 1), cand], dim=1)
    with torch.no_grad():
        ce = F.cross_entropy(rcnn(feats, rois)[0], labels, reduction="none")
    pos, neg = ce[a.positive], ce[~a.positive & ~a.ignored]
    assert pos.numel() > 2 and neg.numel() > 6
    expect = (pos.topk(2).values.sum() + neg.topk(6).values.sum()) / 8
    torch.testing.assert_close(loss.detach(), expect)


def test_decode_applies_soft_nms_per_class():
    # Two RoIs on the same object (IoU 9/11 > 0.5), zero deltas: the weaker one is decayed by
    # 1 - 9/11, not dropped; a third RoI of the other class is untouched.
    props = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10]])
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.6, 0.1, 0.3], [0.1, 0.7, 0.2]])
    dets = rcnn_detections(props, probs.log(), torch.zeros(3, 4), (20, 20), Postprocess(0.05))
    assert dets.labels.tolist() == [0, 1, 0]
    torch.testing.assert_close(dets.scores, torch.tensor([0.8, 0.7, 0.6 * 2 / 11]))
    few = rcnn_detections(props, probs.log(), torch.zeros(3, 4), (20, 20), Postprocess(0.2))
    assert few.labels.tolist() == [0, 1]  # 0.109 fell below score_thr 0.2


# ---- the network -------------------------------------------------------------------------


def test_raw_outputs_are_fixed_size_padded_tensors():
    net = _small(
        test_proposals=ProposalConfig(pre_nms=1000, post_nms=1000, max_num=300, nms_thr=0.7)
    ).eval()
    with torch.no_grad():
        raw = net(torch.randn(2, 3, 32, 32))
    assert isinstance(raw, TinyDetRaw) and all(isinstance(t, torch.Tensor) for t in raw)
    assert [tuple(t.shape) for t in raw] == [(2, 300, 4), (2, 300), (2, 300, 3), (2, 300, 4)]
    # A 32 x 32 input has 3 x (64 + 16 + 4 + 1) = 255 anchors, so fewer than 300 proposals
    # after NMS: the rest is zero padding.
    count = raw.valid.sum(dim=1)
    assert (count < 300).all() and (count > 0).all()
    assert raw.valid[:, : int(count.min())].all() and not raw.valid[:, -1].any()
    assert raw.proposals[~raw.valid].abs().sum() == 0
    x, post = torch.randn(1, 3, 64, 96), Postprocess(score_thr=0.0, max_det=20)
    with torch.no_grad():
        via_decode = net.decode(net(x), (64, 96), post)[0]
    via_detect = net.detect(x, post)[0]
    assert len(via_detect) == 20
    assert torch.equal(via_detect.boxes.tensor, via_decode.boxes.tensor)
    assert torch.equal(via_detect.scores, via_decode.scores)


def test_detections_are_hboxes_inside_the_image_best_first():
    net = _small().eval()
    dets = net.detect(torch.randn(1, 3, 96, 64), Postprocess(score_thr=0.0, max_det=15))[0]
    assert isinstance(dets.boxes, HBoxes) and len(dets) == 15
    b = dets.boxes.tensor
    assert (b[:, :2] >= 0).all() and (b[:, 2] <= 64).all() and (b[:, 3] <= 96).all()
    assert (dets.scores[:-1] >= dets.scores[1:]).all() and dets.labels.max() <= 1


def test_train_mode_without_targets_is_an_error():
    with pytest.raises(ValueError, match="needs targets"):
        _small().train()(torch.zeros(1, 3, 64, 64))


def test_losses_reach_every_part_and_an_empty_image_has_zero_box_losses():
    net = _small().train()
    targets = [hbox_targets([[10, 10, 22, 18], [40, 30, 52, 44]], [0, 1]), hbox_targets([])]
    losses = net(torch.randn(2, 3, 64, 64), targets)
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_bbox", "loss_rcnn_cls", "loss_rcnn_bbox"}
    sum(losses.values()).backward()
    for name in ("backbone", "neck", "rpn", "rcnn"):
        grads = [p.grad for p in getattr(net, name).parameters() if p.requires_grad]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads), name
    empty = net(torch.randn(1, 3, 64, 64), [hbox_targets([])])
    assert empty["loss_rpn_bbox"].item() == 0 and empty["loss_rcnn_bbox"].item() == 0
    assert empty["loss_rpn_cls"].item() > 0 and empty["loss_rcnn_cls"].item() > 0


def test_ignored_objects_are_neither_learnt_nor_punished():
    net = _small().train()
    box = [[20.0, 20, 36, 36]]
    seen = net(torch.zeros(1, 3, 64, 64), [hbox_targets(box, [0])])
    ignored = net(torch.zeros(1, 3, 64, 64), [hbox_targets(box, [0], [True])])
    assert seen["loss_rpn_bbox"] > 0 and ignored["loss_rpn_bbox"] == 0
    assert ignored["loss_rcnn_bbox"] == 0


def test_checkpoint_round_trip_through_the_zoo(tmp_path):
    cfg = TinyDetConfig(
        num_classes=2, backbone="csp-n", strides=(4, 8, 16, 32), fpn_groups=(49, 7, 5, 1)
    )
    torch.manual_seed(0)
    net = build_tinydet(cfg).eval()
    spec = ModelSpec(
        arch="tinydet", classes=("car", "truck"), tile_size=128, score_thr=0.0, max_det=30
    )
    path = tmp_path / "tinydet.pt"
    write_checkpoint(path, Checkpoint(spec, to_dict(cfg), net.state_dict()))
    model = load_model(path, device="cpu")
    image = torch.randint(0, 255, (50, 70, 3), dtype=torch.uint8).numpy()  # padded to 64 x 96
    pred = model.predict(image)
    assert len(pred.boxes) == 30 and pred.boxes.shape[1] == 4
    assert (pred.boxes[:, 2] <= 70).all() and (pred.boxes[:, 3] <= 50).all()


# ---- compute (TinyDet Tables 9, 13-18: MFLOPs there are multiply-adds) -----------------

# size -> (input, backbone channels per level, TinyFPN, TinyRPN) of Tables 13-18.
PAPER = {
    "s": (320, (40, 112, 160, 160), 63.77, 16.17),
    "m": (320, (36, 60, 112, 160, 160), 154.78, 64.88),
    "l": (512, (36, 60, 112, 160, 160), 396.22, 166.08),
}
PAPER_TOTAL = {"s": 495, "m": 991, "l": 2427}  # Table 9
PAPER_RCNN = 67.584  # Eq. (1): 200 x (245 x 1024 + 1024 x 81 + 1024 x 4)


def _pyramid_inputs(size):
    n, channels, _, _ = PAPER[size]
    strides = SIZES[size].strides
    return [torch.zeros(1, c, n // s, n // s) for c, s in zip(channels, strides, strict=True)]


@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_tinyfpn_and_tinyrpn_rows_reproduce_the_paper(size):
    cfg = SIZES[size]
    fpn = TinyFPN(PAPER[size][1], cfg.channels, cfg.fpn_groups)
    rpn = TinyRPN(cfg.channels, cfg.rpn_groups, 3)
    feats = _pyramid_inputs(size)
    pyramid = fpn(feats)
    # The tables count one addition per output of every biased conv, as mmcv's counter does.
    fpn_macs = count_macs(fpn, feats, conv_bias=True) / 1e6
    rpn_macs = count_macs(rpn, pyramid, conv_bias=True) / 1e6
    assert fpn_macs == pytest.approx(PAPER[size][2], rel=0.01)
    assert rpn_macs == pytest.approx(PAPER[size][3], rel=0.01)
    # Without the bias additions (rsdet's convention), by hand: per position, lateral C x 245,
    # SCConv 9 x 245 + 245 x 245 / g; TinyRPN 9 x 245 + 245 x 5 + 245 x 15.
    n = PAPER[size][0]
    cells = [(n // s) ** 2 for s in cfg.strides]
    lateral = sum(hw * c * 245 for hw, c in zip(cells, PAPER[size][1], strict=True))
    scconv = sum(
        hw * (9 * 245 + 245 * 245 // g) for hw, g in zip(cells, cfg.fpn_groups, strict=True)
    )
    head = sum(cells) * (9 * 245 + 245 * 5 + 245 * 15)
    assert count_macs(fpn, feats) == lateral + scconv
    assert count_macs(rpn, pyramid) == head


def test_rcnn_row_is_equation_1():
    rcnn = RCNN((4, 8, 16), 22.4, num_classes=80)
    feats = [torch.zeros(1, 245, 320 // s, 320 // s) for s in (4, 8, 16)]
    rois = torch.cat([torch.zeros(200, 1), torch.rand(200, 4).sort(dim=1).values * 320], dim=1)
    assert count_macs(rcnn, feats, rois, conv_bias=True) / 1e6 == pytest.approx(
        PAPER_RCNN, abs=1e-9
    )


@pytest.mark.skipif(
    not {"mobilenetv3-bc", "mobilenetv3-d"} <= set(BACKBONES), reason="MobileNetV3-BC/D absent"
)
@pytest.mark.parametrize("size", ["s", "m", "l"])
def test_whole_network_at_the_papers_input_reproduces_table_9(size):
    net = build_tinydet(SIZES[size]).eval()  # 80 classes, 200 RoIs (test_proposals.max_num)
    n = INPUT_SIZES[size]
    total = count_macs(net, torch.zeros(1, 3, n, n), conv_bias=True) / 1e6
    assert total == pytest.approx(PAPER_TOTAL[size], rel=0.01)
    assert count_flops(net, n, n, 3) == pytest.approx(2 * count_macs(net, torch.zeros(1, 3, n, n)))


# ---- recipes and learning ----------------------------------------------------------------

RECIPES = sorted(RECIPES_DIR.glob("tinydet_*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipes_hold_valid_tinydet_configs(path):
    recipe = load_recipe(path)
    assert recipe.model.arch == "tinydet" and recipe.model.box_type == "hbox"
    cfg = from_dict(TinyDetConfig, recipe.model.config)
    assert cfg.channels == 245 and recipe.model.iou_thr == 0.5  # soft-NMS at 0.5


def test_coco_recipe_is_the_official_schedule():
    r = load_recipe(RECIPES_DIR / "tinydet_coco.yaml")
    assert from_dict(TinyDetConfig, r.model.config) == dataclasses.replace(
        SIZES["m"], num_classes=80
    )
    assert (
        r.optim.name,
        r.optim.lr,
        r.optim.momentum,
        r.optim.weight_decay,
        r.optim.grad_clip,
    ) == (
        "sgd",
        0.35,
        0.9,
        1e-5,
        35.0,
    )
    assert (r.schedule.kind, r.schedule.warmup_iters, r.epochs, r.data.tile_size) == (
        "cosine",
        500,
        240,
        320,
    )
    assert r.schedule.warmup_ratio == pytest.approx(1 / 3, abs=1e-6)
    assert r.optim.lr * r.schedule.min_lr_ratio == pytest.approx(1e-5, rel=0.01)


def _scenes(seeds, size):
    from rsdet.synthetic import make_scene

    return [make_scene(s, size, "vehicles") for s in seeds]


def _batch(scenes, flip=None):
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(3, 1, 1)
    images, targets = [], []
    for s in scenes:
        x = (torch.from_numpy(s.image).permute(2, 0, 1).float() / 255 - mean) / std
        b = s.hboxes().tensor.float()
        if flip is not None and flip.random() < 0.5:  # x -> W - x
            x, b = (
                x.flip(-1),
                torch.stack([s.width - b[:, 2], b[:, 1], s.width - b[:, 0], b[:, 3]], 1),
            )
        images.append(x)
        n = len(b)
        targets.append(
            Targets(HBoxes(b), torch.from_numpy(s.labels).long(), torch.zeros(n, dtype=torch.bool))
        )
    return torch.stack(images), targets


def _coco_ap50(model, scenes):
    from rsdet.evaluation import evaluate

    model.eval()
    dets = model.detect(_batch(scenes)[0], Postprocess(score_thr=0.01, max_det=100))
    return evaluate("coco", scenes, dets, ("vehicle",)).metrics["AP50"]


def test_training_on_synthetic_vehicles_raises_ap50():
    # CI-sized proof of learning: 4 scenes of 14-17 px cars, TinyDet-M's head on CSP-n, fewer
    # proposals; COCO AP50 goes from 0 to high in 100 AdamW iterations.
    net = _small(
        num_classes=1,
        train_proposals=ProposalConfig(pre_nms=500, post_nms=500, max_num=100, nms_thr=0.7),
        test_proposals=ProposalConfig(pre_nms=500, post_nms=500, max_num=100, nms_thr=0.7),
    )
    scenes = _scenes(range(4), 128)
    before = _coco_ap50(net, scenes)
    rng, lr = random.Random(0), 6e-3
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    net.train()
    for it in range(100):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (it + 1) / 20)
        images, targets = _batch(rng.sample(scenes, 4), rng)
        loss = sum(net(images, targets).values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 35.0)
        opt.step()
    after = _coco_ap50(net, scenes)
    assert before < 0.05
    assert after > 0.5, after


def test_all_anchors_cover_the_padded_input():
    net = _small()
    anchors = net.all_anchors((60, 70))  # padded to 64 x 96: cells 16x24 + 8x12 + 4x6 + 2x3
    assert anchors.shape == ((16 * 24 + 8 * 12 + 4 * 6 + 2 * 3) * 3, 4)
    torch.testing.assert_close(anchors[:3], net.anchors.base_anchors(4))  # finest level first
    torch.testing.assert_close(
        anchors[-3:], net.anchors.base_anchors(32) + torch.tensor([64.0, 32, 64, 32])
    )
