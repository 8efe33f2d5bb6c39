"""Helpers for end-to-end tests: pipeline files for the session's private MariaDB, and comparisons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cdc_assets.config import load_pipeline
from cdc_assets.core.schema import TableId
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.verify import compare_table
from cdc_assets_tests.conftest import STARROCKS_PASSWORD

PASSWORD_ENV = "CDC_TEST_MYSQL_PASSWORD"
STARROCKS_PASSWORD_ENV = "CDC_TEST_STARROCKS_PASSWORD"
CLI = str(Path(sys.executable).with_name("cdc-assets"))


def sink_block(standin=None) -> str:
    """``tmp/target.duckdb``, or the StarRocks stand-in ``standin`` (its password through an env var)."""
    if standin is None:
        return "sink:\n  type: duckdb\n  path: target.duckdb\n"
    return f"""sink:
  type: starrocks
  jdbc-url: {standin.jdbc_url}
  load-url: {standin.load_url}
  username: root
  password: ${{{STARROCKS_PASSWORD_ENV}}}
  table.create.properties.replication_num: 1
  sink.buffer-flush.interval-ms: 1000
"""


def write_pipeline(
    tmp: Path,
    source,
    db: str,
    *,
    chunk_size: int = 50,
    extra_source: str = "",
    standin=None,
    route: str = "",
    extra_pipeline: str = "",
) -> Path:
    """A Flink CDC pipeline file capturing every table of ``db`` into ``tmp/target.duckdb``, or into the
    StarRocks stand-in when ``standin`` is given (same database and table names unless ``route``, a
    ``route:`` block, says otherwise; ``extra_pipeline``: more ``pipeline:`` keys, indented).

    Passwords are passed through ``${CDC_TEST_MYSQL_PASSWORD}`` (see :func:`env`), as users pass secrets.
    """
    path = tmp / "pipeline.yaml"
    path.write_text(
        f"""
source:
  type: mysql
  hostname: {source.host}
  port: {source.port}
  username: {source.user}
  password: ${{{PASSWORD_ENV}}}
  tables: {db}.\\.*
  server-id: 5501
  scan.incremental.snapshot.chunk.size: {chunk_size}
  scan.snapshot.fetch.size: 37
  heartbeat.interval: 1s
{extra_source}
{sink_block(standin)}
{route}
pipeline:
  name: e2e {db}
{extra_pipeline}
"""
    )
    return path


def secrets_env(source) -> dict[str, str]:
    """The variables a test pipeline file's ``${...}`` secrets refer to."""
    return {PASSWORD_ENV: source.password, STARROCKS_PASSWORD_ENV: STARROCKS_PASSWORD}


def env(source, **extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update(secrets_env(source))
    e.update(extra)
    return e


def cli(*args: str, source, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], env=env(source), capture_output=True, text=True, timeout=timeout, **kw
    )


def compare_all(pipeline: Path, source, db: str, tables) -> dict[str, object]:
    """Compare every table; returns {table: TableComparison} and asserts nothing itself."""
    cfg = load_pipeline(pipeline, env=secrets_env(source))
    ctx = RunContext(cfg)
    try:
        return {t: compare_table(ctx, TableId(db, t)) for t in tables}
    finally:
        ctx.close()


def assert_identical(pipeline: Path, source, db: str, tables) -> None:
    results = compare_all(pipeline, source, db, tables)
    bad = {t: r for t, r in results.items() if not r.identical}
    assert not bad, "\n".join(
        f"{t}: source {r.source_rows} rows, target {r.target_rows}; missing {r.missing}; extra {r.extra}"
        for t, r in bad.items()
    )
    assert all(r.source_rows > 0 for r in results.values())
