"""Schema evolution: a schema after a change, what the sink is sent under ``schema.change.behavior``, and
rows of one schema fitted to another.

- :func:`evolve`: the source schema after one :class:`~cdc_assets.core.schema_change.SchemaChange`.
- :func:`plan_sink_changes`: the changes to send to the sink for one source change, per Flink CDC's
  behaviours (``EXCEPTION`` / ``EVOLVE`` / ``TRY_EVOLVE`` / ``LENIENT`` / ``IGNORE``) and the sink's
  ``include.schema.changes`` / ``exclude.schema.changes`` (``PipelineConfig.schema_change_types``).
- :func:`fit_rows`: a projector, built once per (source schema, target schema), that writes rows of the
  source schema into the target's columns by name (under LENIENT or TRY_EVOLVE the target can keep
  columns the source dropped, or lack columns the sink refused to add).
"""

from __future__ import annotations

import dataclasses

from cdc_assets.core.schema import Column, TableSchema
from cdc_assets.core.schema_change import (
    AddColumn,
    AlterColumnComment,
    AlterColumnType,
    AlterTableCharset,
    AlterTableComment,
    ColumnPosition,
    CreateTable,
    DropColumn,
    DropTable,
    RenameColumn,
    RenameTable,
    SchemaChange,
    TruncateTable,
    UnsupportedSchemaChange,
)
from cdc_assets.errors import TerminalError


class EvolutionError(TerminalError):
    """A change does not fit the schema in force (an unknown column, a duplicate, a key column dropped).

    ``reason`` is what does not fit; the message adds the statement."""

    def __init__(self, change: SchemaChange, reason: str) -> None:
        super().__init__(f"{reason}; statement: {change.ddl!r}", table=str(change.table), tag=change.tag)
        self.change = change
        self.reason = reason


class SchemaChangeForbidden(TerminalError):
    """``pipeline.schema.change.behavior: EXCEPTION`` and a captured table changed."""

    exit_code = 2

    def __init__(self, change: SchemaChange) -> None:
        super().__init__(
            f"schema change on {change.table} ({change.tag}) while pipeline.schema.change.behavior is "
            f"EXCEPTION, which forbids every change but CREATE TABLE. Statement: {change.ddl!r}. To go on, set "
            "pipeline.schema.change.behavior to LENIENT, EVOLVE, TRY_EVOLVE or IGNORE and restart: the stream "
            "resumes before this statement and reads it again",
            table=str(change.table),
            tag=change.tag,
        )
        self.change = change


# --------------------------------------------------------------------------------------- evolve


def _index(schema: TableSchema, name: str) -> int | None:
    """Position of column ``name`` (exact, else case-insensitive: MySQL column names are)."""
    names = schema.column_names
    if name in names:
        return names.index(name)
    low = name.lower()
    for i, n in enumerate(names):
        if n.lower() == low:
            return i
    return None


def _require(schema: TableSchema, name: str, change: SchemaChange) -> int:
    i = _index(schema, name)
    if i is None:
        raise EvolutionError(
            change,
            f"{change.table} has no column {name!r} in the schema in force (columns: "
            f"{', '.join(schema.column_names)})",
        )
    return i


def _insert(
    columns: list[Column], col: Column, position: ColumnPosition | None, change: SchemaChange, schema
):
    if position is None:
        columns.append(col)
    elif position.first:
        columns.insert(0, col)
    else:
        after = position.after or ""
        tmp = dataclasses.replace(schema, columns=tuple(columns))
        columns.insert(_require(tmp, after, change) + 1, col)


