"""Source vs target, row by row: what the demo prints and the tests assert.

The source is read the way the snapshot reads it (same select expressions and converters), so a
difference means the target really differs, not that two decoders disagree on a representation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_table
from cdc_assets.core.types import row_converter, snapshot_select_expr
from cdc_assets.engine.context import RunContext
from cdc_assets.mysql.catalog import load_schema
from cdc_assets.mysql.connection import run


@dataclass(frozen=True)
class TableComparison:
    table: TableId
    source_rows: int
    target_rows: int
    missing: list[tuple]  # in the source, not in the target
    extra: list[tuple]  # in the target, not in the source

    @property
    def identical(self) -> bool:
        return not self.missing and not self.extra and self.source_rows == self.target_rows


def _normalise_json(rows: list[tuple], positions: list[int]) -> list[tuple]:
    out = []
    for row in rows:
        values = list(row)
        for i in positions:
            if isinstance(values[i], str):
                values[i] = json.dumps(json.loads(values[i]), sort_keys=True, separators=(",", ":"))
        out.append(tuple(values))
    return out


def compare_table(ctx: RunContext, table: TableId, *, sample: int = 5) -> TableComparison:
    with ctx.connect() as conn:
        schema = load_schema(conn, ctx.settings, table)
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
        source = [convert(r) for r in rows]
    target = [tuple(r) for r in ctx.sink.fetch_all(ctx.target(table), schema)]
    # JSON documents are compared as documents: targets may store them re-serialised (StarRocks does).
    json_at = [i for i, c in enumerate(schema.columns) if c.data_type.lower() == "json"]
    if json_at:
        source, target = _normalise_json(source, json_at), _normalise_json(target, json_at)
    s, t = set(source), set(target)
    return TableComparison(
        table=table,
        source_rows=len(source),
        target_rows=len(target),
        missing=sorted(s - t, key=repr)[:sample],
        extra=sorted(t - s, key=repr)[:sample],
    )
