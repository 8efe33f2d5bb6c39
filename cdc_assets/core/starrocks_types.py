"""MySQL/MariaDB column -> StarRocks column, as data with a reason per row, and the CREATE TABLE text.

:data:`TYPE_RULES` is the mapping as the README shows it (:func:`type_mapping_markdown`); each row is
resolved by one small function in :data:`_MAPPERS` and every row is tested in
``cdc_assets_tests/test_starrocks_types.py``. The table is planned once per source schema
(:func:`plan_table`): key columns first, in PRIMARY KEY order and NOT NULL, as StarRocks requires of a
Primary Key table; every other column NULL-able, because a delete carries only the key and zero dates
load as NULL.

StarRocks sizes CHAR/VARCHAR/VARBINARY in bytes and stores text as UTF-8, so a text column is sized by
the most UTF-8 bytes its MySQL charset can produce (:data:`CHARSET_UTF8_BYTES`), not by the bytes it
takes in MySQL: a latin1 'é' is one byte in MySQL and two in StarRocks.

The value a row carries for each column is the canonical one of :mod:`cdc_assets.core.values`;
:attr:`SrColumn.kind` tells :mod:`cdc_assets.core.starrocks_load` how to write it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.sql import quote_ident
from cdc_assets.core.types import SPATIAL_TYPES
from cdc_assets.core.values import enum_members, unsupported_value_reason
from cdc_assets.errors import ConfigError, SchemaError, UnsupportedTypeError

__all__ = [
    "CHARSET_UTF8_BYTES",
    "FIXED_KEY_BYTES",
    "KEY_SIZE_LIMIT",
    "KINDS",
    "SrColumn",
    "SrTable",
    "TYPE_RULES",
    "TypeRule",
    "create_database_sql",
    "create_table_sql",
    "key_size_bounds",
    "map_column",
    "plan_table",
    "rule_for",
    "type_mapping_markdown",
    "value_limit",
]

#: StarRocks' encoded primary key limit in bytes (BE ``primary_key_limit_size``)
KEY_SIZE_LIMIT = 128
#: widest VARCHAR and VARBINARY StarRocks 2.1+ accepts, in bytes
MAX_VARCHAR = 1048576
#: largest JSON value StarRocks stores, in bytes
MAX_JSON = 16 * 1024 * 1024
MAX_DECIMAL_PRECISION = 38
#: the load operation column of a Primary Key table; a source column of that name cannot be loaded
OP_COLUMN = "__op"

#: how starrocks_load writes a column's canonical value:
#: bool, int, float, decimal (Decimal), date, datetime (naive), timestamp (aware UTC, shifted to the
#: load time zone), time (timedelta -> text), string, json (raw JSON text), binary (bytes), and the key
#: remaps decimal_string, float_string, hex_string (the value as VARCHAR text)
KINDS = frozenset(
    {
        "bool",
        "int",
        "float",
        "decimal",
        "date",
        "datetime",
        "timestamp",
        "time",
        "string",
        "json",
        "binary",
        "decimal_string",
        "float_string",
        "hex_string",
    }
)

#: bytes of the fixed-width StarRocks key types, as the primary key encoding counts them
FIXED_KEY_BYTES: Mapping[str, int] = MappingProxyType(
    {
        "BOOLEAN": 1,
        "TINYINT": 1,
        "SMALLINT": 2,
        "INT": 4,
        "DATE": 4,
        "BIGINT": 8,
        "DATETIME": 8,
        "LARGEINT": 16,
    }
)

#: MySQL charset -> (most UTF-8 bytes one of its characters takes, most UTF-8 bytes per byte it stores).
#: The first sizes CHAR/VARCHAR(n) (n is in characters), the second the TEXT types (limits in bytes).
#: Single-byte charsets reaching past U+07FF (the euro sign, box drawing, Thai) take 3; CJK charsets
#: are all in the Basic Multilingual Plane (3 bytes for a 2-byte character, hence 1.5 per byte).
#: Checked against Python's codecs in the tests.
#: A charset missing here gets (4, 4), which always fits.
CHARSET_UTF8_BYTES: Mapping[str, tuple[int, float]] = MappingProxyType(
    {
        "ascii": (1, 1),
        "utf8mb4": (4, 1),
        "utf8mb3": (3, 1),
        "utf8": (3, 1),
        "utf32": (4, 1),
        "ucs2": (3, 1.5),
        "utf16": (4, 1.5),
        "utf16le": (4, 1.5),
        "gb18030": (4, 1.5),
        **{cs: (3, 1.5) for cs in ("big5", "gbk", "gb2312", "euckr", "ujis", "eucjpms")},
        # Shift-JIS stores half-width katakana in one byte; UTF-8 needs three
        "sjis": (3, 3),
        "cp932": (3, 3),
        "latin2": (2, 2),
        "latin5": (2, 2),
        **{
            cs: (3, 3)
            for cs in (
                "latin1",
                "latin7",
                "greek",
                "hebrew",
                "cp1250",
                "cp1251",
                "cp1256",
                "cp1257",
                "cp850",
                "cp852",
                "cp866",
                "koi8r",
                "koi8u",
                "macce",
                "macroman",
                "tis620",
                "armscii8",
                "geostd8",
                "keybcs2",
                "dec8",
                "hp8",
                "swe7",
            )
        },
    }
)
_UNKNOWN_CHARSET = (4, 4.0)

#: byte limits of the TEXT and BLOB types
_LOB_BYTES = {"tiny": 255, "": 65535, "medium": 16777215, "long": 4294967295}
_SPATIAL = frozenset(SPATIAL_TYPES)
#: '-838:59:59', the widest TIME without a fraction
_TIME_CHARS = 10
#: '-2.2250738585072014e-308', the longest repr() of a double
_FLOAT_TEXT_CHARS = 24


@dataclass(frozen=True)
class TypeRule:
    """One row of the mapping table: data, rendered into the README."""

    mysql: str
    starrocks: str
    reason: str


@dataclass(frozen=True)
class SrColumn:
    """A StarRocks column planned from a source column.

    ``type_sql`` is the DDL type, upper case (``VARCHAR(1020)``, ``DECIMAL(20,0)``); ``kind`` is one of
    :data:`KINDS`.
    """

    name: str
    type_sql: str
    nullable: bool
    is_key: bool
    source: Column
    kind: str


@dataclass(frozen=True)
class SrTable:
    """A StarRocks Primary Key table planned from a source table.

    ``columns`` are the key columns in PRIMARY KEY order, then the others in source order;
    ``source_positions[i]`` is the index of ``columns[i]`` in the source ``TableSchema.columns``.
    """

    target: TableId
    columns: tuple[SrColumn, ...]
    key: tuple[str, ...]
    source_positions: tuple[int, ...]

    @property
    def has_binary(self) -> bool:
        """True if a column is VARBINARY (StarRocks loads those only from CSV)."""
        return any(c.kind == "binary" for c in self.columns)


# ------------------------------------------------------------------------------------ the rules
_TINYINT1 = TypeRule(
    "TINYINT(1), BOOL",
    "BOOLEAN",
    "`treat-tinyint1-as-boolean.enabled` (default true, as in Flink CDC): any non-zero value is true. "
    "With the option off, or for TINYINT(1) UNSIGNED, the TINYINT rules apply",
)
_TINYINT = TypeRule("TINYINT", "TINYINT", "same range")
_TINYINT_U = TypeRule("TINYINT UNSIGNED", "SMALLINT", "0..255 does not fit StarRocks' signed TINYINT")
_SMALLINT = TypeRule("SMALLINT", "SMALLINT", "same range")
_SMALLINT_U = TypeRule(
    "SMALLINT UNSIGNED, MEDIUMINT [UNSIGNED]", "INT", "the next signed type that holds them"
)
_INT = TypeRule("INT", "INT", "same range")
_INT_U = TypeRule("INT UNSIGNED", "BIGINT", "0..4294967295 does not fit INT")
_BIGINT = TypeRule("BIGINT", "BIGINT", "same range")
_BIGINT_U = TypeRule(
    "BIGINT UNSIGNED",
    "LARGEINT",
    "the whole 0..2^64-1 range, exact, and allowed in a primary key (Flink CDC uses DECIMAL(20,0), which "
    "StarRocks refuses as a key)",
)
_YEAR = TypeRule("YEAR", "SMALLINT", "1901..2155, and 0 for YEAR '0000'")
_BIT1 = TypeRule("BIT(1)", "BOOLEAN", "one bit, as Flink CDC")
_BIT = TypeRule(
    "BIT(2..63)",
    "BIGINT",
    "the bits as an unsigned number (Flink CDC 3.6 writes BIT(n>1) as bytes, older versions fail on it)",
)
_BIT64 = TypeRule("BIT(64)", "LARGEINT", "up to 2^64-1, more than BIGINT holds")
_FLOAT = TypeRule("FLOAT", "FLOAT", "the stored 32-bit value, exact")
_DOUBLE = TypeRule("DOUBLE, REAL", "DOUBLE", "the stored 64-bit value, exact")
_DECIMAL = TypeRule(
    "DECIMAL(p,s), p <= 38", "DECIMAL(p,s)", "same precision and scale, written as exact text"
)
_DECIMAL_WIDE = TypeRule(
    "DECIMAL(p,s), p > 38",
    "VARCHAR(p+2)",
    "StarRocks DECIMAL stops at 38 digits: the exact fixed-point text ('-1.50') instead of a rounded number "
    "(Flink CDC: VARCHAR(1048576))",
)
_DATE = TypeRule("DATE", "DATE", "zero and partial-zero dates ('0000-00-00', '2024-00-10') load as NULL")
_DATETIME = TypeRule(
    "DATETIME(p)",
    "DATETIME",
    "microseconds kept (Flink CDC drops the fraction, flink-cdc#4376); zero datetimes load as NULL",
)
_TIMESTAMP = TypeRule(
    "TIMESTAMP(p)",
    "DATETIME",
    "the instant shown in `server-time-zone` (UTC when unset), microseconds kept (Flink CDC drops them); "
    "the zero TIMESTAMP loads as NULL. In a zone with daylight saving time the repeated autumn hour "
    "shows two instants as one wall-clock time: keep UTC where that matters (for example in a key)",
)
_TIME = TypeRule(
    "TIME(p)",
    "VARCHAR(10) or VARCHAR(11+p)",
    "StarRocks has no TIME type and MySQL TIME spans -838:59:59..838:59:59: the text MySQL prints, "
    "'-838:59:59.000000' with p fraction digits (Flink CDC before 3.6 fails on TIME)",
)
_CHAR = TypeRule(
    "CHAR(n), VARCHAR(n)",
    "VARCHAR(n × b)",
    "StarRocks counts bytes, MySQL characters: b is the most UTF-8 bytes one character of the column's "
    "charset takes (utf8mb4 4, utf8mb3 3, latin1 3, gbk 3, ascii 1; unknown 4), capped at 1048576. Flink "
    "CDC's n × 3 overflows on 4-byte characters such as emoji. CHAR becomes VARCHAR, so it can be a key",
)
_TEXT = TypeRule(
    "TINYTEXT, TEXT, MEDIUMTEXT, LONGTEXT",
    "VARCHAR(255), VARCHAR(65535), VARCHAR(1048576) (utf8mb4)",
    "the type's byte limit in UTF-8 bytes, capped at 1048576 (StarRocks' widest VARCHAR); a longer "
    "value stops the load with an error naming the column. MariaDB's JSON is a LONGTEXT and stays text",
)
_ENUM = TypeRule("ENUM", "VARCHAR(longest member × b)", "the member's text")
_SET = TypeRule(
    "SET",
    "VARCHAR(all members joined × b)",
    "the members in definition order joined by ',', as MySQL prints them (Flink CDC fails on SET)",
)
_JSON = TypeRule(
    "JSON",
    "JSON",
    "StarRocks' own JSON type, queryable with JSON functions (Flink CDC writes a VARCHAR); at most 16 MB",
)
_BINARY = TypeRule(
    "BINARY(n), VARBINARY(n)",
    "VARBINARY(n)",
    "the exact bytes, BINARY's 0x00 padding included; loaded as hex in CSV (StarRocks 3.0+)",
)
_BLOB = TypeRule(
    "TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB",
    "VARBINARY(255), VARBINARY(65535), VARBINARY(1048576)",
    "the exact bytes, capped at 1048576; a longer value stops the load with an error naming the column",
)
_SPATIAL_RULE = TypeRule(
    "GEOMETRY, POINT, POLYGON, ... (spatial)",
    "VARBINARY(1048576)",
    "MySQL's stored value, a 4-byte SRID then WKB, byte for byte (Flink CDC writes a GeoJSON-like text)",
)
_KEY_DECIMAL = TypeRule(
    "DECIMAL(p,s) in the primary key",
    "VARCHAR(p+2)",
    "StarRocks refuses DECIMAL keys: the text with exactly s decimals, so equal numbers give equal keys "
    "(VARCHAR(p+3) when s = p, for the leading '0.')",
)
_KEY_FLOAT = TypeRule(
    "FLOAT, DOUBLE in the primary key",
    "VARCHAR(24)",
    "StarRocks refuses FLOAT/DOUBLE keys: the shortest text that reads back as the same number",
)
_KEY_BINARY = TypeRule(
    "BINARY, VARBINARY, BLOB, spatial in the primary key",
    "VARCHAR(2 × n)",
    "StarRocks refuses VARBINARY keys: upper-case hex text",
)
_KEY_JSON = TypeRule(
    "JSON in the primary key",
    "VARCHAR(1048576)",
    "StarRocks refuses JSON keys (MySQL does too; for completeness): the JSON text",
)
_REFUSED = TypeRule(
    "anything else (MariaDB UUID, INET4, INET6, VECTOR, ...)",
    "refused",
    "the pipeline stops with an error naming the table, column and type; exclude the table with "
    "`tables.exclude`. So are text columns whose charset the binlog decoder cannot read exactly",
)

TYPE_RULES: tuple[TypeRule, ...] = (
    _TINYINT1,
    _TINYINT,
    _TINYINT_U,
    _SMALLINT,
    _SMALLINT_U,
    _INT,
    _INT_U,
    _BIGINT,
    _BIGINT_U,
    _YEAR,
    _BIT1,
    _BIT,
    _BIT64,
    _FLOAT,
    _DOUBLE,
    _DECIMAL,
    _DECIMAL_WIDE,
    _DATE,
    _DATETIME,
    _TIMESTAMP,
    _TIME,
    _CHAR,
    _TEXT,
    _ENUM,
    _SET,
    _JSON,
    _BINARY,
    _BLOB,
    _SPATIAL_RULE,
    _KEY_DECIMAL,
    _KEY_FLOAT,
    _KEY_BINARY,
    _KEY_JSON,
    _REFUSED,
)


# ------------------------------------------------------------------------------- column arguments
_ARGS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_TINYINT_WIDTH = re.compile(r"^\s*tinyint\s*\(\s*1\s*\)", re.IGNORECASE)


def _type_args(col: Column) -> tuple[int | None, int | None]:
    m = _ARGS.search(col.column_type)
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)


def _decimal_args(col: Column) -> tuple[int, int]:
    """(precision, scale) from the catalog, else from ``column_type``, else MySQL's default (10, 0)."""
    if col.numeric_precision is not None and col.numeric_scale is not None:
        return col.numeric_precision, col.numeric_scale
    p, s = _type_args(col)
    return (p if p is not None else 10), (s or 0)


