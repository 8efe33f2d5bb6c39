"""Where a binlog reader resumes on the server it is connected to: the saved position, or the GTID set.

A restart point's binlog position is a byte offset in the files of the server that wrote them. After
a failover (``source.hostname`` now names a replica), or against any other server, the same file
names may exist with other contents, so the position is used only when it provably belongs to this
server (:func:`cdc_assets.core.offsets.position_problem`); otherwise the reader resumes from the
point's GTID set, which names the same transactions on every server of the replication topology.
"""

from __future__ import annotations

import logging

from cdc_assets.core.offsets import RestartPoint, position_problem
from cdc_assets.errors import TerminalError
from cdc_assets.mysql.connection import ConnectionSettings, connect
from cdc_assets.mysql.server import ServerInfo, binlog_files, current_position, gtid_set_at

log = logging.getLogger(__name__)


def gtid_resume_reason(settings: ConnectionSettings, server: ServerInfo, point: RestartPoint) -> str | None:
    """``None`` to resume at ``point.position``; else why not, and the reader resumes by GTID.

    Raises ``TerminalError`` when neither works: the position is not this server's and the point
    has no GTID set, or the server writes no GTIDs (MySQL with ``gtid_mode`` OFF).
    """
    with connect(settings) as conn:
        reason = _position_problem(conn, settings, server, point)
        if reason is None:
            return None
        _check_gtid_resume(conn, settings, server, point, reason)
    log.warning(
        "resuming the binlog on %s by GTID set %s: %s", settings.where, point.gtid_set or "(empty)", reason
    )
    return reason


def _position_problem(
    conn, settings: ConnectionSettings, server: ServerInfo, point: RestartPoint
) -> str | None:
    """Why ``point.position`` is not this server's (see :func:`position_problem`), or None."""
    if point.position is None:
        return "the restart point has no binlog position"
    files = dict(binlog_files(conn, settings))
    checked = server.is_mariadb and point.gtid_set is not None and point.position.file in files
    return position_problem(
        point,
        server_id=server.server_id,
        server_uuid=server.server_uuid,
        binlog_files=files,
        gtid_at_position=gtid_set_at(conn, settings, server, point.position) if checked else None,
        gtid_checked=checked,
    )


def _check_gtid_resume(
    conn, settings: ConnectionSettings, server: ServerInfo, point: RestartPoint, reason: str
) -> None:
    """Raise ``TerminalError`` unless this server can resume by ``point``'s GTID set."""
    if point.gtid_set is None:
        raise TerminalError(
            f"cannot resume on {settings.where} at {point}: {reason}, and the restart point has no GTID set to "
            "resume by. Point source.hostname back at the server the point was taken on, or restart the "
            "pipeline with a new state folder (scan.startup.mode: initial, or specific-offset with "
            "scan.startup.specific-offset.gtid-set)",
            host=settings.host,
        )
    if not server.gtid_enabled:
        raise TerminalError(
            f"cannot resume on {settings.where} at {point}: {reason}, and the server does not write GTIDs "
            "(gtid_mode is OFF); enable gtid_mode=ON with enforce_gtid_consistency=ON on every server",
            host=settings.host,
        )
    if point.gtid_set.flavor != server.flavor:
        raise TerminalError(
            f"cannot resume on {settings.where}: the restart point has a {point.gtid_set.flavor} GTID set "
            f"({point.gtid_set}) and the server is {server.flavor}",
            host=settings.host,
        )
    if point.gtid_set.is_empty and not server.is_mariadb:
        raise TerminalError(
            f"cannot resume on {settings.where} at {point}: {reason}, and the restart point's GTID set is "
            "empty (MySQL would start at the binlog end); use scan.startup.specific-offset.gtid-set",
            host=settings.host,
        )
    here = current_position(conn, settings, server).gtid_set
    if here is not None and not point.gtid_set <= here:
        raise TerminalError(
            f"cannot resume on {settings.where} by GTID set {point.gtid_set} ({reason}): the server has "
            f"only {str(here) or '(none)'}, so it lacks transactions the restart point counts as applied. If it is a "
            "replica still catching up, wait until it has them; if it lost them, it cannot take over: "
            "point source.hostname at a server that has them, or start over with a new state folder",
            host=settings.host,
        )
