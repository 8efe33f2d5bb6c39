"""The snapshot: plan a table's chunks, then load chunks one at a time (CLI) or as Dagster partitions.

Consistency (this release): a table's snapshot point (the binlog end) is recorded BEFORE its chunk
plan and before any chunk is read, and streaming starts no later than the lowest snapshot point.
Every chunk read therefore happens after the stream's start, and replaying the binlog from there
with full row images (upsert / delete by key, last change wins) leaves each row as the source has
it. While the stream catches up, a row may briefly show a version older than its chunk's read;
the per-chunk watermark algorithm that removes that window is planned (flink-cdc.md section 2).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cdc_assets.core.chunks import Chunk, chunks_from_boundaries
from cdc_assets.core.schema import TableId
from cdc_assets.core.types import row_converter
from cdc_assets.engine.context import RunContext
from cdc_assets.errors import CdcError
from cdc_assets.mysql.server import current_position
from cdc_assets.mysql.snapshot import find_boundaries, read_chunk

#: rows buffered before one write to the sink while loading a chunk
WRITE_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class ChunkResult:
    table: TableId
    chunk: Chunk
    rows: int
    seconds: float
    skipped: bool  # True when the chunk was already loaded and nothing was read

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def plan_table(ctx: RunContext, table: TableId) -> list[Chunk]:
    """Record the table's snapshot point and chunk plan (once; later calls return the stored plan)."""
    key = str(table)
    if ctx.state.table(key) is None:
        with ctx.connect() as conn:
            assert ctx.server is not None, "discover() first"
            point = current_position(conn, ctx.settings, ctx.server)
            schema = ctx.schemas[table]
            boundaries = list(find_boundaries(conn, ctx.settings, schema, ctx.cfg.source.chunk_size))
        ctx.state.plan_table(key, str(ctx.target(table)), point, chunks_from_boundaries(boundaries))
    return [c.chunk for c in ctx.state.chunks(key)]


def load_chunk(ctx: RunContext, table: TableId, index: int, *, force: bool = False) -> ChunkResult:
    """Read chunk ``index`` of ``table`` from the source and upsert it into the target.

    Already-loaded chunks are skipped unless ``force``; loading one again is harmless (upsert).
    """
    key = str(table)
    state = ctx.state.chunk(key, index)
    if state is None:
        raise CdcError(
            f"{table} has no chunk {index} in its snapshot plan; plan the table first "
            "(`cdc-assets sync`, or the Dagster snapshot sensor)"
        )
    if state.done and not force:
        return ChunkResult(table, state.chunk, state.rows or 0, state.seconds or 0.0, skipped=True)
    schema = ctx.schemas[table]
    convert = row_converter(schema, "snapshot", tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean)
    target = ctx.target(table)
    started = time.monotonic()
    # Each read of a chunk writes under its own tags: a re-read may see newer rows, which a sink that
    # deduplicates by label must not skip as "already loaded".
    attempt = ctx.state.start_chunk_attempt(key, index)
    rows = 0
    writes = 0
    buffered: list[tuple] = []

    def write() -> int:
        nonlocal writes
        writes += 1
        return ctx.sink.upsert(target, schema, buffered, tag=f"c{index}-a{attempt}-w{writes}")

    with ctx.connect(streaming=True) as conn:
        for batch in read_chunk(ctx.settings, conn, schema, state.chunk, ctx.cfg.source.fetch_size):
            buffered.extend(convert(r) for r in batch)
            if len(buffered) >= WRITE_BATCH_ROWS:
                rows += write()
                buffered = []
        if buffered:
            rows += write()
    seconds = time.monotonic() - started
    ctx.state.mark_chunk_done(key, index, rows=rows, seconds=seconds)
    return ChunkResult(table, state.chunk, rows, seconds, skipped=False)


@dataclass(frozen=True)
class SnapshotProgress:
    """Where the whole snapshot stands after a chunk was loaded."""

    last: ChunkResult
    chunks_done: int
    chunks_total: int
    tables_done: int
    tables_total: int


def snapshot_all(ctx: RunContext, on_chunk: Callable[[SnapshotProgress], None] | None = None) -> int:
    """Plan every captured table and load every chunk not loaded yet; returns rows loaded."""
    plans = {t: plan_table(ctx, t) for t in sorted(ctx.schemas)}
    total = sum(len(p) for p in plans.values())
    left = {t: sum(1 for c in ctx.state.chunks(str(t)) if not c.done) for t in plans}
    done = total - sum(left.values())
    loaded = 0
    for table, chunks in plans.items():
        for chunk in chunks:
            result = load_chunk(ctx, table, chunk.index)
            if result.skipped:
                continue
            done += 1
            left[table] -= 1
            loaded += result.rows
            if on_chunk:
                tables_done = sum(1 for n in left.values() if n == 0)
                on_chunk(SnapshotProgress(result, done, total, tables_done, len(plans)))
    return loaded
