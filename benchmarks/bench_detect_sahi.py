"""The same scene and network through ``rsdet detect`` and through SAHI's sliced prediction.

SAHI gets the network through a ``DetectionModel`` subclass that batches slices natively
(``predict_batch``), the same slice size, overlap and batch size, ``perform_standard_pred``
off (its default would add a forward pass over the whole scene) and its default merge
(GREEDYNMM / IOS 0.5, which SAHI itself switches to NMS / IOU below confidence 0.1). Its
timer covers reading the GeoTIFF into memory and the sliced prediction; rsdet's covers
the whole ``detect_to_file`` call (reading, merging, georeferencing, writing the GeoPackage
and its style). Both get the same loaded, warmed-up Detector (the checkpoint loading time
of the command line is measured by bench_detect_overhead.py). Ratio < 1: rsdet is faster.

Setup (benchmark only, not a project dependency)::

    pip install --no-deps sahi pybboxes fire terminaltables && pip install pillow tqdm requests

``*_outside_forward_s`` is each tool's wall time minus the time spent in the network's
forward in that same run: the part of the difference that is not machine-load noise.

Run: ``python benchmarks/bench_detect_sahi.py [--model CKPT] [--size 3072] [--dense]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from _detect_common import model_tiling, report, textured_scene, tinynet_checkpoint
from rsdet.pipelines.detect_scene import DetectOptions, detect_to_file
from sahi.models.base import DetectionModel
from sahi.postprocess.backends import set_postprocess_backend
from sahi.predict import get_sliced_prediction
from sahi.prediction import ObjectPrediction

from rsdet import load_model
from rsdet.io.radiometry import scale_to_unit
from rsdet.models.detector import Detector
from rsdet.models.spec import Postprocess


class RsdetSahiModel(DetectionModel):
    """An rsdet :class:`Detector` behind SAHI's model interface, with native batching."""

    def set_model(self, model: Any, **kwargs: Any) -> None:
        self.model = model
        self.category_mapping = {str(i): name for i, name in enumerate(model.classes)}

    def _scaled(self, image: np.ndarray) -> np.ndarray:
        low, high = self.model.spec.input.fixed_range()
        return scale_to_unit(np.moveaxis(image, -1, 0), low, high)

    def perform_inference(self, image: np.ndarray) -> None:
        self.perform_batch_inference([image])

    def perform_batch_inference(self, images: list[np.ndarray]) -> None:
        batch = np.stack([self._scaled(img) for img in images])
        self._original_predictions = [d.numpy() for d in self.model.predict_batch(batch)]
        self._batch_images = None
        self._original_shapes = [img.shape for img in images]

    def _create_object_prediction_list_from_original_predictions(
        self,
        shift_amount_list: list[list[int | float]] | None = None,
        full_shape_list: list[list[int | float]] | None = None,
    ) -> None:
        shifts = shift_amount_list or [[0, 0]] * len(self._original_predictions)
        per_image = []
        for k, (boxes, scores, labels) in enumerate(self._original_predictions):
            full = full_shape_list[k] if full_shape_list else None
            per_image.append(
                [
                    ObjectPrediction(
                        bbox=box.tolist(),
                        category_id=int(label),
                        category_name=self.category_mapping[str(int(label))],
                        score=float(score),
                        shift_amount=shifts[k],
                        full_shape=full,
                    )
                    for box, score, label in zip(boxes, scores, labels, strict=True)
                    if score >= self.confidence_threshold
                ]
            )
        self._object_prediction_list_per_image = per_image


def _time_forward(det: Detector) -> list[float]:
    """Wrap the network's forward; the returned one-item list accumulates its wall time."""
    spent = [0.0]
    detect = det.network.detect  # the network: forward, decoding and NMS

    def timed(images: torch.Tensor, postprocess: Postprocess) -> Any:
        start = time.perf_counter()
        try:
            return detect(images, postprocess)
        finally:
            spent[0] += time.perf_counter() - start

    det.network.detect = timed  # type: ignore[method-assign]
    return spent


