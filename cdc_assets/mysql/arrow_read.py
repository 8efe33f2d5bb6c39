"""The fast snapshot read: a chunk's rows as canonical Arrow tables, read by connectorx.

The SQL and the conversion come from :mod:`cdc_assets.core.arrow_read`; this module only runs the
statement (connectorx 0.4.6, MySQL binary protocol, ``arrow_stream`` so memory stays bounded by one
batch) and turns what connectorx raises into this project's errors.

connectorx takes a URI holding the password. The URI is built inside the call and never stored or
logged, and every connectorx message is scrubbed of the password (plain and percent-encoded) before it
reaches an error; the original exception is not chained, since its text would show the password in a
traceback. A Rust panic arrives as ``PanicException``, a ``BaseException``: it is caught too and becomes
:class:`FastReadError`, which tells the caller to read that chunk with the exact path.

A refused login or an unreachable server surfaces only after connectorx's connection pool gave up
(about 30 s); the error then names the server's answer (e.g. ``ERROR 1045``) and is classified as
:func:`cdc_assets.mysql.connection.classify` classifies PyMySQL's.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator

import connectorx
import pyarrow as pa
import pymysql

from cdc_assets.core.arrow_read import SESSION_SQL, ArrowReadPlan, chunk_where_sql
from cdc_assets.core.chunks import Chunk
from cdc_assets.core.schema import TableSchema
from cdc_assets.errors import CdcError, TerminalError
from cdc_assets.mysql.connection import ConnectionSettings, classify

#: rows per Arrow batch connectorx hands over, and per table :func:`read_chunk_arrow` yields, unless told
DEFAULT_BATCH_ROWS = 10_000

_SERVER_CODE = re.compile(r"ERROR (\d{4,5}) \(")
# The client-side failures of the Rust driver and its pool: no server answer, so "cannot reach".
_UNREACHABLE = re.compile(
    r"Could not connect|Connection refused|Connection reset|IO error|os error|timed out waiting for connection"
)
_CR_CONN_HOST_ERROR = 2003


class FastReadError(TerminalError):
    """The fast path failed on this data (a connectorx panic or a failed conversion); the exact path
    (:func:`cdc_assets.mysql.snapshot.read_chunk`) can read the same chunk."""


def _uri(settings: ConnectionSettings) -> str:
    # prefer_socket=false: the driver would otherwise switch to the server's Unix socket when it runs on
    # this machine, logging in as user@localhost instead of the user@host PyMySQL is granted as.
    user = urllib.parse.quote(settings.user, safe="")
    password = urllib.parse.quote(settings.password, safe="")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    query = urllib.parse.urlencode(
        {"prefer_socket": "false", "tcp_connect_timeout_ms": max(1, int(settings.connect_timeout * 1000))}
    )
    return f"mysql://{user}:{password}@{host}:{settings.port}?{query}"


def scrub(text: str, settings: ConnectionSettings) -> str:
    """``text`` with the connection URI and the password (plain and percent-encoded) replaced by ``***``."""
    secrets = [_uri(settings)]
    if settings.password:
        secrets += [settings.password, urllib.parse.quote(settings.password, safe="")]
    for s in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(s, "***")
    return text


def translate_error(exc: BaseException, settings: ConnectionSettings, doing: str) -> CdcError:
    """A connectorx exception (RuntimeError, PanicException, pyarrow error) -> one of our errors, secret-free."""
    detail = scrub(str(exc), settings)
    if type(exc).__name__ == "PanicException" or isinstance(exc, pa.ArrowException):
        return FastReadError(
            f"the fast read path failed while {doing} on {settings.where} ({type(exc).__name__}: {detail}); "
            "read this table with the exact path, and report the column type and value that caused it",
            doing=doing,
        )
    m = _SERVER_CODE.search(detail)
    code = int(m.group(1)) if m else (_CR_CONN_HOST_ERROR if _UNREACHABLE.search(detail) else None)
    if code is None:
        return TerminalError(f"{settings.where} failed while {doing} ({type(exc).__name__}: {detail})")
    # The class PyMySQL would have raised for this code, so that classification is the exact path's.
    cls = pymysql.err.error_map.get(
        code, pymysql.err.InternalError if code < 1000 else pymysql.err.OperationalError
    )
    return classify(cls(code, detail), settings, doing)


def _is_control_flow(exc: BaseException) -> bool:
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)


def fetch_arrow(
    settings: ConnectionSettings, sql: str, *, doing: str, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Run ``sql`` in a session set up by :data:`SESSION_SQL`; yield connectorx's record batches as they arrive."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
    try:
        reader = connectorx.read_sql(
            _uri(settings),
            sql,
            return_type="arrow_stream",
            batch_size=batch_rows,
            pre_execution_query=[SESSION_SQL],
        )
    except BaseException as exc:  # PanicException derives from BaseException only
        if _is_control_flow(exc):
            raise
        raise translate_error(exc, settings, doing) from None
    with reader:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except BaseException as exc:
                if _is_control_flow(exc):
                    raise
                raise translate_error(exc, settings, doing) from None
            yield batch


def read_chunk_arrow(
    settings: ConnectionSettings,
    schema: TableSchema,
    chunk: Chunk,
    plan: ArrowReadPlan,
    *,
    batch_rows: int | None = None,
    fetch_rows: int | None = None,
    batch_bytes: int | None = None,
) -> Iterator[pa.Table]:
    """Yield the chunk's rows as canonical Arrow tables (``plan.arrow_schema``) of at most ``batch_rows``
    rows each (and, when ``batch_bytes`` is given, of about that many bytes at most: a table ends once it
    holds that many).

    connectorx hands over ``fetch_rows`` rows at a time (``scan.snapshot.fetch.size``; at most
    ``batch_rows``, which is also the default); those are joined into one table before the conversion,
    which costs about the same per call whatever the rows, and a sink writes a few large tables faster
    than many small ones.

    The same rows and values as :func:`cdc_assets.mysql.snapshot.read_chunk` followed by
    ``row_converter(schema, "snapshot")`` and ``DuckDBSink.to_arrow``. Empty batches are not yielded.
    ``plan`` must be ``plan_arrow_read(schema, ...)`` with ``plan.fast`` true. Raises
    :class:`FastReadError` when connectorx or a conversion fails on the data (read the chunk with the
    exact path then), else the errors :func:`~cdc_assets.mysql.connection.classify` gives.
    """
    if plan.schema != schema:
        raise ValueError(
            f"the read plan is for {plan.schema.table_id}'s schema, not this {schema.table_id} schema"
        )
    if not plan.fast:
        raise ValueError(f"{schema.table_id} needs the exact read path: {plan.reason}")
    batch_rows = batch_rows or DEFAULT_BATCH_ROWS
    fetch_rows = min(fetch_rows or batch_rows, batch_rows)
    doing = f"reading chunk {chunk.index} of {schema.table_id}"

    def canonical(parts: list[pa.RecordBatch]) -> pa.Table:
        try:
            return plan.to_canonical(pa.Table.from_batches(parts))
        except pa.ArrowException as exc:
            raise translate_error(exc, settings, doing) from exc

    sql = plan.select_sql(chunk_where_sql(schema, chunk))
    parts: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in fetch_arrow(settings, sql, doing=doing, batch_rows=fetch_rows):
        while batch.num_rows:
            part, batch = batch.slice(0, batch_rows - rows), batch.slice(batch_rows - rows)
            parts.append(part)
            rows += part.num_rows
            size += part.nbytes
            if rows >= batch_rows or (batch_bytes is not None and size >= batch_bytes):
                yield canonical(parts)
                parts, rows, size = [], 0, 0
    if parts:
        yield canonical(parts)
