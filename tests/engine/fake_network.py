"""A tiny test-double detector that follows rsdet's network contract.

A CenterNet-like network at stride 4: a class heatmap (object centres) plus a log box size
per cell, and a training-only auxiliary head that ``deploy()`` removes, like RS-TinyNet's
ARB. Small enough for CPU tests, real enough to learn where objects are.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsdet.models import zoo
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections, HBoxes, RBoxes, Targets

ARCH = "fake"


@dataclass(frozen=True)
class FakeConfig:
    num_classes: int = 1
    in_channels: int = 3
    width: int = 8
    oriented: bool = False
    dropout: float = 0.0


class FakeNet(DetectorNetwork):
    size_divisor = 4

    def __init__(self, cfg: FakeConfig) -> None:
        super().__init__()
        w = cfg.width
        self.cfg = cfg
        self.body = nn.Sequential(
            nn.Conv2d(cfg.in_channels, w, 3, 2, 1),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, 2, 1),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.Dropout2d(cfg.dropout),  # exercises the torch RNG (resume must restore it)
            nn.Conv2d(w, w, 3, 1, 1),
            nn.ReLU(),
        )
        self.heat = nn.Conv2d(w, cfg.num_classes, 1)
        nn.init.constant_(self.heat.bias, -2.0)
        self.size = nn.Conv2d(w, 2, 1)
        self.aux: nn.Module | None = nn.Conv2d(w, cfg.num_classes, 1)
        self.box_type = "rbox" if cfg.oriented else "hbox"
        self.calls = 0

    def deploy(self) -> FakeNet:
        self.aux = None
        return self

    def forward(self, images: Tensor, targets: list[Targets] | None = None):
        self.calls += 1
        f = self.body(images)
        heat, size = self.heat(f), self.size(f)
        if targets is None:
            assert not self.training
            return heat, size

        want, mask, log_wh = self._encode(targets, heat.shape)
        losses = {"heat": F.binary_cross_entropy_with_logits(heat, want, reduction="mean") * 10}
        pos = mask.sum().clamp(min=1)
        losses["size"] = (F.l1_loss(size, log_wh, reduction="none").sum(1) * mask).sum() / pos
        if self.aux is not None:
            losses["aux"] = 0.1 * F.binary_cross_entropy_with_logits(self.aux(f), want)
        return losses

    def _encode(self, targets: list[Targets], shape: torch.Size) -> tuple[Tensor, Tensor, Tensor]:
        b, _, h, w = shape
        want = torch.zeros(shape)
        mask = torch.zeros(b, h, w)
        log_wh = torch.zeros(b, 2, h, w)
        for i, t in enumerate(targets):
            keep = ~t.ignore
            env = t.boxes.envelope().tensor[keep]
            cx = ((env[:, 0] + env[:, 2]) / 8).long().clamp(0, w - 1)
            cy = ((env[:, 1] + env[:, 3]) / 8).long().clamp(0, h - 1)
            want[i, t.labels[keep], cy, cx] = 1.0
            mask[i, cy, cx] = 1.0
            wh = (env[:, 2:] - env[:, :2]).clamp(min=1).log()
            log_wh[i, :, cy, cx] = wh.T
        return want, mask, log_wh

    def decode(self, raw, image_hw, postprocess: Postprocess) -> list[Detections]:
        heat, size = raw
        return [self._decode(h, s, postprocess) for h, s in zip(heat, size, strict=True)]

    def _decode(self, heat: Tensor, size: Tensor, post: Postprocess) -> Detections:
        prob = heat.sigmoid()
        peaks = prob == F.max_pool2d(prob[None], 3, 1, 1)[0]
        k, ys, xs = torch.nonzero(peaks & (prob > post.score_thr), as_tuple=True)
        scores = prob[k, ys, xs]
        order = scores.argsort(descending=True)[: post.max_det]
        k, ys, xs, scores = k[order], ys[order], xs[order], scores[order]
        wh = size[:, ys, xs].T.exp()
        cx, cy = (xs.float() + 0.5) * 4, (ys.float() + 0.5) * 4
        if self.cfg.oriented:
            rb = torch.stack([cx, cy, wh[:, 0], wh[:, 1], torch.zeros_like(cx)], 1)
            return Detections(RBoxes(rb).regularized(), scores, k)
        xyxy = torch.stack(
            [cx - wh[:, 0] / 2, cy - wh[:, 1] / 2, cx + wh[:, 0] / 2, cy + wh[:, 1] / 2], 1
        )
        return Detections(HBoxes(xyxy), scores, k)


def build_fake(config: FakeConfig, load_weights: bool = True) -> FakeNet:
    return FakeNet(config)


def fake_architecture() -> zoo.Architecture:
    return zoo.Architecture(FakeConfig, build_fake)


def register_fake(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the fake network as architecture ``fake`` for the duration of a test."""
    monkeypatch.setitem(zoo.ARCHITECTURES, ARCH, fake_architecture)
    return ARCH


def tiny_recipe_dict(**changes) -> dict:
    """A recipe that trains the fake network on 4 synthetic scenes in about a second."""
    recipe = {
        "model": {"arch": ARCH, "config": {"width": 8}, "tile_size": 128, "overlap": 16},
        "data": {
            "train": "synthetic:?n=4&size=96&seed=0&kind=vehicles",
            "val": "synthetic:?n=2&size=96&seed=1&kind=vehicles",
            "tile_size": 64,
            "windows_per_epoch": 8,
            "augment": {"brightness": 0.2, "hue": 0.02, "scale": [0.8, 1.25]},
        },
        "optim": {"lr": 0.01},
        "schedule": {"warmup_iters": 2},
        "epochs": 2,
        "batch_size": 4,
        "workers": 0,
        "device": "cpu",
        "ema": {"tau": 5.0},
        "eval": {"metric": "AP50", "precise_bn": 2},
        "output": {"tensorboard": False},
    }
    for key, value in changes.items():
        node = recipe
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return recipe
