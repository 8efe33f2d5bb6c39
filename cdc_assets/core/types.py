"""MySQL/MariaDB column -> DuckDB column type and Arrow type, as lookup data with a reason per exception.

The mapping is the table :data:`TYPE_RULES` (one row per ``information_schema.COLUMNS.DATA_TYPE`` and
signedness), the ordered :data:`OVERRIDES` applied before it, and :data:`UNSUPPORTED` (types that are
refused with a reason). Every row is tested in ``cdc_assets_tests/test_types.py``.

The Arrow type is derived from the DuckDB type text (:data:`ARROW_BY_DUCKDB`), so the two never
disagree. The value side (what the snapshot and the binlog return, and how both become one canonical
Python value) lives in :mod:`cdc_assets.core.values`; its public functions are re-exported here so
that callers import the whole column contract from one module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from cdc_assets.core import values as _values
from cdc_assets.core.schema import Column, TableSchema
from cdc_assets.core.values import (
    Converter,
    binlog_values,
    snapshot_select_expr,
)
from cdc_assets.errors import UnsupportedTypeError

__all__ = [
    "ARROW_BY_DUCKDB",
    "OVERRIDES",
    "SPATIAL_TYPES",
    "TYPE_RULES",
    "UNSUPPORTED",
    "Converter",
    "Override",
    "TypeRule",
    "arrow_type",
    "binlog_converter",
    "binlog_values",
    "check_supported",
    "duckdb_type",
    "row_converter",
    "snapshot_converter",
    "snapshot_select_expr",
]

#: widest DECIMAL DuckDB has (DECIMAL(38, s) is stored as a 128-bit integer)
DUCKDB_MAX_DECIMAL_PRECISION = 38


@dataclass(frozen=True)
class TypeRule:
    """One row of the mapping: ``data_type`` (and signedness, None = either) -> DuckDB type text.

    ``DECIMAL({p},{s})`` is filled from the column's precision and scale. ``reason`` explains every row
    that is not the obvious same-named type.
    """

    data_type: str
    duckdb: str
    unsigned: bool | None = None
    reason: str = ""


@dataclass(frozen=True)
class Override:
    """A special case checked before :data:`TYPE_RULES`, in order; the first that applies wins."""

    name: str
    applies: Callable[[Column, bool], bool]  # (column, tinyint1_as_boolean) -> bool
    duckdb: str
    reason: str


#: information_schema DATA_TYPE of the spatial types (MySQL 8 says geomcollection, MariaDB geometrycollection)
SPATIAL_TYPES = (
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
)
_SPATIAL_REASON = (
    "the server's stored value, byte for byte: a 4-byte little-endian SRID, then the WKB, which is what both "
    "the snapshot and the binlog return. No DuckDB extension is needed to load it; with the spatial "
    "extension, ST_GeomFromWKB(col[5:]) reads the geometry (DuckDB's substr() does not take a BLOB)"
)

TYPE_RULES: tuple[TypeRule, ...] = (
    TypeRule("tinyint", "TINYINT", unsigned=False),
    TypeRule("tinyint", "UTINYINT", unsigned=True),
    TypeRule("smallint", "SMALLINT", unsigned=False),
    TypeRule("smallint", "USMALLINT", unsigned=True),
    TypeRule("mediumint", "INTEGER", unsigned=False, reason="DuckDB has no 24-bit integer; INTEGER holds it"),
    TypeRule(
        "mediumint", "UINTEGER", unsigned=True, reason="DuckDB has no 24-bit integer; UINTEGER holds it"
    ),
    TypeRule("int", "INTEGER", unsigned=False),
    TypeRule("int", "UINTEGER", unsigned=True),
    TypeRule("bigint", "BIGINT", unsigned=False),
    TypeRule(
        "bigint",
        "UBIGINT",
        unsigned=True,
        reason="the whole 0..2^64-1 range, exact (Flink CDC uses DECIMAL(20,0) because Java has no uint64)",
    ),
    TypeRule("decimal", "DECIMAL({p},{s})", reason="same precision and scale (see the override for p > 38)"),
    TypeRule(
        "float",
        "FLOAT",
        reason="the stored value is a float32; the snapshot reads it as DOUBLE because the server prints "
        "FLOAT with only 6 significant digits",
    ),
    TypeRule("double", "DOUBLE"),
    TypeRule(
        "real", "DOUBLE", reason="REAL is DOUBLE unless sql_mode REAL_AS_FLOAT (then the catalog says float)"
    ),
    TypeRule("date", "DATE", reason="zero and partial-zero dates ('0000-00-00', '2024-00-10') become NULL"),
    TypeRule(
        "datetime",
        "TIMESTAMP",
        reason="wall-clock time without a zone; DuckDB keeps microseconds, enough for DATETIME(0..6); "
        "zero datetimes become NULL",
    ),
    TypeRule(
        "timestamp",
        "TIMESTAMPTZ",
        reason="a TIMESTAMP is an instant (stored as UTC seconds since the epoch), kept as an aware UTC value; "
        "the zero TIMESTAMP becomes NULL",
    ),
    TypeRule(
        "time",
        "INTERVAL",
        reason="MySQL TIME is a signed duration from -838:59:59 to 838:59:59; DuckDB TIME only holds 00:00..24:00",
    ),
    TypeRule("year", "SMALLINT", reason="1901..2155 and 0 (YEAR '0000'); Flink CDC uses INT"),
    TypeRule(
        "char", "VARCHAR", reason="DuckDB VARCHAR has no length limit, so 4-byte utf8mb4 text never overflows"
    ),
    TypeRule("varchar", "VARCHAR"),
    TypeRule("tinytext", "VARCHAR"),
    TypeRule("text", "VARCHAR"),
    TypeRule("mediumtext", "VARCHAR"),
    TypeRule(
        "longtext",
        "VARCHAR",
        reason="MariaDB reports JSON columns as longtext (JSON is an alias there); the text is kept as written",
    ),
    TypeRule(
        "enum",
        "VARCHAR",
        reason="the member's text; a DuckDB ENUM would have to follow every ALTER of the member list",
    ),
    TypeRule(
        "set", "VARCHAR", reason="members in definition order joined by ',', as MySQL itself prints a SET"
    ),
    TypeRule(
        "json",
        "JSON",
        reason="MySQL's JSON type; DuckDB's json extension is statically linked, so no download is needed",
    ),
    TypeRule("binary", "BLOB", reason="exactly n bytes, trailing 0x00 padding included"),
    TypeRule("varbinary", "BLOB"),
    TypeRule("tinyblob", "BLOB"),
    TypeRule("blob", "BLOB"),
    TypeRule("mediumblob", "BLOB"),
    TypeRule("longblob", "BLOB"),
    TypeRule(
        "bit",
        "UBIGINT",
        reason="BIT(n), n <= 64, as its unsigned integer value (Flink CDC maps BIT(1) to BOOLEAN and BIT(n>1) "
        "to bytes)",
    ),
    *(TypeRule(name, "BLOB", reason=_SPATIAL_REASON) for name in SPATIAL_TYPES),
)

_TINYINT_WIDTH = re.compile(r"^\s*tinyint\s*\(\s*(\d+)\s*\)", re.IGNORECASE)
_TYPE_ARGS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


def is_boolean(col: Column, tinyint1_as_boolean: bool) -> bool:
    """Whether ``col`` is read as a boolean: a signed TINYINT(1) (BOOL) under treat-tinyint1-as-boolean."""
    if not tinyint1_as_boolean or col.data_type != "tinyint" or col.unsigned:
        return False
    m = _TINYINT_WIDTH.match(col.column_type)
    return m is not None and m.group(1) == "1"


def _decimal_args(col: Column) -> tuple[int, int]:
    """(precision, scale) from the catalog fields, else from ``column_type`` (MySQL's default 10,0)."""
    p, s = col.numeric_precision, col.numeric_scale
    if p is None or s is None:
        m = _TYPE_ARGS.search(col.column_type)
        p = int(m.group(1)) if m else 10
        s = int(m.group(2)) if m and m.group(2) else 0
    return p, s


OVERRIDES: tuple[Override, ...] = (
    Override(
        "tinyint(1) as boolean",
        is_boolean,
        "BOOLEAN",
        "treat-tinyint1-as-boolean.enabled (default true, as in Flink CDC): signed TINYINT(1) and BOOL are "
        "booleans; any non-zero value is true. TINYINT(1) UNSIGNED stays UTINYINT, as in Flink CDC",
    ),
    Override(
        "decimal wider than DuckDB",
        lambda col, _: col.data_type == "decimal" and _decimal_args(col)[0] > DUCKDB_MAX_DECIMAL_PRECISION,
        "VARCHAR",
        "DuckDB DECIMAL stops at 38 digits; the exact fixed-point text (e.g. '-1.500') is kept instead of "
        "rounding, as Flink CDC maps DECIMAL(p>38) to STRING",
    ),
)

#: data_type -> why it is refused (nothing today: every type the catalog reports is mapped or unknown)
UNSUPPORTED: dict[str, str] = {}

ARROW_BY_DUCKDB: dict[str, pa.DataType] = {
    "BOOLEAN": pa.bool_(),
    "TINYINT": pa.int8(),
    "UTINYINT": pa.uint8(),
    "SMALLINT": pa.int16(),
    "USMALLINT": pa.uint16(),
    "INTEGER": pa.int32(),
    "UINTEGER": pa.uint32(),
    "BIGINT": pa.int64(),
    "UBIGINT": pa.uint64(),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    # DuckDB reads an Arrow duration as INTERVAL (months = days = 0, all in microseconds).
    "INTERVAL": pa.duration("us"),
    # large_* (64-bit offsets): one batch of LONGTEXT/LONGBLOB values may exceed 2 GiB, which would make
    # pa.array() split plain string/binary columns into chunks.
    "VARCHAR": pa.large_string(),
    "JSON": pa.large_string(),
    "BLOB": pa.large_binary(),
}

_RULES: dict[tuple[str, bool | None], TypeRule] = {(r.data_type, r.unsigned): r for r in TYPE_RULES}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),(\d+)\)$")


