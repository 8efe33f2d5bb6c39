"""Reconciling a target table with its source: row counts and checksums per snapshot key range.

The source is read range by range exactly as the snapshot reads it (canonical values), the target
as the sink returns it; each row is hashed from its canonical values, and a range's checksum is the
sum of its rows' hashes (order does not matter). Ranges that differ are checked again after the
stream has applied the binlog up to the point where the first pass began (rows in flight), a few
times; what still differs then is reported with sample keys.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cdc_assets.core.chunks import Chunk, chunks_from_boundaries
from cdc_assets.core.key_order import in_range
from cdc_assets.core.schema import TableId, TableSchema, fit_to_target
from cdc_assets.core.schema_merge import merged_schema, row_mapper
from cdc_assets.core.transform import TransformPlan, source_key_for
from cdc_assets.core.transform_reconcile import ReconcilePlan, reconcile_plan
from cdc_assets.core.types import row_converter
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.transform import TransformingSink, rows_of, rows_to_arrow, rule_of
from cdc_assets.mysql.key_order import KeySorter
from cdc_assets.mysql.server import current_position
from cdc_assets.mysql.snapshot import read_chunk
from cdc_assets.state import StateStore

_MASK = (1 << 64) - 1


def _plain(v: Any) -> Any:
    """A JSON value that is the same for values that compare equal (Decimal('1.50') == Decimal('1.5'),
    an aware datetime in any zone object naming the same instant)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v else "0"
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).isoformat()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    return str(v)


def row_hash(row: Sequence[Any], json_at: Sequence[int] = ()) -> int:
    """A 64-bit hash of a row's canonical values (JSON documents compared as documents)."""
    values = [_plain(v) for v in row]
    for i in json_at:
        if isinstance(row[i], str):
            values[i] = json.loads(row[i])
    text = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass
class RangeSum:
    rows: int = 0
    checksum: int = 0
    keys: list[tuple] = field(default_factory=list)  # a few keys, to name in a report

    def add(self, row: Sequence[Any], key: tuple, json_at: Sequence[int]) -> None:
        self.rows += 1
        self.checksum = (self.checksum + row_hash(row, json_at)) & _MASK
        if len(self.keys) < 3:
            self.keys.append(key)

    def merge(self, other: RangeSum) -> None:
        self.rows += other.rows
        self.checksum = (self.checksum + other.checksum) & _MASK
        self.keys = (self.keys + other.keys)[:3]


@dataclass(frozen=True)
class Reconciliation:
    table: TableId
    source_rows: int
    target_rows: int
    ranges: int
    differing: list[Chunk]  # key ranges that still differ after the rechecks
    rounds: int
    #: a transformed target: its columns left out of the checksums, with why (``name: why; ...``)
    left_out: str = ""
    #: why the target cannot be reconciled exactly (its rule; nothing was compared), or None
    blocked: str | None = None

    @property
    def equal(self) -> bool:
        return not self.differing and self.blocked is None

    def describe(self) -> str:
        if self.blocked is not None:
            return f"{self.table}: not reconciled: {self.blocked}"
        if self.equal:
            kept = f" (left out: {self.left_out})" if self.left_out else ""
            return f"{self.table}: {self.source_rows:,} rows, equal in all {self.ranges} key ranges{kept}"
        shown = ", ".join(f"[{c.start}, {c.end})" for c in self.differing[:5])
        return (
            f"{self.table}: {len(self.differing)} of {self.ranges} key ranges differ after {self.rounds} checks "
            f"(source {self.source_rows:,} rows, target {self.target_rows:,}): {shown}"
        )


def _json_positions(schema: TableSchema) -> list[int]:
    return [i for i, c in enumerate(schema.columns) if c.data_type == "json"]


@dataclass(frozen=True)
class TransformedRows:
    """A transformed table's rows as its target holds them: the source passed through the rule (the
    stream's plan and DuckDB evaluation), cut to the columns a recomputation reproduces."""

    plan: TransformPlan
    check: ReconcilePlan
    sink: TransformingSink

    def _cut(self, rows: Sequence[tuple]) -> list[tuple[tuple, tuple]]:
        """(compared values, source key) of target rows."""
        key_at = [self.plan.target.key_positions[i] for i in self.check.source_key_from_target or ()]
        return [(tuple(r[i] for i in self.check.compared), tuple(r[i] for i in key_at)) for r in rows]

    def from_source(self, rows: Sequence[tuple]) -> list[tuple[tuple, tuple]]:
        ev = self.sink.evaluator
        table = rows_to_arrow(self.plan.source, rows, tinyint1_as_boolean=ev.tinyint1_as_boolean)
        out = ev.evaluate(self.plan, table)
        return self._cut(rows_of(out))

    def from_target(self, target: TableId) -> list[tuple[tuple, tuple]]:
        return self._cut(self.sink.inner.fetch_all(target, self.plan.target))

    @property
    def json_at(self) -> list[int]:
        cols = [self.plan.target.columns[i] for i in self.check.compared]
        return [i for i, c in enumerate(cols) if c.data_type == "json"]


