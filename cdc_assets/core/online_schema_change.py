"""Online schema-change tools (pt-online-schema-change, gh-ost) as the binlog shows them.

Both tools alter a copy of a table and swap it in:

- pt-osc: ``CREATE TABLE _t_new`` (t's definition), ``ALTER TABLE _t_new ...``, triggers on t copying
  into ``_t_new``, chunked ``INSERT ... SELECT``, ``RENAME TABLE t TO _t_old, _t_new TO t``,
  ``DROP TABLE _t_old``. A name already taken gets more leading underscores (``__t_new``).
- gh-ost: ``CREATE TABLE _t_gho LIKE t``, ``ALTER TABLE _t_gho ...``, a changelog table ``_t_ghc``,
  rows copied and binlog-applied into ``_t_gho``, ``RENAME TABLE t TO _t_del, _t_gho TO t`` (the
  cut-over; before it a sentry table ``_t_del`` is created and dropped), ``DROP TABLE _t_del``,
  ``_t_ghc``. ``--timestamp-old-table`` names the old table ``_t_<yyyymmddhhmmss>_del``.

:func:`osc_role` tells such tables from others by name (Flink CDC peels ``^_(.*)_(gho|new)$``;
the helper tables are named here too, so that they are not captured either); :func:`column_changes`
plans the column events that take one schema to another, for a table swapped in whose ALTER
statements were not followed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_change import AddColumn, AlterColumnType, ColumnPosition, DropColumn, SchemaChange

#: the table the tool alters and swaps in (gh-ost's ghost table, pt-osc's new table)
SHADOW = "shadow"
#: the tools' other tables: pt-osc's old table, gh-ost's old (``del``) and changelog (``ghc``) tables
HELPER = "helper"

_NAME = re.compile(r"^_(?P<base>.+?)(?:_\d{14})?_(?P<kind>new|gho|old|del|ghc)$", re.S)
_ROLES = {"new": SHADOW, "gho": SHADOW, "old": HELPER, "del": HELPER, "ghc": HELPER}


@dataclasses.dataclass(frozen=True)
class OscTable:
    """A table named as an online schema-change tool names its tables: ``base`` is the table it is for,
    ``role`` :data:`SHADOW` or :data:`HELPER`."""

    table: TableId
    base: TableId
    role: str


def osc_role(table: TableId, is_base: Callable[[TableId], bool]) -> OscTable | None:
    """``table`` as a shadow or helper table of a table ``is_base`` accepts (a captured one), else None.

    pt-osc adds a leading underscore per name already taken (``__t_new``): the base is found by
    peeling them one at a time, the base's own leading underscores kept while it is accepted."""
    m = _NAME.match(table.table)
    if m is None:
        return None
    base = m.group("base")
    while True:
        candidate = TableId(table.db, base)
        if is_base(candidate):
            return OscTable(table, candidate, _ROLES[m.group("kind")])
        if not base.startswith("_"):
            return None
        base = base[1:]


def column_changes(before: TableSchema, after: TableSchema, ddl: str) -> list[SchemaChange]:
    """Column events that take ``before``'s columns to ``after``'s, on ``before``'s table: drops, then
    type changes, then additions at their place (columns are matched by name, case-insensitively, as
    MySQL does; a renamed column shows as a drop and an addition, its values come with a snapshot).
    A different primary key raises ValueError: the target's key cannot follow."""
    table = before.table_id
    if [k.lower() for k in before.primary_key] != [k.lower() for k in after.primary_key]:
        raise ValueError(
            f"the primary key of {table} changed from ({', '.join(before.primary_key)}) to "
            f"({', '.join(after.primary_key)})"
        )
    old = {c.name.lower(): c for c in before.columns}
    new = {c.name.lower(): c for c in after.columns}
    out: list[SchemaChange] = [
        DropColumn(table, ddl, name=c.name) for c in before.columns if c.name.lower() not in new
    ]
    for c in after.columns:
        was = old.get(c.name.lower())
        if was is not None and dataclasses.replace(was, name=c.name) != c:
            out.append(AlterColumnType(table, ddl, name=was.name, column=c))
    previous: str | None = None
    for c in after.columns:
        if c.name.lower() not in old:
            position = ColumnPosition(after=previous) if previous is not None else ColumnPosition(first=True)
            out.append(AddColumn(table, ddl, column=c, position=position))
        previous = c.name
    return out
