"""Creating and widening a target that several source tables are routed to (sharded tables merged by a
``route`` rule), as Flink CDC merges them (:mod:`cdc_assets.core.schema_merge`).

A target is created from the merged schema of its sources. A source that joins it later (a table added to
the capture, or created in the binlog) with a wider definition widens it first: the columns it adds and
the types it widens reach the sink as ``AddColumn`` / ``AlterColumnType`` events, as
``pipeline.schema.change.behavior`` allows (``EVOLVE``, ``TRY_EVOLVE`` and ``LENIENT`` apply them;
``EXCEPTION`` and ``IGNORE`` refuse the source, naming the difference and the fix). Each source's rows are
then written by column name with the columns it has; the others stay NULL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from cdc_assets.config import PipelineConfig
from cdc_assets.config.models import SchemaChangeBehavior
from cdc_assets.core.evolution import accepts
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_change import UnsupportedSchemaChange
from cdc_assets.core.schema_merge import describe_widening, merge_problems, merged_schema, widening_changes
from cdc_assets.errors import SchemaError, SinkError, TransientError

log = logging.getLogger(__name__)

#: the behaviours under which a joining source widens its target
_WIDENING = (SchemaChangeBehavior.EVOLVE, SchemaChangeBehavior.TRY_EVOLVE, SchemaChangeBehavior.LENIENT)


def _names(tables: Sequence[TableId]) -> str:
    return ", ".join(map(str, tables))


def check_mergeable(
    target: TableId, sources: Mapping[TableId, TableSchema], *, tinyint1_as_boolean: bool = True
) -> None:
    """Raise SchemaError when ``sources`` (what each writes to ``target``) cannot share it."""
    problems = merge_problems(list(sources.values()), tinyint1_as_boolean=tinyint1_as_boolean)
    if problems:
        first, *others = sources
        raise SchemaError(
            f"tables {_names([first, *others])} are all routed to {target}, but they cannot share one table: "
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
) -> TableSchema:
    """Create ``target`` for ``sources`` (each source's schema as it writes to the target, first the one
    that defines the column order), or widen it for the sources not in ``established`` (those the target
    was made for already). Returns the merged schema. Raises SchemaError when the sources cannot be merged,
    when the behaviour forbids widening the target, or when the sink cannot widen it."""
    t1b = cfg.source.treat_tinyint1_as_boolean
    check_mergeable(target, sources, tinyint1_as_boolean=t1b)
    after = merged_schema(list(sources.values()), tinyint1_as_boolean=t1b)
    known = [sources[t] for t in established if t in sources]
    if not known:
        sink.ensure_table(target, after)
        return after
    before = merged_schema(known, tinyint1_as_boolean=t1b)
    sink.ensure_table(target, before)
    joining = [t for t in sources if t not in established]
    if not joining:
        return after
    why = f"{_names(joining)} joins {target}"
    changes = widening_changes(before, after, joining[0], why)
    if not changes:
        return after
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
        raise SchemaError(
            f"{_names(joining)} is routed to {target} (with {_names(established)}), but its definition is "
            f"wider: {difference}; {why_not}. {fix}",
            table=str(joining[0]),
            target=str(target),
        )
    for change in changes:
        try:
            outcome = sink.apply_schema_change(target, change, after)
        except (UnsupportedSchemaChange, SinkError) as exc:
            if isinstance(exc, TransientError):
                raise
            raise SchemaError(
                f"{_names(joining)} is routed to {target}, whose columns must be widened ({difference}), but "
                f"the sink cannot: {exc}. {fix}",
                table=str(joining[0]),
                target=str(target),
            ) from exc
        log.info("merged target %s widened for %s: %s -> %s", target, _names(joining), change.tag, outcome)
    return after