def transformed_rows(
    ctx: RunContext, table: TableId, schema: TableSchema
) -> tuple[TableSchema, TransformedRows | None]:
    """The schema ``table`` (described as ``schema``) is read with, and how its target holds it when a rule
    transforms it: the columns its target takes (as the stream writes them), through the stream's plan."""
    sink = ctx.sink
    rule = rule_of(sink, table)
    if rule is None:
        return schema, None
    if not schema.primary_key:  # the key the rule's primary-keys give it (as discovery reads it)
        schema = dataclasses.replace(schema, primary_key=source_key_for(rule, schema) or ())
    sif = ctx.state.schema_in_force(str(table))
    if sif is not None:
        schema = fit_to_target(schema, sif.target_columns)[0]
    plan = sink.plan(schema)
    assert plan is not None
    return schema, TransformedRows(plan, reconcile_plan(plan), sink)


def _source_sums(
    ctx: RunContext,
    schema: TableSchema,
    chunks: Iterable[Chunk],
    target: TableSchema,
    view: TransformedRows | None = None,
) -> dict[int, RangeSum]:
    """Per range, the rows of source ``schema`` as the target holds them (``target``: the merged schema
    of the sources routed there; ``view``: through the table's transform rule)."""
    convert = row_converter(schema, "snapshot", tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean)
    to_target = row_mapper(schema, target) if view is None else None
    json_at = view.json_at if view is not None else _json_positions(target)
    sums: dict[int, RangeSum] = {}
    with ctx.connect(streaming=True) as conn:
        for chunk in chunks:
            s = sums[chunk.index] = RangeSum()
            for batch in read_chunk(ctx.settings, conn, schema, chunk, ctx.cfg.source.fetch_size):
                rows = [convert(raw) for raw in batch]
                if view is not None:
                    for row, key in view.from_source(rows):
                        s.add(row, key, json_at)
                    continue
                for row in rows:
                    if to_target is not None:
                        row = to_target(row)
                    s.add(row, tuple(row[i] for i in target.key_positions), json_at)
    return sums


def _target_sums(
    ctx: RunContext,
    target: TableId,
    schema: TableSchema,
    chunks: Sequence[Chunk],
    sorter: KeySorter,
    view: TransformedRows | None = None,
) -> dict[int, RangeSum]:
    bounds = [(c, sorter.sort_key(c.start), sorter.sort_key(c.end)) for c in chunks]
    sums = {c.index: RangeSum() for c in chunks}
    if view is not None:
        json_at = view.json_at
        pairs = view.from_target(target)
    else:
        json_at = _json_positions(schema)
        rows = ctx.sink.fetch_all(target, schema)
        pairs = [(r, tuple(r[i] for i in schema.key_positions)) for r in rows]
    keys = [key for _row, key in pairs]
    for (row, key), sk in zip(pairs, sorter.sort_keys(keys), strict=True):
        for chunk, lo, hi in bounds:
            if in_range(sk, lo, hi):
                sums[chunk.index].add(row, key, json_at)
                break
    return sums


def not_comparable_yet(state: StateStore, source: str) -> str | None:
    """Why comparing the table now would say nothing, or None: its snapshot is not fully loaded, or
    the stream has not yet applied the binlog up to the highest watermark of its chunks (before
    that the target is a mix of chunks taken at different moments)."""
    chunks = state.chunks(source)
    done = sum(1 for c in chunks if c.done)
    if not chunks or done < len(chunks):
        return f"the snapshot has loaded {done} of {len(chunks)} chunks"
    highs = [c.high.position for c in chunks if c.high is not None and c.high.position is not None]
    point = state.restart_point()
    if highs and (point is None or point.position is None or _before(point.position, max(highs))):
        return "the stream has not yet caught up with the snapshot (start the streaming job)"
    return None


