"""Online schema-change tools (pt-online-schema-change, gh-ost) on a captured table, against a real
MariaDB and both sinks.

The tools' statement sequences are driven as the tools run them (pt-osc's triggers and chunked copy,
gh-ost's changelog table, row copy, binlog-applied rows and cut-over), with row changes on the table
before, during and after; one test runs the real ``pt-online-schema-change`` (Debian's
``percona-toolkit``, installed by scripts/bootstrap.sh). gh-ost cannot be installed here (it is in
neither Debian, PyPI nor npm): its sequence is simulated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import duckdb
import pymysql
import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.online_schema_change import HELPER, SHADOW, column_changes, osc_role
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.schema_change import AddColumn, AlterColumnType, ColumnPosition, DropColumn
from cdc_assets.core.sql import quote_table
from cdc_assets.engine.sync import run_sync
from cdc_assets.errors import CdcError
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import STARROCKS_PASSWORD
from cdc_assets_tests.pipelines import assert_identical, secrets_env, write_pipeline

OPTION = "scan.parse.online.schema.changes.enabled"
ALTER = "ADD COLUMN price DECIMAL(8,2) NOT NULL DEFAULT 1.50 AFTER qty, CHANGE COLUMN note remark VARCHAR(30)"
#: per sink: the ALTER, the columns the tool copies (from, to) and the changes recorded. StarRocks before
#: 3.6 (the stand-in is 3.3) renames no column, as Flink CDC's sink: a direct ALTER would fail as well.
ALTERS = {
    "duckdb": (ALTER, ["id", "qty", "note"], ["id", "qty", "remark"], ["add.column", "rename.column", "alter.column.type"]),
    "starrocks": (
        "ADD COLUMN price DECIMAL(8,2) NOT NULL DEFAULT 1.50 AFTER qty, ADD COLUMN remark VARCHAR(30), DROP COLUMN note",
        ["id", "qty"], ["id", "qty"], ["add.column", "add.column", "drop.column"],
    ),
}  # fmt: skip


# ---- pure: names and column plans ---------------------------------------------------------------


def test_tool_tables_are_told_by_name():
    known = {TableId("d", "t"), TableId("d", "_x")}.__contains__
    assert osc_role(TableId("d", "_t_new"), known).role == SHADOW
    assert osc_role(TableId("d", "__t_new"), known).base == TableId("d", "t")  # pt-osc: a name taken
    assert osc_role(TableId("d", "_t_gho"), known).role == SHADOW
    for helper in ("_t_old", "_t_del", "_t_ghc", "_t_20240101120000_del"):
        found = osc_role(TableId("d", helper), known)
        assert found is not None and (found.base, found.role) == (TableId("d", "t"), HELPER)
    assert osc_role(TableId("d", "__x_new"), known).base == TableId("d", "_x")
    assert osc_role(TableId("d", "_u_new"), known) is None  # not a captured table's
    assert osc_role(TableId("d", "t_new"), known) is None
    assert osc_role(TableId("e", "_t_new"), known) is None  # another database


def _col(name: str, column_type: str = "int(11)", nullable: bool = True) -> Column:
    return Column(name, column_type.split("(")[0], column_type, nullable)


def test_column_changes_take_one_schema_to_the_other():
    t = TableId("d", "t")
    before = TableSchema(t, (_col("id", nullable=False), _col("a"), _col("b")), ("id",))
    after = TableSchema(t, (_col("id", nullable=False), _col("c"), _col("a", "bigint(20)")), ("id",))
    changes = column_changes(before, after, "RENAME ...")
    assert changes == [
        DropColumn(t, "RENAME ...", name="b"),
        AlterColumnType(t, "RENAME ...", name="a", column=_col("a", "bigint(20)")),
        AddColumn(t, "RENAME ...", column=_col("c"), position=ColumnPosition(after="id")),
    ]
    with pytest.raises(ValueError, match="primary key"):
        column_changes(before, TableSchema(t, before.columns, ("id", "a")), "x")


# ---- the tools' statement sequences -------------------------------------------------------------


def pt_osc(run, db: str, table: str, alter: str, copy_from: list[str], copy_to: list[str], at) -> None:
    """pt-online-schema-change 3.x's statements: ``at(stage)`` runs between them (row changes, restarts)."""
    t, new, old = (quote_table(db, n) for n in (table, f"_{table}_new", f"_{table}_old"))
    create = run(f"SHOW CREATE TABLE {t}")[0][1]
    run(create.replace(f"CREATE TABLE `{table}`", f"CREATE TABLE {new}", 1))
    at("created")
    run(f"ALTER TABLE {new} {alter}")
    at("altered")
    cols_to, cols_from = ", ".join(f"`{c}`" for c in copy_to), ", ".join(f"`{c}`" for c in copy_from)
    new_vals = ", ".join(f"NEW.`{c}`" for c in copy_from)
    trig = f"`{db}`.`pt_osc_{db}_{table}"
    run(
        f"CREATE TRIGGER {trig}_del` AFTER DELETE ON {t} FOR EACH ROW DELETE IGNORE FROM {new} WHERE {new}.`id` <=> OLD.`id`"
    )
    run(
        f"CREATE TRIGGER {trig}_upd` AFTER UPDATE ON {t} FOR EACH ROW BEGIN DELETE IGNORE FROM {new} WHERE "
        f"!(OLD.`id` <=> NEW.`id`) AND {new}.`id` <=> OLD.`id`; REPLACE INTO {new} ({cols_to}) VALUES ({new_vals}); END"
    )
    run(
        f"CREATE TRIGGER {trig}_ins` AFTER INSERT ON {t} FOR EACH ROW REPLACE INTO {new} ({cols_to}) VALUES ({new_vals})"
    )
    at("triggers")
    (top,) = run(f"SELECT MAX(id) FROM {t}")[0]
    for low in range(0, (top or 0) + 1, 3):  # the chunked copy, with row changes between chunks
        run(
            f"INSERT LOW_PRIORITY IGNORE INTO {new} ({cols_to}) SELECT {cols_from} FROM {t} FORCE INDEX(`PRIMARY`) "
            f"WHERE `id` >= {low} AND `id` <= {low + 2} LOCK IN SHARE MODE /*pt-online-schema-change copy nibble*/"
        )
        at("copying")
    run(f"ANALYZE TABLE {new}")
    run(f"RENAME TABLE {t} TO {old}, {new} TO {t}")
    at("swapped")
    run(f"DROP TABLE IF EXISTS {old}")
    for kind in ("del", "upd", "ins"):
        run(f"DROP TRIGGER IF EXISTS {trig}_{kind}`")
    at("done")


