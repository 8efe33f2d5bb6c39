"""Routing in Dagster on a real instance (temp DAGSTER_HOME) and a real MariaDB: one asset per target
table, whose partitions are the chunks of every table routed to it; a table routed to two targets
feeds both assets; one reconcile check per target."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.chunks import parse_source_chunk_partition_key
from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.defs.locate import PIPELINE_ENV, build_definitions
from cdc_assets.defs.names import schema_asset_key
from cdc_assets.defs.pipeline import chunk_of, partitions_def_name, table_asset_key
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.snapshot import plan_table
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.verify import compare_table, compare_target
from cdc_assets.errors import ConfigError
from cdc_assets.state import StateStore
from cdc_assets_tests.pipelines import secrets_env, write_pipeline
from cdc_assets_tests.test_routing_e2e import _orders

ROOT = Path(__file__).resolve().parent.parent
SHARDS = ("order_1", "order_2", "order_3")


@pytest.fixture
def dagster_home(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def _tables(server, db: str) -> None:
    for n, shard in enumerate(SHARDS, 1):
        server.execute(
            f"CREATE TABLE {quote_table(db, shard)} (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(20))"
        )
        server.execute(
            f"INSERT INTO {quote_table(db, shard)} SELECT {n * 1000} + seq, seq / 4, CONCAT('n', seq) "
            f"FROM {quote_ident(db)}.seq_1_to_90"
        )
    server.execute(f"CREATE TABLE {quote_table(db, 'customers')} (id INT PRIMARY KEY, name VARCHAR(20))")
    server.execute(
        f"INSERT INTO {quote_table(db, 'customers')} SELECT seq, CONCAT('c', seq) FROM {quote_ident(db)}.seq_1_to_70"
    )


def test_merged_and_fanned_out_targets_are_one_asset_each(
    mysql_source, fresh_db, tmp_path, dagster_home, monkeypatch
):
    server = mysql_source.server
    _tables(server, fresh_db)
    orders, a, b = (
        TableId(f"{fresh_db}_ods", "orders"),
        TableId(f"{fresh_db}_a", "customers"),
        TableId(f"{fresh_db}_b", "clients"),
    )
    route = f"""route:
  - source-table: {fresh_db}.order_[0-9]+
    sink-table: {orders}
  - source-table: {fresh_db}.customers
    sink-table: {fresh_db}_a.<>
    replace-symbol: <>
  - source-table: {fresh_db}.cust(\\.*)
    sink-table: {fresh_db}_b.clients
