"""Flink CDC ``route`` end to end against a real MariaDB, into DuckDB and the StarRocks stand-in:
shards merged into one target, a table sent to every matching rule's target (ALL_MATCH), the seed
pipeline's ``db.\\.*`` -> ``db.<>`` over several tables."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.offsets import BinlogPosition
from cdc_assets.core.schema import TableId
from cdc_assets.core.schema_merge import merged_schema
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.engine import streaming
from cdc_assets.engine.catalog_cache import load_catalog
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.reconcile import reconcile_target
from cdc_assets.engine.status import pipeline_status
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.verify import compare_table, compare_target
from cdc_assets.errors import ConfigError, SchemaError
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import secrets_env, write_pipeline

SHARDS = ("order_1", "order_2", "order_3")


@pytest.fixture(params=["duckdb", "starrocks"])
def target(request):
    """None: the DuckDB sink; else the StarRocks stand-in."""
    return request.getfixturevalue("standin") if request.param == "starrocks" else None


def _orders(
    server,
    db: str,
    table: str,
    first_id: int,
    rows: int,
    *,
    extra_column: str = "",
    id_type: str = "INT",
    customer_type: str = "VARCHAR(40)",
) -> None:
    server.execute(
        f"CREATE TABLE {quote_table(db, table)} (id {id_type} PRIMARY KEY, customer {customer_type} NOT NULL, "
        f"amount DECIMAL(10,2), note TEXT{extra_column})"
    )
    server.execute(
        f"INSERT INTO {quote_table(db, table)} (id, customer, amount, note) "
        f"SELECT {first_id} + seq, CONCAT('c', MOD(seq, 7)), seq * 1.25, CONCAT(%s, seq) "
        f"FROM {quote_ident(db)}.seq_1_to_{rows}",
        [table],
    )


def _changes(server, db: str, table: str, first_id: int) -> None:
    """Inserts, updates (one of them of the key) and deletes in one shard."""
    t = quote_table(db, table)
    server.execute(
        f"INSERT INTO {t} (id, customer, amount, note) VALUES (%s, 'new', 1.00, 'streamed')", [first_id + 900]
    )
    server.execute(
        f"UPDATE {t} SET amount = amount + 100, note = 'updated' WHERE id BETWEEN %s AND %s",
        [first_id + 1, first_id + 5],
    )
    server.execute(f"UPDATE {t} SET id = %s WHERE id = %s", [first_id + 950, first_id + 10])
    server.execute(f"DELETE FROM {t} WHERE id BETWEEN %s AND %s", [first_id + 20, first_id + 24])


def _ctx(pipeline, mysql_source) -> RunContext:
    ctx = RunContext(load_pipeline(pipeline, env=secrets_env(mysql_source)))
    ctx.discover()
    return ctx


def _assert_same(result) -> None:
    assert result.identical, (
        f"{result.table}: source {result.source_rows} rows, target {result.target_rows}; "
        f"missing {result.missing}; extra {result.extra}"
    )
    assert result.source_rows > 0


def test_shards_merge_into_one_target_in_snapshot_and_stream(mysql_source, fresh_db, tmp_path, target):
    server = mysql_source.server
    for n, shard in enumerate(SHARDS, 1):
        _orders(server, fresh_db, shard, n * 10_000, 120)
    server.execute(f"CREATE TABLE {quote_table(fresh_db, 'customers')} (id INT PRIMARY KEY, name TEXT)")
    server.execute(f"INSERT INTO {quote_table(fresh_db, 'customers')} VALUES (1, 'a'), (2, 'b')")
    merged = TableId(f"{fresh_db}_ods", "orders")
    route = f"""route:
  - source-table: {fresh_db}.order_[0-9]+
    sink-table: {merged}
    description: merge shards
