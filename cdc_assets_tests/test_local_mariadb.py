"""The private server: CDC settings in force, restart/crash behaviour, the CDC user's binlog access."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import WriteRowsEvent

from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.errors import TerminalError
from cdc_assets.local_mariadb import LocalMariaDB, _grant_target, find_server_binary

SYSTEM_PORT = 3306


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def own_server() -> Iterator[LocalMariaDB]:
    """A second server that tests may stop, kill and restart, with a root password and server id 7."""
    server = LocalMariaDB(server_id=7, root_password="own-root-pw", extra_options={"max_connections": "50"})
    try:
        yield server.start()
    finally:
        server.cleanup()


def test_find_server_binary_finds_an_executable_server() -> None:
    found = find_server_binary()
    assert found is not None
    assert found.name in {"mariadbd", "mysqld"}
    assert os.access(found, os.X_OK)


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("log_bin", "ON"),
        ("binlog_format", "ROW"),
        ("binlog_row_image", "FULL"),
        ("binlog_row_metadata", "FULL"),
        ("gtid_strict_mode", "ON"),
        ("log_slave_updates", "ON"),
        ("server_id", "1"),
        ("character_set_server", "utf8mb4"),
        ("collation_server", "utf8mb4_general_ci"),
        ("bind_address", "127.0.0.1"),
        ("skip_name_resolve", "ON"),
        ("max_connections", "300"),
        ("innodb_buffer_pool_size", str(128 * 1024 * 1024)),
    ],
)
def test_cdc_settings_are_in_force(mariadb: LocalMariaDB, variable: str, expected: str) -> None:
    rows = mariadb.execute("SHOW GLOBAL VARIABLES LIKE %s", (variable,))
    assert rows == [(variable, expected)]


def test_server_is_private(mariadb: LocalMariaDB) -> None:
    assert mariadb.host == "127.0.0.1"
    assert mariadb.port != SYSTEM_PORT
    assert mariadb.flavor == "mariadb"
    assert mariadb.execute("SELECT @@port, @@datadir") == [(mariadb.port, f"{mariadb.base_dir / 'data'}/")]
    assert mariadb.error_log_path.is_file() and mariadb.error_log_path.parent == mariadb.base_dir


def test_version_matches_the_running_server(mariadb: LocalMariaDB) -> None:
    (server_version,) = mariadb.execute("SELECT VERSION()")[0]
    assert server_version.startswith(mariadb.version.split("-")[0])
    assert mariadb.version_tuple >= (10, 5, 0)


def test_gtid_is_recorded_for_each_transaction(mariadb: LocalMariaDB, fresh_db: str) -> None:
    table = quote_table(fresh_db, "g")
    mariadb.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
    mariadb.execute(f"INSERT INTO {table} VALUES (1)")
    (pos,) = mariadb.execute("SELECT @@gtid_binlog_pos")[0]
    domain, server_id, seq = pos.split("-")
    assert (domain, server_id) == ("0", "1")
    mariadb.execute(f"INSERT INTO {table} VALUES (2)")
    assert mariadb.execute("SELECT @@gtid_binlog_pos") == [(f"0-1-{int(seq) + 1}",)]


def test_connect_is_autocommit_utf8mb4(mariadb: LocalMariaDB, fresh_db: str) -> None:
    conn = mariadb.connect(fresh_db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@autocommit, @@character_set_client, DATABASE()")
            assert cur.fetchone() == (1, "utf8mb4", fresh_db)
            cur.execute("SELECT %s", ("Zoë 🚀",))
            assert cur.fetchone() == ("Zoë 🚀",)
    finally:
        conn.close()


@pytest.mark.mariadb
def test_root_password_is_required_and_not_shown(own_server: LocalMariaDB) -> None:
    assert own_server.execute("SELECT @@server_id, @@max_connections") == [(7, 50)]
    with pytest.raises(pymysql.err.OperationalError) as err:
        own_server.connect(password="wrong")
    assert err.value.args[0] == 1045
    assert "own-root-pw" not in repr(own_server)


@pytest.mark.mariadb
def test_stop_then_start_keeps_data_and_port(own_server: LocalMariaDB) -> None:
    own_server.execute("CREATE DATABASE IF NOT EXISTS keep")
    own_server.execute("CREATE OR REPLACE TABLE keep.t (id INT PRIMARY KEY, v VARCHAR(10))")
    own_server.execute("INSERT INTO keep.t VALUES (1, 'før')")
    port, pid = own_server.port, own_server.pid
    assert pid is not None

    own_server.stop()
    assert not own_server.running and not _alive(pid)
    with pytest.raises(pymysql.err.OperationalError):
        own_server.connect(connect_timeout=2)

    own_server.start()
    assert own_server.port == port
    assert own_server.execute("SELECT v FROM keep.t WHERE id = 1") == [("før",)]


@pytest.mark.mariadb
def test_kill_then_start_recovers_committed_data(own_server: LocalMariaDB) -> None:
    own_server.execute("CREATE DATABASE IF NOT EXISTS crash")
    own_server.execute("CREATE OR REPLACE TABLE crash.t (id INT PRIMARY KEY)")
    own_server.execute("INSERT INTO crash.t VALUES (1), (2), (3)")
    (gtid_before,) = own_server.execute("SELECT @@gtid_binlog_pos")[0]
    pid = own_server.pid
    assert pid is not None

    own_server.kill()
    assert not _alive(pid)
    own_server.start()

    assert own_server.execute("SELECT COUNT(*) FROM crash.t") == [(3,)]
    assert own_server.execute("SELECT @@gtid_binlog_pos") == [(gtid_before,)]
    assert "crash recovery" in own_server.error_log_path.read_text().lower()


@pytest.mark.mariadb
def test_restart_keeps_port(own_server: LocalMariaDB) -> None:
    port, pid = own_server.port, own_server.pid
    own_server.restart()
    assert own_server.port == port and own_server.pid != pid
    assert own_server.execute("SELECT 1") == [(1,)]


@pytest.mark.mariadb
def test_new_object_on_existing_base_dir_reuses_data_and_port(own_server: LocalMariaDB) -> None:
    own_server.execute("CREATE DATABASE IF NOT EXISTS reuse")
    port = own_server.port
    own_server.stop()
    again = LocalMariaDB(own_server.base_dir, root_password="own-root-pw")
    try:
        again.start()
        assert again.port == port
        assert ("reuse",) in again.execute("SHOW DATABASES")
    finally:
        again.cleanup()  # it did not create base_dir, so the data stays
    assert (own_server.base_dir / "data").is_dir()
    own_server.start()


@pytest.mark.mariadb
def test_context_manager_starts_then_removes_everything() -> None:
    started = time.monotonic()
    with LocalMariaDB() as db:
        elapsed = time.monotonic() - started
        pid, base_dir = db.pid, db.base_dir
        assert pid is not None and _alive(pid)
        assert db.execute("SELECT 1") == [(1,)]
    assert not _alive(pid)
    assert not base_dir.exists()
    assert elapsed < 30, f"first start (initialise + start) took {elapsed:.1f} s"


def test_busy_port_fails_with_the_server_log(mariadb: LocalMariaDB) -> None:
    other = LocalMariaDB(port=mariadb.port)
    try:
        with pytest.raises(TerminalError) as err:
            other.start()
        assert f"port {mariadb.port}" in str(err.value)
        assert "Address already in use" in str(err.value)
        assert not other.running
    finally:
        other.cleanup()
    assert mariadb.execute("SELECT 1") == [(1,)]


@pytest.mark.mariadb
def test_bad_option_fails_with_the_server_output(tmp_path: Path) -> None:
    bad = LocalMariaDB(tmp_path / "bad", extra_options={"no-such-option": "1"})
    with pytest.raises(TerminalError) as err:
        bad.start()
    assert "unknown variable 'no-such-option=1'" in str(err.value)
    assert not bad.running


@pytest.mark.mariadb
def test_failed_start_in_a_with_block_leaves_no_temp_dir() -> None:
    db = LocalMariaDB(extra_options={"no-such-option": "1"})
    with pytest.raises(TerminalError), db:
        pass
    assert not db.base_dir.exists()


def _cdc_connect(mariadb: LocalMariaDB, user: str, password: str) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=mariadb.host, port=mariadb.port, user=user, password=password, autocommit=True
    )


@pytest.mark.parametrize("statement", ["SHOW MASTER STATUS", "SHOW BINARY LOGS"])
def test_cdc_user_can_see_the_binlog(mariadb: LocalMariaDB, statement: str) -> None:
    conn = _cdc_connect(mariadb, mariadb.cdc_user, mariadb.cdc_password)  # type: ignore[attr-defined]
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            rows = cur.fetchall()
    finally:
        conn.close()
    assert rows and rows[0][0].startswith("mysql-bin.")


def test_a_select_only_user_cannot_see_the_binlog(mariadb: LocalMariaDB) -> None:
    mariadb.create_user("plain", "plain-pw", privileges=("SELECT",))
    conn = _cdc_connect(mariadb, "plain", "plain-pw")
    try:
        with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as err:
            cur.execute("SHOW BINARY LOGS")
    finally:
        conn.close()
    assert err.value.args[0] == 1227  # access denied: the CDC privileges are what make it work


def test_create_user_grants_on_one_database(mariadb: LocalMariaDB, fresh_db: str) -> None:
    mariadb.create_user("one db", "pw-1", privileges=("select", "insert"), on=f"{fresh_db}.*")
    grants = [g for (g,) in mariadb.execute("SHOW GRANTS FOR %s@%s", ("one db", "%"))]
    assert f"GRANT SELECT, INSERT ON {quote_ident(fresh_db)}.* TO `one db`@`%`" in grants


@pytest.mark.parametrize("privilege", ["SELECT; DROP TABLE x", "ALL`", "", "SELECT,INSERT"])
def test_create_user_refuses_what_is_not_a_privilege_name(mariadb: LocalMariaDB, privilege: str) -> None:
    with pytest.raises(ValueError):
        mariadb.create_user("x", "y", privileges=(privilege,))


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ("*.*", "*.*"),
        ("shop.*", "`shop`.*"),
        ("shop.orders", "`shop`.`orders`"),
        ("we`ird.t", "`we``ird`.`t`"),
        ("shop", ValueError),
        (".t", ValueError),
    ],
)
def test_grant_target(on: str, expected: str | type[Exception]) -> None:
    if isinstance(expected, str):
        assert _grant_target(on) == expected
    else:
        with pytest.raises(expected):
            _grant_target(on)


def test_cdc_user_reads_a_row_event_from_the_binlog(mariadb: LocalMariaDB, fresh_db: str) -> None:
    table = quote_table(fresh_db, "events")
    mariadb.execute(f"CREATE TABLE {table} (id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(20))")
    log_file, log_pos = mariadb.execute("SHOW MASTER STATUS")[0][:2]
    mariadb.execute(f"INSERT INTO {table} VALUES (%s, %s)", (2**64 - 1, "Søren 🚀"))

    reader = BinLogStreamReader(
        connection_settings={
            "host": mariadb.host,
            "port": mariadb.port,
            "user": mariadb.cdc_user,  # type: ignore[attr-defined]
            "password": mariadb.cdc_password,  # type: ignore[attr-defined]
        },
        server_id=4242,
        log_file=log_file,
        log_pos=log_pos,
        resume_stream=True,
        blocking=False,
        only_events=[WriteRowsEvent],
        only_schemas=[fresh_db],
    )
    try:
        event = next(iter(reader))
    finally:
        reader.close()
    assert event.table == "events"
    assert [row["values"] for row in event.rows] == [{"id": 2**64 - 1, "name": "Søren 🚀"}]


_CHILD = """
import os, signal, sys
from cdc_assets.local_mariadb import LocalMariaDB
db = LocalMariaDB(sys.argv[2] if len(sys.argv) > 2 else None, detach=sys.argv[1] == "detach").start()
print(db.pid, db.base_dir, flush=True)
if sys.argv[1] == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _wait_gone(pid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.mariadb
@pytest.mark.parametrize("ending", ["normal-exit", "sigkill"])
def test_a_server_does_not_outlive_the_process_that_started_it(tmp_path: Path, ending: str) -> None:
    # normal exit: the atexit handler stops the server and removes its temp base_dir.
    # SIGKILL: no Python code runs, the kernel's parent-death signal stops the server.
    base = [] if ending == "normal-exit" else [str(tmp_path / "srv")]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, ending, *base], capture_output=True, text=True, timeout=120
    )
    pid_text, base_dir = proc.stdout.split()
    pid = int(pid_text)
    try:
        assert _wait_gone(pid), f"server pid {pid} outlived its parent ({ending})"
        if ending == "normal-exit":
            assert proc.returncode == 0, proc.stderr
            assert not Path(base_dir).exists()
    finally:
        if _alive(pid):
            os.kill(pid, 9)


