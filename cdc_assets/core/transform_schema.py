"""Column changes of a transformed table: what a source column change does to the target, as Flink CDC's
transform operators (``PreTransformOperator`` / ``PostTransformOperator``) derive it.

The engine fits a transformed table's rows to the *source* columns the target takes (as for any table,
``core.schema.fit_to_target``) and evaluates the rule over them; so a change reaches the transform as a
change of those source columns, and this module says what it makes of the target:

- a projection with ``*`` (or none, which is ``*``): the star's columns follow the source. An added column
  is added where ``*`` puts it: ``FIRST`` before the star's first column, at the end (no position) after
  its last one, so computed columns stay after the source columns (Flink turns ``LAST``/``FIRST`` into
  ``AFTER``/``BEFORE`` a source column for the same reason); a dropped, renamed or retyped star column is
  dropped, renamed or retyped in the target;
- an explicit projection: the target keeps its columns. An added column, or a drop or rename of a column
  the rule does not use, changes nothing; a type change of a column the projection copies as it is
  (``name`` or ``name AS other``) changes that target column's type;
- a drop or a rename of a column the projection's expressions or the filter use cannot be followed (the
  rule could no longer be evaluated; Flink's job fails there too): :class:`TransformColumnError` names the
  rule, the column and the fix.

Computed columns whose type follows a retyped column are the engine's business: it compiles the rule for
the schema after the change and compares (:func:`computed_type_changes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlglot import exp

from cdc_assets.core.evolution import EvolutionError, evolve
from cdc_assets.core.schema import TableSchema
from cdc_assets.core.schema_change import (
    AddColumn,
    AlterColumnComment,
    AlterColumnType,
    ColumnPosition,
    DropColumn,
    RenameColumn,
    SchemaChange,
)
from cdc_assets.core.transform import ParsedRule, TransformPlan
from cdc_assets.errors import SchemaError

#: the column changes this module translates; other changes concern the whole table
COLUMN_CHANGES = (AddColumn, DropColumn, RenameColumn, AlterColumnType, AlterColumnComment)


class TransformColumnError(SchemaError):
    """A source column change a table's transform rule cannot follow."""


def has_star(rule: ParsedRule) -> bool:
    """Whether the rule's projection has ``*`` (no projection is ``*``)."""
    return rule.projection is None or any(isinstance(n, exp.Star) for n in rule.projection)


def _resolve(schema: TableSchema, name: str) -> str | None:
    """``name`` as the schema spells it (exact, else case-insensitive, as MySQL's names match)."""
    if name in schema.column_names:
        return name
    return next((c for c in schema.column_names if c.lower() == name.lower()), None)


def _named(node: exp.Expression) -> tuple[str | None, exp.Expression]:
    if isinstance(node, exp.Alias):
        return node.alias, node.this
    return (node.name if isinstance(node, exp.Column) else None), node


def used_columns(rule: ParsedRule, schema: TableSchema) -> dict[str, str]:
    """The source columns the rule's expressions use, beyond what ``*`` copies: column -> where
    (``projection`` or ``filter``). A projection item that copies a column as it is uses it too (without
    it the target column has no value)."""
    out: dict[str, str] = {}
    places = [("projection", n) for n in rule.projection or () if not isinstance(n, exp.Star)]
    if rule.filter is not None:
        places.append(("filter", rule.filter))
    for where, node in places:
        for col in node.find_all(exp.Column):
            found = None if col.table else _resolve(schema, col.name)
            if found is not None:
                out.setdefault(found, where)
    return out


def output_layout(rule: ParsedRule, schema: TableSchema) -> tuple[list[str], list[str], dict[str, str]]:
    """The target's column names in order, the names ``*`` put there, and each target column that copies
    a source column as it is -> that source column (as :func:`cdc_assets.core.transform.compile_rule`
    lays them out, without compiling: the rule may not compile for a schema it is being fixed for)."""
    names: list[str] = []
    star: list[str] = []
    copies: dict[str, str] = {}
    for node in rule.projection or [exp.Star()]:
        if isinstance(node, exp.Star):
            for c in schema.column_names:
                names.append(c)
                star.append(c)
                copies[c] = c
            continue
        alias, body = _named(node)
        if alias is None:
            continue
        source = _resolve(schema, body.name) if isinstance(body, exp.Column) and not body.table else None
        if alias in star:  # replaces the star's column in place
            copies.pop(alias, None)
        else:
            names.append(alias)
        if source is not None:
            copies[alias] = source
    return names, star, copies


