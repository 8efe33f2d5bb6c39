"""The fast snapshot read: one SELECT whose result connectorx turns into Arrow, then vectorized conversion.

The exact path (:func:`cdc_assets.mysql.snapshot.read_chunk` + ``row_converter(schema, "snapshot")``)
defines the canonical values; this module plans a read whose result, after :meth:`ArrowReadPlan.to_canonical`,
is the same table value for value, with no per-row Python. connectorx 0.4.6 (binary protocol) reads some
types exactly and mangles or panics on others, so each column is read by one rule of :data:`READ_RULES`,
chosen from the catalog: either the bare column, or an expression the server computes (text for
DECIMAL, DATE and DATETIME; microseconds for TIMESTAMP and TIME; an integer for BIT; bytes for spatial
types), then converted with ``pyarrow.compute``. Columns no rule can read exactly are listed in
:data:`SLOW_TYPES`; a plan that holds one says ``fast is False`` with the reason, and the caller reads
the table with the exact path.

The reader's session must be the exact path's: ``time_zone = '+00:00'`` (TIMESTAMP bounds are UTC
wall-clock literals) and no ``PAD_CHAR_TO_FULL_LENGTH``; :data:`SESSION_SQL` sets both.

connectorx binds no parameters, so chunk bounds become SQL literals (:func:`sql_literal`), in a form that
means the same whatever the server's ``sql_mode`` (no quotes or backslashes to escape: strings and bytes
are hex literals).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdc_assets.core.chunks import Chunk, key_range_predicate
from cdc_assets.core.schema import Column, TableSchema
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.types import SPATIAL_TYPES, arrow_type, duckdb_type
from cdc_assets.errors import SchemaError

#: The reader's session settings (one statement), as :func:`cdc_assets.mysql.connection.connect` sets them.
SESSION_SQL = (
    "SET NAMES utf8mb4, time_zone = '+00:00', "
    "sql_mode = REPLACE(@@SESSION.sql_mode, 'PAD_CHAR_TO_FULL_LENGTH', '')"
)

Convert = Callable[[pa.Array | pa.ChunkedArray, pa.DataType], pa.Array | pa.ChunkedArray]


# ----------------------------------------------------------------------------------- conversions
def _cast(values, target: pa.DataType):
    # A checked cast: integers that do not fit, text that is not UTF-8 or a decimal that would
    # lose digits raise instead of changing.
    return pc.cast(values, target)


def _nonzero(values, target: pa.DataType):
    return pc.cast(pc.not_equal(values, 0), target)


def _valid_date_prefix(text):
    """(parsed 'YYYY-MM-DD' prefix as timestamp[s], mask of dates Python accepts) for MySQL date text.

    PyMySQL turns a date it cannot build into its text and the exact path into NULL: the zero date,
    month or day 0, year 0, and (with ALLOW_INVALID_DATES) days past the month's end. strptime
    rejects month/day 0 but rolls 2023-02-29 over to 03-01, so the parsed day must equal the written one.
    """
    parsed = pc.strptime(
        pc.utf8_slice_codeunits(text, 0, 10), format="%Y-%m-%d", unit="s", error_is_null=True
    )
    written_day = pc.cast(pc.utf8_slice_codeunits(text, 8, 10), pa.int64())
    valid = pc.and_(pc.greater_equal(pc.year(parsed), 1), pc.equal(pc.day(parsed), written_day))
    return parsed, valid


_YEAR_ONE = {pa.date32(): _dt.date(1, 1, 1), pa.timestamp("us"): _dt.datetime(1, 1, 1)}


def _parsed_if_all_valid(text, target: pa.DataType):
    """Arrow's own parse of the text when it holds only dates Python accepts, else None (the common case,
    cheaper than validating each value: Arrow's parser refuses month/day 0 and days past the month's end,
    and accepts year 0, which is checked here)."""
    try:
        out = pc.cast(text, target)
    except pa.ArrowInvalid:
        return None
    if pc.any(pc.less(out, pa.scalar(_YEAR_ONE[target], target))).as_py():
        return None
    return out


def _date_from_text(values, target: pa.DataType):
    out = _parsed_if_all_valid(values, target)
    if out is not None:
        return out
    parsed, valid = _valid_date_prefix(values)
    return pc.if_else(valid, pc.cast(parsed, target), pa.scalar(None, target))


def _datetime_from_text(values, target: pa.DataType):
    out = _parsed_if_all_valid(values, target)
    if out is not None:
        return out
    _, valid = _valid_date_prefix(values)
    return pc.cast(pc.if_else(valid, values, pa.scalar(None, values.type)), target)


def _timestamp_from_micros(values, target: pa.DataType):
    # UNIX_TIMESTAMP() of the zero TIMESTAMP is 0; real values start at 1970-01-01 00:00:01 UTC.
    micros = pc.cast(values, pa.int64())
    return pc.cast(pc.if_else(pc.equal(micros, 0), pa.scalar(None, pa.int64()), micros), target)


# ----------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class ReadRule:
    """How one kind of column is read: the SELECT expression (``{col}`` is the quoted column) and the
    conversion of what connectorx returns for it to the canonical Arrow type, with the reason."""

    name: str
    select: str
    convert: Convert
    reason: str


_NATIVE = ReadRule(
    "native",
    "{col}",
    _cast,
    "the binary protocol carries the value exactly and connectorx keeps it; only the Arrow width changes "
    "(text arrives as UTF-8 whatever the column's charset, BINARY(n) with its padding, SET in definition order)",
)

#: data_type -> rule; what is not here and not in SLOW_TYPES is unknown (the type mapping refuses it first).
READ_RULES: dict[str, ReadRule] = {
    **{
        t: _NATIVE
        for t in (
            "tinyint",
            "smallint",
            "mediumint",
            "int",
            "bigint",
            "year",
            "double",
            "real",
            "char",
            "varchar",
            "tinytext",
            "text",
            "mediumtext",
            "longtext",
            "enum",
            "set",
            "binary",
            "varbinary",
            "tinyblob",
            "blob",
            "mediumblob",
            "longblob",
        )
    },
    "decimal": ReadRule(
        "decimal-text",
        "CAST({col} AS CHAR)",
        _cast,
        "connectorx returns every DECIMAL as decimal128(38,10) (truncating larger scales) and panics past 28 "
        "digits; the server's text has exactly the column's scale and converts to decimal128(p,s) exactly",
    ),
    "float": ReadRule(
        "float-as-double",
        "CAST({col} AS DOUBLE)",
        _cast,
        "as the exact path reads it: the stored float32 widened exactly, so narrowing back to float32 is exact",
    ),
    "date": ReadRule(
        "date-text",
        "CAST({col} AS CHAR)",
        _date_from_text,
        "connectorx panics on zero dates; the text is parsed and every date Python cannot hold becomes NULL",
    ),
    "datetime": ReadRule(
        "datetime-text",
        "CAST({col} AS CHAR)",
        _datetime_from_text,
        "connectorx panics on zero datetimes; the text is parsed and every invalid date becomes NULL",
    ),
    "timestamp": ReadRule(
        "timestamp-micros",
        "CAST(UNIX_TIMESTAMP({col}) * 1000000 AS SIGNED)",
        _timestamp_from_micros,
        "UNIX_TIMESTAMP of a TIMESTAMP column is the stored instant, whatever the session's time zone; "
        "connectorx would panic on the zero TIMESTAMP, which is 0 here and becomes NULL",
    ),
    "time": ReadRule(
        "time-micros",
        "TIMESTAMPDIFF(MICROSECOND, '2000-01-01', TIMESTAMP('2000-01-01', {col}))",
        _cast,
        "connectorx reads TIME as a time of day and panics on negative values; the signed duration in "
        "microseconds is exact (TIME_TO_SEC would drop the fraction on MySQL)",
    ),
    "bit": ReadRule(
        "bit-unsigned",
        "CAST({col} AS UNSIGNED)",
        _cast,
        "connectorx returns BIT(n) as big-endian bytes; the server's unsigned integer is the canonical value",
    ),
    **{
        t: ReadRule(
            "spatial-bytes",
            "CAST({col} AS BINARY)",
            _cast,
            "connectorx does not implement MYSQL_TYPE_GEOMETRY (it panics); the cast returns the stored "
            "bytes (SRID + WKB), as the exact path reads them",
        )
        for t in SPATIAL_TYPES
    },
}

_BOOLEAN = ReadRule(
    "tinyint1-bool",
    "{col}",
    _nonzero,
    "treat-tinyint1-as-boolean: any non-zero TINYINT(1) is true, as the exact path converts it",
)

#: data_type -> why it cannot be converted exactly without a per-value Python step (read by the exact path).
SLOW_TYPES: dict[str, str] = {
    "json": "MySQL's JSON documents are normalised by json.loads/json.dumps (Python's number and escape "
    "formatting), which no Arrow compute function reproduces",
}


@dataclass(frozen=True)
class ColumnRead:
    """The plan for one column: the rule chosen and the canonical Arrow type its values end in."""

    column: Column
    rule: ReadRule | None  # None: the column cannot be read fast (see ``reason``)
    target: pa.DataType
    reason: str

    @property
    def select(self) -> str:
        """The SELECT list item, aliased to the column's own name."""
        if self.rule is None:
            raise ValueError(f"column {self.column.name!r} has no fast read: {self.reason}")
        name = quote_ident(self.column.name)
        expr = self.rule.select.format(col=name)
        return name if expr == name else f"{expr} AS {name}"