def _resolve(col: Column, tinyint1_as_boolean: bool) -> tuple[str | None, str]:
    """(DuckDB type text, "") or (None, why the column is refused)."""
    dt = col.data_type.lower()
    if dt in UNSUPPORTED:
        return None, UNSUPPORTED[dt]
    for o in OVERRIDES:
        if o.applies(col, tinyint1_as_boolean):
            return o.duckdb, ""
    rule = _RULES.get((dt, col.unsigned)) or _RULES.get((dt, None))
    if rule is None:
        return None, "cdc_assets has no mapping for this type (it is not in cdc_assets.core.types.TYPE_RULES)"
    if rule.duckdb.startswith("DECIMAL"):
        p, s = _decimal_args(col)
        return rule.duckdb.format(p=p, s=s), ""
    return rule.duckdb, ""


def _unsupported(where: str, col: Column, reason: str) -> UnsupportedTypeError:
    return UnsupportedTypeError(
        f"column {where} has type {col.column_type}, which cannot be replicated: {reason}. Exclude its table "
        "with `tables.exclude` in the pipeline's source block, or change the column's type in MySQL "
        "(a future `transform` may cast it).",
        column=where,
        column_type=col.column_type,
    )


def duckdb_type(col: Column, *, tinyint1_as_boolean: bool = True) -> str:
    """The DuckDB column type text for ``col``; raises UnsupportedTypeError for unknown types."""
    text, reason = _resolve(col, tinyint1_as_boolean)
    if text is None:
        raise _unsupported(col.name, col, reason)
    return text


