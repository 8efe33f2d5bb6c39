"""The snapshot: plan a table's chunks, then load chunks one at a time (CLI) or as Dagster partitions.

Each chunk is consistent with the binlog (the watermark algorithm, engine/watermark.py): it is read
either inside a consistent-snapshot transaction whose binlog point the server reports (MariaDB), or
between a low and a high watermark with the binlog changes in between merged after the rows
(MySQL). Its high watermark is saved with it; the stream starts at the lowest one and applies a
change only when it is newer than the watermark of the chunk holding its key, so a row never goes
back to an older version once its chunk was written.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cdc_assets.core.arrow_read import plan_arrow_read
from cdc_assets.core.chunks import Chunk, chunks_from_boundaries
from cdc_assets.core.events import collapse
from cdc_assets.core.offsets import RestartPoint
from cdc_assets.core.schema import TableId, fit_to_target, keep_columns, table_names
from cdc_assets.core.types import row_converter
from cdc_assets.engine.allocator import release_free_memory
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.read_ahead import read_ahead
from cdc_assets.engine.snapshot_schema import widen_targets
from cdc_assets.engine.watermark import backfill, backfill_server_ids
from cdc_assets.errors import CdcError, SchemaError, TargetMismatchError, UnsupportedTypeError
from cdc_assets.mysql.arrow_read import FastReadError, read_chunk_arrow
from cdc_assets.mysql.key_order import KeySorter
from cdc_assets.mysql.server import begin_consistent_read, current_position
from cdc_assets.mysql.snapshot import boundaries_of, choose_chunking, read_chunk
from cdc_assets.state import SchemaChangeRecord, SchemaInForce

log = logging.getLogger(__name__)

#: the most rows of a chunk written to the sink at once by the fast (Arrow) path: three DuckDB row groups,
#: so that a chunk of a few row groups (planned a little over its nominal size) is one write. DuckDB
#: writes whole row groups (122,880 rows) straight to the file on all its threads and the rest through
#: its WAL and a checkpoint, twice the work; every write also costs a checkpoint (DuckDB) or a Stream
#: Load (StarRocks): 1M rows written 50,000 at a time took twice as long. The batch also ends at
#: WRITE_BATCH_BYTES, so that wide rows do not grow the memory.
WRITE_BATCH_ROWS = 3 * 122_880
WRITE_BATCH_BYTES = 64 * 1024 * 1024
#: the fewest rows connectorx hands over at a time (``scan.snapshot.fetch.size`` when larger). It streams
#: the result whatever this is; under ~16k rows its cost per batch shows (1M rows in 1,024-row batches
#: read ~15% slower), and memory is bounded by WRITE_BATCH_BYTES either way.
MIN_ARROW_FETCH_ROWS = 16_384
#: rows buffered before one write by the exact path (Python tuples take several times their Arrow size)
EXACT_WRITE_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class ChunkResult:
    table: TableId
    chunk: Chunk
    rows: int
    seconds: float
    skipped: bool  # True when the chunk was already loaded and nothing was read
    low: RestartPoint | None = None  # the binlog watermarks the chunk is consistent between
    high: RestartPoint | None = None
    backfilled: int = 0  # binlog changes merged after the rows (between low and high)
    bytes: int = 0  # bytes read, as Arrow (0 when the chunk was read by the exact path)
    #: schema changes this load applied to the target first (columns widened since it was created)
    schema_changes: tuple[SchemaChangeRecord, ...] = ()

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
            src = ctx.cfg.source
            # Chunks follow the primary key (the watermark filter locates changes by it); the
            # chunk.key-column option is for tables without one, which are not captured yet.
            choice = choose_chunking(
                conn,
                ctx.settings,
                schema,
                src.chunk_size,
                key_columns=None,
                lower=src.even_distribution_factor_lower,
                upper=src.even_distribution_factor_upper,
            )
            log.info("planning %s: %s", table, choice.reason)
            boundaries = list(boundaries_of(conn, ctx.settings, schema, choice))
        ctx.state.plan_table(key, table_names(ctx.targets(table)), point, chunks_from_boundaries(boundaries))
        ctx.state.start_schemas({key: SchemaInForce(schema, schema.column_names)})
    return [c.chunk for c in ctx.state.chunks(key)]


def load_chunk(ctx: RunContext, table: TableId, index: int, *, force: bool = False) -> ChunkResult:
    """Read chunk ``index`` of ``table`` from the source and upsert it into each of its targets.

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
        return ChunkResult(
            table, state.chunk, state.rows or 0, state.seconds or 0.0, True, state.low, state.high
        )
    schema = ctx.describe_current(table)
    try:
        return _load_once(ctx, table, state, schema)
    except CdcError:
        # A DDL between describing the table and reading it fails the read (a column it names is gone):
        # read once more as the table is now. Any other failure is the error to report.
        now = ctx.describe_current(table)
        if now == schema:
            raise
        log.info("%s changed while chunk %d was read; reading it again as the table is now", table, index)
        return _load_once(ctx, table, state, now)


