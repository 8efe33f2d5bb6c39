"""End to end through the CLI: a real MariaDB with a real binlog, a mixed workload, a DuckDB target."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.demo_data import Workload, create_sample_database
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import (
    CLI,
    PASSWORD_ENV,
    assert_identical,
    cli,
    env,
    secrets_env,
    write_pipeline,
)


def _sample(mysql_source, db: str) -> list[str]:
    conn = mysql_source.server.connect()
    try:
        return create_sample_database(conn, db, rows=300)
    finally:
        conn.close()


def _workload(mysql_source, db: str, **kw) -> Workload:
    return Workload(lambda: mysql_source.server.connect(database=db), db, **kw)


@pytest.fixture(params=["duckdb", "starrocks"])
def target(request):
    """The skeleton's end-to-end tests run against both sinks: None is DuckDB, else the StarRocks stand-in."""
    return request.getfixturevalue("standin") if request.param == "starrocks" else None


def test_changes_before_during_and_after_the_snapshot_end_up_exact(mysql_source, fresh_db, tmp_path, target):
    tables = _sample(mysql_source, fresh_db)
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=40, standin=target)
    before = _workload(mysql_source, fresh_db, seed=1)
    before.run_for(150)  # before the snapshot

    during = _workload(mysql_source, fresh_db, seed=2, rate_per_s=400.0)
    during.start()  # during the snapshot (small chunks make it take many round trips)
    try:
        first = cli("sync", "-c", str(pipeline), "--until-caught-up", source=mysql_source)
    finally:
        during.stop()
    assert first.returncode == 0, first.stderr
    assert during.transactions > 0
    assert "caught up" in first.stdout

    after = _workload(mysql_source, fresh_db, seed=3)
    after.run_for(300)  # after: streamed only
    second = cli("sync", "-c", str(pipeline), "--until-caught-up", source=mysql_source)
    assert second.returncode == 0, second.stderr
    assert "0 rows snapshotted" in second.stdout  # nothing snapshotted twice
    assert_identical(pipeline, mysql_source, fresh_db, tables)

    status = cli("status", "-c", str(pipeline), source=mysql_source)
    assert status.returncode == 0, status.stderr
    for t in tables:
        assert f"{fresh_db}.{t}" in status.stdout
    assert "streaming" in status.stdout and "restart point: mysql-bin." in status.stdout


def _start_sync(pipeline, mysql_source) -> subprocess.Popen:
    """`cdc-assets sync` streaming forever, in the background."""
    return subprocess.Popen(
        [CLI, "sync", "-c", str(pipeline)],
        env=env(mysql_source),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_restart_point(pipeline, mysql_source, proc, timeout=120.0):
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        if (cfg.state_dir / "state.sqlite").exists():
            with StateStore(cfg.state_dir) as st:
                if st.restart_point() is not None:
                    return st.restart_point()
        time.sleep(0.2)
    raise AssertionError("the sync never saved a restart point")


def test_a_crash_in_the_middle_of_streaming_loses_and_duplicates_nothing(
    mysql_source, fresh_db, tmp_path, target
):
    tables = _sample(mysql_source, fresh_db)
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=200, standin=target)
    load = _workload(mysql_source, fresh_db, seed=5, rate_per_s=300.0)
    proc = _start_sync(pipeline, mysql_source)
    load.start()
    try:
        first_point = _wait_for_restart_point(pipeline, mysql_source, proc)
        time.sleep(2.0)  # streaming under load, flushing every second
        proc.kill()  # SIGKILL: no chance to flush or save
        proc.wait(timeout=30)
        time.sleep(0.5)
    finally:
        load.stop()
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    with StateStore(cfg.state_dir) as st:
        crashed_at = st.restart_point()
    assert crashed_at is not None and crashed_at.position >= first_point.position

    more = _workload(mysql_source, fresh_db, seed=6)
    more.run_for(200)
    again = cli("sync", "-c", str(pipeline), "--until-caught-up", source=mysql_source)
    assert again.returncode == 0, again.stderr
    assert_identical(pipeline, mysql_source, fresh_db, tables)


def test_sigterm_flushes_saves_the_restart_point_and_exits_cleanly(mysql_source, fresh_db, tmp_path, target):
    tables = _sample(mysql_source, fresh_db)
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=500, standin=target)
    proc = _start_sync(pipeline, mysql_source)
    _wait_for_restart_point(pipeline, mysql_source, proc)
    _workload(mysql_source, fresh_db, seed=8).run_for(100)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "sync stopped" in out
    # Everything written before the stop is already in the target: nothing left to catch up on
    # but what came after.
    again = cli("sync", "-c", str(pipeline), "--until-caught-up", source=mysql_source)
    assert again.returncode == 0, again.stderr
    assert_identical(pipeline, mysql_source, fresh_db, tables)


