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

Evaluation is one DuckDB query per batch over the Arrow table (metadata columns added as constant
Arrow columns first), in a private in-memory DuckDB whose TimeZone is ``pipeline.local-time-zone``.
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
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.transform import ParsedRule, TransformPlan, compile_rule, match_rule, parse_rule
from cdc_assets.core.types import arrow_type
from cdc_assets.errors import CdcError, ConfigError

log = logging.getLogger(__name__)

_SRC = "__cdc_src"
#: in-memory DuckDBs a forked process inherited from its parent (see TransformEvaluator._cursor)
_INHERITED: list[duckdb.DuckDBPyConnection | None] = []
_KEEP = "__cdc_keep"


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


def _rows(table: pa.Table) -> list[tuple]:
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
    """Compiles rules for source schemas and evaluates plans over Arrow tables, with DuckDB."""

    def __init__(self, *, time_zone: str | None, tinyint1_as_boolean: bool = True) -> None:
        self.time_zone = time_zone
        self.tinyint1_as_boolean = tinyint1_as_boolean
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

    def source_arrow(self, plan_source: TableSchema, metadata: Sequence[str], table: pa.Table) -> pa.Table:
        """``table`` (source columns) with the metadata columns the plan reads, as constant columns."""
        n = table.num_rows
        values = {
            "__namespace_name__": None,
            "__schema_name__": plan_source.table_id.db,
            "__table_name__": plan_source.table_id.table,
        }
        for name in metadata:
            value = values[name]
            array = pa.nulls(n, pa.string()) if value is None else pa.array([value] * n, pa.string())
            table = table.append_column(name, array)
        return table

    def compile(self, rule: ParsedRule, schema: TableSchema) -> TransformPlan:
        empty = arrow_schema(schema, tinyint1_as_boolean=self.tinyint1_as_boolean).empty_table()
        for name in ("__namespace_name__", "__schema_name__", "__table_name__"):
            if name not in empty.column_names:
                empty = empty.append_column(name, pa.array([], pa.string()))

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

        plan = compile_rule(rule, schema, describe, tinyint1_as_boolean=self.tinyint1_as_boolean)
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


class TransformingSink:
    """A sink that applies the pipeline's transform rules before the wrapped sink writes (see module)."""

    def __init__(self, inner, rules: Sequence[ParsedRule], evaluator: TransformEvaluator) -> None:
        self.inner = inner
        self.rules = list(rules)
        self.evaluator = evaluator
        self._plans: dict[TableSchema, TransformPlan | None] = {}
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
        mapped = []
        for target, schema, keys, rows in batch:
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
                upserts = _rows(kept)
                if dropped.num_rows:
                    key_names = list(plan.target.primary_key)
                    known = set(deletes)
                    deletes += [k for k in dict.fromkeys(_rows(dropped.select(key_names))) if k not in known]
                # a key both kept and dropped (several source rows, one target key): the kept row wins
                if upserts and deletes:
                    positions = plan.target.key_positions
                    kept_keys = {tuple(r[i] for i in positions) for r in upserts}
                    deletes = [k for k in deletes if k not in kept_keys]
            mapped.append((target, plan.target, deletes, upserts))
        self.inner.apply_batch(mapped, tag=tag)

    def row_count(self, target: TableId) -> int | None:
        return self.inner.row_count(target)

    def fetch_all(self, target: TableId, schema: TableSchema) -> list[tuple]:
        plan = self.plan(schema)
        if plan is None:
            return self.inner.fetch_all(target, schema)
        raise CdcError(
            f"{schema.table_id} is written through transform[{plan.rule_index}], so its target rows are not "
            "source rows: comparing or reconciling it with the source is not supported"
        )

    def close(self) -> None:
        self.inner.close()
