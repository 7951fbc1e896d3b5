"""Read ahead in a background thread while the model runs.

GDAL releases the GIL while it decodes, and numpy while it scales, so one reader thread
overlaps reading with inference. The queue between them is bounded (``depth`` items), which
caps memory at ``depth + 2`` batches whatever the scene size: one being read, ``depth``
waiting, one in the model.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

__all__ = ["Prefetcher"]

T = TypeVar("T")
R = TypeVar("R")

# How often a blocked thread re-checks whether it should stop, seconds.
_POLL_S = 0.1


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


class Prefetcher(Generic[T, R]):
    """Apply a worker to ``items`` in order, in a background thread, ``depth`` items ahead.

    Args:
        open_worker: called once *in the thread*; returns a context manager whose value is
            the per-item function (e.g. it opens a rasterio dataset, which must not be
            shared between threads, and closes it at the end).
        items: what to process, in order.
        depth: how many results may wait in the queue (at least 1).

    Use it as a context manager and iterate over it; results come in input order. An
    exception raised by the worker is re-raised in the consuming thread. Leaving the
    ``with`` block early stops the thread.
    """

    def __init__(
        self,
        open_worker: Callable[[], AbstractContextManager[Callable[[T], R]]],
        items: Sequence[T],
        depth: int = 2,
    ) -> None:
        self._open_worker = open_worker
        self._items = items
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rsdet-reader", daemon=True)

    def __enter__(self) -> Iterator[R]:
        self._thread.start()
        return self._results()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _results(self) -> Iterator[R]:
        for _ in range(len(self._items)):
            item = self._queue.get()
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
        end = self._queue.get()
        if isinstance(end, _Failure):  # the worker failed while closing its resources
            raise end.error

    def _put(self, value: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            with self._open_worker() as work:
                for item in self._items:
                    if self._stop.is_set() or not self._put(work(item)):
                        return
        except BaseException as err:  # handed to the consumer, which re-raises it
            self._put(_Failure(err))
            return
        self._put(_DONE)
