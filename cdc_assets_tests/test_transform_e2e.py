"""Transform rules end to end: a real MariaDB, its binlog, and both sinks (DuckDB, the StarRocks stand-in)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.sync import run_sync
from cdc_assets.errors import ConfigError
from cdc_assets_tests.pipelines import secrets_env, write_pipeline


@pytest.fixture(params=["duckdb", "starrocks"])
def target(request):
    """None is DuckDB, else the StarRocks stand-in."""
    return request.getfixturevalue("standin") if request.param == "starrocks" else None


def _config(tmp_path, mysql_source, db, transform: str, standin=None, extra_source: str = ""):
    path = write_pipeline(
        tmp_path, mysql_source, db, chunk_size=3, standin=standin, extra_source=extra_source
    )
    path.write_text(path.read_text() + transform)
    return load_pipeline(path, env=secrets_env(mysql_source))


def _target_rows(cfg, table: TableId) -> list[tuple]:
    """The target table's rows (target columns, canonical values, ordered by the target key)."""
    ctx = RunContext(cfg)
    try:
        schema = ctx.discover(only=[table])[table]
        plan = ctx.sink.plan(schema)
        return ctx.sink.inner.fetch_all(ctx.target(table), plan.target)
    finally:
        ctx.close()


def _run(mysql_source, db: str, *statements: str) -> None:
    conn = mysql_source.server.connect(database=db)
    try:
        with conn.cursor() as cur:
            for s in statements:
                cur.execute(s)
        conn.commit()
    finally:
        conn.close()


def test_projection_and_filter_apply_to_snapshot_and_stream_rows(mysql_source, fresh_db, tmp_path, target):
    _run(
        mysql_source,
        fresh_db,
        "CREATE TABLE orders (id INT PRIMARY KEY, name VARCHAR(20), qty INT, price DECIMAL(10,2), "
        "status VARCHAR(10))",
        "INSERT INTO orders VALUES (1, 'apple', 2, 1.50, 'ok'), (2, 'pear', 1, 3.00, 'void'), "
        "(3, 'fig', 10, 0.25, 'ok'), (4, NULL, 1, 9.99, 'ok'), (5, 'kiwi', 3, 2.00, 'ok'), "
        "(6, 'lime', 4, 1.00, 'ok'), (7, 'plum', 1, 1.00, 'void')",
    )
    cfg = _config(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: id, UPPER(name) AS name_uc, qty * price AS total, __schema_name__ AS src_db, __table_name__ AS src_table, CONCAT(name, '#', CAST(id AS STRING)) AS tag
    filter: status <> 'void' AND total >= 2
""",
        standin=target,
    )
    table = TableId(fresh_db, "orders")
    first = run_sync(cfg, until_caught_up=True)
    assert first.snapshot_rows == 7  # rows read; the filtered ones are not written
    db = fresh_db
    assert _target_rows(cfg, table) == [
        (1, "APPLE", Decimal("3.00"), db, "orders", "apple#1"),
        (3, "FIG", Decimal("2.50"), db, "orders", "fig#3"),
        (4, None, Decimal("9.99"), db, "orders", "null#4"),  # Flink CDC's concat
        (5, "KIWI", Decimal("6.00"), db, "orders", "kiwi#5"),
        (6, "LIME", Decimal("4.00"), db, "orders", "lime#6"),
    ]
    _run(
        mysql_source,
        fresh_db,
        "INSERT INTO orders VALUES (8, 'date', 5, 1.00, 'ok'), (9, 'yuzu', 5, 1.00, 'void')",
        "UPDATE orders SET status = 'void' WHERE id = 1",  # out of the filter: leaves the target
        "UPDATE orders SET qty = 1 WHERE id = 6",  # total 1.00 < 2: out of the filter via a computed column
        "UPDATE orders SET status = 'ok' WHERE id = 2",  # into the filter: appears
        "UPDATE orders SET name = 'fig!' WHERE id = 3",  # stays: recomputed
        "DELETE FROM orders WHERE id IN (5, 7)",  # one in the target, one never written
    )
    second = run_sync(cfg, until_caught_up=True)
    assert second.snapshot_rows == 0 and second.stream.rows == 8
    assert _target_rows(cfg, table) == [
        (2, "PEAR", Decimal("3.00"), db, "orders", "pear#2"),
        (3, "FIG!", Decimal("2.50"), db, "orders", "fig!#3"),
        (4, None, Decimal("9.99"), db, "orders", "null#4"),  # Flink CDC's concat
        (8, "DATE", Decimal("5.00"), db, "orders", "date#8"),
    ]


def test_primary_keys_give_a_table_without_one_its_key(mysql_source, fresh_db, tmp_path, target):
    _run(
        mysql_source,
        fresh_db,
        "CREATE TABLE events (event_id INT NOT NULL, tenant INT, payload VARCHAR(30))",
        "INSERT INTO events VALUES (10, 1, 'a'), (11, 0, 'b'), (12, 2, 'c'), (13, 1, 'd'), (14, 3, 'e')",
    )
    cfg = _config(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.events
    projection: \\*, tenant * 100 AS tenant_x
    filter: tenant <> 0
    primary-keys: event_id
""",
        standin=target,
    )
    table = TableId(fresh_db, "events")
    assert run_sync(cfg, until_caught_up=True).snapshot_rows == 5
    assert _target_rows(cfg, table) == [
        (10, 1, "a", 100),
        (12, 2, "c", 200),
        (13, 1, "d", 100),
        (14, 3, "e", 300),
    ]
    _run(
        mysql_source,
        fresh_db,
        "UPDATE events SET payload = 'A' WHERE event_id = 10",
        "UPDATE events SET tenant = 0 WHERE event_id = 12",
        "DELETE FROM events WHERE event_id = 13",
        "INSERT INTO events VALUES (15, 4, 'f')",
    )
    assert run_sync(cfg, until_caught_up=True).stream.rows == 4
    assert _target_rows(cfg, table) == [(10, 1, "A", 100), (14, 3, "e", 300), (15, 4, "f", 400)]