def gh_ost(
    run, db: str, table: str, alter: str, copy_from: list[str], copy_to: list[str], at, two_step: bool = False
) -> None:
    """gh-ost's statements (simulated: gh-ost cannot be installed here). Its binlog-applied rows are
    the row changes ``at("copying")`` made, applied to the ghost table by key as gh-ost's applier does."""
    t, gho, ghc, dl = (quote_table(db, n) for n in (table, f"_{table}_gho", f"_{table}_ghc", f"_{table}_del"))
    run(f"drop /* gh-ost */ table if exists {gho}")
    run(f"create /* gh-ost */ table {gho} like {t}")
    at("created")
    run(f"alter /* gh-ost */ table {gho} {alter}")
    at("altered")
    run(f"drop /* gh-ost */ table if exists {ghc}")
    run(
        f"create /* gh-ost */ table {ghc} (id bigint unsigned auto_increment, last_update timestamp not null "
        "DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, hint varchar(64) charset ascii not null, "
        "value varchar(4096) charset ascii not null, primary key(id), unique key hint_uidx(hint)) auto_increment=256"
    )
    run(
        f"insert /* gh-ost */ into {ghc} (id, hint, value) values (NULLIF(2, 0), 'state', 'GhostTableMigrated')"
    )
    cols_to, cols_from = ", ".join(f"`{c}`" for c in copy_to), ", ".join(f"`{c}`" for c in copy_from)
    (top,) = run(f"SELECT MAX(id) FROM {t}")[0]
    for low in range(0, (top or 0) + 1, 3):
        run(
            f"insert /* gh-ost {db}.{table} */ ignore into {gho} ({cols_to}) (select {cols_from} from {t} force "
            f"index (`PRIMARY`) where (`id` >= {low} and `id` <= {low + 2}) lock in share mode)"
        )
        at("copying")
        # the applier: the ghost table follows t's rows changed meanwhile (read from the binlog)
        run(f"delete /* gh-ost */ from {gho} where id not in (select id from {t})")
        run(f"replace /* gh-ost */ into {gho} ({cols_to}) (select {cols_from} from {t})")
    run(f"insert /* gh-ost */ into {ghc} (id, hint, value) values (NULLIF(2, 0), 'state', 'AllEventsUpToLockProcessed') "
        "on duplicate key update last_update=NOW(), value=VALUES(value)")  # fmt: skip
    run(
        f"create /* gh-ost */ table {dl} (id int auto_increment primary key) engine=InnoDB comment='ghost-cut-over-sentry'"
    )
    run(f"drop /* gh-ost */ table if exists {dl}")
    if two_step:  # --cut-over=two-step: t is renamed away in a statement of its own
        run(f"rename /* gh-ost */ table {t} to {dl}")
        run(f"rename /* gh-ost */ table {gho} to {t}")
    else:
        run(f"rename /* gh-ost */ table {t} to {dl}, {gho} to {t}")
    at("swapped")
    run(f"drop /* gh-ost */ table if exists {ghc}")
    run(f"drop /* gh-ost */ table if exists {dl}")
    at("done")


