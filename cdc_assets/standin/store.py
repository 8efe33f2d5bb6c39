"""The stand-in's storage: one DuckDB database holding every StarRocks table plus the catalog.

A StarRocks database is a DuckDB schema of the same name, a table a DuckDB table of the same name
(names are always three-part, ``catalog.db.table``, so a database called ``temp`` cannot be mistaken
for DuckDB's temp catalog). The catalog (:class:`TableMeta` as JSON) and the alter jobs live in the
schema ``__standin__`` and change in the same DuckDB transaction as the data they describe, so a
stand-in restarted on the same ``data_dir`` sees its tables, data and alter history.

One connection, a cursor per operation, and one lock around everything: the stand-in serves tests
and demos, not concurrent analytics.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdc_assets.core.sql import quote_ident
from cdc_assets.standin.catalog import AnalysisError, SrType, TableMeta
from cdc_assets.standin.convert import YearZero
from cdc_assets.standin.fastload import OP_FIELD, table_ops

_META = "__standin__"
_SEQ = "__standin_seq"
#: names DuckDB reserves (or the stand-in uses) and so cannot be StarRocks databases here
RESERVED_DATABASES = frozenset({"main", "information_schema", "pg_catalog", "temp", "system", _META})

_DUCK_TYPES = {
    "BOOLEAN": "BOOLEAN",
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INT": "INTEGER",
    "BIGINT": "BIGINT",
    "LARGEINT": "HUGEINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "CHAR": "VARCHAR",
    "VARCHAR": "VARCHAR",
    "JSON": "VARCHAR",
    "VARBINARY": "BLOB",
}
# pyarrow carriers for load values; LARGEINT travels as text (no int128 in Arrow) and is cast in SQL
_ARROW_TYPES = {
    "BOOLEAN": pa.bool_(),
    "TINYINT": pa.int64(),
    "SMALLINT": pa.int64(),
    "INT": pa.int64(),
    "BIGINT": pa.int64(),
    "LARGEINT": pa.string(),
    "FLOAT": pa.float64(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "DATETIME": pa.timestamp("us"),
    "CHAR": pa.string(),
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "VARBINARY": pa.binary(),
}


def duckdb_type(t: SrType) -> str:
    """The DuckDB column type that stores StarRocks type ``t`` without loss."""
    if t.name == "DECIMAL":
        return f"DECIMAL({t.precision},{t.scale})"
    return _DUCK_TYPES[t.name]


def _arrow_type(t: SrType) -> pa.DataType:
    if t.name == "DECIMAL":
        return pa.decimal128(t.precision or 10, t.scale or 0)
    return _ARROW_TYPES[t.name]


_EPOCH = _dt.datetime(1970, 1, 1)


def _epoch_count(v: Any, t: SrType) -> Any:
    """A DATE as days, a DATETIME as microseconds since 1970-01-01 (what Arrow stores), for year 0000."""
    if v is None:
        return None
    if isinstance(v, YearZero):
        return v.epoch_days() if t.name == "DATE" else v.epoch_micros()
    if t.name == "DATE":
        return (v - _EPOCH.date()).days
    delta = v - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _arrow_array(values: list[Any], t: SrType) -> pa.Array:
    if t.name == "LARGEINT":
        values = [None if v is None else str(int(v)) for v in values]
    elif t.name in ("DATE", "DATETIME") and any(isinstance(v, YearZero) for v in values):
        values = [_epoch_count(v, t) for v in values]  # Python's date cannot hold year 0; Arrow's can
    return pa.array(values, type=_arrow_type(t))


#: key types whose values come back to Python as they are (int, str, bool), for a range query
_RANGE_KEY_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT", "CHAR", "VARCHAR", "BOOLEAN"}
)


def _repeats_keys(data: pa.Table, key: Sequence[str]) -> bool:
    """True when two rows of ``data`` have the same key (the carriers compare as the stored values do:
    each carrier type maps one-to-one onto its column type)."""
    if len(key) == 1:
        keys = data[key[0]]
        n = len(keys)
        if n < 2:
            return False
        if keys.null_count == 0 and pc.all(pc.greater(keys.slice(1), keys.slice(0, n - 1))).as_py():
            return False  # strictly ascending (a snapshot chunk is read in key order): no repeats
        return pc.count_distinct(keys, mode="all").as_py() != n
    return data.group_by(list(key)).aggregate([]).num_rows != data.num_rows


def default_expr(t: SrType, default: str | None) -> tuple[str, list[Any]]:
    """SQL (DuckDB) for a column's DEFAULT and its bound parameters; NULL when there is none."""
    if default is None:
        return "NULL", []
    if t.name == "DATETIME" and default.upper() in ("CURRENT_TIMESTAMP", "NOW()"):
        return "CAST(current_localtimestamp() AS TIMESTAMP)", []
    return f"CAST(? AS {duckdb_type(t)})", [default]


