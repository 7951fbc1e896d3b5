"""``rsdet detect`` on a Dask cluster: scenes, and blocks of huge scenes, as worker tasks.

Data path (client here, workers there)::

    client: every scene's header read and the run resolved (as in a serial run), journal open
      -> one plan task per scene      worker: plan_scene (tile grid, nodata skip, radiometry)
      -> as each plan arrives: its unfinished batches in units, one task each: the whole
         scene, or blocks of about UNIT_TILES valid tiles of a larger one (consecutive
         tiles in row order: bands of tile rows), so one huge mosaic also spreads
                                      worker: run_batches (read, model, edge flags)
      -> as each unit arrives (as_completed): its records into the journal, progress
    then detect_to_file merges from the journal exactly as after a serial run.

Why it gives the serial result: workers run the serial run's own steps
(:mod:`rsdet.pipelines.detect_units`) on the same fixed batches, and the merges run on the
client from the journal, as after a serial run.

Faults. A worker that dies mid-task: the scheduler runs its tasks again elsewhere (up to
``distributed.scheduler.allowed-failures`` deaths per task, 3 by default). A task that
raises is retried :data:`RETRIES` times (a flaky network read). A scene whose plan or a unit
still fails is reported by name and left out of the layer, and the others go on; with
``fail_fast`` the run stops at the first one. Finished units are in the journal, so
``--resume`` after the whole run died redoes only what is missing.

Each worker process loads the model once (:func:`_worker_runner`, keyed by the model's
identity and device). A path or packaged name is loaded by the workers themselves, so the
path must exist there too (a shared file system); a model object (Python API) travels as
the result of one small task, which Dask computes again if the workers holding it die.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.progress import Progress, TaskID, TextColumn
from rsdet.pipelines.detect_models import ModelRunner, load_runner
from rsdet.pipelines.detect_units import (
    RunSettings,
    ScenePlan,
    SceneSummary,
    plan_scene,
    run_batches,
)
from rsdet.pipelines.progress import make_progress

from rsdet.errors import InputError, RsdetError, SceneError
from rsdet.io.journal import Journal, JournalRecord
from rsdet.io.raster import SceneInfo, reading_env

__all__ = ["RETRIES", "UNIT_TILES", "connect", "detect_on_cluster"]

T = TypeVar("T")

# A scene with more valid tiles than this is cut into blocks of about this many: for 1024 px
# tiles 0.27 gigapixels, about a minute of one CPU worker with RS-TinyNet-n (0.21 s a tile).
UNIT_TILES = 256
# Extra attempts of a task that raised (a worker that died is handled by the scheduler).
RETRIES = 1
# Seconds to wait for a scheduler at an address or in a scheduler file.
CONNECT_TIMEOUT_S = 30
# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@dataclass(frozen=True)
class ModelRef:
    """How a worker gets the run's model.

    Attributes:
        key: names the model in a worker's cache (identity and device).
        path: a checkpoint path or packaged model name the workers load themselves, or
            None when the model object travels with the tasks (see :func:`_ship_model`).
        device: ``auto``, ``cpu`` or ``cuda``, resolved on each worker.
    """

    key: str
    path: str | None
    device: str


def detect_on_cluster(
    client: Any,
    scenes: list[SceneInfo],
    model: tuple[Any, str],
    run: RunSettings,
    journal: Journal,
    *,
    fail_fast: bool,
    quiet: bool,
) -> list[SceneSummary]:
    """Run every scene's unfinished batches on a Dask cluster, journalling them here.

    Args:
        client: a Dask client (:func:`connect`).
        scenes: the run's scenes, checked.
        model: ``(model, device)`` as given to ``detect_to_file``.
        run: the resolved settings.
        journal: finished batches; units already in it are not run again.
        fail_fast: raise at the first scene that fails instead of going on.
        quiet: no progress bar.

    Returns:
        One summary per scene; a failed scene's ``error`` says why.

    Raises:
        SceneError: ``fail_fast`` and a scene failed.
    """
    with _progress(quiet) as progress:
        ref, shipped = _ship_model(client, *model)
        tracker = _ClusterRun(client, scenes, run, journal, (ref, shipped), progress)
        return tracker.run(fail_fast)


@contextmanager
def connect(scheduler: str) -> Iterator[Any]:
    """A Dask client for ``scheduler``, closed (with any cluster it started) at the end.

    Args:
        scheduler: ``local`` or ``local:N`` (a LocalCluster of N worker processes with one
            thread each; N = the number of cores without it), a scheduler file written by
            ``dask scheduler --scheduler-file`` (a path ending in ``.json``), or an address
            such as ``tcp://host:8786``.

    Raises:
        InputError: Dask is not installed, a bad ``local:N``, no such scheduler file, or no
            scheduler answering at the address.
    """
    try:
        import distributed
    except ImportError:
        raise InputError(
            f"--scheduler {scheduler}: needs Dask (pip install 'rsdet[cluster]')"
        ) from None
    dask: Any = distributed  # untyped
    if scheduler == "local" or scheduler.startswith("local:"):
        workers = _local_workers(scheduler)
        with (
            dask.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            dask.Client(cluster) as client,
        ):
            yield client
        return
    with _remote_client(dask.Client, scheduler) as client:
        yield client


def _local_workers(scheduler: str) -> int | None:
    """The N of ``local:N`` (None for plain ``local``)."""
    count = scheduler.partition(":")[2]
    if not count:
        return None
    if not count.isdigit() or int(count) < 1:
        raise InputError(f"--scheduler {scheduler}: expected local:N with N >= 1 workers")
    return int(count)


@contextmanager
def _remote_client(client_type: Any, scheduler: str) -> Iterator[Any]:
    """A client of a running scheduler, at an address or in a scheduler file."""
    if scheduler.endswith(".json"):
        _wait_for(Path(scheduler))
        where: dict[str, Any] = {"scheduler_file": scheduler}
    else:
        where = {"address": scheduler}
    try:
        client = client_type(**where, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"--scheduler {scheduler}: no Dask scheduler answers ({reason})") from err
    with client:
        yield client


def _wait_for(path: Path) -> None:
    """Wait up to CONNECT_TIMEOUT_S for a scheduler file (its scheduler may be starting)."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while not path.is_file():
        if time.monotonic() > deadline:
            raise InputError(f"{path}: no such scheduler file (waited {CONNECT_TIMEOUT_S} s)")
        time.sleep(0.5)


