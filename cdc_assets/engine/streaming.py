"""Streaming: tail the binlog from the restart point and apply changes to the target.

Changes are buffered per table and written at a transaction boundary, in one sink transaction
per flush; only then is the boundary saved as the restart point (write, then save: a crash in
between replays a little, which upserts by key make harmless, and never skips).

A flush is written by a thread of its own while the binlog is read on; one write is under way at a
time (the next flush waits for it), and its restart point is saved, in order, by the reading thread
once the write has landed. The sinks spend most of a write outside the GIL (DuckDB's delete, insert
and checkpoint; StarRocks' HTTP round trip), so reading and writing overlap on two cores.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cdc_assets.core.column_batch import ColumnBatch
from cdc_assets.core.events import EventChanges, RowChange, TableEvents, collapse
from cdc_assets.core.offsets import RestartPoint
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.transform import match_rule
from cdc_assets.engine.binlog_retention import RetentionWatch, ensure_restart_point_available
from cdc_assets.engine.catalog_cache import save_catalog
from cdc_assets.engine.context import RunContext, binlog_client_id
from cdc_assets.engine.reconnect import Reconnector
from cdc_assets.engine.schema_evolution import SchemaTracker
from cdc_assets.engine.sinks import flush_interval as sink_flush_interval
from cdc_assets.engine.snapshot import load_chunk, snapshot_new_tables
from cdc_assets.engine.startup import OFFSET_MODES, startup_point
from cdc_assets.engine.transform import arrow_schema, change_buffer, parsed_rules
from cdc_assets.engine.watermark import StreamFilter
from cdc_assets.errors import BinlogConnectionLost, CdcError
from cdc_assets.mysql.binlog import BinlogReader, Boundary, DdlRead, RowsRead
from cdc_assets.mysql.server import current_position
from cdc_assets.state import SchemaChangeRecord

log = logging.getLogger(__name__)

#: seconds between looks for new captured tables (``scan.newly-added-table.enabled``)
NEW_TABLE_DISCOVERY_SECONDS = 5.0
#: row changes buffered before a flush while the stream catches up (the flush interval bounds it when
#: changes come slower). Each DuckDB write ends with a checkpoint and each StarRocks write is a Stream
#: Load, so fewer, bigger flushes go faster: 1M row events streamed into DuckDB in 13.6 s with
#: 20,000 and in 10.4 s with 100,000 (250,000: no faster). With one flush written while the next is
#: read, at most twice this many changes are held.
FLUSH_ROWS = 100_000


@dataclass
class FlushInfo:
    """What one flush applied: rows per source table, and where the stream now stands."""

    rows: dict[TableId, int]
    point: RestartPoint
    lag_seconds: float | None
    seconds: float
    #: set while the lag passes ``source.scan.binlog.retention-warning.ratio`` of the server's binlog retention
    retention_warning: str | None = None


@dataclass
class StreamResult:
    flushes: int = 0
    rows: int = 0
    reconnects: int = 0  # binlog connection losses recovered from
    point: RestartPoint | None = None
    caught_up: bool = False
    rows_by_table: dict[TableId, int] = field(default_factory=dict)
    schema_changes: int = 0  # schema changes read from the binlog and recorded


def start_point(ctx: RunContext) -> RestartPoint:
    """The saved restart point, else the earliest snapshot point of the captured tables, else (latest-offset, earliest-offset,
    specific-offset, timestamp) the point the startup mode names."""
    saved = ctx.state.restart_point()
    if saved is not None:
        return saved
    # From the earliest snapshot point (where each table's schema history begins, so DDL run while the
    # chunks were read is applied), not just the lowest chunk high watermark: changes before a chunk's
    # high watermark are left out by the snapshot filter either way.
    points = []
    for table in ctx.state.tables().values():
        if table.snapshot_point is not None:
            points.append(table.snapshot_point)
        for c in ctx.state.chunks(table.source):
            if c.high is not None:
                points.append(c.high)
    if points:
        return min(points, key=lambda p: p.position.sort_key() if p.position else (("",), 0, 0))
    if ctx.cfg.source.startup_mode in OFFSET_MODES:
        return startup_point(ctx)
    raise CdcError(
        "no restart point and no snapshot yet: run the snapshot first (`cdc-assets sync` does both)"
    )


def snapshot_end(ctx: RunContext) -> RestartPoint | None:
    """The highest high watermark of the snapshot's chunks: once the stream has applied the binlog up
    to it, every captured table equals its source as of that point (``scan.startup.mode: snapshot``)."""
    highs = [c.high for t in ctx.state.tables() for c in ctx.state.chunks(t) if c.high is not None]
    highs = [h for h in highs if h.position is not None]
    return max(highs, key=lambda p: p.position.sort_key()) if highs else None  # type: ignore[union-attr]


def _tag(point: RestartPoint) -> str:
    if point.position is None:
        return str(point.gtid_set)
    tag = f"{point.position.file}_{point.position.pos}"
    return f"{tag}_{point.skip_events}_{point.skip_rows}" if point.skip_events or point.skip_rows else tag


def _reached(point: RestartPoint, target: RestartPoint) -> bool:
    def by_gtid() -> bool:
        return bool(
            point.gtid_set is not None
            and target.gtid_set is not None
            and point.gtid_set.flavor == target.gtid_set.flavor
            and target.gtid_set <= point.gtid_set
        )

    if point.position is None or target.position is None:
        return by_gtid()  # resumed by GTID, nothing committed since: no position yet
    if point.server_id is not None and target.server_id is not None and point.server_id != target.server_id:
        return by_gtid()  # positions on two servers (files may share names): compare GTIDs
    try:
        return point.position >= target.position
    except ValueError:  # a different binlog series: compare GTIDs instead
        return by_gtid()


def _snapshot_filter(ctx: RunContext, reader: BinlogReader) -> StreamFilter:
    """The snapshot's chunk watermarks are positions on the server the snapshot was read from. A
    reader on another server (after a failover; files there may have the same names) reads
    positions they cannot be compared with, so it applies every change from its start on: a change
    the snapshot already holds is written again, and the later changes of the same rows follow it,
    so the target ends up equal. (Watermarks saved without a server id are taken as this server's.)"""
    here = reader.point.server_id
    marks = [t.snapshot_point for t in ctx.state.tables().values()]
    marks += [c.high for t in ctx.state.tables() for c in ctx.state.chunks(t)]
    elsewhere = any(p is not None and p.server_id is not None and p.server_id != here for p in marks)
    if reader.gtid_reason is not None or elsewhere:
        return StreamFilter({})
    return StreamFilter.open(ctx)


def stream(
    ctx: RunContext,
    *,
    until_caught_up: bool = False,
    until: RestartPoint | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_flush: Callable[[FlushInfo], None] | None = None,
    on_schema_change: Callable[[list[SchemaChangeRecord]], None] | None = None,
    flush_interval: float | None = None,
    max_buffered_rows: int = FLUSH_ROWS,
    clock: Callable[[], float] = time.time,
) -> StreamResult:
    """Apply binlog changes until stopped (``should_stop``), or until the binlog end that existed when
    streaming started has been applied (``until_caught_up``), or until ``until`` has been applied."""
    assert ctx.server is not None, "discover() first"
    if flush_interval is None:
        flush_interval = sink_flush_interval(ctx.cfg)
    missing = [
        str(t) for t in ctx.schemas if (s := ctx.state.table(str(t))) is None or s.phase != "snapshotted"
    ]
    if ctx.cfg.source.startup_mode in ("initial", "snapshot") and missing:
        raise CdcError(
            f"streaming needs every captured table snapshotted first; not yet: {', '.join(sorted(missing))}. "
            "Run `cdc-assets sync` (it snapshots what is missing), or materialize the snapshot partitions in Dagster"
        )
    point = start_point(ctx)
    if ensure_restart_point_available(ctx, point):  # it was purged, and the tables were snapshotted again
        point = start_point(ctx)
    # The schemas in force at the start point: those saved with it, else the catalog's (saved now).
    tracker = SchemaTracker(ctx)
    if ctx.state.restart_point() is None or tracker.unsaved:
        # where reading starts: always a safe restart point
        ctx.state.save_restart_point(point, schemas=tracker.in_force(tracker.unsaved))
    result = StreamResult(point=point)
    target = until

    def merged_targets_widened() -> None:
        """Show the widenings of merged targets recorded since (discovery, a table created or added)."""
        records = ctx.take_target_changes()
        if on_schema_change and records:
            on_schema_change(records)

    merged_targets_widened()
    if until_caught_up:
        with ctx.connect() as conn:
            target = current_position(conn, ctx.settings, ctx.server)

    rules = parsed_rules(ctx.cfg)
    untransformed: dict[TableId, bool] = {}
    tinyint1_as_boolean = ctx.cfg.source.treat_tinyint1_as_boolean

    def by_columns(table: TableId, snapshot_filter: StreamFilter) -> bool:
        """Whether ``table``'s changes may be held column by column (:class:`ColumnBatch`): written as they
        are read (no transform rule), with no snapshot watermark left to check them against."""
        plain = untransformed.get(table)
        if plain is None:
            # no transform, and one target that only this table fills (nothing to merge in the write)
            targets = ctx.targets(table)
            plain = untransformed[table] = (
                match_rule(rules, table) is None
                and len(targets) == 1
                and len(ctx.sources_of(targets[0])) == 1
            )
        return plain and not snapshot_filter.filters(table)

    def open_reader(at: RestartPoint) -> BinlogReader:
        return BinlogReader(
            ctx.settings,
            ctx.server,
            ctx.schemas,
            server_id=binlog_client_id(ctx.cfg),
            start=at,
            heartbeat_seconds=max(0.2, min(1.0, ctx.cfg.source.heartbeat_interval or 1.0)),
            tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean,
            known_since=tracker.known_since(),
        )

    # Chunks a DDL before the restart point left to read again, when the run that saved it died first.
    reload_chunks(ctx)
    reader = open_reader(point)  # refuses a point this server cannot resume, even with nothing to read
    if target is not None and _reached(point, target):
        reader.close()
        result.caught_up = True
        ctx.state.save_restart_point(point)
        return result
    reconnect = Reconnector(
        f"{ctx.settings.host}:{ctx.settings.port}",
        ctx.cfg.source.connect_max_retries,
        ctx.cfg.source.connect_timeout,
    )
    retention = RetentionWatch.open(ctx)
    # While nothing is pending, the restart point alone is saved every heartbeat.interval (0: never).
    heartbeat_every = ctx.cfg.source.heartbeat_interval
    # While the stream catches up with the snapshot, changes older than the watermark of the chunk
    # holding their key are already in the target: applying them would take rows back in time.
    snapshot_filter = _snapshot_filter(ctx, reader)
    reader.column_tables = {t for t in ctx.schemas if by_columns(t, snapshot_filter)}
    discover_every = NEW_TABLE_DISCOVERY_SECONDS if ctx.cfg.source.newly_added_tables else None
    last_discovery = time.monotonic()
    pending: dict[TableId, list[RowChange] | ColumnBatch] = {}
    pending_rows = 0
    last_flush = time.monotonic()
    last_touch = last_flush
    last_saved = point  # the restart point of the last write that landed
    last_sent = point  # ... of the last write handed to the writer (== last_saved when none is under way)
    writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="stream-writer")
    under_way: tuple[concurrent.futures.Future, _Flush] | None = None

    def write(job: _Flush) -> float:
        """The writer thread's part: collapse each table's changes and apply them in one sink transaction."""
        started = time.monotonic()
        batch, parts, events = [], [], []
        for table, changes in job.changes.items():
            source, (schema, keep) = job.schemas[table]
            if isinstance(changes, EventChanges):  # uncollapsed: the transforming sink evaluates each event
                events += [
                    TableEvents(t, schema, changes, source.key_positions, keep) for t in ctx.targets(table)
                ]
                continue
            if isinstance(changes, ColumnBatch):  # collapsed the same way, the rows straight into Arrow
                keys, rows = changes.to_arrow(
                    arrow_schema(schema, tinyint1_as_boolean=tinyint1_as_boolean), keep
                )
                (only,) = ctx.targets(table)  # by_columns: one target, this table its only source
                batch.append((only, schema, keys, rows))
                continue
            # the target may lack some source columns: the others are written, by name
            keys, rows = collapse(changes, source.key_positions, keep)
            parts.append((table, schema, keys, rows))
        batch += ctx.route_events(events)  # one entry per target, as for the collapsed changes:
        batch += ctx.route_batch(parts)  # shards merged, a table to each of its targets
        # The binlog between two restart points never changes, so the range names the write: a replay
        # after a crash that flushes the same range again is recognised by a deduplicating sink.
        ctx.sink.apply_batch(batch, tag=job.tag)
        return time.monotonic() - started

    def settle(wait: bool) -> None:
        """Save the restart point of the write under way once it landed (at once when ``wait``); its
        error, if it failed, is raised here."""
        nonlocal under_way, last_saved
        if under_way is None or not (wait or under_way[0].done()):
            return
        future, job = under_way
        under_way = None
        seconds = future.result()
        ctx.state.save_restart_point(job.point)
        last_saved = job.point
        result.flushes += 1
        result.rows += sum(job.counts.values())
        for t, n in job.counts.items():
            result.rows_by_table[t] = result.rows_by_table.get(t, 0) + n
        result.point = job.point
        lag = clock() - job.point.event_time if job.point.event_time else None
        warning = retention.check(lag)
        if on_flush:
            on_flush(FlushInfo(job.counts, job.point, lag, seconds, warning))

    def flush(boundary: RestartPoint) -> None:
        nonlocal pending, pending_rows, last_flush, last_sent, under_way
        settle(wait=True)  # one write at a time, restart points saved in order
        counts = {table: len(changes) for table, changes in pending.items()}
        schemas = {table: (ctx.schemas[table], tracker.write_schema(table)) for table in pending}
        job = _Flush(pending, counts, boundary, f"b{_tag(last_sent)}-{_tag(boundary)}", schemas)
        under_way = (writer.submit(write, job), job)
        last_sent = boundary
        pending, pending_rows = {}, 0
        last_flush = time.monotonic()

    def reopen() -> tuple[BinlogReader, StreamFilter]:
        """A reader at the last restart point that landed, and the snapshot filter for it."""
        new_reader = open_reader(last_saved)
        untransformed.clear()  # tables may have come or gone (DDL, new tables): targets' sources with them
        try:
            new_filter = _snapshot_filter(ctx, new_reader)
            new_reader.column_tables = {t for t in ctx.schemas if by_columns(t, new_filter)}
            return new_reader, new_filter
        except BaseException:
            new_reader.close()
            raise

    def schema_change(ddl: DdlRead, before: RestartPoint) -> tuple[bool, list[TableId]]:
        """Apply a statement read from the binlog; ``before`` is the boundary before it. Returns whether
        it changed a captured table (the reader is then reopened after it, with the new schemas) and
        the tables to snapshot first."""
        nonlocal last_saved, last_sent
        if pending_rows or before != last_sent:
            flush(before)  # rows written before the DDL are written with the schema they had
        settle(wait=True)
        outcome = tracker.handle(ddl.current_db, ddl.sql, ddl.point)
        merged_targets_widened()
        if not outcome.changed:
            return False, []
        # The chunks to read again are saved with the restart point after the DDL: a crash before they
        # are read again would otherwise leave them as the old schema wrote them (see reload_chunks).
        again = chunks_read_after(ctx, outcome.records)
        ctx.state.save_restart_point(
            ddl.point,
            schemas=tracker.in_force(),
            changes=outcome.records,
            forget=[str(t) for t in outcome.forget],
            reload=[(str(t), i) for t, i in again],
            shadows=tracker.osc.saved() if outcome.shadows_changed else None,
        )
        last_saved = last_sent = ddl.point
        result.point = ddl.point
        result.schema_changes += len(outcome.records)
        save_catalog(ctx.cfg, ctx.schemas)
        if on_schema_change and outcome.records:
            on_schema_change(outcome.records)
        return True, outcome.snapshot

    try:
        while True:
            new_tables: list[TableId] = []
            reopen_after_ddl = False
            boundary_seen = last_saved
            try:
                for item in reader.events():
                    if isinstance(item, RowsRead):
                        changes = snapshot_filter.apply(item)
                        if item.table not in reader.column_tables and by_columns(item.table, snapshot_filter):
                            reader.column_tables.add(item.table)  # past the snapshot's watermarks
                        if changes:
                            held = pending.get(item.table)
                            if held is None and not isinstance(changes, ColumnBatch):
                                held = change_buffer(ctx.sink, item.table)
                                if held.__class__ is EventChanges:
                                    pending[item.table] = held
                            if (
                                held.__class__ is EventChanges
                            ):  # the table's transform reads event kinds and times
                                held.add(changes, item.timestamp)
                            else:
                                _hold(pending, item.table, changes)
                            pending_rows += len(changes)
                        continue
                    if isinstance(item, DdlRead):
                        reopen_after_ddl, new_tables = schema_change(item, boundary_seen)
                        if reopen_after_ddl:
                            break
                        continue
                    assert isinstance(item, Boundary)
                    boundary_seen = item.point
                    settle(wait=False)
                    reconnect.succeeded(item.point)
                    done = target is not None and _reached(item.point, target)
                    stop = done or should_stop()
                    since_flush = time.monotonic() - last_flush
                    if pending_rows:
                        save = stop or pending_rows >= max_buffered_rows or since_flush >= flush_interval
                    else:  # a flush then only moves the restart point (idle tables, heartbeats)
                        save = item.point != last_sent and (
                            stop or (heartbeat_every > 0 and since_flush >= heartbeat_every)
                        )
                    if save:
                        flush(item.point)
                    elif since_flush >= flush_interval and time.monotonic() - last_touch >= flush_interval:
                        ctx.state.touch_heartbeat()  # the run's liveness signal keeps moving while idle
                        last_touch = time.monotonic()
                    if stop:
                        settle(wait=True)
                        result.caught_up = done
                        break
                    if discover_every is not None and time.monotonic() - last_discovery >= discover_every:
                        last_discovery = time.monotonic()
                        new_tables = ctx.new_tables()
                        if new_tables:  # stop here, at a transaction boundary, with everything written
                            if pending_rows or item.point != last_sent:
                                flush(item.point)
                            settle(wait=True)
                            break
            except BinlogConnectionLost as exc:
                # Changes read since the last flush are dropped and read again from the saved restart
                # point, a transaction boundary: never half a transaction; upserts by key make it harmless.
                reader.close()
                snapshot_filter.close()
                settle(wait=True)  # the write under way holds whole transactions: it lands first
                pending, pending_rows = {}, 0
                reopened = reconnect.recover(exc, last_saved, reopen, should_stop)
                if reopened is None:  # stop requested while waiting
                    break
                reader, snapshot_filter = reopened
                result.reconnects = reconnect.incidents
                continue
            if not new_tables and not reopen_after_ddl:
                break
            # Snapshot the new tables, then read on from where the stream stood: their changes from
            # here up to each chunk's high watermark are in the chunks already and are filtered out.
            # After a schema change, the reader reopens with the schemas in force after it.
            reader.close()
            snapshot_filter.close()
            added = snapshot_new_tables(ctx, new_tables) if new_tables else []
            if added:  # a table gone again since it was seen is left out
                tracker.track(added)
                ctx.state.save_restart_point(last_saved, schemas=tracker.in_force(added))
                save_catalog(ctx.cfg, ctx.schemas)
            merged_targets_widened()
            reload_chunks(ctx)  # read while the DDL was under way: their rows are read again
            reader, snapshot_filter = reopen()
        settle(wait=True)  # the reader ended (not blocking): the last write lands before returning
    except BaseException:
        # A write under way holds whole transactions: let it land and save its restart point.
        try:
            settle(wait=True)
        except Exception as exc:  # the error being raised is the one to report
            log.warning("the write under way when streaming stopped failed too: %s", exc)
        raise
    finally:
        writer.shutdown(wait=True)
        reader.close()
        snapshot_filter.close()
    return result


