"""Arrow tables -> the same Stream Load bodies as :func:`cdc_assets.core.starrocks_load.encode`, vectorized.

A snapshot chunk arrives as a canonical Arrow table (the schema of ``DuckDBSink.arrow_schema``: source
column order, the types of :func:`cdc_assets.core.types.arrow_type`). :func:`encode_arrow` builds each
column's text with ``pyarrow.compute`` (one pass per column and operation, no Python loop per row),
joins the columns of each row element-wise into one line, and cuts pieces out of the lines' single
contiguous buffer at row boundaries found by binary search over the lines' offsets (which are the
cumulative line lengths). The bodies are byte for byte those of ``encode`` for the rows
``table.to_pylist()`` gives; ``cdc_assets_tests/test_arrow_write.py`` checks that for every
:attr:`SrColumn.kind`, both formats and small ``max_bytes``.

How each text is matched exactly:

- FLOAT/DOUBLE: Arrow prints the shortest round-trip digits, as ``repr`` does, but in another layout
  (``1`` for ``1.0``, ``1e+15`` for ``1000000000000000.0``, ``2.5e-7`` for ``2.5e-07``); the digits and
  the decimal exponent are taken apart and laid out as ``repr`` does (fixed notation for exponents -4..16).
  A FLOAT column (float32) is widened to float64 first, as its canonical Python value is.
- DECIMAL: Arrow prints ``-1E-15`` where ``format(v, ".15f")`` prints ``-0.000000000000001``; those
  rows (adjusted exponent below -6) are rebuilt from the digits.
- DATETIME: Arrow always prints 6 fraction digits; ``.000000`` is dropped, as ``str(datetime)`` does.
- TIMESTAMP in a load zone other than UTC: the zone's UTC offsets are computed with the tzinfo itself
  (``astimezone``, as ``encode`` does), sampled at every UTC midnight of the data's years and bisected
  to the microsecond where they change; each value then gets its offset by binary search. Two changes
  within one UTC day would be missed: no zone of the tz database has them between 1970 and 2040 (the
  closest two are 7 days apart, America/Cambridge_Bay in 2000).
- JSON strings: ``"`` and ``\\`` escaped, then the control characters U+0000..U+001F as
  ``json.encoder.encode_basestring`` writes them (``\\n``, ``\\u001f``), only when the column has any.
- VARBINARY and binary keys: the column's value buffer in one ``bytes.hex()`` call, offsets doubled.

Fallback: a table that needs an error (a NULL or too long key, a value over its StarRocks column, a
JSON body for a VARBINARY column), or holds something the vectorized path does not reproduce (a
column whose Arrow type is not the one its kind expects, NaN or infinity, a DECIMAL whose scale differs
from the column's, a timestamp outside the years 1..9999 after the zone shift), is encoded by
``encode()`` over its rows (``table.to_pylist()``, a Python loop per row) as a whole, so the output or
the error is exactly ``encode``'s. :func:`fallback_reason` says whether and why a table falls back.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import functools
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring  # type: ignore[attr-defined]

import numpy as np  # through pandas; for one binary search (pc.search_sorted needs pyarrow 22+)
import pyarrow as pa
import pyarrow.compute as pc

from cdc_assets.core.starrocks_load import (
    LoadFormat,
    _fsp,
    _is_utc,
    _scale,
    encode,
)
from cdc_assets.core.starrocks_types import (
    FIXED_KEY_BYTES,
    KEY_SIZE_LIMIT,
    SrColumn,
    SrTable,
    key_size_bounds,
    value_limit,
)
from cdc_assets.errors import SchemaError

__all__ = ["encode_arrow", "fallback_reason"]

_STR = pa.large_string()
_US_PER_DAY = 86_400_000_000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
#: the UTC offsets of a zone are tabulated for these years when the data lies within them (MySQL's
#: TIMESTAMP range), so one table per zone serves every chunk
_TIMESTAMP_YEARS = (1970, 2039)
#: the control characters as encode_basestring escapes them
_JSON_CONTROL = {
    chr(i): {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(chr(i), f"\\u{i:04x}")
    for i in range(0x20)
}


class _Fallback(Exception):
    """This table is encoded row by row by ``encode()``; the message says why."""


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, _STR)


def _join(*parts: pa.Array | pa.ChunkedArray | pa.Scalar | str, sep: str = "") -> pa.ChunkedArray:
    args = [_lit(p) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, _lit(sep))


def _quoted(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return _join('"', text, '"')


# ------------------------------------------------------------------------------------ value texts
def _ints(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_boolean(arr.type):  # int.__repr__(True) is '1'
        arr = pc.cast(arr, pa.int8())
    return pc.cast(arr, _STR)


def _bools(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pa.types.is_boolean(arr.type):  # BIT(1): any non-zero value is true
        arr = pc.not_equal(arr, pa.scalar(0, arr.type))
    return pc.cast(arr, _STR)  # 'true' / 'false'


_FLOAT_PARTS = r"^(?P<sign>-?)(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?(?:e(?P<exp>[-+][0-9]+))?$"


def _float_repr(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """``repr(float(v))`` of every value (NULL stays NULL): Arrow's text, laid out again where it differs."""
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64())  # exact for float32: the canonical value is the widened float
    if arr.null_count < len(arr) and not pc.all(pc.is_finite(arr)).as_py():
        raise _Fallback("a FLOAT/DOUBLE column holds NaN or infinity")
    text = pc.cast(arr, _STR)
    has_dot, has_e = pc.match_substring(text, "."), pc.match_substring(text, "e")
    # Arrow's text is already repr()'s when it has a fraction, no exponent, and a decimal point position
    # in -3..16: at most 3 zeros after '0.' (17 significant digits leave no fraction beyond 16 integer
    # digits; Arrow's integer part has no leading zero, its shortest fraction no trailing one).
    # Literal searches: a regular expression costs several times more.
    as_is = pc.and_(
        pc.and_(has_dot, pc.invert(has_e)),
        pc.invert(pc.or_(pc.starts_with(text, "0.0000"), pc.starts_with(text, "-0.0000"))),
    )
    # a whole number of at most 16 digits: repr() adds '.0'
    digits = pc.subtract(pc.binary_length(text), pc.cast(pc.starts_with(text, "-"), pa.int32()))
    whole = pc.and_(pc.invert(pc.or_(has_dot, has_e)), pc.less_equal(digits, 16))
    text = pc.if_else(whole, _join(text, ".0"), text)
    other = pc.fill_null(pc.invert(pc.or_(as_is, whole)), False)
    if not pc.any(other).as_py():
        return text
    relaid = _float_relayout(pc.filter(text, other))
    return pc.replace_with_mask(text.combine_chunks(), other.combine_chunks(), relaid.combine_chunks())


