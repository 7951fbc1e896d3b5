import threading
from contextlib import contextmanager

import pytest

from rsdet.io.prefetch import Prefetcher


def opener(log, fail_on=None, fail_on_close=False):
    @contextmanager
    def open_worker():
        log.append(("open", threading.current_thread().name))

        def work(x):
            if x == fail_on:
                raise ValueError(f"cannot read {x}")
            return x * 10

        try:
            yield work
        finally:
            log.append(("close", None))
        if fail_on_close:
            raise OSError("close failed")

    return open_worker


def test_results_come_in_order_from_one_background_worker():
    log = []
    with Prefetcher(opener(log), list(range(20)), depth=2) as results:
        assert list(results) == [x * 10 for x in range(20)]
    assert log[0] == ("open", "rsdet-reader") and log[-1] == ("close", None)


def test_no_items():
    log = []
    with Prefetcher(opener(log), [], depth=1) as results:
        assert list(results) == []


def test_worker_errors_reach_the_consumer():
    log = []
    with (
        pytest.raises(ValueError, match="cannot read 3"),
        Prefetcher(opener(log, fail_on=3), range(10)) as results,
    ):
        for _ in results:
            pass
    assert ("close", None) in log  # the dataset was still closed
    with (
        pytest.raises(OSError, match="close failed"),
        Prefetcher(opener([], fail_on_close=True), [1]) as results,
    ):
        list(results)


def test_leaving_early_stops_the_thread():
    log = []
    prefetcher = Prefetcher(opener(log), list(range(1000)), depth=1)
    with prefetcher as results:
        assert next(results) == 0
    assert not prefetcher._thread.is_alive()
    assert log[-1] == ("close", None)
