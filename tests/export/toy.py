"""A tiny detector behind the full contract, so that export tests trace in seconds.

Two levels (strides 16 and 32) of one strided conv each; its raw output has both kinds of
field a raw NamedTuple may have (a per-level list and a tensor), and it decodes with the
decoding RS-TinyNet uses. Register it as architecture ``toy`` with :func:`register_toy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import pytest
import torch
from rsdet.pipelines.export import export_model
from torch import Tensor, nn

from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.contract import DetectorNetwork
from rsdet.models.heads import decode_detections
from rsdet.models.priors import grid_points
from rsdet.models.spec import InputSpec, ModelSpec

STRIDES = (16, 32)
CLASSES = ("car", "tree")


@dataclass(frozen=True)
class ToyConfig:
    num_classes: int = 2
    in_channels: int = 3


class ToyRaw(NamedTuple):
    cls_logits: list[Tensor]  # per level (B, K, H_l, W_l)
    boxes: Tensor  # (B, N, 4) x1 y1 x2 y2, levels concatenated


class ToyNet(DetectorNetwork[ToyRaw]):
    size_divisor = 32
    box_type = "hbox"

    def __init__(self, config: ToyConfig):
        super().__init__()
        k = config.num_classes
        self.num_classes = k
        self.levels = nn.ModuleList(nn.Conv2d(config.in_channels, k + 4, 3, s, 1) for s in STRIDES)

    def forward(self, images, targets=None):
        logits, boxes = [], []
        for conv, stride in zip(self.levels, STRIDES, strict=True):
            out = conv(images)  # (B, K + 4, H, W)
            h, w = out.shape[-2:]
            points = grid_points(h, w, stride, device=out.device)
            ltrb = out[:, self.num_classes :].flatten(2).transpose(1, 2).exp() * stride
            boxes.append(torch.cat([points - ltrb[..., :2], points + ltrb[..., 2:]], dim=-1))
            logits.append(out[:, : self.num_classes])
        return ToyRaw(logits, torch.cat(boxes, dim=1))

    def decode(self, raw, image_hw, postprocess):
        flat = torch.cat([c.flatten(2).transpose(1, 2) for c in raw.cls_logits], dim=1)
        sizes = [c.shape[-2] * c.shape[-1] for c in raw.cls_logits]
        return decode_detections(flat, raw.boxes, sizes, image_hw, postprocess)

    def dense_predictions(self, raw, image_hw):
        height, width = image_hw
        x1, y1, x2, y2 = raw.boxes.unbind(-1)
        clipped = [x1.clamp(0, width), y1.clamp(0, height), x2.clamp(0, width), y2.clamp(0, height)]
        flat = torch.cat([c.flatten(2).transpose(1, 2) for c in raw.cls_logits], dim=1)
        return torch.stack(clipped, dim=-1), flat.sigmoid()


def build_toy(config: ToyConfig, load_weights: bool = True) -> ToyNet:
    return ToyNet(config)


def register_toy(monkeypatch):
    from rsdet.models import zoo

    monkeypatch.setitem(zoo.ARCHITECTURES, "toy", lambda: zoo.Architecture(ToyConfig, build_toy))


def toy_spec(**changes) -> ModelSpec:
    values = dict(
        arch="toy",
        classes=CLASSES,
        input=InputSpec(gsd_m=0.5),
        tile_size=128,
        overlap=32,
        score_thr=0.2,
        iou_thr=0.5,
    )
    values.update(changes)
    return ModelSpec(**values)


def write_toy_checkpoint(path, spec=None, seed=0):
    """A toy checkpoint with seeded random weights: varied scores, boxes about a stride wide."""
    torch.manual_seed(seed)
    net = ToyNet(ToyConfig())
    k = net.num_classes
    with torch.no_grad():
        for conv in net.levels:
            conv.weight[:k].mul_(3.0)
            conv.weight[k:].mul_(0.2)
            conv.bias[k:].zero_()
    ckpt = Checkpoint(spec=spec or toy_spec(), arch_config={}, state_dict=net.state_dict())
    write_checkpoint(path, ckpt)
    return path


def export_toy(folder, *targets):
    """Write ``toy.pt`` and export it to ``toy_<target>.onnx`` per target (once per module).

    For module-scoped fixtures: the architecture is registered only while exporting; tests
    that load the files call :func:`register_toy` themselves.
    """
    with pytest.MonkeyPatch.context() as mp:
        register_toy(mp)
        ckpt = write_toy_checkpoint(folder / "toy.pt")
        files = {t: folder / f"toy_{t}.onnx" for t in targets}
        for target, path in files.items():
            export_model(str(ckpt), path, target=target)
    return ckpt, files
