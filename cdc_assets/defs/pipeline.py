"""Dagster definitions for one pipeline file: snapshot assets, the streaming job and its sensors.

Every asset or op body is one call into the engine; this module only unpacks Dagster's context.

- ``<db>/<table>`` (group = pipeline id): one asset per TARGET table, partitioned by the snapshot
  chunks of every source table routed to it (dynamic partitions ``<pipeline>__<db>__<table>`` of the
  target, keys ``<source db>.<source table>:chunk-NNNNNN``); a partition loads one chunk into the
  target (into each target of a table routed to several). The pool ``cdc_snapshot`` caps concurrent
  loads across all pipelines (dagster.yaml). One ``matches_source`` check per target compares it with
  all its sources together.
- ``<pipeline>_snapshot_planner`` sensor: plans chunks of newly found tables and registers them as
  partitions. Launch the loads as a backfill from the UI or ``dagster asset materialize``.
- ``<pipeline>_stream`` job: one op tails the binlog forever (in-process executor, no run retries),
  kept alive by the ``<pipeline>_stream_keepalive`` sensor once every table is snapshotted.
- ``<pipeline>_sync_until_caught_up`` job: snapshot what is missing, stream until caught up, stop
  (for CI: ``dagster job execute -m cdc_assets.definitions -j <pipeline>_sync_until_caught_up``).
"""

from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from cdc_assets.config import PipelineConfig, load_pipeline
from cdc_assets.core.chunks import parse_source_chunk_partition_key, source_chunk_partition_key
from cdc_assets.core.schema import TableId, table_names
from cdc_assets.defs.names import ident as _ident
from cdc_assets.defs.names import schema_asset_key, table_asset_key
from cdc_assets.defs.stream import (
    keepalive_sensor,
    schema_change_events,
    schema_change_metadata,
    stale_seconds,
    stream_job,
)
from cdc_assets.engine.catalog_cache import known_tables
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.reconcile import not_comparable_yet, reconcile_target
from cdc_assets.engine.snapshot import TableProgress, load_chunk, plan_table, table_progress
from cdc_assets.engine.sync import sync_until_caught_up
from cdc_assets.errors import ConfigError
from cdc_assets.state import StateStore

SNAPSHOT_POOL = "cdc_snapshot"


def partitions_def_name(pipeline_id: str, target: TableId) -> str:
    """The dynamic partitions of a target table's asset (for a table not routed elsewhere, named after
    the table as before routing could merge tables)."""
    return _ident(f"{pipeline_id}__{target.db}__{target.table}")


def sources_by_target(cfg: PipelineConfig, tables: Iterable[TableId]) -> dict[TableId, list[TableId]]:
    """Target table -> the source tables routed to it (sorted), over ``tables``."""
    found: dict[TableId, list[TableId]] = {}
    for table in sorted(tables):
        for target in cfg.targets_for(table):
            found.setdefault(target, []).append(table)
    return found


def _open(path: Path, state_dir: str | None, only: Iterable[TableId] | None = None) -> RunContext:
    """A run context on the pipeline file as it is now, with every captured table (or just ``only``) discovered."""
    ctx = RunContext(load_pipeline(path, state_dir=state_dir))
    ctx.discover(only)
    return ctx


def chunk_of(cfg: PipelineConfig, target: TableId, sources: list[TableId], key: str) -> tuple[TableId, int]:
    """The source table and chunk index a partition key of ``target``'s asset names. A key of the form
    ``chunk-NNNNNN`` alone (before routing could merge tables) names a chunk of the target's only source."""
    try:
        table, index = parse_source_chunk_partition_key(key)
    except ValueError as exc:
        raise ConfigError(f"asset {target}: {exc}") from None
    if table is None:
        if len(sources) != 1:
            raise ConfigError(
                f"asset {target}: partition {key!r} does not name its source table, and {len(sources)} tables are "
                f"routed to {target} ({', '.join(map(str, sources))}); materialize the partitions the snapshot "
                f"planner registers, <db>.<table>:{key}"
            )
        return sources[0], index
    if target not in cfg.targets_for(table):
        raise ConfigError(
            f"asset {target}: partition {key!r} is a chunk of {table}, which the pipeline's route rules do not "
            f"send to {target} (they send it to {', '.join(map(str, cfg.targets_for(table)))})"
        )
    return table, index


