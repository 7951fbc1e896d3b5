import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rsdet.config import from_dict, to_dict
from rsdet.engine.recipe import load_recipe
from rsdet.errors import InputError
from rsdet.models.assigners import C2FAssigner, MaxIoUAssigner
from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.dcfl import DCFL, DCFLConfig, DCFLRaw, build_dcfl
from rsdet.models.spec import ModelSpec, Postprocess
from rsdet.models.zoo import load_model
from rsdet.structures import HBoxes, RBoxes, Targets


def _small(**kw) -> DCFL:
    torch.manual_seed(0)
    cfg = DCFLConfig(num_classes=2, backbone="resnet18", neck_channels=16, feat_channels=16, **kw)
    return build_dcfl(cfg)


def _targets(rows=(), labels=(), ignore=None) -> Targets:
    boxes = RBoxes(torch.tensor(rows, dtype=torch.float32).reshape(-1, 5))
    n = len(boxes)
    ig = torch.zeros(n, dtype=torch.bool) if ignore is None else torch.tensor(ignore)
    return Targets(boxes, torch.tensor(labels, dtype=torch.long).reshape(n), ig)


def _maps(hw_per_level, channels):
    return [torch.zeros(1, channels, h, w) for h, w in hw_per_level]


def test_head_shapes_down_to_one_by_one_p7():
    model = _small().eval()
    feats = model.neck(model.backbone(torch.randn(2, 3, 64, 96)))
    cls, deltas, offsets = model.head(feats)
    sizes = [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]
    assert [tuple(c.shape) for c in cls] == [(2, 2, *s) for s in sizes]
    assert [tuple(d.shape) for d in deltas] == [(2, 5, *s) for s in sizes]
    assert [tuple(o.shape) for o in offsets] == [(2, 18, *s) for s in sizes]
    assert model.priors(feats).shape == (sum(h * w for h, w in sizes), 5)


def test_priors_for_a_1024_tile():
    priors = _small().priors(_maps([(128, 128), (64, 64), (32, 32), (16, 16), (8, 8)], 1))
    assert priors.shape == (21824, 5)
    # Cell corners (j s, i s), side 4 s, theta 0.
    assert priors[0].tolist() == [0, 0, 32, 32, 0]
    assert priors[1].tolist() == [8, 0, 32, 32, 0]
    assert priors[128].tolist() == [0, 8, 32, 32, 0]
    assert priors[16384].tolist() == [0, 0, 64, 64, 0]
    assert priors[-1].tolist() == [7 * 128, 7 * 128, 512, 512, 0]


@pytest.mark.parametrize(
    ("fix", "scales"), [(False, [2, 4, 8, 16, 32]), (True, [8, 16, 32, 64, 128])]
)
def test_dynamic_prior_offset_scale(fix, scales):
    # Every tap offset (dy, dx) = (1, 2) feature px; image height 512 -> official factor
    # 512 / 256 * 2^level = 2, 4, ...; with the fix, the stride.
    model = _small(fix_offset_scale=fix)
    sizes = [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]
    priors = model.priors(_maps(sizes, 1))
    offsets = [
        torch.tensor([1.0, 2.0]).repeat(9).reshape(1, 18, 1, 1).expand(1, 18, h, w)
        for h, w in sizes
    ]
    moved = model.moved_priors(priors, offsets, 512)[0]
    start = 0
    for (h, w), f in zip(sizes, scales, strict=True):
        shift = moved[start : start + h * w] - priors[start : start + h * w]
        assert shift[:, :2].tolist() == [[2.0 * f, 1.0 * f]] * (h * w)
        assert (shift[:, 2:] == 0).all()
        start += h * w
    static = _small(dynamic_prior=False).moved_priors(priors, offsets, 512)[0]
    assert torch.equal(static, priors)


