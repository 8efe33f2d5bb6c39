"""core/schema_merge: the target schema of sharded tables merged by a route rule, one widening rule per row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cdc_assets.core.charsets import ServerDefaults
from cdc_assets.core.ddl_columns import describe_column
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.schema_change import AddColumn, AlterColumnType
from cdc_assets.core.schema_merge import (
    MergeError,
    least_common_column,
    merge_problems,
    merge_table_events,
    merged_schema,
    row_mapper,
    widening_changes,
)
from cdc_assets.core.starrocks_types import map_column
from cdc_assets.core.types import duckdb_type

UTF8 = ("utf8mb4", "utf8mb4_general_ci")


def col(definition: str, charset: tuple[str, str] | None = UTF8) -> Column:
    """A column as the server describes it, from ``name type``."""
    return describe_column(definition, charset, ServerDefaults())[0].column


def schema(table: str, *definitions: str, key: tuple[str, ...] = ("id",)) -> TableSchema:
    return TableSchema(TableId("shop", table), tuple(col(d) for d in definitions), key)


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        # integers by width and signedness
        ("int", "int", "int(11)"),
        ("int", "bigint", "bigint(20)"),
        ("tinyint", "smallint", "smallint(6)"),
        ("smallint", "mediumint", "mediumint(9)"),
        ("int", "int unsigned", "bigint(20)"),
        ("tinyint unsigned", "tinyint", "smallint(6)"),
        ("smallint unsigned", "smallint", "mediumint(9)"),
        ("mediumint unsigned", "int", "int(11)"),
        ("int unsigned", "bigint unsigned", "bigint(20) unsigned"),
        ("tinyint unsigned", "int unsigned", "int(10) unsigned"),
        ("bigint", "bigint unsigned", "decimal(20,0)"),
        ("tinyint(1)", "tinyint(1)", "tinyint(1)"),
        ("tinyint(1) unsigned", "int", "int(11)"),  # not a boolean: TINYINT(1) UNSIGNED stays a number
        # decimals: the larger integer part and the larger scale
        ("decimal(10,2)", "decimal(12,4)", "decimal(12,4)"),
        ("decimal(10,2)", "decimal(8,4)", "decimal(12,4)"),
        ("decimal(30,0)", "decimal(31,30)", "decimal(60,30)"),
        # integer + decimal: room for the integer's digits
        ("int", "decimal(10,2)", "decimal(12,2)"),
        ("decimal(5,1)", "bigint unsigned", "decimal(21,1)"),
        ("bigint", "decimal(65,30)", "decimal(65,30)"),
        # floating point
        ("float", "double", "double"),
        ("float", "int", "longtext"),
        # strings
        ("varchar(10)", "varchar(40)", "varchar(40)"),
        ("char(10)", "varchar(5)", "varchar(10)"),
        ("char(2)", "char(3)", "varchar(3)"),
        ("enum('a','bb')", "varchar(1)", "varchar(2)"),
        ("varchar(100)", "text", "text"),
        ("tinytext", "mediumtext", "mediumtext"),
        ("varchar(100)", "tinytext", "text"),  # 100 utf8mb4 characters need 400 bytes
        ("text", "longtext", "longtext"),
        # binary
        ("binary(4)", "varbinary(10)", "varbinary(10)"),
        ("varbinary(300)", "tinyblob", "blob"),
        ("blob", "mediumblob", "mediumblob"),
        # temporal
        ("date", "datetime", "datetime"),
        ("date", "datetime(3)", "datetime(3)"),
        ("datetime(3)", "datetime(6)", "datetime(6)"),
        ("timestamp", "timestamp(2)", "timestamp(2)"),
        ("time(1)", "time(3)", "time(3)"),
        ("datetime", "timestamp", "longtext"),
        # any other mix
        ("int", "varchar(10)", "longtext"),
        ("json", "varchar(10)", "longtext"),
        ("date", "time", "longtext"),
        ("year", "int", "longtext"),
        ("tinyint(1)", "int", "longtext"),  # a boolean (treat-tinyint1-as-boolean) and a number
    ],
)
def test_least_common_type(a: str, b: str, merged: str) -> None:
    for left, right in ((a, b), (b, a)):
        out = least_common_column(col(f"x {left} NOT NULL"), col(f"x {right} NOT NULL"))
        assert (out.name, out.column_type, out.nullable) == ("x", merged, False), (left, right)
        # both sinks take the widened type
        duckdb_type(out)
        map_column(out, is_key=False)


def test_tinyint1_is_a_number_when_not_read_as_a_boolean() -> None:
    out = least_common_column(col("x tinyint(1)"), col("x int"), tinyint1_as_boolean=False)
    assert out.column_type == "int(11)"


def test_decimals_beyond_65_digits_are_refused() -> None:
    with pytest.raises(MergeError, match="need 66 digits"):
        least_common_column(col("x decimal(36,0)"), col("x decimal(31,30)"))


def test_a_nullable_side_makes_the_column_nullable_and_the_wider_charset_wins() -> None:
    out = least_common_column(
        col("x varchar(5) NOT NULL", ("latin1", "latin1_swedish_ci")), col("x varchar(9)")
    )
    assert (out.column_type, out.nullable, out.charset) == ("varchar(9)", True, "utf8mb4")


def test_merged_schema_is_the_union_in_first_seen_order() -> None:
    a = schema("o1", "id int NOT NULL", "amount decimal(10,2) NOT NULL", "note varchar(10)")
    b = schema("o2", "ID bigint NOT NULL", "region char(2) NOT NULL", "note varchar(40)", key=("ID",))
    c = schema("o3", "id int NOT NULL", "amount decimal(12,4) NOT NULL", "note varchar(10)", "vip tinyint(1)")
    m = merged_schema([a, b, c], TableId("ods", "orders"))
    assert m.table_id == TableId("ods", "orders") and m.primary_key == ("id",)
    assert [(x.name, x.column_type, x.nullable) for x in m.columns] == [
        ("id", "bigint(20)", False),
        ("amount", "decimal(12,4)", True),  # o2 has none
        ("note", "varchar(40)", True),
        ("region", "char(2)", True),  # only in o2
        ("vip", "tinyint(1)", True),
    ]
    assert merged_schema([a]) == a
    assert merge_problems([a, b, c]) == []


def test_different_primary_keys_are_refused() -> None:
    a = schema("o1", "id int NOT NULL", "v int")
    b = schema("o2", "id int NOT NULL", "v int NOT NULL", key=("id", "v"))
    assert merge_problems([a, b]) == ["primary key (id) in shop.o1 but (id, v) in shop.o2"]


def test_a_decimal_key_with_another_scale_is_refused() -> None:
    a = schema("o1", "id decimal(10,1) NOT NULL")
    b = schema("o2", "id decimal(10,2) NOT NULL")
    (problem,) = merge_problems([a, b])
    assert "key column id is decimal(10,1) in shop.o1" in problem and "decimal(11,2)" in problem
    # integers merged into DECIMAL(20,0) keep one text per number
    assert (
        merge_problems([schema("o1", "id bigint NOT NULL"), schema("o2", "id bigint unsigned NOT NULL")])
        == []
    )


def test_two_decimals_too_wide_are_a_problem_not_a_crash() -> None:
    a = schema("o1", "id int NOT NULL", "x decimal(36,0)")
    b = schema("o2", "id int NOT NULL", "x decimal(31,30)")
    assert merge_problems([a, b]) == [
        "column x: decimal(36,0) and decimal(31,30) need 66 digits, more than DECIMAL's 65"
    ]


def test_row_mapper_fills_missing_columns_and_coerces_values() -> None:
    a = schema("o1", "id int NOT NULL", "d date", "flag tinyint(1)", "n int")
    b = schema("o2", "id bigint unsigned NOT NULL", "d datetime", "flag int", "n varchar(3)", "extra int")
    m = merged_schema([a, b])
    to_m = row_mapper(a, m)
    assert to_m is not None
    assert to_m((7, dt.date(2024, 1, 2), True, 5)) == (
        Decimal(7), dt.datetime(2024, 1, 2), "true", "5", None,
    )  # fmt: skip
    assert to_m((7, None, None, None)) == (Decimal(7), None, None, None, None)
    assert row_mapper(m, m) is None


def test_row_mapper_writes_text_as_flink_does() -> None:
    a = schema("o1", "id int NOT NULL", "v decimal(5,2)")
    b = schema("o2", "id int NOT NULL", "v varchar(10)")
    c = schema("o3", "id int NOT NULL", "v varbinary(4)")
    m = merged_schema([a, b, c])
    assert m.column("v").column_type == "longtext"
    assert row_mapper(a, m)((1, Decimal("1.50"))) == (1, "1.50")
    assert row_mapper(b, m) is None  # text already
    assert row_mapper(c, m)((1, b"\x01\xff")) == (1, "01FF")


def test_widening_changes_add_and_widen() -> None:
    a = schema("o1", "id int NOT NULL", "v varchar(10)")
    b = schema("o2", "id int NOT NULL", "v varchar(40)", "region char(2) NOT NULL")
    before, after = merged_schema([a]), merged_schema([a, b])
    changes = widening_changes(before, after, b.table_id, "merge")
    assert [type(c) for c in changes] == [AlterColumnType, AddColumn]
    assert changes[0].name == "v" and changes[0].column.column_type == "varchar(40)"
    assert changes[1].column.name == "region" and changes[1].column.nullable
    assert widening_changes(after, after, b.table_id, "merge") == []


def test_widen_gives_one_write_of_shards_whose_definitions_differ() -> None:
    from cdc_assets.engine.target_merge import widen

    a = schema("s1", "id int NOT NULL", "v varchar(20)", "region varchar(8)")
    b = schema("s2", "id bigint unsigned NOT NULL", "v varchar(20)")
    same = [(b, [], [(1, "x")]), (b, [(2,)], [])]
    assert widen(same) == (b, same)
    wide, parts = widen([(b, [], [(1, "x")]), (a, [(3,)], [(2, "y", "eu")])])
    assert wide.column_names == ("id", "v", "region") and wide.primary_key == ("id",)
    assert wide.column("id").column_type == "decimal(20,0)"
    assert [rows for _, _, rows in parts] == [[(Decimal(1), "x", None)], [(Decimal(2), "y", "eu")]]
    assert [keys for _, keys, _ in parts] == [[], [(Decimal(3),)]]
    assert all(type(k[0]) is Decimal for k in parts[1][1])


def test_uncollapsed_changes_of_shards_become_one_entry_of_the_merged_schema() -> None:
    """Each shard's events fitted by its ``keep`` and widened to the merged schema, one shard after the
    other, every event keeping its time (what ``op_ts`` and ``__data_event_type__`` read)."""
    from cdc_assets.core.events import EventChanges, RowChange, TableEvents, event_images

    a = schema("s1", "id int NOT NULL", "v varchar(20)")
    b = schema("s2", "id bigint NOT NULL", "v varchar(20)", "region varchar(8)")
    wide = merged_schema([a, b])
    target = TableId("ods", "t")
    first = EventChanges()
    first.add([RowChange("insert", None, (1, "x", "dropped"))], 100)  # decoded with a column a's target lacks
    first.add([RowChange("update", (1, "x", "dropped"), (1, "y", "dropped"))], 101)
    second = EventChanges()
    second.add([RowChange("delete", (7, "z", "eu"), None), RowChange("insert", None, (8, "w", "us"))], 50)
    out = merge_table_events(
        [TableEvents(target, a, first, (0,), (0, 1)), TableEvents(target, b, second, (0,), None)], wide
    )
    assert out.target == target and out.schema == wide and out.keep is None
    assert out.key_positions == wide.key_positions
    assert list(out.changes) == [
        RowChange("insert", None, (1, "x", None)),
        RowChange("update", (1, "x", None), (1, "y", None)),
        RowChange("delete", (7, "z", "eu"), None),
        RowChange("insert", None, (8, "w", "us")),
    ]
    assert out.changes.runs == [(0, 100), (1, 101), (2, 50)]
    images = event_images(out.changes)
    assert images.kinds == ["+I", "-U", "+U", "-D", "+I"] and images.times_ms == [
        100_000,
        101_000,
        101_000,
        50_000,
        50_000,
    ]
