"""Schema changes read from the binlog while streaming, against a real MariaDB and both sinks.

Each test runs DDL on the source between (and during) streaming runs, then checks the target's
columns and rows, the schemas in force saved with the restart point, and the recorded changes.
"""

from __future__ import annotations

import duckdb
import pymysql
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.snapshot import plan_table
from cdc_assets.engine.streaming import stream
from cdc_assets.engine.sync import run_sync
from cdc_assets.errors import CdcError
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import STARROCKS_PASSWORD
from cdc_assets_tests.pipelines import assert_identical, cli, secrets_env, write_pipeline


def _pipeline(tmp_path, mysql_source, db, behavior: str | None = None, standin=None, sink_extra: str = ""):
    path = write_pipeline(tmp_path, mysql_source, db, standin=standin)
    text = path.read_text()
    if behavior is not None:
        text = text.replace("pipeline:\n", f"pipeline:\n  schema.change.behavior: {behavior}\n")
    if sink_extra:
        text = text.replace("sink:\n", "sink:\n" + sink_extra)
    path.write_text(text)
    return path


def _sync(path, mysql_source):
    return run_sync(load_pipeline(path, env=secrets_env(mysql_source)), until_caught_up=True)


def _target_columns(tmp_path, db: str, table: str) -> list[str]:
    con = duckdb.connect(str(tmp_path / "target.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [db, table],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def _target_rows(tmp_path, db: str, table: str, columns: str = "*") -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "target.duckdb"), read_only=True)
    try:
        return con.execute(f"SELECT {columns} FROM {quote_table(db, table, 'duckdb')} ORDER BY 1").fetchall()
    finally:
        con.close()


def _changes(path, mysql_source):
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    with StateStore(cfg.state_dir) as st:
        return st.schema_changes(), st.schemas_in_force()


@pytest.fixture
def orders(mysql_source, fresh_db):
    t = quote_table(fresh_db, "orders")
    mysql_source.server.execute(f"CREATE TABLE {t} (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20))")
    mysql_source.server.execute(f"INSERT INTO {t} VALUES (1, 10, 'a'), (2, 20, 'b')")
    return fresh_db


def test_a_column_added_filled_renamed_and_dropped_while_rows_flow(mysql_source, orders, tmp_path):
    """EVOLVE: every change reaches the target; rows written between the changes keep their columns
    straight (no shift), in one streaming run that reads all the DDL."""
    path = _pipeline(tmp_path, mysql_source, orders, "evolve")
    _sync(path, mysql_source)
    t = quote_table(orders, "orders")
    run = mysql_source.server.execute
    run(f"INSERT INTO {t} VALUES (3, 30, 'c')")
    run(f"ALTER TABLE {t} ADD COLUMN price DECIMAL(8,2) NOT NULL DEFAULT 1.50 AFTER id")
    run(f"INSERT INTO {t} (id, price, qty, note) VALUES (4, 9.99, 40, 'd')")
    run(f"UPDATE {t} SET price = 2.25 WHERE id = 1")
    run(f"ALTER TABLE {t} RENAME COLUMN price TO unit_price")
    run(f"UPDATE {t} SET unit_price = unit_price + 1 WHERE id IN (2, 4)")
    run(f"ALTER TABLE {t} DROP COLUMN note")
    run(f"INSERT INTO {t} (id, unit_price, qty) VALUES (5, 5.00, 50)")
    result = _sync(path, mysql_source)
    assert result.stream.schema_changes == 3
    assert _target_columns(tmp_path, orders, "orders") == ["id", "qty", "unit_price"]  # DuckDB appends
    assert _target_rows(tmp_path, orders, "orders", "id, CAST(unit_price AS VARCHAR), qty") == [
        (1, "2.25", 10),
        (2, "2.50", 20),
        (3, "1.50", 30),
        (4, "10.99", 40),
        (5, "5.00", 50),
    ]
    assert_identical(path, mysql_source, orders, ["orders"])
    records, in_force = _changes(path, mysql_source)
    assert [r.kind for r in records] == ["add.column", "rename.column", "drop.column"]
    assert records[0].columns_before == ["id int(11) NOT NULL", "qty int(11) NOT NULL", "note varchar(20)"]
    assert records[0].columns_after[1] == "price decimal(8,2) NOT NULL"
    assert "ADD COLUMN price" in records[0].ddl and records[0].outcome.startswith("add.column: ")
    assert in_force[f"{orders}.orders"].source.column_names == ("id", "unit_price", "qty")
    # Nothing is read twice: the next run starts after the last DDL, with the schema saved there.
    again = _sync(path, mysql_source)
    assert again.stream.rows == 0 and again.stream.schema_changes == 0


def test_restart_between_changes_decodes_with_the_saved_schema(mysql_source, orders, tmp_path):
    """Rows written before an ALTER are still in the binlog when a run starts after the ALTER: they
    are decoded with the schema in force when they were written (saved with the restart point),
    not the catalog's, which already has the new column first."""
    path = _pipeline(tmp_path, mysql_source, orders, "evolve")
    _sync(path, mysql_source)
    t = quote_table(orders, "orders")
    run = mysql_source.server.execute
    run(f"INSERT INTO {t} VALUES (3, 30, 'c')")  # written with (id, qty, note)
    run(f"ALTER TABLE {t} ADD COLUMN flag TINYINT NOT NULL DEFAULT 0 FIRST")
    run(f"INSERT INTO {t} (flag, id, qty, note) VALUES (1, 4, 40, 'd')")
    run(f"ALTER TABLE {t} MODIFY COLUMN note VARCHAR(40)")
    run(f"INSERT INTO {t} (flag, id, qty, note) VALUES (0, 5, 50, REPEAT('x', 30))")
    _sync(path, mysql_source)
    assert _target_columns(tmp_path, orders, "orders") == ["id", "qty", "note", "flag"]  # DuckDB appends
    assert _target_rows(tmp_path, orders, "orders", "id, qty, note, flag") == [
        (1, 10, "a", 0),
        (2, 20, "b", 0),
        (3, 30, "c", 0),
        (4, 40, "d", 1),
        (5, 50, "x" * 30, 0),
    ]
    assert_identical(path, mysql_source, orders, ["orders"])


def test_lenient_keeps_dropped_and_renamed_columns(mysql_source, orders, tmp_path):
    """LENIENT (the default) never loses data: a dropped column stays (NULL from then on), a renamed
    one stays under its old name and the new name is added."""
    path = _pipeline(tmp_path, mysql_source, orders)
    _sync(path, mysql_source)
    t = quote_table(orders, "orders")
    run = mysql_source.server.execute
    run(f"ALTER TABLE {t} DROP COLUMN qty")
    run(f"INSERT INTO {t} (id, note) VALUES (3, 'c')")
    run(f"ALTER TABLE {t} RENAME COLUMN note TO remark")
    run(f"INSERT INTO {t} (id, remark) VALUES (4, 'd')")
    _sync(path, mysql_source)
    assert _target_columns(tmp_path, orders, "orders") == ["id", "qty", "note", "remark"]
    assert _target_rows(tmp_path, orders, "orders", "id, qty, note, remark") == [
        (1, 10, "a", None),
        (2, 20, "b", None),
        (3, None, "c", None),
        (4, None, None, "d"),
    ]
    records, _ = _changes(path, mysql_source)
    assert [r.kind for r in records] == ["drop.column", "rename.column"]


def test_ignore_leaves_the_target_as_it_was(mysql_source, orders, tmp_path):
    path = _pipeline(tmp_path, mysql_source, orders, "ignore")
    _sync(path, mysql_source)
    t = quote_table(orders, "orders")
    mysql_source.server.execute(f"ALTER TABLE {t} ADD COLUMN extra INT DEFAULT 5")
    mysql_source.server.execute(f"INSERT INTO {t} (id, qty, note, extra) VALUES (3, 30, 'c', 6)")
    _sync(path, mysql_source)
    assert _target_columns(tmp_path, orders, "orders") == ["id", "qty", "note"]
    assert _target_rows(tmp_path, orders, "orders") == [(1, 10, "a"), (2, 20, "b"), (3, 30, "c")]
    records, _ = _changes(path, mysql_source)
    assert len(records) == 1 and "IGNORE" in records[0].outcome


def test_exception_stops_before_the_ddl_and_resumes_after_a_behaviour_change(mysql_source, orders, tmp_path):
    path = _pipeline(tmp_path, mysql_source, orders, "exception")
    _sync(path, mysql_source)
    t = quote_table(orders, "orders")
    run = mysql_source.server.execute
    run(f"INSERT INTO {t} VALUES (3, 30, 'c')")
    run(f"ALTER TABLE {t} ADD COLUMN extra INT")
    run(f"INSERT INTO {t} VALUES (4, 40, 'd', 4)")
    with pytest.raises(CdcError) as err:
        _sync(path, mysql_source)
    message = str(err.value)
    assert "EXCEPTION" in message and "ADD COLUMN extra" in message and f"{orders}.orders" in message
    assert "schema.change.behavior" in message
    # The rows before the DDL landed; the ones after did not.
    assert [r[0] for r in _target_rows(tmp_path, orders, "orders")] == [1, 2, 3]
    path.write_text(
        path.read_text().replace("schema.change.behavior: exception", "schema.change.behavior: evolve")
    )
    _sync(path, mysql_source)
    assert _target_rows(tmp_path, orders, "orders", "id, extra") == [(1, None), (2, None), (3, None), (4, 4)]


def test_tables_created_truncated_renamed_and_dropped(mysql_source, orders, tmp_path):
    """A table created in the binlog is captured from its CREATE on (no snapshot needed: all its
    rows come later); truncate and drop reach the target when the sink's include list asks for them."""
    path = _pipeline(tmp_path, mysql_source, orders, "evolve", sink_extra="  include.schema.changes: [all]\n")
    _sync(path, mysql_source)
    ctx = RunContext(load_pipeline(path, env=secrets_env(mysql_source)))
    try:
        ctx.discover()  # the stream knows the tables there were before the DDL below
        db = quote_ident(orders)
        run = mysql_source.server.execute
        run(f"CREATE TABLE {db}.items (sku VARCHAR(10) PRIMARY KEY, n INT)")
        run(f"INSERT INTO {db}.items VALUES ('a', 1), ('b', 2)")
        run(f"CREATE TABLE {db}.items_copy LIKE {db}.items")
        run(f"INSERT INTO {db}.items_copy VALUES ('z', 9)")
        run(f"CREATE TABLE {db}.scratch (id INT PRIMARY KEY)")
        run(f"INSERT INTO {db}.scratch VALUES (1)")
        run(f"TRUNCATE TABLE {db}.orders")
        run(f"INSERT INTO {db}.orders VALUES (7, 70, 'g')")
        run(f"DROP TABLE {db}.scratch")
        result = stream(ctx, until_caught_up=True)
    finally:
        ctx.close()
    counts = {str(t): n for t, n in result.rows_by_table.items()}
    assert counts == {
        f"{orders}.items": 2,
        f"{orders}.items_copy": 1,
        f"{orders}.scratch": 1,
        f"{orders}.orders": 1,
    }
    assert _target_rows(tmp_path, orders, "items_copy") == [("z", 9)]
    assert _target_rows(tmp_path, orders, "items") == [("a", 1), ("b", 2)]
    assert _target_rows(tmp_path, orders, "orders") == [(7, 70, "g")]
    con = duckdb.connect(str(tmp_path / "target.duckdb"), read_only=True)
    try:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [orders]
            ).fetchall()
        }
    finally:
        con.close()
    assert tables == {"orders", "items", "items_copy"}
    records, in_force = _changes(path, mysql_source)
    assert [r.kind for r in records] == ["create.table"] * 3 + ["truncate.table", "drop.table"]
    assert set(in_force) == {f"{orders}.orders", f"{orders}.items", f"{orders}.items_copy"}
    assert_identical(path, mysql_source, orders, ["orders", "items", "items_copy"])


