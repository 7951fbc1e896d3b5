"""int8 on the CPU: folded fp32 torch, fp32 ONNX Runtime and int8 ONNX Runtime, side by side.

Issue 14 section 2 asks for an int8 path that is faster on the CPU without the deprecated
``torch.ao.quantization`` stack, shipped only at >= 1.5x over folded fp32 with <= 1 point of
AP50 lost. This script measures it, in one run, on the same tiles and one thread:

* **torch fp32**: the network as ``rsdet detect`` runs it (``load_model``: BatchNorm folded,
  channels-last input, ``torch.inference_mode``);
* **ORT fp32**: the file ``rsdet export`` writes;
* **ORT int8**: that file through ``onnxruntime.quantization.quantize_static``: QDQ format,
  int8 weights per output channel, uint8 activations, calibrated (``--calibration``) on
  ``--calib-tiles`` windows of the model's tile size (1024 px for ``trees``): the YELL
  *training* images when ``--yell`` exists, then synthetic tree scenes (seed 100, never scored).

Reported: per-tile milliseconds of the forward and of the whole tile (forward, decoding, NMS),
median (min-max) of ``--runs`` after ``--warmup``, the ratios to torch fp32, and AP50 of each
(rsdet's ``aitod`` protocol, score >= 0.01, as validation scores) on synthetic tree scenes
(``--test``) and on the YELL held-out images (``--yell``, when the folder exists).

Usage (one thread)::

    OMP_NUM_THREADS=1 python benchmarks/bench_int8.py --json int8.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _detect_common import timed
from torch import nn

from rsdet.datasets.loader import load_dataset
from rsdet.engine.recipe import EvalConfig
from rsdet.engine.validate import detect_samples
from rsdet.evaluation import evaluate
from rsdet.export.graph import raw_type, unflatten_raw
from rsdet.export.onnx_export import ExportOptions, export_onnx
from rsdet.export.runtime import OnnxModel, load_onnx, open_session
from rsdet.models.layers import fuse_conv_bn
from rsdet.models.spec import ModelSpec, Postprocess
from rsdet.models.zoo import load_network
from rsdet.structures import Detections
from rsdet.synthetic import make_scene


def standardise(image: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """(1, C, H, W) float32 network input of an (H, W, C) 8-bit image (fixed 0-255 scaling)."""
    low, high = spec.input.fixed_range()
    mean, std = spec.input.standardisation()
    unit = (np.moveaxis(image, -1, 0).astype(np.float32) - low[:, None, None]) / (high - low)[
        :, None, None
    ]
    return ((np.clip(unit, 0, 1) - mean[:, None, None]) / std[:, None, None]).astype(np.float32)[
        None
    ]


def calibration_tiles(spec: ModelSpec, count: int, yell: Path | None) -> list[np.ndarray]:
    """``count`` network inputs of the model's tile size: YELL training windows, then
    synthetic tree scenes, each padded to the size divisor.

    The tile size matters: the graph decodes boxes into tile pixels, so a calibration on
    smaller tiles clips every box coordinate of a larger tile (measured: 512 px calibration
    tiles cost 40 AP50 points on the YELL images, which run as 1024 px tiles).
    """
    from rsdet.datasets.pixels import open_image

    size, tiles = spec.tile_size, []
    if yell is not None and (yell / "train").is_dir():
        rng = np.random.default_rng(0)
        for sample in load_dataset(f"voc:{yell / 'train'}").samples:
            with open_image(sample) as reader:
                h, w = min(size, reader.height), min(size, reader.width)
                for _ in range(max(1, count // 4)):
                    top = int(rng.integers(0, reader.height - h + 1))
                    left = int(rng.integers(0, reader.width - w + 1))
                    tiles.append(padded(standardise(reader.read_region(top, left, h, w), spec)))
    seed = 100
    while len(tiles) < count:
        tiles.append(standardise(make_scene(seed, size, "trees").image, spec))
        seed += 1
    return tiles[:count]


def padded(x: np.ndarray, divisor: int = 32) -> np.ndarray:
    """``x`` (1, C, H, W) zero-padded at the bottom and right to multiples of ``divisor``."""
    h, w = x.shape[-2:]
    return np.pad(x, ((0, 0), (0, 0), (0, -h % divisor), (0, -w % divisor)))


class Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of inputs."""

    def __init__(self, name: str, tiles: list[np.ndarray]) -> None:
        self._it: Iterator[np.ndarray] = iter(tiles)
        self._name = name

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {self._name: x}