def _length(col: Column, default: int) -> int:
    """CHAR/VARCHAR length in characters, BINARY/VARBINARY in bytes, BIT in bits, TIME fraction digits."""
    if col.data_type == "bit" and col.numeric_precision is not None:
        return col.numeric_precision
    if col.data_type == "time" and col.datetime_precision is not None:
        return col.datetime_precision
    if col.data_type not in ("bit", "time") and col.char_max_length is not None:
        return col.char_max_length
    n, _ = _type_args(col)
    return default if n is None else n


def _charset(col: Column) -> tuple[int, float]:
    return CHARSET_UTF8_BYTES.get((col.charset or "").lower(), _UNKNOWN_CHARSET)


def _lob_bytes(data_type: str) -> int:
    return _LOB_BYTES[data_type.removesuffix("text").removesuffix("blob")]


def _varchar(n: int) -> str:
    return f"VARCHAR({max(1, min(n, MAX_VARCHAR))})"


def _varbinary(n: int) -> str:
    return f"VARBINARY({max(1, min(n, MAX_VARCHAR))})"


# ------------------------------------------------------------------------------------ the mappers
# Each mapper: (column, is_key, tinyint1_as_boolean) -> (StarRocks type, kind, rule).
_Mapped = tuple[str, str, TypeRule]


