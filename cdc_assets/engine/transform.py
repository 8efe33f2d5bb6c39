"""Transform rules applied on the way into the sink: a sink wrapper that evaluates them over whole batches.

:class:`TransformingSink` sits in front of the real sink when the pipeline has ``transform`` rules
(:func:`cdc_assets.engine.sinks.make_sink`). The engine keeps writing source-shaped rows and Arrow
tables with the SOURCE schema; the wrapper compiles the table's first matching rule
(:mod:`cdc_assets.core.transform`) once per source schema and hands the real sink the target schema
and transformed rows:

- snapshot writes (``upsert``, ``upsert_arrow``): projected, and rows failing the filter dropped;
- change batches (``apply_batch``): upserts projected; an upsert whose new row fails the filter becomes
  a delete of its target key (a row updated out of the filter leaves the target, where Flink CDC would
  drop the update and leave the old row); deleted source keys become target keys (the target key is
  made of source key columns, so no row image is needed).
- change batches of tables whose rule is an *event rule* (it reads ``__data_event_type__`` or ``op_ts``,
  or has ``converter-after-transform: SOFT_DELETE``): the stream buffers their changes with each binlog
  event's time (:func:`change_buffer`, :class:`~cdc_assets.core.events.EventChanges`) and hands them over
  uncollapsed (:class:`~cdc_assets.core.events.TableEvents`). Every row image is evaluated with its
  event kind and time, as Flink CDC evaluates each event, and the outcome of each key is that of its
  last change the filter did not drop (:meth:`TransformingSink._event_entry`).

Snapshot rows (``upsert``/``upsert_arrow``, and the collapsed batches the snapshot's backfill writes) are
``+I`` with ``op_ts`` 0, as Flink CDC's snapshot records; their deletes stay deletes.

Evaluation is one DuckDB query per batch over the Arrow table (metadata columns added as Arrow columns
first), in a private in-memory DuckDB whose TimeZone is ``pipeline.local-time-zone``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from cdc_assets.config import PipelineConfig
from cdc_assets.core.events import EventChanges, TableEvents, collapse, event_images
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_change import CreateTable
from cdc_assets.core.sql import quote_ident
from cdc_assets.core.transform import (
    METADATA_COLUMNS,
    METADATA_TYPES,
    ParsedRule,
    TransformPlan,
    compile_rule,
    match_rule,
    parse_rule,
)
from cdc_assets.core.transform_schema import (
    COLUMN_CHANGES,
    TransformColumnError,
    computed_type_changes,
    evolve_read_columns,
    target_column_changes,
)
from cdc_assets.core.types import arrow_type
from cdc_assets.engine.target_merge import merge_by_target
from cdc_assets.errors import CdcError, ConfigError

log = logging.getLogger(__name__)

_SRC = "__cdc_src"
#: in-memory DuckDBs a forked process inherited from its parent (see TransformEvaluator._cursor)
_INHERITED: list[duckdb.DuckDBPyConnection | None] = []
_KEEP = "__cdc_keep"
_UPSERT = "__cdc_upsert"
#: the Arrow type of each metadata column (``op_ts`` is Flink's BIGINT NOT NULL)
_META_ARROW = {name: pa.int64() if t == "BIGINT" else pa.string() for name, t in METADATA_TYPES.items()}


def arrow_schema(schema: TableSchema, *, tinyint1_as_boolean: bool = True) -> pa.Schema:
    """The Arrow schema the sinks take a table's canonical values in (``DuckDBSink.arrow_schema``)."""
    return pa.schema(
        [pa.field(c.name, arrow_type(c, tinyint1_as_boolean=tinyint1_as_boolean)) for c in schema.columns]
    )


def rows_to_arrow(
    schema: TableSchema, rows: Sequence[Sequence[Any]], *, tinyint1_as_boolean: bool
) -> pa.Table:
    aschema = arrow_schema(schema, tinyint1_as_boolean=tinyint1_as_boolean)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(aschema)
    return pa.Table.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, aschema, strict=True)], schema=aschema
    )


def rows_of(table: pa.Table) -> list[tuple]:
    """The rows of an Arrow table as tuples of Python values."""
    return list(zip(*(c.to_pylist() for c in table.columns), strict=True)) if table.num_rows else []