def test_zero_target_images_give_exactly_zero_regression_loss():
    model = _small().train()
    images = torch.randn(2, 3, 64, 64)
    losses = model(images, [_targets(), _targets()])
    assert losses["loss_reg"].item() == 0.0
    assert torch.isfinite(losses["loss_cls"]) and losses["loss_cls"].item() > 0
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_mixed_batch_and_non_square_input_trains():
    model = _small().train()
    images = torch.randn(2, 3, 96, 160)
    targets = [_targets([[40, 30, 14, 6, 0.4], [100, 60, 10, 10, 0.0]], [0, 1]), _targets()]
    losses = model(images, targets)
    assert losses["loss_reg"].item() > 0
    sum(losses.values()).backward()
    # Horizontal boxes are accepted too (as theta-0 oriented boxes).
    hb = Targets(
        HBoxes(torch.tensor([[30.0, 20, 44, 28]])), torch.tensor([1]), torch.tensor([False])
    )
    assert model(images[:1], [hb])["loss_reg"].item() > 0


def test_degenerate_target_boxes_give_finite_losses():
    model = _small().train()
    targets = [_targets([[32, 32, 0.0, 0.0, 0.0], [20, 40, 12, 0.0, 0.5]], [0, 1])]
    losses = model(torch.randn(1, 3, 64, 64), targets)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_ignored_boxes_teach_nothing_and_silence_their_region():
    model = _small().train()
    images = torch.randn(1, 3, 64, 64)
    box = [[32, 32, 20, 12, 0.3]]
    ignored = model(images, [_targets(box, [1], [True])])
    empty = model(images, [_targets()])
    normal = model(images, [_targets(box, [1])])
    assert ignored["loss_reg"].item() == 0.0 and normal["loss_reg"].item() > 0
    # The priors whose centres lie inside the box leave the (negative) focal sum.
    assert ignored["loss_cls"].item() < empty["loss_cls"].item()


def test_cls_loss_trains_the_shared_offsets_and_reg_loss_not_the_cls_branch():
    model = _small().train()
    images = torch.randn(1, 3, 64, 64)
    targets = [_targets([[32, 32, 10, 6, 0.3]], [0])]
    model(images, targets)["loss_cls"].backward()
    assert model.head.reg_offset.weight.grad.abs().sum() > 0  # "Align": cls reuses reg's offsets
    model.zero_grad(set_to_none=True)
    model(images, targets)["loss_reg"].backward()
    assert model.head.cls_dcn.weight.grad is None or model.head.cls_dcn.weight.grad.abs().sum() == 0


# DCFL's DOTA test settings (the official config's test_cfg).
DCFL_TEST = Postprocess(score_thr=0.05, iou_thr=0.4, max_det=2000, pre_nms_top_k=2000)


def _decode_inputs():
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]  # a 64x64 image
    cls = [torch.full((1, 2, h, w), -10.0) for h, w in sizes]
    deltas = [torch.zeros(1, 5, h, w) for h, w in sizes]
    # P3 (stride 8, 32-px priors): cell (1, 1) at (8, 8) class 0; cell (1, 2) at (16, 8) class 0
    # (IoU 24/40 = 0.6 with the first: suppressed) and class 1 (another class: kept); cell
    # (2, 2) class 1 below the 0.05 score threshold.
    p3 = cls[0][0]
    p3[0, 1, 1], p3[0, 1, 2], p3[1, 1, 2], p3[1, 2, 2] = 3.0, 2.0, 1.0, -3.5
    # Cell (6, 6) at (48, 48) predicts a 64x32 box at le135 angle 0.6 pi = le90 angle -0.4 pi.
    p3[0, 6, 6] = 0.0
    deltas[0][0, 2, 6, 6], deltas[0][0, 4, 6, 6] = math.log(2), 0.6
    return DCFLRaw(cls, deltas)


def test_decode_threshold_class_aware_nms_and_canonical_angles():
    model = _small().eval()
    (dets,) = model.decode(_decode_inputs(), (64, 64), DCFL_TEST)
    assert dets.labels.tolist() == [0, 1, 0]
    assert dets.scores.tolist() == pytest.approx(
        [1 / (1 + math.exp(-3)), 1 / (1 + math.exp(-1)), 0.5]
    )
    expected = [[8.0, 8, 32, 32, 0], [16, 8, 32, 32, 0], [48, 48, 64, 32, -0.4 * math.pi]]
    torch.testing.assert_close(dets.boxes.tensor, torch.tensor(expected))