def test_ddl_on_tables_not_captured_is_ignored(mysql_source, orders, tmp_path):
    path = write_pipeline(tmp_path, mysql_source, orders)
    path.write_text(path.read_text().replace(f"tables: {orders}.\\.*", f"tables: {orders}.orders"))
    _sync(path, mysql_source)
    db = quote_ident(orders)
    run = mysql_source.server.execute
    run(f"CREATE TABLE {db}.other (id INT PRIMARY KEY)")
    run(f"ALTER TABLE {db}.other ADD COLUMN x INT")
    run(f"CREATE INDEX qty_idx ON {db}.orders (qty)")
    run(f"INSERT INTO {db}.orders VALUES (3, 30, 'c')")
    result = _sync(path, mysql_source)
    assert result.stream.schema_changes == 0 and result.stream.rows == 1


def test_without_full_row_metadata_rows_are_decoded_by_the_schema_history(mysql_source, orders, tmp_path):
    """With ``binlog_row_metadata=MINIMAL`` the table maps carry no column names: the rows are
    decoded by position with the schema in force, which the DDL in the binlog keeps current."""
    path = _pipeline(tmp_path, mysql_source, orders, "evolve")
    _sync(path, mysql_source)
    t = quote_table(orders, "orders")
    run = mysql_source.server.execute
    run("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
    try:
        run(f"INSERT INTO {t} VALUES (3, 30, 'c')")
        run(f"ALTER TABLE {t} ADD COLUMN code VARCHAR(5) NOT NULL DEFAULT 'x' FIRST")
        run(f"INSERT INTO {t} (code, id, qty, note) VALUES ('y', 4, 40, 'd')")
        run(f"ALTER TABLE {t} DROP COLUMN qty")
        run(f"UPDATE {t} SET note = 'e' WHERE id = 1")
    finally:
        run("SET GLOBAL binlog_row_metadata = 'FULL'")
    _sync(path, mysql_source)
    assert _target_columns(tmp_path, orders, "orders") == ["id", "note", "code"]
    assert _target_rows(tmp_path, orders, "orders", "id, note, code") == [
        (1, "e", "x"),
        (2, "b", "x"),
        (3, "c", "x"),
        (4, "d", "y"),
    ]


def test_columns_added_and_dropped_reach_the_starrocks_target(mysql_source, orders, tmp_path, standin):
    """Into the StarRocks stand-in: ALTER jobs are waited for, rows before and after each change land
    in the right columns."""
    path = _pipeline(tmp_path, mysql_source, orders, "evolve", standin=standin)
    _sync(path, mysql_source)
    t = quote_table(orders, "orders")
    run = mysql_source.server.execute
    run(f"INSERT INTO {t} VALUES (3, 30, 'c')")
    run(f"ALTER TABLE {t} ADD COLUMN price DECIMAL(8,2) DEFAULT 1.50")
    run(f"INSERT INTO {t} VALUES (4, 40, 'd', 9.99)")
    run(f"ALTER TABLE {t} DROP COLUMN note")
    run(f"UPDATE {t} SET price = 2.00 WHERE id = 1")
    result = _sync(path, mysql_source)
    assert result.stream.schema_changes == 2
    conn = pymysql.connect(
        host="127.0.0.1", port=standin.query_port, user="root", password=STARROCKS_PASSWORD, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT id, qty, price FROM {quote_table(orders, 'orders')} ORDER BY id")
            rows = [(r[0], r[1], str(r[2])) for r in cur.fetchall()]
            cur.execute(f"DESC {quote_table(orders, 'orders')}")
            columns = [r[0] for r in cur.fetchall()]
    finally:
        conn.close()
    assert columns == ["id", "qty", "price"]
    assert rows == [(1, 10, "2.00"), (2, 20, "1.50"), (3, 30, "1.50"), (4, 40, "9.99")]
    assert_identical(path, mysql_source, orders, ["orders"])


@pytest.mark.parametrize(
    "ddl, columns",
    [
        ("ADD COLUMN price DECIMAL(8,2) NOT NULL DEFAULT 1.50", ["id", "qty", "note", "price"]),
        ("DROP COLUMN note", ["id", "qty"]),
        ("MODIFY COLUMN qty BIGINT NOT NULL", ["id", "qty", "note"]),
        ("RENAME COLUMN note TO remark", ["id", "qty", "remark"]),
    ],
)
def test_ddl_while_the_snapshot_runs(mysql_source, fresh_db, tmp_path, ddl, columns):
    """A DDL between two chunk reads: later chunks are read as the table is then and written with the
    columns the target has; the stream applies the DDL and every later change of the table, so the
    target ends equal to the source, values of an added column included."""
    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20))")
    run(f"INSERT INTO {t} VALUES " + ", ".join(f"({i}, {i * 10}, 'n{i}')" for i in range(1, 201)))
    path = _pipeline(tmp_path, mysql_source, fresh_db, "evolve")  # 50 rows per chunk: 4 chunks
    done = []

    def after_chunk(progress) -> None:
        done.append(progress)
        if len(done) == 1:
            run(f"ALTER TABLE {t} {ddl}")
            if "price" in ddl:  # rows changed after the DDL, in chunks read before and after it
                run(f"UPDATE {t} SET price = id / 100 WHERE id IN (3, 120, 190)")
            run(f"UPDATE {t} SET qty = qty + 1 WHERE id IN (4, 121, 191)")
            run(f"DELETE FROM {t} WHERE id IN (5, 122)")

    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True, on_chunk=after_chunk)
    # every chunk of the plan loaded (InnoDB's row estimate decides whether 200 rows plan 4 or 5 chunks)
    assert {p.last.chunk.index for p in done} == set(range(done[-1].chunks_total))
    assert _target_columns(tmp_path, fresh_db, "orders") == columns
    assert_identical(path, mysql_source, fresh_db, ["orders"])
    if "price" in ddl:
        got = dict(_target_rows(tmp_path, fresh_db, "orders", "id, CAST(price AS VARCHAR)"))
        assert (got[3], got[120], got[190], got[1], got[200]) == ("0.03", "1.20", "1.90", "1.50", "1.50")