def _before(a, b) -> bool:
    try:
        return a < b
    except ValueError:  # another binlog series: the stream has moved on (failover)
        return False


def reconcile_table(
    ctx: RunContext,
    table: TableId,
    *,
    rechecks: int = 3,
    wait_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Reconciliation:
    """Compare ``table`` with its one target per snapshot key range (the chunks of its plan). A
    target several tables are routed to holds their rows too: use :func:`reconcile_target`."""
    rec = reconcile_target(
        ctx, ctx.target(table), [table], rechecks=rechecks, wait_seconds=wait_seconds, sleep=sleep
    )
    return dataclasses.replace(rec, table=table)


def _ranges(ctx: RunContext, sources: Sequence[TableId], sorter: KeySorter) -> list[Chunk]:
    """Key ranges covering every source's chunks: the chunk bounds of all the sources, in key order
    (one source's plan, as it is, for a target of one)."""
    plans = [[c.chunk for c in ctx.state.chunks(str(t))] for t in sources]
    if len(sources) == 1:
        return plans[0] or [Chunk(0, None, None)]
    if not sorter.ordered:
        return [Chunk(0, None, None)]
    bounds = list(dict.fromkeys(c.start for plan in plans for c in plan if c.start is not None))
    by_order: dict = {}  # sort key -> bound: bounds the collation calls equal are one
    for sort_key, bound in sorted(zip(sorter.sort_keys(bounds), bounds, strict=True), key=lambda p: p[0]):
        by_order.setdefault(sort_key, bound)
    return chunks_from_boundaries(list(by_order.values()))


def reconcile_target(
    ctx: RunContext,
    target: TableId,
    sources: Sequence[TableId],
    *,
    rechecks: int = 3,
    wait_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Reconciliation:
    """Compare ``target`` with the union of ``sources`` (the tables routed to it, in their merged schema) per key
    range: the bounds of every source's snapshot chunks. The same key in two sources counts twice in the
    source and once in the target (the later write replaced the other), so the range differs."""
    assert ctx.server is not None, "discover() first"
    read = [transformed_rows(ctx, t, ctx.schemas[t]) for t in sources]
    schemas = [schema for schema, _view in read]
    views = [view for _schema, view in read]
    view = views[0]
    if view is not None:
        blocked = view.check.blocked
        if blocked is None and len(sources) > 1:
            blocked = "several tables are routed to this transformed target; each is reconciled alone only"
        if blocked is not None:
            return Reconciliation(target, 0, 0, 0, [], 0, view.check.describe_left_out(), blocked)
    # the target's columns: the merged schema of the sources (one source's own when they all agree), or
    # the transformed table's source as its rule reads it
    tinyint1_as_boolean = ctx.cfg.source.treat_tinyint1_as_boolean
    schema = (
        schemas[0] if view is not None else merged_schema(schemas, tinyint1_as_boolean=tinyint1_as_boolean)
    )
    with ctx.connect() as conn:
        sorter = KeySorter(conn, ctx.settings, schema)
        if not sorter.ordered:  # no order for the key here: one range, the whole table
            chunks = [Chunk(0, None, None)]
        else:
            chunks = _ranges(ctx, sources, sorter)
        todo = list(chunks)
        source_total = target_total = 0
        rounds = 0
        while True:
            rounds += 1
            started_at = current_position(conn, ctx.settings, ctx.server)
            src: dict[int, RangeSum] = {c.index: RangeSum() for c in todo}
            for one, one_view in zip(schemas, views, strict=True):
                for index, part in _source_sums(ctx, one, todo, schema, one_view).items():
                    src[index].merge(part)
            dst = _target_sums(ctx, target, schema, todo, sorter, view)
            if rounds == 1:
                source_total = sum(s.rows for s in src.values())
                target_total = sum(s.rows for s in dst.values())
            todo = [
                c
                for c in todo
                if (src[c.index].rows, src[c.index].checksum) != (dst[c.index].rows, dst[c.index].checksum)
            ]
            if not todo or rounds > rechecks:
                break
            # Rows in flight: give the stream time to apply the binlog up to where this pass began.
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                point = ctx.state.restart_point()
                if point is not None and point.position is not None and started_at.position is not None:
                    try:
                        if point.position >= started_at.position:
                            break
                    except ValueError:
                        break
                sleep(min(1.0, wait_seconds))
    left_out = view.check.describe_left_out() if view is not None else ""
    return Reconciliation(target, source_total, target_total, len(chunks), todo, rounds, left_out)