def evolve(schema: TableSchema | None, change: SchemaChange) -> TableSchema | None:
    """The schema after ``change``; None after :class:`DropTable`. ``schema`` is None only for a table
    that does not exist yet (a :class:`CreateTable`). Raises :class:`EvolutionError` when the change does
    not fit (an unknown column, a column added twice, a primary key column dropped)."""
    if isinstance(change, CreateTable):
        if change.schema is None:
            raise EvolutionError(
                change,
                f"CREATE TABLE {change.table} LIKE {change.like}: the schema of {change.like} is not known",
            )
        return change.schema
    if schema is None:
        raise EvolutionError(
            change,
            f"{change.table} has no schema in force for {change.tag}",
        )
    if isinstance(change, DropTable):
        return None
    if isinstance(change, (TruncateTable, AlterTableComment)):
        return schema
    if isinstance(change, RenameTable):
        assert change.new is not None
        return dataclasses.replace(schema, table_id=change.new)
    if isinstance(change, AlterTableCharset):
        return dataclasses.replace(schema, default_charset=change.charset, default_collation=change.collation)
    if isinstance(change, AlterColumnComment):
        _require(schema, change.name, change)
        return schema
    columns = list(schema.columns)
    key = list(schema.primary_key)
    if isinstance(change, AddColumn):
        assert change.column is not None
        if _index(schema, change.column.name) is not None:
            raise EvolutionError(
                change,
                f"{change.table} already has a column {change.column.name!r}",
            )
        _insert(columns, change.column, change.position, change, schema)
    elif isinstance(change, DropColumn):
        i = _require(schema, change.name, change)
        name = columns[i].name
        if name in key:
            raise EvolutionError(
                change,
                f"column {name!r} is part of the primary key of {change.table} ({', '.join(key)}); dropping it "
                "changes the key, which is not supported: re-snapshot the table",
            )
        del columns[i]
    elif isinstance(change, RenameColumn):
        i = _require(schema, change.old, change)
        old = columns[i].name
        if change.new.lower() != old.lower() and _index(schema, change.new) is not None:
            raise EvolutionError(
                change,
                f"{change.table} already has a column {change.new!r}",
            )
        columns[i] = dataclasses.replace(columns[i], name=change.new)
        key = [change.new if k == old else k for k in key]
    elif isinstance(change, AlterColumnType):
        assert change.column is not None
        i = _require(schema, change.name, change)
        col = change.column
        if columns[i].name in key and col.nullable:
            col = dataclasses.replace(col, nullable=False)
        if change.position is None:
            columns[i] = col
        else:
            del columns[i]
            _insert(columns, col, change.position, change, schema)
    else:
        raise EvolutionError(change, f"unknown schema change {type(change).__name__} on {change.table}")
    return dataclasses.replace(schema, columns=tuple(columns), primary_key=tuple(key))


# ------------------------------------------------------------------------------------ behaviours

#: ``pipeline.schema.change.behavior`` values (``cdc_assets.config.models.SchemaChangeBehavior``, a StrEnum,
#: is passed as is; the core sits below config and takes the text)
BEHAVIORS = ("EXCEPTION", "EVOLVE", "TRY_EVOLVE", "LENIENT", "IGNORE")


def _behavior(value: str) -> str:
    text = str(value).upper()
    if text not in BEHAVIORS:
        raise ValueError(f"unknown schema change behavior {value!r}; expected one of {', '.join(BEHAVIORS)}")
    return text


#: the tag that governs changes outside Flink's set (include/exclude name Flink's tags): a comment-only
#: MODIFY is an AlterColumnType in Flink CDC's MySQL source, so alter.column.type governs it
_GOVERNING_TAG = {AlterColumnComment.tag: AlterColumnType.tag}


def accepts(change: SchemaChange, enabled_tags: frozenset[str]) -> bool:
    """Whether the sink applies ``change`` under ``enabled_tags`` (``PipelineConfig.schema_change_types``).

    A change's own tag in ``enabled_tags`` always enables it. :class:`AlterColumnComment` is otherwise
    governed by ``alter.column.type``; :class:`RenameTable` by ``create.table`` and ``drop.table`` together
    (a rename removes one name and creates another; with only ``create.table`` enabled,
    :func:`plan_sink_changes` creates the new table instead). :class:`AlterTableCharset` is never sent.
    """
    if isinstance(change, AlterTableCharset):
        return False
    if change.tag in enabled_tags:
        return True
    if isinstance(change, RenameTable):
        return CreateTable.tag in enabled_tags and DropTable.tag in enabled_tags
    governing = _GOVERNING_TAG.get(change.tag)
    return governing is not None and governing in enabled_tags


