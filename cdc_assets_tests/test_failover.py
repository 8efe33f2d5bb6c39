"""Failover: a pipeline streaming from a MariaDB primary under writes is stopped, pointed at the
replica (promoted to primary), and resumed by GTID: the target equals the source, and the changes
applied before and after the switch add up to exactly the changes written (none lost, none twice),
although the replica's binlog files and positions are its own."""

from __future__ import annotations

import logging
import random
import threading
import time

import duckdb
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.sql import quote_ident
from cdc_assets.engine.sync import run_sync
from cdc_assets.errors import TerminalError
from cdc_assets.local_mariadb import LocalMariaDB
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import CDC_PASSWORD, CDC_USER, MySQLSource
from cdc_assets_tests.pipelines import PASSWORD_ENV, assert_identical, write_pipeline

DB = "shop"


@pytest.fixture
def primary_and_replica():
    """Two private servers (server ids 1 and 2); the second replicates from the first by GTID
    (MASTER_USE_GTID=slave_pos, log_slave_updates=ON), from an empty binlog of its own."""
    primary, replica = LocalMariaDB(server_id=1), LocalMariaDB(server_id=2)
    try:
        primary.start()
        replica.start()
        for server in (primary, replica):
            server.create_user(CDC_USER, CDC_PASSWORD)
        primary.execute("FLUSH BINARY LOGS")  # the primary's file numbers run ahead of the replica's
        primary.execute("FLUSH BINARY LOGS")
        (gtid,) = primary.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0]
        replica.execute("RESET MASTER")  # its own set-up stays out of the binlog it will serve
        replica.execute("SET GLOBAL gtid_slave_pos = %s", (gtid,))
        replica.execute(
            "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = 'root', MASTER_PASSWORD = '', "
            "MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
            (primary.host, primary.port),
        )
        replica.execute("START SLAVE")
        yield primary, replica
    finally:
        replica.cleanup()
        primary.cleanup()


class Writer(threading.Thread):
    """Inserts, updates and deletes rows of ``shop.orders`` until stopped, counting row changes."""

    def __init__(self, server: LocalMariaDB, ids: set[int], next_id: int, seed: int):
        super().__init__(daemon=True)
        self.server, self.ids, self.next_id = server, ids, next_id
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.changes = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = self.server.connect(DB)
            try:
                with conn.cursor() as cur:
                    while not self.stop.is_set():
                        self.changes += self.step(cur)
                        time.sleep(0.002)
            finally:
                conn.close()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def step(self, cur) -> int:
        op = self.rng.random()
        if op < 0.45 or len(self.ids) < 10:
            n = self.rng.randint(1, 5)
            new = list(range(self.next_id, self.next_id + n))
            self.next_id += n
            cur.execute(
                "INSERT INTO orders (id, qty, note) VALUES " + ", ".join(["(%s, %s, %s)"] * n),
                [v for i in new for v in (i, i % 7, f"n{i}")],
            )
            self.ids.update(new)
            return n
        if op < 0.8:
            picked = self.rng.sample(sorted(self.ids), self.rng.randint(1, 3))
            cur.execute("BEGIN")
            for i in picked:
                cur.execute("UPDATE orders SET qty = qty + 1, note = CONCAT(note, '+') WHERE id = %s", (i,))
            cur.execute("COMMIT")
            return len(picked)
        victim = self.rng.choice(sorted(self.ids))
        cur.execute("DELETE FROM orders WHERE id = %s", (victim,))
        self.ids.discard(victim)
        return 1


def _source(server: LocalMariaDB) -> MySQLSource:
    return MySQLSource(server.host, server.port, CDC_USER, CDC_PASSWORD, server)


def _pipeline(tmp_path, server: LocalMariaDB):
    """The same pipeline file (same state folder) naming ``server`` as its source."""
    path = write_pipeline(tmp_path, _source(server), DB)
    return path, load_pipeline(path, env={PASSWORD_ENV: CDC_PASSWORD})


def _wait_replicated(primary: LocalMariaDB, replica: LocalMariaDB) -> None:
    (gtid,) = primary.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0]
    (status,) = replica.execute("SELECT MASTER_GTID_WAIT(%s, 60)", (gtid,))[0]
    assert status == 0, f"the replica did not reach {gtid} within 60 s"


def _master_status(server: LocalMariaDB) -> tuple[str, int]:
    file, pos = server.execute("SHOW MASTER STATUS")[0][:2]
    return str(file), int(pos)


