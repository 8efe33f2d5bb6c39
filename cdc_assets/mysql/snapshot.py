"""Reading a table's rows for the snapshot: choosing chunk boundaries, and reading chunk contents.

Boundaries come from :func:`plan_boundaries`: arithmetic for an evenly spread integer key (no
query per chunk, :mod:`cdc_assets.core.chunk_plan`), otherwise keyset reads the server executes
(``ORDER BY key LIMIT 1 OFFSET n``, one index range scan per boundary), so they follow the key
columns' collation: keys equal under it (``'abc'`` / ``'ABC'``, trailing spaces under PAD SPACE) are
never split across chunks. A chunk's rows are streamed with an unbuffered cursor in batches of
``fetch_size`` so memory does not grow with the chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pymysql

from cdc_assets.core.chunk_plan import (
    CHUNK_KEY_OPTION,
    EVEN_PROBE_ROW_FACTOR,
    EVEN_PROBES,
    MAX_CHUNKS_PER_TABLE,
    ChunkingChoice,
    chunk_key_columns,
    decide_chunking,
    probe_indexes,
    supports_even_split,
)
from cdc_assets.core.chunks import Chunk, Key, key_compare, key_range_predicate
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.types import snapshot_select_expr
from cdc_assets.core.values import enum_members
from cdc_assets.errors import SchemaError
from cdc_assets.mysql.connection import ConnectionSettings, classify, run

_UNKNOWN_SYSTEM_VARIABLE = 1193
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def find_boundaries(
    conn,
    settings: ConnectionSettings,
    schema: TableSchema,
    chunk_size: int,
    *,
    key_columns: Sequence[str] | None = None,
) -> Iterator[Key]:
    """Yield keyset chunk boundaries lazily: the key at every ``chunk_size``-th row in key order.

    ``key_columns`` default to the primary key. Each boundary is one index range scan of
    ``chunk_size`` entries (a multi-column key is compared as ``a > x OR (a = x AND b > y)``, which
    the optimizer turns into a range, unlike ``(a, b) > (x, y)``). The next boundary is the first
    key strictly greater than the previous one in the server's collation, so boundaries are distinct
    under it. With a non-unique ``key_columns``, a chunk also holds every row equal to its start.
    """
    cols = tuple(key_columns) if key_columns else schema.primary_key
    if not cols:
        raise SchemaError(
            f"{schema.table_id} has no primary key; set '{CHUNK_KEY_OPTION}' for it",
            table=str(schema.table_id),
        )
    if chunk_size < 1:
        raise ValueError(f"chunk size must be at least 1, got {chunk_size}")
    select = ", ".join(quote_ident(c) for c in cols)
    table = quote_table(schema.table_id.db, schema.table_id.table)
    doing = f"finding chunk boundaries of {schema.table_id}"
    previous: Key | None = None
    while True:
        if previous is None:
            sql = f"SELECT {select} FROM {table} ORDER BY {select} LIMIT 1 OFFSET %s"
            params: list = [chunk_size]
        else:
            after, params = key_compare(cols, ">", previous)
            sql = f"SELECT {select} FROM {table} WHERE {after} ORDER BY {select} LIMIT 1 OFFSET %s"
            params.append(chunk_size - 1)
        rows = run(conn, settings, sql, params, doing=doing)
        if not rows:
            return
        previous = tuple(rows[0])
        yield previous


def approximate_row_count(conn, settings: ConnectionSettings, table: TableId) -> int | None:
    """``information_schema.TABLES.TABLE_ROWS`` (an estimate for InnoDB), None when 0 or NULL.

    MySQL 8 caches these statistics for ``information_schema_stats_expiry`` (a day by default), so
    a freshly loaded table would read 0: the session is asked for fresh statistics first.
    """
    version = str(getattr(conn, "server_version", "") or "")
    major = re.match(r"(\d+)\.", version)
    if "mariadb" not in version.lower() and major and int(major.group(1)) >= 8:
        try:
            with conn.cursor(pymysql.cursors.Cursor) as cur:
                cur.execute("SET SESSION information_schema_stats_expiry = 0")
        except pymysql.err.MySQLError as exc:
            if not (exc.args and exc.args[0] == _UNKNOWN_SYSTEM_VARIABLE):
                raise classify(exc, settings, f"reading the statistics of {table}") from exc
    rows = run(
        conn,
        settings,
        "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (table.db, table.table),
        doing=f"reading the statistics of {table}",
    )
    if not rows or rows[0][0] is None:
        return None
    return int(rows[0][0]) or None


def _reject_null_keys(conn, settings: ConnectionSettings, schema: TableSchema, cols: Sequence[str]) -> None:
    nullable = [c for c in cols if schema.column(c).nullable]
    if not nullable:
        return
    where = " OR ".join(f"{quote_ident(c)} IS NULL" for c in nullable)
    table = quote_table(schema.table_id.db, schema.table_id.table)
    rows = run(
        conn,
        settings,
        f"SELECT 1 FROM {table} WHERE {where} LIMIT 1",
        doing=f"checking the chunk key of {schema.table_id} for NULLs",
    )
    if rows:
        raise SchemaError(
            f"{schema.table_id} has rows whose chunk key ({', '.join(nullable)}) is NULL; no key range "
            f"holds them, so the snapshot would miss them. Set '{CHUNK_KEY_OPTION}' to a NOT NULL column",
            table=str(schema.table_id),
        )


def _check_key_order(
    conn, settings: ConnectionSettings, schema: TableSchema, columns: Sequence[Column]
) -> None:
    """Refuse key columns whose bounds the server would compare in another order than it sorts them.

    Keyset boundaries come from ``ORDER BY key``, chunks from ``key >= bound``. The server sorts an
    ENUM by member number but compares it with a string bound as text, sorts a SET by its bit mask,
    and compares a BIT column with a byte-string bound as neither; rows would fall between chunks.
    An ENUM whose members are declared in ascending order under its collation sorts the same both
    ways and is accepted (checked by the server).
    """
    for col in columns:
        problem = None
        if col.data_type in ("set", "bit"):
            problem = f"a {col.data_type.upper()} column is sorted by its numeric value but compared as text"
        elif col.data_type == "enum":
            members = enum_members(col.column_type)
            if len(members) > 1 and not _members_ascending(conn, settings, col, members):
                problem = (
                    "its members are not declared in ascending order, and an ENUM is sorted by member number"
                )
        if problem:
            raise SchemaError(
                f"{schema.table_id} cannot be cut into chunks on column {col.name!r} ({col.column_type}): "
                f"{problem}, so chunk ranges would miss rows. Set '{CHUNK_KEY_OPTION}' to another column "
                "(NOT NULL, preferably indexed)",
                table=str(schema.table_id),
                column=col.name,
            )


def _members_ascending(conn, settings: ConnectionSettings, col: Column, members: list[str]) -> bool:
    charset, collation = col.charset or "utf8mb4", col.collation or "utf8mb4_general_ci"
    if not (_NAME.match(charset) and _NAME.match(collation)):
        return False
    cast = f"CONVERT(%s USING {charset}) COLLATE {collation}"
    pairs = list(zip(members, members[1:], strict=False))
    for i in range(0, len(pairs), 200):
        part = pairs[i : i + 200]
        sql = "SELECT " + ", ".join(f"STRCMP({cast}, {cast})" for _ in part)
        rows = run(
            conn, settings, sql, [v for pair in part for v in pair], doing=f"checking the ENUM {col.name}"
        )
        if any(int(v) != -1 for v in rows[0]):
            return False
    return True


def _heavy_probe(
    conn, settings: ConnectionSettings, schema: TableSchema, choice: ChunkingChoice, probes: int
) -> str | None:
    """Count a few arithmetic chunks (each count stops at its cap); describe the first too-heavy one."""
    assert choice.even is not None
    cap = EVEN_PROBE_ROW_FACTOR * choice.chunk_size
    table = quote_table(schema.table_id.db, schema.table_id.table)
    for index in probe_indexes(len(choice.even), probes):
        chunk = choice.even[index]
        where, params = key_range_predicate(choice.key_columns, chunk)
        rows = run(
            conn,
            settings,
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT %s) AS probe",
            [*params, cap + 1],
            doing=f"sampling the key distribution of {schema.table_id}",
        )
        if int(rows[0][0]) > cap:
            return (
                f"arithmetic chunk {index} [{_bound(chunk.start)}, {_bound(chunk.end)}) of {len(choice.even)} "
                f"holds more than {cap} rows ({EVEN_PROBE_ROW_FACTOR} x chunk size {choice.chunk_size}): "
                "the key is skewed or the table statistics are stale"
            )
    return None


def _bound(key: Key | None) -> str:
    return "-inf/+inf" if key is None else str(key[0])


def choose_chunking(
    conn,
    settings: ConnectionSettings,
    schema: TableSchema,
    chunk_size: int,
    *,
    key_columns: Sequence[str] | None = None,
    lower: float = 0.05,
    upper: float = 1000.0,
    max_chunks: int = MAX_CHUNKS_PER_TABLE,
    probes: int = EVEN_PROBES,
) -> ChunkingChoice:
    """Decide how ``schema``'s table is cut (a few cheap queries; no boundary is read yet).

    Reads ``TABLE_ROWS`` and, for a single integer key, ``MIN``/``MAX`` (two index dives on an
    indexed key). An even plan is checked by counting up to ``probes`` of its chunks (each count
    stops at :data:`~cdc_assets.core.chunk_plan.EVEN_PROBE_ROW_FACTOR` x chunk size); a heavy one
    sends the table to the keyset path. Raises :class:`SchemaError` for a table without a primary
    key when ``key_columns`` is not given, when a nullable chunk key holds NULLs, or when a key
    column's bounds would compare in another order than the server sorts it (SET, BIT, an ENUM
    declared out of order).
    """
    columns = chunk_key_columns(schema, key_columns)
    cols = tuple(c.name for c in columns)
    _check_key_order(conn, settings, schema, columns)
    _reject_null_keys(conn, settings, schema, cols)
    approx = approximate_row_count(conn, settings, schema.table_id)
    bounds = None
    if supports_even_split(columns):
        col = quote_ident(cols[0])
        table = quote_table(schema.table_id.db, schema.table_id.table)
        rows = run(
            conn,
            settings,
            f"SELECT MIN({col}), MAX({col}) FROM {table}",
            doing=f"reading the key range of {schema.table_id}",
        )
        bounds = (rows[0][0], rows[0][1])
    choice = decide_chunking(
        columns, approx, chunk_size, bounds=bounds, lower=lower, upper=upper, max_chunks=max_chunks
    )
    if choice.even is not None and probes > 0:
        heavy = _heavy_probe(conn, settings, schema, choice, probes)
        if heavy:
            choice = choice.as_keyset(heavy)
    return choice


def boundaries_of(
    conn, settings: ConnectionSettings, schema: TableSchema, choice: ChunkingChoice
) -> Iterator[Key]:
    """The boundaries ``choice`` stands for, lazily (keyset reads run as the iterator advances)."""
    if choice.even is not None:
        return choice.even.boundaries()
    return find_boundaries(conn, settings, schema, choice.chunk_size, key_columns=choice.key_columns)


def plan_boundaries(
    conn,
    settings: ConnectionSettings,
    schema: TableSchema,
    chunk_size: int,
    *,
    key_columns: Sequence[str] | None = None,
    lower: float = 0.05,
    upper: float = 1000.0,
    max_chunks: int = MAX_CHUNKS_PER_TABLE,
) -> Iterator[Key]:
    """Chunk boundaries of the table, lazily, in bounded memory: :func:`choose_chunking` (run now,
    so its errors raise here) then :func:`boundaries_of`. Consume it before closing ``conn``.

    ``chunk_size`` is ``scan.incremental.snapshot.chunk.size``; ``lower`` / ``upper`` are
    ``chunk-key.even-distribution.factor.lower-bound`` / ``upper-bound``; ``key_columns`` is
    ``scan.incremental.snapshot.chunk.key-column`` (required for a table without a primary key).
    The boundaries are values of ``key_columns`` (default: the primary key); read the chunks with
    the same key columns.
    """
    choice = choose_chunking(
        conn,
        settings,
        schema,
        chunk_size,
        key_columns=key_columns,
        lower=lower,
        upper=upper,
        max_chunks=max_chunks,
    )
    return boundaries_of(conn, settings, schema, choice)


def read_chunk(
    settings: ConnectionSettings,
    conn,
    schema: TableSchema,
    chunk: Chunk,
    fetch_size: int,
    *,
    key_columns: Sequence[str] | None = None,
) -> Iterator[list[tuple]]:
    """Yield the chunk's rows (raw driver values, in column order) in batches of ``fetch_size``.

    ``conn`` must be a streaming connection (``connect(..., streaming=True)``) with session time
    zone UTC, as :func:`cdc_assets.core.types.snapshot_select_expr` expects. ``key_columns`` are
    the columns the chunk's bounds are values of (default: the primary key), as planned.
    """
    where, params = key_range_predicate(tuple(key_columns) if key_columns else schema.primary_key, chunk)
    select = ", ".join(snapshot_select_expr(c) for c in schema.columns)
    sql = f"SELECT {select} FROM {quote_table(schema.table_id.db, schema.table_id.table)} WHERE {where}"
    try:
        with conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(sql, params)
            while True:
                batch = cur.fetchmany(fetch_size)
                if not batch:
                    return
                yield list(batch)
    except (pymysql.err.MySQLError, OSError) as exc:
        raise classify(exc, settings, f"reading chunk {chunk.index} of {schema.table_id}") from exc


def count_rows(conn, settings: ConnectionSettings, schema: TableSchema) -> int:
    table = quote_table(schema.table_id.db, schema.table_id.table)
    return int(
        run(conn, settings, f"SELECT COUNT(*) FROM {table}", doing=f"counting rows of {schema.table_id}")[0][
            0
        ]
    )
