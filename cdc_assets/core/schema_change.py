"""Schema changes read from the binlog, as plain values (Flink CDC's ``SchemaChangeEvent`` kinds).

A DDL statement in the binlog becomes zero or more of these events, one per table and alteration
(``ALTER TABLE t ADD a INT, DROP b`` is an :class:`AddColumn` then a :class:`DropColumn`), in the order
the server applies them. Each names its table by its *source* :class:`TableId`; routing to a target
table happens later. ``tag`` is the Flink CDC event tag that ``include.schema.changes`` /
``exclude.schema.changes`` name (``RenameTable`` and ``AlterColumnComment`` have tags of this
project's own, outside Flink's set, see :data:`cdc_assets.config.models.SCHEMA_CHANGE_TYPES`).

Column definitions are :class:`~cdc_assets.core.schema.Column` values as ``information_schema`` would
describe the new column, so a schema evolved by these events equals the one the catalog would read
after the DDL. A column's default and comment are carried by the event (``default_sql`` is the
default as a SQL literal, ``NULL`` included; None when the DDL gives none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cdc_assets.core.schema import Column, TableId, TableSchema


@dataclass(frozen=True)
class ColumnPosition:
    """Where an added column goes: ``FIRST``, ``AFTER name``; an event without one appends it."""

    first: bool = False
    after: str | None = None


@dataclass(frozen=True)
class SchemaChange:
    """One change to one table. ``ddl`` is the statement it came from (as the binlog has it)."""

    table: TableId
    ddl: str
    tag: ClassVar[str] = ""


@dataclass(frozen=True)
class CreateTable(SchemaChange):
    """A new table; ``schema`` is its columns and key (for ``CREATE TABLE ... LIKE src``, ``like`` is
    set and ``schema`` is None until the engine copies ``src``'s schema in force)."""

    schema: TableSchema | None = None
    like: TableId | None = None
    comment: str | None = None
    tag: ClassVar[str] = "create.table"


@dataclass(frozen=True)
class AddColumn(SchemaChange):
    column: Column | None = None
    position: ColumnPosition | None = None
    default_sql: str | None = None
    comment: str | None = None
    tag: ClassVar[str] = "add.column"


@dataclass(frozen=True)
class DropColumn(SchemaChange):
    name: str = ""
    tag: ClassVar[str] = "drop.column"


@dataclass(frozen=True)
class RenameColumn(SchemaChange):
    old: str = ""
    new: str = ""
    tag: ClassVar[str] = "rename.column"


@dataclass(frozen=True)
class AlterColumnType(SchemaChange):
    """``MODIFY`` / ``CHANGE`` (a ``CHANGE`` that also renames is a :class:`RenameColumn` first, then
    this event under the new name). ``column`` is the whole new definition (type, nullability)."""

    name: str = ""
    column: Column | None = None
    default_sql: str | None = None
    comment: str | None = None
    #: ``MODIFY a INT FIRST`` / ``AFTER x`` also moves the column (None: it stays where it is)
    position: ColumnPosition | None = None
    tag: ClassVar[str] = "alter.column.type"


@dataclass(frozen=True)
class RenameTable(SchemaChange):
    new: TableId | None = None
    tag: ClassVar[str] = "rename.table"


@dataclass(frozen=True)
class TruncateTable(SchemaChange):
    tag: ClassVar[str] = "truncate.table"


@dataclass(frozen=True)
class DropTable(SchemaChange):
    tag: ClassVar[str] = "drop.table"


@dataclass(frozen=True)
class AlterTableComment(SchemaChange):
    comment: str = ""
    tag: ClassVar[str] = "alter.table.comment"


@dataclass(frozen=True)
class AlterColumnComment(SchemaChange):
    name: str = ""
    comment: str = ""
    tag: ClassVar[str] = "alter.column.comment"


class UnsupportedSchemaChange(Exception):
    """The sink cannot apply this kind of change (Flink's ``UnsupportedSchemaChangeEventException``):
    ``TRY_EVOLVE`` tolerates it, ``EVOLVE`` fails. The message names the change and the sink."""


@dataclass(frozen=True)
class AlterTableCharset(SchemaChange):
    """The table's default character set and collation changed (``DEFAULT CHARSET=``, ``COLLATE=``,
    ``CONVERT TO CHARACTER SET``): what text columns added later get. It changes no column, so it
    only updates the schema in force (:func:`cdc_assets.core.evolution.evolve`) and is never sent to
    a sink (:func:`cdc_assets.core.evolution.plan_sink_changes` drops it)."""

    charset: str = ""
    collation: str = ""
    tag: ClassVar[str] = "alter.table.charset"
