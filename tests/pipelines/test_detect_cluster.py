"""``detect_to_file`` and ``rsdet detect`` on a real Dask LocalCluster (2 worker processes, 1
thread each): the serial layer on many scenes, a worker killed mid-run, failing scenes,
resume, the command line.

Worker processes import the test doubles from ``tests.pipelines.detect_doubles`` (they
inherit this process's ``sys.path``).
"""

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import distributed
import pyogrio
import pytest
from rsdet.cli.main import app
from rsdet.pipelines import detect_cluster
from rsdet.pipelines.detect_scene import DetectOptions, detect_to_file
from typer.testing import CliRunner

from rsdet.errors import InputError, SceneError
from rsdet.io.journal import journal_path
from tests.pipelines.detect_doubles import (
    CountingDetector,
    DyingDetector,
    Planted,
    PlantedDetector,
    register_planted,
    register_planted_here,
    write_corrupt_scene,
    write_mosaic,
    write_planted_checkpoint,
)

# A 3 x 3 mosaic of 80 x 96 px scenes: borders at x = 96, 192 and y = 80, 160.
OBJECTS = [
    Planted(10, 90, 8, 12, 0, 0.9),  # across x = 96
    Planted(100, 93, 10, 6, 1, 0.7),
    Planted(200, 88, 6, 16, 2, 0.8),
    Planted(30, 186, 10, 10, 1, 0.6),  # across x = 192
    Planted(130, 190, 8, 8, 0, 0.5),
    Planted(75, 40, 10, 8, 2, 0.9),  # across y = 80
    Planted(76, 250, 8, 12, 0, 0.7),
    Planted(155, 130, 12, 10, 1, 0.8),  # across y = 160
    Planted(74, 90, 12, 12, 2, 0.6),  # on the corner (96, 80)
    Planted(155, 186, 10, 12, 0, 0.9),  # on the corner (192, 160)
    Planted(40, 40, 8, 8, 1, 0.5),  # inside scenes
    Planted(120, 230, 6, 10, 2, 0.7),
    Planted(210, 20, 8, 8, 0, 0.6),
    Planted(0, 140, 6, 8, 1, 0.8),  # on the mosaic's outer edges
    Planted(234, 270, 6, 10, 2, 0.9),
]
GRID, SCENE_HW = (3, 3), (80, 96)
OPTS = DetectOptions(tile_size=64, overlap=24, batch_size=2)


