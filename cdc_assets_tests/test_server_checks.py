"""The source server's settings are checked before anything is read: a setting under which the binlog
would not hold whole row images, or would hold row events the reader cannot read (and would skip,
losing changes silently), is refused with its name and the fix. Against the session's real MariaDB,
each setting changed globally for the test and restored."""

from __future__ import annotations

import pytest

from cdc_assets.errors import SourceServerConfigError
from cdc_assets.mysql.connection import ConnectionSettings
from cdc_assets.mysql.server import inspect_server


def _inspect(mysql_source):
    settings = ConnectionSettings(
        mysql_source.host, mysql_source.port, mysql_source.user, mysql_source.password
    )
    conn = mysql_source.server.connect()
    try:
        return inspect_server(conn, settings)
    finally:
        conn.close()


def test_a_server_set_up_for_cdc_passes(mysql_source):
    info = _inspect(mysql_source)
    assert info.is_mariadb and info.gtid_enabled and info.row_metadata_full


@pytest.mark.parametrize(
    ("name", "bad", "good", "says"),
    [
        ("log_bin_compress", "ON", "OFF", "set log_bin_compress=OFF"),
        ("binlog_format", "'STATEMENT'", "'ROW'", "set binlog_format=ROW"),
        ("binlog_row_image", "'MINIMAL'", "'FULL'", "set binlog_row_image=FULL"),
    ],
)
def test_a_setting_the_reader_cannot_use_is_refused_with_the_fix(mysql_source, name, bad, good, says):
    mysql_source.server.execute(f"SET GLOBAL {name} = {bad}")
    try:
        with pytest.raises(SourceServerConfigError) as info:
            _inspect(mysql_source)
    finally:
        mysql_source.server.execute(f"SET GLOBAL {name} = {good}")
    message = str(info.value)
    assert name in message and says in message and f"{mysql_source.host}:{mysql_source.port}" in message
    _inspect(mysql_source)  # restored: accepted again