def _load_once(ctx: RunContext, table: TableId, state, schema) -> ChunkResult:
    """One read of a chunk with ``schema`` (the table as described just before), written to its targets."""
    key, index = str(table), state.chunk.index
    # The table may have changed since its target was created (DDL the stream has not applied yet):
    # the chunk is read as the table is now and written with the columns its target has. A column
    # added meanwhile gets its values from the binlog: the stream applies every change of such a table
    # from the DDL on (watermark.StreamFilter).
    sif = ctx.state.schema_in_force(key)
    write_schema, keep = fit_to_target(schema, sif.target_columns) if sif is not None else (schema, None)
    targets = ctx.targets(table)
    started = time.monotonic()
    # Each read of a chunk writes under its own tags: a re-read may see newer rows, which a sink that
    # deduplicates by label must not skip as "already loaded". A table snapshotted again (its plan
    # forgotten: `resnapshot`, a table swapped in) counts its attempts from 1 again: the plan's snapshot
    # point is in the tags too.
    attempt = ctx.state.start_chunk_attempt(key, index)
    planned = ctx.state.table(key)
    point = planned.snapshot_point if planned is not None else None
    plan_tag = (
        f"p{zlib.crc32(json.dumps(point.to_dict(), sort_keys=True).encode()):08x}-"
        if point is not None
        else ""
    )
    prefix = tag_prefix(table, targets) + plan_tag
    tags = (f"{prefix}c{index}-a{attempt}-w{n}" for n in itertools.count(1))
    t1b = ctx.cfg.source.treat_tinyint1_as_boolean
    plan = plan_arrow_read(schema, t1b) if ctx.fast_reads else None
    assert ctx.server is not None, "discover() first"
    written = _Written()
    with ctx.connect(streaming=True) as conn:
        # The low watermark: on MariaDB the exact binlog point of a consistent snapshot (nothing
        # committed before it can be missing from a read that starts later); elsewhere the binlog end.
        snap = (
            begin_consistent_read(conn, ctx.settings, ctx.server) if ctx.consistent_snapshot_reads else None
        )
        low = snap or current_position(conn, ctx.settings, ctx.server)
        # Columns widened since the target was created: the target is widened first (or, when the
        # behaviour or the sink refuses, a failed write says so).
        widening = widen_targets(ctx, table, schema, index, low)
        # An earlier read of this chunk that died may have written rows: merge from its low watermark
        # (a row deleted since would stay otherwise).
        kept = low if state.done else ctx.state.record_chunk_low(key, index, low)
        exact = snap is not None and not (plan and plan.fast) and kept == low
        low = kept
        if snap is not None and not exact:
            conn.rollback()  # only its point was needed: the read runs outside the snapshot
        try:
            if plan is not None and plan.fast:
                try:
                    _read_fast(ctx, schema, state.chunk, plan, targets, tags, written, write_schema)
                except FastReadError as exc:
                    log.warning("%s; reading chunk %d of %s with the exact path instead", exc, index, table)
                    written.rows = written.bytes = 0  # the exact read writes every row again
                    _read_exact(ctx, conn, schema, state.chunk, targets, tags, written, write_schema, keep)
            else:
                _read_exact(ctx, conn, schema, state.chunk, targets, tags, written, write_schema, keep)
        except Exception as exc:
            widening.explain(exc)
            raise
        if exact:  # read inside the consistent snapshot: it is the table as of `low`, exactly
            conn.rollback()
            high = low
        else:  # read between two watermarks: the binlog in between is merged below
            high = current_position(conn, ctx.settings, ctx.server)
    rows = written.rows
    merged = (
        0
        if exact
        else _merge_backfill(
            ctx, schema, (write_schema, keep), state.chunk, low, high, tag=f"{prefix}c{index}-a{attempt}-bf"
        )
    )
    seconds = time.monotonic() - started
    ctx.state.mark_chunk_done(key, index, rows=rows, seconds=seconds, low=low, high=high)
    # The chunk's buffers are freed but glibc keeps the pages: without this a worker's peak RSS grew
    # with the table (engine/allocator.py).
    release_free_memory()
    return ChunkResult(
        table, state.chunk, rows, seconds, False, low, high, merged, written.bytes, tuple(widening.records)
    )


@dataclass
class _Written:
    rows: int = 0
    bytes: int = 0  # Arrow bytes read (the exact path does not count them)


