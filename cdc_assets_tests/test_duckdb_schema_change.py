"""Schema-change events applied to real DuckDB files by DuckDBSink.apply_schema_change, with rows written
before and after each change and read back from the file."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pytest

from cdc_assets.core import schema_change as sc
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.errors import SinkError

SRC = TableId("app", "items")
TARGET = TableId("ods", "it ems")
ID = Column("id", "int", "int(11)", nullable=False)
NAME = Column("name", "varchar", "varchar(10)", char_max_length=10, charset="utf8mb4")
QTY = Column("qty", "int", "int(11)")
V1 = TableSchema(SRC, (ID, NAME, QTY), ("id",))


def read(sink: DuckDBSink, sql: str) -> list[tuple]:
    with duckdb.connect(str(sink.path), read_only=True) as db:
        return db.execute(sql.format(t='"ods"."it ems"')).fetchall()


def columns(sink: DuckDBSink, target: TableId = TARGET) -> list[tuple[str, str]]:
    with duckdb.connect(str(sink.path), read_only=True) as db:
        return db.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "ORDER BY column_index",
            [target.db, target.table],
        ).fetchall()


def with_columns(schema: TableSchema, *cols: Column) -> TableSchema:
    return dataclasses.replace(schema, columns=tuple(cols))


@pytest.fixture
def sink(tmp_path):
    s = DuckDBSink(tmp_path / "target.duckdb")
    yield s
    s.close()


def test_every_column_change_with_rows_written_before_and_after(sink):
    assert (
        sink.apply_schema_change(TARGET, sc.CreateTable(SRC, "CREATE TABLE items ...", V1), V1) == "applied"
    )
    assert sink.apply_schema_change(TARGET, sc.CreateTable(SRC, "CREATE TABLE items ...", V1), V1) == (
        "already applied"
    )
    sink.upsert(TARGET, V1, [(1, "a", 10), (2, "b", 20)])

    # ADD COLUMN with a default: existing rows take it, as in MySQL; FIRST cannot be followed (appended)
    note = Column("note", "varchar", "varchar(20)", char_max_length=20, charset="utf8mb4")
    add = sc.AddColumn(
        SRC,
        "ALTER TABLE items ADD note VARCHAR(20) DEFAULT 'n/a' FIRST",
        note,
        sc.ColumnPosition(first=True),
        "'n/a'",
    )
    v2 = with_columns(V1, note, ID, NAME, QTY)
    assert sink.apply_schema_change(TARGET, add, v2) == "applied"
    assert sink.apply_schema_change(TARGET, add, v2) == "already applied"
    assert [c for c, _ in columns(sink)] == ["id", "name", "qty", "note"]
    sink.upsert(TARGET, v2, [("x", 3, "c", 30)])  # the source's order, written by name
    sink.apply_batch([(TARGET, v2, [(1,)], [("y", 2, "b2", 21)])])
    assert read(sink, "SELECT id, name, qty, note FROM {t} ORDER BY id") == [
        (2, "b2", 21, "y"),
        (3, "c", 30, "x"),
    ]

    # DROP COLUMN
    drop = sc.DropColumn(SRC, "ALTER TABLE items DROP qty", "qty")
    v3 = with_columns(v2, note, ID, NAME)
    assert sink.apply_schema_change(TARGET, drop, v3) == "applied"
    assert sink.apply_schema_change(TARGET, drop, v3) == "already applied"
    sink.upsert_arrow(TARGET, v3, sink.to_arrow(v3, [("z", 4, "d")]))
    assert read(sink, "SELECT * FROM {t} ORDER BY id") == [(2, "b2", "y"), (3, "c", "x"), (4, "d", "z")]

    # RENAME COLUMN
    ren = sc.RenameColumn(SRC, "ALTER TABLE items RENAME COLUMN name TO title", "name", "title")
    title = dataclasses.replace(NAME, name="title")
    v4 = with_columns(v3, note, ID, title)
    assert sink.apply_schema_change(TARGET, ren, v4) == "applied"
    assert sink.apply_schema_change(TARGET, ren, v4) == "already applied"
    sink.upsert(TARGET, v4, [("w", 5, "e")])
    assert read(sink, "SELECT id, title FROM {t} ORDER BY id") == [(2, "b2"), (3, "c"), (4, "d"), (5, "e")]

    # MODIFY: a type maps as it would at create time (VARCHAR -> VARCHAR is no change in DuckDB;
    # INT -> BIGINT UNSIGNED is UBIGINT)
    same = sc.AlterColumnType(SRC, "ALTER TABLE items MODIFY title VARCHAR(99)", "title", title)
    assert sink.apply_schema_change(TARGET, same, v4) == "already applied"
    big = Column("id", "bigint", "bigint(20) unsigned", nullable=False)
    mod = sc.AlterColumnType(SRC, "ALTER TABLE items MODIFY id BIGINT UNSIGNED NOT NULL", "id", big)
    v5 = with_columns(v4, note, big, title)
    assert sink.apply_schema_change(TARGET, mod, v5) == "applied"
    assert sink.apply_schema_change(TARGET, mod, v5) == "already applied"
    assert dict(columns(sink))["id"] == "UBIGINT"
    sink.upsert(TARGET, v5, [("v", 2**63 + 1, "f")])
    assert read(sink, "SELECT id, title, note FROM {t} WHERE id > 4 ORDER BY id") == [
        (5, "e", "w"),
        (2**63 + 1, "f", "v"),
    ]
    assert sink.fetch_all(TARGET, v5)[0] == ("y", 2, "b2")


def test_added_column_defaults_fill_existing_rows_or_say_why_not(sink):
    sink.ensure_table(TARGET, V1)
    sink.upsert(TARGET, V1, [(1, "a", 10)])
    flag = Column("flag", "tinyint", "tinyint(1)")
    day = Column("day", "date", "date")
    at = Column("at", "datetime", "datetime")
    v = V1
    for col, default in [
        (flag, "2"),
        (day, "'2024-02-29'"),
        (at, "CURRENT_TIMESTAMP"),
        (Column("n", "int", "int(11)"), "NULL"),
    ]:
        v = with_columns(v, *v.columns, col)
        outcome = sink.apply_schema_change(TARGET, sc.AddColumn(SRC, "ALTER ...", col, None, default), v)
        if col is at:
            assert (
                outcome
                == "applied; existing rows have NULL in at: its default CURRENT_TIMESTAMP is not a constant"
            )
        else:
            assert outcome == "applied"
    assert read(sink, 'SELECT flag, day, "at", n FROM {t}') == [(True, dt.date(2024, 2, 29), None, None)]


def test_a_column_kept_in_the_target_is_null_for_rows_written_without_it(sink):
    """LENIENT keeps a dropped column in the target: later rows (without it) leave it NULL."""
    sink.ensure_table(TARGET, V1)
    sink.upsert(TARGET, V1, [(1, "a", 10)])
    v2 = with_columns(V1, ID, NAME)  # qty dropped at the source, not in the target
    sink.upsert(TARGET, v2, [(2, "b")])
    sink.upsert_arrow(TARGET, v2, sink.to_arrow(v2, [(3, "c")]))
    sink.apply_batch([(TARGET, v2, [], [(1, "a2")])])
    assert read(sink, "SELECT * FROM {t} ORDER BY id") == [(1, "a2", None), (2, "b", None), (3, "c", None)]


def test_table_kinds_rename_truncate_drop_and_comments(sink):
    sink.ensure_table(TARGET, V1)
    sink.upsert(TARGET, V1, [(1, "a", 10)])
    assert (
        sink.apply_schema_change(TARGET, sc.AlterTableComment(SRC, "ALTER ...", "it's a table"), V1)
        == "applied"
    )
    assert (
        sink.apply_schema_change(TARGET, sc.AlterColumnComment(SRC, "ALTER ...", "qty", "how many"), V1)
        == "applied"
    )
    assert sink.apply_schema_change(TARGET, sc.AlterColumnComment(SRC, "ALTER ...", "nope", "x"), V1) == (
        "ignored: ods.it ems has no column nope"
    )
    with duckdb.connect(str(sink.path), read_only=True) as db:
        assert db.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'it ems'").fetchall() == [
            ("it's a table",)
        ]
        assert db.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'it ems' AND column_name = 'qty'"
        ).fetchall() == [("how many",)]

    renamed = sc.RenameTable(SRC, "RENAME TABLE items TO goods", TableId("app", "goods"))
    moved = TableId("ods", "goods")
    assert sink.apply_schema_change(TARGET, renamed, V1) == "applied"
    assert sink.apply_schema_change(TARGET, renamed, V1) == "already applied"
    assert sink.row_count(TARGET) is None and sink.row_count(moved) == 1
    # into another schema (where routing sends the new name): a copy with the same columns and rows
    elsewhere = TableId("archive", "goods")
    assert sink.apply_schema_change(moved, renamed, V1, renamed_to=elsewhere) == "applied"
    assert columns(sink, elsewhere) == [("id", "INTEGER"), ("name", "VARCHAR"), ("qty", "INTEGER")]
    assert sink.fetch_all(elsewhere, V1) == [(1, "a", 10)]
    assert sink.apply_schema_change(moved, renamed, V1, renamed_to=moved) == (
        "ignored: app.items and app.goods both go to ods.goods"
    )

    assert sink.apply_schema_change(elsewhere, sc.TruncateTable(SRC, "TRUNCATE items"), V1) == "applied"
    assert sink.row_count(elsewhere) == 0
    assert sink.apply_schema_change(elsewhere, sc.DropTable(SRC, "DROP TABLE goods"), V1) == "applied"
    assert sink.apply_schema_change(elsewhere, sc.DropTable(SRC, "DROP TABLE goods"), V1) == "already applied"
    assert sink.apply_schema_change(elsewhere, sc.TruncateTable(SRC, "TRUNCATE goods"), V1) == (
        "ignored: archive.goods does not exist"
    )
    assert sink.row_count(elsewhere) is None
    assert "rename.table" in sink.supported_schema_changes()


def test_a_key_column_of_a_table_with_a_primary_key_constraint_changes_type_by_a_rebuild(sink):
    """Tables created by earlier versions have a PRIMARY KEY, and DuckDB refuses to retype its columns."""
    with duckdb.connect(str(sink.path)) as db:
        db.execute(
            'CREATE SCHEMA ods; CREATE TABLE ods."it ems" (id INTEGER PRIMARY KEY, name VARCHAR, qty INTEGER)'
        )
        db.execute("""INSERT INTO ods."it ems" VALUES (1, 'a', 10)""")
    big = Column("id", "bigint", "bigint(20)", nullable=False)
    v2 = with_columns(V1, big, NAME, QTY)
    change = sc.AlterColumnType(SRC, "ALTER TABLE items MODIFY id BIGINT", "id", big)
    assert sink.apply_schema_change(TARGET, change, v2) == "applied; rebuilt without its PRIMARY KEY"
    assert columns(sink) == [("id", "BIGINT"), ("name", "VARCHAR"), ("qty", "INTEGER")]
    sink.upsert(TARGET, v2, [(2**40, "b", 2), (1, "a2", 11)])
    assert sink.fetch_all(TARGET, v2) == [(1, "a2", 11), (2**40, "b", 2)]
    with duckdb.connect(str(sink.path), read_only=True) as db:
        assert db.execute("SELECT is_nullable FROM duckdb_columns() WHERE column_name = 'id'").fetchall() == [
            (False,)
        ]


def test_a_refused_change_names_the_table_and_the_statement_and_changes_nothing(sink):
    sink.ensure_table(TARGET, V1)
    sink.upsert(TARGET, V1, [(1, "not a number", 10)])
    as_int = dataclasses.replace(NAME, data_type="int", column_type="int(11)", char_max_length=None)
    change = sc.AlterColumnType(SRC, "ALTER TABLE items MODIFY name INT", "name", as_int)
    with pytest.raises(SinkError, match=r'ods\.it ems.*ALTER TABLE .*"name" TYPE INTEGER -> .*not a number'):
        sink.apply_schema_change(TARGET, change, with_columns(V1, ID, as_int, QTY))
    assert dict(columns(sink))["name"] == "VARCHAR"
    with pytest.raises(SinkError, match="does not exist"):
        sink.apply_schema_change(TableId("ods", "nope"), sc.DropColumn(SRC, "ALTER ...", "qty"), V1)


def test_column_names_match_regardless_of_case_as_in_mysql(sink):
    """MySQL accepts ``DROP COLUMN QTY`` for a column ``qty``; so does the sink (DuckDB ignores case too)."""
    sink.ensure_table(TARGET, V1)
    sink.upsert(TARGET, V1, [(1, "a", 10)])
    assert (
        sink.apply_schema_change(TARGET, sc.DropColumn(SRC, "ALTER TABLE items DROP QTY", "QTY"), V1)
        == "applied"
    )
    ren = sc.RenameColumn(SRC, "ALTER TABLE items RENAME COLUMN NAME TO Title", "NAME", "Title")
    assert sink.apply_schema_change(TARGET, ren, V1) == "applied"
    assert sink.apply_schema_change(TARGET, ren, V1) == "already applied"
    assert columns(sink) == [("id", "INTEGER"), ("Title", "VARCHAR")]
    big = Column("ID", "bigint", "bigint(20)", nullable=False)
    assert sink.apply_schema_change(TARGET, sc.AlterColumnType(SRC, "ALTER ...", "ID", big), V1) == "applied"
    assert columns(sink) == [("id", "BIGINT"), ("Title", "VARCHAR")]


def test_a_key_column_of_a_table_with_a_primary_key_constraint_is_dropped_by_a_rebuild(sink):
    with duckdb.connect(str(sink.path)) as db:
        db.execute(
            'CREATE SCHEMA ods; CREATE TABLE ods."it ems" (id INTEGER, name VARCHAR, qty INTEGER, PRIMARY KEY (id, name))'
        )
        db.execute("""INSERT INTO ods."it ems" VALUES (1, 'a', 10)""")
    drop = sc.DropColumn(SRC, "ALTER TABLE items DROP name", "name")
    assert sink.apply_schema_change(TARGET, drop, V1) == "applied; rebuilt without its PRIMARY KEY"
    assert sink.apply_schema_change(TARGET, drop, V1) == "already applied"
    assert read(sink, "SELECT * FROM {t}") == [(1, 10)]


def test_a_type_change_carrying_a_comment_sets_it_once(sink):
    sink.ensure_table(TARGET, V1)
    same = sc.AlterColumnType(
        SRC, "ALTER TABLE items MODIFY qty INT COMMENT 'how many'", "qty", QTY, comment="how many"
    )
    assert sink.apply_schema_change(TARGET, same, V1) == "applied"
    assert sink.apply_schema_change(TARGET, same, V1) == "already applied"
    with duckdb.connect(str(sink.path), read_only=True) as db:
        assert db.execute("SELECT comment FROM duckdb_columns() WHERE column_name = 'qty'").fetchall() == [
            ("how many",)
        ]


def test_create_table_like_takes_the_schema_the_engine_passes(sink):
    like = sc.CreateTable(SRC, "CREATE TABLE items LIKE goods", None, like=TableId("app", "goods"))
    with pytest.raises(SinkError, match="the event has no schema"):
        sink.apply_schema_change(TARGET, like, None)
    assert sink.apply_schema_change(TARGET, like, V1) == "applied"
    assert columns(sink) == [("id", "INTEGER"), ("name", "VARCHAR"), ("qty", "INTEGER")]
