"""``rsdet detect`` on a local Dask cluster: 1 worker against 2, and a worker killed mid-run.

Scenes: ``--scenes`` synthetic tree scenes (``rsdet.synthetic``, 10 cm, ``--size`` px; 9
tiles of 1024 px each at 2048 px), laid out as a mosaic two scenes wide of abutting tiles
(NEON style), so the cross-scene merge runs too. Model: the packaged ``trees``
(RS-TinyNet-n). Every worker is one process with one thread and one torch thread (Dask's
nanny sets OMP_NUM_THREADS=1); the serial run in this process also uses one torch thread.

Timing: worker start-up (process start and imports) is measured apart; a run's time
starts at the ``detect_to_file`` call and includes the workers' model loads, planning,
the merges and writing the GeoPackage. Goal: 2 workers at least 1.8x faster than 1.
CPU seconds (this process and every worker) are reported too: a worker's reader thread
decodes and scales the next batch while its model runs, so one worker keeps more than one
core busy, and 2 cores can speed its work up by at most ``2 * seconds / cpu_s``.

The kill: during a 2-worker run, one worker process gets SIGKILL halfway through (at half
the clean 2-worker time); its nanny starts a new one and the scheduler runs the lost
tasks again. The time lost is that run's time minus the clean run's. Every run's layer is
compared with the serial one, feature by feature.

Run (CPU heavy: nothing else should run)::

    python benchmarks/bench_detect_cluster.py [--scenes 8] [--size 2048]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyogrio
import torch
from _detect_common import report
from distributed import Client, LocalCluster
from rsdet.pipelines.detect_scene import DetectOptions, RunSummary, detect_to_file

from rsdet.synthetic import DEMO_ORIGIN, make_scene, write_geotiff


def write_scenes(folder: Path, count: int, size: int) -> list[str]:
    """``count`` tree scenes, two per mosaic row, edges touching."""
    paths = []
    for k in range(count):
        row, col = divmod(k, 2)
        sample = make_scene(seed=k, size=size, kind="trees")
        step = size * float(sample.meta["gsd"])
        origin = (DEMO_ORIGIN[0] + col * step, DEMO_ORIGIN[1] - row * step)
        path = folder / f"trees_{row}_{col}.tif"
        write_geotiff(sample, path, origin=origin)
        paths.append(str(path))
    return paths


def timed_run(scenes: list[str], out: Path, scheduler: str | None) -> tuple[float, RunSummary]:
    start = time.perf_counter()
    summary = detect_to_file(
        scenes,
        out,
        "trees",
        DetectOptions(),
        device="cpu",
        quiet=True,
        overwrite=True,
        scheduler=scheduler,
    )
    return time.perf_counter() - start, summary


def cpu_seconds(client: Client | None) -> float:
    """CPU time so far of this process (client, scheduler) and of every worker process."""
    workers = client.run(time.process_time).values() if client is not None else []
    return time.process_time() + sum(workers)


@contextmanager
def local_cluster(workers: int) -> Iterator[tuple[str, Client]]:
    """A warm LocalCluster: its workers have imported the detection code (timed apart)."""
    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(__import__, "rsdet.pipelines.detect_cluster")
        report(workers=workers, startup_s=round(time.perf_counter() - start, 2))
        yield cluster.scheduler_address, client


def same_layer(a: Path, b: Path) -> bool:
    x = pyogrio.read_dataframe(a, layer=a.stem)
    y = pyogrio.read_dataframe(b, layer=b.stem)
    attributes = x.drop(columns="geometry").equals(y.drop(columns="geometry"))
    return attributes and list(x.geometry.to_wkb()) == list(y.geometry.to_wkb())


def kill_one_worker_after(client: Client, delay_s: float) -> tuple[threading.Timer, int]:
    """SIGKILL one worker process (the lowest pid) ``delay_s`` seconds from now."""
    pids: dict[str, Any] = client.run(os.getpid)
    victim = min(pids.values())
    timer = threading.Timer(delay_s, os.kill, (victim, signal.SIGKILL))
    timer.start()
    return timer, victim


def two_workers(scenes: list[str], folder: Path, serial: Path) -> tuple[float, dict[str, Any]]:
    """A clean 2-worker run (models loaded in it), a second one (models held), and a third
    in which one worker is killed halfway; returns the first run's time and the kill report.
    """
    with local_cluster(2) as (address, client):
        cpu = cpu_seconds(client)
        first, summary = timed_run(scenes, folder / "workers2.gpkg", address)
        cpu = round(cpu_seconds(client) - cpu, 2)
        same = same_layer(serial, folder / "workers2.gpkg")
        failed = len(summary.failed)
        report(run="2 workers", seconds=round(first, 2), cpu_s=cpu, failed=failed, same=same)
        warm, _ = timed_run(scenes, folder / "warm.gpkg", address)
        report(run="2 workers, models already loaded", seconds=round(warm, 2))
        timer, victim = kill_one_worker_after(client, warm / 2)
        killed_s, killed = timed_run(scenes, folder / "killed.gpkg", address)
        timer.cancel()
        died = victim not in client.run(os.getpid).values()
    kill = dict(
        run="2 workers, one killed halfway",
        seconds=round(killed_s, 2),
        worker_died=died,
        lost_s=round(killed_s - warm, 2),
        failed=len(killed.failed),
        same=same_layer(serial, folder / "killed.gpkg"),
    )
    return first, kill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="rsdet-bench-cluster-"))
    scenes = write_scenes(folder, args.scenes, args.size)
    serial_out = folder / "serial.gpkg"
    cpu = cpu_seconds(None)
    serial_s, serial = timed_run(scenes, serial_out, None)
    cpu = round(cpu_seconds(None) - cpu, 2)
    tiles, objects = sum(s.tiles - s.skipped for s in serial.scenes), serial.objects
    report(run="serial", seconds=round(serial_s, 2), cpu_s=cpu, tiles=tiles, objects=objects)
    with local_cluster(1) as (address, client):
        cpu = cpu_seconds(client)
        one, summary = timed_run(scenes, folder / "workers1.gpkg", address)
        cpu = round(cpu_seconds(client) - cpu, 2)
        same = same_layer(serial_out, folder / "workers1.gpkg")
        failed = len(summary.failed)
        report(run="1 worker", seconds=round(one, 2), cpu_s=cpu, failed=failed, same=same)
    two, kill = two_workers(scenes, folder, serial_out)
    report(**kill)
    # Two cores can run at most 2 / (cpu_s / seconds) of the 1-worker run's work at once.
    report(speedup_2_over_1=round(one / two, 2), goal=1.8, bound_on_2_cores=round(2 * one / cpu, 2))


if __name__ == "__main__":
    main()