def arrow_type(col: Column, *, tinyint1_as_boolean: bool = True) -> pa.DataType:
    """The Arrow type a batch of ``col``'s canonical values is built with; DuckDB reads it as :func:`duckdb_type`."""
    text = duckdb_type(col, tinyint1_as_boolean=tinyint1_as_boolean)
    m = _DECIMAL.match(text)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    return ARROW_BY_DUCKDB[text]


def check_supported(schema: TableSchema, *, tinyint1_as_boolean: bool = True) -> None:
    """Raise UnsupportedTypeError for the first column that cannot be replicated (names ``db.table.column``).

    Besides the type itself this refuses columns whose values the binlog decoder cannot return exactly
    (see :func:`cdc_assets.core.values.unsupported_value_reason`).
    """
    for col in schema.columns:
        text, reason = _resolve(col, tinyint1_as_boolean)
        if text is not None:
            reason = _values.unsupported_value_reason(col) or ""
        if reason:
            raise _unsupported(f"{schema.table_id}.{col.name}", col, reason)


def snapshot_converter(col: Column, *, tinyint1_as_boolean: bool = True) -> Converter | None:
    """PyMySQL value (read with :func:`snapshot_select_expr`) -> canonical value; None means identity."""
    return _values.snapshot_converter_for(col, duckdb_type(col, tinyint1_as_boolean=tinyint1_as_boolean))


def binlog_converter(col: Column, *, tinyint1_as_boolean: bool = True) -> Converter | None:
    """python-mysql-replication value -> canonical value; None means identity."""
    return _values.binlog_converter_for(col, duckdb_type(col, tinyint1_as_boolean=tinyint1_as_boolean))


def row_converter(
    schema: TableSchema, origin: Literal["snapshot", "binlog"], *, tinyint1_as_boolean: bool = True
) -> Callable[[Sequence[Any]], tuple]:
    """A function converting one row (values in column order) from ``origin`` to a tuple of canonical values.

    Binlog rows come from python-mysql-replication as dicts; build the sequence with :func:`binlog_values`
    so that an empty SET is not mistaken for NULL.
    """
    if origin == "snapshot":
        make = snapshot_converter
    elif origin == "binlog":
        make = binlog_converter
    else:
        raise ValueError(f"origin must be 'snapshot' or 'binlog', not {origin!r}")
    return _values.compose_row(
        [make(c, tinyint1_as_boolean=tinyint1_as_boolean) for c in schema.columns], str(schema.table_id)
    )