"""
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=40, standin=target, route=route)
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    shards = [TableId(fresh_db, s) for s in SHARDS]

    summary = run_sync(cfg, until_caught_up=True)
    assert summary.snapshot_rows == 3 * 120 + 2
    ctx = _ctx(pipeline, mysql_source)
    try:
        assert ctx.sources_of(merged) == shards
        _assert_same(compare_target(ctx, merged, shards))
        _assert_same(compare_table(ctx, TableId(fresh_db, "customers")))
    finally:
        ctx.close()

    for n, shard in enumerate(SHARDS, 1):
        _changes(server, fresh_db, shard, n * 10_000)
    run_sync(cfg, until_caught_up=True)
    ctx = _ctx(pipeline, mysql_source)
    try:
        _assert_same(compare_target(ctx, merged, shards))
        assert ctx.sink.row_count(merged) == 3 * (120 + 1 - 5)
        rec = reconcile_target(ctx, merged, shards, rechecks=0)
        assert rec.equal, rec.describe()
        assert (rec.source_rows, rec.target_rows) == (3 * 116, 3 * 116)
    finally:
        ctx.close()

    status = pipeline_status(cfg)
    rows = {t.source: t for t in status.tables}
    assert {rows[str(s)].target for s in shards} == {str(merged)}
    assert [rows[str(s)].source_rows for s in shards] == [116, 116, 116]
    assert {rows[str(s)].target_rows for s in shards} == {3 * 116}
    assert "3 source tables" in status.render()


def test_colliding_keys_overwrite_and_the_check_says_so(mysql_source, fresh_db, tmp_path):
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 0, 10)
    _orders(server, fresh_db, "order_2", 5, 10)  # ids 6-15: 6-10 collide with order_1's
    merged = TableId(f"{fresh_db}_ods", "orders")
    route = f"route:\n  - source-table: {fresh_db}.order_[0-9]+\n    sink-table: {merged}\n"
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, route=route)
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    shards = [TableId(fresh_db, "order_1"), TableId(fresh_db, "order_2")]
    ctx = _ctx(pipeline, mysql_source)
    try:
        rows = ctx.sink.fetch_all(merged, ctx.schemas[shards[0]])
        assert [r[0] for r in rows] == list(range(1, 16))  # one row per key
        cmp = compare_target(ctx, merged, shards)
        assert not cmp.identical and (cmp.source_rows, cmp.target_rows) == (20, 15)
        rec = reconcile_target(ctx, merged, shards, rechecks=0)
        assert not rec.equal and (rec.source_rows, rec.target_rows) == (20, 15)
    finally:
        ctx.close()


def test_shards_with_different_definitions_merge_in_snapshot_and_stream(
    mysql_source, fresh_db, tmp_path, target
):
    """A rolling ALTER half applied: order_1 as it was (INT key, VARCHAR(10)), order_2 with a BIGINT key, a
    VARCHAR(40) and a new column. The target is their merged schema; order_1's rows have NULL in region."""
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 60, customer_type="VARCHAR(10)")
    _orders(server, fresh_db, "order_2", 20_000, 60, id_type="BIGINT", extra_column=", region CHAR(2)")
    o2 = quote_table(fresh_db, "order_2")
    server.execute(
        f"UPDATE {o2} SET region = 'eu', customer = CONCAT('a-much-longer-name-', id) WHERE id % 2 = 0"
    )
    server.execute(f"INSERT INTO {o2} (id, customer, region) VALUES (%s, 'big', 'us')", [5_000_000_000])
    merged = TableId(f"{fresh_db}_ods", "orders")
    route = f"route:\n  - source-table: {fresh_db}.order_[0-9]+\n    sink-table: {merged}\n"
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=25, standin=target, route=route)
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    shards = [TableId(fresh_db, "order_1"), TableId(fresh_db, "order_2")]
    run_sync(cfg, until_caught_up=True)
    for n, shard in enumerate(("order_1", "order_2"), 1):
        _changes(server, fresh_db, shard, n * 10_000)
    server.execute(f"UPDATE {o2} SET region = 'ap', customer = 'streamed-longer-than-ten' WHERE id = 20030")
    server.execute(f"INSERT INTO {o2} (id, customer, region) VALUES (%s, 'big2', 'us')", [6_000_000_000])
    run_sync(cfg, until_caught_up=True)
    ctx = _ctx(pipeline, mysql_source)
    try:
        cmp = compare_target(ctx, merged, shards)
        _assert_same(cmp)
        assert cmp.target_rows == 2 * (60 + 1 - 5) + 2
        rec = reconcile_target(ctx, merged, shards, rechecks=0)
        assert rec.equal, rec.describe()
        wide = merged_schema([ctx.schemas[s] for s in shards])
        assert [(c.name, c.column_type) for c in wide.columns] == [
            ("id", "bigint(20)"), ("customer", "varchar(40)"), ("amount", "decimal(10,2)"), ("note", "text"),
            ("region", "char(2)"),
        ]  # fmt: skip
        rows = {r[0]: r for r in ctx.sink.fetch_all(merged, wide)}
        assert rows[10_002][4] is None and rows[20_002][4] == "eu" and rows[6_000_000_000][4] == "us"
        assert rows[20_030][1:] == ("streamed-longer-than-ten", Decimal("37.50"), "order_230", "ap")
    finally:
        ctx.close()


