"""``cdc-assets status``: the restart point, each table's phase and row counts, source vs target."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cdc_assets.config import PipelineConfig
from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_table
from cdc_assets.engine.context import RunContext
from cdc_assets.errors import CdcError
from cdc_assets.mysql.catalog import discover
from cdc_assets.mysql.connection import run


@dataclass
class TableStatus:
    source: str
    target: str
    phase: str
    chunks_done: int
    chunks_total: int
    source_rows: int | None
    target_rows: int | None


@dataclass
class PipelineStatus:
    name: str
    state_dir: str
    restart_point: str | None
    heartbeat_age: float | None
    tables: list[TableStatus] = field(default_factory=list)
    source_error: str | None = None

    def render(self) -> str:
        lines = [f"pipeline: {self.name}", f"state: {self.state_dir}"]
        lines.append(f"restart point: {self.restart_point or '(none yet: nothing streamed)'}")
        if self.heartbeat_age is not None:
            lines.append(f"last restart-point save: {self.heartbeat_age:.0f} s ago")
        if self.source_error:
            lines.append(f"source not counted: {self.source_error}")
        header = ("table", "target", "phase", "chunks", "source rows", "target rows")
        rows = [header] + [
            (
                t.source,
                t.target,
                t.phase,
                f"{t.chunks_done}/{t.chunks_total}",
                "-" if t.source_rows is None else f"{t.source_rows:,}",
                "-" if t.target_rows is None else f"{t.target_rows:,}",
            )
            for t in self.tables
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        sources: dict[str, int] = {}
        for t in self.tables:
            sources[t.target] = sources.get(t.target, 0) + 1
        merged = [f"{target} ({n} source tables)" for target, n in sorted(sources.items()) if n > 1]
        if merged:
            lines.append(f"target rows count every table routed there: {', '.join(merged)}")
        return "\n".join(lines)


def pipeline_status(cfg: PipelineConfig, *, count_source: bool = True) -> PipelineStatus:
    ctx = RunContext(cfg)
    try:
        state = ctx.state
        point = state.restart_point()
        hb = state.stream_heartbeat()
        known = state.tables()
        status = PipelineStatus(
            name=cfg.pipeline.name,
            state_dir=str(cfg.state_dir),
            restart_point=str(point) if point else None,
            heartbeat_age=(time.time() - hb) if hb else None,
        )
        tables: set[str] = set(known)
        source_counts: dict[str, int] = {}
        if count_source:
            try:
                with ctx.connect() as conn:
                    for t in discover(conn, ctx.settings, cfg.captures):
                        tables.add(str(t))
                        sql = f"SELECT COUNT(*) FROM {quote_table(t.db, t.table)}"
                        source_counts[str(t)] = int(run(conn, ctx.settings, sql, doing=f"counting {t}")[0][0])
            except CdcError as exc:
                status.source_error = str(exc)
        target_rows: dict[TableId, int | None] = {}
        for name in sorted(tables):
            tid = TableId.parse(name)
            ts = known.get(name)
            if ts is None:
                phase = "pending"
            elif ts.phase == "snapshotted":
                phase = "streaming" if point is not None else "snapshotted"
            else:
                phase = ts.phase
            for target in cfg.targets_for(tid):  # a line per target of a table routed to several
                if target not in target_rows:
                    target_rows[target] = ctx.sink.row_count(target)
                status.tables.append(
                    TableStatus(
                        source=name,
                        target=str(target),
                        phase=phase,
                        chunks_done=ts.chunks_done if ts else 0,
                        chunks_total=ts.chunks_total if ts else 0,
                        source_rows=source_counts.get(name),
                        target_rows=target_rows[target],
                    )
                )
        return status
    finally:
        ctx.close()
