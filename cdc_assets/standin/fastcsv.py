"""The fast path of a CSV Stream Load body: Arrow's CSV reader and vectorised checks instead of the per-row
reader (:func:`cdc_assets.standin.bodies.split_csv`) and converters, for bodies in which every row is clean.

:func:`fast_csv_rows` answers None - "take the exact path" - whenever anything could come out otherwise
than on the exact path, so rejected rows, error-log lines, ``max_filter_ratio`` and whole-load failures
always come from the exact path, and a fast result holds exactly the values the exact path would hand to
the store. Taken only for one-byte ASCII ``column_separator`` and ``enclose``, ``row_delimiter`` ``\\n``,
no ``escape``, ``skip_header`` or ``trim_space``, and a body without ``\\r`` (Arrow ends a line there),
NUL or a leading UTF-8 BOM (Arrow drops it); a body Arrow refuses (a row of another field count, invalid
UTF-8) goes the exact way. Within a transaction (``final`` false) the body must end with a complete record,
as StarRocks asks: a record left open (an unterminated enclosed field) would continue in the next load.

Fields are read as text (``\\N`` unenclosed is NULL, as on the exact path) and each target column is
taken only in the spelling its canonical text has, checked by converting and printing the value again
(integers in plain digits, DOUBLE in the shortest text that reads back, DATE ``YYYY-MM-DD``, DATETIME
``YYYY-MM-DD HH:MM:SS.ffffff``, BOOLEAN ``true``/``false``), or by a strict pattern (DECIMAL with at most the
column's digits, VARBINARY hex); anything else - another spelling, a string too long, a NULL in a NOT NULL
column, year 0000, an oversized key - sends the body the exact way. JSON columns are converted by the
exact path's own function, value by value.

The result is an Arrow table of the shape :func:`cdc_assets.standin.fastload.fast_json_rows` returns: one
column per target (LARGEINT as text) plus :data:`fastload.OP_FIELD`, in body order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from cdc_assets.standin import convert
from cdc_assets.standin.catalog import ColumnMeta, TableMeta
from cdc_assets.standin.fastload import _LARGEINT_META, OP_FIELD

if TYPE_CHECKING:
    from cdc_assets.standin.loads import LoadPlan

_BOM = b"\xef\xbb\xbf"
_STR = pa.string()
_INT_TYPES = {"TINYINT": pa.int8(), "SMALLINT": pa.int16(), "INT": pa.int32(), "BIGINT": pa.int64()}
#: LARGEINT texts of up to 38 characters (Arrow's widest decimal) are checked here; longer ones go the exact way
_LARGEINT_DECIMAL = pa.decimal128(38, 0)
_DATETIME_TEXT_LEN = len("2024-01-01 00:00:00.000000")


class _Fallback(Exception):
    """Something in the body needs the exact path."""


def _usable(plan: LoadPlan) -> bool:
    sep, enclose = plan.column_separator, plan.enclose
    # one ASCII byte each, apart from line ends, NUL and the characters of \N
    if len(sep) != 1 or not sep.isascii() or sep in "\r\n\x00\\N":
        return False
    if enclose is not None and (not enclose.isascii() or enclose in "\r\n\x00\\N" or enclose == sep):
        return False
    return (
        plan.row_delimiter == "\n"
        and plan.escape is None
        and plan.skip_header == 0
        and not plan.trim_space
        and len(set(plan.sources)) == len(plan.sources)
    )


def _read(plan: LoadPlan, data: bytes) -> pa.Table:
    """The body's fields as text (NULL for a bare ``\\N``), one column per source field."""
    n = len(plan.sources)
    names = [f"f{i}" for i in range(n)]
    # A record of NULLs after the body: it comes back as the last row only when the body's last record is
    # complete; inside an unterminated enclosed field it is swallowed as text.
    sep = plan.column_separator.encode()
    sentinel = sep.join([b"\\N"] * n) + b"\n"
    text = data if data.endswith(b"\n") else data + b"\n"
    try:
        table = pcsv.read_csv(
            pa.py_buffer(text + sentinel),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pcsv.ParseOptions(
                delimiter=plan.column_separator,
                quote_char=plan.enclose or False,
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, _STR),
                null_values=["\\N"],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise _Fallback(str(e)) from None
    last = table.slice(table.num_rows - 1) if table.num_rows else table
    if table.num_rows < 2 or any(col.null_count != 1 for col in last.columns):
        raise _Fallback("the body's last record is not complete, or the body holds no record")
    return table.slice(0, table.num_rows - 1)


def _all(mask: pa.ChunkedArray | pa.Array) -> bool:
    """True when no value of ``mask`` is false (a NULL is a NULL field's, which the caller checks)."""
    return bool(pc.all(mask).as_py() is not False)


def _same_text(values: pa.ChunkedArray, text: pa.ChunkedArray) -> bool:
    """True when every value prints as the text it was read from (NULLs aside)."""
    return _all(pc.equal(pc.cast(values, _STR), text))


def _cast(text: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    try:
        return pc.cast(text, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise _Fallback(str(e)) from None


def _max_bytes_ok(text: pa.ChunkedArray, limit: int | None) -> bool:
    if limit is None or text.null_count == len(text):
        return True
    return (pc.max(pc.binary_length(text)).as_py() or 0) <= limit


def _unhex(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Hex texts (every one checked: pairs of hex digits) -> their bytes: each chunk's value buffer in one
    ``bytes.fromhex`` call, with the offsets halved."""
    out = []
    for chunk in pc.cast(text, pa.large_string()).chunks:
        _, offsets_buf, data = chunk.buffers()
        offsets = np.frombuffer(offsets_buf, np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        raw = bytes(memoryview(data)[offsets[0] : offsets[-1]]) if data is not None else b""
        halved = pa.py_buffer(((offsets - offsets[0]) // 2).astype(np.int64).tobytes())
        values = pa.Array.from_buffers(
            pa.large_binary(), len(chunk), [None, halved, pa.py_buffer(bytes.fromhex(raw.decode()))]
        )
        out.append(pc.if_else(chunk.is_valid(), values, pa.scalar(None, pa.large_binary())))
    return pc.cast(pa.chunked_array(out, pa.large_binary()), pa.binary())


def _value(col: ColumnMeta, text: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column's values of the texts, exactly as :func:`convert.from_text` gives them; _Fallback for
    any text it might read otherwise or refuse."""
    t = col.type
    name = t.name
    if name in ("CHAR", "VARCHAR"):
        if not _max_bytes_ok(text, t.length):
            raise _Fallback(f"a value of {col.name} is too long")
        return text
    if name == "BOOLEAN":
        if not _all(pc.or_(pc.is_null(text), pc.is_in(text, pa.array(["true", "false"])))):
            raise _Fallback(f"a value of {col.name} is not true or false")
        return pc.equal(text, "true")
    if name in _INT_TYPES:
        values = _cast(text, _INT_TYPES[name])
        if not _same_text(values, text):
            raise _Fallback(f"a value of {col.name} is not in plain digits")
        return values
    if name == "LARGEINT":
        # Arrow's decimal cast does not hold a text to the precision: at most 38 characters, sign included,
        # keep the value below 10**38, inside LARGEINT's +-(2**127 - 1)
        if not _max_bytes_ok(text, 38):
            raise _Fallback(f"a value of {col.name} has more than 38 characters")
        values = _cast(text, _LARGEINT_DECIMAL)
        if not _same_text(values, text):
            raise _Fallback(f"a value of {col.name} is not in plain digits")
        return text
    if name in ("FLOAT", "DOUBLE"):
        values = _cast(text, pa.float64())
        if not _same_text(values, text) or not _all(pc.is_finite(values)):
            raise _Fallback(f"a value of {col.name} is not the shortest text of a finite number")
        return values
    if name == "DECIMAL":
        p, s = int(t.precision or 10), int(t.scale or 0)
        whole = rf"[0-9]{{1,{p - s}}}" if p > s else "0"  # DECIMAL(5,5) holds 0.xxxxx only
        frac = rf"(\.[0-9]{{1,{s}}})?" if s else ""
        if not _all(pc.match_substring_regex(text, rf"^-?{whole}{frac}$")):
            raise _Fallback(f"a value of {col.name} has more digits than the column or another spelling")
        return _cast(text, pa.decimal128(p, s))
    if name in ("DATE", "DATETIME"):
        typ, width = (pa.date32(), 10) if name == "DATE" else (pa.timestamp("us"), _DATETIME_TEXT_LEN)
        values = _cast(text, typ)
        ok = pc.and_(pc.equal(pc.binary_length(text), width), pc.invert(pc.starts_with(text, "0000")))
        if not (_all(ok) and _same_text(values, text)):
            raise _Fallback(f"a value of {col.name} is not in the canonical spelling of years 0001..9999")
        return values
    if name == "VARBINARY":
        if not _all(pc.match_substring_regex(text, r"^(?:[0-9A-Fa-f]{2})*$")):
            raise _Fallback(f"a value of {col.name} is not hex")
        values = _unhex(text)
        if not _max_bytes_ok(values, t.length):
            raise _Fallback(f"a value of {col.name} is too long")
        return values
    if name == "JSON":
        out = []
        for v in text.to_pylist():
            try:
                out.append(None if v is None else convert.from_text(col, v))
            except ValueError as e:  # Unconvertible, Rejected: the exact path says it
                raise _Fallback(str(e)) from None
        return pa.chunked_array([pa.array(out, _STR)])
    raise _Fallback(f"{col.name} has type {name}, which the fast path does not read")


def _op(plan: LoadPlan, fields: dict[str, pa.ChunkedArray], n: int) -> pa.ChunkedArray:
    if plan.op_source is None:
        return pa.chunked_array([pa.array(np.full(n, plan.op_const or 0, np.int8))])
    text = fields[plan.op_source]
    if not _all(pc.or_(pc.is_null(text), pc.is_in(text, pa.array(["0", "1"])))):
        raise _Fallback("an __op value is not 0 or 1")
    return pc.cast(pc.fill_null(text, "0"), pa.int8())


def _check_keys(table: TableMeta, values: dict[str, pa.ChunkedArray]) -> None:
    """The encoded key size (:func:`convert.key_size`) of every row within the limit."""
    size = 0
    lengths: list[pa.ChunkedArray] = []
    for name in table.key:
        col = table.column(name)
        assert col is not None
        if col.type.name in convert._FIXED_KEY_WIDTH:
            size += convert._FIXED_KEY_WIDTH[col.type.name]
        elif col.type.name in ("CHAR", "VARCHAR"):
            lengths.append(pc.cast(pc.binary_length(values[col.name]), pa.int64()))
        else:
            raise _Fallback(f"key column {col.name} has type {col.type.name}")
    if lengths:
        total = lengths[0]
        for more in lengths[1:]:
            total = pc.add(total, more)
        size += pc.max(total).as_py() or 0
    if size > convert.KEY_SIZE_LIMIT:
        raise _Fallback("a key is over the size limit")


def fast_csv_rows(plan: LoadPlan, data: bytes, *, final: bool) -> pa.Table | None:
    """The converted rows of a clean CSV body, or None when the exact path must read it. ``final``: the
    data ends here (a plain Stream Load, or a transaction's last data), else the body must end with a
    complete record."""
    if not data or not _usable(plan):
        return None
    if b"\r" in data or b"\x00" in data or data.startswith(_BOM) or (not final and not data.endswith(b"\n")):
        return None
    try:
        read = _read(plan, data)
        fields = dict(zip(plan.sources, read.columns, strict=True))
        columns = {c.name: c for c in plan.table.columns}
        values: dict[str, pa.ChunkedArray] = {}
        for target, source in plan.targets:
            col = columns[target]
            text = fields[source]
            if not col.nullable and text.null_count:
                raise _Fallback(f"NULL in NOT NULL column {target}")
            values[target] = _value(col, text)
        if any(k not in values for k in plan.key):
            raise _Fallback("a key column the body does not carry")
        _check_keys(plan.table, values)
        op = _op(plan, fields, read.num_rows)
    except _Fallback:
        return None
    out_fields, arrays = [], []
    for target, _ in plan.targets:
        typ = values[target].type
        meta = _LARGEINT_META if columns[target].type.name == "LARGEINT" else None
        out_fields.append(pa.field(target, typ, metadata=meta))
        arrays.append(values[target])
    out_fields.append(pa.field(OP_FIELD, pa.int8()))
    arrays.append(op)
    return pa.Table.from_arrays(arrays, schema=pa.schema(out_fields))