def _snapshot_asset(
    path: Path, state_dir: str | None, cfg: PipelineConfig, target: TableId, sources: list[TableId]
) -> dg.AssetsDefinition:
    partitions = dg.DynamicPartitionsDefinition(name=partitions_def_name(cfg.pipeline_id, target))
    named = table_names(sources)
    several = len(sources) > 1
    fanned = [t for t in sources if len(cfg.targets_for(t)) > 1]
    description = (
        f"Snapshot of MySQL table{'s' if several else ''} {named} into {cfg.sink.type} {target}, one partition "
        "per primary-key chunk" + (" of each table (<db>.<table>:chunk-NNNNNN)." if several else ".")
    )
    if fanned:
        description += (
            f" {', '.join(map(str, fanned))} also go{'es' if len(fanned) == 1 else ''} to other targets: a chunk is "
            "written to all of them at once, and the same partition of their assets is then already loaded."
        )

    @dg.asset(
        key=table_asset_key(target),
        partitions_def=partitions,
        group_name=_ident(cfg.pipeline_id),
        pool=SNAPSHOT_POOL,
        kinds={"mysql", cfg.sink.type},
        description=description,
        metadata={"target_table": str(target), "source_tables": named, "pipeline": cfg.pipeline.name},
    )
    def _load(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        live = load_pipeline(path, state_dir=state_dir)
        table, index = chunk_of(live, target, sources, context.partition_key)
        ctx = _open(path, state_dir, only=[table])  # one chunk of one table: no need for the rest
        try:
            res = load_chunk(ctx, table, index)
            progress = _target_progress(ctx.state, live, target)
        finally:
            ctx.close()
        for (
            rec
        ) in res.schema_changes:  # a column widened before the chunk was written: its schema asset shows it
            for t in live.targets_for(table):
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=schema_asset_key(t),
                        description=f"{rec.kind} on {rec.source} (snapshot chunk {index}): {rec.outcome}",
                        metadata=schema_change_metadata(rec),
                    )
                )
        meta = {"source_table": dg.MetadataValue.text(str(table)), **_chunk_metadata(res)}
        return dg.MaterializeResult(metadata={**meta, **_progress_metadata(progress)})

    return _load


def _target_progress(state: StateStore, cfg: PipelineConfig, target: TableId) -> TableProgress:
    """The snapshot progress of every planned table routed to ``target``, summed."""
    parts = [
        table_progress(state, name)
        for name in state.tables()
        if target in cfg.targets_for(TableId.parse(name))
    ]
    etas = [p.eta_seconds for p in parts if p.chunks_done < p.chunks_total]
    return TableProgress(
        chunks_done=sum(p.chunks_done for p in parts),
        chunks_total=sum(p.chunks_total for p in parts),
        rows=sum(p.rows for p in parts),
        eta_seconds=None if any(e is None for e in etas) else sum(e for e in etas if e is not None),
    )


