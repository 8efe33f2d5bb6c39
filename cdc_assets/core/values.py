"""One canonical Python value per column, whether it was read by the snapshot or decoded from the binlog.

The snapshot reads rows with PyMySQL over a session with ``time_zone = '+00:00'`` and charset utf8mb4,
selecting :func:`snapshot_select_expr` for each column. The binlog is decoded by
python-mysql-replication 1.0.17 with ``binlog_row_metadata=FULL`` (column names, signedness,
charsets, ENUM/SET members). The two disagree in many places; the converters below make them agree
(each verified against MariaDB 10.11 in ``cdc_assets_tests/test_value_roundtrip.py``):

==============  =============================  ==========================================  ====================
DuckDB type     canonical value                snapshot (PyMySQL) returns                  binlog returns
==============  =============================  ==========================================  ====================
BOOLEAN         bool (non-zero is True)        int                                         int
integers        int                            int                                         int
DECIMAL(p,s)    Decimal                        Decimal                                     Decimal
VARCHAR (p>38)  fixed-point text '-1.50'       Decimal                                     Decimal
FLOAT           float holding a float32 value  6-digit text, so read as CAST(.. AS DOUBLE) float32 widened
DOUBLE          float                          float (shortest round-trip text)            float
DATE            date, zero dates -> None       date, or str for zero dates ('2024-00-10')  date or None
TIMESTAMP       naive datetime, zero -> None   datetime, or str for zero datetimes         datetime or None
TIMESTAMPTZ     aware datetime in UTC          naive UTC datetime (session zone +00:00),   naive UTC datetime;
                                               str for the zero TIMESTAMP                  zero -> 1970-01-01
INTERVAL        timedelta                      timedelta                                   timedelta, wrong for
                                                                                           negative fractions
SMALLINT (YEAR) int, YEAR 0000 -> 0            int                                         int, 0000 -> 1900
VARCHAR         str                            str                                         str (bytes for ucs2)
VARCHAR (SET)   members in definition order    'a,c'                                       python set; an empty
                joined by ','                                                              set is None
JSON            text                           str                                         parsed document
BLOB            bytes                          bytes                                       bytes, '' when empty;
                                                                                           BINARY(n) unpadded
BLOB (spatial)  bytes as stored: 4-byte        bytes                                       bytes (the same)
                little-endian SRID, then WKB
UBIGINT (BIT)   int                            big-endian bytes                            '0101' bit string
==============  =============================  ==========================================  ====================

NULL is None everywhere and every converter passes None through. Zero and partial-zero dates and
datetimes (allowed when sql_mode lacks NO_ZERO_DATE/NO_ZERO_IN_DATE) cannot be Python dates, so both
paths turn them into NULL; so does the zero TIMESTAMP.
"""

from __future__ import annotations

import codecs
import datetime as _dt
import json
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from cdc_assets.core.schema import Column
from cdc_assets.core.sql import quote_ident
from cdc_assets.errors import SchemaError

Converter = Callable[[Any], Any]

#: python-mysql-replication's NONE_SOURCE.EMPTY_SET: the none_sources tag of a SET holding no member
EMPTY_SET_SOURCE = "empty set"

_UTC = _dt.UTC
_EPOCH = _dt.datetime(1970, 1, 1)
_FLOAT32 = struct.Struct("<f")
_TEXT_TYPES = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext"})
_BLOB_TYPES = frozenset({"varbinary", "tinyblob", "blob", "mediumblob", "longblob"})
_UTF8 = frozenset({"utf8mb4", "utf8mb3", "utf8", "ascii"})

# Charsets for which python-mysql-replication returns raw bytes (it finds no Python codec of that
# name): decode them ourselves. MySQL's ucs2 and utf16le are UTF-16 of the stated byte order.
_BINLOG_BYTES_CODECS = {"ucs2": "utf-16-be", "utf16le": "utf-16-le"}
# Charsets it decodes with the wrong Python codec: 'utf16'/'utf32' without a BOM read little-endian,
# MySQL writes big-endian, so the text comes out garbled (or the decoder raises).
_BINLOG_WRONG_CODECS = {
    "utf16": "MySQL's utf16 is big-endian, python-mysql-replication decodes it as little-endian",
    "utf32": "MySQL's utf32 is big-endian, python-mysql-replication decodes it as little-endian",
}


