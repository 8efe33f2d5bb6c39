"""Where a pipeline that takes no snapshot starts reading the binlog (``scan.startup.mode``).

Used only when the state folder holds no restart point yet: once streaming has started, the saved
restart point is where every later run resumes, whatever the startup options say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from cdc_assets.core.offsets import BinlogPosition, RestartPoint, parse_gtid_set
from cdc_assets.engine.context import RunContext, binlog_client_id
from cdc_assets.errors import ConfigError
from cdc_assets.mysql.server import current_position
from cdc_assets.mysql.startup import earliest_point, point_at, point_at_timestamp

#: the modes that start from a binlog offset and take no snapshot
OFFSET_MODES = ("latest-offset", "earliest-offset", "specific-offset", "timestamp")

_OPT = "source.scan.startup."


def startup_point(ctx: RunContext, *, clock: Callable[[], float] = time.time) -> RestartPoint:
    """The restart point the startup mode names, on the server ``ctx`` is connected to."""
    assert ctx.server is not None, "discover() first"
    src, server, settings = ctx.cfg.source, ctx.server, ctx.settings
    mode = src.startup_mode
    if mode == "timestamp":
        millis = src.startup_timestamp_millis
        assert millis is not None  # the loader requires it
        now = int(clock() * 1000)
        if millis > now:
            raise ConfigError(
                f"{ctx.cfg.origin}: {_OPT}timestamp-millis: {millis} is in the future (now is {now}); "
                "give the epoch milliseconds of a past moment, or use scan.startup.mode: latest-offset"
            )
        return point_at_timestamp(settings, server, millis, client_id=binlog_client_id(ctx.cfg))
    with ctx.connect() as conn:
        if mode == "latest-offset":
            return current_position(conn, settings, server)
        if mode == "earliest-offset":
            return earliest_point(conn, settings, server)
        if mode != "specific-offset":
            raise ValueError(f"startup mode {mode} starts from a snapshot, not from an offset")
        skips = {
            "skip_events": src.specific_offset_skip_events or 0,
            "skip_rows": src.specific_offset_skip_rows or 0,
        }
        if src.specific_offset_gtid_set is not None:
            try:
                gtid = parse_gtid_set(src.specific_offset_gtid_set, server.flavor)
            except ValueError as exc:
                raise ConfigError(
                    f"{ctx.cfg.origin}: {_OPT}specific-offset.gtid-set: {exc} ({settings.where} is {server.flavor})"
                ) from None
            return RestartPoint(gtid_set=gtid, **skips)
        assert src.specific_offset_file is not None and src.specific_offset_pos is not None
        try:
            position = BinlogPosition(src.specific_offset_file, src.specific_offset_pos)
        except ValueError as exc:
            raise ConfigError(f"{ctx.cfg.origin}: {_OPT}specific-offset.file/.pos: {exc}") from None
        return replace(point_at(conn, settings, server, position), **skips)