def test_shards_with_different_primary_keys_are_refused(mysql_source, fresh_db, tmp_path):
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 0, 5)
    server.execute(
        f"CREATE TABLE {quote_table(fresh_db, 'order_2')} (id INT, customer VARCHAR(40) NOT NULL, "
        "amount DECIMAL(10,2), note TEXT, PRIMARY KEY (id, customer))"
    )
    merged = TableId(f"{fresh_db}_ods", "orders")
    route = f"route:\n  - source-table: {fresh_db}.order_[0-9]+\n    sink-table: {merged}\n"
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, route=route)
    with pytest.raises(SchemaError) as err:
        run_sync(load_pipeline(pipeline, env=secrets_env(mysql_source)), until_caught_up=True)
    message = str(err.value)
    assert f"{fresh_db}.order_1, {fresh_db}.order_2 are all routed to {merged}" in message
    assert f"primary key (id) in {fresh_db}.order_1 but (id, customer) in {fresh_db}.order_2" in message
    assert "ALTER TABLE" in message and "source.tables.exclude" in message


def _events(server, db: str) -> None:
    server.execute(
        f"CREATE TABLE {quote_table(db, 'events')} (id BIGINT PRIMARY KEY, kind VARCHAR(10), at DATETIME(3))"
    )
    server.execute(
        f"INSERT INTO {quote_table(db, 'events')} SELECT seq, CONCAT('k', MOD(seq, 3)), "
        f"TIMESTAMP('2024-01-01') + INTERVAL seq SECOND FROM {quote_ident(db)}.seq_1_to_150"
    )
    server.execute(f"CREATE TABLE {quote_table(db, 'users')} (id INT PRIMARY KEY, name VARCHAR(20))")
    server.execute(
        f"INSERT INTO {quote_table(db, 'users')} SELECT seq, CONCAT('u', seq) FROM {quote_ident(db)}.seq_1_to_30"
    )


def _fan_out_route(db: str) -> str:
    return f"""route:
  - source-table: {db}.(\\.*)
    sink-table: {db}_all.$1
  - source-table: {db}.events
    sink-table: {db}_ev.events_copy
"""


