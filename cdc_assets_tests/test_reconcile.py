"""Reconciling a target with its source per snapshot key range, against a real MariaDB and DuckDB."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb

from cdc_assets.config import load_pipeline
from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.reconcile import not_comparable_yet, reconcile_table, row_hash
from cdc_assets.engine.snapshot import plan_table
from cdc_assets.engine.sync import run_sync
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import secrets_env, write_pipeline


def test_equal_values_hash_alike_and_different_values_do_not():
    utc = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    plus2 = utc.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert row_hash((1, Decimal("1.50"), utc)) == row_hash((1, Decimal("1.5"), plus2))
    assert row_hash((1, '{"a": 1, "b": 2}'), [1]) == row_hash((1, '{"b":2,"a":1}'), [1])
    assert row_hash((1, "a")) != row_hash((1, "b")) != row_hash((2, "a"))
    assert row_hash((1, None)) != row_hash((1, "None"))


def test_reconcile_finds_the_key_range_that_differs(mysql_source, fresh_db, tmp_path):
    server = mysql_source.server
    db = quote_ident(fresh_db)
    server.execute(f"CREATE TABLE {db}.t (k VARCHAR(10) PRIMARY KEY, v DECIMAL(8,2), j JSON)")
    server.execute(
        f"INSERT INTO {db}.t SELECT CONCAT('k', LPAD(seq, 4, '0')), seq / 4, JSON_OBJECT('n', seq) "
        f"FROM {db}.seq_1_to_400"
    )
    path = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=100)
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    table = TableId(fresh_db, "t")
    planner = RunContext(cfg)
    try:
        planner.discover()
        plan_table(planner, table)
        assert not_comparable_yet(planner.state, str(table)) == "the snapshot has loaded 0 of 4 chunks"
    finally:
        planner.close()
    run_sync(cfg, until_caught_up=True)
    with StateStore(cfg.state_dir) as state:
        assert not_comparable_yet(state, str(table)) is None

    def reconcile(**kw):
        ctx = RunContext(cfg)
        try:
            ctx.discover()
            return reconcile_table(ctx, table, **kw)
        finally:
            ctx.close()

    ok = reconcile()
    assert ok.equal and ok.source_rows == ok.target_rows == 400 and ok.ranges >= 4
    with duckdb.connect(str(tmp_path / "target.duckdb")) as con:
        con.execute(f'UPDATE "{fresh_db}"."t" SET v = 0 WHERE k = \'k0250\'')
    bad = reconcile(rechecks=0)
    assert not bad.equal and len(bad.differing) == 1 and bad.rounds == 1
    (chunk,) = bad.differing
    assert (chunk.start is None or chunk.start <= ("k0250",)) and (
        chunk.end is None or ("k0250",) < chunk.end
    )
    assert "1 of" in bad.describe()
    server.execute(f"DELETE FROM {db}.t WHERE k = 'k0001'")  # the stream does not run: it stays in flight
    waited: list[float] = []
    late = reconcile(rechecks=1, wait_seconds=0.2, sleep=waited.append)
    assert len(late.differing) == 2 and late.rounds == 2 and waited
    assert late.source_rows == 399 and late.target_rows == 400