def _tinyint(col: Column, is_key: bool, t1b: bool) -> _Mapped:
    if col.unsigned:
        return "SMALLINT", "int", _TINYINT_U
    if t1b and _TINYINT_WIDTH.match(col.column_type):
        return "BOOLEAN", "bool", _TINYINT1
    return "TINYINT", "int", _TINYINT


def _integer(signed: tuple[str, TypeRule], unsigned: tuple[str, TypeRule]) -> Callable[..., _Mapped]:
    def mapper(col: Column, is_key: bool, t1b: bool) -> _Mapped:
        sr, rule = unsigned if col.unsigned else signed
        return sr, "int", rule

    return mapper


def _bit(col: Column, is_key: bool, t1b: bool) -> _Mapped:
    n = _length(col, 1)
    if n == 1:
        return "BOOLEAN", "bool", _BIT1
    if n <= 63:
        return "BIGINT", "int", _BIT
    return "LARGEINT", "int", _BIT64


def _float(rule: TypeRule, sr: str) -> Callable[..., _Mapped]:
    def mapper(col: Column, is_key: bool, t1b: bool) -> _Mapped:
        if is_key:
            return f"VARCHAR({_FLOAT_TEXT_CHARS})", "float_string", _KEY_FLOAT
        return sr, "float", rule

    return mapper


