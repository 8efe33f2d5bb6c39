"""What the source server is and whether CDC can work with it; where its binlog ends now."""

from __future__ import annotations

from dataclasses import dataclass

from cdc_assets.core.offsets import (
    BinlogPosition,
    MariaDbGtidSet,
    MySqlGtidSet,
    RestartPoint,
    binlog_status_statements,
    parse_gtid_set,
    parse_server_version,
)
from cdc_assets.errors import SourceServerConfigError, TerminalError, TransientError
from cdc_assets.mysql.connection import ConnectionSettings, run

# consistency-notes.md item 1: full row images are a precondition.
_REQUIRED = {
    "log_bin": ("ON", "start the server with log-bin (binary logging)"),
    "binlog_format": ("ROW", "set binlog_format=ROW"),
    "binlog_row_image": ("FULL", "set binlog_row_image=FULL"),
}
#: settings that write row changes in events the binlog reader (python-mysql-replication) cannot read
#: as whole rows: it would skip compressed events, and a partial JSON update holds a diff, not the
#: value; either would lose changes silently. (name, value that breaks, fix); absent on servers
#: without the feature. Set per session, they escape this check: the README says so.
_UNREADABLE = (
    ("log_bin_compress", "ON", "set log_bin_compress=OFF (MariaDB writes compressed row events)"),
    (
        "binlog_transaction_compression",
        "ON",
        "set binlog_transaction_compression=OFF (MySQL writes compressed transaction payloads)",
    ),
    (
        "binlog_row_value_options",
        "PARTIAL_JSON",
        "set binlog_row_value_options='' (MySQL writes JSON updates as diffs)",
    ),
)


@dataclass(frozen=True)
class ServerInfo:
    flavor: str  # "mariadb" or "mysql"
    version: tuple[int, ...]
    version_text: str
    server_id: int
    gtid_enabled: bool
    row_metadata_full: bool
    server_uuid: str | None = None  # MySQL's server_uuid; MariaDB has none

    def identity(self) -> dict:
        """What a restart point records of the server its binlog position is in."""
        return {"server_id": self.server_id, "server_uuid": self.server_uuid}

    @property
    def is_mariadb(self) -> bool:
        return self.flavor == "mariadb"


def _variables(conn, settings: ConnectionSettings, names: list[str]) -> dict[str, str]:
    rows = run(
        conn,
        settings,
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN (" + ", ".join(["%s"] * len(names)) + ")",
        names,
        doing="reading server variables",
    )
    return {str(k).lower(): str(v) for k, v in rows}


def inspect_server(conn, settings: ConnectionSettings) -> ServerInfo:
    """Read version and replication settings; refuse servers whose binlog CDC cannot use."""
    (version_text,) = run(conn, settings, "SELECT VERSION()", doing="reading the server version")[0]
    flavor, version = parse_server_version(str(version_text))
    names = [*_REQUIRED, "server_id", "server_uuid", "gtid_mode", "binlog_row_metadata", "gtid_binlog_pos"]
    values = _variables(conn, settings, names + [name for name, _, _ in _UNREADABLE])
    problems = []
    for name, (wanted, fix) in _REQUIRED.items():
        have = values.get(name, "").upper()
        if have != wanted:
            problems.append(f"{name} is {have or 'unset'!r}, CDC needs {wanted!r}: {fix}")
    for name, breaks, fix in _UNREADABLE:
        if breaks in values.get(name, "").upper().split(","):
            problems.append(f"{name} is {values[name]!r}, whose row events CDC cannot read: {fix}")
    if problems:
        raise SourceServerConfigError(
            f"{settings.where} cannot be captured: "
            + "; ".join(problems)
            + " (in the server's configuration file, then restart it)",
            host=settings.host,
        )
    if flavor == "mariadb":
        gtid = True  # MariaDB always writes GTIDs to the binlog (10.0.2+)
    else:
        gtid = values.get("gtid_mode", "OFF").upper() == "ON"
    return ServerInfo(
        flavor=flavor,
        version=version,
        version_text=str(version_text),
        server_id=int(values.get("server_id", "0") or 0),
        gtid_enabled=gtid,
        row_metadata_full=values.get("binlog_row_metadata", "").upper() == "FULL",
        server_uuid=values.get("server_uuid") or None,
    )