def _hold(pending: dict[TableId, list[RowChange] | ColumnBatch], table: TableId, changes) -> None:
    """Add a rows event's changes to ``table``'s pending ones: column batches of one layout are joined;
    anything else (rows the exact path decoded, a new table map) turns the table's changes into a list."""
    held = pending.get(table)
    if held is None:
        pending[table] = changes if isinstance(changes, ColumnBatch) else list(changes)
    elif isinstance(held, ColumnBatch) and isinstance(changes, ColumnBatch) and held.joins(changes):
        held.extend(changes)
    else:
        if isinstance(held, ColumnBatch):
            held = pending[table] = held.changes()
        held.extend(changes.changes() if isinstance(changes, ColumnBatch) else changes)


#: changes after which rows of snapshot chunks read after the DDL are not whole in the target: a renamed
#: column's values went nowhere (the target had the old name), a changed type's may not have fit
_RELOAD_AFTER = ("rename.column", "alter.column.type")


def reload_chunks(ctx: RunContext) -> None:
    """Read again the snapshot chunks saved with a DDL's restart point (:func:`chunks_read_after`), each
    forgotten once it is loaded (a crash in between reads it once more: harmless, upserts by key). The
    target has the change by then (it was applied before the point was saved). The stream reads on from
    that point and, the table having changed during its snapshot, applies every later change of it
    (watermark.StreamFilter), so rows the reload already holds newer get the same changes again, in
    order, and end as the source has them. A table no longer captured (dropped, renamed) is passed over."""
    for source, index in ctx.state.chunk_reloads():
        table = TableId.parse(source)
        if table in ctx.schemas and ctx.state.chunk(source, index) is not None:
            log.info(
                "reading chunk %d of %s again: it was read while a schema change was under way", index, table
            )
            load_chunk(ctx, table, index, force=True)
        ctx.state.chunk_reloaded(source, index)