# ------------------------------------------------------------------------------ the snapshot SELECT
def snapshot_select_expr(col: Column) -> str:
    """The snapshot SELECT list item for ``col`` (MySQL dialect), aliased to the column's own name.

    Only FLOAT is wrapped: the server prints FLOAT with 6 significant digits (16777217 -> '16777200',
    1.1754943508e-38 -> '1.17549e-38'), while ``CAST(x AS DOUBLE)`` widens the stored float32
    exactly. Everything else is read as stored, relying on the session's ``time_zone = '+00:00'``
    (TIMESTAMP comes back as UTC) and utf8mb4 (text comes back as unicode). Spatial columns too: the bare
    column returns the stored bytes (SRID + WKB), which is what the binlog carries, while
    ``ST_AsBinary`` would drop the SRID (and on MySQL 8 give geographic coordinates in the SRS's axis order).
    """
    name = quote_ident(col.name)
    if col.data_type in ("float", "double", "real"):  # DOUBLE(M,D) is printed rounded to D places
        return f"CAST({name} AS DOUBLE) AS {name}"
    return name


# ------------------------------------------------------------------------------- value converters
def _to_bool(v: Any) -> Any:
    return None if v is None else v != 0


def _float32(v: Any) -> Any:
    # Snap to the nearest float32 so a value read without the CAST still equals the binlog's.
    return None if v is None else _FLOAT32.unpack(_FLOAT32.pack(v))[0]


def _decimal_text(v: Any) -> Any:
    # format 'f' keeps the column's scale (Decimal('0E-30') -> '0.000000000000000000000000000000'),
    # which is how MySQL prints the value.
    return None if v is None else format(v, "f")


def _valid_date(v: Any) -> Any:
    # PyMySQL returns the text when it cannot build a date: '0000-00-00', '2024-00-10', year 0.
    return None if v is None or isinstance(v, str) else v


def _snapshot_timestamp(v: Any) -> Any:
    return None if v is None or isinstance(v, str) else v.replace(tzinfo=_UTC)


def _binlog_timestamp(v: Any) -> Any:
    # TIMESTAMP2 is seconds since the epoch, decoded with utcfromtimestamp (naive UTC). The zero
    # TIMESTAMP is stored as 0; real values start at 1970-01-01 00:00:01 UTC.
    return None if v is None or v == _EPOCH else v.replace(tzinfo=_UTC)


def _binlog_time(v: Any) -> Any:
    # TIME2 stores a negative value with a fraction as (integer part - 1, 1 - fraction); 1.0.17
    # decodes that as -(K - f) instead of -(K - 1 + (1 - f)): -00:00:00.25 comes back as -0.75 s.
    # timedelta normalises -(K - f) to days/seconds = -K and microseconds = f, hence the fix.
    if v is None or v.days >= 0 or not v.microseconds:
        return v
    return v + _dt.timedelta(microseconds=1_000_000 - 2 * v.microseconds)


def _binlog_year(v: Any) -> Any:
    # YEAR is one byte, year - 1900, with 0 meaning YEAR '0000': 1.0.17 always adds 1900.
    return 0 if v == 1900 else v


def _bit_from_bytes(v: Any) -> Any:
    return None if v is None else int.from_bytes(v, "big")


def _bit_from_text(v: Any) -> Any:
    return None if v is None else int(v, 2)


def _bytes(v: Any) -> Any:
    # Binary values are "decoded" with the charset name 'binary', which has no codec, so bytes come
    # back as they are; CPython returns '' for empty input before looking the codec up.
    return v.encode() if isinstance(v, str) else v


def _binary_padder(length: int) -> Converter:
    def pad(v: Any) -> Any:
        # The binlog drops BINARY(n)'s trailing 0x00 padding; the column always holds n bytes.
        return None if v is None else _bytes(v).ljust(length, b"\x00")

    return pad