def tag_prefix(table: TableId, targets: list[TableId]) -> str:
    """What the write tags of a routed table's chunks start with: its name, so that shards merged into
    one target write under different tags (a sink that deduplicates by tag, StarRocks, would take a
    second shard's chunk 0 for the first's); empty for a table written only to its own name."""
    return "" if targets == [table] else f"{table}-"


def _read_fast(
    ctx: RunContext, schema, chunk: Chunk, plan, targets: list[TableId], tags, written: _Written, write_schema
) -> None:
    """Read the chunk as Arrow (connectorx) and write each batch from Arrow: no per-row Python. The next
    batch is read (in a thread of its own) while the last one is written (``write_schema``: the columns
    the target has)."""
    names = list(write_schema.column_names) if write_schema is not schema else None
    batches = read_chunk_arrow(
        ctx.settings,
        schema,
        chunk,
        plan,
        batch_rows=WRITE_BATCH_ROWS,
        fetch_rows=max(ctx.cfg.source.fetch_size, MIN_ARROW_FETCH_ROWS),
        batch_bytes=WRITE_BATCH_BYTES,
    )
    for data in read_ahead(batches, name=f"read chunk {chunk.index} of {schema.table_id}"):
        out = data.select(names) if names is not None else data
        tag = next(tags)
        for target in targets:
            rows = ctx.sink.upsert_arrow(target, write_schema, out, tag=tag)
        written.rows += rows
        written.bytes += data.nbytes


def _read_exact(
    ctx: RunContext,
    conn,
    schema,
    chunk: Chunk,
    targets: list[TableId],
    tags,
    written: _Written,
    write_schema,
    keep,
) -> None:
    """Read the chunk with PyMySQL and convert row by row (types the fast path cannot read exactly)."""
    convert = row_converter(schema, "snapshot", tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean)
    buffered: list[tuple] = []

    def write() -> None:
        rows = buffered if keep is None else keep_columns(buffered, keep)
        tag = next(tags)
        for target in targets:
            n = ctx.sink.upsert(target, write_schema, rows, tag=tag)
        written.rows += n

    for batch in read_chunk(ctx.settings, conn, schema, chunk, ctx.cfg.source.fetch_size):
        buffered.extend(convert(r) for r in batch)
        if len(buffered) >= EXACT_WRITE_BATCH_ROWS:
            write()
            buffered = []
    if buffered:
        write()


def _merge_backfill(
    ctx: RunContext, schema, write: tuple, chunk: Chunk, low: RestartPoint, high: RestartPoint, *, tag: str
) -> int:
    """Write the chunk's binlog changes between its watermarks after its rows (``write``: the schema to
    write with and the row positions to keep, see load_chunk); returns their number."""
    assert ctx.server is not None
    if low.position is None or high.position is None or not high.position > low.position:
        return 0
    server_id = ctx.state.lease_server_id(backfill_server_ids(ctx.cfg))
    try:
        with ctx.connect() as conn:
            changes = backfill(
                ctx.settings,
                ctx.server,
                schema,
                chunk,
                KeySorter(conn, ctx.settings, schema),
                low,
                high,
                server_id=server_id,
                tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean,
            )
    finally:
        ctx.state.release_server_id(server_id)
    if changes:
        write_schema, keep = write
        keys, rows = collapse(changes, schema.key_positions, keep)
        ctx.sink.apply_batch(ctx.route_batch([(schema.table_id, write_schema, keys, rows)]), tag=tag)
    return len(changes)


def snapshot_new_tables(ctx: RunContext, tables: list[TableId]) -> list[TableId]:
    """Snapshot tables created while streaming (``scan.newly-added-table.enabled``): describe them,
    plan and load every chunk, each consistent with the binlog. The stream resumes from where it
    stood and, for these tables, applies only changes after their chunks' high watermarks.
    Returns the tables added; one that cannot be captured (no primary key, an unsupported type) is
    logged and left out."""
    added = []
    for table in tables:
        try:
            ctx.add_tables([table])
        except TargetMismatchError as exc:
            # Not left out of the capture with a warning: its rows would be lost without a word.
            raise SchemaError(
                f"{table} came into the capture while streaming (a new table routed to an existing target, a "
                f"RENAME onto its name as gh-ost's two-step cut-over makes, or the table created again), but its "
                f"target cannot take it: {exc}. Let the target be widened (schema.change.behavior lenient or "
                "evolve), or drop the target and run `cdc-assets sync` (the table is snapshotted into a new one). "
                "With source.scan.parse.online.schema.changes.enabled, online schema-change tools are followed "
                "without this",
                table=str(table),
            ) from exc
        except (SchemaError, UnsupportedTypeError) as exc:
            log.warning("new table %s is not captured: %s", table, exc)
            continue
        for chunk in plan_table(ctx, table):
            load_chunk(ctx, table, chunk.index)
        log.info("new table %s snapshotted; the stream now captures it", table)
        added.append(table)
    return added


