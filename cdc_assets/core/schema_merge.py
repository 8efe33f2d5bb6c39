"""One target schema for several source tables routed to it (sharded tables merged by a ``route`` rule),
as Flink CDC's ``SchemaMergingUtils`` merges them, in MySQL types.

:func:`merged_schema` is the union of the columns by name (case-insensitive): the first schema's columns in
its order, then each new column where it is first seen. A column some source lacks is nullable (those
rows have NULL there). Where the sources give a column different types, the target gets the least common
type (:func:`least_common_column`):

- integers by width and signedness: the narrowest type holding both ranges (``INT`` + ``INT UNSIGNED`` ->
  ``BIGINT``; ``BIGINT`` + ``BIGINT UNSIGNED`` -> ``DECIMAL(20,0)``);
- ``DECIMAL(p,s)`` + ``DECIMAL(p2,s2)``: the larger integer part and the larger scale; more than 65 digits
  is refused (:class:`MergeError`, Flink refuses too); integer + decimal -> a decimal with room for the
  integer's digits (at most 20 + 30 digits in MySQL);
- ``FLOAT`` + ``DOUBLE`` -> ``DOUBLE``;
- ``CHAR``/``VARCHAR``/``ENUM``/``SET`` of different lengths -> ``VARCHAR`` of the longest; with a ``TEXT``
  type -> the smallest text type that holds both; ``BINARY``/``VARBINARY``/``BLOB`` likewise;
- ``DATE`` + ``DATETIME(p)`` -> ``DATETIME(p)``; ``DATETIME``, ``TIMESTAMP``, ``TIME`` of different
  precisions -> the larger precision;
- any other mix (a number and a text, ``DATETIME`` and ``TIMESTAMP``, ``FLOAT`` and ``INT``, a ``TINYINT(1)``
  read as a boolean and an integer...) ->
  ``LONGTEXT`` (Flink's final resort, ``STRING``): values are written as their text.

The primary keys must be the same; a key column merged into a ``DECIMAL`` with decimals must have that
scale in every source (StarRocks keeps a decimal key as its text with exactly ``s`` decimals, so ``1.5``
from a ``DECIMAL(5,1)`` shard and ``1.50`` from a ``DECIMAL(6,2)`` one would be two keys).

:func:`row_mapper` turns a source's rows into the merged schema's (NULL for missing columns, values
coerced to the wider type) and :func:`widening_changes` lists the ``AddColumn`` / ``AlterColumnType``
events that take a target from one merged schema to a wider one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from cdc_assets.core.charsets import MARIADB_CHARSETS, ServerDefaults
from cdc_assets.core.ddl_columns import describe_column
from cdc_assets.core.events import EventChanges, RowChange, TableEvents
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.schema_change import AddColumn, AlterColumnType, SchemaChange
from cdc_assets.core.sql import quote_ident
from cdc_assets.core.types import is_boolean

#: MySQL's widest DECIMAL
MAX_DECIMAL_DIGITS = 65

#: integer type -> bits; the decimal digits of its largest value (signed, unsigned)
_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}
_INT_DIGITS = {
    "tinyint": (3, 3),
    "smallint": (5, 5),
    "mediumint": (7, 8),
    "int": (10, 10),
    "bigint": (19, 20),
}
_CHAR_LIKE = ("char", "varchar", "enum", "set")
_TEXTS = (("tinytext", 255), ("text", 65535), ("mediumtext", 16777215), ("longtext", 4294967295))
_BINARY_LIKE = ("binary", "varbinary")
_BLOBS = (("tinyblob", 255), ("blob", 65535), ("mediumblob", 16777215), ("longblob", 4294967295))
_FALLBACK = "longtext"
_DEFAULTS = ServerDefaults()


class MergeError(ValueError):
    """The sources routed to one target cannot share one table; the message says why."""


def _mbmax(col: Column) -> int:
    cs = MARIADB_CHARSETS.get((col.charset or "").lower())
    return cs.mbmaxlen if cs is not None else 4


def _sized(table: tuple[tuple[str, int], ...], needed: int) -> str:
    return next((name for name, size in table if needed <= size), table[-1][0])


def _capacity(col: Column, table: tuple[tuple[str, int], ...], per_char: int) -> int:
    """Bytes a string or binary column holds."""
    sizes = dict(table)
    if col.data_type in sizes:
        return sizes[col.data_type]
    return (col.char_max_length or 1) * per_char


def _fsp(col: Column) -> int:
    return col.datetime_precision or 0


def _with_fsp(name: str, fsp: int) -> str:
    return f"{name}({fsp})" if fsp else name


def _int_type(a: Column, b: Column) -> str:
    ua, ub = a.unsigned, b.unsigned
    bits = max(_INT_BITS[a.data_type], _INT_BITS[b.data_type])
    if ua and ub:
        return f"{_name_for_bits(bits)} unsigned"
    # a signed type holds an unsigned one of fewer bits only
    need = max(_INT_BITS[c.data_type] + (1 if c.unsigned else 0) for c in (a, b))
    name = _name_for_bits(need)
    return name if name else "decimal(20,0)"


def _name_for_bits(bits: int) -> str:
    return next((n for n, b in _INT_BITS.items() if b >= bits), "")


def _decimal_args(col: Column) -> tuple[int, int]:
    return col.numeric_precision or 10, col.numeric_scale or 0


def _decimal_type(a: Column, b: Column) -> str:
    if a.data_type == "decimal" and b.data_type == "decimal":
        (pa, sa), (pb, sb) = _decimal_args(a), _decimal_args(b)
        whole, scale = max(pa - sa, pb - sb), max(sa, sb)
        if whole + scale > MAX_DECIMAL_DIGITS:
            raise MergeError(
                f"{a.column_type} and {b.column_type} need {whole + scale} digits, more than DECIMAL's "
                f"{MAX_DECIMAL_DIGITS}"
            )
        return f"decimal({whole + scale},{scale})"
    dec, other = (a, b) if a.data_type == "decimal" else (b, a)
    p, s = _decimal_args(dec)
    digits = _INT_DIGITS[other.data_type][1 if other.unsigned else 0]
    whole = max(p - s, digits)
    return f"decimal({whole + s},{s})" if whole + s <= MAX_DECIMAL_DIGITS else _FALLBACK


def _least_common_type(a: Column, b: Column, t1b: bool) -> str:
    """The MySQL type text of the least common type of ``a`` and ``b`` (see the module docstring)."""
    ta, tb = a.data_type, b.data_type
    if is_boolean(a, t1b) or is_boolean(b, t1b):
        return _FALLBACK  # a boolean and anything else: Flink's BOOLEAN merges into STRING only
    if ta in _INT_BITS and tb in _INT_BITS:
        return _int_type(a, b)
    if {ta, tb} <= {"decimal", *_INT_BITS}:
        return _decimal_type(a, b)
    if {ta, tb} <= {"float", "double"}:
        return "double"
    texts = {n for n, _ in _TEXTS}
    if {ta, tb} <= {*_CHAR_LIKE, *texts}:
        if ta in texts or tb in texts:
            per_char = max(_mbmax(a), _mbmax(b))
            return _sized(_TEXTS, max(_capacity(c, _TEXTS, per_char) for c in (a, b)))
        if ta == tb == "char" and a.char_max_length == b.char_max_length:
            return a.column_type
        return f"varchar({max(a.char_max_length or 1, b.char_max_length or 1)})"
    blobs = {n for n, _ in _BLOBS}
    if {ta, tb} <= {*_BINARY_LIKE, *blobs}:
        if ta in blobs or tb in blobs:
            return _sized(_BLOBS, max(_capacity(c, _BLOBS, 1) for c in (a, b)))
        return f"varbinary({max(a.char_max_length or 1, b.char_max_length or 1)})"
    if {ta, tb} <= {"date", "datetime"}:
        return _with_fsp("datetime", max(_fsp(a), _fsp(b)))
    if ta == tb and ta in ("timestamp", "time"):
        return _with_fsp(ta, max(_fsp(a), _fsp(b)))
    return _FALLBACK


def _same_type(a: Column, b: Column) -> bool:
    return a.column_type.lower() == b.column_type.lower()


def least_common_column(a: Column, b: Column, *, tinyint1_as_boolean: bool = True) -> Column:
    """``a`` (its name, its position) with the least common type of ``a`` and ``b``; nullable if either
    is. ``tinyint1_as_boolean``: TINYINT(1) is a boolean (``treat-tinyint1-as-boolean.enabled``), which
    merges with another type into LONGTEXT. Raises MergeError for two decimals that need more than 65
    digits."""
    nullable = a.nullable or b.nullable
    if _same_type(a, b):
        if a.charset != b.charset and _mbmax(b) > _mbmax(a):
            a = dataclasses.replace(a, charset=b.charset, collation=b.collation)
        return dataclasses.replace(a, nullable=nullable)
    text = _least_common_type(a, b, tinyint1_as_boolean)
    for c in (a, b):
        if text.lower() == c.column_type.lower():
            return dataclasses.replace(c, name=a.name, nullable=nullable)
    wider = a if _mbmax(a) >= _mbmax(b) else b
    charset = (wider.charset, wider.collation) if wider.charset and wider.collation else None
    if charset is None and text == _FALLBACK:
        charset = ("utf8mb4", "utf8mb4_general_ci")
    definition = f"{quote_ident(a.name)} {text}{'' if nullable else ' NOT NULL'}"
    return describe_column(definition, charset, _DEFAULTS)[0].column


def merge_problems(schemas: Sequence[TableSchema], *, tinyint1_as_boolean: bool = True) -> list[str]:
    """Why ``schemas`` cannot share one target, or ``[]``: a different primary key (case-insensitive),
    a key column whose merged type is a decimal with decimals some source does not have, two decimals
    that need more than 65 digits."""
    first = schemas[0]
    problems: list[str] = []
    key = [k.lower() for k in first.primary_key]
    for other in schemas[1:]:
        if [k.lower() for k in other.primary_key] != key:
            problems.append(
                f"primary key ({', '.join(first.primary_key)}) in {first.table_id} but "
                f"({', '.join(other.primary_key)}) in {other.table_id}"
            )
    if problems:
        return problems
    try:
        merged = merged_schema(schemas, tinyint1_as_boolean=tinyint1_as_boolean)
    except MergeError as exc:
        return [str(exc)]
    for name in merged.primary_key:
        col = merged.column(name)
        if col.data_type != "decimal" or not col.numeric_scale:
            continue
        for s in schemas:
            have = find_column(s, name)
            if have is not None and (have.data_type != "decimal" or have.numeric_scale != col.numeric_scale):
                problems.append(
                    f"key column {name} is {have.column_type} in {s.table_id}, but the merged key is "
                    f"{col.column_type}: a StarRocks key keeps a decimal's text with exactly "
                    f"{col.numeric_scale} decimals, so the same number would be two keys"
                )
    return problems


def find_column(schema: TableSchema, name: str) -> Column | None:
    """``schema``'s column ``name`` (case-insensitive, as MySQL names are), or None."""
    low = name.lower()
    return next((c for c in schema.columns if c.name.lower() == low), None)