def _decimal(col: Column, is_key: bool, t1b: bool) -> _Mapped:
    p, s = _decimal_args(col)
    # sign and point; '0.' before the digits when all of them are decimals
    text = _varchar(p + 2 + (1 if s == p else 0))
    if p > MAX_DECIMAL_PRECISION:
        # the canonical value is already the fixed-point text
        return text, "string", (_KEY_DECIMAL if is_key else _DECIMAL_WIDE)
    if is_key:
        return text, "decimal_string", _KEY_DECIMAL
    return f"DECIMAL({p},{s})", "decimal", _DECIMAL


def _time(col: Column, is_key: bool, t1b: bool) -> _Mapped:
    fsp = _length(col, 0)
    return _varchar(_TIME_CHARS + (fsp + 1 if fsp else 0)), "time", _TIME


def _char(col: Column, is_key: bool, t1b: bool) -> _Mapped:
    return _varchar(_length(col, 1) * _charset(col)[0]), "string", _CHAR


def _text(col: Column, is_key: bool, t1b: bool) -> _Mapped:
    return _varchar(math.ceil(_lob_bytes(col.data_type) * _charset(col)[1])), "string", _TEXT


def _enum(col: Column, is_key: bool, t1b: bool) -> _Mapped:
    members = enum_members(col.column_type)
    if col.data_type == "enum":
        chars, commas, rule = max((len(m) for m in members), default=0), 0, _ENUM
    else:
        chars, commas, rule = sum(len(m) for m in members), max(0, len(members) - 1), _SET
    return _varchar(chars * _charset(col)[0] + commas), "string", rule


