"""The fast path of a JSON Stream Load body: DuckDB's JSON reader and vectorised checks instead of Python
per row, for bodies in which every row is clean.

:func:`fast_json_rows` reads the body (a JSON array of objects, ``strip_outer_array``) with DuckDB's
``read_json``, each source key as a JSON value, and converts every target column in one SQL statement that
also says, per row, whether the value is one the exact path (:mod:`cdc_assets.standin.convert`) would take
as it is. It answers None - "take the exact path" - whenever anything is off: a key the plan does not know
(or knows only case-insensitively), a value of another JSON type than the column's plain one, a string
too long, a NULL in a NOT NULL column, a number out of range, a DECIMAL that would need rounding, a date
in year 0000 or in a spelling other than ``YYYY-MM-DD[ HH:MM:SS[.ffffff]]``, an oversized key, a body
DuckDB refuses (bad JSON, invalid UTF-8, lone surrogates, duplicate keys) ... So rejected rows, error-log
lines and whole-load failures always come from the exact path, and a fast result holds exactly the
values the exact path would hand to the store.

The result is an Arrow table: one column per target (the carriers of :func:`store._arrow_array`:
LARGEINT as text, JSON as StarRocks' normalized text) plus :data:`OP_FIELD`, in body order.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from cdc_assets.core.sql import quote_ident
from cdc_assets.standin import convert
from cdc_assets.standin.catalog import ColumnMeta, TableMeta

#: the op column of a fast part (0 upsert, 1 delete); not a name a StarRocks column can have
OP_FIELD = "__standin_op"
_OK = "__standin_ok"
_SHM = "/dev/shm"
#: JSON numbers at or beyond this size may be rewritten by DuckDB's reader (as doubles), unlike Python's
_EXACT_INT_LIMIT = Decimal(2**63)
_INT_DUCK = {"TINYINT": "TINYINT", "SMALLINT": "SMALLINT", "INT": "INTEGER", "BIGINT": "BIGINT"}
_HOUR_MIN_SEC = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_DATETIME_RE = _DATE_RE + r"(?:[ T]" + _HOUR_MIN_SEC + r"(?:\.\d{1,6})?)?"
#: marks a LARGEINT column of a fast part (carried as text, as Arrow has no 128-bit integer)
_LARGEINT_META = {b"standin": b"largeint"}


class _Fallback(Exception):
    """Something in the body needs the exact path."""


def _lit(text: str) -> str:
    """A SQL string literal for a constant the stand-in itself writes (patterns, type names)."""
    return "'" + text.replace("'", "''") + "'"


def _column_sql(col: ColumnMeta, src: str) -> tuple[str, str] | None:
    """(value expression, clean-row condition) for target ``col`` fed by JSON column ``src``; None when
    the column's type has no fast conversion."""
    s = quote_ident(src, "duckdb")
    # DuckDB hands each value over as JSON text it wrote itself (yyjson): a string starts with '"', an
    # integer is digits with an optional '-', a number starts with neither quote, letter nor bracket
    is_str = f"starts_with({s}, '\"')"
    is_int = f"regexp_full_match({s}, '-?[0-9]+')"
    is_num = f"left({s}, 1) NOT IN ('\"', 't', 'f', 'n', 'N', 'I', '[', '{{')"
    text = f"CAST({s} AS VARCHAR)"
    unq = f"({s} ->> '$')"
    t = col.type
    name = t.name
    if name in ("CHAR", "VARCHAR"):
        value, ok = unq, f"{is_str} AND strlen({unq}) <= {int(t.length or 0)}"
    elif name == "BOOLEAN":
        value, ok = f"({text} = 'true')", f"{text} IN ('true', 'false')"
    elif name in _INT_DUCK:
        value = f"TRY_CAST({text} AS {_INT_DUCK[name]})"
        ok = f"{is_int} AND {value} IS NOT NULL"
    elif name == "LARGEINT":
        big = f"TRY_CAST({text} AS HUGEINT)"
        value = f"CAST({big} AS VARCHAR)"
        ok = f"{is_int} AND {big} IS NOT NULL"
    elif name in ("FLOAT", "DOUBLE"):
        value = f"TRY_CAST({text} AS DOUBLE)"
        ok = f"{is_num} AND isfinite({value})"
    elif name == "DECIMAL":
        p, sc = int(t.precision or 10), int(t.scale or 0)
        if p <= sc:
            return None
        raw = f"(CASE WHEN {is_str} THEN {unq} ELSE {text} END)"
        frac = rf"(?:\.\d{{0,{sc}}})?" if sc else r"\.?"
        pattern = _lit(rf"[+-]?\d{{1,{p - sc}}}{frac}")
        value = f"TRY_CAST({raw} AS DECIMAL({p},{sc}))"
        ok = f"({is_str} OR {is_int}) AND regexp_full_match({raw}, {pattern}) AND {value} IS NOT NULL"
    elif name in ("DATE", "DATETIME"):
        duck, pattern = ("DATE", _DATE_RE) if name == "DATE" else ("TIMESTAMP", _DATETIME_RE)
        value = f"TRY_CAST({unq} AS {duck})"
        ok = (
            f"{is_str} AND regexp_full_match({unq}, {_lit(pattern)}) "
            f"AND NOT starts_with({unq}, '0000') AND {value} IS NOT NULL"
        )
    elif name == "JSON":
        value, ok = text, "true"  # normalized in Python afterwards (_normalized_json)
    else:
        return None
    null_ok = "true" if col.nullable else "false"
    return value, f"(CASE WHEN {s} IS NULL THEN {null_ok} ELSE ({ok}) END)"


