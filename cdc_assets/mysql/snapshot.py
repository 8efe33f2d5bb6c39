"""Reading a table's rows for the snapshot: chunk boundaries and chunk contents.

Boundaries are keyset reads the server executes (``ORDER BY pk LIMIT 1 OFFSET n``), so they follow
the key columns' collation; the chunk's rows are streamed with an unbuffered cursor in batches of
``fetch_size`` so memory does not grow with the chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

import pymysql

from cdc_assets.core.chunks import Chunk, Key, range_predicate
from cdc_assets.core.schema import TableSchema
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.types import snapshot_select_expr
from cdc_assets.mysql.connection import ConnectionSettings, classify, run


def find_boundaries(
    conn, settings: ConnectionSettings, schema: TableSchema, chunk_size: int
) -> Iterator[Key]:
    """Yield chunk boundaries lazily: the key at every ``chunk_size``-th row in key order."""
    pk = schema.primary_key
    cols = ", ".join(quote_ident(c) for c in pk)
    table = quote_table(schema.table_id.db, schema.table_id.table)
    lhs = quote_ident(pk[0]) if len(pk) == 1 else f"({cols})"
    marks = "%s" if len(pk) == 1 else "(" + ", ".join(["%s"] * len(pk)) + ")"
    previous: Key | None = None
    while True:
        if previous is None:
            sql = f"SELECT {cols} FROM {table} ORDER BY {cols} LIMIT 1 OFFSET %s"
            params: list = [chunk_size]
        else:
            sql = f"SELECT {cols} FROM {table} WHERE {lhs} > {marks} ORDER BY {cols} LIMIT 1 OFFSET %s"
            params = [*previous, chunk_size - 1]
        rows = run(conn, settings, sql, params, doing=f"finding chunk boundaries of {schema.table_id}")
        if not rows:
            return
        previous = tuple(rows[0])
        yield previous


def read_chunk(
    settings: ConnectionSettings, conn, schema: TableSchema, chunk: Chunk, fetch_size: int
) -> Iterator[list[tuple]]:
    """Yield the chunk's rows (raw driver values, in column order) in batches of ``fetch_size``.

    ``conn`` must be a streaming connection (``connect(..., streaming=True)``) with session time
    zone UTC, as :func:`cdc_assets.core.types.snapshot_select_expr` expects.
    """
    where, params = range_predicate(schema.primary_key, chunk)
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