def _json(col: Column, is_key: bool, t1b: bool) -> _Mapped:
    if is_key:
        return _varchar(MAX_VARCHAR), "string", _KEY_JSON
    return "JSON", "json", _JSON


def _binary_of(size: Callable[[Column], int], rule: TypeRule) -> Callable[..., _Mapped]:
    def mapper(col: Column, is_key: bool, t1b: bool) -> _Mapped:
        n = size(col)
        if is_key:
            return _varchar(2 * n), "hex_string", _KEY_BINARY
        return _varbinary(n), "binary", rule

    return mapper


def _fixed(sr: str, kind: str, rule: TypeRule) -> Callable[..., _Mapped]:
    return lambda col, is_key, t1b: (sr, kind, rule)


_MAPPERS: dict[str, Callable[[Column, bool, bool], _Mapped]] = {
    "tinyint": _tinyint,
    "smallint": _integer(("SMALLINT", _SMALLINT), ("INT", _SMALLINT_U)),
    "mediumint": _integer(("INT", _SMALLINT_U), ("INT", _SMALLINT_U)),
    "int": _integer(("INT", _INT), ("BIGINT", _INT_U)),
    "integer": _integer(("INT", _INT), ("BIGINT", _INT_U)),
    "bigint": _integer(("BIGINT", _BIGINT), ("LARGEINT", _BIGINT_U)),
    "year": _fixed("SMALLINT", "int", _YEAR),
    "bit": _bit,
    "float": _float(_FLOAT, "FLOAT"),
    "double": _float(_DOUBLE, "DOUBLE"),
    "real": _float(_DOUBLE, "DOUBLE"),
    "decimal": _decimal,
    "date": _fixed("DATE", "date", _DATE),
    "datetime": _fixed("DATETIME", "datetime", _DATETIME),
    "timestamp": _fixed("DATETIME", "timestamp", _TIMESTAMP),
    "time": _time,
    "char": _char,
    "varchar": _char,
    **{f"{size}text": _text for size in _LOB_BYTES},
    "enum": _enum,
    "set": _enum,
    "json": _json,
    "binary": _binary_of(lambda col: _length(col, 1), _BINARY),
    "varbinary": _binary_of(lambda col: _length(col, 1), _BINARY),
    **{f"{size}blob": _binary_of(lambda col: _lob_bytes(col.data_type), _BLOB) for size in _LOB_BYTES},
    **{name: _binary_of(lambda col: MAX_VARCHAR, _SPATIAL_RULE) for name in _SPATIAL},
}