def _op_sql(op_source: str) -> tuple[str, str]:
    s = quote_ident(op_source, "duckdb")
    text = f"CAST({s} AS VARCHAR)"
    value = f"CAST(COALESCE({text}, '0') AS TINYINT)"
    ok = f"({s} IS NULL OR {text} IN ('0', '1'))"
    return value, ok


def _key_size_sql(key: Sequence[ColumnMeta], values: dict[str, str]) -> str:
    """The encoded key size of a row (:func:`convert.key_size`) as SQL."""
    parts = [str(sum(convert._FIXED_KEY_WIDTH.get(c.type.name, 0) for c in key))]
    for c in key:
        if c.type.name not in convert._FIXED_KEY_WIDTH and c.type.name in ("CHAR", "VARCHAR"):
            parts.append(f"COALESCE(strlen({values[c.name]}), 0)")
        elif c.type.name not in convert._FIXED_KEY_WIDTH:
            return "NULL"  # JSON or VARBINARY keys: no fast path
    return " + ".join(parts)


def _plain_json(value: Any) -> Any:
    """:func:`convert.normalize_json`'s value, or _Fallback for a number DuckDB may have rewritten."""
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value) >= _EXACT_INT_LIMIT:
            raise _Fallback
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise _Fallback
    if isinstance(value, dict):
        return {k: _plain_json(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_plain_json(x) for x in value]
    return value


def _normalized_json(col: ColumnMeta, texts: pa.Array) -> pa.Array:
    out: list[str | None] = []
    for text in texts.to_pylist():
        if text is None:
            out.append(None)
            continue
        try:
            plain = _plain_json(convert.parse_json(text))
            out.append(convert.from_json(col, plain))
        except (ValueError, convert.Rejected) as e:  # NaN, a value too large, ...: the exact path says it
            raise _Fallback from e
    return pa.array(out, type=pa.string())


def _body_keys(con: duckdb.DuckDBPyConnection, path: str) -> list[str]:
    """Every key of the body's objects, exactly as written (DuckDB's reader, given ``columns``, would
    ignore the others, and it matches names case-sensitively where the exact path does not)."""
    rows = con.execute(
        "SELECT k FROM (SELECT unnest(json_keys(json)) AS k FROM read_json_objects(?, format='array')) GROUP BY k",
        [path],
    ).fetchall()
    return [r[0] for r in rows]


def fast_json_rows(
    table: TableMeta,
    data: bytes,
    sources: Sequence[str],
    targets: Sequence[tuple[str, str]],
    op_const: int | None,
    op_source: str | None,
) -> pa.Table | None:
    """The converted rows of a clean JSON-array body, or None when the exact path must read it."""
    stripped = data.lstrip(b" \t\r\n")
    if not stripped.startswith(b"[") or b"\\u0000" in data:
        return None
    lowered = [s.lower() for s in sources]
    if len(set(lowered)) != len(lowered):
        return None
    columns = {c.name: c for c in table.columns}
    exprs: list[str] = []
    oks: list[str] = []
    values: dict[str, str] = {}
    for target, source in targets:
        col = columns[target]
        sql = _column_sql(col, source)
        if sql is None:
            return None
        values[target] = sql[0]
        exprs.append(f"{sql[0]} AS {quote_ident(target, 'duckdb')}")
        oks.append(sql[1])
    if op_source is not None:
        op_value, op_ok = _op_sql(op_source)
        oks.append(op_ok)
    else:
        op_value = f"CAST({int(op_const or 0)} AS TINYINT)"
    key = [columns[k] for k in (table.column(k).name for k in table.key)]  # type: ignore[union-attr]
    if any(c.name not in values for c in key):
        return None  # a key column the body does not carry: NULL keys, which the exact path rejects
    size = _key_size_sql(key, values)
    oks.append(f"COALESCE(({size}) <= {convert.KEY_SIZE_LIMIT}, false)")
    exprs.append(f"{op_value} AS {quote_ident(OP_FIELD, 'duckdb')}")
    exprs.append(f"COALESCE({' AND '.join(oks)}, false) AS {quote_ident(_OK, 'duckdb')}")
    path = _spill(data)
    if path is None:
        return None
    con = duckdb.connect(":memory:")
    try:
        return _read(con, path, table, sources, targets, exprs)
    except (_Fallback, duckdb.Error):
        return None
    finally:
        con.close()
        os.unlink(path)


def _spill(data: bytes) -> str | None:
    """The body in a file DuckDB's reader can open: in RAM (/dev/shm) where there is room, else in the
    temp folder; None when neither takes it (the exact path then reads the body from memory)."""
    for folder in (_SHM, None):
        if folder is not None and not os.access(folder, os.W_OK):
            continue
        try:
            fd, path = tempfile.mkstemp(prefix="standin-load-", suffix=".json", dir=folder)
        except OSError:
            continue
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return path
        except OSError:
            os.unlink(path)
    return None


def _read(
    con: duckdb.DuckDBPyConnection,
    path: str,
    table: TableMeta,
    sources: Sequence[str],
    targets: Sequence[tuple[str, str]],
    exprs: list[str],
) -> pa.Table | None:
    if not set(_body_keys(con, path)) <= set(sources):
        return None
    spec = {s: "JSON" for s in sources}
    sql = f"SELECT {', '.join(exprs)} FROM read_json(?, format='array', records=true, columns=?)"
    rel = con.sql(sql, params=[path, spec])
    result = (getattr(rel, "to_arrow_table", None) or rel.arrow)()  # duckdb 2.x / 1.x
    if result.num_rows == 0 or not pc.all(result[_OK]).as_py():
        return None
    result = result.drop_columns([_OK])
    for target, _ in targets:
        col = table.column(target)
        assert col is not None
        i = result.schema.get_field_index(target)
        if col.type.name == "JSON":
            result = result.set_column(i, target, _normalized_json(col, result[target].combine_chunks()))
        elif col.type.name == "LARGEINT":
            result = result.set_column(
                i, pa.field(target, pa.string(), metadata=_LARGEINT_META), result[target]
            )
    return result


def table_ops(part: pa.Table) -> list[tuple[int, dict[str, Any]]]:
    """A fast part as the exact path's (op, row) pairs, with the same Python values."""
    ops = part[OP_FIELD].to_pylist()
    data = part.drop_columns([OP_FIELD])
    big = [f.name for f in data.schema if pa.types.is_string(f.type) and f.metadata == _LARGEINT_META]
    rows = data.to_pylist()
    for row in rows:
        for name in big:
            if row[name] is not None:
                row[name] = int(row[name])
    return list(zip(ops, rows, strict=True))
