"""Startup modes that take no snapshot (latest-offset, earliest-offset, specific-offset, timestamp),
against the session's real MariaDB: rows committed before the offset stay out of the target, rows
after it are applied, and a bad offset is refused with the option's name."""

from __future__ import annotations

import math
import threading
import time

import duckdb
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.offsets import MariaDbGtidSet, RestartPoint
from cdc_assets.core.sql import quote_ident
from cdc_assets.engine.sync import run_sync
from cdc_assets.errors import ConfigError, TerminalError
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import PASSWORD_ENV, write_pipeline


@pytest.fixture
def db(mysql_source, fresh_db):
    mysql_source.server.execute(f"CREATE TABLE {quote_ident(fresh_db)}.t (id INT PRIMARY KEY, v VARCHAR(20))")
    return fresh_db


def _insert(server, db: str, *ids: int) -> None:
    """One transaction (and one rows event) inserting ``ids``."""
    rows = ", ".join(f"({i}, 'v{i}')" for i in ids)
    server.execute(f"INSERT INTO {quote_ident(db)}.t VALUES {rows}")


def _sync(tmp_path, mysql_source, db: str, options: str):
    cfg = load_pipeline(
        write_pipeline(tmp_path, mysql_source, db, extra_source=options),
        env={PASSWORD_ENV: mysql_source.password},
    )
    return cfg, run_sync(cfg, until_caught_up=True)


def _target_ids(tmp_path, db: str) -> list[int]:
    with duckdb.connect(str(tmp_path / "target.duckdb"), read_only=True) as con:
        return [r[0] for r in con.execute(f'SELECT id FROM "{db}"."t" ORDER BY id').fetchall()]


def _master_status(server) -> tuple[str, int]:
    file, pos = server.execute("SHOW MASTER STATUS")[0][:2]
    return str(file), int(pos)


def test_latest_offset_creates_the_target_and_applies_only_later_rows(mysql_source, db, tmp_path):
    server = mysql_source.server
    _insert(server, db, 1, 2)
    cfg, first = _sync(tmp_path, mysql_source, db, "  scan.startup.mode: latest-offset\n")
    assert first.snapshot_rows == 0 and first.stream.rows == 0
    assert _target_ids(tmp_path, db) == []  # the table exists, without the earlier rows
    _insert(server, db, 3)
    second = run_sync(cfg, until_caught_up=True)
    assert second.stream.rows == 1 and _target_ids(tmp_path, db) == [3]


def test_earliest_offset_reads_from_the_oldest_binlog(mysql_source, db, tmp_path):
    server = mysql_source.server
    _insert(server, db, 1, 2)
    server.execute("FLUSH BINARY LOGS")  # the rows above are in an older file than the binlog end
    _insert(server, db, 3)
    oldest = server.execute("SHOW BINARY LOGS")[0][0]
    cfg, result = _sync(tmp_path, mysql_source, db, "  scan.startup.mode: earliest-offset\n")
    assert result.snapshot_rows == 0 and result.stream.rows == 3
    assert _target_ids(tmp_path, db) == [1, 2, 3]
    with StateStore(cfg.state_dir) as st:
        point = st.restart_point()
    assert point.position is not None and point.position.file != oldest  # it read on past the oldest file


def test_specific_offset_by_file_and_position_with_skips(mysql_source, db, tmp_path):
    server = mysql_source.server
    _insert(server, db, 1, 2)
    file, pos = _master_status(server)
    _insert(server, db, 10, 11, 12)  # skipped: the first rows event after the offset
    _insert(server, db, 20, 21)  # 20 skipped: the first row after that
    _insert(server, db, 30)
    options = (
        "  scan.startup.mode: specific-offset\n"
        f"  scan.startup.specific-offset.file: {file}\n"
        f"  scan.startup.specific-offset.pos: {pos}\n"
        "  scan.startup.specific-offset.skip-events: 1\n"
        "  scan.startup.specific-offset.skip-rows: 1\n"
    )
    cfg, result = _sync(tmp_path, mysql_source, db, options)
    assert result.stream.rows == 2 and _target_ids(tmp_path, db) == [21, 30]
    with StateStore(cfg.state_dir) as st:
        point = st.restart_point()
    assert (point.skip_events, point.skip_rows) == (0, 0)  # used up: a later run skips nothing more
    assert point.server_id == server.server_id
    _insert(server, db, 40)
    again = run_sync(cfg, until_caught_up=True)
    assert again.stream.rows == 1 and _target_ids(tmp_path, db) == [21, 30, 40]


