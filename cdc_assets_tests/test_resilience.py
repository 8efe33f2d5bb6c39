"""Streaming through trouble, against a real MariaDB: dropped binlog connections (KILL, server restart,
a proxy cutting the stream mid-event), refused logins, heartbeats while captured tables are idle,
purged binlogs, and lag near the binlog retention."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

import pymysql
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.offsets import BinlogPosition
from cdc_assets.core.sql import quote_ident
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.streaming import FlushInfo
from cdc_assets.engine.sync import run_sync
from cdc_assets.errors import AuthenticationError, BinlogPurgedError, TransientError
from cdc_assets.mysql.retention import find_purged
from cdc_assets.mysql.server import current_position
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import MySQLSource
from cdc_assets_tests.pipelines import PASSWORD_ENV, assert_identical, write_pipeline
from cdc_assets_tests.tcp_proxy import ProxyProcess

PAD = "x" * 150  # makes row events long, so a cut lands inside one


@pytest.fixture
def tables(mysql_source, fresh_db):
    db = quote_ident(fresh_db)
    mysql_source.server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(200), n INT)")
    mysql_source.server.execute(f"CREATE TABLE {db}.other (id INT PRIMARY KEY, v VARCHAR(200))")
    mysql_source.server.execute(f"INSERT INTO {db}.t VALUES (1, 'a', 0), (2, 'b', 0)")
    mysql_source.server.execute(f"INSERT INTO {db}.other VALUES (1, 'a')")
    return fresh_db


def _cfg(tmp_path, source, db, extra: str = ""):
    return load_pipeline(
        write_pipeline(tmp_path, source, db, extra_source=extra), env={PASSWORD_ENV: source.password}
    )


_STARTED: list[Streaming] = []


@pytest.fixture(autouse=True)
def _stop_streams():
    """A failed test stops its streams too: a stream left running would share the next test's server id."""
    yield
    while _STARTED:
        s = _STARTED.pop()
        s.stop.set()
        s.thread.join(30)


class Streaming:
    """``run_sync`` streaming forever in a thread; ``finish()`` stops it and returns its summary."""

    def __init__(self, cfg):
        _STARTED.append(self)
        self.stop = threading.Event()
        self.flushes: list[FlushInfo] = []
        self.error: BaseException | None = None
        self.summary = None
        self.thread = threading.Thread(target=self._run, args=(cfg,), daemon=True)
        self.thread.start()

    def _run(self, cfg) -> None:
        try:
            self.summary = run_sync(cfg, stop=self.stop, on_flush=self.flushes.append)
        except BaseException as exc:  # handed to the test thread
            self.error = exc

    def wait(self, cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if self.error is not None:
                raise AssertionError(f"the stream failed while waiting for {what}") from self.error
            assert time.monotonic() < end, f"timed out waiting for {what}"
            time.sleep(0.1)

    def wait_caught_up(self, server, timeout: float = 90) -> None:
        file, pos = server.execute("SHOW MASTER STATUS")[0][:2]
        end = BinlogPosition(str(file), int(pos))
        self.wait(
            lambda: bool(self.flushes) and self.flushes[-1].point.position >= end,
            f"the stream to reach {end}",
            timeout,
        )

    def finish(self, timeout: float = 30):
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the stream did not stop"
        if self.error is not None:
            raise self.error
        return self.summary.stream


class Writer:
    """Transactions across both tables in a thread (inserts, multi-row updates, deletes); survives the
    server going away (waits for it and goes on: the source is the truth the target is compared with)."""

    def __init__(self, server, db: str, first: int, count: int, pause: float = 0.002):
        self.server, self.db, self.first, self.count, self.pause = (
            server,
            quote_ident(db),
            first,
            count,
            pause,
        )
        self.done = 0
        self.stop = threading.Event()  # ends the writer early
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn = None
        for i in range(self.first, self.first + self.count):
            if self.stop.is_set():
                break
            while True:
                try:
                    if conn is None:
                        conn = self.server.connect()
                    with conn.cursor() as cur:
                        cur.execute("BEGIN")
                        cur.execute(f"INSERT INTO {self.db}.t VALUES (%s, %s, 0)", (i, f"{PAD}{i}"))
                        cur.execute(
                            f"UPDATE {self.db}.t SET n = n + 1 WHERE id BETWEEN %s AND %s", (i - 10, i)
                        )
                        if i % 3 == 0:
                            cur.execute(f"DELETE FROM {self.db}.t WHERE id = %s", (i - 20,))
                        cur.execute(f"REPLACE INTO {self.db}.other VALUES (%s, %s)", (i % 50, f"{PAD}{i}"))
                        cur.execute("COMMIT")
                    break
                except (pymysql.err.MySQLError, OSError):  # the server restarts: try this one again
                    if conn is not None:
                        try:
                            conn.close()
                        except Exception:
                            pass
                    conn = None
                    time.sleep(0.3)
            self.done = i - self.first + 1
            time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def join(self, timeout: float = 120) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the writer did not finish"


def _dump_threads(server, user: str) -> list[int]:
    rows = server.execute(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump' AND USER = %s", (user,)
    )
    return [int(r[0]) for r in rows]


def _kill_dump(server, user: str) -> None:
    ids: list[int] = []
    end = time.monotonic() + 30
    while not ids:
        assert time.monotonic() < end, "no Binlog Dump connection to kill"
        ids = _dump_threads(server, user)
        time.sleep(0.05)
    for thread_id in ids:
        server.execute(f"KILL {int(thread_id)}")


def _reconnect_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "cdc_assets.engine.reconnect"]


