"""Creating and widening a target that several source tables are routed to (sharded tables merged by a
``route`` rule), as Flink CDC merges them (:mod:`cdc_assets.core.schema_merge`).

A target is created from the merged schema of its sources. A source that joins it later (a table added to
the capture, or created in the binlog) with a wider definition widens it first: the columns it adds and
the types it widens reach the sink as ``AddColumn`` / ``AlterColumnType`` events, as
``pipeline.schema.change.behavior`` allows (``EVOLVE``, ``TRY_EVOLVE`` and ``LENIENT`` apply them;
``EXCEPTION`` and ``IGNORE`` refuse the source, naming the difference and the fix). Each source's rows are
then written by column name with the columns it has; the others stay NULL. Each widening the sink applied
(or found applied: a restart after it) is returned as a schema-change record of origin ``merge``, for the
caller to record once (``StateStore.record_once``) and show on the target's schema asset.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache

from cdc_assets.config import PipelineConfig
from cdc_assets.config.models import SchemaChangeBehavior
from cdc_assets.core.events import TableEvents
from cdc_assets.core.evolution import accepts, evolve
from cdc_assets.core.offsets import RestartPoint
from cdc_assets.core.routing import combine_changes
from cdc_assets.core.schema import TableId, TableSchema, column_texts, table_names
from cdc_assets.core.schema_change import SchemaChange, UnsupportedSchemaChange
from cdc_assets.core.schema_merge import (
    describe_widening,
    key_mapper,
    merge_problems,
    merge_table_events,
    merged_schema,
    row_mapper,
    widening_changes,
)
from cdc_assets.errors import SchemaError, SinkError, TargetMismatchError, TransientError
from cdc_assets.state import SchemaChangeRecord

log = logging.getLogger(__name__)

#: the behaviours under which a joining source widens its target
_WIDENING = (SchemaChangeBehavior.EVOLVE, SchemaChangeBehavior.TRY_EVOLVE, SchemaChangeBehavior.LENIENT)


@lru_cache(maxsize=256)
def _merged(schemas: tuple[TableSchema, ...], tinyint1_as_boolean: bool) -> TableSchema:
    return merged_schema(schemas, tinyint1_as_boolean=tinyint1_as_boolean)


def widen(
    parts: list[tuple[TableSchema, Sequence[tuple], Sequence[tuple]]],
    *,
    tinyint1_as_boolean: bool = True,
) -> tuple[TableSchema, list[tuple[TableSchema, Sequence[tuple], Sequence[tuple]]]]:
    """One schema for the writes of several sources to one target: the first's when they all have it,
    else their merged schema (:func:`cdc_assets.core.schema_merge.merged_schema`: the union of their
    columns, each type the least common one), each row and key given NULL for the columns its source
    lacks and its values coerced to the wider types. (Shards may differ from the start, or part by
    schema changes the stream applied to the target from one of them.)"""
    first = parts[0][0]
    if all(p[0] == first for p in parts):
        return first, parts
    wide = _merged(tuple(dict.fromkeys(p[0] for p in parts)), tinyint1_as_boolean)
    out = []
    for schema, keys, rows in parts:
        to_row, to_key = row_mapper(schema, wide), key_mapper(schema, wide)
        out.append(
            (
                wide,
                keys if to_key is None else [to_key(k) for k in keys],
                rows if to_row is None else [to_row(r) for r in rows],
            )
        )
    return wide, out


def merge_by_target(
    entries: Iterable[tuple[TableId, TableSchema, Sequence[tuple], Sequence[tuple]]],
    *,
    tinyint1_as_boolean: bool = True,
) -> list[tuple[TableId, TableSchema, Sequence[tuple], Sequence[tuple]]]:
    """Collapsed ``(target, schema, keys_to_delete, rows_to_upsert)`` entries -> one per target. A sink
    writes an entry as one load under the write's tag, and two loads of one table under one tag would be
    taken for one (StarRocks: "Label Already Exists", the second taken as loaded). Entries of several
    sources are written with all their columns (:func:`widen`); keys several touch end as the last leaves
    them. A target's only entry passes as it is."""
    parts: dict[TableId, list[tuple[TableSchema, Sequence[tuple], Sequence[tuple]]]] = {}
    for target, schema, keys, rows in entries:
        parts.setdefault(target, []).append((schema, keys, rows))
    out = []
    for target, found in parts.items():
        if len(found) == 1:
            out.append((target, *found[0]))
            continue
        schema, found = widen(found, tinyint1_as_boolean=tinyint1_as_boolean)
        keys, rows = combine_changes([(k, r) for _, k, r in found], schema.key_positions)
        out.append((target, schema, keys, rows))
    return out


def merge_events(entries: Iterable[TableEvents], *, tinyint1_as_boolean: bool = True) -> list[TableEvents]:
    """:func:`merge_by_target` for uncollapsed changes: one :class:`TableEvents` per target, several
    sources' changes in their merged schema (:func:`cdc_assets.core.schema_merge.merge_table_events`)."""
    parts: dict[TableId, list[TableEvents]] = {}
    for entry in entries:
        parts.setdefault(entry.target, []).append(entry)
    out = []
    for found in parts.values():
        if len(found) == 1:
            out.append(found[0])
            continue
        schemas = tuple(dict.fromkeys(e.schema for e in found))
        wide = schemas[0] if len(schemas) == 1 else _merged(schemas, tinyint1_as_boolean)
        out.append(merge_table_events(found, wide))
    return out


