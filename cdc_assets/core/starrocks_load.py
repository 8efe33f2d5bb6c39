"""Rows -> Stream Load bodies for a planned StarRocks table: JSON or CSV, the load headers, and labels.

Rows carry the canonical values of :mod:`cdc_assets.core.values`. Each column gets one encoder
function, chosen once per call from its :attr:`SrColumn.kind`; a row is then one list comprehension
over those functions. Strings go through the C encoder behind :func:`json.dumps`
(``json.encoder.encode_basestring``: quotes, backslashes and control characters escaped, all other
characters, 4-byte ones included, kept as UTF-8).

Text forms, the same in JSON and CSV:

- DATE ``YYYY-MM-DD``; DATETIME ``YYYY-MM-DD HH:MM:SS``, with ``.ffffff`` (always 6 digits) only when
  the microseconds are not zero, as Python's ``isoformat`` writes it; TIMESTAMP the same, after
  conversion from UTC to the load time zone.
- DECIMAL with exactly the column's scale; FLOAT/DOUBLE the shortest text that reads back exactly.
- TIME as MySQL prints it: ``[-]HH:MM:SS`` plus the column's fraction digits.
- BOOLEAN ``true``/``false``; VARBINARY (CSV only) upper-case hex.

CSV (used for tables with VARBINARY columns, or when ``sink.properties.format`` is ``csv``): fields
separated by ``,``, rows ended by ``\\n``, NULL is a bare ``\\N``; strings, JSON, TIME and the key
texts are enclosed in ``"`` with ``"`` and ``\\`` escaped by ``\\``; numbers, dates and hex are bare.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import StrEnum
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident
from cdc_assets.core.starrocks_types import (
    FIXED_KEY_BYTES,
    KEY_SIZE_LIMIT,
    SrColumn,
    SrTable,
    key_size_bounds,
    value_limit,
)
from cdc_assets.errors import ConfigError, SchemaError

__all__ = ["LoadFormat", "choose_format", "encode", "load_headers", "make_label"]

Encoder = Callable[[Any], str]

LABEL_MAX = 128
_LABEL_BAD = re.compile(r"[^-A-Za-z0-9_]")
_HASH_CHARS = 16

_ZERO = _dt.timedelta(0)
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"})
#: kinds whose canonical value may be None in a key column (zero dates)
_NULLABLE_KEY_KINDS = frozenset({"date", "datetime", "timestamp"})


class LoadFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


# ------------------------------------------------------------------------------------- headers
_JSON_HEADERS = {"format": "json", "strip_outer_array": "true", "ignore_json_size": "true"}
_CSV_LAYOUT = {"column_separator": ",", "enclose": '"', "escape": "\\"}
#: the layout of :mod:`cdc_assets.core.starrocks_csv`'s bodies: an enclosed ``"`` is doubled, no escape
_CSV_DOUBLED_LAYOUT = {"column_separator": ",", "enclose": '"'}
#: header -> the user values that mean the same as ours (compared lower case); any other value would
#: make StarRocks misread the body
_SAME = {
    "strip_outer_array": {"true"},
    "column_separator": {",", "\\x2c", "0x2c"},
    "row_delimiter": {"\\n", "\\x0a", "0x0a"},
    "enclose": {'"'},
    "escape": {"\\"},
    "skip_header": {"0"},
    "trim_space": {"false"},
}
_LAYOUT_KEYS = {
    LoadFormat.JSON: {"strip_outer_array"},
    LoadFormat.CSV: {"column_separator", "row_delimiter", "enclose", "escape", "skip_header", "trim_space"},
}
#: headers cdc_assets derives from the table or sets per load itself
_GENERATED = {"columns", "jsonpaths", "json_root", "label"}


def _user_format(properties: Mapping[str, str]) -> str | None:
    for k, v in properties.items():
        if str(k).lower() == "format":
            fmt = str(v).lower()
            if fmt not in ("json", "csv"):
                raise ConfigError(
                    f"sink.properties.format is {v!r}; cdc_assets writes uncompressed json or csv bodies, so "
                    "set it to json or csv (or leave it out: json, or csv for tables with binary columns)",
                    option="sink.properties.format",
                )
            return fmt
    return None


def choose_format(t: SrTable, properties: Mapping[str, str]) -> LoadFormat:
    """CSV when ``properties["format"]`` is csv or the table has VARBINARY columns (StarRocks loads
    VARBINARY only from CSV, as hex); JSON otherwise, as Flink CDC."""
    fmt = _user_format(properties)
    return LoadFormat.CSV if t.has_binary or fmt == "csv" else LoadFormat.JSON


def load_headers(
    t: SrTable, fmt: LoadFormat, properties: Mapping[str, str], *, doubled_quotes: bool = False
) -> dict[str, str]:
    """Stream Load data headers for bodies of :func:`encode`, with ``sink.properties.*`` merged in;
    ``doubled_quotes``: for the CSV bodies of :func:`cdc_assets.core.starrocks_csv.csv_bodies` (no
    ``escape`` header).

    Raises ConfigError for a user header that would make StarRocks misread the body (``columns``,
    ``label``, a different separator, ``format=json`` on a table with binary columns, ...).
    """
    fmt = LoadFormat(fmt)
    if fmt is LoadFormat.JSON:
        if t.has_binary:
            raise ConfigError(
                f"table {t.target} has VARBINARY columns, which StarRocks loads only from CSV; remove "
                "sink.properties.format=json from the sink block",
                option="sink.properties.format",
            )
        ours = dict(_JSON_HEADERS)
    else:
        # row_delimiter stays StarRocks' default "\n": an HTTP header cannot carry a newline, and the
        # escaped spellings ("\\n", "\\x0A") are read differently by different StarRocks versions.
        columns = ",".join(quote_ident(c.name, "starrocks") for c in t.columns)
        if doubled_quotes:  # upserts only: without __op in `columns`, every CSV row is an upsert
            ours = {"format": "csv", "columns": columns, **_CSV_DOUBLED_LAYOUT}
        else:
            ours = {"format": "csv", "columns": columns + ",__op", **_CSV_LAYOUT}
    user: dict[str, str] = {}
    for k, v in properties.items():
        key, value = str(k).lower(), str(v)
        if key in _GENERATED:
            raise ConfigError(
                f"sink.properties.{k} cannot be set: cdc_assets sets the {key} of every load itself; remove it "
                "from the sink block",
                option=f"sink.properties.{k}",
            )
        if key == "format":
            if value.lower() != fmt.value:
                why = "it has VARBINARY columns, which StarRocks loads only from CSV" if t.has_binary else ""
                raise ConfigError(
                    f"sink.properties.format is {value!r} but loads of {t.target} are written as {fmt.value}"
                    f"{': ' + why if why else ''}; remove sink.properties.format from the sink block",
                    option="sink.properties.format",
                )
            continue
        if key in _LAYOUT_KEYS[fmt]:
            if value.lower() not in _SAME[key] or (doubled_quotes and key == "escape"):
                need = (
                    "no escape"
                    if doubled_quotes and key == "escape"
                    else f"{key} = {sorted(_SAME[key])[0]!r}"
                )
                raise ConfigError(
                    f"sink.properties.{k} is {value!r}, but cdc_assets writes {fmt.value} bodies whose layout "
                    f"needs {need}; remove it from the sink block",
                    option=f"sink.properties.{k}",
                )
            continue
        ours.pop(key, None)  # e.g. ignore_json_size: the user's value wins
        user[str(k)] = value
    # strict_mode: a value StarRocks cannot convert filters its row (and fails the load, max_filter_ratio
    # being 0) instead of loading NULL silently, StarRocks' non-strict default.
    return {**ours, "strict_mode": "true", **user}


# ------------------------------------------------------------------------------ value encoders
def _is_utc(tz: _dt.tzinfo) -> bool:
    """True for zones that are UTC at every instant: values then only lose their tzinfo (no astimezone)."""
    if isinstance(tz, _dt.timezone):
        return tz.utcoffset(None) == _ZERO
    return getattr(tz, "key", None) in _UTC_NAMES


def _time_text(fsp: int) -> Encoder:
    def text(v: _dt.timedelta) -> str:
        us = (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds
        sign = "-" if us < 0 else ""
        seconds, frac = divmod(abs(us), 1_000_000)
        minutes, sec = divmod(seconds, 60)
        hours, minute = divmod(minutes, 60)
        out = f"{sign}{hours:02d}:{minute:02d}:{sec:02d}"
        # a TIME(p) value has no digits beyond p
        return f"{out}.{frac:06d}"[: len(out) + 1 + fsp] if fsp else out

    return text


def _fsp(c: SrColumn) -> int:
    if c.source.datetime_precision is not None:
        return c.source.datetime_precision
    m = re.search(r"\((\d+)\)", c.source.column_type)
    return int(m.group(1)) if m else 0


def _scale(c: SrColumn) -> int:
    if c.source.numeric_scale is not None:
        return c.source.numeric_scale
    m = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", c.source.column_type)
    return int(m.group(1)) if m else 0


def _key_text(c: SrColumn) -> Encoder | None:
    """The unquoted text a VARCHAR key remap loads, or None for kinds that are not remaps."""
    if c.kind == "decimal_string":
        spec = f".{_scale(c)}f"
        return lambda v: format(v, spec)
    if c.kind == "float_string":
        return repr
    if c.kind == "hex_string":
        return lambda v: v.hex().upper()
    if c.kind == "time":
        return _time_text(_fsp(c))
    return None


def _json_bool(v: Any) -> str:
    return "true" if v else "false"


def _csv_string(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json_encoder(c: SrColumn, tz: _dt.tzinfo) -> Encoder:
    kind = c.kind
    if kind == "string":
        return encode_basestring
    if kind == "int":
        return int.__repr__  # also turns a stray bool into 1/0
    if kind == "datetime" or kind == "date":
        return lambda v: f'"{v}"'
    if kind == "decimal":
        spec = f".{_scale(c)}f"
        return lambda v: f'"{v:{spec}}"'
    if kind == "timestamp":
        if _is_utc(tz):
            return lambda v: f'"{v.replace(tzinfo=None)}"'
        return lambda v: f'"{v.astimezone(tz).replace(tzinfo=None)}"'
    if kind == "bool":
        return _json_bool
    if kind == "float":
        return repr
    if kind == "json":
        return str  # the canonical JSON text, embedded as a JSON value
    if kind == "binary":
        raise ConfigError(
            f"column {c.name} is VARBINARY, which StarRocks loads only from CSV; load this table as CSV",
            column=c.name,
        )
    text = _key_text(c)
    if text is None:
        raise ValueError(f"column {c.name} has unknown encoding kind {kind!r}")
    return lambda v: '"' + text(v) + '"'  # ASCII without quotes or backslashes


def _csv_encoder(c: SrColumn, tz: _dt.tzinfo) -> Encoder:
    kind = c.kind
    if kind == "string" or kind == "json":
        return _csv_string
    if kind == "int":
        return int.__repr__
    if kind == "datetime" or kind == "date":
        return str
    if kind == "decimal":
        spec = f".{_scale(c)}f"
        return lambda v: format(v, spec)
    if kind == "timestamp":
        if _is_utc(tz):
            return lambda v: str(v.replace(tzinfo=None))
        return lambda v: str(v.astimezone(tz).replace(tzinfo=None))
    if kind == "bool":
        return _json_bool
    if kind == "float":
        return repr
    if kind == "binary":
        return lambda v: v.hex().upper()
    text = _key_text(c)
    if text is None:
        raise ValueError(f"column {c.name} has unknown encoding kind {kind!r}")
    return lambda v: '"' + text(v) + '"'


class _TooLarge(Exception):
    def __init__(self, column: SrColumn, size: int, limit: int) -> None:
        super().__init__(column.name)
        self.column, self.size, self.limit = column, size, limit


def _utf8_len(v: str) -> int:
    return len(v) if v.isascii() else len(v.encode("utf-8"))


def _size_checked(c: SrColumn, enc: Encoder, limit: int) -> Encoder:
    """``enc`` preceded by a check that the value fits ``limit`` bytes (TEXT/BLOB/JSON wider than
    StarRocks holds). A string of at most limit/4 characters always fits, so most values are not encoded."""
    if c.kind == "binary":
        measure: Callable[[Any], int] = len
        quick = limit
    elif c.kind == "hex_string":
        measure, quick = (lambda v: 2 * len(v)), limit // 2
    else:
        measure, quick = _utf8_len, limit // 4

    def checked(v: Any) -> str:
        if len(v) > quick:
            size = measure(v)
            if size > limit:
                raise _TooLarge(c, size, limit)
        return enc(v)

    return checked


def _key_measure(c: SrColumn) -> Callable[[Any], int] | None:
    """Bytes a key value takes in the encoded key when it is not fixed-width, else None."""
    if c.type_sql in FIXED_KEY_BYTES:
        return None
    if c.kind == "string":
        return _utf8_len
    if c.kind == "hex_string":
        return lambda v: 2 * len(v)
    text = _key_text(c)
    assert text is not None, c
    return lambda v: len(text(v))


def _short(values: Sequence[Any]) -> str:
    text = repr(tuple(values))
    return text if len(text) <= 200 else text[:197] + "..."


def _key_checker(t: SrTable, key_positions: Sequence[int]) -> Callable[[Sequence[Any]], None]:
    """A function raising SchemaError for a row whose key is NULL or over KEY_SIZE_LIMIT bytes."""
    fixed, _ = key_size_bounds(t)
    keys = [(pos, c, _key_measure(c)) for pos, c in zip(key_positions, t.columns, strict=False) if c.is_key]

    def check(row: Sequence[Any]) -> None:
        size = fixed
        for pos, c, measure in keys:
            v = row[pos]
            if v is None:
                raise SchemaError(
                    f"a row of {t.target} has NULL in key column {c.name} ({c.source.column_type}): a zero "
                    f"date in a MySQL key has no StarRocks value (key {_short([row[p] for p, _, _ in keys])}). "
                    "Fix the row in MySQL, or exclude the table with `tables.exclude`.",
                    table=str(t.target),
                    column=c.name,
                )
            if measure is not None:
                size += measure(v)
        if size > KEY_SIZE_LIMIT:
            raise SchemaError(
                f"a row of {t.target} has a primary key of {size} bytes as StarRocks encodes it, over the "
                f"{KEY_SIZE_LIMIT}-byte limit (StarRocks: primary key size exceed the limit): key "
                f"({', '.join(t.key)}) = {_short([row[p] for p, _, _ in keys])}. Shorten the key values in "
                "MySQL, or exclude the table with `tables.exclude`.",
                table=str(t.target),
                key_bytes=size,
            )

    return check


# ------------------------------------------------------------------------------------ row encoders
RowEncoder = Callable[[Sequence[Any]], bytes]


def _width_error(t: SrTable, got: int, want: int, what: str) -> SchemaError:
    return SchemaError(
        f"{what} of {t.target} has {got} values but {want} were expected: the table's definition changed; "
        "restart the pipeline so that the schema is read again",
        values=got,
        columns=want,
    )


def _row_encoders(t: SrTable, fmt: LoadFormat, tz: _dt.tzinfo) -> tuple[RowEncoder, RowEncoder]:
    """(delete encoder for key tuples, upsert encoder for full source rows), each returning one row's bytes."""
    make = _json_encoder if fmt is LoadFormat.JSON else _csv_encoder
    encoders = []
    for c in t.columns:
        enc = make(c, tz)
        limit = value_limit(c)
        encoders.append(enc if limit is None else _size_checked(c, enc, limit))
    n, k = len(t.columns), len(t.key)
    positions = t.source_positions

    if fmt is LoadFormat.JSON:
        names = [("{" if j == 0 else ",") + encode_basestring(c.name) + ":" for j, c in enumerate(t.columns)]
        up_cols = tuple(zip(names, positions, encoders, strict=True))
        del_cols = tuple(zip(names[:k], range(k), encoders[:k], strict=True))

        def upsert(row: Sequence[Any]) -> bytes:
            if len(row) != n:
                raise _width_error(t, len(row), n, "a row")
            return (
                "".join([p + ("null" if (v := row[i]) is None else f(v)) for p, i, f in up_cols])
                + ',"__op":0}'
            ).encode()

        def delete(key: Sequence[Any]) -> bytes:
            if len(key) != k:
                raise _width_error(t, len(key), k, "a deleted key")
            return ("".join([p + f(key[i]) for p, i, f in del_cols]) + ',"__op":1}').encode()

    else:
        up_fields = tuple(zip(positions, encoders, strict=True))
        del_fields = tuple(zip(range(k), encoders[:k], strict=True))
        del_tail = ",\\N" * (n - k) + ",1\n"

        def upsert(row: Sequence[Any]) -> bytes:
            if len(row) != n:
                raise _width_error(t, len(row), n, "a row")
            return (
                ",".join(["\\N" if (v := row[i]) is None else f(v) for i, f in up_fields]) + ",0\n"
            ).encode()

        def delete(key: Sequence[Any]) -> bytes:
            if len(key) != k:
                raise _width_error(t, len(key), k, "a deleted key")
            return (",".join([f(key[i]) for i, f in del_fields]) + del_tail).encode()

    _, largest = key_size_bounds(t)
    key_kinds = {c.kind for c in t.columns if c.is_key}
    delete_check = _key_checker(t, range(k))
    checked_delete = _checked(delete_check, delete)
    if largest > KEY_SIZE_LIMIT or key_kinds & _NULLABLE_KEY_KINDS:
        return checked_delete, _checked(_key_checker(t, positions[:k]), upsert)
    return checked_delete, upsert


