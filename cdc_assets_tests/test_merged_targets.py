"""Targets that sharded tables are merged into (``route``), against a real MariaDB and both sinks (DuckDB,
the StarRocks stand-in): the widening a joining shard makes is a recorded schema change; a target that
exists narrower than the schema asked for is noticed; shards under an event-metadata transform rule all
land in one flush."""

from __future__ import annotations

import dataclasses
import threading
import time

import duckdb
import pymysql
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.offsets import BinlogPosition
from cdc_assets.core.schema import Column, TableId
from cdc_assets.core.sql import quote_table
from cdc_assets.engine import streaming
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.watermark import _changed_during_snapshot
from cdc_assets.errors import SchemaError
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import STARROCKS_PASSWORD
from cdc_assets_tests.pipelines import secrets_env, write_pipeline
from cdc_assets_tests.test_routing_e2e import _orders


@pytest.fixture(params=["duckdb", "starrocks"])
def target(request):
    """None: the DuckDB sink; else the StarRocks stand-in."""
    return request.getfixturevalue("standin") if request.param == "starrocks" else None


def _query(tmp_path, standin, sql: str) -> list[tuple]:
    if standin is None:
        con = duckdb.connect(str(tmp_path / "target.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    conn = pymysql.connect(
        host="127.0.0.1", port=standin.query_port, user="root", password=STARROCKS_PASSWORD, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _route(db: str, merged: TableId) -> str:
    return f"route:\n  - source-table: {db}.order_[0-9]+\n    sink-table: {merged}\n"


def test_shards_under_an_event_rule_all_land_in_one_flush(mysql_source, fresh_db, tmp_path, target):
    """``\\*, __data_event_type__ AS op`` over two shards merged into one target (the second with a column
    the first lacks): changes of both shards in one flush are one load of the target (two loads under one
    label: StarRocks would take the second for the first, already loaded), with the merged columns."""
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 20)
    _orders(server, fresh_db, "order_2", 20_000, 20, extra_column=", region CHAR(2) DEFAULT 'eu'")
    merged = TableId(f"{fresh_db}_ods", "orders")
    pipeline = write_pipeline(
        tmp_path, mysql_source, fresh_db, standin=target, route=_route(fresh_db, merged)
    )
    pipeline.write_text(
        pipeline.read_text()
        + f"transform:\n  - source-table: {fresh_db}.order_[0-9]+\n    projection: \\*, __data_event_type__ AS op\n"
    )
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    o1, o2 = quote_table(fresh_db, "order_1"), quote_table(fresh_db, "order_2")
    # one transaction: the stream reads both shards' changes into one flush
    conn = server.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {o1} (id, customer) VALUES (10901, 'one')")
            cur.execute(f"INSERT INTO {o2} (id, customer, region) VALUES (20901, 'two', 'us')")
            cur.execute(f"UPDATE {o1} SET note = 'u1' WHERE id = 10001")
            cur.execute(f"UPDATE {o2} SET note = 'u2' WHERE id = 20001")
        conn.commit()
    finally:
        conn.close()
    summary = run_sync(cfg, until_caught_up=True)
    assert summary.stream.rows == 4 and summary.stream.flushes == 1
    table = quote_table(merged.db, merged.table, "duckdb" if target is None else "mysql")
    rows = {
        r[0]: r[1:]
        for r in _query(tmp_path, target, f"SELECT id, note, region, op FROM {table} WHERE id IN "
                        "(10001, 10002, 10901, 20001, 20002, 20901)")
    }  # fmt: skip
    assert rows == {
        10001: ("u1", None, "+U"),
        10002: ("order_12", None, "+I"),
        10901: (None, None, "+I"),
        20001: ("u2", "eu", "+U"),
        20002: ("order_22", "eu", "+I"),
        20901: (None, "us", "+I"),
    }
    assert _query(tmp_path, target, f"SELECT COUNT(*) FROM {table}") == [(42,)]


def _merge_records(cfg) -> list:
    with StateStore(cfg.state_dir) as st:
        return [r for r in st.schema_changes() if r.origin == "merge"]


def test_a_shard_joining_wider_is_a_schema_change_recorded_once(mysql_source, fresh_db, tmp_path, target):
    """order_3 joins the target of order_1 and order_2 with a column they lack: the column added to the
    target is recorded as a schema change (origin ``merge``), once, however often the pipeline starts
    again; the stream's watermark filter does not take it for a statement it read."""
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 20)
    _orders(server, fresh_db, "order_2", 20_000, 20)
    merged = TableId(f"{fresh_db}_ods", "orders")
    pipeline = write_pipeline(
        tmp_path, mysql_source, fresh_db, standin=target, route=_route(fresh_db, merged)
    )
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    assert _merge_records(cfg) == []
    _orders(server, fresh_db, "order_3", 30_000, 20, extra_column=", region CHAR(2) DEFAULT 'eu'")
    run_sync(cfg, until_caught_up=True)
    run_sync(cfg, until_caught_up=True)  # started again: the target has the column, nothing is recorded again
    o3 = TableId(fresh_db, "order_3")
    (rec,) = _merge_records(cfg)
    assert (rec.source, rec.target, rec.kind) == (str(o3), str(merged), "add.column")
    assert rec.columns_after[-1] == "region char(2)" and rec.columns_after[:-1] == rec.columns_before
    assert rec.outcome.startswith("applied") and f"{o3} joins {merged}" in rec.outcome
    server.execute(f"UPDATE {quote_table(fresh_db, 'order_3')} SET note = 'later' WHERE id = 30001")
    end = BinlogPosition(*server.execute("SHOW MASTER STATUS")[0][:2])
    assert rec.position.position < end
    with StateStore(cfg.state_dir) as st:
        # recorded before order_3's chunks were read, yet no statement the stream read: the watermarks hold
        assert not _changed_during_snapshot(st, o3, end)
    table = quote_table(merged.db, merged.table, "duckdb" if target is None else "mysql")
    regions = dict(_query(tmp_path, target, f"SELECT id, region FROM {table} WHERE id IN (10001, 30001)"))
    assert regions == {10001: None, 30001: "eu"}


