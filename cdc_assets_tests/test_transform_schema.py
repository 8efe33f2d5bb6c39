"""Column changes of transformed tables: a real MariaDB, its binlog, and both sinks (DuckDB, the StarRocks
stand-in). The pure translation (which target change a source change makes) is tested first, without
servers."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pymysql
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.schema_change import AddColumn, AlterColumnType, ColumnPosition, DropColumn, RenameColumn
from cdc_assets.core.sql import quote_table
from cdc_assets.core.transform import parse_rule
from cdc_assets.core.transform_schema import (
    TransformColumnError,
    check_column_change,
    evolve_read_columns,
    target_column_changes,
)
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.verify import compare_table
from cdc_assets.standin import StandIn
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import STARROCKS_PASSWORD
from cdc_assets_tests.pipelines import secrets_env, write_pipeline

T = TableId("db", "t")
SCHEMA = TableSchema(
    T,
    (
        Column("id", "int", "int(11)", nullable=False),
        Column("name", "varchar", "varchar(20)", char_max_length=20),
        Column("qty", "int", "int(11)"),
    ),
    ("id",),
)
PRICE = Column("price", "decimal", "decimal(8,2)", numeric_precision=8, numeric_scale=2)


def _rule(projection: str | None, filter: str | None = None):
    return parse_rule(0, selectors=(), projection=projection, filter=filter)


# ------------------------------------------------------------------------------------------ pure


@pytest.mark.parametrize(
    "projection, position, expected",
    [
        ("\\*, UPPER(name) AS up", None, ColumnPosition(after="qty")),  # before the computed column
        ("\\*, UPPER(name) AS up", ColumnPosition(first=True), ColumnPosition(first=True)),
        ("\\*, UPPER(name) AS up", ColumnPosition(after="name"), ColumnPosition(after="name")),
        ("UPPER(name) AS up, \\*", ColumnPosition(first=True), ColumnPosition(after="up")),
        ("UPPER(name) AS up, \\*", None, None),  # the star ends the target: appended
        (None, None, None),
    ],
)
def test_a_column_added_under_a_star_goes_where_the_star_puts_it(projection, position, expected):
    change = AddColumn(T, "ALTER", column=PRICE, position=position)
    (out,), _ = target_column_changes(_rule(projection), SCHEMA, change)
    assert out.column == PRICE and out.position == expected


def test_an_explicit_projection_ignores_added_and_unused_columns_and_retypes_copies():
    rule = _rule("id, qty AS amount, UPPER(name) AS up")
    assert target_column_changes(rule, SCHEMA, AddColumn(T, "A", column=PRICE))[0] == []
    wider = Column("qty", "bigint", "bigint(20)")
    out, _ = target_column_changes(rule, SCHEMA, AlterColumnType(T, "M", name="qty", column=wider))
    assert out == [AlterColumnType(T, "M", name="amount", column=Column("amount", "bigint", "bigint(20)"))]
    # name is used by a computed column only: no target column copies its type
    out, why = target_column_changes(rule, SCHEMA, AlterColumnType(T, "M", name="name", column=wider))
    assert out == [] and "not copied" in why


def test_dropping_or_renaming_a_used_column_names_the_rule_the_column_and_the_fix():
    rule = _rule("\\*, UPPER(name) AS up", "qty > 0")
    check_column_change(rule, SCHEMA, DropColumn(T, "DROP", name="id"))  # only '*' copies it: fine
    with pytest.raises(TransformColumnError) as err:
        check_column_change(rule, SCHEMA, RenameColumn(T, "RENAME", old="NAME", new="full_name"))
    assert "transform[0].projection" in str(err.value) and "'name'" in str(err.value)
    assert "write 'full_name' instead of 'name'" in str(err.value)
    with pytest.raises(TransformColumnError, match=r"transform\[0\]\.filter uses it"):
        check_column_change(rule, SCHEMA, DropColumn(T, "DROP", name="qty"))
    # a change of case only is no rename for MySQL's names
    check_column_change(rule, SCHEMA, RenameColumn(T, "RENAME", old="name", new="NAME"))


def test_a_star_column_follows_drops_and_renames_and_a_name_clash_is_refused():
    rule = _rule("\\*, UPPER(name) AS up")
    assert target_column_changes(rule, SCHEMA, DropColumn(T, "D", name="QTY"))[0] == [
        DropColumn(T, "D", name="qty")
    ]
    renamed = RenameColumn(T, "R", old="qty", new="amount")
    assert target_column_changes(rule, SCHEMA, renamed)[0] == [renamed]
    with pytest.raises(TransformColumnError, match="name of an output column"):
        target_column_changes(rule, SCHEMA, AddColumn(T, "A", column=Column("up", "int", "int(11)")))


# ------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def standin36(tmp_path_factory):
    """A stand-in reporting StarRocks 3.6, which applies every kind of column change."""
    with StandIn(
        password=STARROCKS_PASSWORD,
        data_dir=tmp_path_factory.mktemp("standin36"),
        version="3.6.1",
        alter_job_seconds=0.3,
    ) as server:
        yield server


@pytest.fixture(params=["duckdb", "starrocks"])
def target(request):
    """None is DuckDB, else the StarRocks stand-in (3.6)."""
    return request.getfixturevalue("standin36") if request.param == "starrocks" else None


def _pipeline(tmp_path, mysql_source, db, transform: str, behavior: str, standin=None):
    path = write_pipeline(
        tmp_path, mysql_source, db, standin=standin, extra_pipeline=f"  schema.change.behavior: {behavior}"
    )
    path.write_text(path.read_text() + transform)
    return path


def _sync(path, mysql_source):
    return run_sync(load_pipeline(path, env=secrets_env(mysql_source)), until_caught_up=True)


def _query(tmp_path, standin, sql: str) -> list[tuple]:
    if standin is None:
        con = duckdb.connect(str(tmp_path / "target.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    conn = pymysql.connect(
        host="127.0.0.1", port=standin.query_port, user="root", password=STARROCKS_PASSWORD, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _columns(tmp_path, standin, db: str, table: str) -> list[str]:
    if standin is None:
        rows = _query(
            tmp_path,
            None,
            f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{db}' "
            f"AND table_name = '{table}' ORDER BY ordinal_position",
        )
    else:
        rows = _query(tmp_path, standin, f"DESC {quote_table(db, table)}")
    return [r[0] for r in rows]


def _records(path, mysql_source):
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    with StateStore(cfg.state_dir) as st:
        return st.schema_changes()


def test_a_star_projection_follows_columns_added_renamed_retyped_and_dropped_while_rows_flow(
    mysql_source, fresh_db, tmp_path, target
):
    run = mysql_source.server.execute
    t = quote_table(fresh_db, "orders")
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), qty INT, note VARCHAR(20))")
    run(f"INSERT INTO {t} VALUES (1, 'apple', 2, 'a'), (2, 'pear', 0, 'b')")
    path = _pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: \\*, UPPER(name) AS up
    filter: qty > 0
""",
        "evolve",
        target,
    )
    _sync(path, mysql_source)
    run(f"INSERT INTO {t} VALUES (3, 'fig', 5, 'c')")
    run(f"ALTER TABLE {t} ADD COLUMN price DECIMAL(8,2) DEFAULT 1.50")
    run(f"INSERT INTO {t} VALUES (4, 'kiwi', 1, 'd', 9.99)")
    run(f"UPDATE {t} SET price = 2.25, name = 'Apple' WHERE id = 1")
    run(f"ALTER TABLE {t} RENAME COLUMN note TO remark")
    run(f"UPDATE {t} SET remark = 'cc' WHERE id = 3")
    run(f"ALTER TABLE {t} MODIFY COLUMN qty BIGINT")
    run(f"INSERT INTO {t} VALUES (5, 'lime', 10000000000, 'e', 3.00)")
    run(f"UPDATE {t} SET qty = 1 WHERE id = 2")  # into the filter
    run(f"ALTER TABLE {t} DROP COLUMN remark")
    run(f"INSERT INTO {t} VALUES (6, 'date', 7, 4.00)")
    result = _sync(path, mysql_source)
    assert result.stream.schema_changes == 4
    # both sinks append an added column (DuckDB cannot place one, StarRocks keeps its key columns first)
    assert _columns(tmp_path, target, fresh_db, "orders") == ["id", "name", "qty", "up", "price"]
    table = quote_table(fresh_db, "orders", "duckdb" if target is None else "mysql")
    rows = [
        (i, n, q, str(p), u)
        for i, n, q, p, u in _query(
            tmp_path, target, f"SELECT id, name, qty, price, up FROM {table} ORDER BY id"
        )
    ]
    assert rows == [
        (1, "Apple", 2, "2.25", "APPLE"),
        (2, "pear", 1, "1.50", "PEAR"),
        (3, "fig", 5, "1.50", "FIG"),
        (4, "kiwi", 1, "9.99", "KIWI"),
        (5, "lime", 10000000000, "3.00", "LIME"),
        (6, "date", 7, "4.00", "DATE"),
    ]
    records = _records(path, mysql_source)
    assert [r.kind for r in records] == ["add.column", "rename.column", "alter.column.type", "drop.column"]
    assert not any("ignored" in r.outcome for r in records), [r.outcome for r in records]