def test_all_match_writes_a_table_to_every_matching_rules_target(mysql_source, fresh_db, tmp_path, target):
    server = mysql_source.server
    _events(server, fresh_db)
    pipeline = write_pipeline(
        tmp_path, mysql_source, fresh_db, chunk_size=40, standin=target, route=_fan_out_route(fresh_db)
    )
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    events, users = TableId(fresh_db, "events"), TableId(fresh_db, "users")
    copies = [TableId(f"{fresh_db}_all", "events"), TableId(f"{fresh_db}_ev", "events_copy")]
    run_sync(cfg, until_caught_up=True)
    e = quote_table(fresh_db, "events")
    server.execute(f"INSERT INTO {e} VALUES (1000, 'new', NOW(3))")
    server.execute(f"UPDATE {e} SET kind = 'changed' WHERE id <= 10")
    server.execute(f"DELETE FROM {e} WHERE id BETWEEN 100 AND 109")
    server.execute(f"UPDATE {quote_table(fresh_db, 'users')} SET name = 'x' WHERE id = 1")
    run_sync(cfg, until_caught_up=True)
    ctx = _ctx(pipeline, mysql_source)
    try:
        assert ctx.targets(events) == copies and ctx.targets(users) == [TableId(f"{fresh_db}_all", "users")]
        for copy in copies:
            _assert_same(compare_table(ctx, events, target=copy))
            assert ctx.sink.row_count(copy) == 141
            rec = reconcile_target(ctx, copy, ctx.sources_of(copy), rechecks=0)
            assert rec.equal, rec.describe()
        _assert_same(compare_table(ctx, users))
        with pytest.raises(ConfigError, match="matches several route rules"):
            ctx.target(events)  # callers that need one target are told why there is none
    finally:
        ctx.close()
    status = pipeline_status(cfg)
    assert sorted(t.target for t in status.tables if t.source == str(events)) == sorted(map(str, copies))


def test_first_match_writes_only_to_the_first_rules_target(mysql_source, fresh_db, tmp_path):
    server = mysql_source.server
    _events(server, fresh_db)
    pipeline = write_pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        route=_fan_out_route(fresh_db),
        extra_pipeline="  route-mode: FIRST_MATCH\n",
    )
    run_sync(load_pipeline(pipeline, env=secrets_env(mysql_source)), until_caught_up=True)
    ctx = _ctx(pipeline, mysql_source)
    try:
        assert ctx.targets(TableId(fresh_db, "events")) == [TableId(f"{fresh_db}_all", "events")]
        _assert_same(compare_table(ctx, TableId(fresh_db, "events")))
        assert ctx.sink.row_count(TableId(f"{fresh_db}_ev", "events_copy")) is None
    finally:
        ctx.close()


#: a space, a hyphen, non-ASCII, a dollar: MariaDB allows them quoted, DuckDB too. StarRocks allows only
#: letters, digits and '_' in table names (docs: "System limits"): there, upper and lower case.
ODD = "Order items-2024 ü$x"
ODD_STARROCKS = "Order_Items_2024"


def test_the_seed_pipelines_route_over_a_database_of_several_tables(mysql_source, fresh_db, tmp_path, target):
    """The seed file's rule (``db1.\\.*`` -> ``db1.<>``, replace-symbol ``<>``) over several tables, one of
    them with an odd name, then changes streamed: every table lands under its own name."""
    server = mysql_source.server
    odd = ODD if target is None else ODD_STARROCKS
    _events(server, fresh_db)
    server.execute(
        f"CREATE TABLE {quote_table(fresh_db, odd)} (`key col` VARCHAR(20) PRIMARY KEY, `v-1` INT)"
    )
    server.execute(
        f"INSERT INTO {quote_table(fresh_db, odd)} SELECT CONCAT('k', seq), seq FROM {quote_ident(fresh_db)}.seq_1_to_60"
    )
    route = f"""route:
  - source-table: {fresh_db}.\\.*
    sink-table: {fresh_db}.<>
    replace-symbol: <>
    description: route all tables to starrrocks
"""
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=25, standin=target, route=route)
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    server.execute(f"UPDATE {quote_table(fresh_db, odd)} SET `v-1` = -`v-1` WHERE `key col` LIKE 'k1%'")
    server.execute(f"DELETE FROM {quote_table(fresh_db, odd)} WHERE `key col` = 'k2'")
    server.execute(f"INSERT INTO {quote_table(fresh_db, 'users')} VALUES (500, 'late')")
    run_sync(cfg, until_caught_up=True)
    ctx = _ctx(pipeline, mysql_source)
    try:
        tables = sorted(ctx.schemas)
        assert tables == [TableId(fresh_db, t) for t in (odd, "events", "users")]
        for table in tables:
            assert ctx.targets(table) == [table]
            _assert_same(compare_table(ctx, table))
        assert ctx.sink.row_count(TableId(fresh_db, odd)) == 59
    finally:
        ctx.close()


