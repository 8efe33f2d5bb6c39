"""The embedded default sink: a DuckDB file. A target ``db.table`` is DuckDB schema ``db``, table ``table``.

DuckDB lets one process write a database file at a time, and Dagster runs snapshot chunks in
separate processes, so every operation attaches the file, does its work in one transaction and
detaches it, which checkpoints and releases the lock; a writer that finds the file locked waits and
tries again (up to ``lock_timeout`` seconds). The file is attached to a private in-memory DuckDB that
the sink keeps: starting a DuckDB on the file for every write cost 30-60 ms, attaching it costs ~1 ms.

Snapshot writes (:meth:`DuckDBSink.upsert_arrow`) checkpoint with DuckDB's vacuum turned off. Each
write leaves row groups of its own size, and with the vacuum every checkpoint merged the table's
adjacent row groups again, greedily from the table's start, decompressing and recompressing rows
written chunks before: 1M rows in 50,000-row writes cost ~3.5 s that way and ~1.9 s without. The row
groups then stay as the writes made them, and the first change batch (:meth:`DuckDBSink.apply_batch`,
checkpointed with DuckDB's defaults) merges them once.

Target tables have no PRIMARY KEY constraint. Every write deletes the keys it writes, in the same
transaction, and writers take turns (one process holds the file, one operation of a sink at a time),
so keys stay unique without it. DuckDB keeps such a constraint as an ART index that must fit in
memory, and maintaining it took a third of a snapshot's time (1M rows: 2.6 s without, 3.2 s with).
A table created with one by an earlier version keeps it and works as before.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.types import arrow_type, duckdb_type
from cdc_assets.errors import SchemaError, SinkError, TransientError

#: in-memory DuckDBs a forked process inherited from its parent (see ``DuckDBSink._adopt_after_fork``)
_INHERITED: list[duckdb.DuckDBPyConnection | None] = []


def _is_lock_conflict(exc: BaseException) -> bool:
    return "lock" in str(exc).lower() and isinstance(exc, duckdb.IOException)


class DuckDBSink:
    """Writes snapshot rows and change batches into a DuckDB file."""

    dialect = "duckdb"

    #: the name the file is attached under. Every table name is fully qualified with it
    #: (catalog.schema.table), so a schema of any name, even this one, is not ambiguous.
    _catalog = "cdc_target"

    def __init__(self, path: str | Path, *, tinyint1_as_boolean: bool = True, lock_timeout: float = 120.0):
        self.path = Path(path)
        self.tinyint1_as_boolean = tinyint1_as_boolean
        self.lock_timeout = lock_timeout
        self._db: duckdb.DuckDBPyConnection | None = None  # the private in-memory DuckDB, started lazily
        self._lock = threading.Lock()  # held while the file is attached: one operation at a time
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"DuckDBSink({str(self.path)!r})"

    def _instance(self) -> duckdb.DuckDBPyConnection:
        if self._db is None:
            # Spilling goes where a DuckDB opened on the file itself would put it, not into the
            # working directory.
            self._db = duckdb.connect(":memory:", config={"temp_directory": f"{self.path}.tmp"})
        return self._db

    @contextlib.contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the file attached as :attr:`_catalog`, detached (and so checkpointed and
        unlocked) when the block ends; one at a time per sink."""
        self._adopt_after_fork()
        with self._lock:
            db = self._attach(read_only=read_only and self.path.exists())
            try:
                with contextlib.closing(db.cursor()) as conn:
                    yield conn
            finally:
                self._detach(db)

    def _adopt_after_fork(self) -> None:
        if self._pid != os.getpid():
            # A forked child: the parent's DuckDB threads and this lock's holder do not exist here. The
            # inherited DuckDB is kept, never used or closed (closing it would wait for them).
            _INHERITED.append(self._db)
            self._db, self._lock, self._pid = None, threading.Lock(), os.getpid()

    def _detach(self, db: duckdb.DuckDBPyConnection) -> None:
        try:
            db.execute(f"DETACH {quote_ident(self._catalog, 'duckdb')}")
        except duckdb.Error as exc:
            # The file may still be attached (and locked): drop this DuckDB, the next operation
            # starts another. What was committed is in the file's WAL.
            self._db = None
            with contextlib.suppress(duckdb.Error):
                db.close()
            raise SinkError(f"cannot close the DuckDB file {self.path}: {exc}", path=str(self.path)) from exc

    def _attach(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = " (READ_ONLY)" if read_only else ""
        sql = f"ATTACH ? AS {quote_ident(self._catalog, 'duckdb')}{options}"
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                db = self._instance()
                db.execute(sql, [str(self.path)])
                return db
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc):
                    raise SinkError(
                        f"cannot open the DuckDB file {self.path}: {exc}", path=str(self.path)
                    ) from exc
                if time.monotonic() > deadline:
                    raise TransientError(
                        f"the DuckDB file {self.path} stayed locked by another process for {self.lock_timeout:.0f} s "
                        f"({exc}); DuckDB allows one writing process: stop the other writer (another sync, "
                        "or a DuckDB shell) and retry",
                        path=str(self.path),
                    ) from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)

    def _qualified(self, target: TableId) -> str:
        return f"{quote_ident(self._catalog, 'duckdb')}.{quote_table(target.db, target.table, 'duckdb')}"

    # ---- DDL -----------------------------------------------------------------------------------

    def create_table_sql(self, target: TableId, schema: TableSchema) -> str:
        """The target table: the source's columns, its key columns NOT NULL, and no PRIMARY KEY constraint
        (see the module's docstring: every write keeps the keys unique itself)."""
        cols = []
        for c in schema.columns:
            null = " NOT NULL" if c.name in schema.primary_key else ""
            cols.append(
                f"{quote_ident(c.name, 'duckdb')} {duckdb_type(c, tinyint1_as_boolean=self.tinyint1_as_boolean)}{null}"
            )
        return f"CREATE TABLE IF NOT EXISTS {self._qualified(target)} (\n  " + ",\n  ".join(cols) + "\n)"

    def ensure_table(self, target: TableId, schema: TableSchema) -> None:
        """Create the schema and table if missing (idempotent)."""
        with self._connect() as conn:
            conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self._catalog, 'duckdb')}.{quote_ident(target.db, 'duckdb')}"
            )
            conn.execute(self.create_table_sql(target, schema))

    def drop_table(self, target: TableId) -> None:
        with self._connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {self._qualified(target)}")

    # ---- data ----------------------------------------------------------------------------------

    def arrow_schema(self, schema: TableSchema) -> pa.Schema:
        return pa.schema(
            [
                pa.field(c.name, arrow_type(c, tinyint1_as_boolean=self.tinyint1_as_boolean))
                for c in schema.columns
            ]
        )

    def to_arrow(self, schema: TableSchema, rows: Sequence[Sequence[Any]]) -> pa.Table:
        aschema = self.arrow_schema(schema)
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(aschema)
        return pa.Table.from_arrays(
            [pa.array(col, type=f.type) for col, f in zip(columns, aschema, strict=True)], schema=aschema
        )

    def _delete_keys(self, conn, target: TableId, schema: TableSchema, keys: Sequence[tuple]) -> None:
        if not keys:
            return
        aschema = self.arrow_schema(schema)
        cols = list(zip(*keys, strict=True))
        key_table = pa.Table.from_arrays(
            [
                pa.array(col, type=aschema.field(k).type)
                for col, k in zip(cols, schema.primary_key, strict=True)
            ],
            names=list(schema.primary_key),
        )
        self._delete_keys_of(conn, target, schema, key_table)

    def _replace_rows(self, conn, target: TableId, schema: TableSchema, table: pa.Table) -> None:
        """Write ``table``'s rows, each replacing the row its key holds (the keys come from the Arrow
        table itself: not converted from Python a second time)."""
        self._delete_keys_of(conn, target, schema, table)
        self._insert(conn, target, schema, table)

    def _insert(self, conn, target: TableId, schema: TableSchema, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        conn.register("__cdc_rows", table)
        cols = ", ".join(quote_ident(c.name, "duckdb") for c in schema.columns)
        conn.execute(f"INSERT INTO {self._qualified(target)} ({cols}) SELECT {cols} FROM __cdc_rows")
        conn.unregister("__cdc_rows")

    def upsert(
        self, target: TableId, schema: TableSchema, rows: Sequence[Sequence[Any]], *, tag: str = ""
    ) -> int:
        """Insert rows, replacing any with the same key (snapshot chunks; re-running one is harmless).

        ``tag`` (what the write holds) is not needed here: one DuckDB transaction either happened or not."""
        if not rows:
            return 0
        return self.upsert_arrow(target, schema, self.to_arrow(schema, rows), tag=tag)

    def upsert_arrow(self, target: TableId, schema: TableSchema, table: pa.Table, *, tag: str = "") -> int:
        """:meth:`upsert` for a chunk already in Arrow form (schema :meth:`arrow_schema`): DuckDB reads the
        table in place, deletes the rows whose keys it holds and inserts it, in one transaction, then checkpoints
        (without vacuum, see the module's docstring).

        A table whose columns are named as the source's but typed otherwise is cast to :meth:`arrow_schema`
        first; one that cannot be cast raises SchemaError. Returns the rows written."""
        if table.num_rows == 0:
            return 0
        table = self._conform(schema, table)
        with self._connect() as conn:
            conn.execute("BEGIN")
            try:
                self._replace_rows(conn, target, schema, table)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._checkpoint_without_vacuum(conn)
        return table.num_rows

    def _checkpoint_without_vacuum(self, conn) -> None:
        # max_vacuum_tasks belongs to the whole (private) DuckDB: it is off only for this checkpoint,
        # so that the checkpoint of a change batch, when the file is detached, still vacuums.
        conn.execute("SET max_vacuum_tasks = 0")
        try:
            conn.execute(f"CHECKPOINT {quote_ident(self._catalog, 'duckdb')}")  # not the in-memory one
        except duckdb.Error as exc:
            raise SinkError(
                f"the checkpoint after a committed write to the DuckDB file {self.path} failed ({exc}); "
                "the write is kept in the file's WAL, which DuckDB replays when it opens the file next",
                path=str(self.path),
            ) from exc
        finally:
            conn.execute("RESET max_vacuum_tasks")

    def _conform(self, schema: TableSchema, table: pa.Table) -> pa.Table:
        expected = self.arrow_schema(schema)
        if table.schema.equals(expected):
            return table
        if table.column_names != expected.names:
            raise SchemaError(
                f"the Arrow table written to {schema.table_id} has columns {table.column_names}, but the table "
                f"has {expected.names}: the table's definition changed; restart the pipeline so that the "
                "schema is read again",
                table=str(schema.table_id),
            )
        try:
            return table.cast(expected)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(
                f"the Arrow table written to {schema.table_id} has types {table.schema.types}, which do not "
                f"convert to the table's {expected.types} ({exc}); build it with DuckDBSink.arrow_schema",
                table=str(schema.table_id),
            ) from exc

    def _delete_keys_of(self, conn, target: TableId, schema: TableSchema, table: pa.Table) -> None:
        """Delete the target rows whose keys ``table`` holds (a key repeated in it is harmless)."""
        if not schema.primary_key or table.num_rows == 0:
            return
        keys = table.select(list(schema.primary_key))
        conn.register("__cdc_keys", keys)
        qt = self._qualified(target)
        cond = " AND ".join(
            f"{qt}.{quote_ident(k, 'duckdb')} = __cdc_keys.{quote_ident(k, 'duckdb')}"
            for k in schema.primary_key
        )
        conn.execute(f"DELETE FROM {qt} USING __cdc_keys WHERE {cond}")
        conn.unregister("__cdc_keys")

    def apply_batch(
        self, batch: Sequence[tuple[TableId, TableSchema, Sequence[tuple], Sequence[tuple]]], *, tag: str = ""
    ) -> None:
        """Apply ``(target, schema, keys_to_delete, rows_to_upsert)`` for several tables in ONE transaction:
        the keys are deleted, and each row replaces the row its key holds (its key may be listed too)."""
        if not batch:
            return
        with self._connect() as conn:
            conn.execute("BEGIN")
            try:
                for target, schema, keys, rows in batch:
                    self._delete_keys(conn, target, schema, keys)
                    self._replace_rows(conn, target, schema, self.to_arrow(schema, rows))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def row_count(self, target: TableId) -> int | None:
        """Rows in the target table, or None if it does not exist yet."""
        if not self.path.exists():
            return None
        with self._connect(read_only=True) as conn:
            found = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
                [self._catalog, target.db, target.table],
            ).fetchone()[0]
            if not found:
                return None
            return int(conn.execute(f"SELECT count(*) FROM {self._qualified(target)}").fetchone()[0])

    def fetch_all(self, target: TableId, schema: TableSchema) -> list[tuple]:
        """Every row in source column order, ordered by the primary key (for verification)."""
        with self._connect(read_only=True) as conn:
            cols = ", ".join(quote_ident(c, "duckdb") for c in schema.column_names)
            order = ", ".join(quote_ident(c, "duckdb") for c in schema.primary_key)
            return conn.execute(f"SELECT {cols} FROM {self._qualified(target)} ORDER BY {order}").fetchall()

    def close(self) -> None:
        """Stop the private in-memory DuckDB; the next operation starts another."""
        self._adopt_after_fork()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
