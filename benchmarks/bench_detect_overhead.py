"""End-to-end ``rsdet detect`` time divided by the bare network forward time on the same tiles.

The bare time is ``network(x)`` (the network's own decode and per-tile NMS included) on the
exact tensors the pipeline feeds it, prepared beforehand and outside the timer, after one
warm-up call. The end-to-end time adds everything else: loading the checkpoint, the first
(cold) forward call, windowed reading and scaling (in the reader thread), standardisation,
edge flags, the resume journal, the cross-tile merge, georeferencing and writing the
GeoPackage and its style. ``pipeline_warm_model`` passes an already loaded and warmed-up
Detector, which leaves only the per-tile costs. ``cli`` runs the ``rsdet detect`` command in
a fresh process (Python and torch start-up included). Goal: ratio <= 1.10.

Run::

    python benchmarks/bench_detect_overhead.py [--model CKPT] [--size 3072] [--threads 1]

Without ``--model`` a random-weight RS-TinyNet-n checkpoint is built (see _detect_common).
``--dense`` lowers the score threshold so every tile returns ``max_det`` boxes (random
weights score every box 0.01), which stresses the merge and the writers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _detect_common import model_tiling, report, textured_scene, tinynet_checkpoint
from rsdet.pipelines.detect_scene import DetectOptions, detect_to_file

from rsdet import load_model
from rsdet.io.raster import Radiometry, open_dataset, read_window
from rsdet.tiling import tile_grid


def bare_forward_seconds(
    scene: Path, model: str, batch: int, score_thr: float | None
) -> tuple[float, float]:
    """Wall and CPU seconds of ``network(x)`` over the scene's tiles, inputs made beforehand."""
    det = load_model(model, device="cpu")
    if score_thr is not None:
        det.set_postprocess(score_thr=score_thr)
    spec = det.spec
    with open_dataset(str(scene)) as ds:
        windows = tile_grid(ds.height, ds.width, spec.tile_size, spec.overlap)
        radiometry = Radiometry.fixed(spec.input)
        tiles = []
        for w in windows:
            raw, _ = read_window(ds, w, spec.input.bands, (w.height, w.width), masked=False)
            tiles.append(radiometry.to_unit(raw, None))
    mean = torch.tensor(spec.input.mean).reshape(-1, 1, 1)
    std = torch.tensor(spec.input.std).reshape(-1, 1, 1)
    inputs = []
    for i in range(0, len(tiles), batch):
        x = (torch.from_numpy(np.stack(tiles[i : i + batch])) - mean) / std
        d = det.size_divisor
        inputs.append(F.pad(x, (0, (-x.shape[-1]) % d, 0, (-x.shape[-2]) % d)))
    wall = cpu = 0.0
    with torch.inference_mode():
        det.module(inputs[0][:1])  # warm-up: first-call allocations are not the model's cost
        for x in inputs:
            start, start_cpu = time.perf_counter(), time.process_time()
            det.module(x)
            wall += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
    return wall, cpu


def pipeline_seconds(
    scene: Path, model: Any, out: Path, batch: int, score_thr: float | None
) -> tuple[float, float, int]:
    """Wall and CPU seconds (all threads) of the whole run; ``model`` a path or a Detector."""
    opts = DetectOptions(batch_size=batch, score_thr=score_thr)
    start, start_cpu = time.perf_counter(), time.process_time()
    summary = detect_to_file(
        [str(scene)], out, model, opts, device="cpu", quiet=True, overwrite=True
    )
    return time.perf_counter() - start, time.process_time() - start_cpu, summary.objects


def cli_seconds(
    scene: Path, model: str, out: Path, batch: int, score_thr: float | None, threads: int
) -> float:
    entry = "from rsdet.cli.main import main; main()"
    cmd = [sys.executable, "-c", entry, "detect", str(scene), "--out", str(out)]
    cmd += [
        "--model",
        model,
        "--batch-size",
        str(batch),
        "--device",
        "cpu",
        "--quiet",
        "--overwrite",
    ]
    if score_thr is not None:
        cmd += ["--score-thr", str(score_thr)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}  # torch's intra-op threads
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="checkpoint path or packaged name (default: random RS-TinyNet-n)"
    )
    parser.add_argument("--size", type=int, default=3072, help="scene edge, pixels")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--dense", action="store_true", help="score_thr 0.005: max_det boxes per tile"
    )
    parser.add_argument("--no-cli", action="store_true", help="skip the subprocess CLI run")
    parser.add_argument("--repeats", type=int, default=1, help="alternate runs; keep the fastest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    score_thr = 0.005 if args.dense else None
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model = args.model or str(tinynet_checkpoint(tmp_path / "rs_tinynet_n_random.pt"))
        scene = textured_scene(tmp_path / "scene.tif", args.size, args.size)
        tile, overlap = model_tiling(model)
        warm = load_model(model, device="cpu")  # loaded and run once: no per-run constants
        if score_thr is not None:
            warm.set_postprocess(score_thr=score_thr)
        with torch.inference_mode():
            warm.module(torch.zeros(args.batch_size, 3, tile, tile))
        bare, e2e, e2e_warm, cli = [], [], [], []
        batch = args.batch_size
        for _ in range(args.repeats):  # alternate, so that load changes hit both alike
            bare.append(bare_forward_seconds(scene, model, batch, score_thr))
            e2e.append(pipeline_seconds(scene, model, tmp_path / "o.gpkg", batch, score_thr))
            e2e_warm.append(pipeline_seconds(scene, warm, tmp_path / "w.gpkg", batch, score_thr))
            if not args.no_cli:
                c = tmp_path / "c.gpkg"
                cli.append(cli_seconds(scene, model, c, batch, score_thr, args.threads))
        (bare_s, bare_cpu), (e2e_s, e2e_cpu, objects) = min(bare), min(e2e)
        warm_s, warm_cpu, _ = min(e2e_warm)
        result = dict(
            bench="detect_overhead",
            scene_px=f"{args.size}x{args.size}",
            tiles=len(tile_grid(args.size, args.size, tile, overlap)),
            tile_size=tile,
            overlap=overlap,
            batch_size=args.batch_size,
            threads=args.threads,
            dense=args.dense,
            repeats=args.repeats,
            load_avg=round(os.getloadavg()[0], 1),
            objects=objects,
            bare_forward_s=round(bare_s, 3),
            pipeline_s=round(e2e_s, 3),
            ratio_pipeline=round(e2e_s / bare_s, 3),
            bare_forward_cpu_s=round(bare_cpu, 3),
            pipeline_cpu_s=round(e2e_cpu, 3),
            ratio_pipeline_cpu=round(e2e_cpu / bare_cpu, 3),
            pipeline_warm_model_s=round(warm_s, 3),
            ratio_pipeline_warm_model=round(warm_s / bare_s, 3),
            ratio_pipeline_warm_model_cpu=round(warm_cpu / bare_cpu, 3),
        )
        if cli:
            result.update(cli_s=round(min(cli), 3), ratio_cli=round(min(cli) / bare_s, 3))
        report(**result)


if __name__ == "__main__":
    main()
