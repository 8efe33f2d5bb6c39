"""The watermark algorithm (flink-cdc.md section 2): each chunk is consistent with the binlog, and the
stream applies a change only when it is newer than what the chunk holding its key was written with.

Per chunk (:func:`read_consistently` in engine/snapshot.py):

- on MariaDB the read runs in a consistent-snapshot transaction whose binlog point the server
  reports exactly (``binlog_snapshot_position``): low watermark = high watermark = that point, and
  there is nothing to merge;
- elsewhere (MySQL): low watermark, read, high watermark, then :func:`backfill` reads the binlog
  between the two for this table and returns the changes of keys inside the chunk, which are
  written after the chunk's rows. The chunk then holds its key range as of the high watermark.

The stream (:class:`StreamFilter`) starts at the lowest high watermark of all chunks and applies a
change of a key only if it is after the high watermark of the chunk holding that key (binary search
over the chunks' start keys, in the source collation's order); once past a table's highest
watermark, every change of that table is applied without looking.

A key-changing update whose old and new keys lie in chunks with different watermarks is split into
a delete of the old key and an insert of the new one, each decided by its own chunk.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from cdc_assets.config import PipelineConfig
from cdc_assets.core.chunks import Chunk
from cdc_assets.core.column_batch import ColumnBatch
from cdc_assets.core.events import RowChange, key_of
from cdc_assets.core.key_order import ChunkLocator, ChunkMark, in_range
from cdc_assets.core.offsets import BinlogPosition, RestartPoint
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.mysql.binlog import BinlogReader, Boundary, DdlRead, RowsRead
from cdc_assets.mysql.connection import ConnectionSettings
from cdc_assets.mysql.key_order import KeySorter
from cdc_assets.mysql.server import ServerInfo
from cdc_assets.state import ChunkState, StateStore

#: server ids a pipeline's chunk backfills take turns on when ``server-id`` is not a range
BACKFILL_SERVER_IDS = 64


def backfill_server_ids(cfg: PipelineConfig) -> list[int]:
    """Server ids for the short binlog reads of chunk backfills: the rest of a ``server-id`` range
    (its first id is the stream's), else a block of 64 derived from the pipeline id, far above the
    5400-6400 range Flink jobs pick from."""
    if cfg.source.server_id is not None and cfg.source.server_id[1] > cfg.source.server_id[0]:
        return list(range(cfg.source.server_id[0] + 1, cfg.source.server_id[1] + 1))
    base = 0x40000000 + (zlib.crc32(cfg.pipeline_id.encode()) % (1 << 20)) * BACKFILL_SERVER_IDS
    return list(range(base, base + BACKFILL_SERVER_IDS))


def _split(change: RowChange, key_positions) -> list[tuple[tuple, RowChange]]:
    """A change as (key, change) pieces; a key-changing update becomes a delete plus an insert."""
    if change.op == "insert":
        return [(key_of(change.after, key_positions), change)]  # type: ignore[arg-type]
    if change.op == "delete":
        return [(key_of(change.before, key_positions), change)]  # type: ignore[arg-type]
    old = key_of(change.before, key_positions)  # type: ignore[arg-type]
    new = key_of(change.after, key_positions)  # type: ignore[arg-type]
    if old == new:
        return [(new, change)]
    return [(old, RowChange("delete", change.before, None)), (new, RowChange("insert", None, change.after))]


def backfill(
    settings: ConnectionSettings,
    server: ServerInfo,
    schema: TableSchema,
    chunk: Chunk,
    sorter: KeySorter,
    low: RestartPoint,
    high: RestartPoint,
    *,
    server_id: int,
    tinyint1_as_boolean: bool,
) -> list[RowChange]:
    """The changes of keys inside ``chunk`` written to the binlog after ``low`` and up to ``high``,
    in binlog order (a key-changing update that leaves or enters the chunk contributes only its
    delete or its insert)."""
    assert low.position is not None and high.position is not None
    if not high.position > low.position:
        return []
    start_sk = sorter.sort_key(chunk.start)
    end_sk = sorter.sort_key(chunk.end)
    reader = BinlogReader(
        settings,
        server,
        {schema.table_id: schema},
        server_id=server_id,
        start=low,
        tinyint1_as_boolean=tinyint1_as_boolean,
        blocking=False,
        position_is_this_servers=True,
    )
    pieces: list[tuple[tuple, RowChange]] = []
    try:
        for item in reader.events():
            if isinstance(item, Boundary):
                if item.point.position is not None and item.point.position >= high.position:
                    break
                continue
            if isinstance(item, DdlRead):
                continue  # the stream applies schema changes; rows after one in this window fail to
                # decode against the chunk's schema (a clear error), and the chunk is read again
            assert isinstance(item, RowsRead)
            if item.position is not None and item.position > high.position:
                break
            for change in item.changes:
                pieces.extend(_split(change, schema.key_positions))
    finally:
        reader.close()
    if not pieces:
        return []
    sort_keys = sorter.sort_keys([k for k, _ in pieces])
    return [ch for (_, ch), sk in zip(pieces, sort_keys, strict=True) if in_range(sk, start_sk, end_sk)]


@dataclass
class _TableFilter:
    locator: ChunkLocator | None  # None: the key has no order here, apply everything after `lowest`
    lowest: BinlogPosition
    highest: BinlogPosition
    sorter: KeySorter | None
    key_positions: tuple[int, ...]


class StreamFilter:
    """Which binlog changes the stream applies while it catches up with the snapshot's chunks."""

    def __init__(self, tables: dict[TableId, _TableFilter], conn=None):
        self._tables = tables
        self._conn = conn  # for collation weights of text keys; closed once nothing is filtered

    @classmethod
    def open(cls, ctx) -> StreamFilter:
        """The filter for the tables of ``ctx`` (a RunContext), with a source connection of its own."""
        conn = ctx.connect()
        f = cls.from_state(ctx.state, ctx.schemas, conn, ctx.settings)
        f._conn = conn
        if not f.active:
            f.close()
        return f

    def close(self) -> None:
        if self._conn is not None and self._conn.open:
            self._conn.close()

    @classmethod
    def from_state(
        cls, state: StateStore, schemas: dict[TableId, TableSchema], conn, settings
    ) -> StreamFilter:
        tables: dict[TableId, _TableFilter] = {}
        for table, schema in schemas.items():
            s = state.table(str(table))
            if s is None:
                continue
            chunks = state.chunks(str(table))
            highs = [_high(c, s.snapshot_point) for c in chunks]
            if not chunks or any(h is None for h in highs):
                continue  # nothing snapshotted with watermarks: apply everything from the start point
            positions: list[BinlogPosition] = [h for h in highs if h is not None]
            if _changed_during_snapshot(state, table, max(positions)):
                # Chunks read after a schema change (say, an added column) hold rows in the columns the
                # target had then; every change from the DDL on is applied, so each row ends up with all
                # its columns. The stream reads on after the DDL, so this is every change from here.
                continue
            sorter = KeySorter(conn, settings, schema)
            locator = None
            if sorter.ordered:
                starts = sorter.sort_keys([c.chunk.start for c in chunks[1:]]) if len(chunks) > 1 else []
                marks = [ChunkMark(None, positions[0])]
                marks += [ChunkMark(sk, p) for sk, p in zip(starts, positions[1:], strict=True)]
                locator = ChunkLocator(marks)
            tables[table] = _TableFilter(
                locator, min(positions), max(positions), sorter if locator else None, schema.key_positions
            )
        return cls(tables)

    @property
    def active(self) -> bool:
        return bool(self._tables)

    def filters(self, table: TableId) -> bool:
        """Whether changes of ``table`` are still checked against its chunks' watermarks."""
        return table in self._tables

    def start(self) -> BinlogPosition | None:
        """The lowest high watermark: no change before it needs to be applied."""
        return min((f.lowest for f in self._tables.values()), default=None)

    def apply(self, item: RowsRead) -> list[RowChange] | ColumnBatch:
        """The changes of ``item`` to apply."""
        f = self._tables.get(item.table)
        if f is None or item.position is None:
            return item.changes
        if item.position > f.highest:
            del self._tables[item.table]  # past every chunk of the table: no more filtering
            if not self._tables:
                self.close()
            return item.changes
        if not item.position > f.lowest:
            return []
        if f.locator is None or f.sorter is None:
            return item.changes
        changes = item.changes.changes() if isinstance(item.changes, ColumnBatch) else item.changes
        pieces = [p for ch in changes for p in _split(ch, f.key_positions)]
        keys = f.sorter.sort_keys([k for k, _ in pieces])
        return [ch for (_, ch), sk in zip(pieces, keys, strict=True) if f.locator.applies(sk, item.position)]


def _changed_during_snapshot(state: StateStore, table: TableId, highest: BinlogPosition) -> bool:
    """Whether a schema change of ``table`` was applied at a binlog point before its last chunk's high
    watermark (positions of another server are not comparable: then assume it was). A change a chunk
    loader applied (origin ``snapshot``) does not count: the stream has not read its statement yet, and
    until it does the chunks' watermarks hold."""
    for rec in state.schema_changes(source=str(table)):
        if rec.origin != "stream":
            continue
        pos = rec.position.position
        if pos is None:
            return True
        try:
            if pos < highest:
                return True
        except ValueError:
            return True
    return False


def _high(chunk: ChunkState, table_point: RestartPoint | None) -> BinlogPosition | None:
    point = chunk.high if chunk.high is not None else (table_point if chunk.done else None)
    return point.position if point is not None else None