def test_an_explicit_projection_keeps_its_columns_and_a_used_column_renamed_stops_the_stream(
    mysql_source, fresh_db, tmp_path, target
):
    run = mysql_source.server.execute
    t = quote_table(fresh_db, "orders")
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), qty INT, note VARCHAR(20))")
    run(f"INSERT INTO {t} VALUES (1, 'apple', 2, 'a')")
    rule = """  - source-table: {db}.orders
    projection: id, qty AS amount, UPPER({col}) AS up
"""
    path = _pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        "transform:\n" + rule.format(db=fresh_db, col="name"),
        "evolve",
        target,
    )
    _sync(path, mysql_source)
    run(f"ALTER TABLE {t} ADD COLUMN price DECIMAL(8,2) DEFAULT 1.50")
    run(f"ALTER TABLE {t} DROP COLUMN note")
    run(f"ALTER TABLE {t} MODIFY COLUMN qty BIGINT")
    run(f"INSERT INTO {t} VALUES (2, 'pear', 10000000000, 2.00)")
    _sync(path, mysql_source)
    assert _columns(tmp_path, target, fresh_db, "orders") == ["id", "amount", "up"]
    table = quote_table(fresh_db, "orders", "duckdb" if target is None else "mysql")
    assert _query(tmp_path, target, f"SELECT id, amount, up FROM {table} ORDER BY id") == [
        (1, 2, "APPLE"),
        (2, 10000000000, "PEAR"),
    ]
    records = _records(path, mysql_source)
    assert [r.kind for r in records] == ["add.column", "drop.column", "alter.column.type"]
    assert "ignored: transform[0] has no '*' in its projection" in records[0].outcome
    assert "ignored: 'note' is not a column of transform[0]'s projection" in records[1].outcome
    assert "ignored" not in records[2].outcome

    run(f"ALTER TABLE {t} RENAME COLUMN name TO full_name")
    run(f"INSERT INTO {t} VALUES (3, 'fig', 3, 3.00)")
    with pytest.raises(TransformColumnError) as err:
        _sync(path, mysql_source)
    message = str(err.value)
    assert "transform[0].projection" in message and "'name'" in message and "full_name" in message
    # the documented way on: edit the rule, restart; the stream resumes at the RENAME
    path.write_text(path.read_text().replace("UPPER(name)", "UPPER(full_name)"))
    _sync(path, mysql_source)
    assert _query(tmp_path, target, f"SELECT id, amount, up FROM {table} ORDER BY id") == [
        (1, 2, "APPLE"),
        (2, 10000000000, "PEAR"),
        (3, 3, "FIG"),
    ]


