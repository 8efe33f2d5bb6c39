"""Connections to the MySQL / MariaDB source, with driver errors classified at this edge.

Every connection this project opens to the source goes through :func:`connect`, so that a wrong
password, an unreachable host or an unknown database becomes one of our errors with a message that
names the server and the option to fix, and never the password.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from typing import ClassVar

import pymysql
import pymysql.connections
import pymysql.cursors

from cdc_assets.errors import (
    AuthenticationError,
    CdcError,
    ConfigError,
    ServerIdClashError,
    SourceUnavailableError,
    TerminalError,
    TransientError,
)

# Driver / server error codes (MySQL and MariaDB share them).
_ACCESS_DENIED = {1044, 1045, 1698, 1227}  # 1227: a privilege such as REPLICATION SLAVE is missing
_BINLOG_REFUSED = 1236  # the server cannot send the binlog from the requested point
_UNKNOWN_DB = {1049}
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055}
_ER_SLAVE_SAME_ID = 4052  # MariaDB
_RETRIABLE_SERVER = {1040, 1053, 1205, 1213, 1317, 2014}  # too many conns, shutdown, lock wait, deadlock


class _Connection(pymysql.connections.Connection):
    """PyMySQL's connection, with the TLS context of its default mode (TLS when the server offers it,
    no certificate check) built once per process instead of per connection: building one reads the
    system's CA store, ~25 ms, and a snapshot opens a connection per chunk."""

    _preferred_tls: ClassVar[ssl.SSLContext | None] = None
    _preferred_tls_lock: ClassVar[threading.Lock] = threading.Lock()

    def _create_ssl_ctx(self, sslp):
        if sslp != {}:
            return super()._create_ssl_ctx(sslp)
        with _Connection._preferred_tls_lock:
            if _Connection._preferred_tls is None:
                _Connection._preferred_tls = super()._create_ssl_ctx(sslp)
            return _Connection._preferred_tls


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to reach the source. ``repr`` never shows the password."""

    host: str
    port: int
    user: str
    password: str
    connect_timeout: float = 30.0

    def __repr__(self) -> str:
        return f"ConnectionSettings(host={self.host!r}, port={self.port}, user={self.user!r}, password=***)"

    @property
    def where(self) -> str:
        return f"MySQL server {self.host}:{self.port}"

    def pymysql_kwargs(self) -> dict:
        """Keyword arguments for pymysql / python-mysql-replication (contains the password)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "connect_timeout": max(1, int(round(self.connect_timeout))),
        }


def classify(exc: BaseException, settings: ConnectionSettings, doing: str) -> CdcError:
    """Turn a pymysql exception into one of our errors. ``doing`` says what was being attempted."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    detail = exc.args[1] if len(exc.args) > 1 else str(exc)
    detail = str(detail).replace(settings.password, "***") if settings.password else str(detail)
    where = settings.where
    if code in _ACCESS_DENIED:
        return AuthenticationError(
            f"{where} refused user {settings.user!r} while {doing} ({detail}); "
            "check source.username and source.password, and that the user has the CDC privileges "
            "(SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT)",
            host=settings.host,
            port=settings.port,
            code=code,
        )
    if code == _ER_SLAVE_SAME_ID or (code == _BINLOG_REFUSED and "same server_uuid/server_id" in detail):
        # The server allows one binlog reader per server id and drops the older connection when a
        # second one arrives (MariaDB 4052; MySQL 1236 with this text): retrying would only kick the
        # other reader off in turn.
        return ServerIdClashError(
            f"{where} dropped the binlog connection while {doing}: another replica or binlog reader "
            f"connected with the same server id ({detail}); give every pipeline and every replica of this "
            "server its own id: set the source option server-id to an unused id or range (for example "
            "5400-5408; a replica's id is its @@server_id)",
            host=settings.host,
            port=settings.port,
            code=code,
        )
    if code == _BINLOG_REFUSED:
        return TerminalError(
            f"{where} refused to send its binlog while {doing} ({code}: {detail}); the restart point is no "
            "longer on the server (purged: see source.scan.binlog.purged.action) or another binlog client "
            "uses the same source.server-id",
            code=code,
        )
    if code in _UNKNOWN_DB:
        return ConfigError(f"{where}: {detail} while {doing}; check the database names in source.tables")
    if code in _UNREACHABLE or isinstance(exc, (TimeoutError, ConnectionError)):
        return SourceUnavailableError(
            f"cannot reach {where} while {doing} ({detail}); check source.hostname and source.port, "
            "that the server is running and that this machine may connect to it",
            host=settings.host,
            port=settings.port,
            code=code,
        )
    if code in _RETRIABLE_SERVER:
        return TransientError(
            f"{where} failed while {doing} ({code}: {detail}); it will be retried", code=code
        )
    if isinstance(exc, pymysql.err.ProgrammingError):
        return TerminalError(f"{where} rejected a statement while {doing} ({code}: {detail})", code=code)
    if isinstance(exc, pymysql.err.OperationalError):
        return TransientError(f"{where} failed while {doing} ({code}: {detail})", code=code)
    return TerminalError(f"{where} failed while {doing} ({type(exc).__name__}: {detail})", code=code)


def connect(
    settings: ConnectionSettings,
    *,
    database: str | None = None,
    streaming: bool = False,
    utc: bool = True,
) -> pymysql.connections.Connection:
    """Open a connection (autocommit, utf8mb4; session time zone UTC when ``utc``).

    ``streaming`` gives an unbuffered cursor class so large reads do not sit in memory.
    """
    kwargs = settings.pymysql_kwargs()
    try:
        conn = _Connection(
            **kwargs,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor,
            # UTC: TIMESTAMP values read as instants; no CHAR padding: the binlog never pads CHAR
            init_command=(
                "SET time_zone = '+00:00', sql_mode = REPLACE(@@SESSION.sql_mode, 'PAD_CHAR_TO_FULL_LENGTH', '')"
                if utc
                else None
            ),
            read_timeout=None,
        )
    except (pymysql.err.MySQLError, OSError) as exc:
        raise classify(exc, settings, "connecting") from exc
    return conn


def run(conn, settings: ConnectionSettings, sql: str, params=None, *, doing: str) -> list[tuple]:
    """Execute one statement and fetch all rows, classifying failures."""
    try:
        with conn.cursor(pymysql.cursors.Cursor) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    except (pymysql.err.MySQLError, OSError) as exc:
        raise classify(exc, settings, doing) from exc