TOOLS = {"pt-osc": (pt_osc, "_orders_new"), "gh-ost": (gh_ost, "_orders_gho")}


# ---- helpers ------------------------------------------------------------------------------------


def _pipeline(tmp_path, mysql_source, db, *, online: bool, behavior="evolve", standin=None, tables=None):
    extra = f"  {OPTION}: true\n" if online else ""
    path = write_pipeline(tmp_path, mysql_source, db, standin=standin, extra_source=extra)
    text = path.read_text().replace("pipeline:\n", f"pipeline:\n  schema.change.behavior: {behavior}\n")
    if tables is not None:
        text = text.replace(f"tables: {db}.\\.*", f"tables: {tables}")
    path.write_text(text)
    return path


def _sync(path, mysql_source):
    return run_sync(load_pipeline(path, env=secrets_env(mysql_source)), until_caught_up=True)


def _state(path, mysql_source):
    return StateStore(load_pipeline(path, env=secrets_env(mysql_source)).state_dir)


def _target_tables(tmp_path, db: str, standin) -> dict[str, list[str]]:
    """Target tables of ``db`` and their columns, lower-case names."""
    if standin is None:
        con = duckdb.connect(str(tmp_path / "target.duckdb"), read_only=True)
        try:
            rows = con.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ? "
                "ORDER BY table_name, ordinal_position",
                [db],
            ).fetchall()
        finally:
            con.close()
    else:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=standin.query_port,
            user="root",
            password=STARROCKS_PASSWORD,
            autocommit=True,
        )
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
                    "ORDER BY table_name, ordinal_position",
                    (db,),
                )
                rows = cur.fetchall()
        finally:
            conn.close()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table.lower(), []).append(column.lower())
    return out


@pytest.fixture
def orders(mysql_source, fresh_db):
    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20))")
    run(f"INSERT INTO {t} VALUES " + ", ".join(f"({i}, {i * 10}, 'n{i}')" for i in range(1, 11)))
    return fresh_db


def _changes_on(run, t: str):
    """Row changes on t at each stage of a tool's run: inserts, updates, deletes, before and after the swap."""
    counter = iter(range(100, 1000))

    def at(stage: str) -> None:
        n = next(counter)
        note = "remark" if stage in ("swapped", "done") else "note"
        extra = ", price" if stage in ("swapped", "done") else ""
        vals = f", {n / 100}" if extra else ""
        run(f"INSERT INTO {t} (id, qty, {note}{extra}) VALUES ({n}, {n}, 's{stage}'{vals})")
        run(f"UPDATE {t} SET qty = qty + 1 WHERE id = {n % 10 + 1}")
        if stage in ("copying", "swapped"):
            run(f"DELETE FROM {t} WHERE id = {n % 7 + 1}")
        if stage == "swapped":
            run(f"UPDATE {t} SET price = 9.99, remark = 'after' WHERE id = 10")

    return at


# ---- scan.parse.online.schema.changes.enabled: true ---------------------------------------------


