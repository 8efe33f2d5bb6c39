"""Dagster definitions for one pipeline file: snapshot assets, the streaming job and its sensors.

Every asset or op body is one call into the engine; this module only unpacks Dagster's context.

- ``<db>/<table>`` (group = pipeline id): one asset per captured table, partitioned by snapshot
  chunk (dynamic partitions ``<pipeline>__<db>__<table>``); a partition loads one chunk into the
  target. The pool ``cdc_snapshot`` caps concurrent loads across all pipelines (dagster.yaml).
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
from cdc_assets.core.chunks import chunk_index_from_partition_key
from cdc_assets.core.schema import TableId
from cdc_assets.defs.names import ident as _ident
from cdc_assets.defs.names import schema_asset_key, table_asset_key
from cdc_assets.defs.stream import keepalive_sensor, stale_seconds, stream_job
from cdc_assets.engine.catalog_cache import known_tables
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.reconcile import not_comparable_yet, reconcile_table
from cdc_assets.engine.snapshot import load_chunk, plan_table, table_progress
from cdc_assets.engine.sync import sync_until_caught_up
from cdc_assets.state import StateStore

SNAPSHOT_POOL = "cdc_snapshot"


def partitions_def_name(pipeline_id: str, table: TableId) -> str:
    return _ident(f"{pipeline_id}__{table.db}__{table.table}")


def _open(path: Path, state_dir: str | None, only: Iterable[TableId] | None = None) -> RunContext:
    """A run context on the pipeline file as it is now, with every captured table (or just ``only``) discovered."""
    ctx = RunContext(load_pipeline(path, state_dir=state_dir))
    ctx.discover(only)
    return ctx


def _snapshot_asset(
    path: Path, state_dir: str | None, cfg: PipelineConfig, table: TableId
) -> dg.AssetsDefinition:
    target = cfg.target_for(table)
    partitions = dg.DynamicPartitionsDefinition(name=partitions_def_name(cfg.pipeline_id, table))

    @dg.asset(
        key=table_asset_key(target),
        partitions_def=partitions,
        group_name=_ident(cfg.pipeline_id),
        pool=SNAPSHOT_POOL,
        kinds={"mysql", cfg.sink.type},
        description=f"Snapshot of MySQL table {table} into {cfg.sink.type} {target}, one partition per primary-key chunk.",
        metadata={"source_table": str(table), "pipeline": cfg.pipeline.name},
    )
    def _load(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        index = chunk_index_from_partition_key(context.partition_key)
        ctx = _open(path, state_dir, only=[table])  # one chunk of one table: no need for the rest
        try:
            res = load_chunk(ctx, table, index)
            progress = table_progress(ctx.state, str(table))
        finally:
            ctx.close()
        return dg.MaterializeResult(metadata={**_chunk_metadata(res), **_progress_metadata(progress)})

    return _load


def _reconcile_check(path: Path, state_dir: str | None, cfg: PipelineConfig, table: TableId):
    target = cfg.target_for(table)

    @dg.asset_check(
        asset=table_asset_key(target),
        name="matches_source",
        blocking=False,
        description=(
            f"Compares {target} with MySQL table {table}: row counts and checksums per snapshot key range; "
            "ranges that differ are checked again after the stream applied the binlog up to the check's start."
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        with StateStore(cfg.state_dir) as state:
            progress = table_progress(state, str(table))
            waiting = not_comparable_yet(state, str(table))
        if waiting:
            # Comparing a half-loaded table, or one the stream has not brought past its snapshot, says
            # nothing (and costs a full read): say where it stands instead.
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"not compared yet: {waiting}",
                metadata=_progress_metadata(progress),
            )
        ctx = _open(path, state_dir, only=[table])
        try:
            rec = reconcile_table(ctx, table)
        finally:
            ctx.close()
        context.log.info(rec.describe())
        return dg.AssetCheckResult(
            passed=rec.equal,
            description=rec.describe(),
            metadata={
                "source_rows": dg.MetadataValue.int(rec.source_rows),
                "target_rows": dg.MetadataValue.int(rec.target_rows),
                "key_ranges": dg.MetadataValue.int(rec.ranges),
                "key_ranges_differing": dg.MetadataValue.int(len(rec.differing)),
                "checks": dg.MetadataValue.int(rec.rounds),
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
        try:
            for table in sorted(ctx.schemas):
                keys = [c.partition_key for c in plan_table(ctx, table)]
                name = partitions_def_name(cfg.pipeline_id, table)
                have = set(context.instance.get_dynamic_partitions(name))
                new = [k for k in keys if k not in have]
                if new:
                    requests.append(dg.DynamicPartitionsDefinition(name=name).build_add_request(new))
        finally:
            ctx.close()
        return dg.SensorResult(dynamic_partitions_requests=requests)

    return _plan


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
    tables = list(known_tables(cfg))
    stream = stream_job(path, state_dir, cfg)
    targets = sorted({cfg.target_for(t) for t in tables})
    schemas = [
        dg.AssetSpec(
            key=schema_asset_key(target),
            group_name=_ident(cfg.pipeline_id),
            kinds={"mysql"},
            description=(
                f"Schema of {target}: materialized by the streaming job at every schema change read from the "
                "binlog, with the DDL, the columns before and after, the binlog position and what the sink did."
            ),
        )
        for target in targets
    ]
    return dg.Definitions(
        assets=[*(_snapshot_asset(path, state_dir, cfg, t) for t in tables), *schemas],
        asset_checks=[_reconcile_check(path, state_dir, cfg, t) for t in tables],
        jobs=[stream, _bounded_job(path, state_dir, cfg)],
        sensors=[_planner_sensor(path, state_dir, cfg), keepalive_sensor(cfg, stream, stale=stale_seconds())],
    )
