"""A chunk read after a column of its table was widened: the target's column is widened first.

A chunk is read with its table as it is now (``RunContext.describe_current``), while the DDL reaches
the target only when the stream, which starts after the snapshot, reads it from the binlog. A column
widened meanwhile (VARCHAR(10) -> VARCHAR(100), INT -> BIGINT, DECIMAL(5,2) -> DECIMAL(12,2)) may hold
values the target's column cannot: StarRocks filters their rows (the load fails), DuckDB fails the cast.
So before a chunk is written, each target column whose source type is wider now than in the schema in
force is changed as the stream will change it: planned under ``schema.change.behavior`` and the sink's
include/exclude lists (``core.evolution.plan_sink_changes``) and applied with the sink's
``apply_schema_change``, which is idempotent: another loader of the same table, and the stream when it
reads the statement, find it "already applied" (StarRocks' ALTER job is waited for, and a table busy
with another one is waited for too).

Only widening changes are applied early (``core.evolution.widens``): the rows the stream replays from
before the statement fit the wider column, which a narrower or different type might refuse. Other type
changes (and added, renamed or dropped columns) stay the stream's business, as before; a chunk whose
values the target's column cannot take until then fails with the same kind of error.

A widening the behaviour or the sink refuses (an unsupported kind, or a conversion the sink does not
make) leaves the target as it is and the chunk is written
anyway (its values may fit: DuckDB's VARCHAR has no length). A write that fails then is reported as a
:class:`~cdc_assets.errors.SchemaError` naming the table, the column, the change and the ways on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cdc_assets.core.evolution import (
    SchemaChangeForbidden,
    evolve,
    plan_sink_changes,
    retyped_columns,
    widens,
)
from cdc_assets.core.offsets import RestartPoint
from cdc_assets.core.schema import Column, TableId, TableSchema, column_texts, fit_to_target, table_names
from cdc_assets.core.schema_apply import APPLIED
from cdc_assets.core.schema_change import AlterColumnType, UnsupportedSchemaChange
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.schema_evolution import why_not_sent
from cdc_assets.engine.transform import apply_schema_change
from cdc_assets.errors import SchemaError, SinkError, TransientError
from cdc_assets.state import SchemaChangeRecord

log = logging.getLogger(__name__)


@dataclass
class Widening:
    """What :func:`widen_targets` did for one chunk: the changes it recorded, and the type changes it left
    to the stream (refused, or not widenings)."""

    table: TableId
    index: int
    records: list[SchemaChangeRecord] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one text per change left out: what, and why

    def explain(self, exc: BaseException) -> None:
        """Raise a SchemaError for ``exc``, a failed write of the chunk, when a type change the target does not
        have yet is the likely cause (nothing when there is none, or the failure may pass on a retry)."""
        if not self.refused or isinstance(exc, TransientError):
            return
        raise SchemaError(
            f"chunk {self.index} of {self.table} cannot be written: the table changed while the snapshot ran "
            f"and its target was not changed with it ({'; '.join(self.refused)}), so the chunk holds values the "
            f"target's column cannot take: {exc}. Ways on: remove the cause named above (for a widening: a "
            "behavior that lets it through, alter.column.type among the sink's schema changes, StarRocks 3.6 or "
            "later) and load the chunk again; or change the target's column yourself and load it again; or "
            f"`cdc-assets resnapshot {self.table}` (the target is created again as the table is now)",
            table=str(self.table),
            chunk=self.index,
        ) from exc


def _ddl(table: TableId, col: Column) -> str:
    """The statement a widening is recorded with (as the snapshot saw it; the binlog has the real one)."""
    null = "" if col.nullable else " NOT NULL"
    return (
        f"ALTER TABLE {quote_table(table.db, table.table)} MODIFY COLUMN {quote_ident(col.name)} "
        f"{col.column_type}{null} -- as a snapshot chunk read the table"
    )


def widen_targets(
    ctx: RunContext, table: TableId, schema: TableSchema, index: int, point: RestartPoint
) -> Widening:
    """Widen ``table``'s target columns that ``schema`` (the table now, which chunk ``index`` is read with,
    from about ``point`` on) has wider than its schema in force; record each change applied (once)."""
    out = Widening(table, index)
    sif = ctx.state.schema_in_force(str(table))
    if sif is None:
        return out
    before = sif.source
    targets = ctx.targets(table)
    behavior = ctx.cfg.pipeline.schema_change_behavior.value
    for old, new in retyped_columns(before, schema, sif.target_columns):
        change = AlterColumnType(table, _ddl(table, new), name=old.name, column=new)
        if not widens(old, new):
            out.refused.append(
                f"column {old.name} of {table} changed from {old.column_type} to {new.column_type}, which is "
                "not a widening (rows from before it may not fit the new type): only the stream changes the "
                "target, when it reads the statement, and then reads the chunks after it again"
            )
            continue
        what = f"column {old.name} of {table} widened from {old.column_type} to {new.column_type}"
        try:
            planned = plan_sink_changes(change, before, behavior, ctx.cfg.schema_change_types)
        except SchemaChangeForbidden:
            out.refused.append(
                f"{what}: pipeline.schema.change.behavior is EXCEPTION (EVOLVE, TRY_EVOLVE or LENIENT let it through)"
            )
            continue
        if not planned:
            out.refused.append(
                f"{what}: not applied ({why_not_sent(ctx, change)}; with alter.column.type let through, the "
                "target follows)"
            )
            continue
        try:
            read = fit_to_target(before, sif.target_columns)[0]  # what a transform rule reads of it
            outcomes = [apply_schema_change(ctx.sink, t, sev, None, read) for sev in planned for t in targets]
        except (UnsupportedSchemaChange, SinkError) as exc:
            if isinstance(exc, TransientError):
                raise
            # the sink cannot (StarRocks does not change DECIMAL(5,2) to DECIMAL(12,2)): the stream would
            # stop at the statement under EVOLVE too; the chunk is written, and fails if it does not fit
            log.warning("chunk %d of %s: %s, and the sink refused it: %s", index, table, what, exc)
            out.refused.append(f"{what}: the sink refused it: {exc}")
            continue
        log.info("chunk %d of %s: %s; its target: %s", index, table, what, "; ".join(outcomes))
        if any(o.startswith(APPLIED) for o in outcomes):
            after = evolve(before, change)
            assert after is not None
            out.records.append(
                SchemaChangeRecord(
                    source=str(table),
                    target=table_names(targets),
                    kind=change.tag,
                    ddl=change.ddl,
                    position=point,
                    columns_before=column_texts(before),
                    columns_after=column_texts(after),
                    outcome=f"{outcomes[0]} by the snapshot: chunk {index} read {table} after the change, "
                    "so the target took it first (the stream finds it applied)",
                    origin="snapshot",
                )
            )
    if out.records:
        out.records = ctx.state.record_once(out.records)
    return out