def test_lenient_keeps_a_dropped_star_column_and_a_dropped_filter_column_stops_the_stream(
    mysql_source, fresh_db, tmp_path
):
    run = mysql_source.server.execute
    t = quote_table(fresh_db, "orders")
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), qty INT, note VARCHAR(20))")
    run(f"INSERT INTO {t} VALUES (1, 'apple', 2, 'a')")
    path = _pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: \\*, qty * 2 AS twice
    filter: qty > 0
""",
        "lenient",
    )
    _sync(path, mysql_source)
    run(f"ALTER TABLE {t} DROP COLUMN note")
    run(f"INSERT INTO {t} VALUES (2, 'pear', 3)")
    _sync(path, mysql_source)
    assert _columns(tmp_path, None, fresh_db, "orders") == ["id", "name", "qty", "note", "twice"]
    assert _query(
        tmp_path, None, f"SELECT * FROM {quote_table(fresh_db, 'orders', 'duckdb')} ORDER BY id"
    ) == [
        (1, "apple", 2, "a", 4),
        (2, "pear", 3, None, 6),
    ]
    # a computed column whose type follows a retyped column is retyped too (INT * INT is INTEGER)
    run(f"ALTER TABLE {t} MODIFY COLUMN qty BIGINT")
    run(f"INSERT INTO {t} VALUES (3, 'fig', 10000000000)")
    _sync(path, mysql_source)
    assert "alter.column.type twice" in _records(path, mysql_source)[-1].outcome
    assert _query(
        tmp_path, None, f"SELECT id, qty, twice FROM {quote_table(fresh_db, 'orders', 'duckdb')} WHERE id = 3"
    ) == [(3, 10000000000, 20000000000)]
    run(f"ALTER TABLE {t} DROP COLUMN qty")
    with pytest.raises(TransformColumnError, match=r"'qty'.*transform\[0\]\.projection uses it"):
        _sync(path, mysql_source)


def test_a_change_of_a_column_the_rule_does_not_read_leaves_what_it_reads():
    rule = _rule("\\*, UPPER(name) AS up")
    retype = AlterColumnType(T, "M", name="price", column=PRICE)  # price was never taken by the target
    assert target_column_changes(rule, SCHEMA, retype)[0] == []
    assert evolve_read_columns(SCHEMA, retype) == SCHEMA
    added = evolve_read_columns(
        SCHEMA, AddColumn(T, "A", column=PRICE, position=ColumnPosition(after="gone"))
    )
    assert added.column_names == ("id", "name", "qty", "price")


@pytest.mark.parametrize(
    "behavior, sink_extra, columns",
    [
        # an excluded add: the star does not take the column, rows go on without it; the rename passes
        ("evolve", "  exclude.schema.changes: [add.column]\n", ["id", "name", "amount", "up"]),
        # IGNORE: nothing reaches the target; a renamed star column keeps its old target column (NULL)
        ("ignore", "", ["id", "name", "qty", "up"]),
        # LENIENT: the added column is added; the renamed one is added under its new name, the old kept
        ("lenient", "", ["id", "name", "qty", "up", "price", "amount"]),
    ],
)
def test_a_star_projection_follows_the_behavior_and_include_exclude_as_any_table(
    mysql_source, fresh_db, tmp_path, behavior, sink_extra, columns
):
    run = mysql_source.server.execute
    t = quote_table(fresh_db, "orders")
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), qty INT)")
    run(f"INSERT INTO {t} VALUES (1, 'apple', 2)")
    path = _pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: \\*, UPPER(name) AS up
""",
        behavior,
    )
    if sink_extra:
        path.write_text(path.read_text().replace("sink:\n", "sink:\n" + sink_extra))
    _sync(path, mysql_source)
    run(f"ALTER TABLE {t} ADD COLUMN price DECIMAL(8,2) DEFAULT 1.50")
    run(f"ALTER TABLE {t} RENAME COLUMN qty TO amount")
    run(f"INSERT INTO {t} VALUES (2, 'pear', 3, 2.00)")
    _sync(path, mysql_source)
    assert _columns(tmp_path, None, fresh_db, "orders") == columns
    got = _query(tmp_path, None, f"SELECT * FROM {quote_table(fresh_db, 'orders', 'duckdb')} ORDER BY id")
    values = {
        "id": (1, 2),
        "name": ("apple", "pear"),
        "up": ("APPLE", "PEAR"),
        "price": (Decimal("1.50"), Decimal("2.00")),
        # EVOLVE renames the target column; LENIENT adds the new name, filled from the rename on
        "amount": (2, 3) if behavior == "evolve" else (None, 3),
        # LENIENT and IGNORE keep the old name: its value before the rename, NULL after
        "qty": (2, None),
    }
    assert got == [tuple(values[c][i] for c in columns) for i in range(2)]