def _bytes_decoder(codec: str) -> Converter:
    def decode(v: Any) -> Any:
        return v.decode(codec) if isinstance(v, bytes) else v

    return decode


_MEMBER = re.compile(r"'((?:[^'\\]|''|\\.)*)'")
_UNESCAPE = {"''": "'", "\\\\": "\\", "\\0": "\0", "\\n": "\n", "\\r": "\r", "\\Z": "\x1a", "\\'": "'"}
_NON_BMP = re.compile("[\U00010000-\U0010ffff]")


def enum_members(column_type: str) -> list[str]:
    """Members of ``enum('a','it''s')`` / ``set(...)`` in definition order, quoting undone."""
    inner = column_type[column_type.find("(") + 1 : column_type.rfind(")")]
    return [
        re.sub(r"''|\\.", lambda m: _UNESCAPE.get(m.group(0), m.group(0)[1:]), m)
        for m in _MEMBER.findall(inner)
    ]


def _set_joiner(members: Sequence[str]) -> Converter:
    order: dict[str, int] = {}
    for i, m in enumerate(members):
        order.setdefault(m, i)
    last = len(order)

    def rank(member: str) -> tuple[int, str]:
        # information_schema is utf8mb3, so a member with a 4-byte character shows it as '?'.
        i = order.get(member)
        if i is None:
            i = order.get(_NON_BMP.sub("?", member), last)
        return i, member

    def join(v: Any) -> Any:
        if v is None or isinstance(v, str):
            return v
        return ",".join(sorted(v, key=rank))

    return join


def _json_plain(doc: Any) -> Any:
    # MySQL's binary JSON as 1.0.17 parses it: strings and keys are bytes, DECIMAL is Decimal.
    if isinstance(doc, bytes):
        return doc.decode("utf-8")
    if isinstance(doc, dict):
        return {_json_plain(k): _json_plain(x) for k, x in doc.items()}
    if isinstance(doc, list):
        return [_json_plain(x) for x in doc]
    if isinstance(doc, Decimal):
        return float(doc)
    if isinstance(doc, _dt.date | _dt.time | _dt.timedelta):
        return str(doc)
    return doc


def _json_dump(doc: Any) -> str:
    # MySQL's own separators; both paths go through Python's number formatting, so they agree.
    return json.dumps(doc, ensure_ascii=False, separators=(", ", ": "))


def _json_snapshot(v: Any) -> Any:
    if v is None:
        return None
    return _json_dump(json.loads(v.decode("utf-8") if isinstance(v, bytes) else v))


def _json_binlog(v: Any) -> Any:
    # MySQL only (MariaDB's JSON is longtext). A JSON null document is indistinguishable from NULL here.
    if v is None:
        return None
    if isinstance(v, str):
        return _json_snapshot(v)
    return _json_dump(_json_plain(v))


def _fsp(col: Column) -> int:
    if col.datetime_precision is not None:
        return col.datetime_precision
    m = re.search(r"\((\d+)\)", col.column_type)
    return int(m.group(1)) if m else 0


def _binary_length(col: Column) -> int:
    if col.char_max_length is not None:
        return col.char_max_length
    m = re.search(r"\((\d+)\)", col.column_type)
    return int(m.group(1)) if m else 1


def _text_binlog(col: Column) -> Converter | None:
    codec = _BINLOG_BYTES_CODECS.get((col.charset or "").lower())
    return _bytes_decoder(codec) if codec else None


def _const(fn: Converter) -> Callable[[Column], Converter]:
    return lambda _col: fn


# data_type -> (column -> converter or None); absent means identity. The BOOLEAN and wide-DECIMAL
# targets are chosen by type mapping overrides and handled first, by target.
_SNAPSHOT: dict[str, Callable[[Column], Converter | None]] = {
    "float": _const(_float32),
    "date": _const(_valid_date),
    "datetime": _const(_valid_date),
    "timestamp": _const(_snapshot_timestamp),
    "bit": _const(_bit_from_bytes),
    "json": _const(_json_snapshot),
}
_BINLOG: dict[str, Callable[[Column], Converter | None]] = {
    "timestamp": _const(_binlog_timestamp),
    "time": lambda col: _binlog_time if _fsp(col) > 0 else None,
    "year": _const(_binlog_year),
    "bit": _const(_bit_from_text),
    "set": lambda col: _set_joiner(enum_members(col.column_type)),
    "binary": lambda col: _binary_padder(_binary_length(col)),
    "json": _const(_json_binlog),
    **{t: _const(_bytes) for t in _BLOB_TYPES},
    **{t: _text_binlog for t in _TEXT_TYPES},
}