def _nullable(col: Column) -> Column:
    return col if col.nullable else dataclasses.replace(col, nullable=True)


def _before_column(before: TableSchema | None, name: str, change: SchemaChange) -> Column:
    if before is None:
        raise EvolutionError(
            change,
            f"{change.tag} on {change.table} needs the schema in force before the change",
        )
    return before.columns[_require(before, name, change)]


def _lenient(change: SchemaChange, before: TableSchema | None) -> list[SchemaChange]:
    """Flink CDC's LENIENT conversions: nothing the target holds is lost and every column stays writable."""
    if isinstance(change, AddColumn):
        assert change.column is not None
        return [dataclasses.replace(change, column=_nullable(change.column))]
    if isinstance(change, DropColumn):
        col = _before_column(before, change.name, change)
        if col.nullable:
            return []  # the target keeps the column and fills it with NULLs
        return [AlterColumnType(change.table, change.ddl, name=col.name, column=_nullable(col))]
    if isinstance(change, RenameColumn):
        col = _before_column(before, change.old, change)
        out: list[SchemaChange] = [
            AddColumn(change.table, change.ddl, column=_nullable(dataclasses.replace(col, name=change.new)))
        ]
        if not col.nullable:
            out.append(AlterColumnType(change.table, change.ddl, name=col.name, column=_nullable(col)))
        return out
    return [change]


def plan_sink_changes(
    change: SchemaChange,
    before: TableSchema | None,
    behavior: str,
    enabled_tags: frozenset[str],
) -> list[SchemaChange]:
    """The changes to apply to the sink for one source ``change``; ``before`` is the source schema in force
    before it (None for a table not yet known).

    - ``IGNORE``: only :class:`CreateTable` (and the new name of a renamed table, created) are sent.
    - ``EXCEPTION``: :class:`CreateTable` is sent; any other change raises :class:`SchemaChangeForbidden`.
    - ``LENIENT``: an added column is added nullable; a dropped column is kept (made nullable when it is
      NOT NULL); a renamed column is added under its new name (nullable) and the old one made nullable;
      a renamed table gets a new target table and the old one stays. Other changes pass.
    - ``EVOLVE`` / ``TRY_EVOLVE``: every change passes (the sink raising
      :class:`~cdc_assets.core.schema_change.UnsupportedSchemaChange` is tolerated under ``TRY_EVOLVE``
      only: see :func:`tolerates`).

    The result is then filtered by ``enabled_tags`` (:func:`accepts`), as Flink filters the derived events
    in the sink's metadata applier. A type change that changes nothing (``MODIFY`` that only moves a
    column), a rename that only changes the case of a name, and :class:`AlterTableCharset` are never
    sent: sinks address columns by name, case-insensitively. Nor is a :class:`RenameTable` of a table
    whose schema was not known (``before`` None): no target exists under the old name.
    """
    if isinstance(change, AlterTableCharset):
        return []
    if isinstance(change, AlterColumnType) and before is not None:
        i = _index(before, change.name)
        if i is not None and before.columns[i] == change.column:
            return []
    if isinstance(change, RenameColumn) and change.old.lower() == change.new.lower():
        return []  # a change of case only: sinks' column names are case-insensitive (see fit_rows)
    if isinstance(change, RenameTable) and before is None:
        return []  # a table not captured before has no target to rename: it is new (snapshot it)
    behavior = _behavior(behavior)
    if behavior == "EXCEPTION" and not isinstance(change, CreateTable):
        raise SchemaChangeForbidden(change)
    if isinstance(change, RenameTable) and (
        behavior in ("IGNORE", "LENIENT") or not accepts(change, enabled_tags)
    ):
        if before is None or change.new is None:
            return []
        change = CreateTable(change.new, change.ddl, schema=dataclasses.replace(before, table_id=change.new))
    if behavior == "IGNORE":
        planned = [change] if isinstance(change, CreateTable) else []
    elif behavior == "LENIENT":
        planned = _lenient(change, before)
    else:
        planned = [change]
    return [c for c in planned if accepts(c, enabled_tags)]


