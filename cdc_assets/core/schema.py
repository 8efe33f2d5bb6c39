"""Tables and columns as the source catalog describes them (information_schema), as plain values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class TableId:
    """A table by database (MySQL schema) and name. ``str()`` gives ``db.table``."""

    db: str
    table: str

    def __str__(self) -> str:
        return f"{self.db}.{self.table}"

    @classmethod
    def parse(cls, text: str) -> TableId:
        """``db.table`` -> TableId (the first dot separates; table names may contain dots)."""
        db, sep, table = text.partition(".")
        if not sep or not db or not table:
            raise ValueError(f"{text!r} is not of the form db.table")
        return cls(db, table)


@dataclass(frozen=True)
class Column:
    """One column, as ``information_schema.COLUMNS`` describes it.

    ``data_type`` is the lower-case base type (``varchar``, ``int``, ``decimal``); ``column_type`` is
    the full type text (``int(10) unsigned``, ``enum('a','b')``, ``decimal(12,2)``).
    """

    name: str
    data_type: str
    column_type: str
    nullable: bool = True
    char_max_length: int | None = None
    numeric_precision: int | None = None
    numeric_scale: int | None = None
    datetime_precision: int | None = None
    charset: str | None = None
    collation: str | None = None

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type.lower()


def column_text(col: Column) -> str:
    """``name type[ NOT NULL]``: how recorded schema changes show a column."""
    return f"{col.name} {col.column_type}" + ("" if col.nullable else " NOT NULL")


def column_texts(schema: TableSchema | None) -> list[str] | None:
    """Each column of ``schema`` as :func:`column_text` shows it (None for no schema: a table created or
    dropped), as recorded schema changes hold them."""
    return None if schema is None else [column_text(c) for c in schema.columns]


def table_names(tables: Iterable[TableId]) -> str:
    """``db.a, db.b``: how messages and recorded changes name several tables (a table's targets)."""
    return ", ".join(map(str, tables))


@dataclass(frozen=True)
class TableSchema:
    """A table's columns in ordinal order and its primary key columns in key order.

    ``default_charset`` / ``default_collation`` are the table's defaults (what a text column added
    without its own character set gets); None when not known. They are not part of equality.
    """

    table_id: TableId
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = field(default=())
    default_charset: str | None = field(default=None, compare=False)
    default_collation: str | None = field(default=None, compare=False)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.table_id} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def key_positions(self) -> tuple[int, ...]:
        """Positions of the primary key columns in a row (column order), in key order."""
        names = self.column_names
        return tuple(names.index(k) for k in self.primary_key)


def schema_to_dict(schema: TableSchema) -> dict:
    """A TableSchema as plain JSON-able values (the state keeps schemas in force this way)."""
    return {
        "table": str(schema.table_id),
        "db": schema.table_id.db,
        "name": schema.table_id.table,
        "columns": [dict(vars(c)) for c in schema.columns],
        "primary_key": list(schema.primary_key),
        "default_charset": schema.default_charset,
        "default_collation": schema.default_collation,
    }


def schema_from_dict(data: dict) -> TableSchema:
    return TableSchema(
        TableId(data["db"], data["name"]),
        tuple(Column(**c) for c in data["columns"]),
        tuple(data["primary_key"]),
        default_charset=data.get("default_charset"),
        default_collation=data.get("default_collation"),
    )


def keep_columns(rows: Iterable[Sequence[Any]], keep: Sequence[int]) -> list[tuple]:
    """Each row cut to the values at positions ``keep`` (see :func:`fit_to_target`)."""
    return [tuple(r[i] for i in keep) for r in rows]


def fit_to_target(
    source: TableSchema, target_columns: tuple[str, ...]
) -> tuple[TableSchema, tuple[int, ...] | None]:
    """What of a source row the target can take: the schema to write with (the source's columns the
    target has, in source order) and the positions to take from each row (None: the whole row).

    The sinks write by column name, so target columns the source no longer has (kept by
    ``schema.change.behavior: LENIENT`` after a drop, or left behind by a change the sink could not
    apply under ``TRY_EVOLVE``) get NULL or their default; source columns the target lacks (a change
    that was ignored or excluded) are not written."""
    have = set(target_columns)
    keep = tuple(i for i, c in enumerate(source.columns) if c.name in have)
    if len(keep) == len(source.columns):
        return source, None
    missing = [k for k in source.primary_key if k not in have]
    if missing:
        raise ValueError(
            f"the target of {source.table_id} has no column {missing[0]!r} of its primary key, so rows cannot be written by key"
        )
    columns = tuple(source.columns[i] for i in keep)
    return TableSchema(source.table_id, columns, source.primary_key), keep