def merged_schema(
    schemas: Sequence[TableSchema], table_id: TableId | None = None, *, tinyint1_as_boolean: bool = True
) -> TableSchema:
    """The target schema of ``schemas`` (see the module docstring), named ``table_id`` (default: the
    first's); ``tinyint1_as_boolean`` as in :func:`least_common_column`. The primary key is the first's; call :func:`merge_problems` first to refuse sources whose
    keys differ. Raises MergeError when two decimals need more than 65 digits."""
    first = schemas[0]
    columns: dict[str, Column] = {c.name.lower(): c for c in first.columns}
    seen_in: dict[str, int] = dict.fromkeys(columns, 1)
    for schema in schemas[1:]:
        for c in schema.columns:
            low = c.name.lower()
            have = columns.get(low)
            if have is None:
                columns[low] = c
                seen_in[low] = 1
            else:
                try:
                    columns[low] = least_common_column(have, c, tinyint1_as_boolean=tinyint1_as_boolean)
                except MergeError as exc:
                    raise MergeError(f"column {have.name}: {exc}") from None
                seen_in[low] += 1
    keys = {k.lower() for k in first.primary_key}
    out = tuple(
        c
        if seen_in[low] == len(schemas) or low in keys or c.nullable
        else dataclasses.replace(c, nullable=True)
        for low, c in columns.items()
    )
    return TableSchema(
        table_id or first.table_id,
        out,
        first.primary_key,
        default_charset=first.default_charset,
        default_collation=first.default_collation,
    )