def test_partition_keys_and_table_options_shape_the_starrocks_table(
    mysql_source, fresh_db, tmp_path, standin
):
    _run(
        mysql_source,
        fresh_db,
        "CREATE TABLE sales (id INT, region VARCHAR(8), amount INT, PRIMARY KEY (id, region))",
        "INSERT INTO sales VALUES (1, 'eu', 5), (2, 'us', 7)",
    )
    cfg = _config(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.sales
    projection: region, id, amount
    primary-keys: region, id
    partition-keys: region
    table-options: enable_persistent_index=true,replication_num=1,comment=sales by region
""",
        standin=standin,
    )
    run_sync(cfg, until_caught_up=True)
    ctx = RunContext(cfg)
    try:
        (row,) = ctx.sink.inner.fe.execute(
            f"SHOW CREATE TABLE {quote_ident(fresh_db, 'starrocks')}.`sales`", doing="reading the DDL"
        )
    finally:
        ctx.close()
    ddl = row[1]
    assert "PRIMARY KEY(`region`, `id`)" in ddl and "PARTITION BY (`region`)" in ddl
    assert '"enable_persistent_index" = "true"' in ddl and 'COMMENT "sales by region"' in ddl
    assert _target_rows(cfg, TableId(fresh_db, "sales")) == [("eu", 1, 5), ("us", 2, 7)]


def test_a_rule_naming_an_unknown_column_stops_discovery_naming_the_rule(mysql_source, fresh_db, tmp_path):
    _run(mysql_source, fresh_db, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    cfg = _config(
        tmp_path,
        mysql_source,
        fresh_db,
        f"transform:\n  - source-table: {fresh_db}.t\n    projection: id, w + 1 AS w1\n",
    )
    ctx = RunContext(cfg)
    try:
        with pytest.raises(ConfigError, match=r"transform\[0\]\.projection: unknown column 'w'"):
            ctx.discover()
    finally:
        ctx.close()


def test_a_table_without_a_key_and_no_rule_key_is_still_refused(mysql_source, fresh_db, tmp_path):
    _run(mysql_source, fresh_db, "CREATE TABLE t (id INT, v INT)")
    cfg = _config(
        tmp_path, mysql_source, fresh_db, f"transform:\n  - source-table: {fresh_db}.t\n    filter: v > 1\n"
    )
    ctx = RunContext(cfg)
    try:
        with pytest.raises(Exception, match="has no primary key.*primary-keys"):
            ctx.discover()
    finally:
        ctx.close()


def test_event_type_and_op_ts_on_snapshot_and_stream_rows(mysql_source, fresh_db, tmp_path, target):
    _run(
        mysql_source,
        fresh_db,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))",
        "INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')",
    )
    cfg = _config(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.items
    projection: \\*, __data_event_type__ AS op, op_ts AS ts
""",
        standin=target,
        extra_source="  metadata.list: op_ts\n",
    )
    table = TableId(fresh_db, "items")
    run_sync(cfg, until_caught_up=True)
    # snapshot rows are inserts at time 0, as Flink CDC's snapshot records
    assert _target_rows(cfg, table) == [
        (1, "a", "+I", 0),
        (2, "b", "+I", 0),
        (3, "c", "+I", 0),
        (4, "d", "+I", 0),
    ]
    started = int(time.time()) - 1
    _run(mysql_source, fresh_db, "INSERT INTO items VALUES (5, 'e')")
    _run(mysql_source, fresh_db, "UPDATE items SET name = 'A' WHERE id = 1")
    _run(mysql_source, fresh_db, "DELETE FROM items WHERE id = 2")
    _run(mysql_source, fresh_db, "UPDATE items SET id = 30 WHERE id = 3")  # a key change
    ended = int(time.time()) + 1
    assert run_sync(cfg, until_caught_up=True).stream.rows == 4
    rows = _target_rows(cfg, table)
    assert [r[:3] for r in rows] == [(1, "A", "+U"), (4, "d", "+I"), (5, "e", "+I"), (30, "c", "+U")]
    for _id, _name, op, ts in rows:
        if op != "+I" or _id == 5:  # binlog events: the event's time (whole seconds), in milliseconds
            assert started * 1000 <= ts <= ended * 1000 and ts % 1000 == 0, ts
    assert rows[1][3] == 0