def _ship_model(client: Any, model: Any, device: str) -> tuple[ModelRef, Any]:
    """A worker's handle on the model, and a future of the model object (None for paths)."""
    if isinstance(model, (str, Path)):
        path = Path(model)
        where = str(path.resolve()) if path.is_file() else str(model)
        stat = path.stat() if path.is_file() else None
        identity = [where, stat.st_size if stat else None, stat.st_mtime_ns if stat else None]
        return ModelRef(json.dumps([*identity, device]), where, device), None
    # The result of a task rather than scattered data: a copy lost with its worker is
    # computed again from the task, whereas scattered data would be gone for good.
    key = f"rsdet-model-{uuid.uuid4().hex}"
    return ModelRef(key, None, device), client.submit(_same, model, key=key, pure=False)


def _same(value: Any) -> Any:
    """Worker: ``value`` itself (makes an object a task's result)."""
    return value


# --- on the workers ---------------------------------------------------------------------
_RUNNERS: dict[str, ModelRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def _worker_runner(ref: ModelRef, shipped: Any) -> ModelRunner:
    """The worker process's runner for ``ref``, loaded on first use (one model at a time)."""
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(ref.key)
        if runner is None:
            _reuse_freed_memory()
            runner = load_runner(ref.path if ref.path is not None else shipped, ref.device)
            _RUNNERS.clear()  # a new run's model replaces the last one
            _RUNNERS[ref.key] = runner
        return runner


def _reuse_freed_memory() -> None:
    """Worker: let glibc reuse large freed blocks again instead of unmapping them.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``. In glibc, setting it
    also switches off the adaptive mmap threshold, so every allocation above 128 KiB (each
    feature map of a tile) becomes a fresh mmap whose pages fault in again: a serial run of
    the ``trees`` model on a 2048 px scene took 3.1-3.5 s with that variable set against
    2.3-2.5 s without, and 1.9-2.1 s with the two limits below (glibc's own adaptive
    maxima). Nothing happens without the variable, or without glibc.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)


def _plan_task(
    index: int, scene: SceneInfo, run: RunSettings, ref: ModelRef, shipped: Any
) -> ScenePlan:
    """Worker: plan one scene."""

    def plan() -> ScenePlan:
        with reading_env():
            return plan_scene(index, scene, _worker_runner(ref, shipped), run)

    return _plainly(plan)


def _unit_task(
    plan: ScenePlan,
    scene: SceneInfo,
    todo: list[int],
    run: RunSettings,
    ref: ModelRef,
    shipped: Any,
) -> list[JournalRecord]:
    """Worker: run batches ``todo`` of a planned scene; their journal records."""

    def records() -> list[JournalRecord]:
        with reading_env():
            return list(run_batches(scene, plan, todo, _worker_runner(ref, shipped), run))

    return _plainly(records)


def _plainly(work: Callable[[], T]) -> T:
    """Worker: ``work()``, any error re-raised as a one-line :class:`SceneError`.

    Dask sends a task's exception back pickled with its chain of causes, and some library
    exceptions (rasterio's) do not survive the trip; a SceneError without a chain does.
    """
    try:
        return work()
    except Exception as err:
        message = _describe(err)
    raise SceneError(message)  # outside the except block: no chained cause


def _describe(err: BaseException) -> str:
    """One line: the message of an rsdet error, else the type, message and direct cause."""
    if isinstance(err, RsdetError):
        return _first_line(err)
    text = f"{type(err).__name__}: {_first_line(err)}"
    cause = err.__cause__ or err.__context__
    return f"{text} ({_first_line(cause)})" if cause else text


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


# --- on the client ----------------------------------------------------------------------
def _progress(quiet: bool) -> Progress:
    progress: Progress = make_progress(quiet, TextColumn("{task.fields[note]}"))
    return progress


def _units(plan: ScenePlan, journal: Journal, batch_size: int) -> list[list[int]]:
    """The scene's unfinished batches in units: all of them, or blocks of UNIT_TILES tiles."""
    per_unit = max(1, UNIT_TILES // batch_size)
    blocks = [
        list(range(b, min(b + per_unit, len(plan.batches))))
        for b in range(0, len(plan.batches), per_unit)
    ]
    todo = [[b for b in block if not journal.done(plan.index, b)] for block in blocks]
    return [unit for unit in todo if unit]


def _reason(scene: SceneInfo, err: BaseException) -> str:
    """One line saying why a task of ``scene`` failed (without repeating the path)."""
    text = _first_line(err).removeprefix(f"{scene.path}: ")
    return text if isinstance(err, RsdetError) else f"{type(err).__name__}: {text}"


class _ClusterRun:
    """The client's bookkeeping: what each future is, and what each scene still awaits.

    Args:
        client: a Dask client.
        scenes, run, journal: as in :func:`detect_on_cluster`.
        model: ``(ModelRef, future of the model object or None)`` for the tasks.
        progress: a bar for scenes and one for tiles are added to it.
    """

    def __init__(
        self,
        client: Any,
        scenes: list[SceneInfo],
        run: RunSettings,
        journal: Journal,
        model: tuple[ModelRef, Any],
        progress: Progress,
    ) -> None:
        self.client, self.scenes, self.settings, self.journal = client, scenes, run, journal
        self.model, self.progress = model, progress
        self.summaries = [SceneSummary(s.path) for s in scenes]
        self.what: dict[Any, tuple[int, list[int] | None]] = {}  # future -> (scene, unit)
        self.plans: dict[int, Any] = {}  # scene -> its plan future while units need it
        self.open_units = [0] * len(scenes)
        self.batch_tiles: dict[int, list[int]] = {}  # scene -> tiles in each batch
        self.found = self.failed = self.tiles = 0
        self.scene_bar: TaskID = progress.add_task("scenes", total=len(scenes), note="")
        self.tile_bar: TaskID = progress.add_task("tiles", total=0, note="0 detections")

    def run(self, fail_fast: bool) -> list[SceneSummary]:
        """Submit every plan, then units as plans arrive; journal units as they finish."""
        import distributed

        dask: Any = distributed  # untyped
        pending = dask.as_completed(self._submit_plans())
        for future in pending:
            index, unit = self.what.pop(future)
            try:
                result = future.result()
            except Exception as err:  # the task's own error, or Dask's (cancelled, killed)
                self._fail(index, unit, err, fail_fast)
                continue
            if unit is None:
                pending.update(self._submit_units(index, future, result))
            else:
                self._journal_unit(index, unit, result)
        return self.summaries

    def _submit(self, index: int, unit: list[int] | None, task: Any, *args: Any) -> Any:
        future = self.client.submit(task, *args, *self.model, pure=False, retries=RETRIES)
        self.what[future] = (index, unit)
        return future

    def _submit_plans(self) -> list[Any]:
        return [
            self._submit(i, None, _plan_task, i, scene, self.settings)
            for i, scene in enumerate(self.scenes)
        ]

    def _submit_units(self, index: int, plan_future: Any, plan: ScenePlan) -> list[Any]:
        """Units of a planned scene (its plan travels to them between workers)."""
        scene = self.scenes[index]
        self.summaries[index] = plan.summary(scene)
        self.batch_tiles[index] = [len(batch) for batch in plan.batches]
        units = _units(plan, self.journal, self.settings.batch_size)
        left = sum(self.batch_tiles[index][b] for unit in units for b in unit)
        self._add_tiles(len(plan.tiles.valid), done=len(plan.tiles.valid) - left)
        if not units:
            self._scene_done()
            return []
        self.plans[index] = plan_future
        self.open_units[index] = len(units)
        settings = self.settings
        return [self._submit(index, u, _unit_task, plan_future, scene, u, settings) for u in units]

    def _journal_unit(self, index: int, unit: list[int], records: list[JournalRecord]) -> None:
        for record in records:
            self.journal.append(record)
        self.found += sum(len(r) for r in records)
        tiles = sum(self.batch_tiles[index][b] for b in unit)
        self.progress.update(self.tile_bar, advance=tiles, note=f"{self.found} detections")
        self._unit_done(index)

    def _fail(self, index: int, unit: list[int] | None, err: Exception, fail_fast: bool) -> None:
        scene = self.scenes[index]
        reason = _reason(scene, err)
        if fail_fast:
            self.client.cancel(list(self.what))
            raise SceneError(
                f"{scene.path}: {reason} (--fail-fast: stopped; finished units are in the "
                "journal, rerun with --resume to continue)"
            )
        if self.summaries[index].error is None:
            self.summaries[index].error = reason
            self.failed += 1
        if unit is None:
            self._scene_done()
        else:
            self._unit_done(index)

    def _unit_done(self, index: int) -> None:
        self.open_units[index] -= 1
        if self.open_units[index] == 0:
            self.plans.pop(index, None)
            self._scene_done()

    def _scene_done(self) -> None:
        note = f"{self.failed} failed" if self.failed else ""
        self.progress.update(self.scene_bar, advance=1, note=note)

    def _add_tiles(self, total: int, done: int) -> None:
        """A planned scene's valid tiles join the bar's total (``done`` of them journalled)."""
        self.tiles += total
        self.progress.update(self.tile_bar, total=self.tiles, advance=done)