class StandInStore:
    """Tables and catalog of the stand-in: in memory, or in ``<data_dir>/standin.duckdb``."""

    def __init__(self, data_dir: Path | None = None) -> None:
        if data_dir is None:
            self._con = duckdb.connect(":memory:")
        else:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(Path(data_dir) / "standin.duckdb"))
        self._lock = threading.RLock()
        self._closed = False
        with self.cursor() as cur:
            self._catalog = cur.execute("SELECT current_database()").fetchone()[0]
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_META}")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {_META}.databases (name VARCHAR)")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {_META}.tables (db VARCHAR, name VARCHAR, meta VARCHAR)")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {_META}.alter_jobs (job_id BIGINT, body VARCHAR)")
            self._databases = [r[0] for r in cur.execute(f"SELECT name FROM {_META}.databases").fetchall()]
            self._tables: dict[tuple[str, str], TableMeta] = {}
            for db, name, meta in cur.execute(f"SELECT db, name, meta FROM {_META}.tables").fetchall():
                self._tables[(db, name)] = TableMeta.from_dict(json.loads(meta))
            rows = cur.execute(f"SELECT body FROM {_META}.alter_jobs ORDER BY job_id").fetchall()
            self._jobs: list[dict[str, Any]] = [json.loads(r[0]) for r in rows]

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB cursor used under the store's lock."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the stand-in store is closed")
            cur = self._con.cursor()
            try:
                yield cur
            finally:
                cur.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one DuckDB transaction: committed on success, rolled back on any error."""
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._con.close()

    @property
    def catalog_name(self) -> str:
        """The DuckDB catalog holding the tables (``memory`` in memory, ``standin`` on disk)."""
        return self._catalog

    def table_ref(self, db: str, table: str) -> str:
        """The quoted three-part DuckDB name of a table."""
        return ".".join(quote_ident(p, "duckdb") for p in (self._catalog, db, table))

    def schema_ref(self, db: str) -> str:
        return ".".join(quote_ident(p, "duckdb") for p in (self._catalog, db))

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        """Run raw DuckDB SQL (tests and the SQL front): column names and rows."""
        names, rows, _ = self.execute(sql, params)
        return names, rows

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, tables: Mapping[str, pa.Table] | None = None
    ) -> tuple[list[str], list[tuple], list[str]]:
        """Run raw DuckDB SQL: column names, rows and the DuckDB type name of each column.

        ``tables`` are Arrow tables visible to this statement under the given names.
        """
        with self.cursor() as cur:
            for name, table in (tables or {}).items():
                cur.register(name, table)
            cur.execute(sql, list(params))
            if cur.description is None:
                return [], [], []
            rows = cur.fetchall()
            return [d[0] for d in cur.description], rows, [str(d[1]) for d in cur.description]

    # ------------------------------------------------------------------ databases
    def has_database(self, db: str) -> bool:
        with self._lock:
            return db in self._databases

    def list_databases(self) -> list[str]:
        with self._lock:
            return list(self._databases)

    def create_database(self, db: str) -> None:
        """Create ``db``; AnalysisError when it exists (callers handle IF NOT EXISTS)."""
        with self._lock:
            if db in self._databases:
                raise AnalysisError(f"Can't create database '{db}'; database exists")
            if db.lower() in RESERVED_DATABASES:
                raise AnalysisError(f"the stand-in cannot host a database named '{db}' (reserved by DuckDB)")
            clash = next((d for d in self._databases if d.lower() == db.lower()), None)
            if clash is not None:
                raise AnalysisError(
                    f"the stand-in cannot create database '{db}' beside '{clash}': DuckDB names are "
                    "case-insensitive; use another name"
                )
            with self.transaction() as cur:
                cur.execute(f"CREATE SCHEMA {self.schema_ref(db)}")
                cur.execute(f"INSERT INTO {_META}.databases VALUES (?)", [db])
            self._databases.append(db)

    def drop_database(self, db: str) -> None:
        with self._lock:
            with self.transaction() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {self.schema_ref(db)} CASCADE")
                cur.execute(f"DELETE FROM {_META}.databases WHERE name = ?", [db])
                cur.execute(f"DELETE FROM {_META}.tables WHERE db = ?", [db])
            self._databases.remove(db)
            for key in [k for k in self._tables if k[0] == db]:
                del self._tables[key]

    # ------------------------------------------------------------------ tables
    def list_tables(self, db: str) -> list[str]:
        with self._lock:
            return sorted(name for d, name in self._tables if d == db)

    def get_table(self, db: str, table: str) -> TableMeta | None:
        """A copy of the table's metadata; None if it does not exist."""
        with self._lock:
            meta = self._tables.get((db, table))
            return None if meta is None else meta.copy()

    def all_tables(self) -> list[TableMeta]:
        with self._lock:
            return [m.copy() for _, m in sorted(self._tables.items())]

    def create_table(self, meta: TableMeta) -> None:
        """Create the DuckDB table and record ``meta``; the caller has analyzed the definition."""
        with self._lock:
            if not self.has_database(meta.db):
                raise AnalysisError(f"Unknown database '{meta.db}'")
            if (meta.db, meta.name) in self._tables:
                raise AnalysisError(f"Table '{meta.name}' already exists")
            clash = next(
                (n for d, n in self._tables if d == meta.db and n.lower() == meta.name.lower()), None
            )
            if clash is not None:
                raise AnalysisError(
                    f"the stand-in cannot create table '{meta.name}' beside '{clash}': DuckDB names are "
                    "case-insensitive; use another name"
                )
            cols = ", ".join(f"{quote_ident(c.name, 'duckdb')} {duckdb_type(c.type)}" for c in meta.columns)
            with self.transaction() as cur:
                cur.execute(f"CREATE TABLE {self.table_ref(meta.db, meta.name)} ({cols})")
                self._write_meta(cur, meta, insert=True)
            self._tables[(meta.db, meta.name)] = meta.copy()

    def drop_table(self, db: str, table: str) -> None:
        with self._lock:
            with self.transaction() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {self.table_ref(db, table)}")
                cur.execute(f"DELETE FROM {_META}.tables WHERE db = ? AND name = ?", [db, table])
            self._tables.pop((db, table), None)

    def rename_table(self, db: str, table: str, new: str) -> None:
        """Rename ``db.table`` to ``db.new`` (data, catalog entry and its persisted copy, in one transaction)."""
        with self._lock:
            meta = self._require(db, table).copy()
            clash = next((n for d, n in self._tables if d == db and n.lower() == new.lower()), None)
            if clash is not None and clash != table:
                raise AnalysisError(
                    f"the stand-in cannot rename table '{table}' to '{new}' beside '{clash}': DuckDB names "
                    "are case-insensitive; use another name"
                )
            meta.name = new
            with self.transaction() as cur:
                cur.execute(f"ALTER TABLE {self.table_ref(db, table)} RENAME TO {quote_ident(new, 'duckdb')}")
                cur.execute(f"UPDATE {_META}.tables SET name = ? WHERE db = ? AND name = ?", [new, db, table])
                self._write_meta(cur, meta)
            del self._tables[(db, table)]
            self._tables[(db, new)] = meta

    def truncate_table(self, db: str, table: str) -> None:
        with self._lock:
            self._require(db, table)
            with self.transaction() as cur:
                cur.execute(f"DELETE FROM {self.table_ref(db, table)}")

    def set_state(self, db: str, table: str, state: str) -> None:
        """Set the table state (NORMAL / SCHEMA_CHANGE), persisted with the catalog."""
        with self._lock:
            meta = self._require(db, table)
            meta.state = state
            with self.transaction() as cur:
                self._write_meta(cur, meta)

    def rebuild_table(self, meta: TableMeta, sources: Sequence[str | None]) -> None:
        """Replace the table's data and schema with ``meta`` in one transaction.

        ``sources[i]`` names the current column that feeds ``meta.columns[i]`` (cast to its new type), or
        None for a new column, which takes its DEFAULT (NULL without one) on every existing row. A value
        that does not convert raises duckdb.Error and nothing changes.
        """
        with self._lock:
            self._require(meta.db, meta.name)
            exprs: list[str] = []
            params: list[Any] = []
            for col, src in zip(meta.columns, sources, strict=True):
                if src is None:
                    sql, p = default_expr(col.type, col.default)
                    # typed: a bare NULL makes CREATE TABLE AS give the column DuckDB's NULL type, and every
                    # later load into it fails (ADD COLUMN without a DEFAULT)
                    sql = f"CAST({sql} AS {duckdb_type(col.type)})"
                else:
                    sql, p = f"CAST({quote_ident(src, 'duckdb')} AS {duckdb_type(col.type)})", []
                exprs.append(f"{sql} AS {quote_ident(col.name, 'duckdb')}")
                params.extend(p)
            ref = self.table_ref(meta.db, meta.name)
            tmp_name = f"__rebuild_{meta.name}"
            tmp = self.table_ref(meta.db, tmp_name)
            with self.transaction() as cur:
                cur.execute(f"CREATE TABLE {tmp} AS SELECT {', '.join(exprs)} FROM {ref}", params)
                cur.execute(f"DROP TABLE {ref}")
                cur.execute(f"ALTER TABLE {tmp} RENAME TO {quote_ident(meta.name, 'duckdb')}")
                self._write_meta(cur, meta)
            self._tables[(meta.db, meta.name)] = meta.copy()

    def _require(self, db: str, table: str) -> TableMeta:
        meta = self._tables.get((db, table))
        if meta is None:
            raise AnalysisError(f"Unknown table '{db}.{table}'")
        return meta

    def _write_meta(self, cur: duckdb.DuckDBPyConnection, meta: TableMeta, *, insert: bool = False) -> None:
        body = json.dumps(meta.to_dict())
        if insert:
            cur.execute(f"INSERT INTO {_META}.tables VALUES (?, ?, ?)", [meta.db, meta.name, body])
        else:
            cur.execute(
                f"UPDATE {_META}.tables SET meta = ? WHERE db = ? AND name = ?", [body, meta.db, meta.name]
            )

    # ------------------------------------------------------------------ alter jobs
    def save_alter_job(self, job: dict[str, Any]) -> None:
        """Insert or replace the job with ``job["JobId"]`` (the SHOW ALTER TABLE COLUMN row as a dict)."""
        with self._lock:
            with self.transaction() as cur:
                cur.execute(f"DELETE FROM {_META}.alter_jobs WHERE job_id = ?", [job["JobId"]])
                cur.execute(f"INSERT INTO {_META}.alter_jobs VALUES (?, ?)", [job["JobId"], json.dumps(job)])
            self._jobs = [j for j in self._jobs if j["JobId"] != job["JobId"]] + [dict(job)]

    def alter_jobs(self) -> list[dict[str, Any]]:
        """Every alter job recorded, oldest first (copies)."""
        with self._lock:
            return [dict(j) for j in sorted(self._jobs, key=lambda j: j["JobId"])]

    # ------------------------------------------------------------------ loads
    def apply_load(self, db: str, table: str, ops: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Apply upserts (op 0) and deletes (op 1) in order, in one DuckDB transaction.

        Within one load the last op per key wins. An upsert replaces the whole row: columns absent from
        its dict take their DEFAULT, or NULL. Values are already converted by the loader.
        """
        with self._lock:
            meta = self._require(db, table)
            canon = {c.name.lower(): c.name for c in meta.columns}
            exact = set(canon.values())
            key = [meta.column(k).name for k in meta.key]  # type: ignore[union-attr]
            last: dict[tuple, tuple[int, dict[str, Any]]] = {}
            for op, row in ops:
                if not exact.issuperset(row):
                    row = {canon.get(k.lower(), k): v for k, v in row.items()}
                k = tuple(row.get(c) for c in key)
                last.pop(k, None)  # re-insert so the surviving op keeps load order
                last[k] = (op, row)
            if not last:
                return
            ref = self.table_ref(db, table)
            with self.transaction() as cur:
                types = {c.name: c.type for c in meta.columns}
                keys = pa.table({c: _arrow_array([k[i] for k in last], types[c]) for i, c in enumerate(key)})
                cur.register("__standin_keys", keys)
                on = " AND ".join(
                    f"t.{quote_ident(c, 'duckdb')} = CAST(k.{quote_ident(c, 'duckdb')} AS {duckdb_type(types[c])})"
                    for c in key
                )
                cur.execute(f"DELETE FROM {ref} AS t USING __standin_keys AS k WHERE {on}")
                cur.unregister("__standin_keys")
                groups: dict[frozenset[str], list[dict[str, Any]]] = {}
                for op, row in last.values():
                    if op == 0:
                        groups.setdefault(frozenset(row), []).append(row)
                for present, rows in groups.items():
                    self._insert_rows(cur, meta, ref, present, rows)

    def apply_parts(self, db: str, table: str, parts: Sequence[Any]) -> None:
        """Apply a :class:`LoadBatch`'s parts in order, in one DuckDB transaction, as :meth:`apply_load`
        would apply all their rows: lists of ops, and Arrow tables from the fast path
        (:mod:`cdc_assets.standin.fastload`), which are applied in SQL when every part is one."""
        tables = [p for p in parts if not isinstance(p, list)]
        if tables and len(tables) == len(parts) and len({t.schema for t in tables}) == 1:
            self._apply_table(db, table, pa.concat_tables(tables))
            return
        ops: list[tuple[int, dict[str, Any]]] = []
        for part in parts:
            ops.extend(part if isinstance(part, list) else table_ops(part))
        self.apply_load(db, table, ops)

    def _apply_table(self, db: str, table: str, data: pa.Table) -> None:
        """A fast part: the last row per key wins (its op), each upsert replacing the whole row."""
        with self._lock:
            meta = self._require(db, table)
            present = set(data.column_names) - {OP_FIELD}
            data = data.append_column(_SEQ, pa.array(np.arange(data.num_rows, dtype=np.int64)))
            q = lambda name: quote_ident(name, "duckdb")  # noqa: E731
            key = [meta.column(k).name for k in meta.key]  # type: ignore[union-attr]
            types = {c.name: c.type for c in meta.columns}
            cast_keys = [f"CAST(u.{q(k)} AS {duckdb_type(types[k])})" for k in key]
            exprs, params = _row_exprs(meta, present)
            ref = self.table_ref(db, table)
            names = ", ".join(q(c.name) for c in meta.columns)
            keys_sql = ", ".join(f"{e} AS {q(k)}" for e, k in zip(cast_keys, key, strict=True))
            on = " AND ".join(f"t.{q(k)} = k.{q(k)}" for k in key)
            with self.transaction() as cur:
                cur.register("__standin_load", data)
                try:
                    if self._holds_key_range(cur, ref, key[0], cast_keys[0], types[key[0]]):
                        cur.execute(
                            f"DELETE FROM {ref} AS t USING (SELECT DISTINCT {keys_sql} FROM __standin_load AS u) "
                            f"AS k WHERE {on}"
                        )
                    last, order = "SELECT * FROM __standin_load", ""
                    if _repeats_keys(data, key):  # else every row is the last of its key
                        last += (
                            f" AS u QUALIFY row_number() OVER "
                            f"(PARTITION BY {', '.join(cast_keys)} ORDER BY u.{q(_SEQ)} DESC) = 1"
                        )
                        order = f" ORDER BY u.{q(_SEQ)}"  # the window reorders; a plain scan keeps load order
                    cur.execute(
                        f"INSERT INTO {ref} ({names}) SELECT {', '.join(exprs)} FROM ({last}) AS u "
                        f"WHERE u.{q(OP_FIELD)} = 0{order}",
                        params,
                    )
                finally:
                    cur.unregister("__standin_load")

    @staticmethod
    def _holds_key_range(cur: duckdb.DuckDBPyConnection, ref: str, first: str, cast: str, t: SrType) -> bool:
        """False when no stored row has its first key column within that column's range in the registered
        load: then none has a key of the load (a snapshot chunk into its own key range), and the count,
        which DuckDB answers from its row groups' min/max, costs far less than the delete's join. True
        when it may, or for types whose values Python may not hold (DATE/DATETIME in year 0)."""
        if t.name not in _RANGE_KEY_TYPES:
            return True
        low, high = cur.execute(f"SELECT min({cast}), max({cast}) FROM __standin_load AS u").fetchone()
        sql = f"SELECT count(*) FROM {ref} AS t WHERE t.{quote_ident(first, 'duckdb')} BETWEEN ? AND ?"
        return bool(cur.execute(sql, [low, high]).fetchone()[0])

    def _insert_rows(
        self,
        cur: duckdb.DuckDBPyConnection,
        meta: TableMeta,
        ref: str,
        present: frozenset[str],
        rows: list[dict[str, Any]],
    ) -> None:
        data = {
            c.name: _arrow_array([r[c.name] for r in rows], c.type) for c in meta.columns if c.name in present
        }
        exprs, params = _row_exprs(meta, present)
        cur.register("__standin_rows", pa.table(data) if data else pa.table({"__n": [0] * len(rows)}))
        names = ", ".join(quote_ident(c.name, "duckdb") for c in meta.columns)
        cur.execute(f"INSERT INTO {ref} ({names}) SELECT {', '.join(exprs)} FROM __standin_rows AS u", params)
        cur.unregister("__standin_rows")


def _row_exprs(meta: TableMeta, present: Set[str]) -> tuple[list[str], list[Any]]:
    """The SELECT expressions of a full row from a registered load ``u``: each column the load has, cast
    to its type, and each other column's default (with its bound parameters)."""
    exprs: list[str] = []
    params: list[Any] = []
    for c in meta.columns:
        if c.name in present:
            exprs.append(f"CAST(u.{quote_ident(c.name, 'duckdb')} AS {duckdb_type(c.type)})")
        else:
            sql, p = default_expr(c.type, c.default)
            exprs.append(sql)
            params.extend(p)
    return exprs, params
