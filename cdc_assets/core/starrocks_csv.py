"""Arrow snapshot chunks -> CSV Stream Load bodies written by Arrow's C++ CSV writer (``pyarrow.csv``).

The JSON bodies of :func:`cdc_assets.core.starrocks_arrow.encode_arrow` build every row's text with
``pyarrow.compute`` joins; Arrow's CSV writer formats numbers, dates and date-times itself and quotes
strings in one pass, several times cheaper, and StarRocks parses CSV faster than JSON too.

The layout is RFC 4180 as StarRocks documents its ``enclose`` option (Stream Load docs, ``enclose``:
"If a field value contains an enclose-specified character, you can use the same character to escape
that enclose-specified character"): fields separated by ``,``, rows ended by ``\\n``, every string
enclosed in ``"``, no ``escape`` header (so a backslash is an ordinary character), NULL a bare ``\\N``,
and no ``__op`` field: a ``columns`` header without ``__op`` makes every CSV row an upsert (StarRocks
``Load.initColumns``), which is all a snapshot chunk holds. Numbers, dates and
date-times are bare, in Arrow's text: integers in digits, DOUBLE as the shortest text that reads back
exactly (``0.1``, ``1e+20``; FLOAT widened to DOUBLE first, as its canonical value is), DECIMAL with the
column's scale (``12.30``), DATE ``YYYY-MM-DD``, DATETIME ``YYYY-MM-DD HH:MM:SS.ffffff`` (always six
digits, which StarRocks reads), BOOLEAN ``true``/``false``. DECIMALs of scale above 6 (where Arrow would
write ``1E-7``), VARBINARY (upper-case hex), TIME and the VARCHAR key remaps are written as the texts
``encode`` writes, enclosed.

A chunk is written this way only when every value's text is unambiguous in StarRocks' CSV reader; else
:func:`csv_bodies` answers None and the sink writes the chunk as before (``encode_arrow``), which also
raises the errors a chunk may need (a NULL or too long key, a value over its column). Not written as CSV:

- a JSON column: JSON bodies embed each document as a JSON value, and every chunk of a table should load
  the same way (most documents hold quotes anyway);
- a string holding ``"``: StarRocks' reader misreads a value that starts with a doubled enclose character
  (the field ``"`` ``""a"`` for the value ``"a``: BE ``CSVReader::more_rows`` takes the opening pair for an
  empty or escaped field and then loses the field's end), so quotes are never sent doubled;
- a string holding NUL (the reader's "no escape character" is NUL) or equal to ``\\N``: StarRocks takes
  ``\\N`` for NULL even when it is enclosed (the enclose characters are stripped before the NULL test);
- NaN or infinity, a date-time outside the years 1..9999, a column of an Arrow type the kind does not
  expect, and everything :func:`cdc_assets.core.starrocks_arrow.fallback_reason` names.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from cdc_assets.core import starrocks_arrow as sa
from cdc_assets.core.starrocks_load import _scale
from cdc_assets.core.starrocks_types import SrColumn, SrTable

__all__ = ["csv_bodies", "csv_layout_allowed", "csv_unsafe_reason"]

#: the user ``sink.properties`` that describe a body's layout: with any of them set, the user's layout
#: rules, and chunks are written as before
_LAYOUT_KEYS = frozenset(
    {"column_separator", "row_delimiter", "enclose", "escape", "skip_header", "trim_space"}
)
_WRITE_OPTIONS = pcsv.WriteOptions(
    include_header=False, quoting_style="needed", null_string="\\N", delimiter=","
)
#: decimals of a larger scale may be written by Arrow in scientific notation (``1E-7``)
_PLAIN_DECIMAL_SCALE = 6
_QUOTE, _NUL = 0x22, 0x00


class _Unsafe(Exception):
    """The chunk is not written as CSV; the message says why."""


def csv_layout_allowed(properties: Mapping[str, str]) -> bool:
    """True when ``sink.properties`` leave the body layout to cdc_assets (no separator, enclose, escape,
    ... of the user's, and no format other than csv), so that snapshot chunks may be written as these
    CSV bodies."""
    for k, v in properties.items():
        key = str(k).lower()
        if key in _LAYOUT_KEYS or (key == "format" and str(v).lower() != "csv"):
            return False
    return True


def _has_bytes(arr: pa.ChunkedArray, *values: int) -> bool:
    """True when a value of the string column ``arr`` holds any of the bytes ``values`` (one vectorized
    comparison over each chunk's value buffer)."""
    offset_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    for chunk in arr.chunks:
        _, offsets_buf, data = chunk.buffers()
        if data is None or len(chunk) == 0:
            continue
        offsets = np.frombuffer(offsets_buf, offset_type)
        first, last = int(offsets[chunk.offset]), int(offsets[chunk.offset + len(chunk)])
        view = np.frombuffer(data, np.uint8)[first:last]
        if any(bool((view == v).any()) for v in values):
            return True
    return False


def _string(c: SrColumn, arr: pa.ChunkedArray) -> pa.ChunkedArray:
    sa._is(arr, c, sa._is_text)
    if _has_bytes(arr, _QUOTE, _NUL):
        raise _Unsafe(f"a value of column {c.name} holds a double quote or NUL")
    if pc.any(pc.equal(arr, "\\N")).as_py():
        raise _Unsafe(
            f"a value of column {c.name} is the text \\N, which StarRocks' CSV reader takes for NULL"
        )
    return arr


def _in_years(us: pa.ChunkedArray, c: SrColumn) -> None:
    lo, hi = pc.min_max(us).values()
    if lo.is_valid and (lo.as_py() < sa._MIN_US or hi.as_py() >= sa._MAX_US):
        raise _Unsafe(f"a value of column {c.name} lies outside the years 1..9999")


def _column(c: SrColumn, arr: pa.ChunkedArray, tz: _dt.tzinfo) -> pa.ChunkedArray:
    """The column as Arrow's CSV writer should write it (strings are enclosed, other types bare)."""
    kind = c.kind
    if kind == "string":
        return _string(c, arr)
    if kind == "json":
        # A JSON body embeds the document as a JSON value (its `null` a SQL NULL), CSV as text (a JSON
        # null): chunks of one table would differ by which layout their values allowed.
        raise _Unsafe(f"column {c.name} is JSON, which the sink loads as a JSON value")
    if kind == "int":
        sa._is(arr, c, pa.types.is_integer, pa.types.is_boolean)
        return pc.cast(arr, pa.int8()) if pa.types.is_boolean(arr.type) else arr
    if kind == "bool":
        sa._is(arr, c, pa.types.is_integer, pa.types.is_boolean)
        return arr if pa.types.is_boolean(arr.type) else pc.not_equal(arr, pa.scalar(0, arr.type))
    if kind == "float":
        sa._is(arr, c, pa.types.is_floating)
        arr = pc.cast(arr, pa.float64())  # exact: the canonical value is the widened float
        if arr.null_count < len(arr) and not pc.all(pc.is_finite(arr)).as_py():
            raise _Unsafe(f"column {c.name} holds NaN or infinity")
        return arr
    if kind == "decimal":
        sa._is(arr, c, pa.types.is_decimal)
        scale = _scale(c)
        if arr.type.scale != scale:
            raise _Unsafe(f"column {c.name} has Arrow scale {arr.type.scale}, not the column's {scale}")
        return arr if scale <= _PLAIN_DECIMAL_SCALE else sa._decimal_text(arr, scale)
    if kind == "date":
        sa._is(arr, c, pa.types.is_date32)
        return arr
    if kind == "datetime":
        sa._is(arr, c, sa._is_us_timestamp(tz=False))
        _in_years(sa._micros(arr), c)
        return arr
    if kind == "timestamp":
        sa._is(arr, c, sa._is_us_timestamp(tz=True))
        wall = sa._in_zone(sa._micros(arr), tz)
        _in_years(wall, c)
        return pc.cast(wall, pa.timestamp("us"))
    if kind == "binary":
        sa._is(arr, c, sa._is_bytes)
        return sa._hex(arr)
    return sa._remap_text(c, arr)  # ASCII texts without quotes: TIME, decimal/float/hex key remaps


def _columns(t: SrTable, table: pa.Table, tz: _dt.tzinfo) -> list[pa.ChunkedArray]:
    sa._check_columns(t, table)
    columns = [table.column(p) for p in t.source_positions]
    try:
        sa._check_sizes(t, columns)
        sa._check_keys(t, columns)
        return [_column(c, arr, tz) for c, arr in zip(t.columns, columns, strict=True)]
    except sa._Fallback as e:
        raise _Unsafe(str(e)) from None


def _write(table: pa.Table) -> bytes:
    out = pa.BufferOutputStream()
    pcsv.write_csv(table, out, _WRITE_OPTIONS)
    return out.getvalue().to_pybytes()


def _pieces(table: pa.Table, max_bytes: int) -> list[tuple[bytes, int]]:
    """Bodies of whole rows of at most ``max_bytes`` (a single larger row goes alone): the rows are cut in
    as many even slices as the whole body's size asks for, and a slice still too large is cut again."""
    body = _write(table)
    n = table.num_rows
    if len(body) <= max_bytes or n == 1:
        return [(body, n)]
    parts = min(n, max(2, math.ceil(len(body) / max_bytes * 1.1)))
    step = math.ceil(n / parts)
    out: list[tuple[bytes, int]] = []
    for start in range(0, n, step):
        out += _pieces(table.slice(start, step), max_bytes)
    return out


def csv_unsafe_reason(t: SrTable, table: pa.Table, *, time_zone: _dt.tzinfo) -> str | None:
    """Why :func:`csv_bodies` would not write ``table`` as CSV, or None when it would."""
    try:
        _columns(t, table, time_zone)
    except _Unsafe as e:
        return str(e)
    return None


def csv_bodies(
    t: SrTable, table: pa.Table, *, time_zone: _dt.tzinfo, max_bytes: int
) -> list[tuple[bytes, int]] | None:
    """CSV Stream Load bodies upserting the rows of ``table`` (a canonical chunk: ``t``'s source columns in
    source order), as ``(body, rows)`` pieces of at most ``max_bytes`` in row order, for the headers of
    ``load_headers(t, LoadFormat.CSV, ..., doubled_quotes=True)``; None when a value has no unambiguous
    CSV text (see the module docstring and :func:`csv_unsafe_reason`).

    TIMESTAMP values are shown in ``time_zone``. SchemaError for a table of other columns.
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
    if table.num_rows == 0:
        return []
    try:
        columns = _columns(t, table, time_zone)
    except _Unsafe:
        return None
    names = [f"c{i}" for i in range(len(columns))]
    return _pieces(pa.Table.from_arrays(columns, names=names), max_bytes)