def test_specific_offset_without_skips_starts_right_after_the_offset(mysql_source, db, tmp_path):
    server = mysql_source.server
    _insert(server, db, 1)
    file, pos = _master_status(server)
    _insert(server, db, 2)
    options = (
        "  scan.startup.mode: specific-offset\n"
        f"  scan.startup.specific-offset.file: {file}\n  scan.startup.specific-offset.pos: {pos}\n"
    )
    _, result = _sync(tmp_path, mysql_source, db, options)
    assert result.stream.rows == 1 and _target_ids(tmp_path, db) == [2]


def test_specific_offset_by_gtid_set(mysql_source, db, tmp_path):
    server = mysql_source.server
    _insert(server, db, 1, 2)
    (gtid,) = server.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0]
    server.execute("FLUSH BINARY LOGS")
    _insert(server, db, 3)
    _insert(server, db, 4, 5)
    (last,) = server.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0]
    options = f"  scan.startup.mode: specific-offset\n  scan.startup.specific-offset.gtid-set: '{gtid}'\n"
    cfg, result = _sync(tmp_path, mysql_source, db, options)
    assert result.stream.rows == 3 and _target_ids(tmp_path, db) == [3, 4, 5]
    with StateStore(cfg.state_dir) as st:
        point = st.restart_point()
    # resumed by GTID, then positioned on this server at the first commit
    assert point.position is not None and point.server_id == server.server_id
    assert MariaDbGtidSet.parse(last) <= point.gtid_set
    file, pos = _master_status(server)
    assert point.position.file == file and point.position.pos <= pos


def _next_second() -> int:
    """Sleep into the next whole second; its start in epoch milliseconds."""
    now = time.time()
    boundary = math.floor(now) + 1
    time.sleep(boundary - now + 0.05)
    return boundary * 1000


def test_timestamp_starts_at_the_first_transaction_committed_at_or_after_it(mysql_source, db, tmp_path):
    server = mysql_source.server
    _insert(server, db, 1)
    server.execute("FLUSH BINARY LOGS")
    _insert(server, db, 2)
    millis = _next_second()  # rows 1 and 2 were committed in an earlier second
    _insert(server, db, 3)
    server.execute("FLUSH BINARY LOGS")
    _insert(server, db, 4)
    options = f"  scan.startup.mode: timestamp\n  scan.startup.timestamp-millis: {millis}\n"
    cfg, result = _sync(tmp_path, mysql_source, db, options)
    assert result.snapshot_rows == 0 and result.stream.rows == 2
    assert _target_ids(tmp_path, db) == [3, 4]


def test_timestamp_after_every_transaction_starts_at_the_binlog_end(mysql_source, db, tmp_path):
    server = mysql_source.server
    _insert(server, db, 1)
    millis = _next_second()
    _, result = _sync(
        tmp_path,
        mysql_source,
        db,
        f"  scan.startup.mode: timestamp\n  scan.startup.timestamp-millis: {millis}\n",
    )
    assert result.stream.rows == 0 and _target_ids(tmp_path, db) == []