def read_rule(col: Column, *, tinyint1_as_boolean: bool = True) -> tuple[ReadRule | None, str]:
    """(rule, its reason) for ``col``, or (None, why it must be read by the exact path)."""
    target = duckdb_type(col, tinyint1_as_boolean=tinyint1_as_boolean)
    if target == "BOOLEAN":
        return _BOOLEAN, _BOOLEAN.reason
    dt = col.data_type.lower()
    if dt in SLOW_TYPES:
        return None, SLOW_TYPES[dt]
    rule = READ_RULES.get(dt)
    if rule is None:
        return None, f"the fast read path has no rule for type {col.column_type}"
    return rule, rule.reason


@dataclass(frozen=True)
class ArrowReadPlan:
    """How to read ``schema``'s rows fast. ``fast`` is False when some column needs the exact path."""

    schema: TableSchema
    columns: tuple[ColumnRead, ...]
    arrow_schema: pa.Schema

    @property
    def fast(self) -> bool:
        return all(c.rule is not None for c in self.columns)

    @property
    def reason(self) -> str:
        """Why the plan is not fast ('' when it is), naming each column."""
        return "; ".join(
            f"column {self.schema.table_id}.{c.column.name} ({c.column.column_type}): {c.reason}"
            for c in self.columns
            if c.rule is None
        )

    def select_sql(self, where_sql: str) -> str:
        """``SELECT <one item per column> FROM db.table WHERE <where_sql>`` (MySQL dialect)."""
        if not self.fast:
            raise ValueError(f"{self.schema.table_id} cannot be read by the fast path: {self.reason}")
        items = ", ".join(c.select for c in self.columns)
        table = quote_table(self.schema.table_id.db, self.schema.table_id.table)
        return f"SELECT {items} FROM {table} WHERE {where_sql}"

    def to_canonical(self, data: pa.Table | pa.RecordBatch) -> pa.Table:
        """What connectorx returned for :meth:`select_sql` -> a table of :attr:`arrow_schema` (canonical values)."""
        if not self.fast:
            raise ValueError(f"{self.schema.table_id} cannot be read by the fast path: {self.reason}")
        if data.num_columns != len(self.columns):
            raise SchemaError(
                f"the fast read of {self.schema.table_id} returned {data.num_columns} columns but the plan has "
                f"{len(self.columns)}: the table's definition changed; restart the pipeline so that the "
                "schema is read again",
                values=data.num_columns,
                columns=len(self.columns),
            )
        arrays = []
        for i, c in enumerate(self.columns):
            out = c.rule.convert(data.column(i), c.target)  # type: ignore[union-attr] (fast: every rule is set)
            if out.type != c.target:  # a rule that does not end in the canonical type is a bug here
                raise TypeError(f"rule {c.rule.name} gave {out.type} for {c.column.name!r}, not {c.target}")
            arrays.append(out)
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)