# ---- reconnects ---------------------------------------------------------------------------------


def test_killed_binlog_connection_is_resumed_without_loss_or_duplicates(
    mysql_source, tables, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="cdc_assets.engine.reconnect")
    cfg = _cfg(tmp_path, mysql_source, tables)
    stream = Streaming(cfg)
    stream.wait(lambda: bool(stream.flushes), "the first flush")
    writer = Writer(mysql_source.server, tables, 100, 400)
    for kill_at in (80, 240):
        stream.wait(lambda k=kill_at: writer.done >= k, f"{kill_at} transactions written")
        _kill_dump(mysql_source.server, mysql_source.user)
        # the next kill only after the stream came back and moved on
        seen = len(stream.flushes)
        stream.wait(lambda s=seen: len(stream.flushes) > s + 2, "flushes after the reconnect")
    writer.join()
    stream.wait_caught_up(mysql_source.server)
    result = stream.finish()
    assert result.reconnects == 2
    assert_identical(write_pipeline(tmp_path, mysql_source, tables), mysql_source, tables, ["t", "other"])
    broke = [m for m in _reconnect_lines(caplog) if "broke" in m]
    assert len(broke) == 2, broke
    where = f"{mysql_source.host}:{mysql_source.port}"
    assert all(where in m and "resuming from" in m and "(attempt 1 of 3)" in m for m in broke), broke
    assert all(mysql_source.password not in m for m in _reconnect_lines(caplog))


