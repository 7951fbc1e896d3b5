"""ONNX Runtime against rsdet's eager path: milliseconds per tile, one thread, and the ratio.

For the model (default: RS-TinyNet-n with random weights, seed 0, strides 4-32, the README's
speed-table network; ``--model trees`` or a checkpoint for a trained one) this times, on one
``--tile`` x ``--tile`` tile (a synthetic tree scene, standardised as the model says):

* **eager**: the network as ``rsdet detect`` runs it: ``load_model``'s BatchNorm-folded
  network, channels-last input, ``torch.inference_mode``;
* **onnxruntime**: the file ``rsdet export`` writes (raw outputs, free batch / height /
  width, opset 18), one intra-op thread, graph optimisations on (ORT's default).

Each is timed twice: the network alone (raw outputs), and end to end per tile
(``Detector.predict_batch`` against ``OnnxModel.predict_batch``: forward, decoding, NMS, the
same torch code after the forward). Median (min-max) of ``--runs`` after ``--warmup``.

``--dcn`` also times DCFL's deformable convolution: one DCNv2 block (offsets and mask from a
3x3 conv, 32 channels on 64 x 64) and a whole DCFL (CSP-n, 64-channel FPN and head, random
weights) at the same tile size: eager against ONNX Runtime with the ``grid_sample`` form and
with the ``gather`` form that export uses (rsdet.models.ops.deform_conv). Static shapes.

Run it on an otherwise idle machine::

    python benchmarks/bench_onnx.py --runs 7
    python benchmarks/bench_onnx.py --model trees --dcn --json onnx.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _detect_common import timed
from torch import nn

from rsdet.export.onnx_export import ExportOptions, export_onnx
from rsdet.export.runtime import load_onnx, open_session
from rsdet.models.dcfl import DCFLConfig, build_dcfl
from rsdet.models.detector import Detector
from rsdet.models.layers import fuse_conv_bn
from rsdet.models.ops import ModulatedDeformConv2d
from rsdet.models.rs_tinynet import RSTinyNetConfig, build_rs_tinynet
from rsdet.models.spec import ModelSpec
from rsdet.models.zoo import load_network
from rsdet.synthetic import make_scene


def summary(ms: list[float]) -> str:
    return f"{statistics.median(ms):.0f} ({min(ms):.0f}-{max(ms):.0f})"


def model_under_test(name: str):
    """(folded eval network, spec, arch config) of ``--model``."""
    if name != "n":
        network, ckpt = load_network(name)
        spec, config = ckpt.spec, ckpt.arch_config
    else:
        torch.manual_seed(0)
        cfg = RSTinyNetConfig(size="n")
        network = build_rs_tinynet(cfg).deploy()
        spec = ModelSpec(arch="rs_tinynet", classes=("object",))
        config = {"size": "n", "strides": list(cfg.strides), "num_classes": 1, "in_channels": 3}
    fuse_conv_bn(network.eval())
    return network, spec, config


def bench_network(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    network, spec, config = model_under_test(args.model)
    onnx_path = workdir / "model.onnx"
    export_onnx(network, spec, config, onnx_path, ExportOptions())
    onnx_model = load_onnx(onnx_path)
    detector = Detector(network, spec, device="cpu")
    image = make_scene(0, args.tile, "trees").image.transpose(2, 0, 1) / np.float32(255)
    mean, std = spec.input.standardisation()
    x = ((image - mean[:, None, None]) / std[:, None, None]).astype(np.float32)[None]
    xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    session, name = onnx_model.session, onnx_model.session.get_inputs()[0].name

    def eager_forward() -> None:
        with torch.inference_mode():
            network(xt)

    rows = {
        "eager_forward_ms": timed(eager_forward, args.runs, args.warmup),
        "ort_forward_ms": timed(lambda: session.run(None, {name: x}), args.runs, args.warmup),
        "eager_tile_ms": timed(
            lambda: detector.predict_batch(xt, standardised=True), args.runs, args.warmup
        ),
        "ort_tile_ms": timed(lambda: onnx_model.predict_batch(x), args.runs, args.warmup),
    }
    return {"model": args.model, "tile": args.tile, **rows}


class DCNBlock(nn.Module):
    """Offsets and mask from a 3x3 conv, then a DCNv2 (DCFL's PCB without the dilated conv)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.offset = nn.Conv2d(channels, 27, 3, 1, 1)
        nn.init.normal_(self.offset.weight, std=0.3)
        self.dcn = ModulatedDeformConv2d(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1, o2, m = self.offset(x).chunk(3, dim=1)
        return self.dcn(x, torch.cat([o1, o2], dim=1), m.sigmoid())


def ort_times(
    module: nn.Module, x: torch.Tensor, sampler: str, args: Any, path: Path
) -> list[float]:
    """Export ``module`` with every DCN in ``sampler`` form (static shapes), time ORT on ``x``."""
    layers = [m for m in module.modules() if isinstance(m, ModulatedDeformConv2d)]
    assert layers, "no deformable convolution to switch"
    for m in layers:
        m.sampler = sampler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (x,), dynamo=True, opset_version=18, verbose=False)
    assert program is not None
    program.save(str(path), external_data=False)
    for m in layers:
        m.sampler = "grid_sample"
    session = open_session(path, threads=1)
    feed = {session.get_inputs()[0].name: x.numpy()}
    return timed(lambda: session.run(None, feed), args.runs, args.warmup)


def bench_dcn(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    block = DCNBlock(32).eval()
    cfg = DCFLConfig(num_classes=15, backbone="csp-n", neck_channels=64, feat_channels=64)
    dcfl = build_dcfl(cfg, load_weights=False).eval()
    fuse_conv_bn(dcfl)

    class Raw(nn.Module):  # DCFL's raw outputs as a flat tuple
        def __init__(self) -> None:
            super().__init__()
            self.net = dcfl  # registered, so that ort_times finds its DCN layers

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            cls, deltas = self.net(x)
            return (*cls, *deltas)

    cases = [
        ("DCN block, 32 ch, 64 x 64", block, torch.randn(1, 32, 64, 64)),
        (f"DCFL CSP-n-64, {args.tile} tile", Raw().eval(), torch.randn(1, 3, args.tile, args.tile)),
    ]
    rows = []
    for label, module, x in cases:
        with torch.inference_mode():
            eager = timed(lambda m=module, x=x: m(x), args.runs, args.warmup)
        grid = ort_times(module, x, "grid_sample", args, workdir / "grid.onnx")
        gather = ort_times(module, x, "gather", args, workdir / "gather.onnx")
        rows.append(
            {"case": label, "eager_ms": eager, "ort_grid_ms": grid, "ort_gather_ms": gather}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="n", help="n (random RS-TinyNet-n) or a checkpoint")
    parser.add_argument("--tile", type=int, default=1024, help="tile edge, pixels")
    parser.add_argument("--runs", type=int, default=7, help="timed runs")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--dcn", action="store_true", help="also DCN and DCFL, grid vs gather")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        net = bench_network(args, Path(tmp))
        dcn = bench_dcn(args, Path(tmp)) if args.dcn else []
    print(
        f"{net['model']}, {args.tile} x {args.tile} tile, 1 thread, median (min-max) of {args.runs}"
    )
    print("| | eager (folded, channels-last) ms | onnxruntime ms | eager / onnxruntime |")
    print("|---|---|---|---|")
    for what, key in (("network", "forward"), ("tile end to end", "tile")):
        eager, ort = net[f"eager_{key}_ms"], net[f"ort_{key}_ms"]
        ratio = statistics.median(eager) / statistics.median(ort)
        print(f"| {what} | {summary(eager)} | {summary(ort)} | {ratio:.2f} |")
    if dcn:
        print("\n| | eager ms | ORT GridSample ms | ORT gather ms |")
        print("|---|---|---|---|")
        for r in dcn:
            cells = [summary(r[k]) for k in ("eager_ms", "ort_grid_ms", "ort_gather_ms")]
            print(f"| {r['case']} | {' | '.join(cells)} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"network": net, "dcn": dcn}, f, indent=2)


if __name__ == "__main__":
    main()
