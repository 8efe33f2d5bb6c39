"""The demo's sample database and its write workload, against the private MariaDB."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pymysql
import pytest

from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.demo_data import HIGH_ORDER_ID, TABLES, Workload, create_sample_database, table_row_counts
from cdc_assets.local_mariadb import LocalMariaDB

ROWS = 200
PRIMARY_KEYS = {"customers": "id", "products": "sku", "orders": "id", "order_items": "order_id, line_no"}


@pytest.fixture
def conn(mariadb: LocalMariaDB) -> Iterator[pymysql.connections.Connection]:
    c = mariadb.connect()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def shop(conn: pymysql.connections.Connection, fresh_db: str) -> str:
    """A sample database of its own, for tests that write."""
    create_sample_database(conn, fresh_db, rows=ROWS)
    return fresh_db


@pytest.fixture(scope="module")
def sample_db(mariadb: LocalMariaDB) -> Iterator[str]:
    """One sample database shared by the read-only tests of this module."""
    name = "sample_read_only"
    c = mariadb.connect()
    try:
        create_sample_database(c, name, rows=ROWS)
        yield name
    finally:
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        c.close()


def _query(conn: pymysql.connections.Connection, sql: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def _scalar(conn: pymysql.connections.Connection, sql: str) -> object:
    return _query(conn, sql)[0][0]


def _dump(conn: pymysql.connections.Connection, db: str) -> dict[str, list[tuple]]:
    # BINARY ordering: keys that differ only in case must still come out in one fixed order.
    return {
        t: _query(
            conn,
            f"SELECT * FROM {quote_table(db, t)} ORDER BY {PRIMARY_KEYS[t].replace('sku', 'BINARY sku')}",
        )
        for t in TABLES
    }


def test_sample_database_has_the_tables_and_counts(
    conn: pymysql.connections.Connection, fresh_db: str
) -> None:
    assert create_sample_database(conn, fresh_db, rows=ROWS) == list(TABLES)
    counts = table_row_counts(conn, fresh_db)
    assert set(counts) == set(TABLES)
    assert counts["customers"] == ROWS
    assert counts["products"] == ROWS // 4
    assert counts["orders"] == ROWS * 3 // 2
    assert counts["orders"] <= counts["order_items"] <= 4 * counts["orders"]


@pytest.mark.parametrize(
    ("table", "column", "column_type", "collation"),
    [
        ("customers", "id", "int(11)", None),
        ("customers", "name", "varchar(100)", "utf8mb4_general_ci"),
        ("customers", "is_active", "tinyint(1)", None),
        ("customers", "balance", "decimal(12,2)", None),
        ("customers", "created_at", "datetime(6)", None),
        ("customers", "updated_at", "timestamp(3)", None),
        ("customers", "birthday", "date", None),
        ("customers", "tier", "enum('bronze','silver','gold')", "utf8mb4_general_ci"),
        ("customers", "prefs", "longtext", "utf8mb4_bin"),  # MariaDB's JSON is LONGTEXT + json_valid()
        ("products", "sku", "varchar(32)", "utf8mb4_general_ci"),
        ("products", "description", "text", "utf8mb4_general_ci"),
        ("products", "price", "decimal(10,2)", None),
        ("products", "weight_kg", "double", None),
        ("products", "rating", "float", None),
        ("products", "stock", "smallint(5) unsigned", None),
        ("products", "thumbnail", "blob", None),
        ("products", "tags", "set('new','sale','eco')", "utf8mb4_general_ci"),
        ("products", "launch_year", "year(4)", None),
        ("orders", "id", "bigint(20) unsigned", None),
        ("orders", "total", "decimal(14,2)", None),
        ("orders", "created_at", "datetime(3)", None),
        ("orders", "delivery_window", "time", None),
        ("orders", "flags", "bit(8)", None),
        ("orders", "currency", "char(3)", "utf8mb4_general_ci"),
        ("order_items", "order_id", "bigint(20) unsigned", None),
        ("order_items", "line_no", "smallint(6)", None),
        ("order_items", "checksum", "varbinary(16)", None),
    ],
)
def test_sample_columns_have_the_specified_types(
    conn: pymysql.connections.Connection,
    sample_db: str,
    table: str,
    column: str,
    column_type: str,
    collation: str | None,
) -> None:
    rows = _query(
        conn,
        "SELECT COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_NAME = %s",
        (sample_db, table, column),
    )
    assert rows == [(column_type, collation)]


@pytest.mark.parametrize(
    ("table", "key"),
    [("customers", "id"), ("products", "sku"), ("orders", "id"), ("order_items", "order_id,line_no")],
)
def test_sample_tables_have_their_primary_keys(
    conn: pymysql.connections.Connection, sample_db: str, table: str, key: str
) -> None:
    rows = _query(
        conn,
        "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY'",
        (sample_db, table),
    )
    assert rows == [(key,)]


def test_sample_values_cover_the_edge_cases(conn: pymysql.connections.Connection, sample_db: str) -> None:
    names = [n for (n,) in _query(conn, f"SELECT name FROM {quote_table(sample_db, 'customers')}")]
    assert any(any(ord(ch) > 0xFFFF for ch in n) for n in names), "some names carry 4-byte emoji"
    assert any(any(0x7F < ord(ch) <= 0xFFFF for ch in n) for n in names), "some names are non-ASCII"
    orders = quote_table(sample_db, "orders")
    assert _scalar(conn, f"SELECT MAX(id) FROM {orders}") == HIGH_ORDER_ID
    assert _scalar(conn, f"SELECT COUNT(*) FROM {orders} WHERE id >= 9223372036854775808") == 5
    assert _scalar(conn, f"SELECT COUNT(*) FROM {orders} WHERE delivery_window > '24:00:00'") > 0
    for table, column in [("customers", "prefs"), ("customers", "updated_at"), ("products", "thumbnail")]:
        assert (
            _scalar(conn, f"SELECT COUNT(*) FROM {quote_table(sample_db, table)} WHERE {column} IS NULL") > 0
        )
    assert (
        _scalar(
            conn, f"SELECT COUNT(*) FROM {quote_table(sample_db, 'customers')} WHERE updated_at IS NOT NULL"
        )
        > 0
    )


def test_sample_database_is_deterministic_per_seed(
    conn: pymysql.connections.Connection, fresh_db: str
) -> None:
    create_sample_database(conn, fresh_db, rows=50, seed=3)
    first = _dump(conn, fresh_db)
    create_sample_database(conn, fresh_db, rows=50, seed=3)
    assert _dump(conn, fresh_db) == first
    create_sample_database(conn, fresh_db, rows=50, seed=4)
    assert _dump(conn, fresh_db) != first


def test_table_row_counts_of_an_empty_database(conn: pymysql.connections.Connection, fresh_db: str) -> None:
    assert table_row_counts(conn, fresh_db) == {}


def _assert_consistent(conn: pymysql.connections.Connection, db: str) -> None:
    orders, items = quote_table(db, "orders"), quote_table(db, "order_items")
    orphans = f"SELECT COUNT(*) FROM {items} i LEFT JOIN {orders} o ON o.id = i.order_id WHERE o.id IS NULL"
    assert _scalar(conn, orphans) == 0
    empty = (
        f"SELECT COUNT(*) FROM {orders} o WHERE NOT EXISTS (SELECT 1 FROM {items} i WHERE i.order_id = o.id)"
    )
    assert _scalar(conn, empty) == 0
    wrong_totals = (
        f"SELECT COUNT(*) FROM {orders} o JOIN (SELECT order_id, SUM(qty * unit_price) AS s FROM {items} "
        f"GROUP BY order_id) x ON x.order_id = o.id WHERE x.s <> o.total"
    )
    assert _scalar(conn, wrong_totals) == 0


def test_workload_runs_and_counters_match_the_tables(
    mariadb: LocalMariaDB, conn: pymysql.connections.Connection, shop: str
) -> None:
    before = table_row_counts(conn, shop)
    (binlog_before,) = _query(conn, "SELECT @@gtid_binlog_pos")[0]
    work = Workload(mariadb.connect, shop, seed=5)
    work.run_for(400)
    after = table_row_counts(conn, shop)

    assert work.transactions == 400
    assert work.inserts > 0 and work.updates > 0 and work.deletes > 0
    assert sum(after.values()) - sum(before.values()) == work.inserts - work.deletes
    assert work.key_updates > 0
    products = quote_table(shop, "products")
    assert _scalar(conn, f"SELECT COUNT(*) FROM {products} WHERE BINARY sku <> LOWER(sku)") > 0, (
        "case-only key change"
    )
    orders = quote_table(shop, "orders")
    assert _scalar(conn, f"SELECT COUNT(*) FROM {orders} WHERE id >= 9223372036854775808") > 5, (
        "re-keyed orders"
    )
    _assert_consistent(conn, shop)
    # Every transaction got its own GTID: the workload commits each one separately.
    (binlog_after,) = _query(conn, "SELECT @@gtid_binlog_pos")[0]
    assert int(binlog_after.split("-")[2]) - int(binlog_before.split("-")[2]) == 400


def test_workload_is_deterministic(
    mariadb: LocalMariaDB, conn: pymysql.connections.Connection, fresh_db: str
) -> None:
    dumps = []
    for _ in range(2):
        create_sample_database(conn, fresh_db, rows=100)
        Workload(mariadb.connect, fresh_db, seed=9).run_for(150)
        dumps.append(_dump(conn, fresh_db))
    assert dumps[0] == dumps[1]


def test_workload_without_key_changes_keeps_keys(
    mariadb: LocalMariaDB, conn: pymysql.connections.Connection, shop: str
) -> None:
    products, orders = quote_table(shop, "products"), quote_table(shop, "orders")
    work = Workload(mariadb.connect, shop, seed=5, key_changes=False)
    work.run_for(200)
    assert work.key_updates == 0 and work.updates > 0
    assert _scalar(conn, f"SELECT COUNT(*) FROM {products} WHERE BINARY sku <> LOWER(sku)") == 0
    assert _scalar(conn, f"SELECT COUNT(*) FROM {orders} WHERE id >= 9223372036854775808") <= 5


def test_workload_in_the_background(
    mariadb: LocalMariaDB, conn: pymysql.connections.Connection, shop: str
) -> None:
    before = table_row_counts(conn, shop)
    started = time.monotonic()
    work = Workload(mariadb.connect, shop, seed=2, rate_per_s=100).start()
    deadline = started + 60
    while work.transactions < 10 and time.monotonic() < deadline:  # however busy the machine is
        time.sleep(0.01)
    assert work.running
    work.stop()
    elapsed = time.monotonic() - started
    assert not work.running
    # Paced at 100/s: never ahead of the clock. The pacer catches up when it is less than 1 s behind
    # (at most 100 transactions at once), so an unpaced run would exceed this bound, a paced one cannot.
    assert 10 <= work.transactions <= 100 * elapsed + 101
    after = table_row_counts(conn, shop)
    assert sum(after.values()) - sum(before.values()) == work.inserts - work.deletes
    _assert_consistent(conn, shop)


def test_workload_stop_reraises_what_the_thread_hit(mariadb: LocalMariaDB, fresh_db: str) -> None:
    work = Workload(mariadb.connect, fresh_db).start()  # no tables in fresh_db
    deadline = time.monotonic() + 10
    while work.running and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(pymysql.err.ProgrammingError) as err:
        work.stop()
    assert err.value.args[0] == 1146  # table doesn't exist


def test_workload_retries_when_locks_time_out(
    mariadb: LocalMariaDB, conn: pymysql.connections.Connection, shop: str
) -> None:
    def connect() -> pymysql.connections.Connection:
        return mariadb.connect(init_command="SET SESSION innodb_lock_wait_timeout = 1")

    blocker = mariadb.connect()
    try:
        blocker.begin()
        with blocker.cursor() as cur:
            for table in TABLES:  # locks every row and gap: the workload's next write waits
                cur.execute(f"SELECT COUNT(*) FROM {quote_table(shop, table)} FOR UPDATE")
        work = Workload(connect, shop, seed=1, rate_per_s=0).start()
        released = threading.Timer(1.5, blocker.commit)
        released.start()
        deadline = time.monotonic() + 20
        while work.running and work.transactions < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        released.join()
        work.stop()
    finally:
        blocker.close()
    assert work.retries >= 1
    assert work.transactions >= 20
    _assert_consistent(conn, shop)
