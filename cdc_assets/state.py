"""The pipeline's state: restart point, per-table phase and snapshot chunk progress.

One SQLite file (``state.sqlite``) in the pipeline's state folder. SQLite because snapshot chunks
are loaded by several processes at once (Dagster runs), and each records its progress in one
transaction; WAL mode lets ``cdc-assets status`` read while they write. The format is versioned:
a state folder written by an incompatible version is refused with a clear error.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cdc_assets.core.chunks import Chunk
from cdc_assets.core.offsets import RestartPoint
from cdc_assets.core.schema import TableSchema, fit_to_target, schema_from_dict, schema_to_dict
from cdc_assets.errors import StateError

STATE_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tables (
  source TEXT PRIMARY KEY,
  target TEXT NOT NULL,
  phase TEXT NOT NULL,
  snapshot_point TEXT,
  chunks_total INTEGER NOT NULL DEFAULT 0,
  updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
  source TEXT NOT NULL,
  idx INTEGER NOT NULL,
  bounds TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  rows INTEGER,
  seconds REAL,
  finished_at REAL,
  PRIMARY KEY (source, idx)
);
CREATE TABLE IF NOT EXISTS server_id_leases (
  server_id INTEGER PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  taken_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schemas_in_force (
  source TEXT PRIMARY KEY,
  source_schema TEXT NOT NULL,
  target_columns TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schema_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  source TEXT NOT NULL,
  target TEXT NOT NULL,
  kind TEXT NOT NULL,
  ddl TEXT NOT NULL,
  position TEXT NOT NULL,
  columns_before TEXT,
  columns_after TEXT,
  outcome TEXT NOT NULL,
  recorded_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunk_reloads (
  source TEXT NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (source, idx)
);
CREATE TABLE IF NOT EXISTS osc_shadows (
  shadow TEXT PRIMARY KEY,
  base TEXT NOT NULL,
  seed TEXT,
  statements TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sink_txns (
  label TEXT PRIMARY KEY,
  db TEXT NOT NULL,
  tbl TEXT NOT NULL,
  started_at REAL NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL
);
"""

PHASE_SNAPSHOTTING = "snapshotting"
PHASE_SNAPSHOTTED = "snapshotted"


@dataclass(frozen=True)
class TableState:
    source: str
    target: str
    phase: str
    snapshot_point: RestartPoint | None
    chunks_total: int
    chunks_done: int
    rows_snapshotted: int


@dataclass(frozen=True)
class ChunkState:
    """A planned chunk; once loaded, ``low`` / ``high`` are the binlog watermarks its read was
    consistent between (None for chunks loaded by a release before watermarks were kept)."""

    chunk: Chunk
    done: bool
    rows: int | None
    seconds: float | None
    low: RestartPoint | None = None
    high: RestartPoint | None = None


@dataclass(frozen=True)
class SchemaInForce:
    """A captured table's schema at the restart point, and the columns its target has (they differ
    when a change was converted (LENIENT), ignored, excluded, or not supported by the sink)."""

    source: TableSchema
    target_columns: tuple[str, ...]

    @property
    def writable(self) -> TableSchema:
        """The source's columns the target has: what rows are written with."""
        return fit_to_target(self.source, self.target_columns)[0]


@dataclass(frozen=True)
class SchemaChangeRecord:
    """One schema change read from the binlog and what was done with it.

    ``kind`` is the event tag (``add.column``...); ``columns_before`` / ``columns_after`` are the source
    table's columns as ``name type [NOT NULL]`` texts (None for a table created or dropped);
    ``outcome`` says what the sink did, e.g. ``applied: ALTER ...``, ``ignored (IGNORE)``. ``origin``:
    ``stream`` (the statement read from the binlog at ``position``) or ``snapshot`` (a chunk loader widened
    the target first; ``position``: where the chunk's read began; the stream later finds it applied) or
    ``merge`` (a table joining the target of sharded tables widened it: ``source`` is the joining table,
    ``columns_before`` / ``columns_after`` the merged target's columns, ``position`` the binlog then)."""

    source: str
    target: str
    kind: str
    ddl: str
    position: RestartPoint
    columns_before: list[str] | None
    columns_after: list[str] | None
    outcome: str
    seq: int = 0
    recorded_at: float = 0.0
    origin: str = "stream"


