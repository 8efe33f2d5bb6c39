"""SQL on a StarRocks FE's query port (the MySQL protocol): DDL, table lookups, verification reads.

``jdbc-url`` may name several FEs (``jdbc:mysql://fe1:9030,fe2:9030``); a connection goes to the
first that answers, and a lost connection is reopened once, on any of them, before an error is raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import pymysql

from cdc_assets.errors import AuthenticationError, SinkError, TransientError

log = logging.getLogger(__name__)

_ACCESS_DENIED = {1044, 1045, 1227}
_CONNECTION_LOST = {0, 2003, 2006, 2013, 2055}


class FrontEnd:
    """One lazily opened connection to the first reachable FE of ``addresses``, shared by threads."""

    def __init__(
        self, addresses: Sequence[tuple[str, int]], user: str, password: str, *, connect_timeout: float = 30.0
    ):
        self.addresses = tuple(addresses)
        self.user = user
        self._password = password
        self.connect_timeout = connect_timeout
        self._conn: pymysql.connections.Connection | None = None
        self._where = ""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FrontEnd({', '.join(f'{h}:{p}' for h, p in self.addresses)}, user={self.user!r})"

    @property
    def where(self) -> str:
        return f"StarRocks FE {self._where or ', '.join(f'{h}:{p}' for h, p in self.addresses)}"

    def _clean(self, exc: BaseException) -> str:
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        return text.replace(self._password, "***") if self._password else text

    def _open(self) -> pymysql.connections.Connection:
        failures = []
        for host, port in self.addresses:
            try:
                conn = pymysql.connect(
                    host=host,
                    port=port,
                    user=self.user,
                    password=self._password,
                    connect_timeout=self.connect_timeout,
                    autocommit=True,
                    charset="utf8mb4",
                )
            except pymysql.err.OperationalError as exc:
                code = exc.args[0] if exc.args else None
                if code in _ACCESS_DENIED:
                    raise AuthenticationError(
                        f"StarRocks FE {host}:{port} refused user {self.user!r} ({self._clean(exc)}); check "
                        "sink.username and sink.password, and that the user may CREATE DATABASE/TABLE, "
                        "SELECT and INSERT on the target databases",
                        host=host,
                        port=port,
                    ) from exc
                failures.append(f"{host}:{port} ({self._clean(exc)})")
                continue
            self._where = f"{host}:{port}"
            return conn
        raise TransientError(
            f"cannot reach any StarRocks FE query port of sink.jdbc-url: {'; '.join(failures)}; check the "
            "address, that the FE runs and that this machine may connect to port 9030 (query_port)",
        )

    def execute(self, sql: str, params: Sequence[Any] | None = None, *, doing: str) -> list[tuple]:
        """Run one statement (values bound through ``params``) and return its rows."""
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = self._open()
                try:
                    with self._conn.cursor() as cur:
                        cur.execute(sql, params)
                        return list(cur.fetchall())
                except pymysql.err.OperationalError as exc:
                    code = exc.args[0] if exc.args else None
                    if code in _CONNECTION_LOST or isinstance(exc.__cause__, OSError):
                        self._drop()
                        if attempt == 1:
                            log.warning("%s: connection lost while %s; reconnecting", self.where, doing)
                            continue
                        raise TransientError(
                            f"{self.where}: connection lost while {doing} ({self._clean(exc)})"
                        ) from exc
                    raise self._error(exc, doing) from exc
                except pymysql.err.Error as exc:
                    raise self._error(exc, doing) from exc
                except OSError as exc:
                    self._drop()
                    if attempt == 1:
                        continue
                    raise TransientError(f"{self.where}: connection failed while {doing} ({exc})") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, exc: BaseException, doing: str) -> SinkError:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        return SinkError(f"{self.where} refused a statement while {doing}: {self._clean(exc)}", code=code)

    def table_columns(self, db: str, table: str) -> list[tuple[str, str]] | None:
        """``(column name, COLUMN_KEY)`` in ordinal order, or None when the table does not exist."""
        rows = self.execute(
            "SELECT COLUMN_NAME, COLUMN_KEY FROM information_schema.columns "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (db, table),
            doing=f"reading the columns of {db}.{table}",
        )
        return [(str(r[0]), str(r[1] or "")) for r in rows] or None

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()