@pytest.mark.parametrize("tool", sorted(TOOLS))
@pytest.mark.parametrize("sink", ["duckdb", "starrocks"])
def test_the_tools_change_becomes_the_tables_own(mysql_source, orders, tmp_path, request, tool, sink):
    """The ALTER on the shadow reaches the target as the table's own changes at the swap (a rename
    stays a rename: the values are kept), rows before it decode with the old columns and after it with
    the new, nothing is snapshotted again, and the tools' tables reach no target although the capture
    regex matches them. A restart between the ALTER and the swap goes on from the saved shadow."""
    standin = request.getfixturevalue("standin") if sink == "starrocks" else None
    path = _pipeline(tmp_path, mysql_source, orders, online=True, standin=standin)
    _sync(path, mysql_source)
    with _state(path, mysql_source) as st:
        planned = st.table(f"{orders}.orders")
    run = mysql_source.server.execute
    t = quote_table(orders, "orders")
    changes = _changes_on(run, t)
    drive, shadow = TOOLS[tool]

    def at(stage: str) -> None:
        changes(stage)
        if stage == "altered":  # the pipeline stops and starts again between the ALTER and the swap
            _sync(path, mysql_source)
            with _state(path, mysql_source) as st:
                saved = st.shadow_schemas()
            assert (
                list(saved) == [f"{orders}.{shadow}"]
                and saved[f"{orders}.{shadow}"].base == f"{orders}.orders"
            )
            assert len(saved[f"{orders}.{shadow}"].statements) == 1

    alter, copy_from, copy_to, kinds = ALTERS[sink]
    drive(run, orders, "orders", alter, copy_from, copy_to, at)
    result = _sync(path, mysql_source)
    assert result.stream.schema_changes >= 3
    tables = _target_tables(tmp_path, orders, standin)
    assert set(tables) == {"orders"}
    assert set(tables["orders"]) == {"id", "qty", "remark", "price"}
    assert_identical(path, mysql_source, orders, ["orders"])
    with _state(path, mysql_source) as st:
        records = st.schema_changes()
        assert st.shadow_schemas() == {}
        assert st.table(f"{orders}.orders") == planned  # not snapshotted again
        in_force = st.schema_in_force(f"{orders}.orders")
    assert [r.kind for r in records] == kinds
    assert all(r.source == f"{orders}.orders" and "online schema change" in r.outcome for r in records)
    assert all(shadow in r.outcome and shadow in r.ddl and r.ddl.lower().startswith("alter") for r in records)
    assert records[0].columns_before == ["id int(11) NOT NULL", "qty int(11) NOT NULL", "note varchar(20)"]
    assert in_force.source.column_names == ("id", "qty", "price", "remark")


def test_exception_forbids_the_swapped_changes_as_a_direct_alter(mysql_source, orders, tmp_path):
    path = _pipeline(tmp_path, mysql_source, orders, online=True, behavior="exception")
    _sync(path, mysql_source)
    run = mysql_source.server.execute
    pt_osc(
        run,
        orders,
        "orders",
        "ADD COLUMN price INT",
        ["id", "qty", "note"],
        ["id", "qty", "note"],
        lambda s: None,
    )
    with pytest.raises(CdcError, match="EXCEPTION"):
        _sync(path, mysql_source)
    path.write_text(path.read_text().replace("behavior: exception", "behavior: lenient"))
    _sync(path, mysql_source)
    assert _target_tables(tmp_path, orders, None)["orders"] == ["id", "qty", "note", "price"]
    assert_identical(path, mysql_source, orders, ["orders"])


# ---- the option off (Flink CDC's default) -------------------------------------------------------


@pytest.mark.parametrize("sink", ["duckdb", "starrocks"])
@pytest.mark.parametrize("behavior", ["lenient", "evolve"])
def test_without_the_option_the_table_is_snapshotted_again_into_its_evolved_target(
    mysql_source, orders, tmp_path, request, sink, behavior
):
    """The swap brings new columns the target lacks: the target is evolved per the behaviour (LENIENT
    keeps the old column), the table snapshotted again into it, rows deleted since the swap gone."""
    standin = request.getfixturevalue("standin") if sink == "starrocks" else None
    path = _pipeline(tmp_path, mysql_source, orders, online=False, behavior=behavior, standin=standin,
                     tables=f"{orders}.orders")  # fmt: skip
    _sync(path, mysql_source)
    run = mysql_source.server.execute
    t = quote_table(orders, "orders")
    pt_osc(run, orders, "orders", ALTER, ["id", "qty", "note"], ["id", "qty", "remark"], _changes_on(run, t))
    _sync(path, mysql_source)
    columns = _target_tables(tmp_path, orders, standin)["orders"]
    expected = {"id", "qty", "remark", "price"} | ({"note"} if behavior == "lenient" else set())
    assert set(columns) == expected
    assert_identical(path, mysql_source, orders, ["orders"])
    with _state(path, mysql_source) as st:
        records = st.schema_changes()
    assert records[-1].kind == "rename.table" and OPTION in records[-1].outcome
    assert "snapshotted again" in records[-1].outcome
    run(f"INSERT INTO {t} (id, qty, remark, price) VALUES (999, 1, 'later', 2.5)")
    _sync(path, mysql_source)
    assert_identical(path, mysql_source, orders, ["orders"])