@pytest.mark.parametrize(
    "options, message",
    [
        (
            "  scan.startup.mode: timestamp\n  scan.startup.timestamp-millis: 99999999999999\n",
            "scan.startup.timestamp-millis: 99999999999999 is in the future",
        ),
        (
            "  scan.startup.mode: specific-offset\n  scan.startup.specific-offset.file: nothere-bin.000001\n"
            "  scan.startup.specific-offset.pos: 4\n",
            "binlog file nothere-bin.000001 is not on",
        ),
        (
            "  scan.startup.mode: specific-offset\n  scan.startup.specific-offset.gtid-set: "
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5\n",
            "is not a MariaDB GTID position",
        ),
    ],
)
def test_bad_offsets_are_refused_by_name(mysql_source, db, tmp_path, options, message):
    with pytest.raises(ConfigError, match="source.scan.startup") as info:
        _sync(tmp_path, mysql_source, db, options)
    assert message in str(info.value)


def test_a_position_inside_an_event_or_past_the_file_is_refused(mysql_source, db, tmp_path):
    server = mysql_source.server
    _insert(server, db, 1)
    file, pos = _master_status(server)
    for bad, message in ((pos - 3, "no binlog event starts at"), (pos + 10_000_000, "is past the end of")):
        options = (
            "  scan.startup.mode: specific-offset\n"
            f"  scan.startup.specific-offset.file: {file}\n  scan.startup.specific-offset.pos: {bad}\n"
        )
        with pytest.raises(ConfigError, match="source.scan.startup.specific-offset.pos") as info:
            _sync(tmp_path, mysql_source, db, options)
        assert message in str(info.value)


def test_a_gtid_set_start_with_nothing_after_it_is_caught_up(mysql_source, db, tmp_path):
    """Resumed by GTID and no commit since: no position yet, so caught-up is judged by GTID sets."""
    server = mysql_source.server
    _insert(server, db, 1)
    (gtid,) = server.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0]
    options = f"  scan.startup.mode: specific-offset\n  scan.startup.specific-offset.gtid-set: '{gtid}'\n"
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(s=_sync(tmp_path, mysql_source, db, options)[1]), daemon=True
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "until-caught-up never ended after a GTID start with nothing to read"
    assert result["s"].stream.caught_up and result["s"].stream.rows == 0 and _target_ids(tmp_path, db) == []


def test_a_position_of_another_server_without_gtids_is_refused(mysql_source, db, tmp_path):
    server = mysql_source.server
    cfg, _ = _sync(tmp_path, mysql_source, db, "  scan.startup.mode: latest-offset\n")
    with StateStore(cfg.state_dir) as st:
        saved = st.restart_point()
        st.save_restart_point(RestartPoint(position=saved.position, server_id=server.server_id + 41))
    with pytest.raises(TerminalError) as info:
        run_sync(cfg, until_caught_up=True)
    message = str(info.value)
    assert f"server_id {server.server_id + 41}, this one has {server.server_id}" in message
    assert "no GTID set to resume by" in message and "source.hostname" in message


def test_skips_not_used_up_are_kept_in_the_restart_point(mysql_source, db, tmp_path):
    server = mysql_source.server
    file, pos = _master_status(server)
    _insert(server, db, 1)
    _insert(server, db, 2, 3)
    options = (
        "  scan.startup.mode: specific-offset\n"
        f"  scan.startup.specific-offset.file: {file}\n  scan.startup.specific-offset.pos: {pos}\n"
        "  scan.startup.specific-offset.skip-events: 3\n  scan.startup.specific-offset.skip-rows: 2\n"
    )
    cfg, first = _sync(tmp_path, mysql_source, db, options)
    assert first.stream.rows == 0 and _target_ids(tmp_path, db) == []
    with StateStore(cfg.state_dir) as st:
        point = st.restart_point()
    assert (point.skip_events, point.skip_rows) == (1, 2) and point.position.pos > pos
    _insert(server, db, 4, 5)  # the third rows event: skipped
    _insert(server, db, 6, 7, 8)  # its first two rows skipped
    second = run_sync(cfg, until_caught_up=True)
    assert second.stream.rows == 1 and _target_ids(tmp_path, db) == [8]
    with StateStore(cfg.state_dir) as st:
        assert (st.restart_point().skip_events, st.restart_point().skip_rows) == (0, 0)