def _unsupported(where: str, col: Column, reason: str) -> UnsupportedTypeError:
    return UnsupportedTypeError(
        f"column {where} has type {col.column_type}, which cannot be replicated to StarRocks: {reason}. "
        "Exclude its table with `tables.exclude` in the pipeline's source block, or change the column's "
        "type in MySQL.",
        column=where,
        column_type=col.column_type,
    )


def _resolve(col: Column, is_key: bool, t1b: bool, where: str) -> _Mapped:
    mapper = _MAPPERS.get(col.data_type.lower())
    if mapper is None:
        raise _unsupported(where, col, "cdc_assets has no StarRocks mapping for this type")
    reason = unsupported_value_reason(col)
    if reason:
        raise _unsupported(where, col, reason)
    return mapper(col, is_key, t1b)


def rule_for(col: Column, *, is_key: bool, tinyint1_as_boolean: bool = True) -> TypeRule:
    """The :data:`TYPE_RULES` row that maps ``col``; raises UnsupportedTypeError like :func:`map_column`."""
    return _resolve(col, is_key, tinyint1_as_boolean, col.name)[2]


def map_column(col: Column, *, is_key: bool, tinyint1_as_boolean: bool = True) -> SrColumn:
    """The StarRocks column for ``col``; raises UnsupportedTypeError if it cannot be represented."""
    return _map(col, is_key, tinyint1_as_boolean, col.name)


def _map(col: Column, is_key: bool, t1b: bool, where: str) -> SrColumn:
    type_sql, kind, _rule = _resolve(col, is_key, t1b, where)
    return SrColumn(
        name=col.name, type_sql=type_sql, nullable=not is_key, is_key=is_key, source=col, kind=kind
    )


# ---------------------------------------------------------------------------------- key and values
_VARCHAR_LEN = re.compile(r"^VARCHAR\((\d+)\)$")


def _varchar_bytes(c: SrColumn) -> int | None:
    m = _VARCHAR_LEN.match(c.type_sql)
    return int(m.group(1)) if m else None


def key_size_bounds(t: SrTable) -> tuple[int, int]:
    """(smallest, largest) encoded key size in bytes: the fixed-width part, plus the VARCHAR maxima."""
    fixed = var = 0
    for c in t.columns:
        if c.is_key:
            width = FIXED_KEY_BYTES.get(c.type_sql)
            if width is None:
                var += _varchar_bytes(c) or 0
            else:
                fixed += width
    return fixed, fixed + var


