"""read_ahead: a source iterated by a thread of its own, a bounded number of items ahead (pure)."""

from __future__ import annotations

import threading
import time

import pytest

from cdc_assets.engine.read_ahead import read_ahead


def test_items_arrive_in_order_and_the_source_runs_in_another_thread():
    threads: set[str] = set()

    def source():
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    assert list(read_ahead(source(), name="reader-x")) == list(range(50))
    assert threads == {"reader-x"}


def test_the_source_runs_at_most_depth_items_ahead():
    produced: list[int] = []

    def source():
        for i in range(20):
            produced.append(i)
            yield i

    items = read_ahead(source(), depth=2)
    assert next(items) == 0
    time.sleep(0.3)  # time enough to run far ahead, were it unbounded
    # one consumed, two queued, one produced and waiting for room
    assert len(produced) <= 4
    assert list(items) == list(range(1, 20))


def test_an_error_of_the_source_is_raised_in_its_place():
    def source():
        yield 1
        yield 2
        raise LookupError("chunk 7 of shop.orders: the read failed")

    got = []
    with pytest.raises(LookupError, match="chunk 7 of shop.orders") as info:
        for item in read_ahead(source()):
            got.append(item)
    assert got == [1, 2]
    assert info.traceback[-1].name == "source"  # the source's own traceback travels with it


def test_a_consumer_that_stops_early_stops_and_closes_the_source():
    closed = threading.Event()
    produced: list[int] = []

    def source():
        try:
            for i in range(10**6):
                produced.append(i)
                yield i
        finally:
            closed.set()

    items = read_ahead(source())
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert closed.wait(5)
    assert len(produced) <= 6


def test_a_consumer_error_stops_the_source():
    closed = threading.Event()

    def source():
        try:
            while True:
                yield "row batch"
        finally:
            closed.set()

    with pytest.raises(RuntimeError, match="the sink refused"):
        for _ in read_ahead(source()):
            raise RuntimeError("the sink refused")
    assert closed.wait(5)


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth must be at least 1"):
        list(read_ahead([1], depth=0))