@pytest.mark.parametrize(
    "ddl, columns",
    [
        ("ADD COLUMN price DECIMAL(8,2) NOT NULL DEFAULT 1.50", ["id", "qty", "note", "twice", "price"]),
        ("DROP COLUMN note", ["id", "qty", "twice"]),
        ("MODIFY COLUMN qty BIGINT NOT NULL", ["id", "qty", "note", "twice"]),
        ("RENAME COLUMN note TO remark", ["id", "qty", "remark", "twice"]),
    ],
)
def test_ddl_while_a_transformed_table_is_snapshotted(mysql_source, fresh_db, tmp_path, ddl, columns):
    """A DDL between two chunk reads of a '*'-transformed table: the target ends equal to the source
    passed through the rule (compared by verify), with the column change applied."""
    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20))")
    run(f"INSERT INTO {t} VALUES " + ", ".join(f"({i}, {i * 10}, 'n{i}')" for i in range(1, 201)))
    path = _pipeline(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: \\*, qty * 2 AS twice
    filter: qty % 3 <> 0
""",
        "evolve",
    )
    done = []

    def after_chunk(progress) -> None:
        done.append(progress)
        if len(done) == 1:
            run(f"ALTER TABLE {t} {ddl}")
            run(f"UPDATE {t} SET qty = qty + 1 WHERE id IN (4, 121, 191)")
            run(f"DELETE FROM {t} WHERE id IN (5, 122)")

    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True, on_chunk=after_chunk)
    # every chunk of the plan loaded (InnoDB's row estimate decides whether 200 rows plan 4 or 5 chunks)
    assert {p.last.chunk.index for p in done} == set(range(done[-1].chunks_total))
    assert _columns(tmp_path, None, fresh_db, "orders") == columns
    ctx = RunContext(cfg)
    try:
        cmp = compare_table(ctx, TableId(fresh_db, "orders"))
        assert cmp.identical and cmp.target_rows == sum(
            1 for i in range(1, 201) if i not in (5, 122) and (i * 10 + (i in (4, 121, 191))) % 3
        ), (cmp.missing, cmp.extra)
    finally:
        ctx.close()