def _source_max_bytes(col: Column) -> int | None:
    """The most bytes a value of ``col`` can take as loaded, where the declared StarRocks size may be
    smaller (TEXT/BLOB/spatial/JSON), else None."""
    dt = col.data_type.lower()
    if dt.endswith("text"):
        return math.ceil(_lob_bytes(dt) * _charset(col)[1])
    if dt.endswith("blob"):
        return _lob_bytes(dt)
    if dt in _SPATIAL or dt == "json":
        return 2**32 - 1
    return None


def value_limit(c: SrColumn) -> int | None:
    """The byte limit a value of ``c`` must be checked against before loading, or None when the column's
    StarRocks type holds every value the source can have."""
    most = _source_max_bytes(c.source)
    if most is None:
        return None
    if c.type_sql == "JSON":
        limit = MAX_JSON
    else:
        m = re.search(r"\((\d+)\)", c.type_sql)
        limit = int(m.group(1)) if m else MAX_VARCHAR
        if c.kind == "hex_string":
            most *= 2
    return limit if most > limit else None


# ---------------------------------------------------------------------------------------- tables
def plan_table(schema: TableSchema, target: TableId, *, tinyint1_as_boolean: bool = True) -> SrTable:
    """The StarRocks Primary Key table for ``schema``, written as ``target``.

    Raises SchemaError for a table without a primary key, a column named ``__op``, or a key that can
    never fit StarRocks' 128 bytes; UnsupportedTypeError for a column that cannot be represented.
    """
    if not schema.primary_key:
        raise SchemaError(
            f"table {schema.table_id} has no primary key; StarRocks Primary Key tables (the only kind "
            "cdc_assets writes, as Flink CDC) need one. Add a PRIMARY KEY in MySQL, or exclude the table "
            "with `tables.exclude`.",
            table=str(schema.table_id),
        )
    names = schema.column_names
    missing = [k for k in schema.primary_key if k not in names]
    if missing:
        raise SchemaError(
            f"table {schema.table_id}: primary key column(s) {missing} are not among its columns {list(names)}; "
            "the catalog read was inconsistent, restart the pipeline so that the schema is read again",
            table=str(schema.table_id),
        )
    clash = [n for n in names if n.lower() == OP_COLUMN]
    if clash:
        raise SchemaError(
            f"table {schema.table_id} has a column named {clash[0]!r}, which StarRocks reserves for the load "
            "operation of Primary Key tables; rename the column in MySQL or exclude the table with "
            "`tables.exclude`.",
            table=str(schema.table_id),
        )
    keys = schema.key_positions
    key_set = set(keys)
    others = tuple(i for i in range(len(names)) if i not in key_set)
    positions = keys + others
    columns = tuple(
        _map(schema.columns[i], i in key_set, tinyint1_as_boolean, f"{schema.table_id}.{names[i]}")
        for i in positions
    )
    table = SrTable(target=target, columns=columns, key=tuple(schema.primary_key), source_positions=positions)
    fixed, _ = key_size_bounds(table)
    if fixed > KEY_SIZE_LIMIT:
        raise SchemaError(
            f"table {schema.table_id}: its primary key ({', '.join(schema.primary_key)}) takes {fixed} bytes in "
            f"StarRocks ({', '.join(f'{c.name} {c.type_sql}' for c in columns if c.is_key)}), over the "
            f"{KEY_SIZE_LIMIT}-byte limit of a Primary Key table; exclude the table with `tables.exclude`.",
            table=str(schema.table_id),
            key_bytes=fixed,
        )
    return table


_PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_NO_PROPERTIES: Mapping[str, str] = MappingProxyType({})


def create_database_sql(db: str) -> str:
    """``CREATE DATABASE IF NOT EXISTS `db```."""
    return f"CREATE DATABASE IF NOT EXISTS {quote_ident(db, 'starrocks')}"


