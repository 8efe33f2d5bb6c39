"""The ``<pipeline>_stream`` job (one op tailing the binlog forever) and its keep-alive sensor.

Safeguards (see ``shared/reference/dagster.md``, "The long-running binlog op"):

- in-process executor and ``dagster/max_retries: 0``: the sensor alone restarts the stream;
- the op writes a liveness heartbeat into the pipeline state every :data:`HEARTBEAT_SECONDS` from a
  thread of the run's process; a run that Dagster still shows STARTED (or CANCELING) whose heartbeat
  is older than the stale limit lost its process (``kill -9``, host crash): the sensor marks it
  failed and starts one new run;
- one new run per dead or finished run: the sensor skips while any run of the job is queued,
  starting or running, and names its request ``after-<previous run id>``, so a second tick that
  sees the same situation asks for the same run key, which Dagster launches only once;
- SIGTERM, and Dagster's *Terminate* (the run worker sends itself SIGINT), stop the stream at the
  next transaction boundary, flush, save the restart point, and only then end the run as interrupted;
- the op holds no pool slot (so a killed stream leaks none); killed snapshot runs free theirs through
  ``run_monitoring.free_slots_after_run_end_seconds`` in ``dagster.yaml``.
"""

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from cdc_assets.config import PipelineConfig, load_pipeline
from cdc_assets.core.offsets import RestartPoint
from cdc_assets.core.schema import TableId
from cdc_assets.defs.names import ident, schema_asset_key, table_asset_key
from cdc_assets.engine.context import RunContext, binlog_client_id
from cdc_assets.engine.startup import OFFSET_MODES
from cdc_assets.engine.streaming import FlushInfo, stream
from cdc_assets.errors import ConfigError, ServerIdClashError
from cdc_assets.state import SchemaChangeRecord, StateStore

#: seconds between two liveness heartbeats of a streaming run
HEARTBEAT_SECONDS = 5.0
#: a STARTED streaming run without a heartbeat for this long is dead (overridden by STALE_ENV)
STALE_SECONDS = 60.0
STALE_ENV = "CDC_ASSETS_STREAM_STALE_SECONDS"
#: at most one materialization per table per this many seconds (rows are summed in between)
MATERIALIZE_EVERY_SECONDS = 30.0
#: run tag set on a run that stopped because another binlog reader used its server id
CLASH_TAG = "cdc_assets/server_id_clash"

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
#: statuses in which the run's own process is the one that must write heartbeats
_RUNNING = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)


# ---- materializations: coalesced per table ---------------------------------------------------


@dataclass
class TableReport:
    """What one materialization of a table's asset says: rows applied since the previous one."""

    table: TableId
    rows: int
    flushes: int
    point: RestartPoint
    lag_seconds: float | None
    extra: dict[str, object] = field(default_factory=dict)