def test_server_restart_during_writes_is_survived(mysql_source, tables, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cdc_assets.engine.reconnect")
    cfg = _cfg(tmp_path, mysql_source, tables, "  connect.max-retries: 8")
    stream = Streaming(cfg)
    stream.wait(lambda: bool(stream.flushes), "the first flush")
    writer = Writer(mysql_source.server, tables, 100, 300)
    stream.wait(lambda: writer.done >= 100, "100 transactions written")
    mysql_source.server.restart()
    writer.join()
    stream.wait_caught_up(mysql_source.server)
    result = stream.finish()
    assert result.reconnects >= 1
    assert any("resumed at" in m for m in _reconnect_lines(caplog))
    assert_identical(write_pipeline(tmp_path, mysql_source, tables), mysql_source, tables, ["t", "other"])


def test_a_proxy_cutting_the_stream_mid_event_loses_nothing(mysql_source, tables, tmp_path):
    with ProxyProcess(mysql_source.host, mysql_source.port) as proxy:
        via = MySQLSource(
            mysql_source.host, proxy.port, mysql_source.user, mysql_source.password, mysql_source.server
        )
        cfg = _cfg(tmp_path, via, tables)
        stream = Streaming(cfg)
        stream.wait(lambda: bool(stream.flushes), "the first flush")
        writer = Writer(mysql_source.server, tables, 100, 100_000, pause=0.005)  # until stopped
        try:
            # bytes from the server before each cut: a transaction here is ~5 kB in ~1-2 kB row events,
            # so a cut almost surely lands inside an event (and inside a transaction)
            for n, budget in enumerate((20_011, 7_777, 131_071)):
                seen = len(stream.flushes)
                stream.wait(lambda s=seen: len(stream.flushes) > s + 1, f"flushes before cut {n + 1}")
                proxy.cut_after(budget)
                stream.wait(lambda k=n: proxy.cuts > k, f"the proxy to cut the stream (cut {n + 1})")
            seen = len(stream.flushes)
            stream.wait(lambda s=seen: len(stream.flushes) > s + 1, "flushes after the last cut")
        finally:
            writer.stop.set()
            writer.join()
        assert writer.done > 50
        stream.wait_caught_up(mysql_source.server)
        result = stream.finish()
        assert result.reconnects == 3
        assert_identical(write_pipeline(tmp_path, via, tables), via, tables, ["t", "other"])


def test_reconnecting_gives_up_after_max_retries_naming_server_and_options(mysql_source, tables, tmp_path):
    with ProxyProcess(mysql_source.host, mysql_source.port) as proxy:
        via = MySQLSource(
            mysql_source.host, proxy.port, mysql_source.user, mysql_source.password, mysql_source.server
        )
        cfg = _cfg(tmp_path, via, tables, "  connect.max-retries: 2\n  connect.timeout: 1s")
        stream = Streaming(cfg)
        stream.wait(lambda: bool(stream.flushes), "the first flush")
        proxy.refuse(True)
        proxy.cut_after(0)  # the next bytes from the server (a heartbeat within a second) end the stream
        stream.thread.join(30)
        assert not stream.thread.is_alive(), "the stream kept retrying"
    err = stream.error
    assert isinstance(err, TransientError), err
    text = str(err)
    assert f"127.0.0.1:{proxy.port}" in text
    assert "source.connect.max-retries: 2" in text and "source.connect.timeout: 1s" in text
    assert "2 consecutive failed attempts" in text
    assert mysql_source.password not in text


def test_a_changed_password_at_reconnect_is_terminal_at_once(mysql_source, tables, tmp_path):
    user, password = f"pw_{uuid.uuid4().hex[:8]}", "first-secret-pw"
    mysql_source.server.create_user(user, password)
    try:
        me = MySQLSource(mysql_source.host, mysql_source.port, user, password, mysql_source.server)
        stream = Streaming(_cfg(tmp_path, me, tables, "  connect.max-retries: 5"))
        stream.wait(lambda: bool(stream.flushes), "the first flush")
        mysql_source.server.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, "second-secret-pw"))
        started = time.monotonic()
        _kill_dump(mysql_source.server, user)
        stream.thread.join(20)
        assert not stream.thread.is_alive()
        # one backoff wait (0.5 s), then the refusal ends the stream: no further attempts
        assert time.monotonic() - started < 10
        assert isinstance(stream.error, AuthenticationError), stream.error
        assert user in str(stream.error) and "first-secret-pw" not in str(stream.error)
    finally:
        mysql_source.server.execute("DROP USER IF EXISTS %s@'%%'", (user,))