def _by_target(col: Column, target: str) -> Converter | None:
    if target == "BOOLEAN":
        return _to_bool
    if col.data_type == "decimal" and target == "VARCHAR":
        return _decimal_text
    return None


def _converter_for(col: Column, target: str, makers: dict) -> Converter | None:
    special = _by_target(col, target)
    if special is not None:
        return special
    make = makers.get(col.data_type)
    return make(col) if make else None


def snapshot_converter_for(col: Column, target: str) -> Converter | None:
    """Converter for a PyMySQL value of ``col`` mapped to DuckDB type ``target``; None = identity."""
    return _converter_for(col, target, _SNAPSHOT)


def binlog_converter_for(col: Column, target: str) -> Converter | None:
    """Converter for a python-mysql-replication value of ``col`` mapped to ``target``; None = identity."""
    return _converter_for(col, target, _BINLOG)


def _binlog_encoding(charset: str) -> str:
    # python-mysql-replication's Charset.encoding: the Python codec name it decodes a charset with.
    return {
        "utf8mb4": "utf8",
        "utf8mb3": "utf8",
        "latin1": "cp1252",
        "koi8r": "koi8_r",
        "koi8u": "koi8_u",
    }.get(charset, charset)


def unsupported_value_reason(col: Column) -> str | None:
    """Why the binlog decoder cannot return ``col``'s values exactly, or None if it can."""
    charset = (col.charset or "").lower()
    if col.data_type in _TEXT_TYPES and charset and charset not in _BINLOG_BYTES_CODECS:
        if charset in _BINLOG_WRONG_CODECS:
            return _BINLOG_WRONG_CODECS[charset] + "; convert the column to utf8mb4"
        try:
            codecs.lookup(_binlog_encoding(charset))
        except LookupError:
            return f"Python has no codec for charset {charset}, so the binlog decoder returns raw bytes"
    if col.data_type in ("enum", "set") and charset not in _UTF8 and not col.column_type.isascii():
        return (
            f"python-mysql-replication decodes ENUM/SET member names as UTF-8, but this column's charset is "
            f"{charset}, so its non-ASCII members come back as ''"
        )
    return None


# ------------------------------------------------------------------------------------------- rows
def compose_row(
    converters: Sequence[Converter | None], what: str = "the table"
) -> Callable[[Sequence[Any]], tuple]:
    """One function applying per-column ``converters`` (None = identity) to a row in column order."""
    n = len(converters)
    pairs = tuple((i, f) for i, f in enumerate(converters) if f is not None)

    def convert(row: Sequence[Any]) -> tuple:
        if len(row) != n:
            raise SchemaError(
                f"a row of {what} has {len(row)} values but its schema has {n} columns: the table's "
                "definition changed; restart the pipeline so that the schema is read again",
                values=len(row),
                columns=n,
            )
        if not pairs:
            return tuple(row)
        out = list(row)
        for i, f in pairs:
            out[i] = f(out[i])
        return tuple(out)

    return convert


def binlog_values(
    image: Mapping[str, Any], none_sources: Mapping[str, str] | None, names: Sequence[str]
) -> list[Any]:
    """A binlog row image (python-mysql-replication dict) as a list in column order.

    ``none_sources`` is the row's ``none_sources`` / ``before_none_sources`` / ``after_none_sources``:
    1.0.17 returns None for an empty SET and says so only there, so such a value becomes an empty
    frozenset (converted to '' like the snapshot's value) instead of NULL.
    """
    out = [image.get(n) for n in names]
    if none_sources:
        for name, source in none_sources.items():
            if source == EMPTY_SET_SOURCE and name in names:
                out[list(names).index(name)] = frozenset()
    return out
