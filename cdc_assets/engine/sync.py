"""One sync: snapshot what is missing, then stream (forever, until stopped, or until caught up)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cdc_assets.config import PipelineConfig
from cdc_assets.engine.catalog_cache import save_catalog
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.snapshot import SnapshotProgress, snapshot_all
from cdc_assets.engine.streaming import FlushInfo, StreamResult, snapshot_end, start_point, stream


@dataclass
class SyncSummary:
    tables: int
    snapshot_rows: int
    stream: StreamResult

    def __str__(self) -> str:
        how = "caught up" if self.stream.caught_up else "stopped"
        return (
            f"sync {how}: {self.tables} tables, {self.snapshot_rows:,} rows snapshotted, "
            f"{self.stream.rows:,} changes applied; restart point {self.stream.point}"
        )


def run_sync(
    cfg: PipelineConfig,
    *,
    until_caught_up: bool = False,
    stop: threading.Event | None = None,
    on_chunk: Callable[[SnapshotProgress], None] | None = None,
    on_flush: Callable[[FlushInfo], None] | None = None,
    on_snapshot_done: Callable[[int], None] | None = None,
) -> SyncSummary:
    stop = stop or threading.Event()
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        save_catalog(cfg, ctx.schemas)
        mode = cfg.source.startup_mode
        rows = snapshot_all(ctx, on_chunk) if mode in ("initial", "snapshot") else 0
        if on_snapshot_done:
            on_snapshot_done(rows)
        if mode == "snapshot":
            # Snapshot only: apply the binlog up to the highest chunk watermark (the chunks' changes
            # between their own watermarks and that point), so every table is consistent as of it.
            result = stream(
                ctx, until=snapshot_end(ctx) or start_point(ctx), should_stop=stop.is_set, on_flush=on_flush
            )
            result.caught_up = True
            return SyncSummary(len(ctx.schemas), rows, result)
        result = stream(ctx, until_caught_up=until_caught_up, should_stop=stop.is_set, on_flush=on_flush)
        return SyncSummary(len(ctx.schemas), rows, result)
    finally:
        ctx.close()


def sync_until_caught_up(cfg: PipelineConfig, *, log: Callable[[str], None] = print) -> SyncSummary:
    """The bounded sync Dagster's ``<pipeline>_sync_until_caught_up`` job runs."""
    summary = run_sync(
        cfg,
        until_caught_up=True,
        on_chunk=lambda p: log(
            f"snapshot: chunk {p.chunks_done}/{p.chunks_total} ({p.last.table}: {p.last.rows} rows), "
            f"tables {p.tables_done}/{p.tables_total}"
        ),
    )
    return summary
