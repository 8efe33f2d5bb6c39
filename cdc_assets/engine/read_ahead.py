"""Iterate a source in a thread of its own, a bounded number of items ahead of the consumer.

A snapshot chunk is read (connectorx, then the Arrow conversion) and written (DuckDB, Stream Load) in
batches; both release the GIL, so reading the next batch while the last one is written uses a second
core: on two cores a chunk loads in about the time of the slower side instead of the sum of both.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: how long the consumer waits, when it stops early, for the reading thread to notice
JOIN_SECONDS = 60.0

_END = object()


def read_ahead(source: Iterable[T], *, depth: int = 1, name: str = "read-ahead") -> Iterator[T]:
    """Yield ``source``'s items in order, produced by a thread that runs at most ``depth`` items ahead.

    An exception raised by ``source`` is raised here, at its place in the sequence, with its traceback.
    When the consumer stops early (an error of its own, ``close()``), the thread stops after the item
    it is producing and ``source`` is closed in that thread; the memory held stays ``depth + 2`` items.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((_END, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = items.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join(JOIN_SECONDS)
        if thread.is_alive():  # stuck in the source (a read that does not return): left to finish alone
            log.warning("%s: the reading thread did not stop within %.0f s; left running", name, JOIN_SECONDS)