def _string_literal(value: str) -> str:
    # StarRocks string literals take backslash escapes, as MySQL's do.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_table_sql(
    t: SrTable,
    *,
    num_buckets: int | None = None,
    properties: Mapping[str, str] = _NO_PROPERTIES,
    partition_keys: tuple[str, ...] = (),
) -> str:
    """The CREATE TABLE IF NOT EXISTS statement of ``t``, hashed on its key.

    ``num_buckets`` is ``table.create.num-buckets`` (None lets StarRocks 2.5.7+ choose);
    ``properties`` are ``table.create.properties.*`` (and a transform's ``table-options``);
    a ``comment`` property becomes the table's COMMENT;
    ``partition_keys`` (a transform's ``partition-keys``) become column expression partitioning,
    ``PARTITION BY (a, b)`` (StarRocks 3.1+), and must be key columns, as StarRocks requires of a
    Primary Key table. Raises ConfigError for a bad bucket count, property name or partition column.
    """

    def q(name: str) -> str:
        return quote_ident(name, "starrocks")

    cols = ", ".join(f"{q(c.name)} {c.type_sql} {'NULL' if c.nullable else 'NOT NULL'}" for c in t.columns)
    key = ", ".join(q(k) for k in t.key)
    properties = dict(properties)
    # A table comment is a clause, not a property (Flink CDC's documented `table-options: comment=...`).
    comment = properties.pop("comment", None)
    partition = "" if comment is None else f" COMMENT {_string_literal(str(comment))}"
    if partition_keys:
        not_key = [p for p in partition_keys if p not in t.key]
        if not_key:
            raise ConfigError(
                f"partition-keys {', '.join(not_key)} of {t.target} are not among its primary key columns "
                f"({', '.join(t.key)}); StarRocks requires partition columns to be key columns",
                option="partition-keys",
            )
        partition += f" PARTITION BY ({', '.join(q(p) for p in partition_keys)})"
    sql = (
        f"CREATE TABLE IF NOT EXISTS {q(t.target.db)}.{q(t.target.table)} ({cols}) "
        f"PRIMARY KEY({key}){partition} DISTRIBUTED BY HASH({key})"
    )
    if num_buckets is not None:
        if isinstance(num_buckets, bool) or not isinstance(num_buckets, int) or num_buckets < 1:
            raise ConfigError(
                f"table.create.num-buckets must be a whole number of at least 1, not {num_buckets!r}",
                option="table.create.num-buckets",
            )
        sql += f" BUCKETS {num_buckets}"
    if properties:
        items = []
        for k, v in properties.items():
            if not _PROPERTY_KEY.match(k):
                raise ConfigError(
                    f"table.create.properties.{k}: {k!r} is not a StarRocks table property name (letters, "
                    "digits, '_', '.', '-'); fix the name in the sink block",
                    option=f"table.create.properties.{k}",
                )
            v = str(v)
            if "\x00" in v:
                raise ConfigError(
                    f"table.create.properties.{k} contains a NUL character; remove it from the sink block",
                    option=f"table.create.properties.{k}",
                )
            items.append(f"{_string_literal(k)} = {_string_literal(v)}")
        sql += f" PROPERTIES ({', '.join(items)})"
    return sql


def type_mapping_markdown() -> str:
    """The mapping as a Markdown table (MySQL | StarRocks | Why), with the table-level rules below it."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| MySQL | StarRocks | Why |", "| --- | --- | --- |"]
    lines += [f"| {cell(r.mysql)} | {cell(r.starrocks)} | {cell(r.reason)} |" for r in TYPE_RULES]
    lines += [
        "",
        "- Tables become StarRocks Primary Key tables with the source's primary key, hashed on it. Key "
        "columns come first, in key order, NOT NULL; a table without a primary key is refused.",
        "- Every other column is NULL-able: a delete carries only the key, and zero dates load as NULL.",
        f"- StarRocks limits an encoded key to {KEY_SIZE_LIMIT} bytes (fixed-width types count their size, "
        "VARCHAR its UTF-8 bytes). A table whose key can never fit is refused when it is planned; a row "
        "whose key does not fit stops the load with an error naming the table and the key.",
    ]
    return "\n".join(lines) + "\n"
