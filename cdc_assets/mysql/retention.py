"""Is a restart point still in the server's binlog, and how long does the server keep its binlog?

Written for MySQL (5.7, 8.x) and MariaDB alike: binlog files from ``SHOW BINARY LOGS``; purged GTIDs
from ``@@gtid_purged`` on MySQL, and on MariaDB (which has no such variable) from the GTID state at
the start of the oldest binlog still there (``BINLOG_GTID_POS(oldest, 4)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdc_assets.core.offsets import MIN_BINLOG_POS, BinlogPosition, RestartPoint, parse_gtid_set
from cdc_assets.mysql.connection import ConnectionSettings, run
from cdc_assets.mysql.server import ServerInfo, binlog_files, gtid_purged, gtid_set_at


@dataclass(frozen=True)
class PurgedRestartPoint:
    """What is gone: ``missing`` says what of the restart point the server no longer has, ``oldest``
    what the server still has (its oldest binlog, and its GTID state there)."""

    point: RestartPoint
    missing: str
    oldest: str

    def __str__(self) -> str:
        return f"the restart point {self.point} is no longer on the server: {self.missing}; {self.oldest}"


def find_purged(
    conn, settings: ConnectionSettings, server: ServerInfo, point: RestartPoint, *, by_gtid: bool
) -> PurgedRestartPoint | None:
    """``None`` if the binlog from ``point`` on is all still on the server, else what is gone.
    ``by_gtid``: the reader resumes by GTID set (check purged GTIDs), else by file + position."""
    files = binlog_files(conn, settings)
    if not files:
        return None  # log-bin off: inspect_server refuses such servers already
    oldest_file = files[0][0]
    if by_gtid:
        return _purged_gtids(conn, settings, server, point, oldest_file)
    assert point.position is not None, "resuming by position needs one"
    names = {name: size for name, size in files}
    here = point.position
    where = f"the oldest binlog still there is {oldest_file}"
    if here.file in names:
        if here.pos > names[here.file]:
            return PurgedRestartPoint(
                point,
                f"{here.file} is only {names[here.file]} bytes long, the position is past its end",
                where,
            )
        return None
    try:
        before = here < BinlogPosition(oldest_file, 4)
    except ValueError:  # another base name: another server, or log-bin was renamed
        return PurgedRestartPoint(
            point,
            f"binlog {here.file} is not on the server, whose binlogs are {oldest_file} .. {files[-1][0]}",
            where,
        )
    if before:
        return PurgedRestartPoint(point, f"binlog {here.file} was purged", where)
    return PurgedRestartPoint(
        point, f"binlog {here.file} is not on the server (it has {oldest_file} .. {files[-1][0]})", where
    )


def _purged_gtids(
    conn, settings: ConnectionSettings, server: ServerInfo, point: RestartPoint, oldest_file: str
) -> PurgedRestartPoint | None:
    applied = point.gtid_set
    assert applied is not None, "resuming by GTID needs a GTID set"
    if server.is_mariadb:
        needed = gtid_set_at(conn, settings, server, BinlogPosition(oldest_file, MIN_BINLOG_POS))
        if needed is None:
            needed = parse_gtid_set("", "mariadb")
        what = f"the oldest binlog still there is {oldest_file}, starting after GTIDs {needed if not needed.is_empty else '(none)'}"
    else:
        needed = gtid_purged(conn, settings)
        what = f"the server has purged GTIDs {needed if not needed.is_empty else '(none)'} (gtid_purged), its oldest binlog is {oldest_file}"
    if needed.flavor != applied.flavor or not needed.issubset(applied):  # type: ignore[arg-type]
        return PurgedRestartPoint(
            point,
            f"transactions after the applied GTIDs {applied} were purged (binlogs before {oldest_file})",
            what,
        )
    return None


def binlog_retention_seconds(conn, settings: ConnectionSettings) -> tuple[float, str] | None:
    """How long the server keeps binlogs, and the variable that says so; ``None`` if it never purges
    them by age (``binlog_expire_logs_seconds`` and ``expire_logs_days`` both 0, or MySQL 8's
    ``binlog_expire_logs_auto_purge`` OFF)."""
    rows = run(
        conn,
        settings,
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
        "('binlog_expire_logs_seconds', 'expire_logs_days', 'binlog_expire_logs_auto_purge')",
        doing="reading the binlog retention",
    )
    values = {str(k).lower(): str(v) for k, v in rows}
    if values.get("binlog_expire_logs_auto_purge", "ON").upper() == "OFF":
        return None
    seconds = float(values.get("binlog_expire_logs_seconds", "0") or 0)
    if seconds > 0:
        return seconds, "binlog_expire_logs_seconds"
    days = float(values.get("expire_logs_days", "0") or 0)
    if days > 0:
        return days * 86400.0, "expire_logs_days"
    return None