def test_a_shard_created_while_streaming_joins_its_merged_target(
    mysql_source, fresh_db, tmp_path, target, monkeypatch
):
    monkeypatch.setattr(streaming, "NEW_TABLE_DISCOVERY_SECONDS", 0.3)
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 50)
    _orders(server, fresh_db, "order_2", 20_000, 50)
    merged = TableId(f"{fresh_db}_ods", "orders")
    route = f"route:\n  - source-table: {fresh_db}.order_[0-9]+\n    sink-table: {merged}\n"
    pipeline = write_pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        chunk_size=20,
        standin=target,
        route=route,
        extra_source="  scan.newly-added-table.enabled: true",
    )
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    stop = threading.Event()
    runner = threading.Thread(target=lambda: run_sync(cfg, stop=stop), daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (cfg.state_dir / "catalog.json").exists():
            time.sleep(0.2)
        # found by the stream, snapshotted, streamed; with a column the others lack (the target gains it)
        _orders(server, fresh_db, "order_3", 30_000, 50, extra_column=", region CHAR(2) DEFAULT 'eu'")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "order_3" not in {t.table for t in load_catalog(cfg) or []}:
            time.sleep(0.2)
        for n, shard in enumerate(SHARDS, 1):
            _changes(server, fresh_db, shard, n * 10_000)
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
    assert not runner.is_alive()
    ctx = _ctx(pipeline, mysql_source)
    try:
        shards = [TableId(fresh_db, s) for s in SHARDS]
        cmp = compare_target(ctx, merged, shards)
        _assert_same(cmp)
        assert cmp.target_rows == 3 * (50 + 1 - 5)
        rec = reconcile_target(ctx, merged, shards, rechecks=0)
        assert rec.equal, rec.describe()
        wide = merged_schema([ctx.schemas[s] for s in shards])
        regions = {r[0]: r[-1] for r in ctx.sink.fetch_all(merged, wide)}
        assert regions[10_001] is None and regions[30_001] == "eu" and regions[30_900] == "eu"
    finally:
        ctx.close()


@pytest.mark.parametrize("behavior", ["lenient", "exception"])
def test_a_shard_created_with_wider_types_widens_its_target(
    mysql_source, fresh_db, tmp_path, target, behavior
):
    """order_3, created in the binlog after order_1 and order_2 were merged, has a BIGINT key and a longer
    VARCHAR: LENIENT widens the target's columns (AlterColumnType) before its rows land; EXCEPTION
    refuses it, as does a StarRocks older than 3.6 (it cannot change a column's type)."""
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 20)
    _orders(server, fresh_db, "order_2", 20_000, 20)
    merged = TableId(f"{fresh_db}_ods", "orders")
    route = f"route:\n  - source-table: {fresh_db}.order_[0-9]+\n    sink-table: {merged}\n"
    pipeline = write_pipeline(
        tmp_path, mysql_source, fresh_db, standin=target, route=route,
        extra_pipeline=f"  schema.change.behavior: {behavior}\n",
    )  # fmt: skip
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    _orders(server, fresh_db, "order_3", 30_000, 20, id_type="BIGINT", customer_type="VARCHAR(60)")
    o3 = quote_table(fresh_db, "order_3")
    server.execute(f"INSERT INTO {o3} (id, customer) VALUES (%s, %s)", [7_000_000_000, "x" * 60])
    shards = [TableId(fresh_db, s) for s in SHARDS]
    if behavior == "exception" or target is not None:
        with pytest.raises(SchemaError) as err:
            run_sync(cfg, until_caught_up=True)
        message = str(err.value)
        assert f"{fresh_db}.order_3 is routed to {merged}" in message
        assert (
            "column id widened to bigint(20)" in message
            and "column customer widened to varchar(60)" in message
        )
        if behavior == "exception":
            assert "schema.change.behavior EXCEPTION does not change the target" in message
        else:
            assert "alter.column.type" in message and "StarRocks 3.3.5" in message
        assert "ALTER TABLE the tables routed to" in message
        return
    run_sync(cfg, until_caught_up=True)
    server.execute(f"UPDATE {o3} SET note = 'later' WHERE id = %s", [7_000_000_000])
    # a rolling ALTER that narrows one shard does not narrow the merged target: the others' values stay
    server.execute(f"ALTER TABLE {quote_table(fresh_db, 'order_1')} MODIFY amount DECIMAL(8,2)")
    server.execute(f"INSERT INTO {o3} (id, customer, amount) VALUES (30500, 'wide', 99999999.99)")
    run_sync(cfg, until_caught_up=True)
    ctx = _ctx(pipeline, mysql_source)
    try:
        _assert_same(compare_target(ctx, merged, shards))
        assert ctx.sink.row_count(merged) == 62
        rec = reconcile_target(ctx, merged, shards, rechecks=0)
        assert rec.equal, rec.describe()
    finally:
        ctx.close()