def quantise(
    fp32: Path, out: Path, tiles: list[np.ndarray], method: str, ops: str, fp32_heads: bool
) -> None:
    """Static QDQ int8 of ``fp32`` to ``out`` (metadata copied over).

    ``ops``: comma-separated ONNX op types to quantise ("" = onnxruntime's default set);
    ``fp32_heads``: leave the convs whose outputs reach a graph output without another conv
    (the prediction layers) in float.
    """
    import onnx
    from onnxruntime import quantization as q

    pre = out.with_suffix(".pre.onnx")
    q.quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    name = open_session(fp32, threads=1).get_inputs()[0].name
    q.quantize_static(
        str(pre),
        str(out),
        Reader(name, tiles),
        quant_format=q.QuantFormat.QDQ,
        op_types_to_quantize=[o for o in ops.split(",") if o] or None,
        nodes_to_exclude=head_convs(onnx.load(str(pre))) if fp32_heads else None,
        per_channel=True,
        activation_type=q.QuantType.QUInt8,
        weight_type=q.QuantType.QInt8,
        calibrate_method=getattr(q.CalibrationMethod, method),
    )
    src, dst = onnx.load(str(fp32)), onnx.load(str(out))
    del dst.metadata_props[:]
    dst.metadata_props.extend(src.metadata_props)  # rsdet's metadata, so load_onnx reads it
    onnx.save(dst, str(out))


def head_convs(model: Any) -> list[str]:
    """Names of the Conv nodes from which a graph output is reached through no other Conv."""
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    outputs = {o.name for o in model.graph.output}
    heads = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        todo, seen = list(node.output), set()
        while todo:
            t = todo.pop()
            if t in outputs:
                heads.append(node.name)
                break
            for c in consumers.get(t, []):
                if c.op_type != "Conv" and c.name not in seen:
                    seen.add(c.name)
                    todo += list(c.output)
    return heads


class OrtNetwork(nn.Module):
    """An ONNX Runtime session behind the network interface ``Detector`` uses."""

    def __init__(self, model: OnnxModel) -> None:
        super().__init__()
        self.model = model
        self.size_divisor = model.network.size_divisor
        self._raw_cls = raw_type(model.network)

    def detect(self, images: torch.Tensor, postprocess: Postprocess) -> list[Detections]:
        arrays = self.model.session.run(
            self.model.metadata.output_names(),
            {self.model.session.get_inputs()[0].name: images.contiguous().numpy()},
        )
        raw = unflatten_raw(
            [torch.from_numpy(a) for a in arrays], self.model.metadata.outputs, self._raw_cls
        )
        return self.model.network.decode(raw, tuple(images.shape[-2:]), postprocess)


