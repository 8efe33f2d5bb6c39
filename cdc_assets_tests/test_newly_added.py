"""scan.newly-added-table.enabled: a table created while streaming is snapshotted and joins the stream
without a restart, with the changes made to it meanwhile."""

from __future__ import annotations

import threading
import time

from cdc_assets.config import load_pipeline
from cdc_assets.core.offsets import BinlogPosition
from cdc_assets.engine import streaming
from cdc_assets.engine.catalog_cache import load_catalog
from cdc_assets.engine.sync import run_sync
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import assert_identical, secrets_env, write_pipeline


def test_a_table_created_while_streaming_is_snapshotted_and_streamed(
    mysql_source, fresh_db, tmp_path, monkeypatch
):
    monkeypatch.setattr(streaming, "NEW_TABLE_DISCOVERY_SECONDS", 0.3)
    server = mysql_source.server
    db = f"`{fresh_db}`"
    server.execute(f"CREATE TABLE {db}.a (id INT PRIMARY KEY, v INT)")
    server.execute(f"INSERT INTO {db}.a VALUES (1, 1)")
    pipeline = write_pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        chunk_size=100,
        extra_source="  scan.newly-added-table.enabled: true",
    )
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    stop = threading.Event()
    runner = threading.Thread(target=lambda: run_sync(cfg, stop=stop), daemon=True)
    runner.start()
    writing = threading.Event()

    def write_new_table() -> None:
        conn = server.connect(database=fresh_db)
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE b (id INT PRIMARY KEY, v INT NOT NULL, w VARCHAR(10))")
                cur.execute("INSERT INTO b SELECT seq, 0, 'x' FROM seq_1_to_1000")
                n = 0
                while writing.is_set() or n < 400:  # before, during and after b's snapshot
                    n += 1
                    cur.execute("UPDATE b SET v = v + 1 WHERE id = %s", (n % 1000 + 1,))
                    if n % 7 == 0:
                        cur.execute("DELETE FROM b WHERE id = %s", (n % 1000 + 1,))
                    if n % 5 == 0:
                        cur.execute("INSERT INTO b VALUES (%s, 1, 'new')", (1000 + n,))
                    cur.execute("UPDATE a SET v = v + 1 WHERE id = 1")
        finally:
            conn.close()

    try:
        time.sleep(1.0)  # the stream is running
        writing.set()
        writer = threading.Thread(target=write_new_table)
        writer.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "b" not in {t.table for t in load_catalog(cfg) or []}:
            time.sleep(0.2)
        time.sleep(1.0)
        writing.clear()
        writer.join(timeout=120)
        end = BinlogPosition(*server.execute("SHOW MASTER STATUS")[0][:2])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and runner.is_alive():  # the stream applies up to `end`
            with StateStore(cfg.state_dir) as state:
                point = state.restart_point()
            if point is not None and point.position is not None and point.position >= end:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        runner.join(timeout=60)
    assert not runner.is_alive()
    assert_identical(pipeline, mysql_source, fresh_db, ["a", "b"])