@dataclass(frozen=True)
class TableProgress:
    """How far a table's snapshot is: chunks done of all, rows loaded, and the time left if the
    remaining chunks load one after another (mean seconds per finished chunk x chunks left; parallel
    loads finish sooner)."""

    chunks_done: int
    chunks_total: int
    rows: int
    eta_seconds: float | None


def table_progress(state, source: str) -> TableProgress:
    chunks = state.chunks(source)
    done = [c for c in chunks if c.done]
    seconds = [c.seconds for c in done if c.seconds]
    eta = (sum(seconds) / len(seconds)) * (len(chunks) - len(done)) if seconds else None
    return TableProgress(len(done), len(chunks), sum(c.rows or 0 for c in done), eta)


@dataclass(frozen=True)
class SnapshotProgress:
    """Where the whole snapshot stands after a chunk was loaded."""

    last: ChunkResult
    chunks_done: int
    chunks_total: int
    tables_done: int
    tables_total: int


def snapshot_all(
    ctx: RunContext,
    on_chunk: Callable[[SnapshotProgress], None] | None = None,
    *,
    parallelism: int | None = None,
) -> int:
    """Plan every captured table and load every chunk not loaded yet; returns rows loaded.

    ``parallelism`` chunks (default ``pipeline.parallelism``) are loaded at once, each in a thread with
    connections of its own, in plan order; while one chunk is written, the next ones are read. When a
    chunk fails no further chunk starts, the ones under way finish, and the first error is raised (the
    chunks loaded stay loaded: a rerun skips them). ``on_chunk`` is called in this thread."""
    plans = {t: plan_table(ctx, t) for t in sorted(ctx.schemas)}
    total = sum(len(p) for p in plans.values())
    left = {t: sum(1 for c in ctx.state.chunks(str(t)) if not c.done) for t in plans}
    done = total - sum(left.values())
    loaded = 0
    todo = [(table, chunk.index) for table, chunks in plans.items() for chunk in chunks]
    workers = max(1, parallelism if parallelism is not None else ctx.cfg.pipeline.parallelism)
    for result in _load_chunks(ctx, todo, workers):
        if result.skipped:
            continue
        done += 1
        left[result.table] -= 1
        loaded += result.rows
        if on_chunk:
            tables_done = sum(1 for n in left.values() if n == 0)
            on_chunk(SnapshotProgress(result, done, total, tables_done, len(plans)))
    return loaded


def _load_chunks(ctx: RunContext, todo: list[tuple[TableId, int]], workers: int) -> Iterator[ChunkResult]:
    """:func:`load_chunk` over ``todo``, ``workers`` at once; results as the chunks finish."""
    if workers == 1 or len(todo) <= 1:
        for table, index in todo:
            yield load_chunk(ctx, table, index)
        return
    pending = iter(todo)
    _ = ctx.sink, ctx.state  # created here, not raced for by the threads
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="snapshot-chunk") as pool:
        running = {pool.submit(load_chunk, ctx, t, i) for t, i in itertools.islice(pending, workers)}
        failure: BaseException | None = None
        while running:
            finished, running = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                exc = future.exception()
                if exc is not None:
                    failure = failure or exc
                    continue
                yield future.result()
            if failure is None:
                running |= {
                    pool.submit(load_chunk, ctx, t, i) for t, i in itertools.islice(pending, len(finished))
                }
        if failure is not None:
            raise failure


def prepare_resnapshot(ctx: RunContext, tables: list[TableId]) -> list[TableId]:
    """Make ``tables`` be snapshotted again (the way on after a change the stream cannot follow): their
    targets are dropped (created again from the table as it is now), their chunk plans and schemas in
    force forgotten; the next sync or Dagster planner tick plans them anew, and the stream, which reads
    on from its restart point, applies only their changes after the new snapshot. A target that other
    captured tables are routed into too is shared: those tables are snapshotted again with it.
    Returns every table prepared. The streaming run must be stopped first."""
    unknown = [str(t) for t in tables if t not in ctx.schemas]
    if unknown:
        raise CdcError(
            f"not a captured table: {', '.join(unknown)}; give tables as db.table, as `cdc-assets status` lists them"
        )
    targets = {target for t in tables for target in ctx.targets(t)}
    chosen = sorted(t for t in ctx.schemas if targets & set(ctx.targets(t)))
    for target in sorted(targets):
        ctx.sink.drop_table(target)
    for t in chosen:
        ctx.state.forget_table(str(t), schema=True)
    return chosen
