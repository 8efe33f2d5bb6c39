"""Tailing the source's binlog with python-mysql-replication, as a stream of our own events.

The reader yields :class:`RowsRead` for row events of captured tables (values converted to target
values, in the table's column order) and :class:`Boundary` whenever the stream stands between
transactions: after a commit (XID, ``COMMIT``, or a DDL's implicit commit) and, while idle, after
rotations and heartbeats. Only a ``Boundary`` carries a restart point (consistency-notes item 6).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from cdc_assets.core.column_batch import ColumnBatch
from cdc_assets.core.ddl_text import mask_secrets
from cdc_assets.core.events import RowChange
from cdc_assets.core.offsets import BinlogPosition, RestartPoint
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.types import binlog_values, row_converter
from cdc_assets.errors import BinlogConnectionLost, SchemaError, TransientError
from cdc_assets.mysql.connection import ConnectionSettings, classify
from cdc_assets.mysql.dump_connection import DumpConnection, StreamCut
from cdc_assets.mysql.resume import gtid_resume_reason
from cdc_assets.mysql.row_decoder import FastRows
from cdc_assets.mysql.server import ServerInfo


@dataclass(frozen=True)
class RowsRead:
    """Row changes of one rows event; ``position`` is where the event ends in the binlog (a change
    is after a watermark W when ``position > W``: transactions are written to the binlog whole)."""

    table: TableId
    #: a ColumnBatch for the tables the reader was asked to read column by column (``column_tables``)
    changes: list[RowChange] | ColumnBatch
    position: BinlogPosition | None = None
    #: the event's timestamp (Unix seconds, from its header): when the change was made on the source
    timestamp: int = 0


@dataclass(frozen=True)
class DdlRead:
    """A statement other than BEGIN / COMMIT / SAVEPOINT (DDL, mostly), read right before the
    :class:`Boundary` that ends it; ``current_db`` is the database it ran in (unqualified names are
    relative to it), ``point`` the restart point after it."""

    current_db: str | None
    sql: str
    point: RestartPoint


@dataclass(frozen=True)
class Boundary:
    """The stream is between transactions; ``point`` is where to resume. ``committed`` if a transaction just ended."""

    point: RestartPoint
    committed: bool


class _TableDecoder:
    """Binlog row dicts (keyed by column name) -> converted tuples in the table's column order."""

    def __init__(self, schema: TableSchema, tinyint1_as_boolean: bool):
        self.names = schema.column_names
        self.convert = row_converter(schema, "binlog", tinyint1_as_boolean=tinyint1_as_boolean)

    def __call__(self, values: Mapping[str, object], none_sources: Mapping[str, str] | None) -> tuple:
        # none_sources is how python-mysql-replication tells an empty SET from NULL
        return self.convert(binlog_values(values, none_sources or {}, self.names))


