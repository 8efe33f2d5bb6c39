"""Source vs target, row by row: what the demo prints and the tests assert.

The source is read the way the snapshot reads it (same select expressions and converters), so a
difference means the target really differs, not that two decoders disagree on a representation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_merge import merged_schema, row_mapper
from cdc_assets.core.sql import quote_table
from cdc_assets.core.types import row_converter, snapshot_select_expr
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.reconcile import TransformedRows, transformed_rows
from cdc_assets.mysql.catalog import load_schema
from cdc_assets.mysql.connection import run


@dataclass(frozen=True)
class TableComparison:
    table: TableId
    source_rows: int
    target_rows: int
    missing: list[tuple]  # in the source, not in the target
    extra: list[tuple]  # in the target, not in the source
    #: why a transformed target cannot be compared exactly (nothing was compared), or None
    blocked: str | None = None

    @property
    def identical(self) -> bool:
        return (
            self.blocked is None
            and not self.missing
            and not self.extra
            and self.source_rows == self.target_rows
        )


def _normalise_json(rows: list[tuple], positions: list[int]) -> list[tuple]:
    out = []
    for row in rows:
        values = list(row)
        for i in positions:
            if isinstance(values[i], str):
                values[i] = json.dumps(json.loads(values[i]), sort_keys=True, separators=(",", ":"))
        out.append(tuple(values))
    return out


def _source_rows(ctx: RunContext, table: TableId) -> tuple[TableSchema, list[tuple], TransformedRows | None]:
    """The table's rows as its target should hold them: as the snapshot reads them, through its transform
    rule when one matches (then in the target's columns)."""
    with ctx.connect() as conn:
        schema, view = transformed_rows(ctx, table, load_schema(conn, ctx.settings, table))
        convert = row_converter(
            schema, "snapshot", tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean
        )
        select = ", ".join(snapshot_select_expr(c) for c in schema.columns)
        rows = run(
            conn,
            ctx.settings,
            f"SELECT {select} FROM {quote_table(table.db, table.table)}",
            doing=f"reading {table}",
        )
        out = [convert(r) for r in rows]
    if view is not None:
        out = [row for row, _key in view.from_source(out)]
    return schema, out, view


def compare_table(
    ctx: RunContext, table: TableId, *, target: TableId | None = None, sample: int = 5
) -> TableComparison:
    """``table`` against its target (``target``: one of its targets, for a table routed to several).
    A target other tables are routed to as well holds their rows too: use :func:`compare_target`."""
    return compare_target(ctx, target or ctx.target(table), [table], sample=sample, name=table)


def compare_target(
    ctx: RunContext,
    target: TableId,
    sources: Sequence[TableId],
    *,
    sample: int = 5,
    name: TableId | None = None,
) -> TableComparison:
    """A target against the union of the source tables routed to it, in their merged schema (a source's
    rows have NULL in the columns it lacks; the same key in two sources counts twice in the source: the
    target holds one row, so they differ)."""
    read = [_source_rows(ctx, table) for table in sources]
    assert read, "no source tables"
    view = next((v for _found, _rows, v in read if v is not None), None)
    source: list[tuple] = []
    if view is not None:  # a transformed target: in its columns that a recomputation reproduces
        for _found, rows, _v in read:
            source.extend(rows)
        blocked = view.check.blocked or (
            "several tables are routed to this transformed target" if len(sources) > 1 else None
        )
        if blocked is not None:
            return TableComparison(name or target, len(source), 0, [], [], blocked)
        target_rows = [row for row, _key in view.from_target(target)]
        json_at = view.json_at
    else:
        # sources with different definitions are compared in their merged schema (the target's)
        schema = merged_schema(
            [found for found, _rows, _v in read], tinyint1_as_boolean=ctx.cfg.source.treat_tinyint1_as_boolean
        )
        for found, rows, _v in read:
            to_target = row_mapper(found, schema)
            source.extend(rows if to_target is None else map(to_target, rows))
        target_rows = [tuple(r) for r in ctx.sink.fetch_all(target, schema)]
        # JSON documents are compared as documents: targets may store them re-serialised (StarRocks does).
        json_at = [i for i, c in enumerate(schema.columns) if c.data_type.lower() == "json"]
    if json_at:
        source, target_rows = _normalise_json(source, json_at), _normalise_json(target_rows, json_at)
    s, t = set(source), set(target_rows)
    return TableComparison(
        table=name or target,
        source_rows=len(source),
        target_rows=len(target_rows),
        missing=sorted(s - t, key=repr)[:sample],
        extra=sorted(t - s, key=repr)[:sample],
    )