# ------------------------------------------------------------------------------------------ values


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex().upper()  # Flink's hexlify: base16, upper case
    return v.isoformat() if isinstance(v, dt.date) else str(v)


def _is_text(col: Column) -> bool:
    return col.data_type in _CHAR_LIKE or col.data_type in dict(_TEXTS) or col.data_type == "json"


def value_coercer(source: Column, target: Column) -> Callable[[Any], Any] | None:
    """How a canonical value of ``source`` becomes one of ``target`` (its least common type with
    ``source``), or None when it is one already."""
    if _same_type(source, target):
        return None
    if _is_text(target) and not _is_text(source):
        return lambda v: None if v is None else _text(v)
    if target.data_type == "decimal" and source.data_type != "decimal":
        return lambda v: None if v is None else Decimal(int(v))
    if target.data_type == "datetime" and source.data_type == "date":
        return lambda v: None if v is None else dt.datetime.combine(v, dt.time())
    return None


def row_mapper(source: TableSchema, target: TableSchema) -> Callable[[Sequence[Any]], tuple] | None:
    """A function that turns a row of ``source`` into one of ``target`` (a merged schema ``source`` is
    part of): the columns by name, NULL where ``source`` has none, values coerced to the wider type;
    None when the rows are the same."""
    at = {c.name.lower(): i for i, c in enumerate(source.columns)}
    picks: list[tuple[int | None, Callable[[Any], Any] | None]] = []
    for c in target.columns:
        i = at.get(c.name.lower())
        picks.append((i, None if i is None else value_coercer(source.columns[i], c)))
    if len(source.columns) == len(target.columns) and all(
        i == n and f is None for n, (i, f) in enumerate(picks)
    ):
        return None

    def mapped(row: Sequence[Any]) -> tuple:
        return tuple(None if i is None else (row[i] if f is None else f(row[i])) for i, f in picks)

    return mapped