class MaterializationCoalescer:
    """Turns flushes into at most one report per table per ``every`` seconds.

    A flush can happen every half second (DuckDB's flush interval) for each of hundreds of tables;
    one event each would be 200 events/s for 100 busy tables, millions a day in the event log, each
    also indexed per asset. One per table per 30 s keeps that at about 3/s while the UI still shows
    minute-fresh lag and row counts. Rows of the flushes in between are summed, and the
    report carries the newest restart point and lag. :meth:`drain` returns what is still held (at
    the end of a run), so every applied row is reported once."""

    def __init__(self, every: float = MATERIALIZE_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.every = every
        self.clock = clock
        self._held: dict[TableId, TableReport] = {}
        self._last: dict[TableId, float] = {}

    def add(self, info: FlushInfo) -> list[TableReport]:
        now = self.clock()
        extra = _extra_fields(info)
        due: list[TableReport] = []
        for table, n in info.rows.items():
            held = self._held.get(table)
            if held is None:
                held = self._held[table] = TableReport(table, 0, 0, info.point, info.lag_seconds)
            held.rows += n
            held.flushes += 1
            held.point, held.lag_seconds, held.extra = info.point, info.lag_seconds, extra
            last = self._last.get(table)
            if last is None or now - last >= self.every:
                due.append(self._held.pop(table))
                self._last[table] = now
        return due

    def drain(self) -> list[TableReport]:
        out = list(self._held.values())
        self._held.clear()
        return out


_KNOWN_FLUSH_FIELDS = {"rows", "point", "lag_seconds", "seconds"}


def _extra_fields(info: FlushInfo) -> dict[str, object]:
    """Fields other parts of the engine add to FlushInfo (a binlog-retention warning, for example):
    passed on as metadata when set."""
    return {
        k: v
        for k, v in vars(info).items()
        if k not in _KNOWN_FLUSH_FIELDS and not k.startswith("_") and v not in (None, "", False)
    }


def _metadata(report: TableReport) -> dict[str, dg.MetadataValue]:
    point = report.point
    meta: dict[str, dg.MetadataValue] = {
        "source_table": dg.MetadataValue.text(str(report.table)),  # one of several, for merged shards
        "rows_applied": dg.MetadataValue.int(report.rows),
        "flushes": dg.MetadataValue.int(report.flushes),
        "restart_point": dg.MetadataValue.text(str(point)),
        "lag_seconds": dg.MetadataValue.float(round(report.lag_seconds, 3))
        if report.lag_seconds is not None
        else dg.MetadataValue.text("unknown"),
    }
    if point.position is not None:
        meta["binlog_file"] = dg.MetadataValue.text(point.position.file)
        meta["binlog_pos"] = dg.MetadataValue.int(point.position.pos)
    if point.gtid_set is not None:
        meta["gtid_set"] = dg.MetadataValue.text(str(point.gtid_set))
    for k, v in report.extra.items():
        meta[k] = dg.MetadataValue.text(str(v))
    return meta


# ---- the op's process: heartbeat and signals --------------------------------------------------


def schema_change_metadata(rec: SchemaChangeRecord) -> dict[str, dg.MetadataValue]:
    """What the schema asset shows for one change: the DDL, the columns before and after, the binlog
    point, and what the sink did."""

    def table(columns: list[str] | None) -> str:
        return "\n".join(f"- `{c}`" for c in columns) if columns else "(no table)"

    return {
        "ddl": dg.MetadataValue.md(f"```sql\n{rec.ddl.strip()}\n```"),
        "change": dg.MetadataValue.text(rec.kind),
        "source_table": dg.MetadataValue.text(rec.source),
        "columns_before": dg.MetadataValue.md(table(rec.columns_before)),
        "columns_after": dg.MetadataValue.md(table(rec.columns_after)),
        "binlog_position": dg.MetadataValue.text(str(rec.position)),
        "outcome": dg.MetadataValue.text(rec.outcome),
        "origin": dg.MetadataValue.text(rec.origin),
    }


def schema_change_events(
    cfg: PipelineConfig, records: list[SchemaChangeRecord]
) -> list[dg.AssetMaterialization]:
    """A materialization of the schema asset of each target a change reached: every target of its source
    table (a table routed to several), or the one merged target a joining table widened."""
    out = []
    for rec in records:
        if rec.origin == "merge":
            targets = [TableId.parse(rec.target)]
        else:
            targets = cfg.targets_for(TableId.parse(rec.source))
        out += [
            dg.AssetMaterialization(
                asset_key=schema_asset_key(t),
                description=f"{rec.kind} on {rec.source}: {rec.outcome}",
                metadata=schema_change_metadata(rec),
            )
            for t in targets
        ]
    return out


@contextlib.contextmanager
def heartbeat(state_dir: str | Path, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Touch the pipeline's stream heartbeat every ``every`` seconds while the block runs.

    A thread, so the heartbeat also moves while the stream snapshots a newly added table or waits on
    a slow sink: it says "this run's process is alive", which is what Dagster cannot tell for a run
    whose process was killed. A stream that hangs is the binlog reader's timeouts' business."""
    done = threading.Event()

    def beat() -> None:
        with StateStore(state_dir) as state:
            while True:
                state.touch_heartbeat()
                if done.wait(every):
                    return

    thread = threading.Thread(target=beat, name="cdc-stream-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=10)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """Within the block, SIGTERM and SIGINT set ``stop`` instead of interrupting the code at any
    instruction (Dagster's own handler raises wherever the main thread is, possibly between a sink
    write and the restart point's save). A second signal falls through to the previous handler.
    After the block, the signal is delivered again to the previous handler, so Dagster ends the run
    as interrupted. Yields the list of signals received. Outside the main thread (no signals there)
    it only runs the block. The handler only sets flags: logging from it could re-enter the event
    log's storage in the middle of a write of the main thread."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in signals}

    def handler(signum, frame) -> None:
        if received:  # asked twice: stop now
            prev = previous[signum]
            if callable(prev):
                prev(signum, frame)
            raise KeyboardInterrupt
        received.append(signum)
        stop.set()

    for s in signals:
        signal.signal(s, handler)
    try:
        yield received
    finally:
        for s in signals:
            signal.signal(s, previous[s])
    if received:
        signal.raise_signal(received[0])


# ---- the job ------------------------------------------------------------------------------------


def stream_job(path: Path, state_dir: str | None, cfg: PipelineConfig) -> dg.JobDefinition:
    pid = ident(cfg.pipeline_id)

    @dg.op(name=f"{pid}_tail_binlog", description="Tails the binlog forever and applies changes.")
    def _tail(context: dg.OpExecutionContext) -> None:
        stop = threading.Event()
        reports = MaterializationCoalescer()

        def publish(batch: list[TableReport]) -> None:
            for r in batch:
                for target in live.targets_for(r.table):  # every target of a table routed to several
                    context.log_event(
                        dg.AssetMaterialization(asset_key=table_asset_key(target), metadata=_metadata(r))
                    )
                if "retention_warning" in r.extra:
                    context.log.warning(str(r.extra["retention_warning"]))

        def schema_changed(records: list[SchemaChangeRecord]) -> None:
            for event in schema_change_events(live, records):
                context.log_event(event)
            for rec in records:
                context.log.info(f"schema change on {rec.source} ({rec.kind}): {rec.outcome}")

        live = load_pipeline(path, state_dir=state_dir)
        with stop_on_signals(stop) as received, heartbeat(live.state_dir):
            ctx = RunContext(live)
            try:
                ctx.discover()
                context.log.info(
                    f"streaming {len(ctx.schemas)} tables over one binlog connection as server-id "
                    f"{binlog_client_id(live)}"
                )
                try:
                    result = stream(
                        ctx,
                        should_stop=stop.is_set,
                        on_flush=lambda i: publish(reports.add(i)),
                        on_schema_change=schema_changed,
                    )
                except ServerIdClashError:
                    # The sensor does not relaunch into the same clash (it would kick the other reader
                    # off in turn): it waits until server-id is changed.
                    context.instance.add_run_tags(context.run_id, {CLASH_TAG: str(binlog_client_id(live))})
                    raise
                finally:
                    publish(reports.drain())
                why = f"received {signal.Signals(received[0]).name}: " if received else ""
                context.log.info(
                    f"{why}stream stopped at {result.point}, flushed and saved, after {result.rows} rows in "
                    f"{result.flushes} flushes"
                )
            finally:
                ctx.close()

    @dg.job(
        name=f"{pid}_stream",
        executor_def=dg.in_process_executor,
        tags={"dagster/max_retries": "0", "cdc_assets/pipeline": cfg.pipeline_id},
        description=f"Streams the binlog of {cfg.source.hostname}:{cfg.source.port} into the {cfg.sink.type} sink.",
    )
    def _job() -> None:
        _tail()

    return _job


# ---- the keep-alive sensor ----------------------------------------------------------------------


def stale_seconds(env=None) -> float:
    env = os.environ if env is None else env
    raw = env.get(STALE_ENV)
    if not raw:
        return STALE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= HEARTBEAT_SECONDS:
        raise ConfigError(
            f"{STALE_ENV}={raw!r}: must be a number of seconds above the heartbeat interval "
            f"({HEARTBEAT_SECONDS:g} s); {STALE_SECONDS:g} is the default"
        )
    return value


def dead_run_reason(
    instance: dg.DagsterInstance, run: dg.DagsterRun, heartbeat_at: float | None, stale: float, now: float
) -> str | None:
    """Why ``run`` is dead although Dagster shows it running, or None if it is alive (or too young to tell)."""
    if run.status not in _RUNNING:
        return None
    record = instance.get_run_record_by_id(run.run_id)
    started = (record.start_time if record else None) or (
        record.create_timestamp.timestamp() if record else now
    )
    last = max(heartbeat_at or 0.0, started)
    if now - last <= stale:
        return None
    seen = f"{now - heartbeat_at:.0f} s ago" if heartbeat_at else "never"
    return (
        f"streaming run {run.run_id} is {run.status.value} but its process wrote no heartbeat for "
        f"{now - last:.0f} s (last heartbeat {seen}; limit {stale:g} s, {STALE_ENV}): its process is gone "
        "(killed, or its host died); marked failed so the keep-alive sensor starts a new run"
    )


def keepalive_sensor(cfg: PipelineConfig, job: dg.JobDefinition, *, stale: float) -> dg.SensorDefinition:
    pid = ident(cfg.pipeline_id)

    @dg.sensor(
        name=f"{pid}_stream_keepalive",
        job=job,
        minimum_interval_seconds=30,
        description=(
            "Starts the streaming job when no run of it is alive and every captured table is snapshotted "
            "(at once in the offset startup modes, which take no snapshot); "
            "marks a run whose process died (stale heartbeat) failed first."
        ),
    )
    def _keepalive(context: dg.SensorEvaluationContext):
        if cfg.source.startup_mode == "snapshot":
            return dg.SkipReason(
                "scan.startup.mode is snapshot: there is no stream to keep alive "
                f"(run {pid}_sync_until_caught_up to snapshot and stop)"
            )
        instance = context.instance
        active = instance.get_runs(filters=dg.RunsFilter(job_name=job.name, statuses=ACTIVE_STATUSES))
        with StateStore(cfg.state_dir) as state:
            beat = state.stream_heartbeat()
            tables = state.tables()
        now = time.time()
        for run in active:
            reason = dead_run_reason(instance, run, beat, stale, now)
            if reason is None:
                return dg.SkipReason(f"{job.name} is {run.status.value} ({run.run_id})")
            context.log.warning(reason)
            instance.report_run_failed(run, message=reason)
        last = instance.get_runs(filters=dg.RunsFilter(job_name=job.name), limit=1)
        previous = last[0] if last else None
        clash = previous.tags.get(CLASH_TAG) if previous else None
        if clash is not None and clash == str(binlog_client_id(cfg)):
            return dg.SkipReason(
                f"run {previous.run_id} stopped because another replica or binlog reader uses server-id "
                f"{clash}; not restarting into the same clash: set source option server-id to an unused id or "
                "range, reload the code location, and the sensor starts the stream again"
            )
        pending = [t for t, s in tables.items() if s.phase != "snapshotted"]
        # The offset modes take no snapshot: the stream itself is the start.
        if cfg.source.startup_mode not in OFFSET_MODES and (not tables or pending):
            return dg.SkipReason(
                f"waiting for the snapshot of: {', '.join(pending) or 'all tables (none planned yet)'}"
            )
        return dg.RunRequest(
            run_key=f"after-{previous.run_id if previous else 'none'}",
            tags={"cdc_assets/started_by": "keepalive"},
        )

    return _keepalive