def _fake_server(folder: Path, name: str, version_line: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    path.chmod(0o755)
    return path


def test_find_server_binary_searches_path_then_the_sbin_folders(tmp_path: Path, monkeypatch) -> None:
    import cdc_assets.local_mariadb as lm

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(lm, "_SEARCH_DIRS", (tmp_path / "sbin",))
    assert find_server_binary() is None
    (tmp_path / "sbin").mkdir()
    fake = _fake_server(tmp_path / "sbin", "mysqld", "x")
    assert find_server_binary() == fake
    on_path = tmp_path / "bin"
    on_path.mkdir()
    monkeypatch.setenv("PATH", str(on_path))
    first = _fake_server(on_path, "mariadbd", "x")
    assert find_server_binary() == first


MARIADB_VERSION = (
    "/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
)
MYSQL_VERSION = "/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"


@pytest.mark.parametrize(
    ("version_line", "flavor", "version", "version_tuple"),
    [
        (MARIADB_VERSION, "mariadb", "10.11.19-MariaDB-0+deb12u1", (10, 11, 19)),
        (MYSQL_VERSION, "mysql", "8.0.36", (8, 0, 36)),
    ],
)
def test_flavor_and_version_come_from_the_binary(
    tmp_path: Path, version_line: str, flavor: str, version: str, version_tuple: tuple[int, int, int]
) -> None:
    db = LocalMariaDB(tmp_path, server_binary=_fake_server(tmp_path, "mysqld", version_line))
    assert (db.flavor, db.version, db.version_tuple) == (flavor, version, version_tuple)


@pytest.mark.parametrize(
    ("version_line", "present", "absent"),
    [
        (MARIADB_VERSION, {"gtid_strict_mode": "ON", "log_slave_updates": "ON"}, ("gtid_mode", "mysqlx")),
        (
            MYSQL_VERSION,
            {"gtid_mode": "ON", "enforce_gtid_consistency": "ON", "mysqlx": "OFF"},
            ("gtid_strict_mode", "log_slave_updates"),
        ),
    ],
)
def test_gtid_options_follow_the_flavor(
    tmp_path: Path, version_line: str, present: dict[str, str], absent: tuple[str, ...]
) -> None:
    db = LocalMariaDB(
        tmp_path,
        server_binary=_fake_server(tmp_path, "mysqld", version_line),
        extra_options={"binlog-format": "MIXED", "skip-log-bin": ""},
    )
    opts = db._config_options()
    assert present.items() <= opts.items()
    assert not set(absent) & set(opts)
    # extra options replace defaults however they are spelled
    assert opts["binlog-format"] == "MIXED" and "binlog_format" not in opts
    db._write_config()
    assert "\nskip-log-bin\n" in db.config_path.read_text()


@pytest.mark.parametrize(
    ("version_line", "granted"),
    [
        (MARIADB_VERSION, ["REPLICATION CLIENT", "BINLOG MONITOR", "SLAVE MONITOR"]),
        (MARIADB_VERSION.replace("10.11.19", "10.5.4"), ["REPLICATION CLIENT", "BINLOG MONITOR"]),
        (MARIADB_VERSION.replace("10.11.19", "10.4.30"), ["REPLICATION CLIENT"]),
        (MYSQL_VERSION, ["REPLICATION CLIENT"]),
    ],
)
def test_replication_client_is_translated_per_server(
    tmp_path: Path, version_line: str, granted: list[str]
) -> None:
    db = LocalMariaDB(tmp_path, server_binary=_fake_server(tmp_path, "mysqld", version_line))
    assert db._privileges_for_server(["replication  client"]) == granted


@pytest.mark.mariadb
def test_a_detached_server_outlives_its_process_and_is_stopped_by_base_dir(tmp_path: Path) -> None:
    base = tmp_path / "detached"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "detach", str(base)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.split()[0])
    try:
        assert _alive(pid)
        adopted = LocalMariaDB(base).start()  # adopts the running server: same process, same port
        assert adopted.pid == pid
        assert adopted.execute("SELECT @@pid_file") == [(str(base / "mysqld.pid"),)]
        LocalMariaDB(base).stop()  # a fresh object stops whatever runs on base_dir
        assert _wait_gone(pid)
        assert not adopted.running
    finally:
        if _alive(pid):
            os.kill(pid, 9)


@pytest.mark.mariadb
def test_start_adopts_a_server_already_running_on_base_dir(own_server: LocalMariaDB) -> None:
    twin = LocalMariaDB(own_server.base_dir, root_password="own-root-pw")
    assert twin.start().pid == own_server.pid and twin.port == own_server.port
    wrong_port = LocalMariaDB(own_server.base_dir, port=own_server.port + 1)
    with pytest.raises(TerminalError, match="pass port="):
        wrong_port.start()
    assert own_server.running
