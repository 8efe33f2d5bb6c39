"""Online schema changes (pt-online-schema-change, gh-ost) followed while streaming.

The tools alter a copy of a captured table t (the *shadow*: ``_t_new``, ``_t_gho``) and swap it in with
``RENAME TABLE t TO _t_old, _t_new TO t`` (see :mod:`cdc_assets.core.online_schema_change`).

With ``scan.parse.online.schema.changes.enabled: true`` the shadow's schema is tracked from its CREATE
(seeded from t's schema in force) through every ALTER on it; its rows and the tools' other tables are
not captured. At the swap the shadow's changes are applied to t as t's own (planned and sent exactly
like a direct ALTER: ``schema.change.behavior``, include/exclude), recorded, and t's schema in force
becomes the shadow's: rows before the swap decode with the old schema, rows after with the new, and
nothing is snapshotted again. The shadow's schema is saved with the restart point (state
``osc_shadows``: its seed and the statements run on it), so a restart between the ALTER and the swap
goes on where it was.

Without the option (Flink CDC's default), or when the shadow was not followed (created before the
pipeline's restart point, or altered in a way this parser cannot follow), a RENAME that swaps another
table in for t is still recognised: t keeps its target (never renamed to ``_t_old``); the target's
columns are evolved to the swapped-in table's per ``schema.change.behavior`` (a renamed column shows
as a drop and an addition); then t is snapshotted again into it, its rows replaced when t is the
target's only source. Helper tables the capture regex matches are, without the option, captured as
any table (as Flink CDC does).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from cdc_assets.core.ddl import DdlParseError, TableChange, parse_ddl, plan_change
from cdc_assets.core.evolution import EvolutionError, SchemaChangeForbidden, evolve, plan_sink_changes
from cdc_assets.core.offsets import RestartPoint
from cdc_assets.core.online_schema_change import HELPER, SHADOW, OscTable, column_changes, osc_role
from cdc_assets.core.schema import TableId, TableSchema, table_names
from cdc_assets.core.schema_change import (
    CreateTable,
    DropTable,
    RenameTable,
    SchemaChange,
    TruncateTable,
    UnsupportedSchemaChange,
)
from cdc_assets.core.types import check_supported
from cdc_assets.errors import SchemaError
from cdc_assets.mysql import catalog
from cdc_assets.state import ShadowSchema

if TYPE_CHECKING:
    from cdc_assets.engine.schema_evolution import SchemaTracker, StatementOutcome

log = logging.getLogger(__name__)

OPTION = "scan.parse.online.schema.changes.enabled"


class OnlineSchemaChanges:
    """The shadow tables of one stream, and the statements of online schema-change tools."""

    def __init__(self, tracker: SchemaTracker):
        self.tracker = tracker
        self.ctx = tracker.ctx
        self.enabled = self.ctx.cfg.source.parse_online_schema_changes
        self.shadows: dict[TableId, ShadowSchema] = {
            TableId.parse(name): sh for name, sh in self.ctx.state.shadow_schemas().items()
        }
        self._current: dict[TableId, TableSchema | None] | None = None  # replayed at the first statement

    def saved(self) -> dict[str, ShadowSchema]:
        """The shadows to save with the restart point."""
        return {str(name): sh for name, sh in self.shadows.items()}

    # ---- recognising a statement -------------------------------------------------------------------

    def _osc(self, table: TableId | None) -> OscTable | None:
        if not self.enabled or table is None:
            return None
        if table in self.shadows:
            return OscTable(table, TableId.parse(self.shadows[table].base), SHADOW)
        return osc_role(table, lambda base: base in self.ctx.schemas)

    def handle(self, current_db: str | None, sql: str, point: RestartPoint, out: StatementOutcome) -> bool:
        """Apply ``sql`` if it concerns a shadow or helper table (option on) or swaps a table in for a
        captured one (always); False when it is none of these (the tracker applies it as usual)."""
        tr, ctx = self.tracker, self.ctx
        captured = tr.captured_at(point)
        current = self._shadow_schemas()

        def related(t: TableId) -> bool:
            return self._osc(t) is not None or captured(t)

        try:
            changes = parse_ddl(sql, current_db, related, {**ctx.schemas, **current}, defaults=tr.defaults)
        except DdlParseError as exc:
            osc = self._osc(exc.table)
            if osc is None or osc.role != SHADOW or exc.table not in self.shadows:
                return False  # the tracker parses it again and reports it if it concerns a captured table
            log.warning("online schema change: %s on shadow table %s is not followed (%s); %s is "
                        "snapshotted again when it is swapped in", sql, exc.table, exc.reason, osc.base)  # fmt: skip
            self._set(exc.table, dataclasses.replace(self.shadows[exc.table], seed=None), None, out)
            return True
        renames = [c for c in changes if isinstance(c, RenameTable)]
        vacated = {c.table for c in renames} & {c.new for c in renames}  # t in "t TO x, y TO t"
        involved = any(
            self._osc(c.table) or (isinstance(c, RenameTable) and self._osc(c.new)) for c in changes
        )
        if not involved and not any(c.table in vacated and c.table in ctx.schemas for c in renames):
            return False
        for change in changes:
            self._one(change, current_db, sql, vacated, point, out)
        return True

    def _one(self, c: SchemaChange, db: str | None, sql: str, vacated: set[TableId], point, out) -> None:
        ctx = self.ctx
        osc = self._osc(c.table)
        if isinstance(c, RenameTable):
            assert c.new is not None
            to = self._osc(c.new)
            if osc is not None and osc.role == SHADOW and c.new == osc.base:
                self._swap(c, point, out)
            elif c.table in ctx.schemas and (
                c.table in vacated or (to is not None and to.base == c.table and self._pending(c.table))
            ):
                # t's target stays t's; a name of the tools' (t TO _t_old) is not captured, another one
                # is a table new to the capture, snapshotted into its own target
                if to is None and self.tracker.captured_at(point)(c.new):
                    ctx.state.forget_table(str(c.new))
                    out.snapshot.append(c.new)
            elif c.new in vacated and c.new in ctx.schemas:
                self._resnapshot(c, ctx.schemas.get(c.table), point, out)
            elif osc is not None and c.table not in ctx.schemas:  # a tool's table renamed
                if c.table in self.shadows:
                    self._set(c.table, None, None, out)
                if to is None and self.tracker.captured_at(point)(c.new):  # ... to a captured name
                    self.tracker.apply(TableChange(c, None, None, ()), point, out)
            else:
                self._plain(c, point, out)
            return
        if osc is None:
            self._plain(c, point, out)
        elif osc.role == HELPER:
            log.debug("online schema change: %s on helper table %s is not captured", c.tag, c.table)
        elif isinstance(c, CreateTable):
            seed = c.schema
            base = ctx.schemas.get(osc.base)
            if seed is not None and base is not None and _names(seed) == _names(base):
                seed = dataclasses.replace(base, table_id=c.table)  # pt-osc copies t's definition
            log.info(
                "online schema change: shadow table %s of %s created; its changes are followed",
                c.table,
                osc.base,
            )
            self._set(c.table, ShadowSchema(str(osc.base), seed), seed, out)
        elif isinstance(c, DropTable):
            self._set(c.table, None, None, out)
        else:
            sh = self.shadows.get(c.table)
            cur = self._shadow_schemas().get(c.table)
            if sh is None or sh.seed is None or cur is None:
                return
            try:
                after = evolve(cur, c)
            except EvolutionError as exc:
                log.warning(
                    "online schema change: %s does not fit shadow %s (%s)", c.ddl, c.table, exc.reason
                )
                self._set(c.table, dataclasses.replace(sh, seed=None), None, out)
                return
            statements = sh.statements if sh.statements[-1:] == ((db, sql),) else (*sh.statements, (db, sql))
            self._set(c.table, dataclasses.replace(sh, statements=statements), after, out)

    def _plain(self, c: SchemaChange, point: RestartPoint, out: StatementOutcome) -> None:
        """A change in a tools' statement that is about another captured table: applied as usual."""
        tr = self.tracker
        tc = plan_change(c, self.ctx.schemas.get(c.table), tr.captured_at(point), *tr.plan_args)
        if tc is not None:
            tr.apply(tc, point, out)

    def _pending(self, table: TableId) -> bool:
        """Whether a shadow of ``table`` is tracked (gh-ost's two-step cut-over renames t away first)."""
        return any(sh.base == str(table) for sh in self.shadows.values())

    # ---- the shadows -----------------------------------------------------------------------------

    def _shadow_schemas(self) -> dict[TableId, TableSchema]:
        if self._current is None:
            self._current = {name: self._replay(name, sh)[0] for name, sh in self.shadows.items()}
        return {n: s for n, s in self._current.items() if s is not None}

    def _replay(self, name: TableId, sh: ShadowSchema) -> tuple[TableSchema | None, list[SchemaChange]]:
        """The shadow's schema now, and the changes made to it since its CREATE (None: not known)."""
        cur, events = sh.seed, []
        if cur is None:
            return None, []
        try:
            for db, sql in sh.statements:
                for ev in parse_ddl(
                    sql, db, lambda t: t == name, {name: cur}, defaults=self.tracker.defaults
                ):
                    cur = evolve(cur, ev)
                    events.append(ev)
        except (DdlParseError, EvolutionError) as exc:
            log.warning("online schema change: the statements on shadow %s cannot be replayed: %s", name, exc)
            return None, []
        return cur, events

    def _set(self, name: TableId, sh: ShadowSchema | None, schema: TableSchema | None, out) -> None:
        """Track shadow ``name`` as ``sh`` with the schema ``schema`` now (``sh`` None: no longer)."""
        self._shadow_schemas()
        assert self._current is not None
        if sh is None:
            self.shadows.pop(name, None)
            self._current.pop(name, None)
        else:
            self.shadows[name] = sh
            self._current[name] = schema
        out.shadows_changed = True

    # ---- the swap --------------------------------------------------------------------------------

    def _swap(self, c: RenameTable, point: RestartPoint, out: StatementOutcome) -> None:
        """``shadow TO t``: the shadow's changes become t's own; nothing is snapshotted."""
        ctx, tr = self.ctx, self.tracker
        assert c.new is not None
        table, shadow = c.new, c.table
        before = ctx.schemas.get(table)
        sh = self.shadows.get(shadow)
        final, events = self._replay(shadow, sh) if sh is not None else (None, [])
        if before is None or final is None:
            self._set(shadow, None, None, out)
            if before is not None:
                self._resnapshot(c, None, point, out)
            return
        try:
            planned, cur = self._plan_all(before, [dataclasses.replace(ev, table=table) for ev in events])
        except EvolutionError as exc:  # t changed beside the tool: the shadow's changes do not fit it
            log.warning(
                "online schema change: the changes on %s do not fit %s (%s)", shadow, table, exc.reason
            )
            self._set(shadow, None, None, out)
            self._resnapshot(c, dataclasses.replace(final, table_id=shadow), point, out)
            return
        if cur != before:
            check_supported(cur, tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean)
        first = len(out.records)
        for tc in planned:
            tr.apply(tc, point, out)
        note = f"online schema change: run on {shadow}, swapped in by {c.ddl.strip()!r}"
        out.records[first:] = [
            dataclasses.replace(r, outcome=f"{r.outcome} ({note})") for r in out.records[first:]
        ]
        if [c.name for c in cur.columns] != [c.name for c in final.columns]:
            log.warning("online schema change: %s after the swap has columns %s, its shadow %s had %s",
                        table, cur.column_names, shadow, final.column_names)  # fmt: skip
        ctx.schemas[table] = cur  # what the records show; the table map's names are checked against it
        self._set(shadow, None, None, out)
        log.info("online schema change: %s swapped in as %s with %d change(s)", shadow, table, len(planned))

    def _plan_all(
        self, before: TableSchema, changes: list[SchemaChange]
    ) -> tuple[list[TableChange], TableSchema]:
        """``changes`` of one table applied in turn from ``before``: each with the schema it leaves and what
        the behaviour sends of it, and the schema after them all. EvolutionError for a change that does
        not fit; SchemaChangeForbidden under EXCEPTION."""
        planned, cur = [], before
        for ev in changes:
            after = evolve(cur, ev)
            planned.append(
                TableChange(ev, cur, after, tuple(plan_sink_changes(ev, cur, *self.tracker.plan_args)))
            )
            cur = after
        return planned, cur

    def _resnapshot(self, c: RenameTable, incoming: TableSchema | None, point, out: StatementOutcome) -> None:
        """``other TO t`` where t was renamed away in the same statement and its changes were not followed:
        t's target is evolved to the incoming table's columns and t snapshotted again into it."""
        ctx, tr = self.ctx, self.tracker
        assert c.new is not None
        table, other = c.new, c.table
        before = ctx.schemas[table]
        if other in ctx.schemas:  # captured too (the option off and a regex matching it): it leaves
            del ctx.schemas[other]
            tr.target_columns.pop(other, None)
            ctx.state.forget_table(str(other))
            out.forget.append(other)
        if incoming is None:
            with ctx.connect() as conn:
                incoming = catalog.load_schema(conn, ctx.settings, table)
            if not incoming.columns:  # gone again since: nothing of it to capture
                tr.apply(TableChange(RenameTable(table, c.ddl, new=other), before, None, ()), point, out)
                return
        new = dataclasses.replace(incoming, table_id=table)
        try:
            planned, cur = self._plan_all(before, column_changes(before, new, c.ddl))
        except (ValueError, SchemaChangeForbidden) as exc:
            way = (
                "Re-snapshot"
                if self.enabled
                else (
                    f"Turn on source.{OPTION} (the tool's ALTER is then applied as {table}'s own), or re-snapshot"
                )
            )
            raise SchemaError(
                f"{table} was swapped for {other} by {c.ddl.strip()!r} (an online schema change, as "
                f"pt-online-schema-change or gh-ost make) and its target cannot follow the new columns: {exc}. "
                f"{way} the table (`cdc-assets resnapshot`); the stream "
                "resumes before this statement",
                table=str(table),
            ) from exc
        check_supported(new, tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean)
        for tc in planned:
            tr.apply(tc, point, out)
        ctx.schemas[table] = new
        targets = ctx.targets(table)
        replaced = not tr.shared(table)
        if replaced:  # rows deleted since the swap would stay behind: the snapshot replaces them all
            try:
                for target in targets:
                    ctx.sink.apply_schema_change(target, TruncateTable(table, c.ddl), new)
            except UnsupportedSchemaChange as exc:  # StarRocks before 3.3
                log.warning("%s is snapshotted again without emptying its target first (%s): rows deleted "
                            "between the swap and the snapshot stay in it", table, exc)  # fmt: skip
                replaced = False
        ctx.state.forget_table(str(table))
        out.snapshot.append(table)
        how = "its rows replaced" if replaced else "upserted into it (rows deleted since the swap may stay)"
        out.records.append(
            tr.record(
                c,
                before,
                new,
                point,
                f"{other} swapped in as {table}: {table} is snapshotted again into "
                f"{table_names(targets)}, {how}; its ALTER was not followed (source.{OPTION})",
            )  # fmt: skip
        )


def _names(schema: TableSchema) -> list[str]:
    return [c.name.lower() for c in schema.columns]
