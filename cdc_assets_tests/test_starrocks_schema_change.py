"""Schema-change events applied by StarRocksSink.apply_schema_change to the StarRocks stand-in over the
FE's MySQL protocol (asynchronous ALTER jobs followed with SHOW ALTER TABLE COLUMN), with rows loaded
by Stream Load before and after each change and read back."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pymysql
import pytest

from cdc_assets.core import schema_change as sc
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.errors import SinkError
from cdc_assets.standin import StandIn
from cdc_assets.starrocks import StarRocksSink
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import STARROCKS_PASSWORD
from cdc_assets_tests.test_starrocks_sink import config

SRC = TableId("app", "items")
ID = Column("id", "int", "int(11)", nullable=False)
NAME = Column("name", "varchar", "varchar(10)", char_max_length=10, charset="utf8mb4")
QTY = Column("qty", "int", "int(11)")
V1 = TableSchema(SRC, (ID, NAME, QTY), ("id",))


def with_columns(schema: TableSchema, *cols: Column) -> TableSchema:
    return dataclasses.replace(schema, columns=tuple(cols))


@pytest.fixture(scope="module")
def standin36(tmp_path_factory):
    """A stand-in reporting StarRocks 3.6 (every kind of change), with short alter jobs."""
    with StandIn(
        password=STARROCKS_PASSWORD,
        data_dir=tmp_path_factory.mktemp("standin36"),
        version="3.6.1",
        alter_job_seconds=0.3,
    ) as server:
        yield server


@pytest.fixture
def target() -> TableId:
    return TableId(f"sc_{uuid.uuid4().hex[:10]}", "it%ems")


@pytest.fixture
def state(tmp_path):
    with StateStore(tmp_path / "state") as st:
        yield st


@pytest.fixture
def sink(standin36, state):
    s = StarRocksSink(config(standin36, schema_change_timeout=30.0), pipeline_id="test", journal=state)
    yield s
    s.close()


def query(server, sql: str, params=None) -> list[tuple]:
    conn = pymysql.connect(
        host="127.0.0.1", port=server.query_port, user="root", password=STARROCKS_PASSWORD, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def desc(server, target: TableId) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in query(server, f"DESC `{target.db}`.`{target.table}`")]


def select(server, target: TableId, cols: str) -> list[tuple]:
    return query(server, f"SELECT {cols} FROM `{target.db}`.`{target.table}` ORDER BY id")


def jobs(server, target: TableId) -> list[str]:
    return [r[9] for r in query(server, f"SHOW ALTER TABLE COLUMN FROM `{target.db}` ORDER BY JobId")]


def test_every_column_change_with_rows_loaded_before_and_after(standin36, sink, target):
    create = sc.CreateTable(SRC, "CREATE TABLE items ...", V1)
    assert sink.apply_schema_change(target, create, V1) == "applied"
    assert sink.apply_schema_change(target, create, V1) == "already applied"
    sink.upsert(target, V1, [(1, "a", 10), (2, "b", 20)], tag="c0")

    # ADD COLUMN with a default; StarRocks appends (Flink's applier ignores the position too)
    note = Column("note", "varchar", "varchar(20)", char_max_length=20, charset="utf8mb4")
    add = sc.AddColumn(
        SRC, "ALTER TABLE items ADD note ... FIRST", note, sc.ColumnPosition(first=True), "'it''s'"
    )
    v2 = with_columns(V1, note, ID, NAME, QTY)
    assert sink.apply_schema_change(target, add, v2) == "applied"
    assert jobs(standin36, target) == ["FINISHED"]
    assert sink.apply_schema_change(target, add, v2) == "already applied"
    assert jobs(standin36, target) == ["FINISHED"]  # no second job
    assert desc(standin36, target)[-1] == ("note", "varchar(80)")
    assert select(standin36, target, "id, note") == [(1, "it's"), (2, "it's")]  # the default, bound
    sink.upsert(target, v2, [("x", 3, "c", 30)], tag="c1")
    sink.apply_batch([(target, v2, [(1,)], [("y", 2, "b2", 21)])], tag="b1")
    assert select(standin36, target, "id, name, qty, note") == [(2, "b2", 21, "y"), (3, "c", 30, "x")]

    # DROP COLUMN
    drop = sc.DropColumn(SRC, "ALTER TABLE items DROP qty", "qty")
    v3 = with_columns(v2, note, ID, NAME)
    assert sink.apply_schema_change(target, drop, v3) == "applied"
    assert sink.apply_schema_change(target, drop, v3) == "already applied"
    sink.upsert_arrow(target, v3, _arrow(v3, [("z", 4, "d")]), tag="c2")
    assert select(standin36, target, "*") == [(2, "b2", "y"), (3, "c", "x"), (4, "d", "z")]

    # RENAME COLUMN (3.6)
    ren = sc.RenameColumn(SRC, "ALTER TABLE items RENAME COLUMN name TO title", "name", "title")
    title = dataclasses.replace(NAME, name="title")
    v4 = with_columns(v3, note, ID, title)
    assert sink.apply_schema_change(target, ren, v4) == "applied"
    assert sink.apply_schema_change(target, ren, v4) == "already applied"
    sink.upsert(target, v4, [("w", 5, "e")], tag="c3")
    assert select(standin36, target, "id, title") == [(2, "b2"), (3, "c"), (4, "d"), (5, "e")]

    # MODIFY (3.6): mapped as at create time. VARCHAR(10) -> VARCHAR(30) is VARCHAR(120) in bytes;
    # a narrower VARCHAR is kept wide (StarRocks cannot shorten one)
    wide = dataclasses.replace(title, column_type="varchar(30)", char_max_length=30)
    mod = sc.AlterColumnType(SRC, "ALTER TABLE items MODIFY title VARCHAR(30)", "title", wide)
    v5 = with_columns(v4, note, ID, wide)
    assert sink.apply_schema_change(target, mod, v5) == "applied"
    assert sink.apply_schema_change(target, mod, v5) == "already applied"
    assert ("title", "varchar(120)") in desc(standin36, target)
    narrow = dataclasses.replace(title, column_type="varchar(5)", char_max_length=5)
    shorter = sc.AlterColumnType(SRC, "ALTER TABLE items MODIFY title VARCHAR(5)", "title", narrow)
    assert sink.apply_schema_change(target, shorter, with_columns(v4, note, ID, narrow)) == (
        "ignored: StarRocks keeps the longer VARCHAR(120)"
    )
    sink.upsert(target, v5, [("v", 6, "f" * 30)], tag="c4")
    assert select(standin36, target, "id, title")[-1] == (6, "f" * 30)
    assert sink.fetch_all(target, v5)[0] == ("y", 2, "b2")
    assert set(jobs(standin36, target)) == {"FINISHED"}


def _arrow(schema: TableSchema, rows):
    from cdc_assets.duckdb_sink import DuckDBSink

    return DuckDBSink("unused").to_arrow(schema, rows)


def test_a_column_kept_in_the_target_is_null_for_rows_loaded_without_it(sink, standin36, target):
    """LENIENT keeps a dropped column: later loads (JSON and CSV) name their columns and leave it NULL."""
    sink.ensure_table(target, V1)
    sink.upsert(target, V1, [(1, "a", 10)], tag="c0")
    v2 = with_columns(V1, ID, NAME)
    sink.upsert(target, v2, [(2, "b")], tag="c1")
    sink.apply_batch([(target, v2, [], [(1, "a2")])], tag="b1")
    csv = StarRocksSink(
        config(standin36, properties={"format": "csv"}), pipeline_id="test", journal=sink.journal
    )
    try:
        csv.upsert(target, v2, [(3, "c")], tag="c2")
    finally:
        csv.close()
    assert select(standin36, target, "*") == [(1, "a2", None), (2, "b", None), (3, "c", None)]


def test_table_kinds_rename_truncate_drop_and_ignored_comments(sink, standin36, target):
    sink.ensure_table(target, V1)
    sink.upsert(target, V1, [(1, "a", 10)], tag="c0")
    assert sink.apply_schema_change(target, sc.AlterTableComment(SRC, "ALTER ...", "x"), V1).startswith(
        "ignored: "
    )
    assert sink.apply_schema_change(
        target, sc.AlterColumnComment(SRC, "ALTER ...", "qty", "x"), V1
    ).startswith("ignored: ")
    renamed = sc.RenameTable(SRC, "RENAME TABLE items TO `go%ods`", TableId("app", "go%ods"))
    moved = TableId(target.db, "go%ods")
    assert sink.apply_schema_change(target, renamed, V1) == "applied"
    assert sink.apply_schema_change(target, renamed, V1) == "already applied"
    assert sink.row_count(target) is None and sink.row_count(moved) == 1
    sink.upsert(moved, V1, [(2, "b", 20)], tag="c1")
    with pytest.raises(sc.UnsupportedSchemaChange, match="within its database"):
        sink.apply_schema_change(moved, renamed, V1, renamed_to=TableId("elsewhere", "go%ods"))
    assert sink.apply_schema_change(moved, sc.TruncateTable(SRC, "TRUNCATE goods"), V1) == "applied"
    assert sink.row_count(moved) == 0
    assert sink.apply_schema_change(moved, sc.DropTable(SRC, "DROP TABLE goods"), V1) == "applied"
    assert sink.apply_schema_change(moved, sc.DropTable(SRC, "DROP TABLE goods"), V1) == "already applied"
    assert sink.apply_schema_change(moved, sc.TruncateTable(SRC, "TRUNCATE goods"), V1) == (
        f"ignored: {moved} does not exist"
    )


def test_a_busy_table_is_waited_for_then_the_change_applies(standin36, sink, target):
    sink.ensure_table(target, V1)
    # another schema change running (a slow one: the stand-in's jobs take 0.3 s)
    query(standin36, f"ALTER TABLE `{target.db}`.`{target.table}` ADD COLUMN other INT")
    drop = sc.DropColumn(SRC, "ALTER TABLE items DROP qty", "qty")
    assert sink.apply_schema_change(target, drop, with_columns(V1, ID, NAME)) == "applied"
    assert [c for c, _ in desc(standin36, target)] == ["id", "name", "other"]
    assert jobs(standin36, target) == ["FINISHED", "FINISHED"]


def test_an_add_column_replayed_after_a_crash_while_its_job_runs_is_success(standin36, sink, target):
    """Flink CDC #2910: the job was submitted, the process died; the replayed event finds the table busy,
    waits, and then finds the column there."""
    sink.ensure_table(target, V1)
    query(standin36, f"ALTER TABLE `{target.db}`.`{target.table}` ADD COLUMN `extra` INT NULL")
    extra = Column("extra", "int", "int(11)")
    add = sc.AddColumn(SRC, "ALTER TABLE items ADD extra INT", extra)
    assert sink.apply_schema_change(target, add, with_columns(V1, ID, NAME, QTY, extra)) == "already applied"
    assert jobs(standin36, target) == ["FINISHED"]


def test_a_cancelled_job_raises_its_message(standin36, sink, target):
    sink.ensure_table(target, V1)
    sink.upsert(target, V1, [(1, "not a number", 10)], tag="c0")
    as_int = dataclasses.replace(NAME, data_type="int", column_type="int(11)", char_max_length=None)
    change = sc.AlterColumnType(SRC, "ALTER TABLE items MODIFY name INT", "name", as_int)
    with pytest.raises(SinkError) as err:
        sink.apply_schema_change(target, change, with_columns(V1, ID, as_int, QTY))
    text = str(err.value)
    assert f"StarRocks cancelled the schema change of {target}" in text
    assert "MODIFY COLUMN `name` INT NULL" in text and "not a number" in text
    assert STARROCKS_PASSWORD not in text
    assert ("name", "varchar(40)") in desc(standin36, target)


def test_a_key_column_change_surfaces_starrocks_refusal(sink, target):
    sink.ensure_table(target, V1)
    big = Column("id", "bigint", "bigint(20)", nullable=False)
    change = sc.AlterColumnType(SRC, "ALTER TABLE items MODIFY id BIGINT", "id", big)
    with pytest.raises(SinkError) as err:
        sink.apply_schema_change(target, change, with_columns(V1, big, NAME, QTY))
    text = str(err.value)
    assert str(target) in text and "MODIFY COLUMN `id` BIGINT NOT NULL" in text
    assert "Can not modify key column: id for primary key table" in text
    drop = sc.DropColumn(SRC, "ALTER TABLE items DROP id", "id")
    with pytest.raises(
        SinkError, match="DROP COLUMN `id`.*Can not drop key column in primary data model table"
    ):
        sink.apply_schema_change(target, drop, V1)


def test_the_wait_is_bounded_by_the_schema_change_timeout(tmp_path, state):
    with StandIn(password=STARROCKS_PASSWORD, version="3.6.0", alter_job_seconds=3.0) as slow:
        sink = StarRocksSink(config(slow, schema_change_timeout=1.0), pipeline_id="test", journal=state)
        target = TableId("slow", "t")
        try:
            sink.ensure_table(target, V1)
            started = time.monotonic()
            with pytest.raises(SinkError) as err:
                sink.apply_schema_change(
                    target, sc.DropColumn(SRC, "ALTER ...", "qty"), with_columns(V1, ID, NAME)
                )
            assert time.monotonic() - started < 2.5
            text = str(err.value)
            assert "slow.t" in text and "table.schema-change.timeout" in text and "after 1 s" in text
            assert "still PENDING" in text or "still WAITING_TXN" in text or "still RUNNING" in text
        finally:
            sink.close()


@pytest.mark.parametrize(
    ("version", "refused", "accepted"),
    [
        ("3.2.9", ["drop.table", "truncate.table", "rename.column", "alter.column.type"], ["add.column"]),
        ("3.3.5", ["rename.column", "alter.column.type", "alter.table.comment"], ["truncate.table"]),
    ],
)
def test_kinds_the_version_lacks_are_unsupported(tmp_path, state, version, refused, accepted):
    with StandIn(password=STARROCKS_PASSWORD, version=version) as old:
        sink = StarRocksSink(config(old), pipeline_id="test", journal=state)
        target = TableId("old", "t")
        events = {
            "drop.table": sc.DropTable(SRC, "DROP TABLE items"),
            "truncate.table": sc.TruncateTable(SRC, "TRUNCATE items"),
            "rename.column": sc.RenameColumn(SRC, "ALTER ...", "name", "title"),
            "alter.column.type": sc.AlterColumnType(
                SRC, "ALTER ...", "qty", Column("qty", "bigint", "bigint(20)")
            ),
            "alter.table.comment": sc.AlterTableComment(SRC, "ALTER ...", "x"),
            "add.column": sc.AddColumn(SRC, "ALTER ...", Column("n", "int", "int(11)")),
        }
        try:
            sink.ensure_table(target, V1)
            assert set(accepted) <= sink.supported_schema_changes()
            for tag in refused:
                assert tag not in sink.supported_schema_changes()
                with pytest.raises(sc.UnsupportedSchemaChange, match=f"{tag} events on StarRocks {version}"):
                    sink.apply_schema_change(target, events[tag], V1)
            for tag in accepted:
                assert sink.apply_schema_change(target, events[tag], V1) == "applied"
            assert [c for c, _ in desc(old, target)] == ["id", "name", "qty"] + (
                ["n"] if "add.column" in accepted else []
            )
        finally:
            sink.close()


def test_concurrent_sinks_apply_the_same_event_once(standin36, state, target):
    """Two replicas of one event (a retry racing the original): one applies, the other finds it done."""
    sinks = [StarRocksSink(config(standin36), pipeline_id="test", journal=state) for _ in range(2)]
    sinks[0].ensure_table(target, V1)
    extra = Column("extra", "int", "int(11)")
    add = sc.AddColumn(SRC, "ALTER TABLE items ADD extra INT", extra)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda s=s: results.append(s.apply_schema_change(target, add, V1)))
        for s in sinks
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results) == ["already applied", "applied"]
    finally:
        for s in sinks:
            s.close()