def test_decode_caps_and_clamps():
    model = _small().eval()
    raw = _decode_inputs()
    assert len(model.decode(raw, (64, 64), dataclasses.replace(DCFL_TEST, max_det=1))[0]) == 1
    # One candidate per level: only cell (1, 1) survives on P3, and its class-1 score is tiny.
    (dets,) = model.decode(raw, (64, 64), dataclasses.replace(DCFL_TEST, pre_nms_top_k=1))
    assert dets.labels.tolist() == [0]
    # Centres are clamped into the image.
    raw.deltas[0][0, 0, 1, 1] = -10.0
    (dets,) = model.decode(raw, (64, 64), DCFL_TEST)
    assert dets.boxes.tensor[0, 0].item() == 0.0


def test_eval_forward_returns_detections_per_image():
    model = _small().eval()
    out = model.detect(torch.randn(3, 3, 64, 64), DCFL_TEST)
    assert len(out) == 3 and all(d.oriented for d in out)


def test_config_switches():
    assert isinstance(_small().assigner, C2FAssigner)
    assert isinstance(_small(assigner="iou").assigner, MaxIoUAssigner)
    light = build_dcfl(
        DCFLConfig(num_classes=3, backbone="csp-n", neck_channels=16, feat_channels=16)
    )
    assert light.eval().detect(torch.randn(1, 3, 64, 64), DCFL_TEST)[0].boxes.tensor.shape[1] == 5
    with pytest.raises(ValueError, match="needs targets"):
        light.train()(torch.randn(1, 3, 64, 64))


def test_checkpoint_round_trip_through_the_zoo(tmp_path):
    cfg = DCFLConfig(
        num_classes=2,
        backbone="resnet18",
        neck_channels=16,
        feat_channels=16,
        backbone_weights="/nowhere/resnet18.pth",
    )
    # The ImageNet file named at training time is not needed to load a checkpoint.
    model = build_dcfl(cfg, load_weights=False)
    spec = ModelSpec(
        arch="dcfl",
        classes=("ship", "plane"),
        box_type="rbox",
        score_thr=0.0,
        iou_thr=0.4,
        max_det=50,
    )
    write_checkpoint(tmp_path / "m.pt", Checkpoint(spec, to_dict(cfg), model.state_dict()))
    detector = load_model(tmp_path / "m.pt", device="cpu")
    boxes, scores, labels = detector.predict(
        torch.randint(0, 255, (64, 64, 3), dtype=torch.uint8).numpy()
    )
    assert boxes.shape == (50, 5) and scores.shape == (50,) and set(labels.tolist()) <= {0, 1}
    # The spec's post-processing is the detector's.
    assert detector.postprocess.max_det == 50
    with pytest.raises(InputError, match="resnet18"):
        build_dcfl(cfg)


def _scenes(seeds, size):
    from rsdet.synthetic import make_scene

    return [make_scene(s, size, "vehicles") for s in seeds]


def _batch(scenes, flip=None):
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(3, 1, 1)
    images, targets = [], []
    for s in scenes:
        x = (torch.from_numpy(s.image).permute(2, 0, 1).float() / 255 - mean) / std
        boxes = s.rboxes().tensor.float()
        if flip is not None and flip.random() < 0.5:  # x -> W - x, theta -> -theta
            x, boxes[:, 0], boxes[:, 4] = x.flip(-1), s.width - boxes[:, 0], -boxes[:, 4]
        images.append(x)
        n = len(boxes)
        targets.append(
            Targets(RBoxes(boxes), torch.from_numpy(s.labels), torch.zeros(n, dtype=torch.bool))
        )
    return torch.stack(images), targets


def _dota_map(model, scenes):
    from rsdet.evaluation import evaluate

    model.eval()
    dets = model.detect(_batch(scenes)[0], DCFL_TEST)
    return evaluate("dota", scenes, dets, ("vehicle",)).score