def chunks_read_after(ctx: RunContext, records: list[SchemaChangeRecord]) -> list[tuple[TableId, int]]:
    """Snapshot chunks of the changed tables that were read after the DDL (their low watermark is past
    it): they were written with the columns the target had before the change, so they are read again
    once the change is applied. An added or dropped column needs no reload: the stream applies every
    later change of the table (watermark.StreamFilter), and an added column's default fills the rest."""
    out = []
    for rec in records:
        if rec.kind not in _RELOAD_AFTER or rec.position.position is None:
            continue
        table = TableId.parse(rec.source)
        if table not in ctx.schemas:
            continue
        for c in ctx.state.chunks(rec.source):
            low = c.low.position if c.low is not None else None
            try:
                after = low is not None and low > rec.position.position
            except ValueError:  # another server's binlog: not comparable, read it again to be sure
                after = True
            if c.done and after and (table, c.chunk.index) not in out:
                out.append((table, c.chunk.index))
    return out


@dataclass
class _Flush:
    """One flush handed to the writer thread: the changes per table, and the restart point after them."""

    changes: dict[TableId, list[RowChange] | ColumnBatch]
    counts: dict[TableId, int]  # changes per table
    point: RestartPoint
    tag: str
    #: per table: the schema its rows were decoded with, and what to write them with (see SchemaTracker.write_schema)
    schemas: dict[TableId, tuple[TableSchema, tuple[TableSchema, tuple[int, ...] | None]]]
