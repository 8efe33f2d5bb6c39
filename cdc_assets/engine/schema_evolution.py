"""Schema changes read from the binlog, applied while streaming.

The stream decodes rows with the *schema in force* of each captured table: the catalog's when the
table was first captured, then evolved by every DDL the binlog holds for it (``core.ddl``). After a
DDL the schemas in force are saved with the restart point just after it, in one state transaction,
so a restart decodes each event with the columns it was written with (no column shift after an
ALTER, even across restarts; and without ``binlog_row_metadata=FULL``, whose column names the reader
otherwise checks).

What reaches the sink follows ``pipeline.schema.change.behavior`` and the sink's
``include.schema.changes`` / ``exclude.schema.changes`` (``core.evolution``). The engine also keeps the
columns each target has, which differ from the source's when a change was converted (LENIENT keeps a
dropped column), ignored, excluded, or not supported by the sink (TRY_EVOLVE): rows are written by
column name, with only the columns the target has (``core.schema.fit_to_target``).

Every change is recorded in the state with its DDL, the columns before and after, the binlog point
and what the sink did; the Dagster streaming op materializes the table's schema asset from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cdc_assets.config.models import SchemaChangeBehavior
from cdc_assets.core.charsets import ServerDefaults
from cdc_assets.core.ddl import TableChange, apply_ddl
from cdc_assets.core.ddl_charset import database_defaults
from cdc_assets.core.evolution import accepts, tolerates
from cdc_assets.core.offsets import RestartPoint
from cdc_assets.core.schema import TableId, TableSchema, column_texts, fit_to_target, table_names
from cdc_assets.core.schema_change import (
    AddColumn,
    AlterColumnType,
    AlterTableCharset,
    CreateTable,
    DropColumn,
    DropTable,
    RenameColumn,
    RenameTable,
    SchemaChange,
    TruncateTable,
    UnsupportedSchemaChange,
)
from cdc_assets.core.schema_merge import MergeError, find_column, least_common_column
from cdc_assets.core.transform_schema import COLUMN_CHANGES, check_column_change, has_star
from cdc_assets.core.types import check_supported
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.online_schema_change import OnlineSchemaChanges
from cdc_assets.engine.target_merge import prepare_target
from cdc_assets.engine.transform import apply_schema_change, rule_of
from cdc_assets.errors import SchemaError
from cdc_assets.mysql.catalog import load_server_defaults
from cdc_assets.state import SchemaChangeRecord, SchemaInForce

log = logging.getLogger(__name__)


@dataclass
class StatementOutcome:
    """What one DDL statement did: the records to save with the restart point after it, the tables
    that left the capture, and tables that must be snapshotted before the stream reads on (a table
    renamed into the captured set: its rows were never streamed)."""

    records: list[SchemaChangeRecord] = field(default_factory=list)
    forget: list[TableId] = field(default_factory=list)
    snapshot: list[TableId] = field(default_factory=list)
    #: the shadow tables of online schema changes changed (saved with the restart point after it)
    shadows_changed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.records or self.forget or self.snapshot or self.shadows_changed)


class SchemaTracker:
    """The schemas in force of one stream (kept in ``ctx.schemas``) and the columns of each target."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.target_columns: dict[TableId, tuple[str, ...]] = {}
        self.defaults: ServerDefaults | None = None  # the server's charsets, read at the first DDL
        #: tables with no schema in force saved yet: theirs is the catalog's (the caller saves it)
        self.unsaved: list[TableId] = []
        saved = ctx.state.schemas_in_force()
        for table, schema in list(ctx.schemas.items()):
            sif = saved.get(str(table))
            if sif is not None:
                ctx.schemas[table] = sif.source
                self.target_columns[table] = sif.target_columns
            else:
                self.target_columns[table] = schema.column_names
                self.unsaved.append(table)
        self.osc = OnlineSchemaChanges(self)

    @property
    def plan_args(self) -> tuple[str, frozenset[str]]:
        """``behavior`` and ``enabled_tags`` of :func:`~cdc_assets.core.evolution.plan_sink_changes`."""
        return self.ctx.cfg.pipeline.schema_change_behavior.value, self.ctx.cfg.schema_change_types

    def track(self, tables) -> None:
        """Start tracking tables added to ``ctx.schemas`` since (snapshotted while streaming): their
        targets were created from the catalog's schema, or have the columns saved for them (a table
        snapshotted again into its target after a swap, see :mod:`.online_schema_change`)."""
        for t in tables:
            if t in self.ctx.schemas:
                sif = self.ctx.state.schema_in_force(str(t))
                self.target_columns[t] = (
                    sif.target_columns if sif is not None else self.ctx.schemas[t].column_names
                )

    def in_force(self, tables=None) -> dict[str, SchemaInForce]:
        tables = self.ctx.schemas if tables is None else tables
        return {str(t): SchemaInForce(self.ctx.schemas[t], self.target_columns[t]) for t in tables}

    def write_schema(self, table: TableId) -> tuple[TableSchema, tuple[int, ...] | None]:
        """The schema to write ``table``'s rows with, and the row positions to keep (None: all)."""
        return fit_to_target(self.ctx.schemas[table], self.target_columns[table])

    # ---- one DDL ---------------------------------------------------------------------------------

    def known_since(self) -> dict[TableId, RestartPoint]:
        """Per captured table, the point its schema in force begins at: its snapshot point (planned,
        re-snapshotted, or created in the binlog). Earlier DDL and rows of the table are in it already."""
        out = {}
        for source, ts in self.ctx.state.tables().items():
            table = TableId.parse(source)
            if table in self.ctx.schemas and ts.snapshot_point is not None:
                out[table] = ts.snapshot_point
        return out

    def captured_at(self, point: RestartPoint) -> Callable[[TableId], bool]:
        """Which tables a statement ending at ``point`` concerns: captured ones whose schema in force was
        not read after it (a table planned later already has the statement's effect)."""
        since = self.known_since()
        here = self.ctx.server.server_id if self.ctx.server is not None else None

        def captured(table: TableId) -> bool:
            if not (table in self.ctx.schemas or self.ctx.cfg.captures(table)):
                return False
            known = since.get(table)
            if known is None or known.position is None or point.position is None:
                return True
            if known.server_id not in (None, here) or point.server_id not in (None, here):
                return True
            try:
                return point.position > known.position
            except ValueError:
                return True

        return captured

    def handle(self, current_db: str | None, sql: str, point: RestartPoint) -> StatementOutcome:
        """Apply one statement read from the binlog (planned by :func:`cdc_assets.core.ddl.apply_ddl`).
        Raises for a change ``EXCEPTION`` forbids, a DDL on a captured table that cannot be parsed, or a
        sink that refuses: the restart point then stays before the statement, so fixing the cause and
        restarting reads it again."""
        out = StatementOutcome()
        if not self.ctx.cfg.source.schema_change_enabled:
            return out
        if self.defaults is None:
            with self.ctx.connect() as conn:
                self.defaults = load_server_defaults(conn, self.ctx.settings)
        databases = database_defaults(sql, current_db, self.defaults)
        if databases is not None:  # CREATE / ALTER / DROP DATABASE: what its new tables' columns get
            self.defaults = databases
            return out
        if self.osc.handle(current_db, sql, point, out):
            return out
        planned = apply_ddl(
            sql,
            current_db,
            self.ctx.schemas,
            is_captured=self.captured_at(point),
            behavior=self.ctx.cfg.pipeline.schema_change_behavior.value,
            enabled_tags=self.ctx.cfg.schema_change_types,
            defaults=self.defaults,
        )
        for tc in planned.changes:
            self.apply(tc, point, out)
        return out

    def apply(self, tc: TableChange, point: RestartPoint, out: StatementOutcome) -> None:
        ctx = self.ctx
        ev, before, after = tc.change, tc.before, tc.after
        table = ev.table
        if isinstance(ev, CreateTable):
            if before is not None:
                return  # CREATE TABLE IF NOT EXISTS of a table captured already
            if after is None:  # LIKE a table not captured: its columns are the catalog's business
                out.snapshot.append(table)
                return
            self._create(ev, after, tc.sink, point, out)
        elif isinstance(ev, RenameTable):
            self._rename_table(ev, before, after, point, out)
        elif before is None:
            return
        elif isinstance(ev, DropTable):
            self._send(ev, tc.sink, before, None, point, out)
            del ctx.schemas[table]
            self.target_columns.pop(table, None)
            out.forget.append(table)
        elif isinstance(ev, AlterTableCharset):  # no column changes: what columns added later get
            ctx.schemas[table] = after
            out.records.append(
                self.record(
                    ev, before, after, point, "the table's default character set, for columns added later"
                )
            )
        else:
            assert after is not None
            if after != before:
                check_supported(after, tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean)
            rule = rule_of(self.ctx.sink, table)
            if rule is not None:  # whatever the behaviour: rows after it could not be transformed
                check_column_change(rule, self.write_schema(table)[0], ev)
            self._send(ev, tc.sink, before, after, point, out)
            ctx.schemas[table] = after
            if rule is not None and not has_star(rule):
                # An explicit projection reads the columns it names from the source as it is now (a rule
                # edited after a rename reads the new name); the target's columns are the projection's.
                self.target_columns[table] = after.column_names

    def _create(
        self, ev: CreateTable, schema: TableSchema, planned, point: RestartPoint, out: StatementOutcome
    ) -> None:
        """A table created in the binlog: every row it will ever have comes after this point, so it needs
        no snapshot; it is registered as snapshotted (no chunks) and streamed from here."""
        ctx = self.ctx
        if not schema.primary_key:
            log.warning(
                "new table %s is not captured: it has no primary key (add one, or exclude it with source.tables.exclude)",
                ev.table,
            )
            return
        check_supported(schema, tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean)
        for target in ctx.targets(ev.table):
            # a shard created next to others routed to its target: the target is widened for it first
            shards = [t for t in self.shared(ev.table) if target in ctx.targets(t)]
            if shards:
                sources = {t: self.write_schema(t)[0] for t in shards} | {ev.table: schema}
                ctx.target_widened(prepare_target(ctx.sink, ctx.cfg, target, sources, shards, lambda: point))
        ctx.schemas[ev.table] = schema
        self.target_columns[ev.table] = ()
        self._send(ev, planned, None, schema, point, out)
        ctx.state.forget_table(str(ev.table))  # an earlier life of a table by this name
        ctx.state.plan_table(str(ev.table), table_names(ctx.targets(ev.table)), point, [])

    def _rename_table(
        self,
        ev: RenameTable,
        before: TableSchema | None,
        after: TableSchema | None,
        point: RestartPoint,
        out: StatementOutcome,
    ) -> None:
        """``RENAME TABLE old TO new``. A table renamed out of the capture leaves its target as it is; one
        renamed into it (its rows were never streamed) is snapshotted. Between captured names: nothing
        to do when both route to one target; else the target is renamed (EVOLVE, TRY_EVOLVE) or kept and
        the new name snapshotted into its own target (LENIENT, IGNORE: nothing is lost)."""
        ctx = self.ctx
        assert ev.new is not None
        old, new = ev.table, ev.new
        if before is None:
            out.snapshot.append(new)
            return
        del ctx.schemas[old]
        old_columns = self.target_columns.pop(old, before.column_names)
        out.forget.append(old)
        ctx.state.forget_table(str(old))
        if after is None:
            log.info(
                "table %s was renamed to %s, which is not captured: its target is kept as it is", old, new
            )
            out.records.append(
                self.record(ev, before, None, point, "the table left the capture; its target is kept")
            )
            return

        def adopt() -> None:
            ctx.schemas[new] = after
            self.target_columns[new] = old_columns
            ctx.state.plan_table(str(new), table_names(ctx.targets(new)), point, [])

        if ctx.targets(old) == ctx.targets(new):
            adopt()
            out.records.append(self.record(ev, before, after, point, "same target table: nothing to do"))
            return
        behavior = ctx.cfg.pipeline.schema_change_behavior
        outcome = (
            f"{behavior.value}: {table_names(ctx.targets(old))} kept; {new} is snapshotted into "
            f"{table_names(ctx.targets(new))}"
        )
        # a table routed to several targets (before or after) is snapshotted afresh into the new ones
        single = len(ctx.targets(old)) == len(ctx.targets(new)) == 1
        if single and behavior in (SchemaChangeBehavior.EVOLVE, SchemaChangeBehavior.TRY_EVOLVE):
            try:
                outcome = ctx.sink.apply_schema_change(ctx.target(old), ev, after, renamed_to=ctx.target(new))
            except UnsupportedSchemaChange as exc:
                if not tolerates(behavior.value, exc):
                    raise
                outcome = f"not supported by the sink ({exc}): {new} is snapshotted into its own target"
                out.snapshot.append(new)
            else:
                adopt()
        else:
            out.snapshot.append(new)
        out.records.append(self.record(ev, before, after, point, outcome))

    def _send(
        self,
        ev: SchemaChange,
        planned,
        before: TableSchema | None,
        after: TableSchema | None,
        point: RestartPoint,
        out: StatementOutcome,
    ) -> None:
        """Send the changes the behaviour and the sink's include/exclude lists made of ``ev`` to the sink."""
        ctx = self.ctx
        targets = ctx.targets(ev.table)
        target = table_names(targets)
        shared = self.shared(ev.table)
        if planned and shared and isinstance(ev, DropTable | TruncateTable):
            # Other tables are merged into the target: dropping or emptying it would lose their rows.
            out.records.append(
                self.record(
                    ev, before, after, point,
                    f"not applied to {target}: {table_names(shared)} {'is' if len(shared) == 1 else 'are'} routed "
                    "there too",
                )
            )  # fmt: skip
            return
        if not planned:
            out.records.append(
                self.record(ev, before, after, point, f"not applied to {target} ({why_not_sent(ctx, ev)})")
            )
            return
        done = []
        for sev in planned:
            try:
                # every target of a table routed to several (route-mode ALL_MATCH): one sink, one verdict
                outcomes = [self._apply_to(t, self._for_target(sev, t), after) for t in targets]
                outcome = (
                    outcomes[0]
                    if len(set(outcomes)) == 1
                    else "; ".join(f"{t}: {o}" for t, o in zip(targets, outcomes, strict=True))
                )
            except UnsupportedSchemaChange as exc:
                if not tolerates(ctx.cfg.pipeline.schema_change_behavior.value, exc):
                    raise SchemaError(
                        f"{ev.tag} on {ev.table} ({ev.ddl.strip()}) cannot be applied to {target}: {exc}. With "
                        "pipeline.schema.change.behavior: try_evolve such a change is tolerated (later rows are "
                        "fitted to the target's columns); or exclude it with sink.exclude.schema.changes",
                        table=str(ev.table),
                    ) from exc
                done.append(f"{sev.tag} tolerated (TRY_EVOLVE): {exc}")
                continue
            if not outcome.startswith("ignored"):
                self._track_target(sev)
            done.append(f"{sev.tag}: {outcome}")
        out.records.append(self.record(ev, before, after, point, "; ".join(done)))

    def _apply_to(self, target: TableId, sev: SchemaChange, after: TableSchema | None) -> str:
        """Apply one planned change to one target; a transformed table's column change with the columns its
        rule reads before it (the sink derives the target's changes from the rule)."""
        source = self.write_schema(sev.table)[0] if isinstance(sev, COLUMN_CHANGES) else None
        return apply_schema_change(self.ctx.sink, target, sev, after, source)

    def _for_target(self, sev: SchemaChange, target: TableId) -> SchemaChange:
        """``sev`` as ``target`` takes it: a type change of a column other tables routed there have too
        becomes the least common type of them all (the target must keep holding their values: a rolling
        ``ALTER`` narrowing one shard does not narrow the merged table)."""
        if not isinstance(sev, AlterColumnType) or sev.column is None:
            return sev
        col = sev.column
        for t in self.shared(sev.table):
            other = find_column(self.write_schema(t)[0], sev.name) if target in self.ctx.targets(t) else None
            if other is not None:
                try:
                    col = least_common_column(
                        col, other, tinyint1_as_boolean=self.ctx.cfg.source.treat_tinyint1_as_boolean
                    )
                except MergeError as exc:
                    raise SchemaError(
                        f"{sev.ddl.strip()} on {sev.table}: column {sev.name} of {target} cannot hold both it and "
                        f"{t}'s {other.column_type}: {exc}. Give the tables routed to {target} one definition",
                        table=str(sev.table),
                    ) from None
        return sev if col == sev.column else replace(sev, column=col)

    def shared(self, table: TableId) -> list[TableId]:
        """The other captured tables routed to a target of ``table`` (shards merged with it)."""
        targets = set(self.ctx.targets(table))
        return sorted(t for t in self.ctx.schemas if t != table and targets & set(self.ctx.targets(t)))

    def _track_target(self, sev: SchemaChange) -> None:
        """The target's columns after a change the sink applied (also for the other tables merged into
        it: their rows are written with the columns the target has now). A created table's columns are its
        own: the others routed to its target keep theirs (:func:`prepare_target` widened it for them all)."""
        shared = [] if isinstance(sev, CreateTable) else self.shared(sev.table)
        for table in (sev.table, *shared):
            self._track_one(replace(sev, table=table) if table != sev.table else sev)

    def _track_one(self, sev: SchemaChange) -> None:
        cols = list(self.target_columns.get(sev.table, ()))
        if isinstance(sev, CreateTable):  # LIKE: the event has no schema, the one in force is the copy
            created = sev.schema or self.ctx.schemas.get(sev.table)
            cols = list(created.column_names) if created is not None else cols
        elif isinstance(sev, AddColumn) and sev.column is not None and sev.column.name not in cols:
            cols.append(sev.column.name)
        elif isinstance(sev, DropColumn) and sev.name in cols:
            cols.remove(sev.name)
        elif isinstance(sev, RenameColumn) and sev.old in cols:
            cols[cols.index(sev.old)] = sev.new
        self.target_columns[sev.table] = tuple(cols)

    def record(
        self,
        ev: SchemaChange,
        before: TableSchema | None,
        after: TableSchema | None,
        point: RestartPoint,
        outcome: str,
    ) -> SchemaChangeRecord:
        log.info("schema change on %s at %s: %s -> %s", ev.table, point, ev.tag, outcome)
        return SchemaChangeRecord(
            source=str(ev.table),
            target=table_names(self.ctx.targets(ev.table)),
            kind=ev.tag,
            ddl=ev.ddl,
            position=point,
            columns_before=column_texts(before),
            columns_after=column_texts(after),
            outcome=outcome,
        )


def why_not_sent(ctx: RunContext, ev: SchemaChange) -> str:
    """Why the behaviour or the sink's include/exclude lists send nothing of ``ev`` to the sink."""
    behavior = ctx.cfg.pipeline.schema_change_behavior
    if not accepts(ev, ctx.cfg.schema_change_types):
        return f"{ev.tag} is not among the sink's schema changes (include/exclude.schema.changes; LENIENT leaves out truncate and drop table)"
    return f"schema.change.behavior {behavior.value}"