def check_mergeable(
    target: TableId, sources: Mapping[TableId, TableSchema], *, tinyint1_as_boolean: bool = True
) -> None:
    """Raise SchemaError when ``sources`` (what each writes to ``target``) cannot share it."""
    problems = merge_problems(list(sources.values()), tinyint1_as_boolean=tinyint1_as_boolean)
    if problems:
        first, *others = sources
        raise SchemaError(
            f"tables {table_names([first, *others])} are all routed to {target}, but they cannot share one table: "
            f"{'; '.join(problems)}. Give the tables the same primary key (ALTER TABLE), route them to "
            "different targets, or exclude one with source.tables.exclude",
            table=str(others[0] if others else first),
            target=str(target),
        )


def prepare_target(
    sink,
    cfg: PipelineConfig,
    target: TableId,
    sources: Mapping[TableId, TableSchema],
    established: Sequence[TableId],
    position: Callable[[], RestartPoint],
) -> list[SchemaChangeRecord]:
    """Create ``target`` for ``sources`` (each source's schema as it writes to the target, first the one
    that defines the column order), or widen it for the sources not in ``established`` (those the target
    was made for already). Returns a record per widening change (``position()``: the binlog point they
    are recorded at, asked only when there is one). Raises SchemaError when the sources cannot be merged,
    when the behaviour forbids widening the target, or when the sink cannot widen it."""
    t1b = cfg.source.treat_tinyint1_as_boolean
    check_mergeable(target, sources, tinyint1_as_boolean=t1b)
    after = merged_schema(list(sources.values()), tinyint1_as_boolean=t1b)
    known = [sources[t] for t in established if t in sources]
    if not known:
        return _create(sink, cfg, target, sources, after, position)
    before = merged_schema(known, tinyint1_as_boolean=t1b)
    sink.ensure_table(target, before)
    joining = [t for t in sources if t not in established]
    if not joining:
        return []
    why = f"{table_names(joining)} joins {target}"
    changes = widening_changes(before, after, joining[0], why)
    return _widen(sink, cfg, target, before, after, changes, joining, established, position)


def _create(
    sink,
    cfg: PipelineConfig,
    target: TableId,
    sources: Mapping[TableId, TableSchema],
    after: TableSchema,
    position: Callable[[], RestartPoint],
) -> list[SchemaChangeRecord]:
    """Create ``target`` as ``after``. A target that exists already without columns of ``after`` (made
    from narrower sources before a restart: the stream saved nothing yet, and a wider table joined or a
    table was altered meanwhile) gets them added as for a joining table (the sink names them in its
    SchemaError's ``missing``)."""
    try:
        sink.ensure_table(target, after)
        return []
    except SchemaError as exc:
        missing = {m.lower() for m in exc.context.get("missing", ())}
        names = {c.name.lower() for c in after.columns}
        if not missing or not missing <= names or missing & {k.lower() for k in after.primary_key}:
            raise
    before = dataclasses.replace(
        after, columns=tuple(c for c in after.columns if c.name.lower() not in missing)
    )
    joining = [t for t, s in sources.items() if any(c.name.lower() in missing for c in s.columns)]
    established = [t for t in sources if t not in joining]
    why = f"{target} exists without columns {table_names(joining)} have"
    changes = widening_changes(before, after, joining[0], why)
    return _widen(sink, cfg, target, before, after, changes, joining, established, position)


def _widen(
    sink,
    cfg: PipelineConfig,
    target: TableId,
    before: TableSchema,
    after: TableSchema,
    changes: Sequence[SchemaChange],
    joining: Sequence[TableId],
    established: Sequence[TableId],
    position: Callable[[], RestartPoint],
) -> list[SchemaChangeRecord]:
    """Apply ``changes`` (``before`` -> ``after``) to ``target`` for the tables ``joining`` it, as the
    behaviour and the sink allow (else SchemaError naming the difference and the fix); a record each."""
    if not changes:
        return []
    why = changes[0].ddl
    with_others = f" (with {table_names(established)})" if established else ""
    behavior = cfg.pipeline.schema_change_behavior
    difference = describe_widening(changes)
    fix = (
        f"ALTER TABLE the tables routed to {target} to one definition, set pipeline.schema.change.behavior: "
        "lenient (or evolve) so the target is widened, or route the table elsewhere / exclude it with "
        "source.tables.exclude"
    )
    refused = [c.tag for c in changes if not accepts(c, cfg.schema_change_types)]
    if behavior not in _WIDENING or refused:
        why_not = (
            f"schema.change.behavior {behavior.value} does not change the target"
            if behavior not in _WIDENING
            else f"{', '.join(sorted(set(refused)))} is excluded by the sink's include/exclude.schema.changes"
        )
        raise TargetMismatchError(
            f"{table_names(joining)} is routed to {target}{with_others}, but its definition is "
            f"wider: {difference}; {why_not}. {fix}",
            table=str(joining[0]),
            target=str(target),
        )
    records: list[SchemaChangeRecord] = []
    point: RestartPoint | None = None
    columns = before
    for change in changes:
        try:
            outcome = sink.apply_schema_change(target, change, after)
        except (UnsupportedSchemaChange, SinkError) as exc:
            if isinstance(exc, TransientError):
                raise
            raise TargetMismatchError(
                f"{table_names(joining)} is routed to {target}, whose columns must be widened ({difference}), but "
                f"the sink cannot: {exc}. {fix}",
                table=str(joining[0]),
                target=str(target),
            ) from exc
        log.info(
            "merged target %s widened for %s: %s -> %s", target, table_names(joining), change.tag, outcome
        )
        widened = evolve(columns, change)
        assert widened is not None
        point = point or position()
        records.append(
            SchemaChangeRecord(
                source=str(joining[0]),
                target=str(target),
                kind=change.tag,
                ddl=f"-- {why}: {describe_widening([change])}",
                position=point,
                columns_before=column_texts(columns),
                columns_after=column_texts(widened),
                outcome=f"{outcome} on {target}: {why}",
                origin="merge",
            )
        )
        columns = widened
    return records