def plan_arrow_read(schema: TableSchema, tinyint1_as_boolean: bool = True) -> ArrowReadPlan:
    """The per-column read plan for ``schema`` (raises UnsupportedTypeError for unmapped types)."""
    columns = []
    for col in schema.columns:
        rule, reason = read_rule(col, tinyint1_as_boolean=tinyint1_as_boolean)
        columns.append(
            ColumnRead(col, rule, arrow_type(col, tinyint1_as_boolean=tinyint1_as_boolean), reason)
        )
    arrow_schema = pa.schema([pa.field(c.column.name, c.target) for c in columns])
    return ArrowReadPlan(schema, tuple(columns), arrow_schema)


# -------------------------------------------------------------------------------------- literals
_CHARSET_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _checked_name(kind: str, name: str) -> str:
    if not _CHARSET_NAME.match(name):
        raise ValueError(f"{kind} {name!r} is not a MySQL {kind} name")
    return name


def _string_literal(text: str, col: Column | None) -> str:
    # A hex literal with a charset introducer: nothing to escape, so NO_BACKSLASH_ESCAPES and
    # ANSI_QUOTES cannot change its meaning, and NUL or any other character survives.
    lit = f"_utf8mb4 X'{text.encode('utf-8').hex().upper()}'"
    if col is None or not col.collation:
        return lit  # coerced to the other operand's collation, as a bound string parameter is
    charset = _checked_name("character set", col.charset or col.collation.split("_", 1)[0])
    collation = _checked_name("collation", col.collation)
    if charset.lower() != "utf8mb4":
        lit = f"CONVERT({lit} USING {charset})"
    # The column's own collation, as the exact path's bound parameter ends up with (the column wins
    # over a coercible literal): comparisons follow the key's collation, e.g. case-insensitively.
    return f"{lit} COLLATE {collation}"