@dataclass(frozen=True)
class ShadowSchema:
    """The shadow table of an online schema change (``_t_new``, ``_t_gho``) at the restart point:
    ``base`` is the captured table it will replace, ``seed`` its schema when created (None: not known),
    ``statements`` the ``(database, DDL)`` run on it since, in order."""

    base: str
    seed: TableSchema | None
    statements: tuple[tuple[str | None, str], ...] = ()


def _schema_in_force(source_schema: str, target_columns: str) -> SchemaInForce:
    return SchemaInForce(schema_from_dict(json.loads(source_schema)), tuple(json.loads(target_columns)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateStore:
    """State of one pipeline, in ``directory/state.sqlite``."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / "state.sqlite"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = threading.RLock()
            self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            with self._tx() as c:
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    c.execute(stmt)
                row = c.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
                if row is None:
                    c.execute("INSERT INTO meta VALUES ('version', ?)", (str(STATE_VERSION),))
                    c.execute("INSERT INTO meta VALUES ('generation', ?)", (secrets.token_hex(4),))
                elif int(row[0]) != STATE_VERSION:
                    raise StateError(
                        f"the state in {self.path} has format version {row[0]}, this cdc-assets reads version "
                        f"{STATE_VERSION}; use the matching cdc-assets release, or move the folder away to start over",
                        path=str(self.path),
                    )
                # Additive, backward-compatible changes of format version 1 (older folders get them here).
                if c.execute("SELECT 1 FROM meta WHERE key = 'generation'").fetchone() is None:
                    c.execute("INSERT INTO meta VALUES ('generation', ?)", (secrets.token_hex(4),))
                chunk_columns = {r[1] for r in c.execute("PRAGMA table_info(chunks)")}
                if "attempts" not in chunk_columns:
                    c.execute("ALTER TABLE chunks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
                for name in ("low_watermark", "high_watermark"):
                    if name not in chunk_columns:
                        c.execute(f"ALTER TABLE chunks ADD COLUMN {name} TEXT")
                if "origin" not in {r[1] for r in c.execute("PRAGMA table_info(schema_changes)")}:
                    c.execute("ALTER TABLE schema_changes ADD COLUMN origin TEXT NOT NULL DEFAULT 'stream'")
        except sqlite3.Error as exc:
            raise StateError(
                f"cannot open the pipeline state {self.path}: {exc}; check the folder's permissions"
            ) from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # One connection, several threads (the StarRocks sink journals loads of different tables in
        # parallel): one transaction at a time.
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    @property
    def generation(self) -> str:
        """A random id of this state folder: sink load labels include it, so a pipeline started over
        from a new state folder never collides with the labels of an earlier life."""
        return self._conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]

    # ---- restart point -------------------------------------------------------------------------

    def restart_point(self) -> RestartPoint | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'restart_point'").fetchone()
        return RestartPoint.from_dict(json.loads(row[0])) if row else None

    def save_restart_point(
        self,
        point: RestartPoint,
        *,
        schemas: Mapping[str, SchemaInForce] | None = None,
        changes: Sequence[SchemaChangeRecord] = (),
        forget: Sequence[str] = (),
        reload: Sequence[tuple[str, int]] = (),
        shadows: Mapping[str, ShadowSchema] | None = None,
    ) -> None:
        """Saved only after the sink acknowledged everything before ``point`` (consistency-notes item 7).

        ``schemas`` (per source table) are the schemas in force at ``point``, saved with it in one
        transaction, so a restart decodes the binlog from ``point`` with the columns it was written
        with; ``changes`` are the schema changes applied up to ``point``; ``forget``: tables whose
        schema is no longer tracked (dropped, renamed away); ``reload``: snapshot chunks ``(source, index)``
        to read again before streaming on from ``point`` (:meth:`chunk_reloads`); ``shadows``, when given,
        replace the shadow tables of online schema changes under way."""
        with self._tx() as c:
            self._put_schemas(c, schemas or {})
            if shadows is not None:
                c.execute("DELETE FROM osc_shadows")
                for name, sh in shadows.items():
                    seed = json.dumps(schema_to_dict(sh.seed)) if sh.seed is not None else None
                    c.execute(
                        "INSERT INTO osc_shadows VALUES (?, ?, ?, ?)",
                        (name, sh.base, seed, json.dumps([list(st) for st in sh.statements])),
                    )
            for source in forget:
                c.execute("DELETE FROM schemas_in_force WHERE source = ?", (source,))
            self._insert_changes(c, changes)
            c.executemany("INSERT OR IGNORE INTO chunk_reloads VALUES (?, ?)", reload)
            c.execute(
                "INSERT INTO meta VALUES ('restart_point', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (json.dumps(point.to_dict()),),
            )
            c.execute(
                "INSERT INTO meta VALUES ('stream_heartbeat', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (repr(time.time()),),
            )

    @staticmethod
    def _insert_changes(c: sqlite3.Connection, changes: Sequence[SchemaChangeRecord]) -> None:
        for ch in changes:
            c.execute(
                "INSERT INTO schema_changes (source, target, kind, ddl, position, columns_before, "
                "columns_after, outcome, recorded_at, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ch.source, ch.target, ch.kind, ch.ddl, json.dumps(ch.position.to_dict()),
                    json.dumps(ch.columns_before) if ch.columns_before is not None else None,
                    json.dumps(ch.columns_after) if ch.columns_after is not None else None,
                    ch.outcome, time.time(), ch.origin,
                ),
            )  # fmt: skip

    def record_once(self, changes: Sequence[SchemaChangeRecord]) -> list[SchemaChangeRecord]:
        """Record changes applied to a target outside the stream's statements (origin ``snapshot``: a chunk
        loader widened it; ``merge``: a table joining a merged target widened it), each once: one recorded
        already (the same table, kind, origin and columns after: another loader, or a run that applied it
        before a restart) is left out. Returns those recorded."""
        seen = (
            "SELECT 1 FROM schema_changes WHERE source = ? AND kind = ? AND origin = ? AND columns_after = ?"
        )
        with self._tx() as c:
            new = [
                ch
                for ch in changes
                if not c.execute(
                    seen, (ch.source, ch.kind, ch.origin, json.dumps(ch.columns_after))
                ).fetchone()
            ]
            self._insert_changes(c, new)
        return new

    def chunk_reloads(self) -> list[tuple[str, int]]:
        """Snapshot chunks ``(source, index)`` to read again: read while a DDL the stream has applied since
        was under way (saved with its restart point), and not read again yet."""
        return self._conn.execute("SELECT source, idx FROM chunk_reloads ORDER BY source, idx").fetchall()

    def chunk_reloaded(self, source: str, index: int) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM chunk_reloads WHERE source = ? AND idx = ?", (source, index))

    @staticmethod
    def _put_schemas(
        c: sqlite3.Connection, schemas: Mapping[str, SchemaInForce], *, replace: bool = True
    ) -> None:
        verb = (
            "DO UPDATE SET source_schema = excluded.source_schema, target_columns = excluded.target_columns"
        )
        for source, sif in schemas.items():
            c.execute(
                f"INSERT INTO schemas_in_force VALUES (?, ?, ?) ON CONFLICT(source) {verb if replace else 'DO NOTHING'}",
                (source, json.dumps(schema_to_dict(sif.source)), json.dumps(list(sif.target_columns))),
            )

    def start_schemas(self, schemas: Mapping[str, SchemaInForce]) -> None:
        """Record the schemas tables are planned with, where none is recorded yet: the schema history
        of a table begins at its snapshot point (the stream reads the binlog from there)."""
        with self._tx() as c:
            self._put_schemas(c, schemas, replace=False)

    def schemas_in_force(self) -> dict[str, SchemaInForce]:
        """The schemas in force at the saved restart point, per source table (those saved so far)."""
        rows = self._conn.execute(
            "SELECT source, source_schema, target_columns FROM schemas_in_force"
        ).fetchall()
        return {r[0]: _schema_in_force(r[1], r[2]) for r in rows}

    def schema_in_force(self, source: str) -> SchemaInForce | None:
        """One table's schema in force (see :meth:`schemas_in_force`), or None."""
        row = self._conn.execute(
            "SELECT source_schema, target_columns FROM schemas_in_force WHERE source = ?", (source,)
        ).fetchone()
        return _schema_in_force(*row) if row else None

    def shadow_schemas(self) -> dict[str, ShadowSchema]:
        """The shadow tables of online schema changes under way at the saved restart point."""
        out = {}
        for name, base, seed, statements in self._conn.execute("SELECT * FROM osc_shadows"):
            schema = schema_from_dict(json.loads(seed)) if seed is not None else None
            out[name] = ShadowSchema(base, schema, tuple((db, sql) for db, sql in json.loads(statements)))
        return out

    def schema_changes(self, *, after_seq: int = 0, source: str | None = None) -> list[SchemaChangeRecord]:
        """Recorded schema changes, oldest first (``after_seq``: only those recorded later)."""
        sql = (
            "SELECT seq, source, target, kind, ddl, position, columns_before, columns_after, outcome, recorded_at, "
            "origin FROM schema_changes WHERE seq > ?"
        )
        args: list = [after_seq]
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        out = []
        for seq, src, tgt, kind, ddl, pos, before, after, outcome, at, origin in self._conn.execute(
            sql + " ORDER BY seq", args
        ):
            out.append(
                SchemaChangeRecord(
                    source=src, target=tgt, kind=kind, ddl=ddl,
                    position=RestartPoint.from_dict(json.loads(pos)),
                    columns_before=json.loads(before) if before is not None else None,
                    columns_after=json.loads(after) if after is not None else None,
                    outcome=outcome, seq=seq, recorded_at=at, origin=origin,
                )
            )  # fmt: skip
        return out

    def clear_restart_point(self) -> None:
        """Forget the restart point: streaming starts from the snapshot's watermarks again."""
        with self._tx() as c:
            c.execute("DELETE FROM meta WHERE key = 'restart_point'")

    def stream_heartbeat(self) -> float | None:
        """Unix time of the last restart-point save (the streaming run's liveness signal)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'stream_heartbeat'").fetchone()
        return float(row[0]) if row else None

    def touch_heartbeat(self) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO meta VALUES ('stream_heartbeat', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (repr(time.time()),),
            )

    # ---- tables and chunks ---------------------------------------------------------------------

    def _table_state(self, row) -> TableState:
        source, target, phase, point, total = row
        done, rows = self._conn.execute(
            "SELECT count(*), coalesce(sum(rows), 0) FROM chunks WHERE source = ? AND done = 1", (source,)
        ).fetchone()
        return TableState(
            source=source,
            target=target,
            phase=phase,
            snapshot_point=RestartPoint.from_dict(json.loads(point)) if point else None,
            chunks_total=total,
            chunks_done=done,
            rows_snapshotted=rows,
        )

    def table(self, source: str) -> TableState | None:
        row = self._conn.execute(
            "SELECT source, target, phase, snapshot_point, chunks_total FROM tables WHERE source = ?",
            (source,),
        ).fetchone()
        return self._table_state(row) if row else None

    def tables(self) -> dict[str, TableState]:
        rows = self._conn.execute(
            "SELECT source, target, phase, snapshot_point, chunks_total FROM tables ORDER BY source"
        ).fetchall()
        return {r[0]: self._table_state(r) for r in rows}

    def plan_table(
        self, source: str, target: str, snapshot_point: RestartPoint, chunks: Sequence[Chunk]
    ) -> bool:
        """Record a table's snapshot plan; returns False (and changes nothing) if it already has one."""
        with self._tx() as c:
            if c.execute("SELECT 1 FROM tables WHERE source = ?", (source,)).fetchone():
                return False
            c.execute(
                "INSERT INTO tables VALUES (?, ?, ?, ?, ?, ?)",
                (
                    source,
                    target,
                    PHASE_SNAPSHOTTING,
                    json.dumps(snapshot_point.to_dict()),
                    len(chunks),
                    time.time(),
                ),
            )
            c.executemany(
                "INSERT INTO chunks (source, idx, bounds) VALUES (?, ?, ?)",
                [(source, ch.index, json.dumps(ch.to_dict())) for ch in chunks],
            )
            if not chunks:
                c.execute("UPDATE tables SET phase = ? WHERE source = ?", (PHASE_SNAPSHOTTED, source))
        return True

    _CHUNK_COLUMNS = "bounds, done, rows, seconds, low_watermark, high_watermark"

    @staticmethod
    def _chunk_state(row) -> ChunkState:
        bounds, done, rows, seconds, low, high = row
        return ChunkState(
            Chunk.from_dict(json.loads(bounds)),
            bool(done),
            rows,
            seconds,
            RestartPoint.from_dict(json.loads(low)) if low else None,
            RestartPoint.from_dict(json.loads(high)) if high else None,
        )

    def chunks(self, source: str) -> list[ChunkState]:
        rows = self._conn.execute(
            f"SELECT {self._CHUNK_COLUMNS} FROM chunks WHERE source = ? ORDER BY idx", (source,)
        ).fetchall()
        return [self._chunk_state(r) for r in rows]

    def chunk(self, source: str, index: int) -> ChunkState | None:
        row = self._conn.execute(
            f"SELECT {self._CHUNK_COLUMNS} FROM chunks WHERE source = ? AND idx = ?", (source, index)
        ).fetchone()
        return self._chunk_state(row) if row else None

    def mark_chunk_done(
        self,
        source: str,
        index: int,
        *,
        rows: int,
        seconds: float,
        low: RestartPoint | None = None,
        high: RestartPoint | None = None,
    ) -> bool:
        """Record a loaded chunk and the watermarks its read was consistent between; returns True
        when this completed the table's snapshot."""
        with self._tx() as c:
            c.execute(
                "UPDATE chunks SET done = 1, rows = ?, seconds = ?, finished_at = ?, low_watermark = ?, "
                "high_watermark = ? WHERE source = ? AND idx = ?",
                (
                    rows,
                    seconds,
                    time.time(),
                    json.dumps(low.to_dict()) if low else None,
                    json.dumps(high.to_dict()) if high else None,
                    source,
                    index,
                ),
            )
            (left,) = c.execute(
                "SELECT count(*) FROM chunks WHERE source = ? AND done = 0", (source,)
            ).fetchone()
            if left == 0:
                cur = c.execute(
                    "UPDATE tables SET phase = ?, updated_at = ? WHERE source = ? AND phase != ?",
                    (PHASE_SNAPSHOTTED, time.time(), source, PHASE_SNAPSHOTTED),
                )
                return cur.rowcount > 0
        return False

    def start_chunk_attempt(self, source: str, index: int) -> int:
        """Count one more read of a chunk and return the count (1 for the first read). Sink labels of a
        chunk include it: a retry re-reads the source, so its rows must not be deduplicated against
        the labels of an earlier read."""
        with self._tx() as c:
            c.execute(
                "UPDATE chunks SET attempts = attempts + 1 WHERE source = ? AND idx = ?", (source, index)
            )
            row = c.execute(
                "SELECT attempts FROM chunks WHERE source = ? AND idx = ?", (source, index)
            ).fetchone()
        if row is None:
            raise StateError(f"{source} has no chunk {index} in its snapshot plan")
        return int(row[0])

    def record_chunk_low(self, source: str, index: int, low: RestartPoint) -> RestartPoint:
        """Keep the low watermark of a chunk's first unfinished read and return the one kept: a read
        that died after writing some rows left them in the target, so the next read must merge the
        binlog from that earlier point (a row deleted since would otherwise stay)."""
        with self._tx() as c:
            c.execute(
                "UPDATE chunks SET low_watermark = COALESCE(low_watermark, ?) WHERE source = ? AND idx = ?",
                (json.dumps(low.to_dict()), source, index),
            )
            row = c.execute(
                "SELECT low_watermark FROM chunks WHERE source = ? AND idx = ?", (source, index)
            ).fetchone()
        if row is None or row[0] is None:
            raise StateError(f"{source} has no chunk {index} in its snapshot plan")
        return RestartPoint.from_dict(json.loads(row[0]))

    # ---- server ids of short-lived binlog readers (chunk backfills) ------------------------------

    def lease_server_id(self, candidates: Sequence[int], *, abandoned_after: float = 3600.0) -> int:
        """Take a server id no other reader of this pipeline holds (two binlog connections with one
        server id make the server drop the older one). Leases of processes that are gone are taken over."""
        here, now, me = socket.gethostname(), time.time(), os.getpid()
        with self._tx() as c:
            held = {
                sid: (host, pid, taken)
                for sid, host, pid, taken in c.execute(
                    "SELECT server_id, host, pid, taken_at FROM server_id_leases"
                )
            }
            for sid in candidates:
                if sid in held:
                    host, pid, taken = held[sid]
                    alive = _pid_alive(pid) if host == here else now - taken < abandoned_after
                    if alive:
                        continue
                c.execute(
                    "INSERT INTO server_id_leases VALUES (?, ?, ?, ?) ON CONFLICT(server_id) DO UPDATE SET "
                    "host = excluded.host, pid = excluded.pid, taken_at = excluded.taken_at",
                    (sid, here, me, now),
                )
                return sid
        raise StateError(
            f"all {len(candidates)} server ids for chunk backfills are in use by running loads; lower the "
            "number of concurrent snapshot loads (the Dagster pool cdc_snapshot) or widen source.server-id"
        )

    def release_server_id(self, server_id: int) -> None:
        with self._tx() as c:
            c.execute(
                "DELETE FROM server_id_leases WHERE server_id = ? AND pid = ?", (server_id, os.getpid())
            )

    # ---- sink transactions in flight (the StarRocks sink's journal) -----------------------------

    def sink_txn_started(self, label: str, db: str, table: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO sink_txns VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(label) DO NOTHING",
                (label, db, table, time.time(), socket.gethostname(), os.getpid()),
            )

    def sink_txn_finished(self, label: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM sink_txns WHERE label = ?", (label,))

    def sink_txns_open(self, *, abandoned_after: float = 900.0) -> list[tuple[str, str, str]]:
        """``(label, db, table)`` of sink transactions begun and never finished by a process that is
        gone: one of this machine whose pid no longer runs (or this very process), or, from another
        machine, one begun over ``abandoned_after`` seconds ago (longer than a load transaction may
        stay open). The loads other processes (other Dagster runs) are doing right now are left alone."""
        here, now, me = socket.gethostname(), time.time(), os.getpid()
        out = []
        for label, db, tbl, started, host, pid in self._conn.execute(
            "SELECT label, db, tbl, started_at, host, pid FROM sink_txns ORDER BY started_at"
        ):
            if host == here:
                gone = pid == me or not _pid_alive(pid)
            else:
                gone = now - started > abandoned_after
            if gone:
                out.append((label, db, tbl))
        return out

    def forget_table(self, source: str, *, schema: bool = False) -> None:
        """Drop a table's snapshot bookkeeping (it will be snapshotted again); with ``schema``, also its
        schema in force (it is read from the catalog again when the table is planned)."""
        with self._tx() as c:
            c.execute("DELETE FROM chunks WHERE source = ?", (source,))
            c.execute("DELETE FROM chunk_reloads WHERE source = ?", (source,))
            c.execute("DELETE FROM tables WHERE source = ?", (source,))
            if schema:
                c.execute("DELETE FROM schemas_in_force WHERE source = ?", (source,))
