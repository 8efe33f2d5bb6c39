"""The connection class the binlog reader gives python-mysql-replication.

On a lost connection (client errors 2006 / 2013) python-mysql-replication reconnects by itself,
silently, from the position of the last event it read: in the middle of a transaction, with GTID
positioning from the set it started with (so replaying from the wrong place), and without backoff,
limit or log line. This connection raises :class:`StreamCut` instead, which the library does not
catch, so the reader can resume from its own restart point at a transaction boundary
(:mod:`cdc_assets.engine.reconnect`).
"""

from __future__ import annotations

import pymysql
from pymysql.protocol import MysqlPacket

from cdc_assets.mysql.connection import _Connection

#: the client errors on which python-mysql-replication reconnects by itself (MYSQL_EXPECTED_ERROR_CODES)
LOST_CONNECTION_CODES = (2006, 2013)


class StreamCut(Exception):
    """The binlog connection was lost; ``cause`` is the driver's error. Deliberately not a pymysql error."""

    def __init__(self, cause: pymysql.err.OperationalError):
        super().__init__(*cause.args)
        self.cause = cause


class DumpConnection(_Connection):
    """A PyMySQL connection whose lost-connection errors escape python-mysql-replication."""

    def _read_packet(self, packet_type=MysqlPacket):
        try:
            return super()._read_packet(packet_type)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in LOST_CONNECTION_CODES:
                raise StreamCut(exc) from exc
            raise