def _fit(model, scenes, iters, lr=2e-3, seed=0):
    import random

    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    model.train()
    for it in range(iters):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (it + 1) / 20)
        images, targets = _batch(rng.sample(scenes, min(4, len(scenes))), rng)
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35.0)
        opt.step()


def test_training_on_synthetic_oriented_vehicles_raises_dota_map():
    # CI-sized proof of learning: 4 scenes of 14x6-px oriented vehicles, memorised in a few
    # CPU seconds; DOTA-protocol mAP (polygon IoU 0.5, 11-point AP) goes from ~0 to useful.
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_dcfl(
        DCFLConfig(num_classes=1, backbone="csp-n", neck_channels=32, feat_channels=32)
    )
    scenes = _scenes(range(4), 128)
    before = _dota_map(model, scenes)
    _fit(model, scenes, iters=200)
    after = _dota_map(model, scenes)
    # Measured 0.61 / 0.57 / 0.62 with seeds 0 / 1 / 2 (about 16 CPU seconds). Max-IoU
    # assignment memorises these four scenes perfectly (1.0); it is on unseen scenes that it
    # falls behind, see test_c2f_assigner_beats_max_iou_on_unseen_tiny_objects.
    assert before < 0.05
    assert after > 0.4, after


RECIPES = sorted((Path(__file__).parents[2] / "pipelines" / "recipes").glob("dcfl_*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipes_hold_valid_dcfl_configs(path):
    recipe = load_recipe(path)
    assert recipe.model.arch == "dcfl" and recipe.model.box_type == "rbox"
    from_dict(DCFLConfig, recipe.model.config)
    # DCFL's test settings: rotated NMS at 0.4 (DIOR-R 0.5), 2000 candidates per level.
    assert recipe.model.iou_thr in (0.4, 0.5) and recipe.model.pre_nms_top_k == 2000


def test_dota1_recipe_is_the_paper_setting():
    r = load_recipe(Path(__file__).parents[2] / "pipelines" / "recipes" / "dcfl_dota1.yaml")
    cfg = from_dict(DCFLConfig, r.model.config)
    assert (cfg.backbone, cfg.dilation, cfg.c2f.topk, cfg.c2f.topq, cfg.c2f.gauss_thr) == (
        "resnet50",
        4,
        16,
        12,
        0.6,
    )
    assert (r.optim.name, r.optim.lr, r.batch_size, r.optim.momentum, r.optim.weight_decay) == (
        "sgd",
        0.0025,
        2,
        0.9,
        1e-4,
    )
    assert (r.optim.grad_clip, r.schedule.warmup_iters, r.epochs, r.schedule.milestones) == (
        35.0,
        500,
        36,
        (24, 33),
    )
    assert r.schedule.warmup_ratio == pytest.approx(1 / 3, abs=1e-6)
    assert (r.data.tile_size, r.data.augment.hflip, r.data.augment.vflip) == (1024, 0.5, 0.5)


@pytest.mark.slow
def test_c2f_assigner_beats_max_iou_on_unseen_tiny_objects(tmp_path):
    # The assigner ablation of benchmarks/dcfl_synthetic_ablation.py at its measured setting
    # (seed 0, one thread, 1500 iterations; about 15 CPU minutes): DCFL vs RetinaNet-O max-IoU
    # assignment, scored on 16 unseen mixed scenes. Measured: mAP 0.542 vs 0.167, tiny objects
    # (sqrt(area) < 16 px) 0.133 vs 0.039.
    script = Path(__file__).parents[2] / "benchmarks" / "dcfl_synthetic_ablation.py"
    out = tmp_path / "ablation.json"
    cmd = [sys.executable, str(script), "--variants", "dcfl,iou", "--seed", "0", "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    results = json.loads(out.read_text())["results"]
    dcfl, iou = results["dcfl"]["after"], results["iou"]["after"]
    assert dcfl["mAP"] > 0.4 and dcfl["mAP"] > iou["mAP"] + 0.15, (dcfl, iou)
    assert dcfl["mAP_tiny"] > iou["mAP_tiny"] + 0.05, (dcfl, iou)