class BinlogReader:
    """One binlog connection for every captured table of one MySQL instance."""

    def __init__(
        self,
        settings: ConnectionSettings,
        server: ServerInfo,
        schemas: Mapping[TableId, TableSchema],
        *,
        server_id: int,
        start: RestartPoint,
        heartbeat_seconds: float = 1.0,
        tinyint1_as_boolean: bool = True,
        blocking: bool = True,
        position_is_this_servers: bool = False,
        known_since: Mapping[TableId, RestartPoint] | None = None,
    ):
        """``position_is_this_servers``: ``start.position`` was just read from this server (a chunk's
        watermark), so it is used without checking whether it belongs to the server. ``known_since``:
        per table, the point its schema in force was read from the catalog (its snapshot point): its row
        events before that point are skipped undecoded (the snapshot holds them; they may have been
        written with columns it no longer has)."""
        self.settings = settings
        self.server = server
        #: why the saved binlog position is not used on this server (then the reader resumed by
        #: GTID), or None when it reads from the position
        self.gtid_reason = None if position_is_this_servers else gtid_resume_reason(settings, server, start)
        if self.gtid_reason is not None:
            # The position belongs to another server: positions from this one replace it at the
            # first commit, and until then the point is the GTID set alone.
            start = replace(start, position=None)
        start = replace(start, **server.identity())  # the server whose positions the point will hold
        self.point = start
        self.server_id = server_id
        self._start = start
        # Skips (scan.startup.specific-offset.skip-events / .skip-rows): row events of the captured
        # tables, then rows, right after the start, already applied (see _gate).
        self._skip_events, self._skip_rows = start.skip_events, start.skip_rows
        self._first_commit_seen = False
        # A MySQL point without a GTID set started from a file + position: the GTIDs seen from there
        # on are not the server's executed set, so none are recorded rather than a wrong set.
        self._record_gtids = start.gtid_set is not None or server.is_mariadb
        self._schemas = dict(schemas)
        self._decoders = {t: _TableDecoder(s, tinyint1_as_boolean) for t, s in schemas.items()}
        self._checked_maps: dict[int, object] = {}  # table id -> the table map checked against its schema
        # positions on another server cannot be compared with this one's: then nothing is skipped
        self._known_since = {
            t: p.position
            for t, p in (known_since or {}).items()
            if p.position is not None and self.gtid_reason is None and p.server_id in (None, server.server_id)
        }
        self.fast_rows = FastRows(schemas, tinyint1_as_boolean=tinyint1_as_boolean)
        #: tables whose rows events are read as ColumnBatch where the generated decoder can (the
        #: caller's choice: it must not need RowChange objects for them); the others as RowChange lists
        self.column_tables: set[TableId] = set()
        self._in_tx = False
        self._gtid: str | None = None
        if self.gtid_reason is not None:
            assert start.gtid_set is not None
            where = {"auto_position": str(start.gtid_set), "is_mariadb": server.is_mariadb}
        else:
            assert start.position is not None
            # Not is_mariadb: in that mode python-mysql-replication ignores log_file / log_pos and
            # positions by GTID only, so without a GTID it replays from the oldest binlog. The
            # classic file + position dump works on MariaDB too (GTID events still arrive).
            where = {"log_file": start.position.file, "log_pos": start.position.pos, "is_mariadb": False}
        self._blocking = blocking
        self._closed = False
        self._stream = BinLogStreamReader(
            # A stalled connection (no data, not even the heartbeats asked for) times out and is reconnected.
            connection_settings={
                **settings.pymysql_kwargs(),
                "read_timeout": read_timeout(settings, heartbeat_seconds),
            },
            pymysql_wrapper=DumpConnection,  # lost connections reach us, see dump_connection
            server_id=server_id,
            resume_stream=True,
            blocking=blocking,
            only_events=[
                WriteRowsEvent,
                UpdateRowsEvent,
                DeleteRowsEvent,
                XidEvent,
                QueryEvent,
                GtidEvent,
                MariadbGtidEvent,
                RotateEvent,
                HeartbeatLogEvent,
            ],
            only_schemas=sorted({t.db for t in schemas}),
            only_tables=sorted({t.table for t in schemas}),
            slave_heartbeat=heartbeat_seconds,
            enable_logging=False,
            **where,
        )

    def close(self) -> None:
        self._closed = True
        self._stream.close()

    def _boundary(self, pos: int, event_time: int | None, committed: bool) -> Boundary:
        position = BinlogPosition(self._stream.log_file, pos)
        gtid, self._gtid = self._gtid, None
        gtid = gtid if committed and self._record_gtids else None
        self.point = self.point.advance(position, gtid=gtid, event_time=event_time)
        return Boundary(self.point, committed)

    def _idle_boundary(self, pos: int | None) -> Boundary:
        # A heartbeat means the server has sent everything it has: the stream is current as of now, so
        # the point's event time (what lag is measured from) moves on even while captured tables are idle.
        self.point = replace(self.point, event_time=int(time.time()))
        if pos and pos >= 4 and self.point.position is not None:
            here = BinlogPosition(self._stream.log_file, pos)
            try:
                ahead = here > self.point.position
            except ValueError:  # another binlog series (server switched): keep the point
                ahead = False
            if ahead:
                self.point = self.point.advance(here)
        return Boundary(self.point, False)

    def events(self) -> Iterator[RowsRead | DdlRead | Boundary]:
        """Read until the stream ends (non-blocking) or forever (blocking); close() to stop."""
        try:
            for ev in self._stream:
                for item in self._handle(ev):
                    gated = self._gate(item)
                    if gated is not None:
                        yield gated
        except StreamCut as exc:
            doing = f"reading the binlog after {self.point}"
            raise BinlogConnectionLost(
                f"the binlog connection to {self.settings.where} was lost while {doing} ({exc.cause.args[-1]})",
                code=exc.args[0],
            ) from exc
        except (pymysql.err.MySQLError, OSError) as exc:
            err = classify(
                exc, self.settings, f"reading the binlog as server-id {self.server_id} after {self.point}"
            )
            if isinstance(err, TransientError):
                raise BinlogConnectionLost(str(err), **err.context) from exc
            raise err from exc
        if self._blocking and not self._closed:
            # the server ended the dump (an EOF packet, e.g. on shutdown): a blocking stream never ends
            raise BinlogConnectionLost(f"{self.settings.where} ended the binlog stream after {self.point}")

    def _gate(self, item: RowsRead | DdlRead | Boundary) -> RowsRead | DdlRead | Boundary | None:
        """Apply what the start point asks of the first events: skipped row events and rows, and,
        after a resume by GTID, no position before the first commit on this server."""
        if isinstance(item, DdlRead):
            return item
        if isinstance(item, RowsRead):
            if self._skip_events:
                self._skip_events -= 1
                return None
            if self._skip_rows:
                n = min(self._skip_rows, len(item.changes))
                self._skip_rows -= n
                return replace(item, changes=item.changes[n:]) if n < len(item.changes) else None
            return item
        if item.committed and not self._first_commit_seen:
            self._first_commit_seen = True
            if self.gtid_reason is not None:
                # Positioned now: a reconnect inside python-mysql-replication continues from its
                # file + position on this server instead of replaying from the start GTID set.
                self._stream.auto_position = None
                self._stream.is_mariadb = False
        elif not self._first_commit_seen and self.gtid_reason is not None:
            # The fake rotation a GTID dump starts with names the file, not where in it the set
            # ends: the start point (GTID set, no position) is still where to resume.
            self.point = self._start
            return Boundary(self._start, False)
        if self._skip_events or self._skip_rows:  # skips left: they count from this point on
            self.point = replace(self.point, skip_events=self._skip_events, skip_rows=self._skip_rows)
            return Boundary(self.point, item.committed)
        return item

    def _check_columns(self, ev, table: TableId, pos: int) -> None:
        """Rows are decoded with the schema in force (the catalog's, evolved by the DDL read since):
        a table map with column names (``binlog_row_metadata=FULL``) must name the same columns; one
        without is given the schema's names, by position."""
        tm = ev.table_map[ev.table_id]
        if self._checked_maps.get(ev.table_id) is tm:
            return
        names = self._schemas[table].column_names
        have = [c.name for c in tm.columns]
        if len(have) != len(names) or any(
            n is not None and n != want for n, want in zip(have, names, strict=False)
        ):
            shown = ", ".join(n if n is not None else "?" for n in have)
            raise SchemaError(
                f"the binlog at {self._stream.log_file}:{pos} holds rows of {table} with {len(have)} columns "
                f"({shown}), but the schema in force there has {len(names)} ({', '.join(names)}): the table "
                "changed in a way the stream did not see (a DDL before the stream's start point, or one "
                "that was not written to this binlog), so its rows cannot be decoded safely. Start the pipeline "
                "over from a new snapshot (move its state folder away, then `cdc-assets sync` or a Dagster backfill)",
                table=str(table),
            )
        for c, want in zip(tm.columns, names, strict=True):
            if c.name is None:
                c.name = want
        self._checked_maps[ev.table_id] = tm

    def _handle(self, ev) -> Iterator[RowsRead | DdlRead | Boundary]:
        pos = ev.packet.log_pos
        if isinstance(ev, (GtidEvent, MariadbGtidEvent)):
            self._gtid = ev.gtid
            self._in_tx = True
        elif isinstance(ev, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
            table = TableId(ev.schema, ev.table)
            decode = self._decoders.get(table)
            if decode is None:  # not captured: skipped before any row is decoded
                return
            since = self._known_since.get(table)
            if since is not None:
                if BinlogPosition(self._stream.log_file, pos) <= since:
                    return  # before the table's snapshot point: in the snapshot, and maybe of older columns
                del self._known_since[table]  # positions only grow: no need to compare again
            self._check_columns(ev, table, pos)
            changes: list[RowChange] | ColumnBatch | None = None
            if table in self.column_tables and not (self._skip_events or self._skip_rows):
                changes = self.fast_rows.columns(ev, table)
            if changes is None:
                changes = self.fast_rows.changes(ev, table)
            if changes is None:
                changes = _changes(ev, decode)
            yield RowsRead(table, changes, BinlogPosition(self._stream.log_file, pos), ev.timestamp)
        elif isinstance(ev, XidEvent):
            self._in_tx = False
            yield self._boundary(pos, ev.timestamp, True)
        elif isinstance(ev, QueryEvent):
            text = ev.query if isinstance(ev.query, str) else ev.query.decode("utf-8", "replace")
            words = text.split(None, 2)[:2]
            word = words[0].upper() if words else ""
            if word == "BEGIN":
                self._in_tx = True
            elif word in ("SAVEPOINT", "RELEASE") or (
                word == "ROLLBACK" and [w.upper() for w in words[1:2]] == ["TO"]
            ):
                pass  # inside a transaction (SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT): not a boundary
            else:  # COMMIT / ROLLBACK of a non-transactional table, or DDL (an implicit commit)
                self._in_tx = False
                boundary = self._boundary(pos, ev.timestamp, True)
                if word not in ("COMMIT", "ROLLBACK"):
                    db = ev.schema.decode("utf-8", "replace") if isinstance(ev.schema, bytes) else ev.schema
                    yield DdlRead(db or None, mask_secrets(text), boundary.point)
                yield boundary
        elif isinstance(ev, RotateEvent):
            if not self._in_tx:
                # python-mysql-replication already moved log_file to the new file
                self.point = self.point.advance(BinlogPosition(ev.next_binlog, ev.position))
                yield Boundary(self.point, False)
        elif isinstance(ev, HeartbeatLogEvent):
            # The server sends heartbeats only when it has nothing more to send: between
            # transactions its position is a safe restart point.
            if not self._in_tx:
                yield self._idle_boundary(pos)


def read_timeout(settings: ConnectionSettings, heartbeat_seconds: float) -> int:
    """Seconds without a byte from the server after which the binlog connection counts as lost:
    the connect timeout plus three of the heartbeats the server sends while it has nothing else."""
    return max(2, int(round(settings.connect_timeout + 3 * heartbeat_seconds)))


def _changes(ev, decode: Callable[..., tuple]) -> list[RowChange]:
    if isinstance(ev, WriteRowsEvent):
        return [RowChange("insert", None, decode(r["values"], r.get("none_sources"))) for r in ev.rows]
    if isinstance(ev, UpdateRowsEvent):
        return [
            RowChange(
                "update",
                decode(r["before_values"], r.get("before_none_sources")),
                decode(r["after_values"], r.get("after_none_sources")),
            )
            for r in ev.rows
        ]
    return [RowChange("delete", decode(r["values"], r.get("none_sources")), None) for r in ev.rows]