"""
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=40, route=route)
    for name, value in secrets_env(mysql_source).items():
        monkeypatch.setenv(name, value)
    defs = build_definitions({PIPELINE_ENV: str(pipeline)})
    dg.Definitions.validate_loadable(defs)
    targets = (orders, a, b)  # each: its table asset and its schema asset
    assert set(defs.resolve_all_asset_keys()) == {
        k for t in targets for k in (table_asset_key(t), schema_asset_key(t))
    }
    merged = defs.resolve_assets_def(table_asset_key(orders))
    sources = merged.metadata_by_key[table_asset_key(orders)]["source_tables"]
    assert getattr(sources, "value", sources) == ", ".join(f"{fresh_db}.{s}" for s in SHARDS)
    checks = {k.asset_key for k in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {table_asset_key(t) for t in (orders, a, b)}
    pid = next(j.name for j in defs.resolve_all_job_defs() if j.name.endswith("_stream")).removesuffix(
        "_stream"
    )

    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        planner = defs.resolve_sensor_def(f"{pid}_snapshot_planner")
        for req in planner(dg.build_sensor_context(instance=instance)).dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        keys = instance.get_dynamic_partitions(partitions_def_name(pid, orders))
        named = {parse_source_chunk_partition_key(k)[0] for k in keys}
        assert named == {TableId(fresh_db, s) for s in SHARDS}
        assert len(keys) == 3 * 3  # 90 rows in chunks of 40, per shard
        for key in keys:
            res = dg.materialize([merged], partition_key=key, instance=instance)
            meta = res.asset_materializations_for_node(merged.op.name)[0].metadata
            assert not meta["already_loaded"].value
            assert meta["source_table"].value == str(parse_source_chunk_partition_key(key)[0])
        assert meta["table_chunks_done"].value == "9 / 9"
        assert meta["table_rows_loaded"].value == 270

        # customers goes to both targets (route-mode ALL_MATCH): loading it through one asset loads both
        first = defs.resolve_assets_def(table_asset_key(a))
        second = defs.resolve_assets_def(table_asset_key(b))
        keys_a = instance.get_dynamic_partitions(partitions_def_name(pid, a))
        assert keys_a == instance.get_dynamic_partitions(partitions_def_name(pid, b))
        for key in keys_a:
            assert dg.materialize([first], partition_key=key, instance=instance).success
        res = dg.materialize([second], partition_key=keys_a[0], instance=instance)
        assert res.asset_materializations_for_node(second.op.name)[0].metadata["already_loaded"].value

        # the check of the merged target compares it with all its shards; before the stream ran, it waits
        checks_def = next(c for c in defs.asset_checks if c.check_key.asset_key == table_asset_key(orders))
        waiting = checks_def(dg.build_asset_check_context(instance=instance))
        assert not waiting.passed and "stream has not yet caught up" in waiting.description

        job = defs.resolve_job_def(f"{pid}_sync_until_caught_up")
        server.execute(f"UPDATE {quote_table(fresh_db, 'order_2')} SET note = 'streamed' WHERE id < 2010")
        server.execute(f"DELETE FROM {quote_table(fresh_db, 'order_3')} WHERE id > 3080")
        server.execute(f"UPDATE {quote_table(fresh_db, 'customers')} SET name = 'streamed' WHERE id < 5")
        assert job.execute_in_process(instance=instance).success
        result = checks_def(dg.build_asset_check_context(instance=instance))
        assert result.passed, result.description
        assert result.metadata["source_rows"].value == result.metadata["target_rows"].value == 260

    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        cmp = compare_target(ctx, orders, [TableId(fresh_db, s) for s in SHARDS])
        assert cmp.identical and cmp.target_rows == 260
        for target in (a, b):
            cmp = compare_table(ctx, TableId(fresh_db, "customers"), target=target)
            assert cmp.identical and cmp.source_rows == 70, (target, cmp)
        # a key without the source table is refused for a merged target, kept for a single source
        with pytest.raises(ConfigError, match="3 tables are routed"):
            chunk_of(cfg, orders, [TableId(fresh_db, s) for s in SHARDS], "chunk-000001")
        assert chunk_of(cfg, a, [TableId(fresh_db, "customers")], "chunk-000002") == (
            TableId(fresh_db, "customers"),
            2,
        )
        with pytest.raises(ConfigError, match="route rules do not send"):
            chunk_of(cfg, a, [TableId(fresh_db, "customers")], f"{fresh_db}.order_1:chunk-000000")
    finally:
        ctx.close()


def test_the_planner_replaces_keys_that_do_not_name_the_source(
    mysql_source, fresh_db, tmp_path, dagster_home, monkeypatch
):
    server = mysql_source.server
    server.execute(f"CREATE TABLE {quote_table(fresh_db, 't')} (id INT PRIMARY KEY)")
    server.execute(
        f"INSERT INTO {quote_table(fresh_db, 't')} SELECT seq FROM {quote_ident(fresh_db)}.seq_1_to_30"
    )
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=20)
    for name, value in secrets_env(mysql_source).items():
        monkeypatch.setenv(name, value)
    defs = build_definitions({PIPELINE_ENV: str(pipeline)})
    pid = next(j.name for j in defs.resolve_all_job_defs() if j.name.endswith("_stream")).removesuffix(
        "_stream"
    )
    name = partitions_def_name(pid, TableId(fresh_db, "t"))
    ctx = RunContext(load_pipeline(pipeline, env=secrets_env(mysql_source)))
    try:
        ctx.discover()
        assert len(plan_table(ctx, TableId(fresh_db, "t"))) == 2  # planned as an older release did
    finally:
        ctx.close()
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        # the partitions as an older release registered them
        instance.add_dynamic_partitions(name, ["chunk-000000", "chunk-000001"])
        asset = defs.resolve_assets_def(table_asset_key(TableId(fresh_db, "t")))
        assert dg.materialize([asset], partition_key="chunk-000000", instance=instance).success
        result = defs.resolve_sensor_def(f"{pid}_snapshot_planner")(
            dg.build_sensor_context(instance=instance)
        )
        for req in result.dynamic_partitions_requests:
            if isinstance(req, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
            else:
                for key in req.partition_keys:
                    instance.delete_dynamic_partition(req.partitions_def_name, key)
        keys = instance.get_dynamic_partitions(name)
        assert keys == [f"{fresh_db}.t:chunk-000000", f"{fresh_db}.t:chunk-000001"]
        res = dg.materialize([asset], partition_key=keys[0], instance=instance)
        assert res.asset_materializations_for_node(asset.op.name)[0].metadata["already_loaded"].value


ODD = "Order items-2024 ü$x,y|z"


def test_an_oddly_named_table_is_an_asset_whose_partitions_load(
    mysql_source, fresh_db, tmp_path, dagster_home, monkeypatch
):
    """Dagster refuses op names with a space, '$' or non-ASCII, and derives them from asset keys: the
    key has them replaced (and a hash); the partition keys escape ',' and '|' (they break UI backfills)."""
    server = mysql_source.server
    odd = TableId(fresh_db, ODD)
    server.execute(f"CREATE TABLE {quote_table(fresh_db, ODD)} (`k` INT PRIMARY KEY, `v w` VARCHAR(5))")
    server.execute(
        f"INSERT INTO {quote_table(fresh_db, ODD)} SELECT seq, 'x' FROM {quote_ident(fresh_db)}.seq_1_to_30"
    )
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, chunk_size=20)
    for name, value in secrets_env(mysql_source).items():
        monkeypatch.setenv(name, value)
    defs = build_definitions({PIPELINE_ENV: str(pipeline)})
    dg.Definitions.validate_loadable(defs)
    key = table_asset_key(odd)
    assert key.path[1].startswith("Order_items-2024___x_y_z_")
    asset = defs.resolve_assets_def(key)
    assert asset.metadata_by_key[key]["target_table"] in (str(odd), dg.MetadataValue.text(str(odd)))
    pid = next(j.name for j in defs.resolve_all_job_defs() if j.name.endswith("_stream")).removesuffix(
        "_stream"
    )
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        planner = defs.resolve_sensor_def(f"{pid}_snapshot_planner")
        for req in planner(dg.build_sensor_context(instance=instance)).dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        keys = instance.get_dynamic_partitions(partitions_def_name(pid, odd))
        assert len(keys) == 2 and all("," not in k and "|" not in k for k in keys)
        for k in keys:
            assert dg.materialize([asset], partition_key=k, instance=instance).success
    ctx = RunContext(load_pipeline(pipeline, env=secrets_env(mysql_source)))
    try:
        ctx.discover()
        cmp = compare_table(ctx, odd)
        assert cmp.identical and cmp.target_rows == 30
    finally:
        ctx.close()


def test_the_planner_shows_a_merged_target_widened_on_its_schema_asset(
    mysql_source, fresh_db, tmp_path, dagster_home, monkeypatch
):
    """order_2 joins the target order_1 was merged into with a column it lacks: the planner, which finds it
    and widens the target, shows the change on the target's schema asset, once."""
    server = mysql_source.server
    _orders(server, fresh_db, "order_1", 10_000, 20)
    merged = TableId(f"{fresh_db}_ods", "orders")
    pipeline = write_pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        route=f"route:\n  - source-table: {fresh_db}.order_[0-9]+\n    sink-table: {merged}\n",
    )
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    _orders(
        server, fresh_db, "order_2", 20_000, 20, customer_type="VARCHAR(80)", extra_column=", region CHAR(2)"
    )
    for name, value in secrets_env(mysql_source).items():
        monkeypatch.setenv(name, value)
    defs = build_definitions({PIPELINE_ENV: str(pipeline)})
    pid = next(j.name for j in defs.resolve_all_job_defs() if j.name.endswith("_stream")).removesuffix(
        "_stream"
    )
    planner = defs.resolve_sensor_def(f"{pid}_snapshot_planner")
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        first = planner(dg.build_sensor_context(instance=instance))
        shown = [
            (e.asset_key, e.metadata["change"].value, e.metadata["origin"].value) for e in first.asset_events
        ]
        key = schema_asset_key(merged)
        assert shown == [(key, "alter.column.type", "merge"), (key, "add.column", "merge")]
        assert "customer varchar(80) NOT NULL" in first.asset_events[0].metadata["columns_after"].value
        again = planner(dg.build_sensor_context(instance=instance))
        assert again.asset_events == []
    with StateStore(cfg.state_dir) as st:
        assert [(r.kind, r.origin) for r in st.schema_changes()] == [
            ("alter.column.type", "merge"),
            ("add.column", "merge"),
        ]