def test_validate_accepts_a_good_file_and_lists_flink_only_options(mysql_source, tmp_path):
    pipeline = write_pipeline(tmp_path, mysql_source, "x", extra_source="  debezium.max.batch.size: 40960\n")
    res = cli("validate", "-c", str(pipeline), source=mysql_source)
    assert res.returncode == 0, res.stderr
    assert "valid" in res.stdout and "debezium.max.batch.size" in res.stdout
    assert mysql_source.password not in res.stdout + res.stderr


def test_bad_configuration_exits_2_with_one_line_naming_key_and_file(mysql_source, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "source:\n  type: mysql\n  username: u\n  password: p\n  tables: a.b\nsink:\n  type: duckdb\n  path: x.duckdb\n"
    )
    res = cli("sync", "-c", str(bad), source=mysql_source)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "bad.yaml" in lines[0] and "hostname" in lines[0]


def test_wrong_password_exits_2_and_never_shows_the_password(mysql_source, fresh_db, tmp_path):
    _sample(mysql_source, fresh_db)
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db)
    wrong = "not-the-Password-42"
    res = subprocess.run(
        [CLI, "sync", "-c", str(pipeline), "--until-caught-up"],
        env=env(mysql_source, **{PASSWORD_ENV: wrong}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert "source.password" in res.stderr and wrong not in res.stderr + res.stdout
    assert len(res.stderr.strip().splitlines()) == 1


def test_unreachable_host_exits_1_with_a_clear_line(mysql_source, tmp_path):
    pipeline = write_pipeline(tmp_path, mysql_source, "x")
    text = pipeline.read_text().replace(f"port: {mysql_source.port}", "port: 1")
    pipeline.write_text(text)
    res = cli("sync", "-c", str(pipeline), "--until-caught-up", source=mysql_source)
    assert res.returncode == 1
    assert "cannot reach" in res.stderr and "source.hostname" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_no_matching_table_is_a_configuration_error(mysql_source, fresh_db, tmp_path):
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db)  # the database is empty
    res = cli("sync", "-c", str(pipeline), "--until-caught-up", source=mysql_source)
    assert res.returncode == 2
    assert "Cannot find any table" in res.stderr or "cannot find any table" in res.stderr


def test_server_without_row_binlog_is_refused_with_the_variable_to_set(mysql_source, fresh_db, tmp_path):
    _sample(mysql_source, fresh_db)
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db)
    server = mysql_source.server
    server.execute("SET GLOBAL binlog_row_image = 'MINIMAL'")
    try:
        res = cli("sync", "-c", str(pipeline), "--until-caught-up", source=mysql_source)
    finally:
        server.execute("SET GLOBAL binlog_row_image = 'FULL'")
    assert res.returncode == 2
    assert "binlog_row_image" in res.stderr and "FULL" in res.stderr


def test_status_before_any_sync_shows_pending_tables(mysql_source, fresh_db, tmp_path):
    tables = _sample(mysql_source, fresh_db)
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db)
    res = cli("status", "-c", str(pipeline), source=mysql_source)
    assert res.returncode == 0, res.stderr
    assert "nothing streamed" in res.stdout
    for t in tables:
        assert f"{fresh_db}.{t}" in res.stdout


def _run_on_a_terminal(args: list[str], environ: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (as a person would see it); return (code, terminal text)."""
    import os
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        args, env=environ, stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_progress_on_a_terminal_shows_tables_chunks_rate_and_lag(mysql_source, fresh_db, tmp_path):
    _sample(mysql_source, fresh_db)
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=30)
    load = _workload(mysql_source, fresh_db, seed=12, rate_per_s=300.0)
    load.start()  # changes during the snapshot, streamed afterwards
    try:
        code, screen = _run_on_a_terminal(
            [CLI, "sync", "-c", str(pipeline), "--until-caught-up"], env(mysql_source)
        )
    finally:
        load.stop()
    assert code == 0, screen
    assert "snapshot: tables 4/4, chunks" in screen and "rows/s" in screen
    assert "streaming:" in screen and "lag" in screen
    # Not a terminal: no progress lines, only the summary.
    _workload(mysql_source, fresh_db, seed=13).run_for(20)
    res = cli("sync", "-c", str(pipeline), "--until-caught-up", source=mysql_source)
    assert res.returncode == 0 and "snapshot:" not in res.stderr and "streaming:" not in res.stderr