def merge_table_events(entries: Sequence[TableEvents], wide: TableSchema) -> TableEvents:
    """Several sources' uncollapsed changes to one target (each entry's rows fitted to its ``schema`` by
    its ``keep``) as one entry of ``wide`` (their merged schema): the changes one source after another,
    each row given NULL for the columns its source lacks and its values coerced to the wider types, each
    binlog event keeping its time."""
    out = EventChanges()
    for entry in entries:
        to_wide = row_mapper(entry.schema, wide)
        keep = entry.keep

        def fit(row, to_wide=to_wide, keep=keep):
            if row is None:
                return None
            if keep is not None:
                row = tuple(row[i] for i in keep)
            return row if to_wide is None else to_wide(row)

        base = len(out)
        out.runs += [(base + start, seconds) for start, seconds in entry.changes.runs]
        out.extend(RowChange(op, fit(before), fit(after)) for op, before, after in entry.changes)
    return TableEvents(entries[0].target, wide, out, wide.key_positions, None)


def widening_changes(
    before: TableSchema, after: TableSchema, source: TableId, why: str
) -> list[SchemaChange]:
    """The events that take a target of ``before`` to ``after`` (a wider merge of its sources): an
    :class:`AddColumn` (nullable, appended) per new column, an :class:`AlterColumnType` per column whose
    type changed. Each names ``source`` (the table whose joining widens the target) and carries ``why``
    as its DDL text."""
    out: list[SchemaChange] = []
    for c in after.columns:
        have = find_column(before, c.name)
        if have is None:
            out.append(AddColumn(source, why, column=dataclasses.replace(c, nullable=True)))
        elif not _same_type(have, c):
            out.append(
                AlterColumnType(source, why, name=have.name, column=dataclasses.replace(c, name=have.name))
            )
    return out


def describe_widening(changes: Sequence[SchemaChange]) -> str:
    """``column x added (INT), column y INT -> BIGINT``: the changes as a reader sees them."""
    parts = []
    for ch in changes:
        if isinstance(ch, AddColumn) and ch.column is not None:
            parts.append(f"column {ch.column.name} added ({ch.column.column_type})")
        elif isinstance(ch, AlterColumnType) and ch.column is not None:
            parts.append(f"column {ch.name} widened to {ch.column.column_type}")
    return ", ".join(parts)


def key_mapper(source: TableSchema, target: TableSchema) -> Callable[[Sequence[Any]], tuple] | None:
    """:func:`row_mapper` for key tuples (the primary key's columns in key order; the same key in both)."""
    coerce = [value_coercer(_column_of(source, k), _column_of(target, k)) for k in source.primary_key]
    if all(f is None for f in coerce):
        return None
    return lambda key: tuple(v if f is None else f(v) for v, f in zip(key, coerce, strict=True))


def _column_of(schema: TableSchema, name: str) -> Column:
    found = find_column(schema, name)
    if found is None:
        raise KeyError(f"{schema.table_id} has no column {name!r}")
    return found