def test_a_filter_on_the_event_type_keeps_rows_deleted_in_the_source(
    mysql_source, fresh_db, tmp_path, target
):
    _run(
        mysql_source,
        fresh_db,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))",
        "INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    cfg = _config(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.items
    projection: id, name, __data_event_type__ AS op
    filter: __data_event_type__ <> '-D'
""",
        standin=target,
    )
    table = TableId(fresh_db, "items")
    run_sync(cfg, until_caught_up=True)
    _run(
        mysql_source,
        fresh_db,
        "DELETE FROM items WHERE id IN (1, 2)",  # dropped by the filter: the rows stay
        "UPDATE items SET name = 'C' WHERE id = 3",
        "INSERT INTO items VALUES (4, 'd')",
    )
    _run(mysql_source, fresh_db, "DELETE FROM items WHERE id = 4")
    assert run_sync(cfg, until_caught_up=True).stream.rows == 5
    assert _target_rows(cfg, table) == [(1, "a", "+I"), (2, "b", "+I"), (3, "C", "+U"), (4, "d", "+I")]


def test_soft_delete_keeps_deleted_rows_marked_minus_d(mysql_source, fresh_db, tmp_path, target):
    _run(
        mysql_source,
        fresh_db,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), qty INT)",
        "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)",
    )
    cfg = _config(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.items
    projection: \\*, __data_event_type__ AS op_type
    converter-after-transform: SOFT_DELETE
""",
        standin=target,
    )
    table = TableId(fresh_db, "items")
    run_sync(cfg, until_caught_up=True)
    _run(
        mysql_source,
        fresh_db,
        "DELETE FROM items WHERE id = 1",
        "UPDATE items SET qty = 20 WHERE id = 2",
        "INSERT INTO items VALUES (4, 'd', 4)",
    )
    _run(mysql_source, fresh_db, "DELETE FROM items WHERE id IN (2, 4)")
    assert run_sync(cfg, until_caught_up=True).stream.rows == 5
    assert _target_rows(cfg, table) == [
        (1, "a", 1, "-D"),
        (2, "b", 20, "-D"),  # the deleted row as it was when deleted
        (3, "c", 3, "+I"),
        (4, "d", 4, "-D"),
    ]
    _run(mysql_source, fresh_db, "INSERT INTO items VALUES (1, 'a again', 5)")
    run_sync(cfg, until_caught_up=True)
    assert _target_rows(cfg, table)[0] == (1, "a again", 5, "+I")


def test_op_ts_without_metadata_list_stops_discovery_naming_the_fix(mysql_source, fresh_db, tmp_path):
    _run(mysql_source, fresh_db, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    cfg = _config(
        tmp_path,
        mysql_source,
        fresh_db,
        f"transform:\n  - source-table: {fresh_db}.t\n    projection: id, op_ts AS ts\n",
    )
    ctx = RunContext(cfg)
    try:
        with pytest.raises(
            ConfigError, match=r"transform\[0\]\.projection: op_ts is source metadata.*`metadata.list: op_ts`"
        ):
            ctx.discover()
    finally:
        ctx.close()