def test_ddl_before_a_tables_snapshot_point_is_not_applied_twice(mysql_source, orders, tmp_path):
    """The stream starts at the earliest snapshot point; a table planned later was described after DDL
    that lies in between: that DDL (and its rows before the table's snapshot point) is not applied
    to it again."""
    t = quote_table(orders, "orders")
    later = quote_table(orders, "later")
    run = mysql_source.server.execute
    run(f"CREATE TABLE {later} (id INT PRIMARY KEY, v INT)")
    run(f"INSERT INTO {later} VALUES (1, 1)")
    path = _pipeline(tmp_path, mysql_source, orders, "evolve")
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    ctx = RunContext(cfg)
    try:
        ctx.discover(only=[TableId(orders, "orders")])
        plan_table(ctx, TableId(orders, "orders"))  # planned first: the stream starts here
    finally:
        ctx.close()
    run(f"ALTER TABLE {later} ADD COLUMN w INT DEFAULT 7 FIRST")
    run(f"INSERT INTO {later} (id, v, w) VALUES (2, 2, 8)")
    run(f"INSERT INTO {t} VALUES (3, 30, 'c')")
    run_sync(cfg, until_caught_up=True)  # plans `later` now, with w
    run(f"INSERT INTO {later} (id, v, w) VALUES (3, 3, 9)")
    run_sync(cfg, until_caught_up=True)
    assert _target_rows(tmp_path, orders, "later", "id, v, w") == [(1, 1, 7), (2, 2, 8), (3, 3, 9)]
    assert_identical(path, mysql_source, orders, ["orders", "later"])
    records, _ = _changes(path, mysql_source)
    assert records == []