def run_sahi(scene: Path, det: Detector, batch: int, score_thr: float) -> tuple[float, float, int]:
    tile, overlap = det.spec.tile_size, det.spec.overlap
    sahi_model = RsdetSahiModel(model=det, confidence_threshold=score_thr, device="cpu")
    start, start_cpu = time.perf_counter(), time.process_time()
    with rasterio.open(scene) as ds:
        image = np.moveaxis(ds.read(list(det.spec.input.bands)), 0, -1)
    result = get_sliced_prediction(
        image,
        sahi_model,
        slice_height=tile,
        slice_width=tile,
        overlap_height_ratio=overlap / tile,
        overlap_width_ratio=overlap / tile,
        perform_standard_pred=False,
        batch_size=batch,
        verbose=0,
    )
    cpu = time.process_time() - start_cpu
    return time.perf_counter() - start, cpu, len(result.object_prediction_list)


def run_rsdet(
    scene: Path, det: Detector, out: Path, batch: int, score_thr: float
) -> tuple[float, float, int]:
    opts = DetectOptions(batch_size=batch, score_thr=score_thr)
    start, start_cpu = time.perf_counter(), time.process_time()
    summary = detect_to_file([str(scene)], out, det, opts, quiet=True, overwrite=True)
    return time.perf_counter() - start, time.process_time() - start_cpu, summary.objects


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
    parser.add_argument("--repeats", type=int, default=1, help="alternate runs; report the fastest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_postprocess_backend("numpy")  # no torchvision here
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model = args.model or str(tinynet_checkpoint(tmp_path / "rs_tinynet_n_random.pt"))
        scene = textured_scene(tmp_path / "scene.tif", args.size, args.size)
        det = load_model(model, device="cpu")
        forward_s = _time_forward(det)
        score_thr = 0.005 if args.dense else det.spec.score_thr
        det.postprocess = replace(det.postprocess, score_thr=score_thr)  # SAHI's calls too
        with torch.inference_mode():
            det.network(torch.zeros(1, det.spec.input.num_channels, 64, 64))  # warm-up for both
        rsdet_runs, sahi_runs = [], []
        out = tmp_path / "out.gpkg"
        for _ in range(args.repeats):
            forward_s[0] = 0.0
            run = run_rsdet(scene, det, out, args.batch_size, score_thr)
            rsdet_runs.append((*run, run[0] - forward_s[0]))
            forward_s[0] = 0.0
            run = run_sahi(scene, det, args.batch_size, score_thr)
            sahi_runs.append((*run, run[0] - forward_s[0]))
        (rs_s, rs_cpu, rs_n, rs_rest), (sahi_s, sahi_cpu, sahi_n, sahi_rest) = (
            min(rsdet_runs),
            min(sahi_runs),
        )
        tile, overlap = model_tiling(model)
        report(
            bench="detect_vs_sahi",
            scene_px=f"{args.size}x{args.size}",
            tile_size=tile,
            overlap=overlap,
            batch_size=args.batch_size,
            threads=args.threads,
            dense=args.dense,
            rsdet_s=round(rs_s, 3),
            sahi_s=round(sahi_s, 3),
            ratio_rsdet_over_sahi=round(rs_s / sahi_s, 3),
            rsdet_cpu_s=round(rs_cpu, 3),
            sahi_cpu_s=round(sahi_cpu, 3),
            ratio_cpu=round(rs_cpu / sahi_cpu, 3),
            rsdet_outside_forward_s=round(rs_rest, 3),
            sahi_outside_forward_s=round(sahi_rest, 3),
            load_avg=round(os.getloadavg()[0], 1),
            rsdet_objects=rs_n,
            sahi_objects=sahi_n,
        )


if __name__ == "__main__":
    main()
