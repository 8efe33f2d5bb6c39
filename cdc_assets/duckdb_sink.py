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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cdc_assets.core import schema_change as sc
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_apply import (
    ALREADY_APPLIED,
    already_renamed,
    column_default,
    created_schema,
    ignored,
    outcome,
    rename_target,
)
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.types import arrow_type, duckdb_type
from cdc_assets.errors import SchemaError, SinkError, TargetMismatchError, TransientError

#: in-memory DuckDBs a forked process inherited from its parent (see ``DuckDBSink._adopt_after_fork``)
_INHERITED: list[duckdb.DuckDBPyConnection | None] = []


#: every kind of :mod:`cdc_assets.core.schema_change` event: DuckDB applies them all
_ALL_CHANGES = frozenset(
    t.tag for t in (
        sc.CreateTable, sc.AddColumn, sc.DropColumn, sc.RenameColumn, sc.AlterColumnType, sc.RenameTable,
        sc.TruncateTable, sc.DropTable, sc.AlterTableComment, sc.AlterColumnComment,
    )
)  # fmt: skip


@dataclass(frozen=True)
class _TargetColumn:
    name: str
    type: str  # DuckDB's name of it: INTEGER, DECIMAL(10,2), TIMESTAMP WITH TIME ZONE
    nullable: bool
    comment: str | None = None