def test_a_change_the_stream_cannot_follow_stops_it_and_resnapshot_is_the_way_on(
    mysql_source, orders, tmp_path
):
    path = _pipeline(tmp_path, mysql_source, orders, "evolve")
    _sync(path, mysql_source)
    t = quote_table(orders, "orders")
    run = mysql_source.server.execute
    run(f"INSERT INTO {t} VALUES (3, 30, 'c')")
    run(f"ALTER TABLE {t} DROP PRIMARY KEY, ADD PRIMARY KEY (id, qty)")
    run(f"INSERT INTO {t} VALUES (3, 31, 'd')")
    with pytest.raises(CdcError) as err:
        _sync(path, mysql_source)
    assert f"{orders}.orders" in str(err.value) and "PRIMARY KEY" in str(err.value)
    done = cli("resnapshot", "-c", str(path), f"{orders}.orders", source=mysql_source)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 table(s) will be snapshotted again" in done.stdout
    _sync(path, mysql_source)
    run(f"INSERT INTO {t} VALUES (4, 40, 'e')")
    _sync(path, mysql_source)
    assert [r[:2] for r in _target_rows(tmp_path, orders, "orders")] == [
        (1, 10),
        (2, 20),
        (3, 30),
        (3, 31),
        (4, 40),
    ]
    assert_identical(path, mysql_source, orders, ["orders"])