def test_schema_changes_reach_a_merged_target_and_every_fanned_out_target(
    mysql_source, fresh_db, tmp_path, target
):
    """EVOLVE: ADD COLUMN on one shard widens the shared target (the other shard's rows have it NULL),
    and so does a restart after it; DROP TABLE of a shard leaves the merged target; a table routed to
    two targets gets its ADD COLUMN in both."""
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 20)
    _orders(server, fresh_db, "order_2", 20_000, 20)
    _orders(server, fresh_db, "order_3", 30_000, 20)
    merged = TableId(f"{fresh_db}_ods", "orders")
    route = f"""route:
  - source-table: {fresh_db}.order_[0-9]+
    sink-table: {merged}
  - source-table: {fresh_db}.order_1
    sink-table: {fresh_db}_copy.order_1
"""
    pipeline = write_pipeline(
        tmp_path, mysql_source, fresh_db, standin=target, route=route,
        extra_pipeline="  schema.change.behavior: evolve\n",
    )  # fmt: skip
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    o1, o2 = quote_table(fresh_db, "order_1"), quote_table(fresh_db, "order_2")
    stop = threading.Event()
    runner = threading.Thread(target=lambda: run_sync(cfg, stop=stop), daemon=True)
    runner.start()  # the DDL is read while streaming (a table dropped while stopped is not found at start)
    try:
        time.sleep(1.0)
        server.execute(f"ALTER TABLE {o1} ADD COLUMN region VARCHAR(8)")
        server.execute(
            f"INSERT INTO {o1} (id, customer, amount, note, region) VALUES (10500, 'r', 1, 'n', 'eu')"
        )
        server.execute(f"INSERT INTO {o2} (id, customer, amount, note) VALUES (20500, 'r', 2, 'n')")
        server.execute(f"DROP TABLE {quote_table(fresh_db, 'order_3')}")
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
    assert not runner.is_alive()
    server.execute(f"UPDATE {o2} SET amount = 3 WHERE id = 20500")  # after a restart
    server.execute(f"UPDATE {o1} SET region = 'us' WHERE id = 10001")
    run_sync(cfg, until_caught_up=True)
    ctx = _ctx(pipeline, mysql_source)
    try:
        wide = ctx.schemas[TableId(fresh_db, "order_1")]
        assert "region" in wide.column_names
        rows = {r[0]: r for r in ctx.sink.fetch_all(merged, wide)}
        assert len(rows) == 20 + 21 + 20 + 1  # order_3's rows stay: its DROP TABLE is not applied here
        at = wide.column_names.index("region")
        assert rows[10500][at] == "eu" and rows[10001][at] == "us"
        assert rows[20500][at] is None and rows[20500][2] == 3
        copy = {r[0]: r for r in ctx.sink.fetch_all(TableId(f"{fresh_db}_copy", "order_1"), wide)}
        assert copy[10500][at] == "eu" and len(copy) == 21
        _assert_same(
            compare_table(ctx, TableId(fresh_db, "order_1"), target=TableId(f"{fresh_db}_copy", "order_1"))
        )
    finally:
        ctx.close()