def check_column_change(rule: ParsedRule, schema: TableSchema, change: SchemaChange) -> None:
    """Raise :class:`TransformColumnError` when ``change`` (a source change, before the behaviour plans
    it) drops or renames a column the rule uses. ``schema`` is what the rule reads before the change."""
    if isinstance(change, DropColumn):
        name, new = change.name, None
    elif isinstance(change, RenameColumn) and change.old.lower() != change.new.lower():
        name, new = change.old, change.new
    else:
        return
    used = used_columns(rule, schema)
    found = _resolve(schema, name)
    if found is None or found not in used:
        return
    key = f"transform[{rule.index}].{used[found]}"
    what = "dropped" if new is None else f"renamed to {new!r}"
    fix = f"remove {found!r} from {key}" if new is None else f"write {new!r} instead of {found!r} in {key}"
    raise TransformColumnError(
        f"column {found!r} of {change.table} was {what} ({change.ddl.strip()}), but {key} uses it, so the "
        f"rule cannot be evaluated any more. To go on, {fix} and restart: the stream resumes before this "
        "statement and applies it with the edited rule",
        table=str(change.table),
        column=found,
        rule=key,
    )


def _star_position(
    names: Sequence[str], star: Sequence[str], position: ColumnPosition | None
) -> ColumnPosition | None:
    """Where a column the source puts at ``position`` goes in the target (None: at its end)."""
    if not star:
        return position
    if position is not None and position.first:
        i = names.index(star[0])
        return ColumnPosition(first=True) if i == 0 else ColumnPosition(after=names[i - 1])
    if position is not None and position.after:
        match = [s for s in star if s.lower() == position.after.lower()]
        if match:
            return ColumnPosition(after=match[0])
    return None if star[-1] == names[-1] else ColumnPosition(after=star[-1])


def target_column_changes(
    rule: ParsedRule, schema: TableSchema, change: SchemaChange
) -> tuple[list[SchemaChange], str]:
    """The target changes one column change of the source makes (see module), and why when none.
    ``schema`` is what the rule reads before the change (the source columns the target takes)."""
    names, star, copies = output_layout(rule, schema)
    lower = {n.lower() for n in names}
    rid = f"transform[{rule.index}]"
    if isinstance(change, AddColumn):
        assert change.column is not None
        if not star:
            return [], f"{rid} has no '*' in its projection: the new column is not in the target"
        if change.column.name.lower() in lower:
            raise TransformColumnError(
                f"column {change.column.name!r} added to {change.table} has the name of an output column of "
                f"{rid}; rename the rule's column (AS another_name) and restart",
                table=str(change.table),
                rule=rid,
            )
        return [dataclasses.replace(change, position=_star_position(names, star, change.position))], ""
    if isinstance(change, (DropColumn, RenameColumn)):
        name = change.name if isinstance(change, DropColumn) else change.old
        found = _resolve(schema, name)
        if found is None or found not in star or copies.get(found) != found:
            return [], f"{name!r} is not a column of {rid}'s projection: the target is unchanged"
        if isinstance(change, RenameColumn):
            if change.new.lower() in lower and change.new.lower() != found.lower():
                raise TransformColumnError(
                    f"column {found!r} of {change.table} was renamed to {change.new!r}, the name of an output "
                    f"column of {rid}; rename the rule's column (AS another_name) and restart",
                    table=str(change.table),
                    rule=rid,
                )
            return [dataclasses.replace(change, old=found)], ""
        return [dataclasses.replace(change, name=found)], ""
    if isinstance(change, (AlterColumnType, AlterColumnComment)):
        found = _resolve(schema, change.name)
        targets = [t for t, s in copies.items() if s == found]
        if not targets:
            return [], f"{change.name!r} is not copied by {rid}'s projection: no target column has its type"
        out: list[SchemaChange] = []
        for t in targets:
            if isinstance(change, AlterColumnType):
                assert change.column is not None
                position = (
                    _star_position(names, star, change.position) if change.position and t in star else None
                )
                out.append(
                    dataclasses.replace(
                        change, name=t, column=dataclasses.replace(change.column, name=t), position=position
                    )
                )
            else:
                out.append(dataclasses.replace(change, name=t))
        return out, ""
    return [change], ""


def evolve_read_columns(schema: TableSchema, change: SchemaChange) -> TableSchema:
    """What the rule reads after ``change`` of the columns it read (``schema``): a change of a column it
    does not read (one the target never took) leaves them as they are; an added column placed after such
    a column goes at the end."""
    name = getattr(change, "old", None) or getattr(change, "name", None)
    if not isinstance(change, AddColumn) and name and _resolve(schema, name) is None:
        return schema
    try:
        out = evolve(schema, change)
    except EvolutionError:
        if not isinstance(change, AddColumn) or change.position is None:
            raise
        out = evolve(schema, dataclasses.replace(change, position=None))
    assert out is not None
    return out


def computed_type_changes(old: TransformPlan, new: TransformPlan, done: Sequence[str]) -> list[SchemaChange]:
    """Type changes of computed columns between two compilations of a rule (a column they read was
    retyped), except the columns in ``done``: one :class:`AlterColumnType` each, as Flink CDC derives
    them from the transformed schemas before and after."""
    before = {c.name: c for c in old.target.columns}
    computed = {c.name for c in new.columns if c.source is None}
    out: list[SchemaChange] = []
    for col in new.target.columns:
        was = before.get(col.name)
        if col.name in computed and col.name not in done and was is not None and was != col:
            out.append(AlterColumnType(new.source.table_id, "", name=col.name, column=col))
    return out