@pytest.fixture(scope="module")
def cluster():
    """The scheduler address of a LocalCluster shared by the tests of this module."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def read_layer(path):
    return pyogrio.read_dataframe(path, layer=Path(path).stem)


def assert_same_layer(a_path, b_path):
    a, b = read_layer(a_path), read_layer(b_path)
    assert len(a) > 0
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert list(a.geometry.to_wkb()) == list(b.geometry.to_wkb())


def run_cli(*args):
    return CliRunner().invoke(app, ["detect", *map(str, args)])


# --- the same layer as a serial run -------------------------------------------------------
def test_the_cluster_writes_the_serial_layer(tmp_path, cluster, monkeypatch):
    monkeypatch.setattr(detect_cluster, "UNIT_TILES", 2)  # every scene in two units
    scenes = write_mosaic(tmp_path, GRID, SCENE_HW, OBJECTS)
    serial = detect_to_file(scenes, tmp_path / "serial.gpkg", PlantedDetector(), OPTS, quiet=True)
    out = tmp_path / "spread.gpkg"
    spread = detect_to_file(scenes, out, PlantedDetector(), OPTS, quiet=True, scheduler=cluster)
    assert serial.objects == len(OBJECTS)  # each object once, across 9 scenes
    assert_same_layer(tmp_path / "serial.gpkg", out)
    assert [asdict(s) for s in spread.scenes] == [asdict(s) for s in serial.scenes]
    assert spread.failed == [] and not journal_path(out).exists()


def test_the_cluster_screens_tiles_as_the_serial_run_does(tmp_path, cluster, monkeypatch):
    import torch

    from tests.pipelines.test_detect_screen import tiny_screener_file

    monkeypatch.setattr(detect_cluster, "UNIT_TILES", 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers (1 thread each): the same scores, bit for bit
    try:
        scenes = write_mosaic(tmp_path, GRID, SCENE_HW, OBJECTS)
        # Workers load the screener from its file, as they load the model. This untrained
        # one scores the 36 tiles 0.394-0.400; 0.396 lies in a 4e-4 gap and splits them.
        screen = str(tiny_screener_file(tmp_path / "s.pt"))
        opts = replace(OPTS, screen=screen, screen_thr=0.396)
        serial = detect_to_file(
            scenes, tmp_path / "serial.gpkg", PlantedDetector(), opts, quiet=True
        )
        out = tmp_path / "spread.gpkg"
        spread = detect_to_file(scenes, out, PlantedDetector(), opts, quiet=True, scheduler=cluster)
    finally:
        torch.set_num_threads(threads)
    screened = sum(s.screened for s in serial.scenes)
    assert 0 < screened < sum(s.tiles for s in serial.scenes)
    assert [asdict(s) for s in spread.scenes] == [asdict(s) for s in serial.scenes]
    assert_same_layer(tmp_path / "serial.gpkg", out)


def test_a_worker_killed_mid_run_is_replaced_and_nothing_is_lost(tmp_path, cluster):
    # The first tile showing the 0.33 object (scene s11) kills its worker process once.
    objects = [*OBJECTS, Planted(120, 110, 6, 6, 1, 0.33)]
    scenes = write_mosaic(tmp_path, GRID, SCENE_HW, objects)
    reference = tmp_path / "reference.gpkg"
    detect_to_file(scenes, reference, PlantedDetector(), OPTS, quiet=True)
    marker = tmp_path / "a-worker-died"
    out = tmp_path / "spread.gpkg"
    dying = DyingDetector(marker=str(marker))
    summary = detect_to_file(scenes, out, dying, OPTS, quiet=True, scheduler=cluster)
    assert marker.exists()  # a worker did die ...
    assert summary.failed == []  # ... and its task ran again elsewhere
    assert_same_layer(reference, out)


# --- failing scenes -----------------------------------------------------------------------
def test_a_failing_scene_is_named_and_the_others_are_written(tmp_path, cluster):
    scenes = write_mosaic(tmp_path, (1, 2), SCENE_HW, OBJECTS)
    bad = str(write_corrupt_scene(tmp_path / "bad.tif", x0=600_000.0))
    reference = tmp_path / "reference.gpkg"
    detect_to_file(scenes, reference, PlantedDetector(), OPTS, quiet=True)
    out = tmp_path / "spread.gpkg"
    summary = detect_to_file(
        [scenes[0], bad, scenes[1]], out, PlantedDetector(), OPTS, quiet=True, scheduler=cluster
    )
    assert [s.path for s in summary.failed] == [bad]
    assert summary.failed[0].error.startswith("cannot read its pixels (")
    assert_same_layer(reference, out)  # the other scenes, merged as without the bad one
    assert summary.objects == len(read_layer(out))
    assert journal_path(out).exists()  # kept for --resume --overwrite

    stopped = tmp_path / "stopped.gpkg"
    with pytest.raises(SceneError, match=r"bad\.tif: cannot read its pixels.*--fail-fast"):
        detect_to_file(
            [bad, *scenes],
            stopped,
            PlantedDetector(),
            OPTS,
            quiet=True,
            scheduler=cluster,
            fail_fast=True,
        )
    assert not stopped.exists() and journal_path(stopped).exists()


# --- resume -------------------------------------------------------------------------------
def test_resume_after_the_run_died_redoes_only_the_missing_units(tmp_path, cluster, monkeypatch):
    monkeypatch.setattr(detect_cluster, "UNIT_TILES", 2)  # units of one batch of 2 tiles
    scenes = write_mosaic(tmp_path, (1, 3), SCENE_HW, OBJECTS)
    reference = tmp_path / "reference.gpkg"
    detect_to_file(scenes, reference, PlantedDetector(), OPTS, quiet=True)

    journal_unit = detect_cluster._ClusterRun._journal_unit

    def die_after_the_first_unit(self, *args):
        journal_unit(self, *args)
        raise KeyboardInterrupt  # the client dies; the journal holds one unit

    monkeypatch.setattr(detect_cluster._ClusterRun, "_journal_unit", die_after_the_first_unit)
    out = tmp_path / "spread.gpkg"
    first = CountingDetector(log=str(tmp_path / "first.log"))
    with pytest.raises(KeyboardInterrupt):
        detect_to_file(scenes, out, first, OPTS, quiet=True, scheduler=cluster)
    assert len(journal_path(out).read_text().splitlines()) == 1 + 1  # header + one batch
    monkeypatch.setattr(detect_cluster._ClusterRun, "_journal_unit", journal_unit)

    log = tmp_path / "resumed.log"
    summary = detect_to_file(
        scenes,
        out,
        CountingDetector(log=str(log)),
        OPTS,
        quiet=True,
        resume=True,
        scheduler=cluster,
    )
    valid = sum(s.tiles - s.skipped for s in summary.scenes)
    assert len(log.read_text().splitlines()) == valid - 2  # all but the journalled 2 tiles
    assert_same_layer(reference, out)
    assert not journal_path(out).exists()


# --- the command line ---------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path, monkeypatch, cluster):
    """A planted-network checkpoint, its architecture registered here and on the workers."""
    register_planted(monkeypatch)
    with distributed.Client(cluster) as client:
        client.run(register_planted_here)
    return write_planted_checkpoint(tmp_path / "planted.pt")


def test_the_command_uses_the_scheduler_in_the_environment(tmp_path, cluster, checkpoint):
    scenes = write_mosaic(tmp_path, (1, 2), SCENE_HW, OBJECTS)
    reference = tmp_path / "reference.gpkg"
    assert run_cli(*scenes, "--out", reference, "--model", checkpoint, "-q").exit_code == 0
    out = tmp_path / "spread.gpkg"
    env = {"DASK_SCHEDULER_ADDRESS": cluster}
    result = CliRunner().invoke(
        app, ["detect", *scenes, "--out", str(out), "--model", str(checkpoint), "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["objects"] == len(read_layer(reference))
    assert_same_layer(reference, out)
    # The workers hold the model they loaded, and use it again for the next run of it.
    with distributed.Client(cluster) as client:
        held = {w: r for w, r in client.run(_cached_runner).items() if r is not None}
        again = run_cli(*scenes, "--out", out, "--model", checkpoint, "-q", "--overwrite")
        assert again.exit_code == 0, again.output
        after = client.run(_cached_runner)
    assert held and all(after[w] == r for w, r in held.items())
    assert all(str(checkpoint.resolve()) in key for key, _ in held.values())


def _cached_runner():
    """Worker: the key and object id of the model runner it holds."""
    from rsdet.pipelines import detect_cluster as here

    return next(((key, id(runner)) for key, runner in here._RUNNERS.items()), None)


def test_the_command_names_failed_scenes_and_exits_with_1(tmp_path, cluster, checkpoint):
    scenes = write_mosaic(tmp_path, (1, 2), SCENE_HW, OBJECTS)
    bad = write_corrupt_scene(tmp_path / "bad.tif", x0=600_000.0)
    out = tmp_path / "spread.gpkg"
    result = run_cli(*scenes, bad, "--out", out, "--model", checkpoint, "--scheduler", cluster)
    assert result.exit_code == 1, result.output
    assert "1 of 3 scenes failed" in result.stderr
    assert f"{bad}: cannot read its pixels" in result.stderr
    assert f"objects of the other scenes were written to {out}" in result.stderr
    assert len(read_layer(out)) > 0

    result = run_cli(
        bad,
        *scenes,
        "--out",
        tmp_path / "o.gpkg",
        "--model",
        checkpoint,
        "--scheduler",
        cluster,
        "--fail-fast",
    )
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "bad.tif" in errors[0] and "Traceback" not in result.output


def test_a_scheduler_file_names_the_cluster(tmp_path, cluster):
    scenes = write_mosaic(tmp_path, (1, 2), SCENE_HW, OBJECTS)
    reference = tmp_path / "reference.gpkg"
    detect_to_file(scenes, reference, PlantedDetector(), OPTS, quiet=True)
    scheduler_file = tmp_path / "scheduler.json"  # what `dask scheduler --scheduler-file` writes
    scheduler_file.write_text(json.dumps({"type": "Scheduler", "address": cluster}))
    out = tmp_path / "spread.gpkg"
    scheduler = str(scheduler_file)
    detect_to_file(scenes, out, PlantedDetector(), OPTS, quiet=True, scheduler=scheduler)
    assert_same_layer(reference, out)


# --- bad --scheduler values (no cluster needed) -------------------------------------------
@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ("local:0", "expected local:N with N >= 1"),
        ("local:two", "expected local:N with N >= 1"),
        ("missing-scheduler.json", "missing-scheduler.json: no such scheduler file"),
        ("tcp://127.0.0.1:9", "no Dask scheduler answers"),
    ],
)
def test_bad_schedulers_are_one_line_errors(tmp_path, monkeypatch, scheduler, message):
    monkeypatch.setattr(detect_cluster, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(InputError, match=message), detect_cluster.connect(scheduler):
        pass


def test_without_dask_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    scene = write_mosaic(tmp_path, (1, 1), SCENE_HW, OBJECTS)[0]
    out = tmp_path / "o.gpkg"
    result = run_cli(scene, "--out", out, "--scheduler", "local:2")
    assert result.exit_code == 2
    assert "pip install 'rsdet[cluster]'" in result.stderr
    assert not journal_path(out).exists()  # nothing started, nothing to resume


@pytest.mark.slow  # about 9 s: it starts (and stops) its own two worker processes
def test_a_local_cluster_of_its_own(tmp_path):
    scenes = write_mosaic(tmp_path, (1, 2), SCENE_HW, OBJECTS)
    reference = tmp_path / "reference.gpkg"
    detect_to_file(scenes, reference, PlantedDetector(), OPTS, quiet=True)
    out = tmp_path / "own.gpkg"
    detect_to_file(scenes, out, PlantedDetector(), OPTS, quiet=True, scheduler="local:2")
    assert_same_layer(reference, out)