def test_resume_on_the_replica_after_a_failover_loses_and_repeats_nothing(
    primary_and_replica, tmp_path, caplog
):
    primary, replica = primary_and_replica
    primary.execute(f"CREATE DATABASE {quote_ident(DB)}")
    primary.execute(
        f"CREATE TABLE {quote_ident(DB)}.orders (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(200))"
    )
    ids = set(range(1, 201))
    primary.execute(
        f"INSERT INTO {quote_ident(DB)}.orders VALUES " + ", ".join(f"({i}, {i % 7}, 'n{i}')" for i in ids)
    )
    _, cfg = _pipeline(tmp_path, primary)
    first = run_sync(cfg, until_caught_up=True)  # snapshot of the 200 rows, then the stream
    assert first.snapshot_rows == 200

    # Stream from the primary under writes, and stop it while the writes go on.
    writer = Writer(primary, ids, 1000, seed=5)
    writer.start()
    stop = threading.Event()
    before: dict = {}
    streaming = threading.Thread(target=lambda: before.update(s=run_sync(cfg, stop=stop)), daemon=True)
    streaming.start()
    time.sleep(4)
    stop.set()
    streaming.join(timeout=60)
    assert not streaming.is_alive()
    time.sleep(1)  # changes the pipeline has not read: after the failover only the replica has them
    writer.stop.set()
    writer.join(timeout=30)
    assert writer.error is None, writer.error
    with StateStore(cfg.state_dir) as st:
        on_primary = st.restart_point()
    assert on_primary.server_id == 1 and on_primary.gtid_set is not None
    assert before["s"].stream.rows > 0 and before["s"].stream.rows < writer.changes

    # Failover: the replica has everything, the primary goes away, the replica takes the writes.
    _wait_replicated(primary, replica)
    primary_end = _master_status(primary)
    primary.stop()
    replica.execute("STOP SLAVE")
    replica.execute("RESET SLAVE ALL")
    after_writer = Writer(replica, ids, writer.next_id, seed=6)
    conn = replica.connect(DB)
    try:
        with conn.cursor() as cur:
            for _ in range(60):
                after_writer.changes += after_writer.step(cur)
    finally:
        conn.close()
    replica_end = _master_status(replica)
    assert replica_end != primary_end  # the replica's binlog coordinates are its own

    # Point the pipeline at the replica (hostname/port only; same state folder) and resume.
    path, cfg = _pipeline(tmp_path, replica)
    with caplog.at_level(logging.WARNING, logger="cdc_assets.mysql.resume"):
        after = run_sync(cfg, until_caught_up=True)
    assert any(
        "by GTID set" in r.getMessage() and "server_id 1, this one has 2" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
    assert after.snapshot_rows == 0
    # every change exactly once: those applied from the primary plus those from the replica
    assert before["s"].stream.rows + after.stream.rows == writer.changes + after_writer.changes
    assert_identical(path, _source(replica), DB, ["orders"])
    with StateStore(cfg.state_dir) as st:
        on_replica = st.restart_point()
    assert on_replica.server_id == 2 and (on_replica.position.file, on_replica.position.pos) == replica_end
    (replica_gtid,) = replica.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0]
    assert str(on_replica.gtid_set) == replica_gtid

    # The saved point is the replica's own now: the next run resumes by position, nothing to redo.
    caplog.clear()
    replica.execute(f"UPDATE {quote_ident(DB)}.orders SET qty = qty + 100 WHERE id = %s", (min(ids),))
    with caplog.at_level(logging.WARNING, logger="cdc_assets.mysql.resume"):
        again = run_sync(cfg, until_caught_up=True)
    assert again.stream.rows == 1 and not [r for r in caplog.records if "by GTID" in r.getMessage()]
    with duckdb.connect(str(tmp_path / "target.duckdb"), read_only=True) as con:
        (qty,) = con.execute(f'SELECT qty FROM "{DB}"."orders" WHERE id = ?', [min(ids)]).fetchone()
    assert qty >= 100


def test_a_replica_behind_the_restart_point_is_refused_until_it_caught_up(primary_and_replica, tmp_path):
    primary, replica = primary_and_replica
    primary.execute(f"CREATE DATABASE {quote_ident(DB)}")
    primary.execute(
        f"CREATE TABLE {quote_ident(DB)}.orders (id INT PRIMARY KEY, qty INT NOT NULL, note TEXT)"
    )
    primary.execute(f"INSERT INTO {quote_ident(DB)}.orders VALUES (1, 1, 'a'), (2, 2, 'b')")
    _wait_replicated(primary, replica)
    replica.execute("STOP SLAVE")  # the replica falls behind
    primary.execute(f"INSERT INTO {quote_ident(DB)}.orders VALUES (3, 3, 'c')")
    _, cfg = _pipeline(tmp_path, primary)
    assert run_sync(cfg, until_caught_up=True).snapshot_rows == 3  # the pipeline has row 3

    path, cfg = _pipeline(tmp_path, replica)
    with pytest.raises(TerminalError) as info:
        run_sync(cfg, until_caught_up=True)
    message = str(info.value)
    assert "lacks transactions the restart point counts as applied" in message and "wait until" in message
    with StateStore(cfg.state_dir) as st:
        assert st.restart_point().server_id == 1  # nothing was moved

    replica.execute("START SLAVE")
    _wait_replicated(primary, replica)
    primary.stop()
    resumed = run_sync(cfg, until_caught_up=True)
    assert resumed.stream.rows == 0 and resumed.stream.caught_up
    assert_identical(path, _source(replica), DB, ["orders"])