def _float_relayout(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Arrow's shortest round-trip text (``1``, ``1e+15``, ``2.5e-7``) -> ``repr``'s layout of the same
    digits: fixed notation with at least one fraction digit when the decimal point position ``decpt``
    (value = 0.<digits> x 10^decpt) is in -3..16, else ``d.ddde±XX``."""
    parts = pc.extract_regex(text, _FLOAT_PARTS)
    sign, int_part, frac, exp_text = (pc.struct_field(parts, n) for n in ("sign", "int", "frac", "exp"))
    exp = pc.cast(
        pc.if_else(pc.equal(exp_text, ""), _lit("0"), pc.replace_substring(exp_text, "+", "")), pa.int32()
    )
    all_digits = _join(int_part, frac)
    digits = pc.utf8_ltrim(all_digits, characters="0")
    leading = pc.cast(pc.subtract(pc.utf8_length(all_digits), pc.utf8_length(digits)), pa.int32())
    decpt = pc.subtract(pc.add(pc.cast(pc.utf8_length(int_part), pa.int32()), exp), leading)
    digits = pc.utf8_rtrim(digits, characters="0")
    n = pc.cast(pc.utf8_length(digits), pa.int32())

    first, rest = pc.utf8_slice_codeunits(digits, 0, 1), pc.utf8_slice_codeunits(digits, 1)
    e = pc.subtract(decpt, 1)
    scientific = _join(
        pc.if_else(pc.equal(rest, ""), first, _join(first, ".", rest)),
        pc.if_else(pc.less(e, 0), _lit("e-"), _lit("e+")),
        pc.utf8_lpad(pc.cast(pc.abs(e), _STR), width=2, padding="0"),
    )
    small = _join("0.", pc.binary_repeat(_lit("0"), pc.max_element_wise(pc.negate(decpt), 0)), digits)
    whole = _join(digits, pc.binary_repeat(_lit("0"), pc.max_element_wise(pc.subtract(decpt, n), 0)), ".0")
    middle = _split_at(digits, decpt, pc.and_(pc.greater(decpt, 0), pc.less(decpt, n)))
    body = pc.case_when(
        pc.make_struct(
            pc.equal(n, 0),
            pc.or_(pc.less_equal(decpt, -4), pc.greater(decpt, 16)),
            pc.less_equal(decpt, 0),
            pc.greater_equal(decpt, n),
        ),
        _lit("0.0"),
        scientific,
        small,
        whole,
        middle,
    )
    return _join(sign, body)


def _split_at(digits: pa.ChunkedArray, decpt: pa.ChunkedArray, mask: pa.ChunkedArray) -> pa.ChunkedArray:
    """``digits[:decpt] + '.' + digits[decpt:]`` where ``mask`` (else NULL); a loop over the distinct
    ``decpt`` values (1..16), not over rows."""
    out = pa.nulls(len(digits), _STR)
    if not pc.any(mask).as_py():
        return out
    for k in pc.unique(pc.filter(decpt, mask)).to_pylist():
        split = _join(pc.utf8_slice_codeunits(digits, 0, k), ".", pc.utf8_slice_codeunits(digits, k))
        out = pc.if_else(pc.and_(mask, pc.equal(decpt, k)), split, out)
    return out


def _decimal_text(arr: pa.ChunkedArray, scale: int) -> pa.ChunkedArray:
    """``format(v, f".{scale}f")``: Arrow's text, except that Arrow writes values whose adjusted exponent
    is below -6 as ``-1.5E-10``; those become ``-0.00000000015`` (the digits left-padded to the scale)."""
    if arr.type.scale != scale:
        raise _Fallback(f"a DECIMAL column has Arrow scale {arr.type.scale}, not the column's {scale}")
    text = pc.cast(arr, _STR)
    sci = pc.match_substring(text, "E")
    if not pc.any(sci).as_py():
        return text
    digits = pc.replace_substring_regex(text, r"^-?([0-9])\.?([0-9]*)E.*$", r"\1\2")
    plain = _join(
        pc.if_else(pc.starts_with(text, "-"), _lit("-0."), _lit("0.")),
        pc.utf8_lpad(digits, width=scale, padding="0"),
    )
    return pc.if_else(sci, plain, text)


_MIN_US = -62_135_596_800_000_000  # 0001-01-01 00:00:00
_MAX_US = 253_402_300_800_000_000  # 10000-01-01 00:00:00


def _datetime_text(us: pa.ChunkedArray) -> pa.ChunkedArray:
    """``str(datetime)`` of microseconds since 1970 (wall clock): ``.ffffff`` only when not zero."""
    lo, hi = pc.min_max(us).values()
    if lo.is_valid and (lo.as_py() < _MIN_US or hi.as_py() >= _MAX_US):
        raise _Fallback("a date-time lies outside the years 1..9999")
    text = pc.cast(pc.cast(us, pa.timestamp("us")), _STR)  # 'YYYY-MM-DD HH:MM:SS.ffffff'
    return pc.if_else(pc.ends_with(text, ".000000"), pc.utf8_slice_codeunits(text, 0, 19), text)


def _micros(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(arr, pa.int64())


@functools.lru_cache(maxsize=32)
def _zone_table(tz: _dt.tzinfo, first_year: int, last_year: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(transitions, offsets) of ``tz`` over the given years, in microseconds: ``offsets[0]`` holds before
    ``transitions[0]``, ``offsets[i + 1]`` from ``transitions[i]`` on. Computed with ``astimezone``
    (what ``encode`` uses) at every UTC midnight, bisected where two midnights differ."""
    one = _dt.timedelta(microseconds=1)

    def offset(us: int) -> int:
        return (_EPOCH + us * one).astimezone(tz).utcoffset() // one

    start = (_dt.datetime(first_year, 1, 1, tzinfo=_dt.UTC) - _EPOCH) // one // _US_PER_DAY
    end = (_dt.datetime(last_year + 1, 1, 1, tzinfo=_dt.UTC) - _EPOCH) // one // _US_PER_DAY
    prev = offset(start * _US_PER_DAY)
    transitions, offsets = [], [prev]
    for day in range(start + 1, end + 1):
        now = offset(day * _US_PER_DAY)
        if now != prev:
            lo, hi = (day - 1) * _US_PER_DAY, day * _US_PER_DAY
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == prev else (lo, mid)
            transitions.append(hi)
            offsets.append(now)
            prev = now
    return tuple(transitions), tuple(offsets)


def _in_zone(us: pa.ChunkedArray, tz: _dt.tzinfo) -> pa.ChunkedArray:
    """UTC microseconds -> wall-clock microseconds in ``tz``, as ``v.astimezone(tz)`` shows them."""
    if _is_utc(tz):
        return us
    if isinstance(tz, _dt.timezone):
        return pc.add(us, tz.utcoffset(None) // _dt.timedelta(microseconds=1))
    lo, hi = pc.min_max(us).values()
    if not lo.is_valid:
        return us
    try:
        first, last = ((_EPOCH + _dt.timedelta(microseconds=v.as_py())).year for v in (lo, hi))
        if _TIMESTAMP_YEARS[0] <= first <= last <= _TIMESTAMP_YEARS[1]:
            first, last = _TIMESTAMP_YEARS
        transitions, offsets = _zone_table(tz, first, last)
    except (OverflowError, ValueError) as e:
        raise _Fallback(f"the offsets of {tz} cannot be computed for these timestamps: {e}") from None
    values = us.fill_null(0).to_numpy()
    shift = np.asarray(offsets, dtype=np.int64)[
        np.searchsorted(np.asarray(transitions, np.int64), values, "right")
    ]
    return pc.if_else(pc.is_valid(us), pa.array(values + shift, pa.int64()), pa.scalar(None, pa.int64()))


def _divmod(a: pa.ChunkedArray, b: int) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Integer division of non-negative values (Arrow's ``divide`` truncates integers)."""
    q = pc.divide(a, b)
    return q, pc.subtract(a, pc.multiply(q, b))


def _time_text(arr: pa.ChunkedArray, fsp: int) -> pa.ChunkedArray:
    """MySQL's TIME text of a duration: ``[-]HH:MM:SS`` (at least two hour digits) and ``fsp`` fraction
    digits, truncated, as ``starrocks_load._time_text`` writes it."""
    us = _micros(arr)
    seconds, frac = _divmod(pc.abs_checked(us), 1_000_000)
    minutes, sec = _divmod(seconds, 60)
    hours, minute = _divmod(minutes, 60)

    def two(v: pa.ChunkedArray) -> pa.ChunkedArray:
        return pc.utf8_lpad(pc.cast(v, _STR), width=2, padding="0")

    text = _join(pc.if_else(pc.less(us, 0), _lit("-"), _lit("")), two(hours), ":", two(minute), ":", two(sec))
    if not fsp:
        return text
    digits = pc.utf8_lpad(pc.cast(frac, _STR), width=6, padding="0")
    return _join(text, ".", pc.utf8_slice_codeunits(digits, 0, fsp))


def _hex(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Upper-case hex of binary values: each chunk's value buffer in one ``bytes.hex()`` call, with the
    offsets doubled (a loop per chunk)."""
    out = []
    for chunk in pc.cast(arr, pa.large_binary()).chunks:
        _, offsets_buf, data = chunk.buffers()
        offsets = pa.Array.from_buffers(pa.int64(), len(chunk) + 1, [None, offsets_buf], offset=chunk.offset)
        first, last = offsets[0].as_py(), offsets[-1].as_py()
        text = memoryview(data)[first:last].hex().upper().encode("ascii") if data is not None else b""
        doubled = pc.multiply(pc.subtract(offsets, first), 2)
        hexed = pa.Array.from_buffers(_STR, len(chunk), [None, doubled.buffers()[1], pa.py_buffer(text)])
        out.append(pc.if_else(chunk.is_valid(), hexed, pa.scalar(None, _STR)))
    return pa.chunked_array(out, _STR)


def _replace(text: pa.ChunkedArray, pattern: str, replacement: str) -> pa.ChunkedArray:
    """``replace_substring``, skipped when no value holds ``pattern`` (a search costs less than a copy)."""
    if pc.any(pc.match_substring(text, pattern)).as_py():
        return pc.replace_substring(text, pattern, replacement)
    return text


def _escaped(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Backslashes and double quotes escaped by a backslash (both JSON and the CSV enclosure)."""
    return _replace(_replace(text, "\\", "\\\\"), '"', '\\"')


#: the control characters other than the common \t, \n, \r
_RARE_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _json_string(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """``encode_basestring`` of every value: quotes, backslashes and U+0000..U+001F escaped."""
    text = _escaped(text)
    control = pc.match_substring_regex(text, r"[\x00-\x1f]")
    count = pc.sum(control).as_py() or 0
    if count:
        # Only the rows holding a control character are searched further (all rows when they are most),
        # and for the rare control characters only when one of them is there at all.
        few = count < len(text) // 2
        rows = pc.filter(text, control) if few else text
        candidates = "\t\n\r"
        if pc.any(pc.match_substring_regex(rows, _RARE_CONTROL)).as_py():
            candidates = "".join(_JSON_CONTROL)
        for ch in candidates:
            rows = _replace(rows, ch, _JSON_CONTROL[ch])
        if few:
            rows = pc.replace_with_mask(
                text.combine_chunks(), control.combine_chunks(), rows.combine_chunks()
            )
        text = rows
    return _quoted(text)


def _csv_string(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return _quoted(_escaped(text))


# ------------------------------------------------------------------------------- columns by kind
_UTC_TZ = frozenset({"UTC", "utc", "Etc/UTC", "+00:00"})


def _is(arr: pa.ChunkedArray, c: SrColumn, *tests: Callable[[pa.DataType], bool]) -> None:
    if not any(test(arr.type) for test in tests):
        raise _Fallback(
            f"column {c.name} ({c.kind}) is Arrow {arr.type}, not the type the vectorized path reads"
        )


def _is_us_timestamp(tz: bool) -> Callable[[pa.DataType], bool]:
    def test(typ: pa.DataType) -> bool:
        return (
            pa.types.is_timestamp(typ)
            and typ.unit == "us"
            and ((typ.tz in _UTC_TZ) if tz else typ.tz is None)
        )

    return test


def _is_text(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ)


def _is_bytes(typ: pa.DataType) -> bool:
    return pa.types.is_binary(typ) or pa.types.is_large_binary(typ)


def _is_us_duration(typ: pa.DataType) -> bool:
    return pa.types.is_duration(typ) and typ.unit == "us"


def _remap_text(c: SrColumn, arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """The unquoted VARCHAR text of a key remap (``starrocks_load._key_text``)."""
    if c.kind == "decimal_string":
        _is(arr, c, pa.types.is_decimal)
        return _decimal_text(arr, _scale(c))
    if c.kind == "float_string":
        _is(arr, c, pa.types.is_floating)
        return _float_repr(arr)
    if c.kind == "hex_string":
        _is(arr, c, _is_bytes)
        return _hex(arr)
    if c.kind == "time":
        _is(arr, c, _is_us_duration)
        return _time_text(arr, _fsp(c))
    raise _Fallback(f"column {c.name} has encoding kind {c.kind!r}, which the vectorized path does not know")


def _value_text(c: SrColumn, fmt: LoadFormat, arr: pa.ChunkedArray, tz: _dt.tzinfo) -> pa.ChunkedArray:
    """The text ``encode`` writes for each value of ``c`` in ``fmt`` (NULL stays NULL)."""
    kind, json = c.kind, fmt is LoadFormat.JSON
    if kind in ("string", "json"):
        _is(arr, c, _is_text)
        text = pc.cast(arr, _STR)
        if not json:
            return _csv_string(text)
        return _json_string(text) if kind == "string" else text  # JSON text is embedded as it is
    if kind == "int":
        _is(arr, c, pa.types.is_integer, pa.types.is_boolean)
        return _ints(arr)
    if kind == "bool":
        _is(arr, c, pa.types.is_integer, pa.types.is_boolean)
        return _bools(arr)
    if kind == "float":
        _is(arr, c, pa.types.is_floating)
        return _float_repr(arr)
    if kind == "binary":
        if json:
            raise _Fallback(f"column {c.name} is VARBINARY, which a JSON load cannot carry")
        _is(arr, c, _is_bytes)
        return _hex(arr)
    if kind == "decimal":
        _is(arr, c, pa.types.is_decimal)
        text = _decimal_text(arr, _scale(c))
    elif kind == "date":
        _is(arr, c, pa.types.is_date32)
        text = pc.cast(arr, _STR)
    elif kind == "datetime":
        _is(arr, c, _is_us_timestamp(tz=False))
        text = _datetime_text(_micros(arr))
    elif kind == "timestamp":
        _is(arr, c, _is_us_timestamp(tz=True))
        text = _datetime_text(_in_zone(_micros(arr), tz))
    else:
        return _quoted(_remap_text(c, arr))
    return _quoted(text) if json else text


# ---------------------------------------------------------------------------------------- checks
def _max(values: pa.ChunkedArray) -> int:
    top = pc.max(values).as_py()
    return 0 if top is None else top


def _check_sizes(t: SrTable, columns: list[pa.ChunkedArray]) -> None:
    """Fall back (so that ``encode`` raises its error) when a value exceeds its StarRocks column."""
    for c, arr in zip(t.columns, columns, strict=True):
        limit = value_limit(c)
        if limit is None:
            continue
        if not (_is_text(arr.type) or _is_bytes(arr.type)):
            raise _Fallback(f"column {c.name} ({c.kind}) is Arrow {arr.type}, not text or bytes")
        size = _max(pc.binary_length(arr))
        if size * (2 if c.kind == "hex_string" else 1) > limit:
            raise _Fallback(f"a value of column {c.name} exceeds the {limit} bytes of {c.type_sql}")


def _check_keys(t: SrTable, columns: list[pa.ChunkedArray]) -> None:
    """Fall back (so that ``encode`` raises its error) for a NULL key or one over KEY_SIZE_LIMIT bytes."""
    keys = [(c, arr) for c, arr in zip(t.columns, columns, strict=True) if c.is_key]
    for c, arr in keys:
        if arr.null_count:
            raise _Fallback(f"key column {c.name} holds NULL")
    fixed, largest = key_size_bounds(t)
    if largest <= KEY_SIZE_LIMIT:
        return
    size: pa.ChunkedArray | int = fixed
    for c, arr in keys:
        if c.type_sql in FIXED_KEY_BYTES:
            continue
        if c.kind == "string":
            measure = pc.binary_length(arr)
        elif c.kind == "hex_string":
            measure = pc.multiply(pc.binary_length(arr), 2)
        else:
            measure = pc.binary_length(_remap_text(c, arr))
        size = pc.add(size, pc.cast(measure, pa.int64()))
    if not isinstance(size, int) and _max(size) > KEY_SIZE_LIMIT:
        raise _Fallback(f"a key of {t.target} is over {KEY_SIZE_LIMIT} bytes")


# ----------------------------------------------------------------------------------------- bodies
def _lines(t: SrTable, fmt: LoadFormat, table: pa.Table, tz: _dt.tzinfo) -> pa.Array:
    """One line per row, contiguous: ``{...,"__op":0},`` (JSON, with the separator) or ``...,0\\n`` (CSV)."""
    columns = [table.column(p) for p in t.source_positions]
    _check_sizes(t, columns)
    _check_keys(t, columns)
    texts = [_value_text(c, fmt, arr, tz) for c, arr in zip(t.columns, columns, strict=True)]
    if fmt is LoadFormat.JSON:
        parts: list = []
        for j, (c, text) in enumerate(zip(t.columns, texts, strict=True)):
            parts += [
                ("{" if j == 0 else ",") + encode_basestring(c.name) + ":",
                pc.fill_null(text, _lit("null")),
            ]
        line = _join(*parts, ',"__op":0},')
    else:
        line = _join(*(pc.fill_null(text, _lit("\\N")) for text in texts), "0\n", sep=",")
    return line.combine_chunks() if isinstance(line, pa.ChunkedArray) else line


def _pieces(lines: pa.Array, fmt: LoadFormat, max_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Bodies of whole lines, as full as ``max_bytes`` allows (a single larger line goes alone), exactly
    where ``encode`` cuts: the line offsets are the cumulative lengths, searched once per piece."""
    n = len(lines)
    _, offsets_buf, data = lines.buffers()
    offsets = memoryview(offsets_buf).cast("q")[lines.offset : lines.offset + n + 1]
    body = memoryview(data) if data is not None else memoryview(b"")
    # JSON: '[' + lines + ']' minus the last line's ',' -> 1 byte besides the lines
    budget = max_bytes - 1 if fmt is LoadFormat.JSON else max_bytes
    a = 0
    while a < n:
        end = max(bisect.bisect_right(offsets, offsets[a] + budget, a + 1, n + 1) - 1, a + 1)
        start, stop = offsets[a], offsets[end]
        if fmt is LoadFormat.JSON:
            yield b"".join((b"[", body[start : stop - 1], b"]")), end - a
        else:
            yield bytes(body[start:stop]), end - a
        a = end


def _check_columns(t: SrTable, table: pa.Table) -> None:
    expected = [c.name for _, c in sorted(zip(t.source_positions, t.columns, strict=True))]
    if table.column_names != expected:
        raise SchemaError(
            f"the Arrow table written to {t.target} has columns {table.column_names}, but the table was "
            f"planned with {expected} (source order): the table's definition changed; restart the pipeline "
            "so that the schema is read again",
            table=str(t.target),
        )


def _rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(col.to_pylist() for col in table.columns), strict=True))


def encode_arrow(
    t: SrTable, fmt: LoadFormat, table: pa.Table, *, time_zone: _dt.tzinfo, max_bytes: int
) -> Iterator[tuple[bytes, int]]:
    """Stream Load bodies upserting the rows of ``table`` (``__op`` 0), as ``(body, rows)`` pieces of at most
    ``max_bytes`` (a single larger row goes alone): byte for byte what :func:`encode` yields for
    ``table.to_pylist()``'s rows and no deletes.

    ``table`` holds the columns of ``t``'s source table in source order, by name (a canonical chunk:
    ``DuckDBSink.arrow_schema``), else SchemaError. TIMESTAMP values are shown in ``time_zone``. A table
    the vectorized path does not reproduce, or that needs an error (see the module docstring and
    :func:`fallback_reason`), is encoded by ``encode()`` row by row, which raises its SchemaError.
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
    fmt = LoadFormat(fmt)
    _check_columns(t, table)
    if table.num_rows == 0:  # nothing to write; encode() still refuses a JSON load of VARBINARY columns
        yield from encode(t, fmt, (), (), time_zone=time_zone, max_bytes=max_bytes)
        return
    try:
        lines = _lines(t, fmt, table, time_zone)
    except _Fallback:
        yield from encode(t, fmt, _rows(table), (), time_zone=time_zone, max_bytes=max_bytes)
        return
    yield from _pieces(lines, fmt, max_bytes)


def fallback_reason(t: SrTable, fmt: LoadFormat, table: pa.Table, *, time_zone: _dt.tzinfo) -> str | None:
    """Why :func:`encode_arrow` would encode ``table`` row by row, or None when it is vectorized
    (it builds the texts to find out: for tests and diagnosis, not for the write path)."""
    _check_columns(t, table)
    try:
        _lines(t, LoadFormat(fmt), table, time_zone)
    except _Fallback as e:
        return str(e)
    return None