def ap50(network: Any, spec: ModelSpec, samples: list[Any]) -> float:
    """AP50 (aitod protocol, score >= 0.01, as validation scores) of ``network`` on ``samples``."""
    config = EvalConfig(protocol="aitod", score_thr=0.01, max_det=1500)
    dets = detect_samples(network, spec, samples, config, torch.device("cpu"))
    return float(evaluate("aitod", samples, dets, spec.classes).metrics["AP50"] or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="trees", help="checkpoint or packaged name")
    parser.add_argument("--tile", type=int, default=1024, help="timed tile edge, pixels")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--calib-tiles", type=int, default=16)
    parser.add_argument("--calibration", default="MinMax", help="MinMax, Entropy, Percentile")
    parser.add_argument("--ops", default="", help="op types to quantise, e.g. Conv")
    parser.add_argument("--fp32-heads", action="store_true", help="keep prediction convs float")
    parser.add_argument("--test", default="synthetic:?n=8&size=512&seed=7&kind=trees")
    parser.add_argument("--yell", type=Path, default=Path("data/trees"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    network, ckpt = load_network(args.model)
    fuse_conv_bn(network.eval())
    spec = ckpt.spec
    yell = args.yell if (args.yell / "val").is_dir() else None
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        export_onnx(network, spec, ckpt.arch_config, fp32_path, ExportOptions())
        start = time.perf_counter()
        tiles = calibration_tiles(spec, args.calib_tiles, yell)
        quantise(fp32_path, int8_path, tiles, args.calibration, args.ops, args.fp32_heads)
        quant_s = time.perf_counter() - start
        runners = {
            "torch fp32": network,
            "ORT fp32": OrtNetwork(load_onnx(fp32_path)),
            "ORT int8": OrtNetwork(load_onnx(int8_path)),
        }
        sizes = {"ORT fp32": fp32_path.stat().st_size, "ORT int8": int8_path.stat().st_size}
        rows = measure(args, spec, runners, yell)
    report(args, rows, sizes, quant_s)


def measure(
    args: argparse.Namespace, spec: ModelSpec, runners: dict[str, Any], yell: Path | None
) -> dict[str, dict[str, Any]]:
    """Per runner: forward and tile ms on one tile, AP50 on the test scenes (and YELL).

    The runners take turns within each timed round, so that load from other jobs on a
    shared machine falls on all of them alike.
    """
    from rsdet.models.detector import Detector

    x = standardise(make_scene(0, args.tile, "trees").image, spec)
    xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    calls: dict[str, dict[str, Callable[[], Any]]] = {}
    for name, net in runners.items():
        detector = Detector(net, spec, device="cpu")
        calls[name] = {
            "forward_ms": forward_call(net, x, xt),
            "tile_ms": lambda d=detector: d.predict_batch(xt, standardised=True),
        }
    rows: dict[str, dict[str, Any]] = {n: {"forward_ms": [], "tile_ms": []} for n in runners}
    for i in range(args.warmup + args.runs):
        for name, fns in calls.items():
            for key, fn in fns.items():
                ms = timed(fn, 1, 0)[0]
                if i >= args.warmup:
                    rows[name][key].append(ms)
    test = list(load_dataset(args.test).samples)
    held = list(load_dataset(f"voc:{yell / 'val'}").samples) if yell else []
    for name, net in runners.items():
        rows[name]["ap50_synthetic"] = ap50(net, spec, test)
        rows[name]["ap50_yell"] = ap50(net, spec, held) if held else None
        print(name, json.dumps(rows[name]), flush=True)
    return rows


def forward_call(net: Any, x: np.ndarray, xt: torch.Tensor) -> Callable[[], Any]:
    """The network alone on one standardised tile (numpy for ORT, channels-last for torch)."""
    if isinstance(net, OrtNetwork):
        session = net.model.session
        name = session.get_inputs()[0].name
        return lambda: session.run(None, {name: x})

    def forward() -> None:
        with torch.inference_mode():
            net(xt)

    return forward


def report(
    args: argparse.Namespace, rows: dict[str, dict[str, Any]], sizes: dict[str, int], q_s: float
) -> None:
    base_f = statistics.median(rows["torch fp32"]["forward_ms"])
    base_t = statistics.median(rows["torch fp32"]["tile_ms"])
    min_f, min_t = min(rows["torch fp32"]["forward_ms"]), min(rows["torch fp32"]["tile_ms"])
    print(f"\n{args.model}, {args.tile} px tile, 1 thread, median (min-max) of {args.runs}; "
          f"int8 calibration {args.calibration} on {args.calib_tiles} tiles ({q_s:.0f} s), "
          f"ops {args.ops or 'default'}, fp32 heads {args.fp32_heads}")  # fmt: skip
    print(
        "| | forward ms | tile ms | speed-up (tile; forward) | speed-up of the fastest runs "
        "| AP50 synthetic | AP50 YELL held-out | file |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        f, t = r["forward_ms"], r["tile_ms"]
        yell = "-" if r["ap50_yell"] is None else f"{100 * r['ap50_yell']:.1f}"
        size = f"{sizes[name] / 1e6:.2f} MB" if name in sizes else "-"
        print(
            f"| {name} | {statistics.median(f):.0f} ({min(f):.0f}-{max(f):.0f}) "
            f"| {statistics.median(t):.0f} ({min(t):.0f}-{max(t):.0f}) "
            f"| {base_t / statistics.median(t):.2f}; {base_f / statistics.median(f):.2f} "
            f"| {min_t / min(t):.2f}; {min_f / min(f):.2f} "
            f"| {100 * r['ap50_synthetic']:.1f} | {yell} | {size} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "sizes": sizes}, indent=2))


if __name__ == "__main__":
    main()
