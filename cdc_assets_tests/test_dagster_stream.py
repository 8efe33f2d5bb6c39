"""The streaming job under Dagster: real runs of ``dagster job execute`` on a real instance (temp
DAGSTER_HOME) against the session's MariaDB; the keep-alive sensor ticked on the same instance.

- a run killed with SIGKILL stays STARTED; the sensor marks it failed once its heartbeat is stale
  and asks for exactly one new run (one run key per dead run; skipped while a run is active);
- SIGTERM and SIGINT (what Dagster's *Terminate* sends the run worker) flush the rows the stream
  holds and save the restart point at the binlog end; a restart goes on without loss;
- one ``Binlog Dump`` connection however many databases and tables are captured;
- a second reader with the stream's server id (the first of a ``server-id`` range) makes the run fail
  with a clear error, and the sensor does not relaunch into the clash.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pymysql
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.offsets import BinlogPosition, RestartPoint
from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident
from cdc_assets.defs.locate import PIPELINE_ENV, build_definitions
from cdc_assets.defs.names import schema_asset_key, table_asset_key
from cdc_assets.defs.stream import (
    CLASH_TAG,
    HEARTBEAT_SECONDS,
    STALE_ENV,
    MaterializationCoalescer,
    stale_seconds,
)
from cdc_assets.demo_data import Workload, create_sample_database
from cdc_assets.engine.context import RunContext, binlog_client_id
from cdc_assets.engine.streaming import FlushInfo
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.watermark import backfill_server_ids
from cdc_assets.errors import ConfigError, ServerIdClashError
from cdc_assets.mysql.binlog import BinlogReader
from cdc_assets.mysql.connection import ConnectionSettings, classify
from cdc_assets.mysql.server import current_position, inspect_server
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import compare_all, env, secrets_env, write_pipeline

ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).with_name("dagster"))
STALE = 8.0  # seconds: short, so the test does not wait a minute for a dead run


# ---- pure: coalescing and settings ---------------------------------------------------------------


def _point(pos: int) -> RestartPoint:
    return RestartPoint(position=BinlogPosition("mysql-bin.000001", pos), event_time=None)


def test_materializations_are_coalesced_per_table_and_every_row_is_reported_once():
    now = [0.0]
    co = MaterializationCoalescer(every=10.0, clock=lambda: now[0])
    a, b = TableId("db", "a"), TableId("db", "b")
    reported: dict[TableId, int] = {a: 0, b: 0}
    applied = {a: 0, b: 0}
    events = 0
    for second in range(60):  # one flush a second, both tables, for a minute
        now[0] = float(second)
        info = FlushInfo({a: 3, b: second % 2}, _point(1000 + second), 0.5, 0.01)
        for t, n in info.rows.items():
            applied[t] += n
        for r in co.add(info):
            reported[r.table] += r.rows
            events += 1
            assert r.point == info.point  # the newest restart point, not the first of the window
    for r in co.drain():
        reported[r.table] += r.rows
    assert reported == applied
    assert events <= 2 * (60 // 10 + 1)  # at most one per table per 10 s, not 120


def test_stale_limit_must_exceed_the_heartbeat_interval():
    assert stale_seconds({}) == 60.0
    assert stale_seconds({STALE_ENV: "90"}) == 90.0
    for bad in ("x", "0", str(HEARTBEAT_SECONDS)):
        with pytest.raises(ConfigError, match=STALE_ENV):
            stale_seconds({STALE_ENV: bad})


@pytest.mark.parametrize(
    ("code", "text", "clash"),
    [
        (4052, "A slave with the same server_uuid/server_id is already connected; the first event ...", True),
        (
            1236,
            "A slave with the same server_uuid/server_id as this slave has connected to the master; ...",
            True,
        ),
        (
            1236,
            "A replica with the same server_uuid/server_id as this replica has connected to the source; ...",
            True,
        ),
        (1236, "Could not find first log file name in binary log index file", False),
    ],
)
def test_server_id_clash_is_recognised_in_mariadb_and_mysql_wording(code, text, clash):
    """MariaDB's own error code; MySQL's 1236 with the wording of 5.7 and of 8.0.26+ (MySQL cannot be
    run here: its wording is taken from its error message catalogue)."""
    settings = ConnectionSettings(host="db.example", port=3306, user="cdc", password="pw-secret")
    err = classify(pymysql.err.OperationalError(code, text), settings, "reading the binlog as server-id 5400")
    assert isinstance(err, ServerIdClashError) is clash
    if clash:
        assert "server-id 5400" in str(err) and "set the source option server-id" in str(err)


# ---- helpers for the real runs -----------------------------------------------------------------


@pytest.fixture
def two_dbs(mysql_source, fresh_db):
    """The sample shop in ``fresh_db`` and in a second database: (names, {db: tables})."""
    other = f"t_{uuid.uuid4().hex[:12]}"
    mysql_source.server.execute(f"CREATE DATABASE {quote_ident(other)} CHARACTER SET utf8mb4")
    tables = _sample(mysql_source, fresh_db, other, rows=120)
    try:
        yield tables
    finally:
        mysql_source.server.execute(f"DROP DATABASE IF EXISTS {quote_ident(other)}")


def _sample(mysql_source, *dbs: str, rows: int) -> dict[str, list[str]]:
    """The sample shop with ``rows`` rows in each of ``dbs``: {db: its tables}."""
    conn = mysql_source.server.connect()
    try:
        return {db: create_sample_database(conn, db, rows=rows) for db in dbs}
    finally:
        conn.close()


def _pipeline(tmp_path, mysql_source, dbs, *, server_id="5501", standin=None, flush_ms=1000) -> Path:
    path = write_pipeline(tmp_path, mysql_source, dbs[0], chunk_size=500, standin=standin)
    text = path.read_text()
    text = text.replace(f"tables: {dbs[0]}.\\.*", "tables: " + ", ".join(f"{db}.\\.*" for db in dbs))
    text = text.replace("server-id: 5501", f"server-id: {server_id}")
    text = text.replace("sink.buffer-flush.interval-ms: 1000", f"sink.buffer-flush.interval-ms: {flush_ms}")
    path.write_text(text)
    return path


def _setup(tmp_path, mysql_source, monkeypatch, pipeline: Path):
    """Snapshot first (as the backfill would), then definitions and a Dagster home like production's."""
    run_sync(load_pipeline(pipeline, env=secrets_env(mysql_source)), until_caught_up=True)
    for name, value in secrets_env(mysql_source).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(STALE_ENV, str(STALE))
    defs = build_definitions({PIPELINE_ENV: str(pipeline)})
    pid = next(j.name for j in defs.resolve_all_job_defs() if j.name.endswith("_stream")).removesuffix(
        "_stream"
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return defs, pid, home


def _start(pipeline: Path, mysql_source, pid: str, home: Path, tmp_path: Path, tags: dict | None = None):
    cmd = [DAGSTER, "job", "execute", "-m", "cdc_assets.definitions", "-j", f"{pid}_stream"]
    if tags:
        cmd += ["--tags", json.dumps(tags)]
    return subprocess.Popen(
        cmd,
        env=env(
            mysql_source,
            # this checkout's package, not whichever one the interpreter has installed
            PYTHONPATH=str(ROOT),
            **{PIPELINE_ENV: str(pipeline), "DAGSTER_HOME": str(home), STALE_ENV: str(STALE)},
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _sensor(action: str, sensor: str, environ: dict[str, str]) -> None:
    """``dagster sensor start|stop`` on this checkout's workspace; it must succeed."""
    done = subprocess.run(
        [DAGSTER, "sensor", action, "-w", str(ROOT / "workspace.yaml"), sensor],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _output(proc) -> str:
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def _wait(what: str, cond, proc=None, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended while waiting for {what}:\n{_output(proc)[-4000:]}")
        value = cond()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _running_run(instance, pid: str):
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=f"{pid}_stream", statuses=[dg.DagsterRunStatus.STARTED]), limit=1
    )
    return runs[0] if runs else None


def _streaming(mysql_source) -> int:
    rows = mysql_source.server.execute(
        "SELECT count(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump' AND USER = %s",
        (mysql_source.user,),
    )
    return int(rows[0][0])


def _identical(pipeline, mysql_source, tables) -> bool:
    return all(
        r.identical for db, ts in tables.items() for r in compare_all(pipeline, mysql_source, db, ts).values()
    )


def _binlog_end(pipeline, mysql_source) -> RestartPoint:
    ctx = RunContext(load_pipeline(pipeline, env=secrets_env(mysql_source)))
    try:
        with ctx.connect() as conn:
            server = inspect_server(conn, ctx.settings)
            return current_position(conn, ctx.settings, server)
    finally:
        ctx.close()


def _saved_point(pipeline, mysql_source) -> RestartPoint:
    with StateStore(load_pipeline(pipeline, env=secrets_env(mysql_source)).state_dir) as st:
        point = st.restart_point()
    assert point is not None
    return point


def _workload(mysql_source, db: str, seed: int, n: int) -> Workload:
    w = Workload(lambda: mysql_source.server.connect(database=db), db, seed=seed)
    w.run_for(n)
    return w


# ---- real runs ---------------------------------------------------------------------------------


def test_killed_run_is_marked_failed_and_relaunched_once_over_one_binlog_connection(
    mysql_source, two_dbs, tmp_path, monkeypatch
):
    dbs = sorted(two_dbs)
    pipeline = _pipeline(tmp_path, mysql_source, dbs)
    defs, pid, home = _setup(tmp_path, mysql_source, monkeypatch, pipeline)
    keepalive = defs.resolve_sensor_def(f"{pid}_stream_keepalive")
    before = _streaming(mysql_source)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        first = keepalive(dg.build_sensor_context(instance=instance))
        assert isinstance(first, dg.RunRequest) and first.run_key == "after-none"

        proc = _start(pipeline, mysql_source, pid, home, tmp_path)
        try:
            run = _wait("the streaming run to start", lambda: _running_run(instance, pid), proc)
            for i, db in enumerate(dbs):
                _workload(mysql_source, db, 50 + i, 60)
            _wait("the target to equal the source", lambda: _identical(pipeline, mysql_source, two_dbs), proc)
            # Two databases, eleven tables, one binlog connection.
            assert _streaming(mysql_source) - before == 1

            # Changes show as materializations of the tables' assets, with the restart point and lag
            # (reported once the reading thread sees the write landed: shortly after the target has it).
            def materialized():
                records = [
                    instance.fetch_materializations(table_asset_key(TableId(db, t)), limit=5).records
                    for db in dbs
                    for t in two_dbs[db]
                ]
                return next((r[0].asset_materialization.metadata for r in records if r), None)

            meta = _wait("a materialization of a table's asset", materialized, proc, timeout=30)
            assert meta["rows_applied"].value > 0 and "mysql-bin" in meta["restart_point"].value
            assert meta["lag_seconds"].value >= 0
            alive = keepalive(dg.build_sensor_context(instance=instance))
            assert isinstance(alive, dg.SkipReason) and run.run_id in alive.skip_message
        finally:
            proc.kill()  # SIGKILL: no Dagster code runs, the run stays STARTED
            proc.wait(timeout=60)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        _wait("the killed reader's connection to close", lambda: _streaming(mysql_source) == before)

        # Not stale yet: still taken for alive.
        young = keepalive(dg.build_sensor_context(instance=instance))
        assert isinstance(young, dg.SkipReason)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        time.sleep(STALE + 1)
        relaunch = keepalive(dg.build_sensor_context(instance=instance))
        assert isinstance(relaunch, dg.RunRequest), relaunch
        dead = instance.get_run_by_id(run.run_id)
        assert dead.status == dg.DagsterRunStatus.FAILURE
        assert relaunch.run_key == f"after-{run.run_id}"
        # A second tick before the new run exists asks for the same run key: Dagster launches it once.
        again = keepalive(dg.build_sensor_context(instance=instance))
        assert isinstance(again, dg.RunRequest) and again.run_key == relaunch.run_key

        for i, db in enumerate(dbs):
            _workload(mysql_source, db, 60 + i, 60)
        proc = _start(
            pipeline,
            mysql_source,
            pid,
            home,
            tmp_path,
            tags={
                **relaunch.tags,
                "dagster/run_key": relaunch.run_key,
                "dagster/sensor_name": keepalive.name,
            },
        )
        try:
            second = _wait(
                "the relaunched run",
                lambda: (r := _running_run(instance, pid)) and r.run_id != run.run_id and r,
                proc,
            )
            # Once the new run is active, ticks skip: no second relaunch.
            skip = keepalive(dg.build_sensor_context(instance=instance))
            assert isinstance(skip, dg.SkipReason) and second.run_id in skip.skip_message
            _wait("the target to equal the source", lambda: _identical(pipeline, mysql_source, two_dbs), proc)
            assert _streaming(mysql_source) - before == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            out = _output(proc)
        assert "received SIGTERM" in out, out[-4000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_flushes_held_rows_and_saves_the_binlog_end(
    mysql_source, fresh_db, tmp_path, monkeypatch, standin, sig
):
    tables = _sample(mysql_source, fresh_db, rows=100)
    # Flushes every 10 minutes: rows applied before the signal can only come from the stop's flush.
    pipeline = _pipeline(tmp_path, mysql_source, [fresh_db], standin=standin, flush_ms=600_000)
    _, pid, home = _setup(tmp_path, mysql_source, monkeypatch, pipeline)
    before = _streaming(mysql_source)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for round_ in range(2):  # the second run resumes from what the first saved
            proc = _start(pipeline, mysql_source, pid, home, tmp_path)
            try:
                run = _wait("the streaming run to start", lambda: _running_run(instance, pid), proc)
                _wait("the binlog connection", lambda: _streaming(mysql_source) > before, proc)
                load = _workload(mysql_source, fresh_db, 70 + round_, 80)
                end = _binlog_end(pipeline, mysql_source)
                time.sleep(3)  # the stream has read the changes by now, and holds them
                assert not _identical(pipeline, mysql_source, tables)
                assert _saved_point(pipeline, mysql_source).position < end.position
            finally:
                proc.send_signal(sig)
                out = _output(proc)
            assert proc.returncode is not None
            assert f"received {sig.name}" in out, out[-4000:]
            saved = _saved_point(pipeline, mysql_source)
            assert saved.position == end.position, (saved, end)
            assert _identical(pipeline, mysql_source, tables)
            status = instance.get_run_by_id(run.run_id).status
            assert status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED), status
            # The run applied each change of its round once (the second run resumed where the first
            # stopped: nothing replayed, nothing skipped), and reported them all before it ended.
            rows = sum(
                e.asset_materialization.metadata["rows_applied"].value
                for t in tables[fresh_db]
                for e in instance.fetch_materializations(
                    table_asset_key(TableId(fresh_db, t)), limit=100
                ).records
                if e.run_id == run.run_id
            )
            assert rows == load.inserts + load.updates + load.deletes > 0


def test_server_id_range_stream_takes_the_first_and_a_clash_fails_the_run_clearly(
    mysql_source, fresh_db, tmp_path, monkeypatch
):
    _sample(mysql_source, fresh_db, rows=50)
    pipeline = _pipeline(tmp_path, mysql_source, [fresh_db], server_id="5400-5408")
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    assert binlog_client_id(cfg) == 5400
    assert backfill_server_ids(cfg) == list(range(5401, 5409))
    defs, pid, home = _setup(tmp_path, mysql_source, monkeypatch, pipeline)
    keepalive = defs.resolve_sensor_def(f"{pid}_stream_keepalive")
    ctx = RunContext(cfg)
    ctx.discover()
    before = _streaming(mysql_source)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        proc = _start(pipeline, mysql_source, pid, home, tmp_path)
        intruder = None
        try:
            run = _wait("the streaming run to start", lambda: _running_run(instance, pid), proc)
            _wait("the binlog connection", lambda: _streaming(mysql_source) > before, proc)
            # Another reader with the same server id as the stream (5400): the server drops the stream.
            intruder = BinlogReader(
                ctx.settings,
                ctx.server,
                ctx.schemas,
                server_id=5400,
                start=_binlog_end(pipeline, mysql_source),
            )
            events = intruder.events()
            _workload(mysql_source, fresh_db, 80, 5)
            next(events)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            out = _output(proc)
            if intruder is not None:
                intruder.close()
            ctx.close()
        assert proc.returncode != 0
        assert (
            "ServerIdClashError" in out
            and "server-id 5400" in out
            and "set the source option server-id" in out
        ), out
        failed = instance.get_run_by_id(run.run_id)
        assert failed.status == dg.DagsterRunStatus.FAILURE
        assert failed.tags[CLASH_TAG] == "5400"
        skip = keepalive(dg.build_sensor_context(instance=instance))
        assert isinstance(skip, dg.SkipReason) and "server-id 5400" in skip.skip_message, skip


def test_two_readers_with_one_server_id_the_older_gets_a_clear_error(mysql_source, fresh_db, tmp_path):
    _sample(mysql_source, fresh_db, rows=20)
    pipeline = _pipeline(tmp_path, mysql_source, [fresh_db], server_id="5601")
    ctx = RunContext(load_pipeline(pipeline, env=secrets_env(mysql_source)))
    ctx.discover()
    start = _binlog_end(pipeline, mysql_source)
    first = BinlogReader(ctx.settings, ctx.server, ctx.schemas, server_id=5601, start=start)
    second = BinlogReader(ctx.settings, ctx.server, ctx.schemas, server_id=5601, start=start)
    try:
        older = first.events()
        next(older)  # connected and reading (a heartbeat or the first boundary)
        next(second.events())
        with pytest.raises(ServerIdClashError) as err:
            for _ in older:
                pass
        message = str(err.value)
        assert "server-id 5601" in message and "same server id" in message
        assert "set the source option server-id" in message
        assert mysql_source.password not in message
    finally:
        first.close()
        second.close()
        ctx.close()


# ---- through the real daemon and webserver ---------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_under_dagster_dev_the_sensor_relaunches_a_killed_run_once_and_terminate_flushes(
    mysql_source, fresh_db, tmp_path, monkeypatch, standin
):
    """``dagster dev`` (webserver, daemon, code server): the keep-alive sensor ticked by the daemon
    launches the stream, replaces a run killed with SIGKILL exactly once, and the UI's *Terminate*
    (GraphQL ``terminateRun``) makes the run flush what it holds and save the binlog end."""
    from dagster_graphql import DagsterGraphQLClient

    tables = _sample(mysql_source, fresh_db, rows=100)
    pipeline = _pipeline(tmp_path, mysql_source, [fresh_db], standin=standin, flush_ms=600_000)
    _, pid, home = _setup(tmp_path, mysql_source, monkeypatch, pipeline)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # Create the storage now: processes that start on an empty DAGSTER_HOME at once race to migrate it.
        instance.get_runs(limit=1)
        instance.all_instigator_state()
        instance.all_logs("none")
    port = _free_port()
    environ = env(
        mysql_source,
        PYTHONPATH=str(ROOT),
        **{PIPELINE_ENV: str(pipeline), "DAGSTER_HOME": str(home), STALE_ENV: str(STALE)},
    )
    dev = subprocess.Popen(
        [DAGSTER, "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        env=environ,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sensor = f"{pid}_stream_keepalive"
    job = f"{pid}_stream"
    try:
        _sensor("start", sensor, environ)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            first = _wait("the sensor's run", lambda: _running_run(instance, pid), timeout=120)
            assert first.tags["cdc_assets/started_by"] == "keepalive"
            assert first.tags["dagster/run_key"] == "after-none"
            worker = _wait(
                "the op to start",
                lambda: next(
                    (
                        e.dagster_event.pid
                        for e in instance.all_logs(first.run_id)
                        if e.dagster_event and e.step_key
                    ),
                    None,
                ),
            )
            os.kill(worker, signal.SIGKILL)
            second = _wait(
                "a new run after the killed one",
                lambda: (r := _running_run(instance, pid)) and r.run_id != first.run_id and r,
                timeout=STALE + 90,
            )
            assert instance.get_run_by_id(first.run_id).status == dg.DagsterRunStatus.FAILURE
            assert second.tags["dagster/run_key"] == f"after-{first.run_id}"
            time.sleep(40)  # at least one more tick: it must not launch again
            runs = instance.get_runs(filters=dg.RunsFilter(job_name=job))
            assert len(runs) == 2, [(r.run_id, r.status) for r in runs]

            _sensor("stop", sensor, environ)
            _workload(mysql_source, fresh_db, 90, 80)
            end = _binlog_end(pipeline, mysql_source)
            time.sleep(3)
            assert not _identical(pipeline, mysql_source, tables)  # held by the stream, not flushed yet
            DagsterGraphQLClient("127.0.0.1", port_number=port).terminate_run(second.run_id)
            _wait(
                "the terminated run to end",
                lambda: (
                    instance.get_run_by_id(second.run_id).status
                    in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
                ),
                timeout=120,
            )
            assert instance.get_run_by_id(second.run_id).status == dg.DagsterRunStatus.CANCELED
            assert _saved_point(pipeline, mysql_source).position == end.position
            assert _identical(pipeline, mysql_source, tables)
    finally:
        try:
            os.killpg(dev.pid, signal.SIGTERM)
            dev.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(timeout=30)


@pytest.mark.parametrize("mode", ["latest-offset", "initial"])
def test_keepalive_starts_an_offset_mode_stream_without_waiting_for_a_snapshot(
    mysql_source, fresh_db, tmp_path, monkeypatch, mode
):
    """latest-offset (like every offset mode) takes no snapshot: the sensor starts the stream at once;
    initial waits until the tables are snapshotted."""
    _sample(mysql_source, fresh_db, rows=10)
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, extra_source=f"  scan.startup.mode: {mode}")
    for name, value in secrets_env(mysql_source).items():
        monkeypatch.setenv(name, value)
    defs = build_definitions({PIPELINE_ENV: str(pipeline)})
    pid = next(j.name for j in defs.resolve_all_job_defs() if j.name.endswith("_stream")).removesuffix(
        "_stream"
    )
    keepalive = defs.resolve_sensor_def(f"{pid}_stream_keepalive")
    with dg.instance_for_test() as instance:
        tick = keepalive(dg.build_sensor_context(instance=instance))
    if mode == "initial":
        assert isinstance(tick, dg.SkipReason) and "waiting for the snapshot" in tick.skip_message
    else:
        assert isinstance(tick, dg.RunRequest) and tick.run_key == "after-none"


def test_a_schema_change_materializes_the_tables_schema_asset(mysql_source, fresh_db, tmp_path, monkeypatch):
    """The streaming op logs each schema change as a materialization of the target's schema asset
    (declared in the definitions), with the DDL, the columns before and after and the binlog point."""
    tables = _sample(mysql_source, fresh_db, rows=20)
    table = tables[fresh_db][0]
    pipeline = _pipeline(tmp_path, mysql_source, [fresh_db])
    text = pipeline.read_text().replace("pipeline:\n", "pipeline:\n  schema.change.behavior: evolve\n")
    pipeline.write_text(text)
    defs, pid, home = _setup(tmp_path, mysql_source, monkeypatch, pipeline)
    key = schema_asset_key(TableId(fresh_db, table))
    assert key in {spec.key for spec in defs.resolve_all_asset_specs()}
    before = _streaming(mysql_source)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        proc = _start(pipeline, mysql_source, pid, home, tmp_path)
        try:
            _wait("the streaming run to start", lambda: _running_run(instance, pid), proc)
            _wait("the binlog connection", lambda: _streaming(mysql_source) > before, proc)
            mysql_source.server.execute(
                f"ALTER TABLE {quote_ident(fresh_db)}.{quote_ident(table)} ADD COLUMN audit_note VARCHAR(30)"
            )
            record = _wait(
                "the schema asset's materialization",
                lambda: instance.fetch_materializations(key, limit=1).records,
                proc,
            )[0]
        finally:
            proc.send_signal(signal.SIGTERM)
            _output(proc)
    meta = record.asset_materialization.metadata
    assert "ADD COLUMN audit_note" in meta["ddl"].value
    assert meta["change"].value == "add.column"
    assert "audit_note varchar(30)" in meta["columns_after"].value
    assert "audit_note" not in meta["columns_before"].value
    assert meta["outcome"].value.startswith("add.column: ")
    assert meta["binlog_position"].value
