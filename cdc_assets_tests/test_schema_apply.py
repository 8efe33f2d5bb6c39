"""The pure helpers both sinks use to apply schema changes (no server)."""

from __future__ import annotations

import pytest

from cdc_assets.core.schema import Column
from cdc_assets.core.schema_apply import column_default, starrocks_schema_changes, starrocks_version

INT = Column("c", "int", "int(11)")
VARCHAR = Column("c", "varchar", "varchar(10)")
DATETIME = Column("c", "datetime", "datetime")


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("3.3.5 c3a8d5a", (3, 3, 5)),
        ("3.3.5 standin", (3, 3, 5)),
        ("3.2.11-ee", (3, 2, 11)),
        ("v3.6", (3, 6, 0)),
        ("unknown", None),
        ("", None),
    ],
)
def test_current_version_is_read(text, version):
    assert starrocks_version(text) == version


@pytest.mark.parametrize(
    ("version", "has", "lacks"),
    [
        (
            (3, 2, 9),
            {"create.table", "add.column", "drop.column", "rename.table"},
            {"drop.table", "truncate.table"},
        ),
        ((3, 3, 0), {"drop.table", "truncate.table"}, {"rename.column", "alter.column.type"}),
        ((3, 5, 9), {"drop.table", "truncate.table"}, {"rename.column", "alter.table.comment"}),
        (
            (3, 6, 0),
            {"rename.column", "alter.column.type", "alter.table.comment", "alter.column.comment"},
            set(),
        ),
        ((4, 0, 1), {"rename.column", "alter.column.type"}, set()),
        (None, {"add.column"}, {"drop.table", "rename.column"}),
    ],
)
def test_starrocks_kinds_by_version_follow_flink(version, has, lacks):
    tags = starrocks_schema_changes(version)
    assert has <= tags and not (lacks & tags)


@pytest.mark.parametrize(
    ("sql", "col", "boolean", "expected"),
    [
        (None, INT, False, (None, "")),
        ("NULL", INT, False, (None, "")),
        ("5", INT, False, ("5", "")),
        ("-1.5", INT, False, ("-1.5", "")),
        ("'7'", INT, False, ("7", "")),
        ("(3)", INT, False, ("3", "")),
        ("2", INT, True, ("1", "")),
        ("0", INT, True, ("0", "")),
        ("TRUE", INT, False, ("1", "")),
        ("'abc'", INT, False, (None, "its default 'abc' is not a number")),
        ("'it''s'", VARCHAR, False, ("it's", "")),
        ("'2024-01-02 03:04:05'", DATETIME, False, ("2024-01-02 03:04:05", "")),
        (
            "'0000-00-00 00:00:00'",
            DATETIME,
            False,
            (None, "its default '0000-00-00 00:00:00' is a zero date, which the target cannot hold"),
        ),
        ("CURRENT_TIMESTAMP", DATETIME, False, (None, "its default CURRENT_TIMESTAMP is not a constant")),
        ("b'101'", INT, False, (None, "its default b'101' is not a constant")),
        (
            "'2024-01-01'",
            Column("c", "timestamp", "timestamp"),
            False,
            (None, "a TIMESTAMP default ('2024-01-01') is not copied"),
        ),
        (
            "'ab'",
            Column("c", "varbinary", "varbinary(4)"),
            False,
            (None, "a VARBINARY default ('ab') is not copied"),
        ),
        # NOT NULL without a default: MySQL's implicit default fills the existing rows
        (None, Column("c", "int", "int(11)", nullable=False), False, ("0", "")),
        (None, Column("c", "tinyint", "tinyint(1)", nullable=False), True, ("0", "")),
        (None, Column("c", "varchar", "varchar(5)", nullable=False), False, ("", "")),
        (None, Column("c", "enum", "enum('b','a')", nullable=False), False, ("b", "")),
        (
            None,
            Column("c", "datetime", "datetime", nullable=False),
            False,
            (None, "MySQL filled the existing rows with the implicit default of a NOT NULL DATETIME"),
        ),
    ],
)
def test_added_column_default_for_existing_rows(sql, col, boolean, expected):
    assert column_default(sql, col, boolean=boolean) == expected