def tolerates(behavior: str, error: BaseException) -> bool:
    """Whether a sink's failure to apply a change is tolerated: only ``TRY_EVOLVE`` tolerates, and only
    :class:`~cdc_assets.core.schema_change.UnsupportedSchemaChange` (Flink's ``shouldIgnoreException``).
    Rows are then fitted to the target's schema (:func:`fit_rows`)."""
    return _behavior(behavior) == "TRY_EVOLVE" and isinstance(error, UnsupportedSchemaChange)


# ------------------------------------------------------------------------------------ widening

#: integer types by size: a type holds every value of the smaller ones of the same signedness
_INT_RANK = {"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "integer": 4, "bigint": 5}
_TEXT_KINDS = {"char": 0, "varchar": 0, "tinytext": 1, "text": 2, "mediumtext": 3, "longtext": 4}
_BINARY_KINDS = {"binary": 0, "varbinary": 0, "tinyblob": 1, "blob": 2, "mediumblob": 3, "longblob": 4}


def _holds(kinds: dict[str, int], old: Column, new: Column) -> bool:
    o, n = old.data_type.lower(), new.data_type.lower()
    if o not in kinds or n not in kinds:
        return False
    if kinds[n] != kinds[o]:
        return kinds[n] > kinds[o]  # a longer TEXT / BLOB kind, or one for a VARCHAR / VARBINARY
    return (new.char_max_length or 0) >= (old.char_max_length or 0)


def widens(old: Column, new: Column) -> bool:
    """Whether ``new`` is a different type of column that holds every value ``old`` can: a bigger integer
    (an unsigned one becoming signed needs the next size), a decimal with at least as many digits on
    each side of the point, FLOAT to DOUBLE, a longer text or binary string. Rows written before such a
    change fit the new type, so a target can take it before the stream reaches the statement."""
    if old.column_type.lower() == new.column_type.lower() and old.data_type == new.data_type:
        return False
    o, n = old.data_type.lower(), new.data_type.lower()
    if o in _INT_RANK and n in _INT_RANK:
        if old.unsigned and not new.unsigned:
            return _INT_RANK[n] > _INT_RANK[o]
        return old.unsigned == new.unsigned and _INT_RANK[n] >= _INT_RANK[o]
    signs = old.unsigned or not new.unsigned  # an unsigned type does not hold a signed one's negatives
    if o == n == "decimal":
        before = (old.numeric_precision or 10) - (old.numeric_scale or 0), old.numeric_scale or 0
        after = (new.numeric_precision or 10) - (new.numeric_scale or 0), new.numeric_scale or 0
        return signs and after[0] >= before[0] and after[1] >= before[1]
    if o == "float" and n == "double":
        return signs
    return _holds(_TEXT_KINDS, old, new) or _holds(_BINARY_KINDS, old, new)


def retyped_columns(
    before: TableSchema, now: TableSchema, names: tuple[str, ...]
) -> list[tuple[Column, Column]]:
    """``(old, new)`` for each of ``names`` (the columns a target has) whose type differs between
    ``before`` and ``now``; columns are matched by name, case-insensitively. :func:`widens` tells the
    widenings among them."""
    have = {n.lower() for n in names}
    out = []
    for col in now.columns:
        i = _index(before, col.name)
        if i is None or col.name.lower() not in have:
            continue
        old = before.columns[i]
        if (old.data_type, old.column_type.lower()) != (col.data_type, col.column_type.lower()):
            out.append((old, col))
    return out
