"""The demo's sample shop database and a deterministic background write workload.

``create_sample_database`` builds four tables whose columns cover the MySQL types CDC has to get
right (utf8mb4 text with emoji, DECIMAL, DATETIME/TIMESTAMP with fractions, TIME beyond 24 h, ENUM,
SET, JSON, BIT, YEAR, BLOB, BIGINT UNSIGNED near 2^64-1, a case-insensitive VARCHAR key and a
composite key) and fills them from ``random.Random(seed)``: the same seed gives the same rows.

``Workload`` then changes them the way an application would, including primary-key changes
(a case-only change of a ``products.sku`` among them) and multi-table transactions, again
deterministically for a given seed and starting state. All values are bound parameters; names go
through ``quote_ident``. Neither function reads the clock: timestamps are derived from the seed.

``Workload`` lives in ``cdc_assets.demo_workload`` and is re-exported here; the column lists
and row builders both use are in ``cdc_assets.demo_rows``.
"""

from __future__ import annotations

import random
from typing import Any

import pymysql

from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.demo_rows import (
    HIGH_ORDER_ID,
    TABLES,
    _customer_row,
    _insert_sql,
    _new_sku,
    _order_rows,
    _product_row,
)
from cdc_assets.demo_workload import Workload

__all__ = ["HIGH_ORDER_ID", "TABLES", "Workload", "create_sample_database", "table_row_counts"]

_BATCH = 1000  # rows per executemany call; pymysql folds each call into multi-row INSERTs

_DDL = {
    "customers": """(
        id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        email VARCHAR(255) NOT NULL,
        is_active TINYINT(1) NOT NULL DEFAULT 1,
        balance DECIMAL(12,2) NOT NULL DEFAULT 0,
        created_at DATETIME(6) NOT NULL,
        updated_at TIMESTAMP(3) NULL DEFAULT NULL,
        birthday DATE NULL,
        tier ENUM('bronze','silver','gold') NOT NULL DEFAULT 'bronze',
        prefs JSON NULL)""",
    "products": """(
        sku VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY,
        title VARCHAR(200) NOT NULL,
        description TEXT,
        price DECIMAL(10,2) NOT NULL,
        weight_kg DOUBLE,
        rating FLOAT,
        stock SMALLINT UNSIGNED NOT NULL DEFAULT 0,
        thumbnail BLOB NULL,
        tags SET('new','sale','eco') NOT NULL DEFAULT '',
        launch_year YEAR)""",
    "orders": """(
        id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        customer_id INT NOT NULL,
        status ENUM('new','paid','shipped','delivered','cancelled') NOT NULL,
        total DECIMAL(14,2) NOT NULL,
        created_at DATETIME(3) NOT NULL,
        delivery_window TIME NULL,
        flags BIT(8) NOT NULL,
        currency CHAR(3) NOT NULL)""",
    "order_items": """(
        order_id BIGINT UNSIGNED NOT NULL,
        line_no SMALLINT NOT NULL,
        sku VARCHAR(32) NOT NULL,
        qty INT NOT NULL,
        unit_price DECIMAL(10,2) NOT NULL,
        checksum VARBINARY(16) NULL,
        PRIMARY KEY (order_id, line_no))""",
}


def _insert_many(cur: Any, sql: str, rows: list[tuple]) -> None:
    for i in range(0, len(rows), _BATCH):
        cur.executemany(sql, rows[i : i + _BATCH])


def create_sample_database(
    conn: pymysql.connections.Connection, db: str = "shop", *, rows: int = 2000, seed: int = 7
) -> list[str]:
    """Drop and create ``db`` with the four shop tables filled from ``seed``; returns the table names.

    ``rows`` is the number of customers; products are ``rows // 4`` (at least 10), orders
    ``rows * 3 // 2`` (a few of them with ids just below 2^64), each with 1-4 order items.
    Sets the session ``time_zone`` of ``conn`` to UTC so TIMESTAMP values are stored as given.
    """
    rng = random.Random(seed)
    with conn.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(db)}")
        cur.execute(f"CREATE DATABASE {quote_ident(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        for table in TABLES:
            cur.execute(f"CREATE TABLE {quote_table(db, table)} {_DDL[table]} ENGINE=InnoDB")
        customers = [_customer_row(rng, cid) for cid in range(1, rows + 1)]
        skus = [_new_sku(rng, n) for n in range(1, max(10, rows // 4) + 1)]
        products = [_product_row(rng, sku) for sku in skus]
        n_orders = rows * 3 // 2
        n_high = min(5, n_orders // 2)
        order_ids = list(range(1, n_orders - n_high + 1)) + [HIGH_ORDER_ID - k for k in range(n_high)]
        orders, items = [], []
        customer_ids = [c[0] for c in customers] or [1]
        for oid in order_ids:
            order, lines = _order_rows(rng, oid, customer_ids, skus)
            orders.append(order)
            items += lines
        conn.begin()
        try:
            for table, data in zip(TABLES, (customers, products, orders, items), strict=True):
                _insert_many(cur, _insert_sql(db, table), data)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return list(TABLES)


def table_row_counts(conn: pymysql.connections.Connection, db: str) -> dict[str, int]:
    """Exact ``COUNT(*)`` of every base table in ``db``, by table name."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' "
            "ORDER BY TABLE_NAME",
            (db,),
        )
        names = [r[0] for r in cur.fetchall()]
        counts = {}
        for name in names:
            cur.execute(f"SELECT COUNT(*) FROM {quote_table(db, name)}")
            counts[name] = int(cur.fetchone()[0])
    return counts