def test_without_the_option_exception_names_the_option(mysql_source, orders, tmp_path):
    path = _pipeline(
        tmp_path, mysql_source, orders, online=False, behavior="exception", tables=f"{orders}.orders"
    )
    _sync(path, mysql_source)
    run = mysql_source.server.execute
    pt_osc(
        run,
        orders,
        "orders",
        "ADD COLUMN price INT",
        ["id", "qty", "note"],
        ["id", "qty", "note"],
        lambda s: None,
    )
    with pytest.raises(CdcError) as err:
        _sync(path, mysql_source)
    assert OPTION in str(err.value) and f"{orders}.orders" in str(err.value)


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_without_the_option_tool_tables_the_regex_matches_never_rename_the_target(
    mysql_source, orders, tmp_path, tool
):
    """Capturing ``db.\\.*``, the tools' tables are captured as any table (as Flink CDC does), but under
    EVOLVE the swap does not rename the table's target to ``_orders_old``: it stays the table's."""
    path = _pipeline(tmp_path, mysql_source, orders, online=False, behavior="evolve")
    _sync(path, mysql_source)
    run = mysql_source.server.execute
    t = quote_table(orders, "orders")
    drive, _ = TOOLS[tool]
    drive(run, orders, "orders", ALTER, ["id", "qty", "note"], ["id", "qty", "remark"], _changes_on(run, t))
    _sync(path, mysql_source)
    tables = _target_tables(tmp_path, orders, None)
    assert set(tables["orders"]) == {"id", "qty", "remark", "price"}
    assert_identical(path, mysql_source, orders, ["orders"])


# ---- the real pt-online-schema-change -----------------------------------------------------------


def _pt_osc_binary() -> str:
    found = shutil.which("pt-online-schema-change")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pt-online-schema-change is missing: scripts/bootstrap.sh installs percona-toolkit")
        pytest.skip(
            "pt-online-schema-change is not installed (apt-get install percona-toolkit, or scripts/bootstrap.sh)"
        )
    return found