def _checked(check: Callable[[Sequence[Any]], None], enc: RowEncoder) -> RowEncoder:
    def encode_checked(row: Sequence[Any]) -> bytes:
        check(row)
        return enc(row)

    return encode_checked


def encode(
    t: SrTable,
    fmt: LoadFormat,
    upserts: Sequence[Sequence[Any]],
    deletes: Sequence[Sequence[Any]],
    *,
    time_zone: _dt.tzinfo,
    max_bytes: int,
) -> Iterator[tuple[bytes, int]]:
    """Stream Load bodies for ``deletes`` (key tuples in PRIMARY KEY order, ``__op`` 1) then ``upserts``
    (full rows in source column order, ``__op`` 0), as ``(body, rows)`` pieces of at most ``max_bytes``
    (a single larger row goes alone).

    TIMESTAMP values are shown in ``time_zone``. Raises SchemaError naming the table and key for a row
    whose key is NULL or over 128 bytes, or whose TEXT/BLOB/JSON value exceeds its StarRocks column.
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
    fmt = LoadFormat(fmt)
    delete, upsert = _row_encoders(t, fmt, time_zone)
    if fmt is LoadFormat.JSON:
        opening, sep, closing = b"[", b",", b"]"
    else:
        opening, sep, closing = b"", b"", b""
    empty = len(opening) + len(closing)
    parts: list[bytes] = [opening]
    size, count = empty, 0
    key_positions = t.source_positions[: len(t.key)]
    for rows, row_bytes, key_of in (
        (deletes, delete, lambda key: key),
        (upserts, upsert, lambda row: [row[p] for p in key_positions]),
    ):
        row: Sequence[Any] = ()
        try:
            for row in rows:
                data = row_bytes(row)
                grow = len(data) + (len(sep) if count else 0)
                if count and size + grow > max_bytes:
                    parts.append(closing)
                    yield b"".join(parts), count
                    parts, size, count = [opening], empty, 0
                    grow = len(data)
                if count and sep:
                    parts.append(sep)
                parts.append(data)
                size += grow
                count += 1
        except _TooLarge as e:
            raise SchemaError(
                f"a value of column {e.column.name} of {t.target} is {e.size} bytes, over the {e.limit} bytes "
                f"its StarRocks type {e.column.type_sql} holds (key ({', '.join(t.key)}) = "
                f"{_short(key_of(row))}); StarRocks would reject the row. Shorten the value in MySQL, or "
                "exclude the table with `tables.exclude`.",
                table=str(t.target),
                column=e.column.name,
                size=e.size,
            ) from None
    if count:
        parts.append(closing)
        yield b"".join(parts), count


# --------------------------------------------------------------------------------------- labels
def make_label(prefix: str, target: TableId, tag: str) -> str:
    """A Stream Load label ``{prefix}-{table}-{tag}``, deterministic, matching ``^[-\\w]{1,128}$``.

    Labels are unique per StarRocks database, so the database is not part of it. Characters outside
    ``[-A-Za-z0-9_]`` (StarRocks' ``\\w`` is ASCII) become ``_``; then, so that two names that differ
    only there do not share labels, and whenever the label is longer than 128, it is cut to 111
    characters and ends with ``-`` and 16 hex digits of the SHA-1 of the label as given.
    """
    raw = "-".join(part for part in (prefix, target.table, tag) if part)
    if not raw:
        raise ValueError("a label needs a prefix, a table or a tag")
    label = _LABEL_BAD.sub("_", raw)
    if label != raw or len(label) > LABEL_MAX:
        digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:_HASH_CHARS]
        label = f"{label[: LABEL_MAX - _HASH_CHARS - 1]}-{digest}"
    return label