def test_missing_replication_slave_privilege_is_terminal_not_retried(mysql_source, tables, tmp_path):
    user, password = f"norepl_{uuid.uuid4().hex[:8]}", "norepl-secret-pw"
    mysql_source.server.create_user(
        user, password, privileges=("SELECT", "RELOAD", "SHOW DATABASES", "REPLICATION CLIENT")
    )
    try:
        me = MySQLSource(mysql_source.host, mysql_source.port, user, password, mysql_source.server)
        cfg = _cfg(tmp_path, me, tables, "  connect.max-retries: 5")
        run_sync(cfg, until_caught_up=True)  # the snapshot needs no binlog; caught up at once
        mysql_source.server.execute(f"INSERT INTO {quote_ident(tables)}.t VALUES (3, 'c', 0)")
        started = time.monotonic()
        with pytest.raises(AuthenticationError, match="REPLICATION SLAVE") as info:
            run_sync(cfg, until_caught_up=True)
        assert time.monotonic() - started < 20  # 5 retries would take 0.5+1+2+4+8 s more
        assert password not in str(info.value)
    finally:
        mysql_source.server.execute("DROP USER IF EXISTS %s@'%%'", (user,))


# ---- heartbeats ---------------------------------------------------------------------------------


def test_restart_point_and_lag_move_while_captured_tables_are_idle(mysql_source, tables, tmp_path):
    server = mysql_source.server
    busy = f"busy_{uuid.uuid4().hex[:8]}"  # another database: not captured
    server.execute(f"CREATE DATABASE {quote_ident(busy)}")
    try:
        server.execute(f"CREATE TABLE {quote_ident(busy)}.b (id INT PRIMARY KEY)")
        cfg = _cfg(tmp_path, mysql_source, tables)
        stream = Streaming(cfg)
        stream.wait(lambda: bool(stream.flushes), "the first flush")
        # other tables busy, captured ones idle: the saved restart point follows the binlog to its end
        for i in range(20):
            server.execute(f"INSERT INTO {quote_ident(busy)}.b VALUES (%s)", (i,))
        stream.wait_caught_up(server, timeout=30)
        end = server.execute("SHOW MASTER STATUS")[0]
        saved = _saved(cfg)
        assert (saved.position.file, saved.position.pos) == (end[0], int(end[1]))
        assert all(not f.rows for f in stream.flushes)
        # the last captured change stamped an hour ago, then the server idle: the lag measured from that
        # change would be an hour and growing; heartbeats say the stream is current, and keep saving
        conn = server.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET TIMESTAMP = UNIX_TIMESTAMP() - 3600")
                cur.execute(f"INSERT INTO {quote_ident(tables)}.t VALUES (500, 'old', 0)")
        finally:
            conn.close()
        stream.wait(lambda: any(f.rows for f in stream.flushes), "the captured change")
        count = len(stream.flushes)
        stream.wait(lambda: len(stream.flushes) >= count + 3, "heartbeat saves while idle", timeout=20)
        idle = stream.flushes[count:]
        assert all(not f.rows for f in idle)
        assert all(f.lag_seconds is not None and f.lag_seconds < 30 for f in idle), [
            f.lag_seconds for f in idle
        ]
        times = [f.point.event_time for f in idle]
        assert times == sorted(times) and times[-1] > times[0]
        end = server.execute("SHOW MASTER STATUS")[0]
        assert (idle[-1].point.position.file, idle[-1].point.position.pos) == (end[0], int(end[1]))
        stream.finish()
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {quote_ident(busy)}")


def test_heartbeat_interval_zero_keeps_the_restart_point_until_changes_or_stop(
    mysql_source, tables, tmp_path
):
    server = mysql_source.server
    busy = f"busy_{uuid.uuid4().hex[:8]}"
    server.execute(f"CREATE DATABASE {quote_ident(busy)}")
    try:
        server.execute(f"CREATE TABLE {quote_ident(busy)}.b (id INT PRIMARY KEY)")
        path = write_pipeline(tmp_path, mysql_source, tables)
        path.write_text(path.read_text().replace("heartbeat.interval: 1s", "heartbeat.interval: 0s"))
        cfg = load_pipeline(path, env={PASSWORD_ENV: mysql_source.password})
        stream = Streaming(cfg)
        stream.wait(lambda: stream.summary is None and _saved(cfg) is not None, "the stream to start")
        time.sleep(2)
        before = _saved(cfg)
        for i in range(10):
            server.execute(f"INSERT INTO {quote_ident(busy)}.b VALUES (%s)", (i,))
        time.sleep(3)
        assert _saved(cfg) == before  # idle captured tables: nothing saved with heartbeats off
        result = stream.finish()
        end = server.execute("SHOW MASTER STATUS")[0]
        assert (result.point.position.file, result.point.position.pos) == (
            end[0],
            int(end[1]),
        )  # saved on stop
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {quote_ident(busy)}")