@pytest.mark.parametrize("online", [True, False])
def test_the_real_pt_online_schema_change(mysql_source, orders, tmp_path, online):
    binary = _pt_osc_binary()
    path = _pipeline(tmp_path, mysql_source, orders, online=online, behavior="evolve")
    run = mysql_source.server.execute
    t = quote_table(orders, "orders")
    run(f"INSERT INTO {t} VALUES " + ", ".join(f"({i}, {i}, 'm{i}')" for i in range(11, 400)))
    _sync(path, mysql_source)
    server = mysql_source.server
    dsn = f"h=127.0.0.1,P={server.port},u=root,D={orders},t=orders" + (
        f",p={server.password}" if server.password else ""
    )
    stop = threading.Event()
    written = []

    def write() -> None:  # row changes on t while the tool copies and swaps
        conn = server.connect(orders)
        try:
            with conn.cursor() as cur:
                i = 1000
                while not stop.is_set() or len(written) < 30:
                    cur.execute("INSERT INTO orders (id, qty, note) VALUES (%s, %s, %s)", (i, i, f"w{i}"))
                    cur.execute("UPDATE orders SET qty = qty + 1 WHERE id = %s", (i - 500,))
                    cur.execute("DELETE FROM orders WHERE id = %s", (i - 700,))
                    written.append(i)
                    i += 1
        finally:
            conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        done = subprocess.run(
            [binary, "--alter", "ADD COLUMN price DECIMAL(8,2) NOT NULL DEFAULT 1.50, MODIFY note VARCHAR(40)",
             "--execute", "--recursion-method=none", "--no-check-replication-filters", "--chunk-size=50",
             "--set-vars", "lock_wait_timeout=60", dsn],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Successfully altered" in done.stdout
    run(f"UPDATE {t} SET price = 3.25 WHERE id = 20")
    _sync(path, mysql_source)
    tables = _target_tables(tmp_path, orders, None)
    assert tables["orders"] == ["id", "qty", "note", "price"]
    assert_identical(path, mysql_source, orders, ["orders"])
    with _state(path, mysql_source) as st:
        kinds = [r.kind for r in st.schema_changes()]
    if online:
        assert set(tables) == {"orders"} and kinds == ["add.column", "alter.column.type"]
    else:
        assert kinds[-1] == "rename.table"


def test_a_shadow_created_before_the_pipeline_started_is_snapshotted_again(mysql_source, orders, tmp_path):
    """The option on, but the pipeline started after the tool created and altered its shadow: the
    shadow's changes were never read, so at the swap the table is snapshotted again into its target,
    evolved to the new columns; the shadow was never captured."""
    path = _pipeline(tmp_path, mysql_source, orders, online=True)
    run = mysql_source.server.execute
    t = quote_table(orders, "orders")
    changes = _changes_on(run, t)

    def at(stage: str) -> None:
        changes(stage)
        if stage == "altered":
            _sync(path, mysql_source)  # the first run: snapshot, then stream
            assert set(_target_tables(tmp_path, orders, None)) == {"orders"}

    pt_osc(run, orders, "orders", ALTER, ["id", "qty", "note"], ["id", "qty", "remark"], at)
    _sync(path, mysql_source)
    assert set(_target_tables(tmp_path, orders, None)) == {"orders"}
    assert set(_target_tables(tmp_path, orders, None)["orders"]) == {"id", "qty", "remark", "price"}
    assert_identical(path, mysql_source, orders, ["orders"])
    with _state(path, mysql_source) as st:
        records = st.schema_changes()
    assert records[-1].kind == "rename.table" and "snapshotted again" in records[-1].outcome


def test_gh_ost_two_step_cut_over_is_followed(mysql_source, orders, tmp_path):
    """``--cut-over=two-step`` renames t away, then the ghost table to t, in two statements: t keeps its
    target and schema in between (it has no rows then), and the second RENAME is the swap."""
    path = _pipeline(tmp_path, mysql_source, orders, online=True)
    _sync(path, mysql_source)
    run = mysql_source.server.execute
    t = quote_table(orders, "orders")
    gh_ost(
        run,
        orders,
        "orders",
        ALTER,
        ["id", "qty", "note"],
        ["id", "qty", "remark"],
        _changes_on(run, t),
        True,
    )
    _sync(path, mysql_source)
    assert _target_tables(tmp_path, orders, None) == {"orders": ["id", "qty", "remark", "price"]}
    assert_identical(path, mysql_source, orders, ["orders"])
    with _state(path, mysql_source) as st:
        assert [r.kind for r in st.schema_changes()] == ["add.column", "rename.column", "alter.column.type"]


def _drop_target(tmp_path, db: str, table: str, standin) -> None:
    if standin is None:
        con = duckdb.connect(str(tmp_path / "target.duckdb"))
        try:
            con.execute(f"DROP TABLE {quote_table(db, table, 'duckdb')}")
        finally:
            con.close()
        return
    conn = pymysql.connect(
        host="127.0.0.1", port=standin.query_port, user="root", password=STARROCKS_PASSWORD, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {quote_table(db, table, 'starrocks')}")
    finally:
        conn.close()


@pytest.mark.parametrize("sink", ["duckdb", "starrocks"])
@pytest.mark.parametrize("behavior", ["lenient", "ignore"])
def test_without_the_option_a_two_step_cut_over_widens_the_kept_target_or_stops_clearly(
    mysql_source, orders, tmp_path, request, sink, behavior
):
    """Two RENAMEs: the table leaves the capture, then comes back with new columns onto the target kept
    from before. LENIENT widens that target (the columns it lacks are added, as for a shard joining a
    merged target) and snapshots the table into it. IGNORE changes no target: the stream stops naming the
    option and the way on, which then works; the target is never silently written with fewer columns, and
    the table never silently leaves the capture."""
    standin = request.getfixturevalue("standin") if sink == "starrocks" else None
    path = _pipeline(tmp_path, mysql_source, orders, online=False, behavior=behavior, standin=standin,
                     tables=f"{orders}.orders")  # fmt: skip
    _sync(path, mysql_source)
    run = mysql_source.server.execute
    t = quote_table(orders, "orders")
    gh_ost(
        run,
        orders,
        "orders",
        ALTER,
        ["id", "qty", "note"],
        ["id", "qty", "remark"],
        _changes_on(run, t),
        True,
    )
    if behavior == "ignore":
        with pytest.raises(CdcError) as err:
            _sync(path, mysql_source)
        assert OPTION in str(err.value) and "price" in str(err.value) and "remark" in str(err.value)
        _drop_target(tmp_path, orders, "orders", standin)
    _sync(path, mysql_source)
    assert_identical(path, mysql_source, orders, ["orders"])