def _reconcile_check(path: Path, state_dir: str | None, cfg: PipelineConfig, target: TableId):
    @dg.asset_check(
        asset=table_asset_key(target),
        name="matches_source",
        blocking=False,
        description=(
            f"Compares {target} with the MySQL table(s) routed to it (all of them together): row counts and "
            "checksums per snapshot key range; ranges that differ are checked again after the stream applied the "
            "binlog up to the check's start. A transformed table is compared with its source passed through its "
            "transform rule; columns that read op_ts, __data_event_type__ or the clock are left out (see the "
            "left_out_of_checksums metadata), and a rule that cannot be reconciled fails the check saying why."
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        ctx = _open(path, state_dir)  # every table: the sources of the target as they are now
        try:
            sources = ctx.sources_of(target)
            progress = _target_progress(ctx.state, ctx.cfg, target)
            waiting = [f"{s}: {why}" for s in sources if (why := not_comparable_yet(ctx.state, str(s)))]
            if waiting or not sources:
                # Comparing a half-loaded table, or one the stream has not brought past its snapshot, says
                # nothing (and costs a full read): say where it stands instead.
                return dg.AssetCheckResult(
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"not compared yet: {'; '.join(waiting) or 'no captured table is routed here'}",
                    metadata=_progress_metadata(progress),
                )
            rec = reconcile_target(ctx, target, sources)
        finally:
            ctx.close()
        context.log.info(rec.describe())
        return dg.AssetCheckResult(
            passed=rec.equal,
            description=rec.describe(),
            metadata={
                "source_tables": dg.MetadataValue.text(table_names(sources)),
                "source_rows": dg.MetadataValue.int(rec.source_rows),
                "target_rows": dg.MetadataValue.int(rec.target_rows),
                "key_ranges": dg.MetadataValue.int(rec.ranges),
                "key_ranges_differing": dg.MetadataValue.int(len(rec.differing)),
                "checks": dg.MetadataValue.int(rec.rounds),
                # a transformed target: what the checksums leave out, and why it was not compared at all
                **({"left_out_of_checksums": dg.MetadataValue.text(rec.left_out)} if rec.left_out else {}),
                **({"not_reconciled": dg.MetadataValue.text(rec.blocked)} if rec.blocked else {}),
            },
        )

    return _check


def _chunk_metadata(res) -> dict:
    return {
        "rows": dg.MetadataValue.int(res.rows),
        "bytes": dg.MetadataValue.int(res.bytes),
        "seconds": dg.MetadataValue.float(round(res.seconds, 3)),
        "rows_per_second": dg.MetadataValue.float(round(res.rows_per_second, 1)),
        "key_range": dg.MetadataValue.text(f"[{res.chunk.start}, {res.chunk.end})"),
        "low_watermark": dg.MetadataValue.text(str(res.low) if res.low else "-"),
        "high_watermark": dg.MetadataValue.text(str(res.high) if res.high else "-"),
        "binlog_changes_merged": dg.MetadataValue.int(res.backfilled),
        "already_loaded": dg.MetadataValue.bool(res.skipped),
    }


def _progress_metadata(p) -> dict:
    eta = (
        "done"
        if p.chunks_done >= p.chunks_total
        else (f"{p.eta_seconds:.0f} s" if p.eta_seconds else "unknown")
    )
    return {
        "table_chunks_done": dg.MetadataValue.text(f"{p.chunks_done} / {p.chunks_total}"),
        "table_rows_loaded": dg.MetadataValue.int(p.rows),
        "table_eta": dg.MetadataValue.text(eta),
    }


def _planner_sensor(path: Path, state_dir: str | None, cfg: PipelineConfig) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{_ident(cfg.pipeline_id)}_snapshot_planner",
        minimum_interval_seconds=60,
        description="Plans snapshot chunks of captured tables and registers them as partitions.",
    )
    def _plan(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        ctx = _open(path, state_dir)
        requests = []
        # a table found joining a merged target wider than it: the widening shows on the schema asset
        widened = schema_change_events(ctx.cfg, ctx.take_target_changes())
        try:
            for target, sources in sources_by_target(ctx.cfg, ctx.schemas).items():
                keys = [source_chunk_partition_key(t, c.index) for t in sources for c in plan_table(ctx, t)]
                name = partitions_def_name(cfg.pipeline_id, target)
                have = context.instance.get_dynamic_partitions(name)
                new = [k for k in keys if k not in set(have)]
                # Keys of releases before routing could merge tables (chunk-NNNNNN alone) give way to keys
                # that name the source table; a chunk loaded under the old key is skipped when loaded again.
                old = [k for k in have if _is_legacy_key(k)]
                if new:
                    requests.append(dg.DynamicPartitionsDefinition(name=name).build_add_request(new))
                if old:
                    context.log.info(
                        f"{target}: replacing {len(old)} partitions chunk-NNNNNN by <db>.<table>:chunk-NNNNNN "
                        "(chunks loaded already are not read again)"
                    )
                    requests.append(dg.DynamicPartitionsDefinition(name=name).build_delete_request(old))
        finally:
            ctx.close()
        return dg.SensorResult(dynamic_partitions_requests=requests, asset_events=widened)

    return _plan


def _is_legacy_key(key: str) -> bool:
    try:
        return parse_source_chunk_partition_key(key)[0] is None
    except ValueError:
        return False


def _bounded_job(path: Path, state_dir: str | None, cfg: PipelineConfig) -> dg.JobDefinition:
    @dg.op(name=f"{_ident(cfg.pipeline_id)}_sync_op")
    def _sync(context: dg.OpExecutionContext) -> None:
        summary = sync_until_caught_up(load_pipeline(path, state_dir=state_dir), log=context.log.info)
        context.log.info(summary)

    @dg.job(
        name=f"{_ident(cfg.pipeline_id)}_sync_until_caught_up",
        executor_def=dg.in_process_executor,
        description="Snapshot what is missing, stream until the binlog end seen at the start is applied, stop.",
    )
    def _job() -> None:
        _sync()

    return _job


def pipeline_definitions(path: Path, *, state_dir: str | None = None) -> dg.Definitions:
    """Definitions for one pipeline file. Tables come from the state and the cached catalog, so loading
    the code location never waits on the source server."""
    cfg = load_pipeline(path, state_dir=state_dir)
    routed = sources_by_target(cfg, known_tables(cfg))
    stream = stream_job(path, state_dir, cfg)
    schemas = [
        dg.AssetSpec(
            key=schema_asset_key(target),
            group_name=_ident(cfg.pipeline_id),
            kinds={"mysql"},
            description=(
                f"Schema of {target}: materialized by the streaming job at every schema change read from the "
                "binlog, with the DDL, the columns before and after, the binlog position and what the sink did; "
                "and by a snapshot partition that widened a column of the target before writing its chunk."
            ),
        )
        for target in sorted(routed)
    ]
    return dg.Definitions(
        assets=[
            *(_snapshot_asset(path, state_dir, cfg, t, sources) for t, sources in routed.items()),
            *schemas,
        ],
        asset_checks=[_reconcile_check(path, state_dir, cfg, t) for t in routed],
        jobs=[stream, _bounded_job(path, state_dir, cfg)],
        sensors=[_planner_sensor(path, state_dir, cfg), keepalive_sensor(cfg, stream, stale=stale_seconds())],
    )