def _saved(cfg):
    with StateStore(cfg.state_dir) as st:
        return st.restart_point()


# ---- purged binlogs ------------------------------------------------------------------------------


def _purge_all_but_newest(server) -> tuple[str, str]:
    """FLUSH, then PURGE every binlog but the new one; returns (a purged file, the oldest left)."""
    old = server.execute("SHOW MASTER STATUS")[0][0]
    server.execute("FLUSH BINARY LOGS")
    newest = server.execute("SHOW MASTER STATUS")[0][0]
    end = time.monotonic() + 20
    while True:  # MariaDB keeps a binlog until its binlog checkpoint is written (just after FLUSH)
        server.execute("PURGE BINARY LOGS TO %s", (newest,))
        left = [r[0] for r in server.execute("SHOW BINARY LOGS")]
        if old not in left:
            break
        assert time.monotonic() < end, f"PURGE left {old}: {left}"
        time.sleep(0.2)
    return old, left[0]


def test_a_purged_restart_point_fails_with_what_is_gone_and_what_to_do(mysql_source, tables, tmp_path):
    cfg = _cfg(tmp_path, mysql_source, tables)
    run_sync(cfg, until_caught_up=True)
    saved = _saved(cfg)
    mysql_source.server.execute(f"INSERT INTO {quote_ident(tables)}.t VALUES (700, 'lost', 0)")
    purged, oldest = _purge_all_but_newest(mysql_source.server)
    assert saved.position.file == purged
    with pytest.raises(BinlogPurgedError) as info:
        run_sync(cfg, until_caught_up=True)
    text = str(info.value)
    assert str(saved.position) in text and f"binlog {purged} was purged" in text
    assert f"the oldest binlog still there is {oldest}" in text
    assert "source.scan.binlog.purged.action: resnapshot" in text and str(cfg.state_dir) in text
    assert _saved(cfg) == saved  # nothing changed


def test_purged_gtids_are_found_on_mariadb(mysql_source, tables, tmp_path):
    cfg = _cfg(tmp_path, mysql_source, tables)
    run_sync(cfg, until_caught_up=True)
    old = _saved(cfg)
    mysql_source.server.execute(f"INSERT INTO {quote_ident(tables)}.t VALUES (701, 'x', 0)")
    _purge_all_but_newest(mysql_source.server)
    mysql_source.server.execute(f"INSERT INTO {quote_ident(tables)}.t VALUES (702, 'y', 0)")
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        with ctx.connect() as conn:
            gone = find_purged(conn, ctx.settings, ctx.server, old, by_gtid=True)
            assert gone is not None and "were purged" in gone.missing
            end = current_position(conn, ctx.settings, ctx.server)
            assert find_purged(conn, ctx.settings, ctx.server, end, by_gtid=True) is None
            assert find_purged(conn, ctx.settings, ctx.server, end, by_gtid=False) is None
    finally:
        ctx.close()


