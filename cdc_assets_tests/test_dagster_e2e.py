"""End to end through Dagster: snapshot chunks as dynamic partitions materialized on a real instance
in a temp DAGSTER_HOME, the sensors ticked, and the bounded job run by `dagster job execute`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from cdc_assets.core.schema import TableId
from cdc_assets.defs.locate import PIPELINE_ENV, build_definitions
from cdc_assets.defs.names import schema_asset_key
from cdc_assets.defs.pipeline import partitions_def_name, table_asset_key
from cdc_assets.demo_data import Workload, create_sample_database
from cdc_assets_tests.pipelines import PASSWORD_ENV, assert_identical, env, secrets_env, write_pipeline

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def shop(mysql_source, fresh_db):
    conn = mysql_source.server.connect()
    try:
        tables = create_sample_database(conn, fresh_db, rows=200)
    finally:
        conn.close()
    return tables


@pytest.fixture
def dagster_home(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def _defs(pipeline: Path, mysql_source, monkeypatch) -> dg.Definitions:
    for name, value in secrets_env(mysql_source).items():
        monkeypatch.setenv(name, value)
    return build_definitions({PIPELINE_ENV: str(pipeline)})


def _pid(defs: dg.Definitions) -> str:
    jobs = [j.name for j in defs.resolve_all_job_defs() if j.name.endswith("_stream")]
    assert len(jobs) == 1, jobs
    return jobs[0].removesuffix("_stream")


def test_definitions_have_one_partitioned_asset_per_table_and_both_jobs(
    mysql_source, fresh_db, shop, tmp_path, monkeypatch
):
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db)
    defs = _defs(pipeline, mysql_source, monkeypatch)
    dg.Definitions.validate_loadable(defs)
    keys = set(defs.resolve_all_asset_keys())
    assert keys == {
        k
        for t in shop
        for k in (table_asset_key(TableId(fresh_db, t)), schema_asset_key(TableId(fresh_db, t)))
    }
    pid = _pid(defs)
    stream_job = defs.resolve_job_def(f"{pid}_stream")
    assert stream_job.executor_def.name == "in_process"
    assert stream_job.tags["dagster/max_retries"] == "0"
    assert defs.resolve_job_def(f"{pid}_sync_until_caught_up")
    asset = defs.resolve_assets_def(table_asset_key(TableId(fresh_db, "customers")))
    assert isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition)
    assert asset.op.pool == "cdc_snapshot"


@pytest.fixture(params=["duckdb", "starrocks"])
def target(request):
    """None: the DuckDB sink; else the StarRocks stand-in."""
    return request.getfixturevalue("standin") if request.param == "starrocks" else None


def test_snapshot_partitions_then_bounded_job_leave_target_equal_to_source(
    mysql_source, fresh_db, shop, tmp_path, dagster_home, monkeypatch, target
):
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=60, standin=target)
    defs = _defs(pipeline, mysql_source, monkeypatch)
    pid = _pid(defs)
    load = Workload(
        lambda: mysql_source.server.connect(database=fresh_db), fresh_db, seed=21, rate_per_s=200.0
    )
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        # Before the snapshot: the keep-alive sensor waits.
        keepalive = defs.resolve_sensor_def(f"{pid}_stream_keepalive")
        skipped = keepalive(dg.build_sensor_context(instance=instance))
        assert isinstance(skipped, dg.SkipReason)

        # The planner registers every chunk of every table as a dynamic partition.
        planner = defs.resolve_sensor_def(f"{pid}_snapshot_planner")
        result = planner(dg.build_sensor_context(instance=instance))
        assert result.dynamic_partitions_requests
        for req in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        again = planner(dg.build_sensor_context(instance=instance))
        assert not again.dynamic_partitions_requests  # planning is idempotent

        load.start()
        try:
            for t in shop:
                tid = TableId(fresh_db, t)
                asset = defs.resolve_assets_def(table_asset_key(tid))
                keys = instance.get_dynamic_partitions(partitions_def_name(pid, tid))
                assert keys
                for key in keys:
                    res = dg.materialize([asset], partition_key=key, instance=instance)
                    assert res.success
                    meta = res.asset_materializations_for_node(asset.op.name)[0].metadata
                    assert meta["rows"].value >= 0 and "key_range" in meta
                # a chunk run again is skipped: resumable without redoing finished chunks
                res = dg.materialize([asset], partition_key=keys[0], instance=instance)
                assert res.asset_materializations_for_node(asset.op.name)[0].metadata["already_loaded"].value
        finally:
            load.stop()
        assert load.transactions > 0

        # Every table snapshotted: the keep-alive sensor now asks for the streaming run.
        req = keepalive(dg.build_sensor_context(instance=instance))
        assert isinstance(req, dg.RunRequest)

    Workload(lambda: mysql_source.server.connect(database=fresh_db), fresh_db, seed=22).run_for(150)
    # The bounded job, exactly as CI would run it.
    dagster = str(Path(sys.executable).with_name("dagster"))
    proc = subprocess.run(
        [dagster, "job", "execute", "-m", "cdc_assets.definitions", "-j", f"{pid}_sync_until_caught_up"],
        env=env(
            mysql_source,
            PYTHONPATH=str(ROOT),
            **{PIPELINE_ENV: str(pipeline), "DAGSTER_HOME": str(dagster_home)},
        ),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RUN_SUCCESS" in proc.stdout + proc.stderr
    assert_identical(pipeline, mysql_source, fresh_db, shop)


def test_bounded_job_in_process_snapshots_and_streams(mysql_source, fresh_db, shop, tmp_path, monkeypatch):
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=100)
    defs = _defs(pipeline, mysql_source, monkeypatch)
    job = defs.resolve_job_def(f"{_pid(defs)}_sync_until_caught_up")
    Workload(lambda: mysql_source.server.connect(database=fresh_db), fresh_db, seed=31).run_for(100)
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance).success
        Workload(lambda: mysql_source.server.connect(database=fresh_db), fresh_db, seed=32).run_for(100)
        assert job.execute_in_process(instance=instance).success
    assert_identical(pipeline, mysql_source, fresh_db, shop)


def test_missing_pipeline_file_is_a_clear_error(tmp_path):
    from cdc_assets.errors import ConfigError

    with pytest.raises(ConfigError, match=PIPELINE_ENV):
        build_definitions({PIPELINE_ENV: str(tmp_path / "nope.yaml")})


def _validate(cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    dagster = str(Path(sys.executable).with_name("dagster"))
    e = {k: v for k, v in env_without_pipeline().items()}
    e.update(extra)
    return subprocess.run(
        [dagster, "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=cwd,
        env=e,
        capture_output=True,
        text=True,
        timeout=300,
    )


def env_without_pipeline() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != PIPELINE_ENV}


def test_workspace_validates_with_no_pipeline_configured(tmp_path):
    proc = _validate(ROOT, DAGSTER_HOME=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workspace_validates_with_a_pipeline(mysql_source, fresh_db, shop, tmp_path):
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db)
    proc = _validate(
        ROOT, DAGSTER_HOME=str(tmp_path), **{PIPELINE_ENV: str(pipeline), PASSWORD_ENV: mysql_source.password}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_streaming_job_applies_live_changes_and_resumes_after_termination(
    mysql_source, fresh_db, shop, tmp_path, dagster_home, monkeypatch
):
    import signal
    import time

    from cdc_assets.engine.sync import run_sync
    from cdc_assets_tests.pipelines import compare_all

    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=500)
    cfg_env = {PASSWORD_ENV: mysql_source.password}
    from cdc_assets.config import load_pipeline

    run_sync(load_pipeline(pipeline, env=cfg_env), until_caught_up=True)  # the snapshot, done beforehand
    pid = _pid(_defs(pipeline, mysql_source, monkeypatch))
    dagster = str(Path(sys.executable).with_name("dagster"))
    environ = env(
        mysql_source, PYTHONPATH=str(ROOT), **{PIPELINE_ENV: str(pipeline), "DAGSTER_HOME": str(dagster_home)}
    )

    def start():
        return subprocess.Popen(
            [dagster, "job", "execute", "-m", "cdc_assets.definitions", "-j", f"{pid}_stream"],
            env=environ,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_identical(proc, timeout=90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            if all(r.identical for r in compare_all(pipeline, mysql_source, fresh_db, shop).values()):
                return
            time.sleep(1.0)
        raise AssertionError("the streaming job did not bring the target level with the source")

    proc = start()
    try:
        Workload(lambda: mysql_source.server.connect(database=fresh_db), fresh_db, seed=41).run_for(150)
        wait_identical(proc)
    finally:
        proc.send_signal(signal.SIGTERM)  # as `dagster` does when a run is terminated
        proc.wait(timeout=60)
    Workload(lambda: mysql_source.server.connect(database=fresh_db), fresh_db, seed=42).run_for(100)
    proc = start()  # the keep-alive sensor's relaunch: resumes from the saved restart point
    try:
        wait_identical(proc)
    finally:
        proc.kill()
        proc.wait(timeout=60)
