"""Binlog points a pipeline can start from without a snapshot: the oldest binlog, a given file and
position, and the first transaction committed at or after a time (``scan.startup.mode``)."""

from __future__ import annotations

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import FormatDescriptionEvent

from cdc_assets.core.offsets import MIN_BINLOG_POS, BinlogPosition, RestartPoint
from cdc_assets.errors import ConfigError, SourceServerConfigError
from cdc_assets.mysql.binlog import BinlogReader, Boundary
from cdc_assets.mysql.connection import ConnectionSettings, classify, connect
from cdc_assets.mysql.server import ServerInfo, binlog_files, gtid_purged, gtid_set_at


def _files(conn, settings: ConnectionSettings) -> list[tuple[str, int]]:
    files = binlog_files(conn, settings)
    if not files:
        raise SourceServerConfigError(
            f"{settings.where} lists no binary logs; enable log-bin on the server", host=settings.host
        )
    return files


def earliest_point(conn, settings: ConnectionSettings, server: ServerInfo) -> RestartPoint:
    """The start of the oldest binlog the server still has. Its GTID set: MariaDB's state at that
    point; MySQL's ``gtid_purged`` (the transactions in no binlog any more), when GTIDs are on."""
    first = BinlogPosition(_files(conn, settings)[0][0], MIN_BINLOG_POS)
    gtid = gtid_set_at(conn, settings, server, first)
    if not server.is_mariadb and server.gtid_enabled:
        gtid = gtid_purged(conn, settings)
    return RestartPoint(position=first, gtid_set=gtid, **server.identity())


def point_at(
    conn, settings: ConnectionSettings, server: ServerInfo, position: BinlogPosition
) -> RestartPoint:
    """``position`` on this server, checked: the file exists and the position is within it (on
    MariaDB also that an event starts there, and the GTID set at it). On MySQL the point has no
    GTID set: the server cannot say which transactions precede a position."""
    files = dict(_files(conn, settings))
    where = "source.scan.startup.specific-offset.file"
    if position.file not in files:
        raise ConfigError(
            f"{where}: binlog file {position.file} is not on {settings.where} (it has {', '.join(files)}); "
            "it may have been purged: pick a listed file, or scan.startup.mode: earliest-offset"
        )
    if position.pos > files[position.file]:
        raise ConfigError(
            f"source.scan.startup.specific-offset.pos: {position.pos} is past the end of {position.file} "
            f"({files[position.file]} bytes)"
        )
    gtid = gtid_set_at(conn, settings, server, position)
    if server.is_mariadb and gtid is None:
        raise ConfigError(
            f"source.scan.startup.specific-offset.pos: no binlog event starts at {position} on {settings.where}; "
            f"use a position SHOW BINLOG EVENTS IN '{position.file}' lists (Pos or End_log_pos)"
        )
    return RestartPoint(position=position, gtid_set=gtid, **server.identity())


def _first_event_time(settings: ConnectionSettings, file: str, client_id: int) -> int:
    """When ``file`` was started: the timestamp of its first event (the format description)."""
    stream = BinLogStreamReader(
        connection_settings=settings.pymysql_kwargs(),
        server_id=client_id,
        resume_stream=True,
        blocking=False,
        log_file=file,
        log_pos=MIN_BINLOG_POS,
        only_events=[FormatDescriptionEvent],
        enable_logging=False,
    )
    try:
        for ev in stream:
            return int(ev.timestamp)
        return 0
    except (pymysql.err.MySQLError, OSError) as exc:
        raise classify(exc, settings, f"reading the first event of {file}") from exc
    finally:
        stream.close()


def point_at_timestamp(
    settings: ConnectionSettings, server: ServerInfo, millis: int, *, client_id: int
) -> RestartPoint:
    """The restart point just before the first transaction committed at or after ``millis`` (epoch
    milliseconds; binlog event times have whole seconds), or the binlog end if there is none yet.

    The binlog file is found by the time of its first event: the last file started before
    ``millis`` (a file started in the same second may follow transactions of that second in the
    file before it), then its transactions are read up to the first one late enough. Event times
    are those the server writes (the statement start, in seconds).
    """
    with connect(settings) as conn:
        files = [f for f, _ in _files(conn, settings)]
    lo, hi = 0, len(files) - 1  # the last file started before millis (else the oldest)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _first_event_time(settings, files[mid], client_id) * 1000 < millis:
            lo = mid
        else:
            hi = mid - 1
    start = BinlogPosition(files[lo], MIN_BINLOG_POS)
    with connect(settings) as conn:
        gtid = gtid_set_at(conn, settings, server, start)
    point = RestartPoint(position=start, gtid_set=gtid, **server.identity())
    reader = BinlogReader(
        settings, server, {}, server_id=client_id, start=point, blocking=False, position_is_this_servers=True
    )
    try:
        for item in reader.events():
            if not isinstance(item, Boundary):
                continue
            if (
                item.committed
                and item.point.event_time is not None
                and item.point.event_time * 1000 >= millis
            ):
                break  # the transaction that just ended is the first one late enough: start before it
            point = item.point
    finally:
        reader.close()
    return point
