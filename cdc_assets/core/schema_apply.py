"""What the sinks share to apply schema-change events (:mod:`cdc_assets.core.schema_change`): pure data.

- :func:`starrocks_version` and :func:`starrocks_schema_changes`: which event kinds a StarRocks of a
  given version takes, as Flink CDC's StarRocks applier decides (``getSupportedSchemaEvolutionTypes``).
- :func:`column_default`: the value an added column's ``DEFAULT`` gives the rows that exist already,
  as text the targets cast to the column's type, or why it is not copied.
- :func:`outcome`: the short outcome texts ``apply_schema_change`` returns.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.schema_change import CreateTable, RenameTable
from cdc_assets.core.values import enum_members
from cdc_assets.errors import SinkError

APPLIED = "applied"
ALREADY_APPLIED = "already applied"

#: Flink CDC's StarRocks applier, by version (flink-cdc ``StarRocksMetadataApplier``): 3.2 takes create
#: table, add and drop column; 3.3 adds drop and truncate table; 3.6 adds rename column and alter column
#: type, and logs and ignores table comments. ``rename.table`` and ``alter.column.comment`` are this
#: project's own kinds: a table rename is ``ALTER TABLE t RENAME n`` on every 3.x, and a column comment
#: is ignored wherever a table comment is.
_BASE = frozenset({"create.table", "add.column", "drop.column", "rename.table"})
_V33 = _BASE | {"drop.table", "truncate.table"}
_V36 = _V33 | {"rename.column", "alter.column.type", "alter.table.comment", "alter.column.comment"}

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


def starrocks_version(text: str) -> tuple[int, int, int] | None:
    """``current_version()``'s answer (``3.3.5 c3a8d5a``, ``3.2.11-ee``) -> (3, 3, 5); None if unreadable."""
    m = _VERSION.match(text or "")
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def starrocks_schema_changes(version: tuple[int, int, int] | None) -> frozenset[str]:
    """The event tags a StarRocks of ``version`` takes (an unknown version gets the 3.2 set)."""
    if version is None or version[:2] < (3, 3):
        return _BASE
    if version[:2] < (3, 6):
        return _V33
    return _V36


# ----------------------------------------------------------------------------------------- defaults
_NUMERIC = frozenset(
    {"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double", "real", "year"}
)
_TEXT = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"})
_ZERO_DATE = re.compile(r"^0{4}-0{2}-0{2}")


def _literal(node: exp.Expression) -> str | None:
    """The text of a constant literal (a string, a signed number, TRUE/FALSE), else None."""
    if isinstance(node, exp.Paren):
        return _literal(node.this)
    if isinstance(node, exp.Literal):
        return node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return "-" + node.this.this
    if isinstance(node, exp.Boolean):
        return "1" if node.this else "0"
    return None


def column_default(default_sql: str | None, col: Column, *, boolean: bool = False) -> tuple[str | None, str]:
    """``(text, "")``: existing rows of the added column ``col`` take ``text`` (cast to the column's target
    type); ``(None, "")``: they are NULL, as in MySQL (a nullable column without a default, or
    ``DEFAULT NULL``); a NOT NULL column without a default gets MySQL's implicit one (0, '', an ENUM's
    first member); ``(None, why)``:
    MySQL filled them with a value the sinks do not reproduce, and they are NULL in the target until
    each row changes.

    Copied: constant numbers, strings and dates/datetimes (not zero dates) on numeric, text, DATE and
    DATETIME columns. Not copied: expressions (``CURRENT_TIMESTAMP`` is the time the server ran the DDL),
    ``TIMESTAMP`` literals (they are in the server's time zone), and binary, bit, time, JSON and spatial
    columns. ``boolean`` is set for a column the target holds as BOOLEAN (TINYINT(1)): any non-zero
    number is ``1``.
    """
    if default_sql is None:
        return _implicit_default(col)
    try:
        node = sqlglot.parse_one(default_sql, read="mysql")
    except ParseError:
        node = None
    if isinstance(node, exp.Null):
        return None, ""
    text = _literal(node) if node is not None else None
    if text is None:
        return None, f"its default {default_sql} is not a constant"
    kind = col.data_type.lower()
    if kind in _NUMERIC:
        if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?", text.strip(), re.I):
            return None, f"its default {default_sql} is not a number"
        if boolean:
            return ("0" if float(text) == 0 else "1"), ""
        return text.strip(), ""
    if kind in _TEXT:
        return text, ""
    if kind in ("date", "datetime"):
        if _ZERO_DATE.match(text):
            return None, f"its default {default_sql} is a zero date, which the target cannot hold"
        return text, ""
    return None, f"a {kind.upper()} default ({default_sql}) is not copied"


def _implicit_default(col: Column) -> tuple[str | None, str]:
    """What MySQL fills existing rows with when a NOT NULL column without DEFAULT is added: the type's
    implicit default (MySQL manual "Data Type Default Values"): 0, '', an ENUM's first member, a zero date."""
    if col.nullable:
        return None, ""
    kind = col.data_type.lower()
    if kind in _NUMERIC:
        return "0", ""
    if kind == "enum":
        members = enum_members(col.column_type)
        return (members[0] if members else ""), ""
    if kind in _TEXT:
        return "", ""
    return None, f"MySQL filled the existing rows with the implicit default of a NOT NULL {kind.upper()}"


def outcome(done: bool, detail: str = "") -> str:
    """``applied`` / ``already applied``, with ``; detail`` when there is one."""
    text = APPLIED if done else ALREADY_APPLIED
    return f"{text}; {detail}" if detail else text


def ignored(why: str) -> str:
    return f"ignored: {why}"


def created_schema(target: TableId, change: CreateTable, after: TableSchema | None) -> TableSchema:
    """The schema a CreateTable creates ``target`` with: the event's, else ``after`` (``CREATE TABLE ... LIKE``)."""
    schema = change.schema or after
    if schema is None:
        raise SinkError(
            f"cannot create {target} for {change.table}: the event has no schema (CREATE TABLE ... "
            "LIKE) and none was passed as `after`",
            table=str(target),
        )
    return schema


def already_renamed(
    sink: str,
    target: TableId,
    renamed_to: TableId,
    change: RenameTable,
    *,
    old_exists: bool,
    new_exists: bool,
) -> bool:
    """Whether ``target`` was renamed to ``renamed_to`` already (only the new name exists: a replay after a
    crash); raises SinkError when the rename cannot be done (neither exists, or the new name is taken)."""
    if not old_exists and new_exists:
        return True
    if not old_exists or new_exists:
        state = "neither table exists" if not old_exists else f"{renamed_to} exists already"
        raise SinkError(
            f"cannot rename the {sink} table {target} to {renamed_to} ({change.ddl}): {state}",
            table=str(target),
        )
    return False


def rename_target(target: TableId, change: RenameTable, renamed_to: TableId | None) -> TableId:
    """Where a RenameTable takes ``target``: ``renamed_to`` (the routed new name), else the new table name
    in ``target``'s database."""
    if renamed_to is not None:
        return renamed_to
    if change.new is None:
        raise SinkError(f"the RenameTable event for {change.table} has no new name ({change.ddl})")
    return TableId(target.db, change.new.table)