@pytest.mark.parametrize("behavior", ["evolve", "lenient"])
def test_a_table_renamed_while_streaming(mysql_source, orders, tmp_path, behavior):
    """EVOLVE renames the target; LENIENT keeps it as it was and snapshots the new name into a target
    of its own. Either way the new name's target holds every row, the later changes included."""
    path = _pipeline(tmp_path, mysql_source, orders, behavior)
    _sync(path, mysql_source)
    run = mysql_source.server.execute
    old, new = quote_table(orders, "orders"), quote_table(orders, "orders_v2")
    ctx = RunContext(load_pipeline(path, env=secrets_env(mysql_source)))
    try:
        ctx.discover()  # the stream knows `orders`, not yet `orders_v2`
        run(f"INSERT INTO {old} VALUES (3, 30, 'c')")
        run(f"RENAME TABLE {old} TO {new}")
        run(f"INSERT INTO {new} VALUES (4, 40, 'd')")
        run(f"UPDATE {new} SET qty = 11 WHERE id = 1")
        result = stream(ctx, until_caught_up=True)
    finally:
        ctx.close()
    assert result.schema_changes == 1
    _sync(path, mysql_source)  # a later run: nothing left to do, no error
    assert _target_rows(tmp_path, orders, "orders_v2") == [
        (1, 11, "a"),
        (2, 20, "b"),
        (3, 30, "c"),
        (4, 40, "d"),
    ]
    kept = _target_columns(tmp_path, orders, "orders")
    assert kept == ([] if behavior == "evolve" else ["id", "qty", "note"])
    records, in_force = _changes(path, mysql_source)
    assert [r.kind for r in records] == ["rename.table"] and set(in_force) == {f"{orders}.orders_v2"}
    assert_identical(path, mysql_source, orders, ["orders_v2"])


def test_a_table_dropped_while_the_pipeline_was_stopped(mysql_source, orders, tmp_path):
    """The next start does not find the table; the DROP TABLE (and its last rows) still in the binlog
    concern no table in force, and are passed over."""
    db = quote_ident(orders)
    run = mysql_source.server.execute
    run(f"CREATE TABLE {db}.gone (id INT PRIMARY KEY)")
    path = _pipeline(tmp_path, mysql_source, orders, "exception")
    _sync(path, mysql_source)
    run(f"INSERT INTO {db}.gone VALUES (1)")
    run(f"ALTER TABLE {db}.gone ADD COLUMN x INT")
    run(f"DROP TABLE {db}.gone")
    run(f"INSERT INTO {db}.orders VALUES (3, 30, 'c')")
    result = _sync(path, mysql_source)
    assert result.stream.rows_by_table == {TableId(orders, "orders"): 1}