def test_shards_whose_types_mix_are_merged_into_the_least_common_types(
    mysql_source, fresh_db, tmp_path, target
):
    """Every widening family in one target, through the snapshot and the stream: integer and text ->
    LONGTEXT, DATE and DATETIME -> DATETIME, two decimals -> one with room for both, TINYINT(1) (read as a
    boolean) and INT -> LONGTEXT ('true', '7'), FLOAT and DOUBLE -> DOUBLE, INT UNSIGNED and INT -> BIGINT."""
    server = mysql_source.server
    a, b = quote_table(fresh_db, "part_1"), quote_table(fresh_db, "part_2")
    server.execute(
        f"CREATE TABLE {a} (id INT PRIMARY KEY, v INT, d DATE, amount DECIMAL(10,2), flag TINYINT(1), "
        "f FLOAT, n INT UNSIGNED)"
    )
    server.execute(
        f"CREATE TABLE {b} (id INT PRIMARY KEY, v VARCHAR(10), d DATETIME(3), amount DECIMAL(8,4), flag INT, "
        "f DOUBLE, n INT)"
    )
    insert_a = f"INSERT INTO {a} VALUES (%s, %s, %s, %s, %s, %s, %s)"
    insert_b = f"INSERT INTO {b} VALUES (%s, %s, %s, %s, %s, %s, %s)"
    server.execute(insert_a, [1, 42, "2024-02-29", "12345678.25", 1, 0.5, 4_000_000_000])
    server.execute(insert_a, [2, None, None, None, None, None, None])
    server.execute(insert_b, [101, "text", "2024-03-01 10:11:12.345", "1234.5678", 7, 0.1, -5])
    merged = TableId(f"{fresh_db}_ods", "parts")
    route = f"route:\n  - source-table: {fresh_db}.part_[0-9]+\n    sink-table: {merged}\n"
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, standin=target, route=route)
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    server.execute(insert_a, [3, -7, "1999-12-31", "-0.01", 0, 2.25, 3])  # streamed alone
    server.execute(f"UPDATE {a} SET v = v + 1 WHERE id = 1")
    server.execute(insert_b, [102, "streamed", "2001-01-01 00:00:00.5", "-0.0001", -2, 1e300, 0])
    run_sync(cfg, until_caught_up=True)
    shards = [TableId(fresh_db, "part_1"), TableId(fresh_db, "part_2")]
    ctx = _ctx(pipeline, mysql_source)
    try:
        wide = merged_schema([ctx.schemas[s] for s in shards])
        assert [c.column_type for c in wide.columns] == [
            "int(11)", "longtext", "datetime(3)", "decimal(12,4)", "longtext", "double", "bigint(20)",
        ]  # fmt: skip
        _assert_same(compare_target(ctx, merged, shards))
        rec = reconcile_target(ctx, merged, shards, rechecks=0)
        assert rec.equal, rec.describe()
        rows = {r[0]: r for r in ctx.sink.fetch_all(merged, wide)}
        assert rows[1][1:5] == ("43", dt.datetime(2024, 2, 29), Decimal("12345678.25"), "true")
        assert rows[3][1] == "-7" and rows[101][1] == "text" and rows[1][6] == 4_000_000_000
    finally:
        ctx.close()


