"""End-to-end ``rsdet detect`` time divided by the network's own forward time on the same tiles.

Both are measured in the same run, so machine load hits them alike: the network's
``forward`` (decode and per-tile NMS included) is wrapped with a timer, and the end-to-end
time covers everything a command does after start-up: loading the checkpoint, checking the
scene, windowed reading and scaling (in the reader thread), standardisation, edge flags, the
resume journal, the cross-tile merge, georeferencing and writing the GeoPackage and its
style. Goal: ratio <= 1.10. The ``rsdet detect`` command in a fresh process is also timed,
with the interpreter start-up (imports of typer, torch, rasterio, geopandas) reported apart.

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

import torch
from _detect_common import model_tiling, report, textured_scene, tinynet_checkpoint
from rsdet.pipelines.detect_scene import DetectOptions, detect_to_file

from rsdet import load_model
from rsdet.models.spec import Postprocess
from rsdet.tiling import tile_grid


def in_run(
    scene: Path, model: str, out: Path, batch: int, score_thr: float | None
) -> dict[str, Any]:
    """One in-process run: end-to-end and forward-only seconds (wall, and CPU)."""
    spent = {"wall": 0.0, "cpu": 0.0}
    start, start_cpu = time.perf_counter(), time.process_time()
    det = load_model(model, device="cpu")
    detect = det.network.detect  # the network: forward, decoding and NMS

    def timed_forward(images: torch.Tensor, postprocess: Postprocess) -> Any:
        t, c = time.perf_counter(), time.thread_time()  # torch computes in this thread
        try:
            return detect(images, postprocess)
        finally:
            spent["wall"] += time.perf_counter() - t
            spent["cpu"] += time.thread_time() - c

    det.network.detect = timed_forward  # type: ignore[method-assign]
    opts = DetectOptions(batch_size=batch, score_thr=score_thr)
    summary = detect_to_file([str(scene)], out, det, opts, quiet=True, overwrite=True)
    total, total_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return dict(
        objects=summary.objects,
        end_to_end_s=round(total, 3),
        forward_s=round(spent["wall"], 3),
        ratio=round(total / spent["wall"], 3),
        end_to_end_cpu_s=round(total_cpu, 3),
        forward_cpu_s=round(spent["cpu"], 3),
        ratio_cpu=round(total_cpu / spent["cpu"], 3),
    )


def command(args: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}  # torch's intra-op threads
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", *args], check=True, env=env)
    return time.perf_counter() - start


def cli_seconds(
    scene: Path, model: str, out: Path, batch: int, score_thr: float | None, threads: int
) -> dict[str, float]:
    detect = ["detect", str(scene), "--out", str(out), "--model", model, "--quiet", "--overwrite"]
    detect += ["--batch-size", str(batch), "--device", "cpu"]
    if score_thr is not None:
        detect += ["--score-thr", str(score_thr)]
    run = "from rsdet.cli.main import main; main()"
    startup = "import rsdet.cli.main, rsdet.pipelines.detect_scene"
    return dict(
        cli_s=round(command([run, *detect], threads), 3),
        startup_s=round(command([startup], threads), 3),
    )


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
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    score_thr = 0.005 if args.dense else None
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model = args.model or str(tinynet_checkpoint(tmp_path / "rs_tinynet_n_random.pt"))
        scene = textured_scene(tmp_path / "scene.tif", args.size, args.size)
        tile, overlap = model_tiling(model)
        result = dict(
            bench="detect_overhead",
            scene_px=f"{args.size}x{args.size}",
            tiles=len(tile_grid(args.size, args.size, tile, overlap)),
            tile_size=tile,
            overlap=overlap,
            batch_size=args.batch_size,
            threads=args.threads,
            dense=args.dense,
            **in_run(scene, model, tmp_path / "o.gpkg", args.batch_size, score_thr),
        )
        if not args.no_cli:
            result.update(
                cli_seconds(
                    scene, model, tmp_path / "c.gpkg", args.batch_size, score_thr, args.threads
                )
            )
        result["load_avg"] = round(os.getloadavg()[0], 1)
        report(**result)


if __name__ == "__main__":
    main()
