"""Peak memory of ``rsdet detect`` on 0.1, 0.5 and 2 gigapixel scenes (goal: flat), and the
cost of a scene that is 99 % nodata compared with a scene of its valid part alone.

Each run happens in a fresh child process, so its peak RSS is its own. The scenes are
compressed, tiled GeoTIFFs written block by block (constant grey: cheap to write, and every
tile is still read, decoded, scaled and sent to the network). The network is a null
detector (one pooling op, no boxes), because a real one would need hours on a CPU for
2 gigapixels; its activations would add the same constant to every scene size.

Run: ``python benchmarks/bench_detect_memory.py [--sizes 0.1,0.5,2] [--batch-size 4]``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rasterio
from _detect_common import constant_scene, peak_rss_mb, report
from rasterio.enums import Resampling

CHILD = "--child"


def child(scene: str, out: str, batch: int, prefetch: int) -> None:
    import torch
    from rsdet.pipelines.detect_scene import DetectOptions, detect_to_file

    from rsdet.models.contract import DetectorNetwork
    from rsdet.models.detector import Detector
    from rsdet.models.spec import InputSpec, ModelSpec
    from rsdet.structures import Detections

    class NullNet(DetectorNetwork):
        size_divisor = 32
        box_type = "hbox"

        def forward(self, images: torch.Tensor, targets=None) -> torch.Tensor:
            return torch.nn.functional.avg_pool2d(images, 8)  # touch every pixel once

        def decode(self, raw, image_hw, postprocess) -> list[Detections]:
            return [Detections.empty() for _ in raw]

    torch.set_num_threads(1)
    spec = ModelSpec(
        arch="null", classes=("object",), input=InputSpec(), tile_size=1024, overlap=128
    )
    det = Detector(NullNet(), spec, device="cpu")
    base = peak_rss_mb()
    start = time.perf_counter()
    opts = DetectOptions(batch_size=batch, prefetch=prefetch)
    summary = detect_to_file([scene], out, det, opts, quiet=True, overwrite=True)
    print(
        json.dumps(
            dict(
                seconds=round(time.perf_counter() - start, 2),
                tiles=summary.scenes[0].tiles,
                skipped=summary.scenes[0].skipped,
                rss_after_imports_mb=round(base),
                peak_rss_mb=round(peak_rss_mb()),
            )
        )
    )


def run_child(scene: Path, out: Path, batch: int, prefetch: int) -> dict:
    cmd = [sys.executable, __file__, CHILD, str(scene), str(out), str(batch), str(prefetch)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="0.1,0.5,2", help="gigapixels, comma separated ('' for none)"
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--prefetch", type=int, default=2)
    parser.add_argument("--no-nodata", action="store_true", help="skip the 99 %% nodata case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for gp in (float(s) for s in args.sizes.split(",") if s):
            side = int(math.sqrt(gp * 1e9))
            start = time.perf_counter()
            scene = constant_scene(tmp_path / f"{gp}gp.tif", side, side)
            made = time.perf_counter() - start
            result = run_child(scene, tmp_path / "out.gpkg", args.batch_size, args.prefetch)
            report(
                bench="detect_memory",
                gigapixels=gp,
                scene_px=f"{side}x{side}",
                batch_size=args.batch_size,
                prefetch=args.prefetch,
                scene_file_mb=round(scene.stat().st_size / 2**20, 1),
                write_scene_s=round(made, 1),
                **result,
            )
            scene.unlink()
        if args.no_nodata:
            return
        side = int(math.sqrt(2e9))
        sparse = constant_scene(tmp_path / "sparse.tif", side, side, valid_fraction=0.01)
        valid_rows = 1024  # the tile row that holds the valid 1 %
        part = constant_scene(tmp_path / "part.tif", valid_rows, side)
        for name, path in (("2gp_99pct_nodata", sparse), ("its_valid_part_only", part)):
            result = run_child(path, tmp_path / "out.gpkg", args.batch_size, args.prefetch)
            report(bench="detect_nodata", scene=name, **result)
        start = time.perf_counter()
        with rasterio.open(sparse, "r+") as ds:  # what data providers usually ship
            ds.build_overviews([4, 16, 64, 256], Resampling.average)
        built = time.perf_counter() - start
        result = run_child(sparse, tmp_path / "out.gpkg", args.batch_size, args.prefetch)
        report(
            bench="detect_nodata",
            scene="2gp_99pct_nodata_with_overviews",
            build_overviews_s=round(built, 1),
            **result,
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