def test_a_target_narrower_than_its_schema_is_named_or_widened(mysql_source, fresh_db, tmp_path, target):
    """A target that exists without columns the schema asked for has: ``ensure_table`` names them (DuckDB's
    CREATE IF NOT EXISTS kept it as it was, and writes failed later); a schema with fewer columns than the
    target (a shard's own, LENIENT's kept columns) is fine. A restart that finds such a target before the
    stream saved anything (a wider shard appeared meanwhile) widens it as for a joining shard, or, under
    EXCEPTION, refuses naming the difference."""
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 20)
    merged = TableId(f"{fresh_db}_ods", "orders")
    pipeline = write_pipeline(
        tmp_path, mysql_source, fresh_db, standin=target, route=_route(fresh_db, merged),
        extra_pipeline="  schema.change.behavior: exception\n",
    )  # fmt: skip
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    ctx = RunContext(cfg)
    try:
        (o1,) = ctx.discover()  # creates the target from order_1; then the run stops before planning it
        schema = ctx.schemas[o1]
        wider = dataclasses.replace(schema, columns=(*schema.columns, Column("region", "char", "char(2)")))
        with pytest.raises(SchemaError) as err:
            ctx.sink.ensure_table(merged, wider)
        assert "missing columns region" in str(err.value) and err.value.context["missing"] == ("region",)
        narrower = dataclasses.replace(schema, columns=schema.columns[:2])
        ctx.sink.ensure_table(merged, narrower)  # a source with fewer columns writes those it has
    finally:
        ctx.close()
    _orders(server, fresh_db, "order_2", 20_000, 20, extra_column=", region CHAR(2) DEFAULT 'eu'")
    with pytest.raises(SchemaError) as err:
        run_sync(cfg, until_caught_up=True)
    assert f"{fresh_db}.order_2 is routed to {merged}" in str(err.value)
    assert "column region added (char(2))" in str(err.value) and "EXCEPTION does not change" in str(err.value)
    pipeline.write_text(pipeline.read_text().replace("exception", "lenient"))
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    (rec,) = _merge_records(cfg)
    assert (rec.source, rec.kind) == (f"{fresh_db}.order_2", "add.column")
    table = quote_table(merged.db, merged.table, "duckdb" if target is None else "mysql")
    regions = dict(_query(tmp_path, target, f"SELECT id, region FROM {table} WHERE id IN (10001, 20001)"))
    assert regions == {10001: None, 20001: "eu"}
    assert _query(tmp_path, target, f"SELECT COUNT(*) FROM {table}") == [(40,)]


def test_a_shard_created_in_the_binlog_shows_its_widening_to_the_stream(mysql_source, fresh_db, tmp_path):
    """order_2, created while the stream runs, with a column order_1 lacks: the stream widens the target
    when it reads the CREATE TABLE, records it at that statement and hands it to ``on_schema_change``
    (what the Dagster streaming op materializes the schema asset from), once."""
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 20)
    merged = TableId(f"{fresh_db}_ods", "orders")
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, route=_route(fresh_db, merged))
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    shown = []
    ctx = RunContext(cfg)
    stop = threading.Event()
    try:
        ctx.discover()
        runner = threading.Thread(
            target=streaming.stream,
            args=(ctx,),
            kwargs={"should_stop": stop.is_set, "on_schema_change": shown.extend},
            daemon=True,
        )
        runner.start()
        server.execute(
            f"CREATE TABLE {quote_table(fresh_db, 'order_2')} (id INT PRIMARY KEY, customer VARCHAR(40) NOT NULL, "
            "amount DECIMAL(10,2), note TEXT, region CHAR(2))"
        )
        server.execute(
            f"INSERT INTO {quote_table(fresh_db, 'order_2')} (id, customer, region) VALUES (20001, 'x', 'us')"
        )
        end = BinlogPosition(*server.execute("SHOW MASTER STATUS")[0][:2])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and runner.is_alive():
            with StateStore(cfg.state_dir) as state:
                point = state.restart_point()
            if point is not None and point.position is not None and point.position >= end:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        runner.join(timeout=60)
        ctx.close()
    assert not runner.is_alive()
    merges = [r for r in shown if r.origin == "merge"]
    assert [(r.source, r.target, r.kind) for r in merges] == [
        (f"{fresh_db}.order_2", str(merged), "add.column")
    ]
    (rec,) = _merge_records(cfg)  # recorded once, at the CREATE TABLE
    assert (rec.kind, rec.position, rec.columns_after) == (
        merges[0].kind,
        merges[0].position,
        merges[0].columns_after,
    )
    assert rec.position.position < end and rec.columns_after[-1] == "region char(2)"
    table = quote_table(merged.db, merged.table, "duckdb")
    assert dict(_query(tmp_path, None, f"SELECT id, region FROM {table} WHERE id IN (10001, 20001)")) == {
        10001: None,
        20001: "us",
    }
