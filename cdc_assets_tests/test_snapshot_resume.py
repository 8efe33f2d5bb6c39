"""A snapshot killed half-way resumes without reading the chunks it finished again."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time

from cdc_assets.config import load_pipeline
from cdc_assets.core.sql import quote_ident
from cdc_assets.errors import StateError
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import CLI, assert_identical, env, secrets_env, write_pipeline


def _attempts(state_dir) -> dict[int, tuple[bool, int]]:
    with StateStore(state_dir) as st:
        rows = st._conn.execute("SELECT idx, done, attempts FROM chunks ORDER BY idx").fetchall()
    return {i: (bool(d), a) for i, d, a in rows}


def test_killed_snapshot_resumes_without_redoing_finished_chunks(mysql_source, fresh_db, tmp_path):
    db = quote_ident(fresh_db)
    mysql_source.server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20))")
    mysql_source.server.execute(f"INSERT INTO {db}.t SELECT seq, CONCAT('v', seq) FROM {db}.seq_1_to_6000")
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=100)
    state_dir = load_pipeline(pipeline, env=secrets_env(mysql_source)).state_dir
    proc = subprocess.Popen(
        [CLI, "sync", "-c", str(pipeline), "--until-caught-up"],
        env=env(mysql_source),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done = sum(d for d, _ in _attempts(state_dir).values())
            except (sqlite3.Error, StateError):  # the state file is being created
                done = 0
            if done >= 5:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # no chance to clean up: as a killed worker
    finally:
        proc.wait(timeout=60)
    before = _attempts(state_dir)
    finished = {i for i, (d, _) in before.items() if d}
    assert 5 <= len(finished) < len(before), "the kill did not land half-way"
    # A row written after the kill, into a finished chunk: the stream, not a re-read, brings it.
    mysql_source.server.execute(f"UPDATE {db}.t SET v = 'changed' WHERE id = 1")
    resumed = subprocess.run(
        [CLI, "sync", "-c", str(pipeline), "--until-caught-up"],
        env=env(mysql_source),
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    after = _attempts(state_dir)
    assert all(after[i] == before[i] for i in finished)  # read once, never again
    assert all(done for done, _ in after.values())
    assert_identical(pipeline, mysql_source, fresh_db, ["t"])