def test_resnapshot_action_reloads_the_tables_and_streams_on(mysql_source, tables, tmp_path):
    cfg = _cfg(tmp_path, mysql_source, tables, "  scan.binlog.purged.action: resnapshot")
    run_sync(cfg, until_caught_up=True)
    db = quote_ident(tables)
    for i in range(10, 40):
        mysql_source.server.execute(f"INSERT INTO {db}.t VALUES (%s, 'p', 0)", (i,))
    run_sync(cfg, until_caught_up=True)
    # changes the pipeline will never read: a delete (the target must lose the row), an update, inserts
    mysql_source.server.execute(f"DELETE FROM {db}.t WHERE id < 20")
    mysql_source.server.execute(f"UPDATE {db}.other SET v = 'changed'")
    mysql_source.server.execute(f"INSERT INTO {db}.t VALUES (800, 'gone binlog', 0)")
    _purge_all_but_newest(mysql_source.server)
    summary = run_sync(cfg, until_caught_up=True)
    assert summary.snapshot_rows == 0  # the snapshot ran inside the stream's start, not before it
    assert_identical(write_pipeline(tmp_path, mysql_source, tables), mysql_source, tables, ["t", "other"])
    with StateStore(cfg.state_dir) as st:
        assert all(s.phase == "snapshotted" for s in st.tables().values())
    # and streaming goes on from the new watermarks
    mysql_source.server.execute(f"INSERT INTO {db}.t VALUES (801, 'after', 0)")
    mysql_source.server.execute(f"DELETE FROM {db}.t WHERE id = 800")
    run_sync(cfg, until_caught_up=True)
    assert_identical(write_pipeline(tmp_path, mysql_source, tables), mysql_source, tables, ["t", "other"])


# ---- lag versus retention ------------------------------------------------------------------------


@pytest.fixture
def one_day_retention(mysql_source):
    server = mysql_source.server
    (before,) = server.execute("SELECT @@GLOBAL.binlog_expire_logs_seconds")[0]
    server.execute("SET GLOBAL binlog_expire_logs_seconds = 86400")
    try:
        yield 86400
    finally:
        server.execute("SET GLOBAL binlog_expire_logs_seconds = %s", (int(before),))


def test_lag_past_the_share_of_binlog_retention_is_warned(
    mysql_source, tables, tmp_path, one_day_retention, caplog
):
    caplog.set_level(logging.WARNING, logger="cdc_assets.engine.binlog_retention")
    cfg = _cfg(tmp_path, mysql_source, tables)
    run_sync(cfg, until_caught_up=True)
    conn = mysql_source.server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET TIMESTAMP = UNIX_TIMESTAMP() - 50000")  # 58% of a day: past the default 50%
            cur.execute(f"INSERT INTO {quote_ident(tables)}.t VALUES (900, 'late', 0)")
    finally:
        conn.close()
    flushes: list[FlushInfo] = []
    run_sync(cfg, until_caught_up=True, on_flush=flushes.append)
    warned = [f for f in flushes if f.rows]
    assert warned and warned[-1].retention_warning is not None
    assert "binlog_expire_logs_seconds = 86,400s" in warned[-1].retention_warning
    assert any("binlog retention" in r.getMessage() for r in caplog.records)
    # a current change: no warning
    mysql_source.server.execute(f"INSERT INTO {quote_ident(tables)}.t VALUES (901, 'now', 0)")
    flushes.clear()
    run_sync(cfg, until_caught_up=True, on_flush=flushes.append)
    assert [f.retention_warning for f in flushes if f.rows] == [None]


def test_retention_warning_ratio_is_configurable_and_zero_disables(
    mysql_source, tables, tmp_path, one_day_retention
):
    for ratio, expect in (("0.2", True), ("0.5", False), ("0", False)):
        sub = tmp_path / ratio
        sub.mkdir()
        cfg = _cfg(sub, mysql_source, tables, f"  scan.binlog.retention-warning.ratio: {ratio}")
        run_sync(cfg, until_caught_up=True)
        conn = mysql_source.server.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET TIMESTAMP = UNIX_TIMESTAMP() - 20000")  # 23% of a day
                cur.execute(f"UPDATE {quote_ident(tables)}.t SET n = n + 1 WHERE id = 1")
        finally:
            conn.close()
        flushes: list[FlushInfo] = []
        run_sync(cfg, until_caught_up=True, on_flush=flushes.append)
        got = [f.retention_warning is not None for f in flushes if f.rows]
        assert got == [expect], (ratio, got)