def _fraction(us: int) -> str:
    return f".{us:06d}" if us else ""


def sql_literal(value: Any, col: Column | None = None) -> str:
    """A MySQL literal meaning ``value`` (a key value as PyMySQL returns it), independent of ``sql_mode``.

    ``col`` is the column it is compared with: a string takes its character set and collation. Dates and
    times are quoted ISO text (digits and ``-: .`` only); a ``datetime`` with a zone is written as UTC,
    which the reader's session zone (+00:00) reads back as the same instant.
    """
    if value is None:
        raise ValueError("a chunk bound cannot hold NULL (primary key columns are NOT NULL)")
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value!r} has no MySQL literal")
        return format(value, "f")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no MySQL literal")
        text = repr(value)
        return (
            text if "e" in text else text + "e0"
        )  # an approximate-value (DOUBLE) literal, as PyMySQL writes
    if isinstance(value, str):
        return _string_literal(value, col)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"X'{bytes(value).hex().upper()}'"
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
        v = value
        return (
            f"'{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
            f"{_fraction(v.microsecond)}'"
        )
    if isinstance(value, _dt.date):
        return f"'{value.year:04d}-{value.month:02d}-{value.day:02d}'"
    if isinstance(value, _dt.time):
        return f"'{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_fraction(value.microsecond)}'"
    if isinstance(value, _dt.timedelta):
        # MySQL TIME is signed: the sign, then the magnitude as hours:minutes:seconds (hours may exceed 24).
        sign = "-" if value < _dt.timedelta(0) else ""
        total_us = abs(value) // _dt.timedelta(microseconds=1)
        seconds, us = divmod(total_us, 1_000_000)
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        return f"'{sign}{hours:02d}:{minutes:02d}:{secs:02d}{_fraction(us)}'"
    raise TypeError(f"cannot write a {type(value).__name__} as a MySQL literal")


def chunk_where_sql(schema: TableSchema, chunk: Chunk) -> str:
    """The WHERE clause selecting ``chunk``'s rows, with its bounds as literals.

    The same rows as :func:`cdc_assets.core.chunks.range_predicate`, written as
    :func:`cdc_assets.core.chunks.key_range_predicate` does (``a > x OR (a = x AND b >= y)`` for
    composite keys, which the server reads by index ranges), evaluated in the key columns' collations.
    """
    key_cols = [schema.column(k) for k in schema.primary_key]
    if not key_cols:
        raise SchemaError(f"{schema.table_id} has no primary key, so it cannot be read in chunks")
    for bound in (chunk.start, chunk.end):
        if bound is not None and len(bound) != len(key_cols):
            raise ValueError(
                f"chunk {chunk.index} of {schema.table_id} has a bound of {len(bound)} values but the key has "
                f"{len(key_cols)} columns"
            )
    sql, _ = key_range_predicate(
        [c.name for c in key_cols], chunk, literal=lambda i, v: sql_literal(v, key_cols[i])
    )
    return sql
