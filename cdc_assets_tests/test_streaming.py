"""Streaming against a real binlog: exact change counts, transaction boundaries, rotation."""

from __future__ import annotations

import threading

import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.sql import quote_ident
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.streaming import stream
from cdc_assets.engine.sync import run_sync
from cdc_assets.errors import SinkError
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import PASSWORD_ENV, assert_identical, write_pipeline


@pytest.fixture
def table(mysql_source, fresh_db):
    db = quote_ident(fresh_db)
    mysql_source.server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20))")
    mysql_source.server.execute(f"CREATE TABLE {db}.other (id INT PRIMARY KEY)")
    mysql_source.server.execute(f"INSERT INTO {db}.t VALUES (1, 'a'), (2, 'b')")
    return fresh_db


def _cfg(tmp_path, mysql_source, db, **kw):
    return load_pipeline(
        write_pipeline(tmp_path, mysql_source, db, **kw), env={PASSWORD_ENV: mysql_source.password}
    )


def test_each_change_is_applied_once_and_never_replayed(mysql_source, table, tmp_path):
    cfg = _cfg(tmp_path, mysql_source, table)
    first = run_sync(cfg, until_caught_up=True)
    assert first.snapshot_rows == 2 and first.stream.rows == 0
    db = quote_ident(table)
    conn = mysql_source.server.connect()
    try:
        with conn.cursor() as cur:
            for i in range(3, 13):
                cur.execute(f"INSERT INTO {db}.t VALUES (%s, %s)", (i, f"v{i}"))
            cur.execute("BEGIN")  # one multi-table transaction
            cur.execute(f"UPDATE {db}.t SET v = CONCAT(v, '!')")  # 12 rows
            cur.execute(f"INSERT INTO {db}.other VALUES (1), (2)")
            cur.execute("COMMIT")
            cur.execute(f"DELETE FROM {db}.t WHERE id < 5")  # 4 rows
    finally:
        conn.close()
    second = run_sync(cfg, until_caught_up=True)
    counts = {str(t): n for t, n in second.stream.rows_by_table.items()}
    assert counts == {f"{table}.t": 10 + 12 + 4, f"{table}.other": 2}
    # The restart point is the binlog end: nothing between it and the end is left to apply.
    status = mysql_source.server.execute("SHOW MASTER STATUS")[0]
    with StateStore(cfg.state_dir) as st:
        point = st.restart_point()
    assert (point.position.file, point.position.pos) == (status[0], status[1])
    assert point.gtid_set is not None and not point.gtid_set.is_empty
    third = run_sync(cfg, until_caught_up=True)
    assert third.stream.rows == 0
    assert_identical(write_pipeline(tmp_path, mysql_source, table), mysql_source, table, ["t", "other"])


def test_caught_up_is_reached_across_a_binlog_rotation(mysql_source, table, tmp_path):
    cfg = _cfg(tmp_path, mysql_source, table)
    run_sync(cfg, until_caught_up=True)
    db = quote_ident(table)
    mysql_source.server.execute(f"INSERT INTO {db}.t VALUES (50, 'x')")
    mysql_source.server.execute("FLUSH BINARY LOGS")  # the end is now in a new file, after no commit
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(s=run_sync(cfg, until_caught_up=True)), daemon=True
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "until-caught-up never finished after a rotation"
    assert result["s"].stream.caught_up and result["s"].stream.rows == 1
    status = mysql_source.server.execute("SHOW MASTER STATUS")[0]
    assert result["s"].stream.point.position.file == status[0]


def test_a_stop_request_ends_an_idle_stream_promptly(mysql_source, table, tmp_path):
    cfg = _cfg(tmp_path, mysql_source, table)
    stop = threading.Event()
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(s=run_sync(cfg, stop=stop)), daemon=True)
    worker.start()
    worker.join(timeout=8)
    assert worker.is_alive()  # streaming forever, nothing to do
    mysql_source.server.execute(f"INSERT INTO {quote_ident(table)}.t VALUES (60, 'late')")
    stop.set()
    worker.join(timeout=15)
    assert not worker.is_alive(), "the stream did not stop on request while idle"
    assert result["s"].stream.caught_up is False


def test_discovering_only_named_tables_loads_just_those_and_names_a_dropped_one(
    mysql_source, table, tmp_path
):
    from cdc_assets.core.schema import TableId
    from cdc_assets.engine.context import RunContext
    from cdc_assets.errors import SchemaError

    ctx = RunContext(_cfg(tmp_path, mysql_source, table))
    try:
        assert set(ctx.discover(only=[TableId(table, "t")])) == {TableId(table, "t")}
        mysql_source.server.execute(f"DROP TABLE {quote_ident(table)}.other")
        with pytest.raises(SchemaError, match=rf"{table}\.other does not exist"):
            ctx.discover(only=[TableId(table, "other")])
    finally:
        ctx.close()


def test_a_write_failing_in_the_writer_thread_stops_the_stream_at_the_last_landed_write(
    mysql_source, table, tmp_path, monkeypatch
):
    """Flushes are written by the writer thread while the binlog is read on; a write that fails is raised
    by the stream, and the restart point stays at the last write that landed, so a rerun applies the
    rest exactly once."""
    cfg = _cfg(tmp_path, mysql_source, table)
    run_sync(cfg, until_caught_up=True)
    db = quote_ident(table)
    for i in range(3, 41):  # 38 transactions of one row
        mysql_source.server.execute(f"INSERT INTO {db}.t VALUES (%s, 'w')", (i,))
    writes: list[tuple[str, int]] = []
    apply_batch = DuckDBSink.apply_batch

    def second_write_fails(self, batch, *, tag=""):
        writes.append((threading.current_thread().name, sum(len(rows) for *_, rows in batch)))
        if len(writes) == 2:
            raise SinkError("the target refused the write (injected)")
        return apply_batch(self, batch, tag=tag)

    monkeypatch.setattr(DuckDBSink, "apply_batch", second_write_fails)
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        with pytest.raises(SinkError, match="injected"):
            stream(ctx, until_caught_up=True, max_buffered_rows=5)
    finally:
        ctx.close()
    assert len(writes) == 2 and all(name.startswith("stream-writer") for name, _ in writes)
    landed = writes[0][1]
    assert 0 < landed < 38
    monkeypatch.undo()
    rerun = run_sync(cfg, until_caught_up=True)
    assert rerun.stream.rows == 38 - landed  # from the first write's restart point: no loss, no replay
    assert_identical(write_pipeline(tmp_path, mysql_source, table), mysql_source, table, ["t"])