def parsed_rules(cfg: PipelineConfig) -> list[ParsedRule]:
    """The pipeline's transform rules with their expressions parsed (checked when the file loaded)."""
    return [
        parse_rule(
            i,
            selectors=r.selectors,
            projection=r.projection,
            filter=r.filter,
            primary_keys=r.primary_keys,
            partition_keys=r.partition_keys,
            table_options=r.table_options,
            converter_after_transform=r.converter_after_transform,
        )
        for i, r in enumerate(cfg.transforms)
    ]


class TransformEvaluator:
    """Compiles rules for source schemas and evaluates plans over Arrow tables, with DuckDB.

    ``source_metadata`` is ``source.metadata.list`` (the source metadata, ``op_ts``, rules may read)."""

    def __init__(
        self,
        *,
        time_zone: str | None,
        tinyint1_as_boolean: bool = True,
        source_metadata: Sequence[str] = (),
    ) -> None:
        self.time_zone = time_zone
        self.tinyint1_as_boolean = tinyint1_as_boolean
        self.source_metadata = tuple(source_metadata)
        self._db: duckdb.DuckDBPyConnection | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if self._pid != os.getpid():
            # A forked child (Dagster's chunk processes): the parent's DuckDB threads and this lock's
            # holder do not exist here. The inherited DuckDB is left alone; the child starts its own.
            _INHERITED.append(self._db)  # never closed: closing would wait for the parent's threads
            self._db, self._lock, self._pid = None, threading.Lock(), os.getpid()
        with self._lock:
            if self._db is None:
                self._db = duckdb.connect(":memory:")
                if self.time_zone:
                    try:
                        self._db.execute("SET TimeZone = ?", [self.time_zone])
                    except duckdb.Error as exc:
                        raise ConfigError(
                            f"pipeline.local-time-zone: DuckDB does not know the zone {self.time_zone!r} ({exc})"
                        ) from None
            cur = self._db.cursor()
        if self.time_zone:  # a setting of each connection: a cursor does not inherit it
            cur.execute("SET TimeZone = ?", [self.time_zone])
        return cur

    def source_arrow(
        self,
        plan_source: TableSchema,
        metadata: Sequence[str],
        table: pa.Table,
        events: tuple[Sequence[str], Sequence[int]] | None = None,
    ) -> pa.Table:
        """``table`` (source columns) with the metadata columns the plan reads. ``events`` gives each
        row's ``__data_event_type__`` and ``op_ts``; without it every row is a snapshot row (``+I``, 0)."""
        n = table.num_rows
        values = {
            "__namespace_name__": None,
            "__schema_name__": plan_source.table_id.db,
            "__table_name__": plan_source.table_id.table,
            "__data_event_type__": "+I",
            "op_ts": 0,
        }
        for name in metadata:
            atype = _META_ARROW[name]
            if events is not None and name == "__data_event_type__":
                array = pa.array(events[0], atype)
            elif events is not None and name == "op_ts":
                array = pa.array(events[1], atype)
            elif values[name] is None:
                array = pa.nulls(n, atype)
            else:
                array = pa.array([values[name]] * n, atype)
            table = table.append_column(name, array)
        return table

    def compile(self, rule: ParsedRule, schema: TableSchema) -> TransformPlan:
        empty = arrow_schema(schema, tinyint1_as_boolean=self.tinyint1_as_boolean).empty_table()
        for name in (*METADATA_COLUMNS, *self.source_metadata):
            if name not in empty.column_names:
                empty = empty.append_column(name, pa.array([], _META_ARROW[name]))

        def describe(exprs: list[str]) -> list[str]:
            if not exprs:
                return []
            cur = self._cursor()
            try:
                cur.register(_SRC, empty)
                select = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
                rows = cur.execute(f"DESCRIBE SELECT {select} FROM {_SRC}").fetchall()
                return [r[1] for r in rows]
            except duckdb.Error as exc:
                raise ValueError(str(exc).splitlines()[0]) from None
            finally:
                cur.close()

        plan = compile_rule(
            rule,
            schema,
            describe,
            tinyint1_as_boolean=self.tinyint1_as_boolean,
            source_metadata=self.source_metadata,
        )
        self._check_regexes(plan, empty)
        return plan

    def _check_regexes(self, plan: TransformPlan, empty: pa.Table) -> None:
        """RE2 refuses some Java patterns (look-around, back-references) only when it runs them: run the
        plan once over one row of NULLs so that a bad pattern fails now, naming the rule."""
        if "REGEXP_" not in plan.select_sql.upper() and "REGEXP_" not in (plan.keep_sql or "").upper():
            return
        one = pa.Table.from_pylist([dict.fromkeys(empty.column_names)], schema=empty.schema)
        try:
            self._run(plan, one, with_keep=True)
        except duckdb.Error as exc:
            raise ConfigError(
                f"transform[{plan.rule_index}]: cannot be evaluated: {str(exc).splitlines()[0]}",
                option=f"transform[{plan.rule_index}]",
            ) from None

    def _run(self, plan: TransformPlan, table: pa.Table, *, with_keep: bool) -> pa.Table:
        cur = self._cursor()
        try:
            cur.register(_SRC, table)
            sql = f"SELECT {plan.select_sql}"
            if with_keep:
                sql += f", {plan.keep_sql or 'TRUE'} AS {_KEEP} FROM {_SRC}"
            else:
                sql += f" FROM {_SRC}" + (f" WHERE {plan.keep_sql}" if plan.keep_sql else "")
            return cur.sql(sql).to_arrow_table()
        finally:
            cur.close()

    def evaluate(self, plan: TransformPlan, table: pa.Table, *, with_keep: bool = False) -> pa.Table:
        """The target rows of the source rows in ``table`` (Arrow, the target's schema). With ``with_keep``
        every row is returned plus a boolean column ``__cdc_keep`` (the filter); else filtered rows are
        left out."""
        src = self.source_arrow(plan.source, plan.metadata, table)
        try:
            out = self._run(plan, src, with_keep=with_keep)
        except duckdb.Error as exc:
            raise CdcError(
                f"transform[{plan.rule_index}] failed on a batch of {plan.source.table_id}: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        target = arrow_schema(plan.target, tinyint1_as_boolean=self.tinyint1_as_boolean)
        if with_keep:
            target = target.append(pa.field(_KEEP, pa.bool_()))
        return out.cast(target)

    def evaluate_events(
        self, plan: TransformPlan, changes: EventChanges, keep: Sequence[int] | None
    ) -> pa.Table:
        """What a batch of changes leaves in the target, evaluated as Flink CDC evaluates each event:
        every row image with its event kind and time, then per event (``PostTransformOperator``): an
        insert's row is written when it passes the filter; a delete's key is deleted when its old row
        passes (with SOFT_DELETE the old row is written instead); an update's new row is written when it
        passes, and when its old row passes but the new one does not the update is a delete (so with
        SOFT_DELETE the old row, ``-U``, is written). An update that changes the target key also deletes
        the old key when the old row passes (cdc_assets' rule for key changes, consistency-notes.md).
        The last action of each target key wins.

        Returns the target's columns plus ``__cdc_upsert``: TRUE for a row to write, FALSE for a key to
        delete (its key columns hold the key)."""
        images = event_images(changes, keep)
        table = rows_to_arrow(plan.source, images.rows, tinyint1_as_boolean=self.tinyint1_as_boolean)
        src = self.source_arrow(plan.source, plan.metadata, table, (images.kinds, images.times_ms))
        src = src.append_column("__cdc_seq", pa.array(images.seqs, pa.int64()))
        src = src.append_column("__cdc_new", pa.array(images.new, pa.bool_()))
        cols = [quote_ident(c.name, "duckdb") for c in plan.columns]
        key = [quote_ident(k, "duckdb") for k in plan.target.primary_key]
        key_changed = " OR ".join(f"b.{k} IS DISTINCT FROM a.{k}" for k in key) or "FALSE"
        soft = "TRUE" if plan.soft_delete else "FALSE"
        partition = f"PARTITION BY {', '.join(key)} " if key else ""
        sql = f"""
            WITH e AS (
                SELECT {plan.select_sql}, {plan.keep_sql or "TRUE"} AS {_KEEP}, __cdc_seq, __cdc_new
                FROM {_SRC}
            ),
            a AS (SELECT * FROM e WHERE __cdc_new),
            b AS (SELECT * FROM e WHERE NOT __cdc_new),
            acts AS (
                SELECT {", ".join(cols)}, TRUE AS {_UPSERT}, __cdc_seq, 1 AS __cdc_sub FROM a WHERE {_KEEP}
                UNION ALL
                SELECT {", ".join(f"b.{c}" for c in cols)},
                    {soft} AND (a.__cdc_seq IS NULL OR NOT a.{_KEEP}) AS {_UPSERT}, b.__cdc_seq, 0
                FROM b LEFT JOIN a ON a.__cdc_seq = b.__cdc_seq
                WHERE b.{_KEEP} AND (a.__cdc_seq IS NULL OR NOT a.{_KEEP} OR {key_changed})
            )
            SELECT {", ".join(cols)}, {_UPSERT} FROM acts
            QUALIFY row_number() OVER ({partition}ORDER BY __cdc_seq DESC, __cdc_sub DESC) = 1
        """
        cur = self._cursor()
        try:
            cur.register(_SRC, src)
            out = cur.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise CdcError(
                f"transform[{plan.rule_index}] failed on a batch of {plan.source.table_id}: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        finally:
            cur.close()
        target = arrow_schema(plan.target, tinyint1_as_boolean=self.tinyint1_as_boolean)
        return out.cast(target.append(pa.field(_UPSERT, pa.bool_())))


def change_buffer(sink, table: TableId) -> list:
    """A new buffer for ``table``'s changes in the stream: an :class:`EventChanges` (which keeps each
    binlog event's time, ``add(changes, timestamp)``) when ``sink`` transforms the table with an event rule,
    else a plain list (``extend(changes)``), so that other tables pay nothing."""
    needs = getattr(sink, "needs_events", None)
    return EventChanges() if needs is not None and needs(table) else []


def rule_of(sink, table: TableId) -> ParsedRule | None:
    """The transform rule ``sink`` puts ``table``'s rows through (None: no rule, or not a transforming sink)."""
    return sink.transforms(table) if isinstance(sink, TransformingSink) else None


def apply_schema_change(
    sink, target: TableId, change, after: TableSchema | None, source: TableSchema | None
) -> str:
    """``sink.apply_schema_change``, with ``source`` (the columns the table's rule read before the change:
    ``SchemaTracker.write_schema``) for a column change of a transformed table, which the
    :class:`TransformingSink` turns into the target changes its rule makes."""
    if source is not None and isinstance(change, COLUMN_CHANGES) and rule_of(sink, change.table) is not None:
        return sink.apply_schema_change(target, change, after, source=source)
    return sink.apply_schema_change(target, change, after)


class TransformingSink:
    """A sink that applies the pipeline's transform rules before the wrapped sink writes (see module)."""

    def __init__(self, inner, rules: Sequence[ParsedRule], evaluator: TransformEvaluator) -> None:
        self.inner = inner
        self.rules = list(rules)
        self.evaluator = evaluator
        self._plans: dict[TableSchema, TransformPlan | None] = {}
        self._events: dict[TableId, bool] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TransformingSink({self.inner!r}, {len(self.rules)} rule(s))"

    @property
    def dialect(self) -> str:
        return self.inner.dialect

    def plan(self, schema: TableSchema) -> TransformPlan | None:
        """The compiled rule for the source ``schema`` (None: no rule matches, rows pass unchanged)."""
        with self._lock:
            if schema in self._plans:
                return self._plans[schema]
        rule = match_rule(self.rules, schema.table_id)
        plan = self.evaluator.compile(rule, schema) if rule is not None else None
        with self._lock:
            self._plans[schema] = plan
        return plan

    def needs_events(self, table: TableId) -> bool:
        """Whether the stream must hand ``table``'s changes over uncollapsed, with their event times
        (:func:`change_buffer`): its rule reads ``__data_event_type__`` or ``op_ts``, or converts deletes."""
        found = self._events.get(table)
        if found is None:
            rule = match_rule(self.rules, table)
            found = self._events[table] = rule is not None and rule.needs_events
        return found

    def _event_entry(self, entry: TableEvents) -> tuple:
        """The ``(target, schema, keys, rows)`` a table's uncollapsed changes come to (see
        :meth:`TransformEvaluator.evaluate_events`)."""
        target, schema, changes, key_positions, keep = entry
        plan = self.plan(schema)
        if plan is None:  # no rule matches (rules match by table id, so not for a table buffered as events)
            keys, rows = collapse(changes, key_positions, keep)
            return (target, schema, keys, rows)
        out = self.evaluator.evaluate_events(plan, changes, keep)
        write = out.column(_UPSERT)
        out = out.drop_columns([_UPSERT])
        rows = rows_of(out.filter(write))
        keys = rows_of(out.filter(pc.invert(write)).select(list(plan.target.primary_key)))
        return (target, plan.target, keys, rows)

    # ---- the Sink protocol
    def ensure_table(self, target: TableId, schema: TableSchema) -> None:
        plan = self.plan(schema)
        if plan is None:
            self.inner.ensure_table(target, schema)
            return
        layout = {}
        if plan.partition_keys or plan.table_options:
            if getattr(self.inner, "dialect", "") == "starrocks":
                layout = {"partition_keys": plan.partition_keys, "properties": dict(plan.table_options)}
            else:
                log.info(
                    "transform[%d]: partition-keys and table-options apply to StarRocks tables; the %s sink "
                    "ignores them",
                    plan.rule_index,
                    getattr(self.inner, "dialect", "target"),
                )
        self.inner.ensure_table(target, plan.target, **layout)

    def upsert(
        self, target: TableId, schema: TableSchema, rows: Sequence[Sequence[Any]], *, tag: str = ""
    ) -> int:
        plan = self.plan(schema)
        if plan is None:
            return self.inner.upsert(target, schema, rows, tag=tag)
        if not rows:
            return 0
        table = rows_to_arrow(schema, rows, tinyint1_as_boolean=self.evaluator.tinyint1_as_boolean)
        return self.upsert_arrow(target, schema, table, tag=tag)

    def upsert_arrow(self, target: TableId, schema: TableSchema, table: pa.Table, *, tag: str = "") -> int:
        """Write a snapshot batch: projected, filtered rows left out. Returns the SOURCE rows handled, as
        the engine counts rows read (the rows written may be fewer)."""
        plan = self.plan(schema)
        if plan is None:
            return self.inner.upsert_arrow(target, schema, table, tag=tag)
        if table.num_rows == 0:
            return 0
        out = self.evaluator.evaluate(plan, table)
        if out.num_rows:
            self.inner.upsert_arrow(target, plan.target, out, tag=tag)
        return table.num_rows

    def apply_batch(self, batch, *, tag: str = "") -> None:
        """Apply collapsed ``(target, schema, keys, rows)`` entries, and :class:`TableEvents` entries of
        tables with event rules, in one write of the wrapped sink. A collapsed entry of a table with an
        event rule (the snapshot's backfill) is written as snapshot rows: ``+I``, ``op_ts`` 0, deletes
        deleted."""
        mapped = []
        for entry in batch:
            if isinstance(entry, TableEvents):
                mapped.append(self._event_entry(entry))
                continue
            target, schema, keys, rows = entry
            plan = self.plan(schema)
            if plan is None:
                mapped.append((target, schema, keys, rows))
                continue
            deletes = list(dict.fromkeys(plan.target_key(k) for k in keys))
            upserts: list[tuple] = []
            if rows:
                source = rows_to_arrow(schema, rows, tinyint1_as_boolean=self.evaluator.tinyint1_as_boolean)
                out = self.evaluator.evaluate(plan, source, with_keep=True)
                keep = out.column(_KEEP)
                out = out.drop_columns([_KEEP])
                kept = out.filter(keep)
                dropped = out.filter(pc.invert(keep))
                upserts = rows_of(kept)
                if dropped.num_rows:
                    key_names = list(plan.target.primary_key)
                    known = set(deletes)
                    deletes += [
                        k for k in dict.fromkeys(rows_of(dropped.select(key_names))) if k not in known
                    ]
                # a key both kept and dropped (several source rows, one target key): the kept row wins
                if upserts and deletes:
                    positions = plan.target.key_positions
                    kept_keys = {tuple(r[i] for i in positions) for r in upserts}
                    deletes = [k for k in deletes if k not in kept_keys]
            mapped.append((target, plan.target, deletes, upserts))
        # sources of one target whose entries stayed apart (their events and collapsed changes, or rules
        # that differ): one load each would share the write's label
        self.inner.apply_batch(
            merge_by_target(mapped, tinyint1_as_boolean=self.evaluator.tinyint1_as_boolean), tag=tag
        )

    def supported_schema_changes(self) -> frozenset[str]:
        return self.inner.supported_schema_changes()

    def transforms(self, table: TableId) -> ParsedRule | None:
        """The rule ``table``'s rows go through (None: they pass unchanged)."""
        return match_rule(self.rules, table)

    def apply_schema_change(
        self, target: TableId, change, after: TableSchema | None, *, source: TableSchema | None = None, **kw
    ) -> str:
        """Schema changes of a table no rule matches pass through. A transformed table: a new table is
        created through the rule, table-level changes pass, and a column change becomes the target changes
        the rule makes of it (:mod:`cdc_assets.core.transform_schema`). ``source`` is what the rule read
        before the change (the source columns the target takes, ``SchemaTracker.write_schema``); a column
        change without it is refused."""
        rule = match_rule(self.rules, change.table)
        if rule is None:
            return self.inner.apply_schema_change(target, change, after, **kw)
        if isinstance(change, CreateTable):
            assert after is not None
            self.ensure_table(target, after)
            return "applied through the transform"
        if not isinstance(change, COLUMN_CHANGES):
            return self.inner.apply_schema_change(target, change, after, **kw)
        if source is None:
            raise CdcError(
                f"{change.tag} on {change.table}: a transformed table's column change needs the columns its "
                "rule read before the change"
            )
        changes, why = target_column_changes(rule, source, change)
        new_source = evolve_read_columns(source, change)
        old_plan = self._plan_or_none(source)
        try:
            new_plan = self.plan(new_source)
        except ConfigError as exc:
            raise TransformColumnError(
                f"{change.tag} on {change.table} ({change.ddl.strip()}): transform[{rule.index}] cannot be "
                f"evaluated over the table as it is now: {exc}. Edit the rule and restart: the stream resumes "
                "before this statement",
                table=str(change.table),
                rule=f"transform[{rule.index}]",
            ) from exc
        assert new_plan is not None
        if old_plan is not None:
            changes += computed_type_changes(old_plan, new_plan, [getattr(c, "name", "") for c in changes])
        if not changes:
            return f"ignored: {why}"
        outcomes = [self.inner.apply_schema_change(target, c, new_plan.target, **kw) for c in changes]
        if len(changes) == 1 and changes[0] == change:
            return outcomes[0]
        return "; ".join(f"{_describe(c)}: {o}" for c, o in zip(changes, outcomes, strict=True))

    def _plan_or_none(self, schema: TableSchema) -> TransformPlan | None:
        """The plan for ``schema``, or None when the rule does not compile for it (a rule being fixed
        for the schema after a change)."""
        try:
            return self.plan(schema)
        except ConfigError:
            return None

    def row_count(self, target: TableId) -> int | None:
        return self.inner.row_count(target)

    def drop_table(self, target: TableId) -> None:
        self.inner.drop_table(target)

    def target_key_schema(self, schema: TableSchema) -> TableSchema | None:
        """The target key columns (a schema of only those) of a table the source ``schema`` describes, when
        a rule transforms it; None when none does (its target's key is the source's)."""
        plan = self.plan(schema)
        if plan is None:
            return None
        key = plan.target.primary_key
        return TableSchema(plan.target.table_id, tuple(plan.target.column(k) for k in key), key)

    def fetch_all(self, target: TableId, schema: TableSchema) -> list[tuple]:
        plan = self.plan(schema)
        if plan is None:
            return self.inner.fetch_all(target, schema)
        raise CdcError(
            f"{schema.table_id} is written through transform[{plan.rule_index}], so its target rows are not "
            "source rows: compare them with cdc_assets.engine.reconcile.transformed_rows (the source through "
            "the rule)"
        )

    def close(self) -> None:
        self.inner.close()


def _describe(change) -> str:
    """How a target change reads in an outcome: its tag and the target column."""
    name = getattr(change, "name", None) or getattr(change, "new", None)
    column = getattr(change, "column", None)
    return f"{change.tag} {name or (column.name if column is not None else '')}".strip()