def test_binary_json_enum_and_time_columns_merged_with_text(mysql_source, fresh_db, tmp_path, target):
    """Bytes merged with text are written as upper-case hex (Flink's rule), JSON and ENUM with text as
    their text, TIME of two precisions as the larger; through the snapshot and the stream."""
    server = mysql_source.server
    a, b = quote_table(fresh_db, "part_1"), quote_table(fresh_db, "part_2")
    server.execute(
        f"CREATE TABLE {a} (id INT PRIMARY KEY, v VARBINARY(8), t TIME(1), j JSON, e ENUM('x','yy'))"
    )
    server.execute(
        f"CREATE TABLE {b} (id INT PRIMARY KEY, v VARCHAR(10), t TIME(3), j VARCHAR(20), e VARCHAR(1))"
    )
    server.execute(f"INSERT INTO {a} VALUES (1, X'01FF', '10:11:12.5', '{{\"a\": 1}}', 'yy')")
    server.execute(f"INSERT INTO {b} VALUES (101, 'text', '-01:00:00.125', 'plain', 'z')")
    merged = TableId(f"{fresh_db}_ods", "parts")
    route = f"route:\n  - source-table: {fresh_db}.part_[0-9]+\n    sink-table: {merged}\n"
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, standin=target, route=route)
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    server.execute(f"INSERT INTO {a} VALUES (2, X'00AB', '00:00:01', '[1, 2]', 'x')")
    server.execute(f"INSERT INTO {b} VALUES (102, 'more', '00:00:02.002', 'x', 'w')")
    run_sync(cfg, until_caught_up=True)
    shards = [TableId(fresh_db, "part_1"), TableId(fresh_db, "part_2")]
    ctx = _ctx(pipeline, mysql_source)
    try:
        wide = merged_schema([ctx.schemas[s] for s in shards])
        assert [c.column_type for c in wide.columns] == [
            "int(11)",
            "longtext",
            "time(3)",
            "longtext",
            "varchar(2)",
        ]
        _assert_same(compare_target(ctx, merged, shards))
        rows = {r[0]: r for r in ctx.sink.fetch_all(merged, wide)}
        assert (rows[1][1], rows[2][1], rows[101][1]) == ("01FF", "00AB", "text")
    finally:
        ctx.close()


def test_a_shard_joining_wider_widens_a_starrocks_36_target(
    mysql_source, fresh_db, tmp_path, tmp_path_factory
):
    """StarRocks 3.6 changes a column's type (Flink CDC's StarRocks sink applies alter.column.type from 3.6):
    the joining shard's longer VARCHAR reaches the target as a MODIFY COLUMN job, its new column as ADD
    COLUMN. StarRocks changes no DECIMAL into another DECIMAL: a shard that needs it is refused, naming it
    and the fix."""
    from cdc_assets.standin import StandIn
    from cdc_assets_tests.conftest import STARROCKS_PASSWORD

    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 20, customer_type="VARCHAR(10)")
    merged = TableId(f"{fresh_db}_ods", "orders")
    route = f"route:\n  - source-table: {fresh_db}.order_[0-9]+\n    sink-table: {merged}\n"
    with StandIn(
        password=STARROCKS_PASSWORD,
        data_dir=tmp_path_factory.mktemp("sr36"),
        version="3.6.1",
        alter_job_seconds=0.3,
    ) as sr36:
        pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, standin=sr36, route=route)
        cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
        run_sync(cfg, until_caught_up=True)
        server.execute(
            f"CREATE TABLE {quote_table(fresh_db, 'order_2')} (id INT PRIMARY KEY, customer VARCHAR(60) NOT NULL, "
            "amount DECIMAL(10,2), note TEXT, region CHAR(2))"
        )
        server.execute(
            f"INSERT INTO {quote_table(fresh_db, 'order_2')} VALUES (20001, %s, 12.5, 'wide', 'eu')",
            ["y" * 60],
        )
        run_sync(cfg, until_caught_up=True)
        shards = [TableId(fresh_db, "order_1"), TableId(fresh_db, "order_2")]
        ctx = _ctx(pipeline, mysql_source)
        try:
            _assert_same(compare_target(ctx, merged, shards))
            assert ctx.sink.row_count(merged) == 21
            rec = reconcile_target(ctx, merged, shards, rechecks=0)
            assert rec.equal, rec.describe()
        finally:
            ctx.close()
        _orders(server, fresh_db, "order_3", 30_000, 5)
        server.execute(f"ALTER TABLE {quote_table(fresh_db, 'order_3')} MODIFY amount DECIMAL(10,4)")
        with pytest.raises(SchemaError) as err:
            run_sync(cfg, until_caught_up=True)
        message = str(err.value)
        assert f"{fresh_db}.order_3 is routed to {merged}" in message
        assert "column amount widened to decimal(12,4)" in message and "Can not change" in message
        assert "ALTER TABLE the tables routed to" in message