def _comment_literal(text: str) -> str:
    """A DuckDB string literal for a comment. DuckDB binds no parameters in ``COMMENT ON``, so this is the
    one value written into SQL: standard SQL quoting (DuckDB reads no backslash escapes in '...')."""
    return "'" + text.replace("\x00", "").replace("'", "''") + "'"


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
        """Create the schema and table if missing (idempotent). An existing table must have the columns of
        ``schema`` (it may have more: columns kept after a drop, other tables merged into it); one made
        narrower (from an older schema) raises TargetMismatchError naming the missing columns, as the
        StarRocks sink's does, before a write fails on a column it lacks."""
        with self._connect() as conn:
            conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self._catalog, 'duckdb')}.{quote_ident(target.db, 'duckdb')}"
            )
            existing = self._columns_of(conn, target)
            if existing is None:
                conn.execute(self.create_table_sql(target, schema))
                return
        missing = [c.name for c in schema.columns if c.name.lower() not in existing]
        if missing:
            raise TargetMismatchError(
                f"the DuckDB table {target} exists but does not match its source {schema.table_id}: missing "
                f"columns {', '.join(missing)} (it was made from an older definition); add them (ALTER TABLE "
                "... ADD COLUMN), or drop it (it is created again) or route the source to another table",
                table=str(target),
                missing=tuple(missing),  # a caller may add them (engine.target_merge)
            )

    def drop_table(self, target: TableId) -> None:
        with self._connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {self._qualified(target)}")

    # ---- schema changes ------------------------------------------------------------------------

    def supported_schema_changes(self) -> frozenset[str]:
        """The event tags :meth:`apply_schema_change` applies: all of them."""
        return _ALL_CHANGES

    def apply_schema_change(
        self,
        target: TableId,
        change: sc.SchemaChange,
        after: TableSchema | None,
        *,
        renamed_to: TableId | None = None,
    ) -> str:
        """Apply one schema-change event to ``target``; returns ``applied``, ``already applied`` (the table
        already shows the change: a replay after a crash) or ``ignored: <why>``, possibly with ``; <note>``.

        ``after`` is the source table's schema after the change (needed by CreateTable when the event has
        no schema of its own). Each change is one transaction. How each kind lands:

        - CreateTable: :meth:`ensure_table` (and the table comment, if any).
        - AddColumn: appended, nullable (DuckDB cannot place a column, so ``FIRST``/``AFTER`` are not
          followed; writes name their columns, so the order does not matter to them). A constant
          default fills the existing rows, as MySQL does (see :func:`column_default` for what is not
          copied); the comment becomes the column's.
        - DropColumn, RenameColumn: ``ALTER TABLE``.
        - AlterColumnType: ``ALTER COLUMN ... TYPE`` with the type :func:`duckdb_type` gives the new
          definition, as at create time. A table created by an earlier version with a PRIMARY KEY cannot
          change a key column's type in DuckDB ("Cannot change the type of a column that has a UNIQUE or
          PRIMARY KEY constraint"), nor drop one: that table is rebuilt without the constraint, as tables
          are created now.
        - RenameTable: to ``renamed_to`` (the renamed table's target; default: ``target``'s schema with
          the new table name); in the same schema an ``ALTER TABLE ... RENAME``, into another one a copy.
        - TruncateTable: every row deleted; DropTable: ``DROP TABLE IF EXISTS``.
        - AlterTableComment, AlterColumnComment (and the comment of an AlterColumnType): ``COMMENT ON``.

        Raises SinkError naming the table, the statement and DuckDB's message when DuckDB refuses (for
        example values that do not convert to a new type).
        """
        if isinstance(change, sc.CreateTable):
            schema = created_schema(target, change, after)
            existed = self._columns(target) is not None
            self.ensure_table(target, schema)
            if change.comment:
                self._ddl(target, [self._comment_sql(target, None, change.comment)])
            return outcome(not existed)
        if isinstance(change, sc.RenameTable):
            return self._rename_table(target, change, renamed_to)
        if isinstance(change, sc.DropTable):
            existed = self._columns(target) is not None
            self._ddl(target, [f"DROP TABLE IF EXISTS {self._qualified(target)}"])
            return outcome(existed)
        with self._connect() as conn:
            columns = self._columns_of(conn, target)
            if columns is None:
                if isinstance(change, sc.TruncateTable):
                    return ignored(f"{target} does not exist")
                raise SinkError(
                    f"cannot apply {change.tag} ({change.ddl}) to the DuckDB table {target}: it does not "
                    "exist; the table is created when its source table is first captured",
                    table=str(target),
                )
            steps, note = self._plan_change(conn, target, change, columns)
            if steps is None:
                return ALREADY_APPLIED if not note else note
            self._run(conn, target, steps)
        return outcome(True, note)

    def _plan_change(
        self, conn, target: TableId, change: sc.SchemaChange, columns: dict[str, _TargetColumn]
    ) -> tuple[list[tuple[str, list[Any]]] | None, str]:
        """The statements (with their parameters) that apply ``change``, and a note for the outcome; None
        when the table already shows the change (the note is then an ``ignored: ...`` text, if any)."""
        qt = self._qualified(target)

        def q(name: str) -> str:
            return quote_ident(name, "duckdb")

        def has(name: str) -> str | None:  # the target's spelling: MySQL and DuckDB names ignore case
            found = columns.get(name.lower())
            return found.name if found else None

        if isinstance(change, sc.AddColumn):
            col = change.column
            if col is None:
                raise SinkError(f"the AddColumn event for {change.table} has no column ({change.ddl})")
            if has(col.name):
                return None, ""
            t = duckdb_type(col, tinyint1_as_boolean=self.tinyint1_as_boolean)
            steps: list[tuple[str, list[Any]]] = [(f"ALTER TABLE {qt} ADD COLUMN {q(col.name)} {t}", [])]
            value, why = column_default(change.default_sql, col, boolean=t == "BOOLEAN")
            if value is not None:
                steps.append((f"UPDATE {qt} SET {q(col.name)} = CAST(? AS {t})", [value]))
            if change.comment:
                steps.append((self._comment_sql(target, col.name, change.comment), []))
            return steps, (f"existing rows have NULL in {col.name}: {why}" if why else "")
        if isinstance(change, sc.DropColumn):
            name = has(change.name)
            if name is None:
                return None, ""
            if self._in_constraint(conn, target, name):
                return self._rebuild_steps(target, columns, name, None), "rebuilt without its PRIMARY KEY"
            return [(f"ALTER TABLE {qt} DROP COLUMN {q(name)}", [])], ""
        if isinstance(change, sc.RenameColumn):
            old, new = has(change.old), has(change.new)
            if new == change.new or (new is not None and old is None):
                return None, ""
            if old is None:
                raise SinkError(
                    f"cannot rename column {change.old} of the DuckDB table {target} to {change.new}: it has "
                    f"neither column (it has {', '.join(c.name for c in columns.values())})",
                    table=str(target),
                )
            return [(f"ALTER TABLE {qt} RENAME COLUMN {q(old)} TO {q(change.new)}", [])], ""
        if isinstance(change, sc.AlterColumnType):
            col = change.column
            name = has(change.name)
            if col is None or name is None:
                raise SinkError(
                    f"cannot change the type of column {change.name} of the DuckDB table {target} "
                    f"({change.ddl}): " + ("the event has no column" if col is None else "no such column"),
                    table=str(target),
                )
            t = duckdb_type(col, tinyint1_as_boolean=self.tinyint1_as_boolean)
            canonical = conn.execute(f"SELECT typeof(CAST(NULL AS {t}))").fetchone()[0]
            current = columns[name.lower()]
            steps, note = [], ""
            if current.type != canonical:
                if self._in_constraint(conn, target, name):
                    steps, note = (
                        self._rebuild_steps(target, columns, name, t),
                        "rebuilt without its PRIMARY KEY",
                    )
                else:
                    steps = [(f"ALTER TABLE {qt} ALTER COLUMN {q(name)} TYPE {t}", [])]
            if change.comment is not None and change.comment != (current.comment or ""):
                steps.append((self._comment_sql(target, name, change.comment), []))
            return (steps or None), note
        if isinstance(change, sc.TruncateTable):
            return [(f"DELETE FROM {qt}", [])], ""
        if isinstance(change, sc.AlterTableComment):
            return [(self._comment_sql(target, None, change.comment), [])], ""
        if isinstance(change, sc.AlterColumnComment):
            name = has(change.name)
            if name is None:
                return None, ignored(f"{target} has no column {change.name}")
            return [(self._comment_sql(target, name, change.comment), [])], ""
        raise SinkError(f"the DuckDB sink does not know the schema change {type(change).__name__}")

    def _comment_sql(self, target: TableId, column: str | None, comment: str) -> str:
        what = f"TABLE {self._qualified(target)}"
        if column is not None:
            what = f"COLUMN {self._qualified(target)}.{quote_ident(column, 'duckdb')}"
        return f"COMMENT ON {what} IS {_comment_literal(comment)}"

    def _in_constraint(self, conn, target: TableId, column: str) -> bool:
        rows = conn.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE database_name = ? AND "
            "schema_name = ? AND table_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            [self._catalog, target.db, target.table],
        ).fetchall()
        return any(column in names for (names,) in rows)

    def _rebuild_steps(
        self, target: TableId, columns: dict[str, _TargetColumn], changed: str, new_type: str | None
    ) -> list[tuple[str, list[Any]]]:
        """Copy the table into one without constraints, ``changed`` cast to ``new_type`` (left out when
        None), and swap it in."""
        tmp = TableId(target.db, f"__cdc_rebuild_{target.table}")
        defs, exprs = [], []
        for c in columns.values():
            if c.name == changed and new_type is None:
                continue
            q = quote_ident(c.name, "duckdb")
            t = new_type if c.name == changed else c.type
            defs.append(f"{q} {t}{'' if c.nullable else ' NOT NULL'}")
            exprs.append(f"CAST({q} AS {t})" if c.name == changed else q)
        return [
            (f"CREATE TABLE {self._qualified(tmp)} ({', '.join(defs)})", []),
            (
                f"INSERT INTO {self._qualified(tmp)} SELECT {', '.join(exprs)} FROM {self._qualified(target)}",
                [],
            ),
            (f"DROP TABLE {self._qualified(target)}", []),
            (f"ALTER TABLE {self._qualified(tmp)} RENAME TO {quote_ident(target.table, 'duckdb')}", []),
        ]

    def _rename_table(self, target: TableId, change: sc.RenameTable, renamed_to: TableId | None) -> str:
        renamed_to = rename_target(target, change, renamed_to)
        if renamed_to == target:
            return ignored(f"{change.table} and {change.new} both go to {target}")
        with self._connect() as conn:
            old, new = self._columns_of(conn, target), self._columns_of(conn, renamed_to)
            if already_renamed(
                "DuckDB", target, renamed_to, change, old_exists=old is not None, new_exists=new is not None
            ):
                return ALREADY_APPLIED
            if renamed_to.db == target.db:
                steps = [
                    (
                        f"ALTER TABLE {self._qualified(target)} RENAME TO {quote_ident(renamed_to.table, 'duckdb')}",
                        [],
                    )
                ]
            else:  # DuckDB renames within a schema only: copy the definition and the rows
                cols = ", ".join(
                    f"{quote_ident(c.name, 'duckdb')} {c.type}{'' if c.nullable else ' NOT NULL'}"
                    for c in old.values()
                )
                schema = f"{quote_ident(self._catalog, 'duckdb')}.{quote_ident(renamed_to.db, 'duckdb')}"
                steps = [
                    (f"CREATE SCHEMA IF NOT EXISTS {schema}", []),
                    (f"CREATE TABLE {self._qualified(renamed_to)} ({cols})", []),
                    (
                        f"INSERT INTO {self._qualified(renamed_to)} SELECT * FROM {self._qualified(target)}",
                        [],
                    ),
                    (f"DROP TABLE {self._qualified(target)}", []),
                ]
            self._run(conn, target, steps)
        return outcome(True)

    def _columns(self, target: TableId) -> dict[str, _TargetColumn] | None:
        if not self.path.exists():
            return None
        with self._connect(read_only=True) as conn:
            return self._columns_of(conn, target)

    def _columns_of(self, conn, target: TableId) -> dict[str, _TargetColumn] | None:
        """The table's columns by lower-case name, in column order, or None when the table does not exist."""
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable, comment FROM duckdb_columns() WHERE database_name = ? AND "
            "schema_name = ? AND table_name = ? ORDER BY column_index",
            [self._catalog, target.db, target.table],
        ).fetchall()
        return {
            name.lower(): _TargetColumn(name, typ, bool(nullable), comment)
            for name, typ, nullable, comment in rows
        } or None

    def _ddl(self, target: TableId, statements: Sequence[str]) -> None:
        with self._connect() as conn:
            self._run(conn, target, [(sql, []) for sql in statements])

    def _run(self, conn, target: TableId, steps: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run ``steps`` in one transaction; DuckDB's refusal becomes a SinkError naming the statement."""
        conn.execute("BEGIN")
        for sql, params in steps:
            try:
                conn.execute(sql, list(params)) if params else conn.execute(sql)
            except duckdb.Error as exc:
                conn.execute("ROLLBACK")
                raise SinkError(
                    f"DuckDB refused a schema change of {target} in {self.path}: {sql} -> {exc}",
                    table=str(target),
                    statement=sql,
                ) from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        conn.execute("COMMIT")

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
        values = ", ".join(self._value_exprs(conn, target, table))
        conn.execute(f"INSERT INTO {self._qualified(target)} ({cols}) SELECT {values} FROM __cdc_rows")
        conn.unregister("__cdc_rows")

    def _value_exprs(self, conn, target: TableId, table: pa.Table) -> list[str]:
        """What each column of ``table`` is inserted as: itself (DuckDB casts it to the column's type), but
        bytes going into a text column (a binary source column merged with a text one into a target of
        several tables, :mod:`cdc_assets.core.schema_merge`) as their upper-case hex, as Flink CDC writes
        them, not DuckDB's escaped text."""
        names = [quote_ident(n, "duckdb") for n in table.column_names]
        binary = [
            i
            for i, f in enumerate(table.schema)
            if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
        ]
        if not binary:
            return names
        columns = self._columns_of(conn, target) or {}
        for i in binary:
            found = columns.get(table.column_names[i].lower())
            if found is not None and found.type.upper() == "VARCHAR":
                names[i] = f"upper(hex({names[i]}))"
        return names

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
        the keys are deleted, and each row replaces the row its key holds (its key may be listed too).
        The rows may be an Arrow table already (:meth:`arrow_schema`, keys unique)."""
        if not batch:
            return
        with self._connect() as conn:
            conn.execute("BEGIN")
            try:
                for target, schema, keys, rows in batch:
                    self._delete_keys(conn, target, schema, keys)
                    table = rows if isinstance(rows, pa.Table) else self.to_arrow(schema, rows)
                    self._replace_rows(conn, target, schema, table)
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