def current_position(conn, settings: ConnectionSettings, server: ServerInfo) -> RestartPoint:
    """The binlog end now: the restart point at which a reader would see only later commits."""
    rows = None
    last_exc = None
    for stmt in binlog_status_statements(server.flavor, server.version):
        try:
            rows = run(conn, settings, stmt, doing=f"running {stmt}")
            break
        except TerminalError as exc:  # syntax differs between versions; try the fallback
            last_exc = exc
    if rows is None:
        raise last_exc  # type: ignore[misc]
    if not rows:
        raise SourceServerConfigError(
            f"{settings.where} reports no binary log status; enable log-bin on the server",
            host=settings.host,
        )
    row = rows[0]
    position = BinlogPosition(str(row[0]), int(row[1]))
    gtid_text: str | None = None
    if server.is_mariadb:
        # The GTID state *at* that position: @@gtid_binlog_pos read by a second statement could
        # already include a transaction committed after it, which a resume by GTID would skip.
        gtid_text = gtid_at(conn, settings, position)
        if gtid_text is None:
            raise TransientError(
                f"{settings.where} reports no GTID state at {position}; retry", host=settings.host
            )
    elif server.gtid_enabled and len(row) >= 5:
        gtid_text = row[4]
    gtid = parse_gtid_set(str(gtid_text).strip(), server.flavor) if gtid_text is not None else None
    return RestartPoint(position=position, gtid_set=gtid, event_time=None, **server.identity())


def gtid_at(conn, settings: ConnectionSettings, position: BinlogPosition) -> str | None:
    """MariaDB: the GTID state (``gtid_binlog_pos`` form) at ``position`` of this server's binlog, by
    ``BINLOG_GTID_POS``; ``None`` when the file is not on the server or the position is not at an
    event boundary. The server reads the file from its start up to the position."""
    (text,) = run(
        conn,
        settings,
        "SELECT BINLOG_GTID_POS(%s, %s)",
        [position.file, position.pos],
        doing=f"reading the GTID state at {position}",
    )[0]
    return None if text is None else str(text).strip()


def gtid_set_at(
    conn, settings: ConnectionSettings, server: ServerInfo, position: BinlogPosition
) -> MariaDbGtidSet | MySqlGtidSet | None:
    """:func:`gtid_at` as a GTID set where the server can tell it (MariaDB); ``None`` on MySQL, which
    cannot say which transactions precede a position, and where no event starts at ``position``."""
    if not server.is_mariadb:
        return None
    text = gtid_at(conn, settings, position)
    return parse_gtid_set(text, server.flavor) if text is not None else None


def gtid_purged(conn, settings: ConnectionSettings) -> MySqlGtidSet | MariaDbGtidSet:
    """MySQL's ``@@GLOBAL.gtid_purged``: the transactions no binlog holds any more."""
    (text,) = run(
        conn, settings, "SELECT @@GLOBAL.gtid_purged", doing="reading which GTIDs the server has purged"
    )[0]
    return parse_gtid_set(str(text or "").strip(), "mysql")


def begin_consistent_read(conn, settings: ConnectionSettings, server: ServerInfo) -> RestartPoint | None:
    """Start a consistent-snapshot transaction on ``conn`` and return the binlog point it sees, exactly,
    where the server tells it (MariaDB's ``binlog_snapshot_file`` / ``binlog_snapshot_position``, the
    position ``mariadb-dump --single-transaction --master-data`` relies on). Reads on ``conn`` then
    see every transaction before that point and none after it. ``None`` where the server cannot say
    (MySQL): the caller brackets its read with watermarks instead.
    """
    if not server.is_mariadb:
        return None
    doing = "starting a consistent snapshot read"
    run(conn, settings, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", doing=doing)
    run(conn, settings, "START TRANSACTION WITH CONSISTENT SNAPSHOT", doing=doing)
    status = dict(run(conn, settings, "SHOW STATUS LIKE 'binlog_snapshot_%'", doing=doing))
    file, pos = status.get("Binlog_snapshot_file"), status.get("Binlog_snapshot_position")
    if not file or not pos:
        run(conn, settings, "ROLLBACK", doing=doing)
        return None
    position = BinlogPosition(str(file), int(pos))
    gtid = gtid_set_at(conn, settings, server, position)
    return RestartPoint(position=position, gtid_set=gtid, event_time=None, **server.identity())


def binlog_files(conn, settings: ConnectionSettings) -> list[tuple[str, int]]:
    """``SHOW BINARY LOGS``: (file name, size) of every binlog the server still has."""
    return [
        (str(r[0]), int(r[1])) for r in run(conn, settings, "SHOW BINARY LOGS", doing="listing binary logs")
    ]
