"""Purged binlogs and binlog retention, seen from the stream.

Before streaming, the restart point is checked against the server's binlog: if it is gone, streaming
fails with what is gone and what to do (``source.scan.binlog.purged.action: fail``, the default), or
empties the captured tables' targets and snapshots them again, after which the stream starts from
the new chunks' watermarks (``resnapshot``, Debezium's ``snapshot.mode=when_needed``).

While streaming, :class:`RetentionWatch` says when the lag passes ``scan.binlog.retention-warning.ratio``
of the server's binlog retention: the restart point is then at risk of being purged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cdc_assets.config.models import BinlogPurgedAction
from cdc_assets.core.offsets import RestartPoint, other_server
from cdc_assets.core.schema import TableId
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.snapshot import snapshot_all
from cdc_assets.engine.transform import TransformingSink
from cdc_assets.errors import BinlogPurgedError, TerminalError
from cdc_assets.mysql.resume import gtid_resume_reason
from cdc_assets.mysql.retention import PurgedRestartPoint, binlog_retention_seconds, find_purged

log = logging.getLogger(__name__)

#: rows deleted per sink transaction while emptying a target table before its re-snapshot
_EMPTY_BATCH = 50_000
#: seconds between two log lines about the same lag-versus-retention warning
WARNING_LOG_EVERY = 600.0


def resumes_by_gtid(ctx: RunContext, point: RestartPoint) -> bool:
    """Whether the check looks at ``point``'s GTID set rather than its file and position: when the point
    has no position, or was taken on another server (a failover; the reader then resumes by GTID, see
    ``mysql/resume.py``), and it has a GTID set. A point of this server whose file is gone is reported
    as a purged file."""
    assert ctx.server is not None, "discover() first"
    if point.gtid_set is None:  # nothing to check by (the reader refuses a position not this server's)
        return False
    if point.position is None:
        return True
    if point.server_id is not None:
        return (
            other_server(point, server_id=ctx.server.server_id, server_uuid=ctx.server.server_uuid)
            is not None
        )
    try:  # a point saved before points recorded their server: as the reader decides
        return gtid_resume_reason(ctx.settings, ctx.server, point) is not None
    except TerminalError:
        return False


def check_restart_point(ctx: RunContext, point: RestartPoint) -> PurgedRestartPoint | None:
    assert ctx.server is not None, "discover() first"
    by_gtid = resumes_by_gtid(ctx, point)
    with ctx.connect() as conn:
        return find_purged(conn, ctx.settings, ctx.server, point, by_gtid=by_gtid)


def ensure_restart_point_available(ctx: RunContext, point: RestartPoint) -> bool:
    """Raise :class:`BinlogPurgedError` if ``point`` is gone from the server's binlog, unless the
    pipeline re-snapshots then: returns True if it did (the caller computes its start point anew)."""
    purged = check_restart_point(ctx, point)
    if purged is None:
        return False
    tables = sorted(ctx.schemas)
    if ctx.cfg.source.binlog_purged_action is not BinlogPurgedAction.RESNAPSHOT:
        raise BinlogPurgedError(
            f"cannot stream from {ctx.settings.where}: {purged}. The changes in between are lost to this "
            f"pipeline, so its {len(tables)} captured table(s) must be snapshotted again: set "
            "source.scan.binlog.purged.action: resnapshot (the targets are emptied and loaded again, then "
            f"streaming goes on), or delete the state folder {ctx.cfg.state_dir} and the target tables and "
            "sync again. To keep it from happening: make the server keep binlogs longer "
            "(binlog_expire_logs_seconds / expire_logs_days) than the pipeline may be stopped or lag",
            point=str(point),
        )
    log.warning(
        "%s; source.scan.binlog.purged.action is resnapshot: emptying and snapshotting again %s",
        purged,
        ", ".join(str(t) for t in tables),
    )
    # Empty first, then forget: a crash in between finds the purged point again and starts over.
    targets = {target: table for table in tables for target in ctx.targets(table)}
    for target, table in sorted(targets.items()):  # a target several tables are routed to, once
        _empty_target(ctx, table, target)
    for table in tables:
        ctx.state.forget_table(str(table))
    ctx.state.clear_restart_point()
    rows = snapshot_all(ctx)
    log.info("re-snapshot after the purged binlog done: %d rows in %d table(s)", rows, len(tables))
    return True


def _empty_target(ctx: RunContext, table: TableId, target: TableId) -> None:
    """Delete every row of ``target``, a target of ``table`` (rows deleted in the source while the binlog
    was lost would otherwise stay there after the re-snapshot)."""
    sink, schema = ctx.sink, ctx.schemas[table]
    if isinstance(sink, TransformingSink):
        key_schema = sink.target_key_schema(schema)
        if key_schema is not None:  # a transformed table: its target's keys, deleted in the target itself
            sink, schema = sink.inner, key_schema
    keys = [tuple(r[i] for i in schema.key_positions) for r in sink.fetch_all(target, schema)]
    stamp = int(time.time() * 1000)
    for n, start in enumerate(range(0, len(keys), _EMPTY_BATCH)):
        sink.apply_batch(
            [(target, schema, keys[start : start + _EMPTY_BATCH], [])], tag=f"purged-{stamp}-{n}"
        )


@dataclass
class RetentionWatch:
    """Compares the stream's lag with the server's binlog retention (read once, when streaming starts)."""

    where: str
    retention: tuple[float, str] | None  # seconds and the server variable, None: never purged by age
    ratio: float
    clock: Callable[[], float] = time.monotonic
    _logged_at: float | None = None

    @classmethod
    def open(cls, ctx: RunContext) -> RetentionWatch:
        ratio = ctx.cfg.source.retention_warning_ratio
        retention = None
        if ratio > 0:
            with ctx.connect() as conn:
                retention = binlog_retention_seconds(conn, ctx.settings)
        return cls(ctx.settings.where, retention, ratio)

    def check(self, lag_seconds: float | None) -> str | None:
        """The warning for this lag (also logged, at most every ``WARNING_LOG_EVERY`` s), or None."""
        if self.retention is None or lag_seconds is None or self.ratio <= 0:
            self._logged_at = None
            return None
        seconds, variable = self.retention
        if lag_seconds <= self.ratio * seconds:
            self._logged_at = None
            return None
        warning = (
            f"the stream lags {lag_seconds:,.0f}s behind {self.where}, {lag_seconds / seconds:.0%} of its binlog "
            f"retention ({variable} = {seconds:,.0f}s; warning at {self.ratio:.0%}, "
            "source.scan.binlog.retention-warning.ratio): if the binlog at the restart point is purged, the "
            "tables must be snapshotted again. Make the stream faster, or the server keep binlogs longer"
        )
        now = self.clock()
        if self._logged_at is None or now - self._logged_at >= WARNING_LOG_EVERY:
            log.warning("%s", warning)
            self._logged_at = now
        return warning
