"""Progress lines for a terminal: one line rewritten in place, nothing when output is not a TTY."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(
        self, stream: TextIO | None = None, *, enabled: bool | None = None, min_interval: float = 0.2
    ):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.min_interval = min_interval
        self._last = 0.0
        self._width = 0

    def update(self, text: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def done(self, text: str | None = None) -> None:
        if not self.enabled:
            return
        if text is not None:
            self.update(text, force=True)
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
        self._width = 0


def run_sync(cfg, *, until_caught_up: bool, progress: Progress, stop: threading.Event | None = None):
    """Snapshot what is missing, then stream, showing progress on a terminal."""
    from cdc_assets.engine import sync

    started = time.monotonic()
    counters = {"snap": 0, "applied": 0, "stream_started": None}

    def on_chunk(p):
        counters["snap"] += p.last.rows
        rate = counters["snap"] / max(time.monotonic() - started, 1e-6)
        progress.update(
            f"snapshot: tables {p.tables_done}/{p.tables_total}, chunks {p.chunks_done}/{p.chunks_total} "
            f"({p.last.table}), {counters['snap']:,} rows, {rate:,.0f} rows/s",
            force=p.chunks_done == p.chunks_total,  # the last frame is always shown
        )

    def on_snapshot_done(rows):
        progress.done(f"snapshot: done, {rows:,} rows loaded" if rows else None)
        counters["stream_started"] = time.monotonic()

    def on_flush(info):
        counters["applied"] += sum(info.rows.values())
        lag = f"{info.lag_seconds:.1f} s" if info.lag_seconds is not None else "n/a"
        rate = counters["applied"] / max(time.monotonic() - (counters["stream_started"] or started), 1e-6)
        progress.update(
            f"streaming: {counters['applied']:,} changes applied, {rate:,.0f} rows/s, lag {lag}, at {info.point}"
        )

    summary = sync.run_sync(
        cfg,
        until_caught_up=until_caught_up,
        stop=stop,
        on_chunk=on_chunk,
        on_flush=on_flush,
        on_snapshot_done=on_snapshot_done,
    )
    progress.done()
    return summary
