"""The DuckDB sink against real DuckDB files (no MySQL needed)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cdc_assets.core.events import RowChange, collapse
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.duckdb_sink import DuckDBSink

SCHEMA = TableSchema(
    table_id=TableId("shop", 'odd `name" here'),
    columns=(
        Column(
            "sku",
            "varchar",
            "varchar(32)",
            nullable=False,
            char_max_length=32,
            collation="utf8mb4_general_ci",
        ),
        Column("select", "decimal", "decimal(10,2)", numeric_precision=10, numeric_scale=2),
        Column("ünï code", "datetime", "datetime(6)", datetime_precision=6),
    ),
    primary_key=("sku",),
)
ROW_A = ("abc", Decimal("1.50"), dt.datetime(2024, 1, 2, 3, 4, 5, 123456))
ROW_B = ("xyz", None, None)


@pytest.mark.parametrize("file_name", ["shop.duckdb", "target.duckdb"])
def test_a_file_named_like_the_schema_works(tmp_path, file_name):
    # DuckDB names the file's catalog after its stem: "shop.duckdb" + schema "shop" must not clash.
    sink = DuckDBSink(tmp_path / file_name)
    target = SCHEMA.table_id
    sink.ensure_table(target, SCHEMA)
    sink.ensure_table(target, SCHEMA)  # idempotent
    assert sink.upsert(target, SCHEMA, [ROW_A, ROW_B]) == 2
    assert sink.upsert(target, SCHEMA, [ROW_A]) == 1  # re-loading a chunk replaces, never duplicates
    assert sink.row_count(target) == 2
    assert sink.fetch_all(target, SCHEMA) == [ROW_A, ROW_B]


def test_missing_table_counts_as_none(tmp_path):
    sink = DuckDBSink(tmp_path / "x.duckdb")
    assert sink.row_count(TableId("a", "b")) is None
    sink.ensure_table(TableId("a", "c"), SCHEMA)
    assert sink.row_count(TableId("a", "b")) is None


def test_apply_batch_gives_each_key_its_last_state_and_is_idempotent(tmp_path):
    sink = DuckDBSink(tmp_path / "t.duckdb")
    target = TableId("s", "t")
    sink.ensure_table(target, SCHEMA)
    sink.upsert(target, SCHEMA, [ROW_A, ROW_B])
    changes = [
        RowChange("update", ROW_A, ("ABC", Decimal("2.00"), None)),  # key change by case only
        RowChange("insert", None, ("new", Decimal("3.00"), None)),
        RowChange("delete", ROW_B, None),
        RowChange("update", ("new", Decimal("3.00"), None), ("new", Decimal("4.00"), None)),
    ]
    keys, rows = collapse(changes, [0])
    for _ in range(2):  # replaying after a crash changes nothing
        sink.apply_batch([(target, SCHEMA, keys, rows)])
        assert sink.fetch_all(target, SCHEMA) == [
            ("ABC", Decimal("2.00"), None),
            ("new", Decimal("4.00"), None),
        ]


@pytest.mark.parametrize(
    ("changes", "deleted", "written"),
    [
        ([RowChange("insert", None, (1, "a"))], [(1,)], [(1, "a")]),
        ([RowChange("insert", None, (1, "a")), RowChange("delete", (1, "a"), None)], [(1,)], []),
        ([RowChange("delete", (1, "a"), None), RowChange("insert", None, (1, "b"))], [(1,)], [(1, "b")]),
        ([RowChange("update", (1, "a"), (2, "a"))], [(1,), (2,)], [(2, "a")]),
        (
            [RowChange("update", (1, "a"), (2, "a")), RowChange("update", (2, "a"), (1, "z"))],
            [(1,), (2,)],
            [(1, "z")],
        ),
    ],
)
def test_collapse(changes, deleted, written):
    keys, rows = collapse(changes, [0])
    assert sorted(keys) == sorted(deleted)
    assert rows == written
