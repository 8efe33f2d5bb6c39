"""Reconciling transformed tables: the source passed through the rule against the target. What a rule
leaves out or blocks is checked over rules compiled by the stream's own evaluator; the comparison itself
against a real MariaDB and both sinks (DuckDB, the StarRocks stand-in)."""

from __future__ import annotations

import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.sql import quote_table
from cdc_assets.core.transform import parse_rule
from cdc_assets.core.transform_reconcile import reconcile_plan
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.reconcile import reconcile_table
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.transform import TransformEvaluator
from cdc_assets.engine.verify import compare_table
from cdc_assets_tests.pipelines import secrets_env, write_pipeline
from cdc_assets_tests.test_resilience import _purge_all_but_newest

SCHEMA = TableSchema(
    TableId("db", "t"),
    (
        Column("a", "int", "int(11)", nullable=False),
        Column("b", "int", "int(11)", nullable=False),
        Column("v", "varchar", "varchar(9)", char_max_length=9, charset="utf8mb4"),
    ),
    ("a", "b"),
)


def _plan(projection=None, filter=None, **kw):
    rule = parse_rule(0, selectors=(), projection=projection, filter=filter, **kw)
    return TransformEvaluator(time_zone="UTC", source_metadata=("op_ts",)).compile(rule, SCHEMA)


def test_event_metadata_and_clock_columns_are_left_out_with_their_reason():
    check = reconcile_plan(
        _plan("\\*, __data_event_type__ AS kind, op_ts AS ts, NOW() AS seen, UPPER(v) AS up")
    )
    assert check.blocked is None
    assert [name for name, _why in check.left_out] == ["kind", "ts", "seen"]
    assert "__data_event_type__" in check.describe_left_out() and "clock" in check.describe_left_out()
    assert check.compared == (0, 1, 2, 6) and check.source_key_from_target == (0, 1)


@pytest.mark.parametrize(
    "kw, why",
    [
        ({"filter": "__data_event_type__ <> '-D'"}, "filter reads event metadata"),
        ({"filter": "op_ts > 0"}, "filter reads event metadata"),
        ({"converter_after_transform": "SOFT_DELETE"}, "SOFT_DELETE"),
        ({"primary_keys": ("a",)}, "not the whole source key"),
    ],
)
def test_rules_whose_target_cannot_be_recomputed_are_not_reconciled(kw, why):
    check = reconcile_plan(_plan("\\*", **kw))
    assert check.blocked is not None and why in check.blocked


def test_a_reordered_key_maps_back_to_the_source_key():
    check = reconcile_plan(_plan("v, b, a", primary_keys=("b", "a")))
    assert check.blocked is None and check.source_key_from_target == (1, 0)


# ------------------------------------------------------------------------------------ end to end


@pytest.fixture(params=["duckdb", "starrocks"])
def target(request):
    """None is DuckDB, else the StarRocks stand-in."""
    return request.getfixturevalue("standin") if request.param == "starrocks" else None


def _cfg(tmp_path, mysql_source, db, transform: str, standin=None):
    path = write_pipeline(tmp_path, mysql_source, db, chunk_size=4, standin=standin)
    path.write_text(path.read_text() + transform)
    return load_pipeline(path, env=secrets_env(mysql_source))


def test_a_transformed_table_reconciles_and_a_tampered_target_fails(mysql_source, fresh_db, tmp_path, target):
    run = mysql_source.server.execute
    t = quote_table(fresh_db, "orders")
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), qty INT, price DECIMAL(8,2))")
    run(
        f"INSERT INTO {t} SELECT seq, CONCAT('item', seq), seq % 3, seq / 4 "
        f"FROM {quote_table(fresh_db, 'seq_1_to_30')}"
    )
    cfg = _cfg(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: \\*, UPPER(name) AS up, qty * price AS total, __data_event_type__ AS kind
    filter: qty > 0
""",
        target,
    )
    table = TableId(fresh_db, "orders")
    run_sync(cfg, until_caught_up=True)
    run(f"UPDATE {t} SET qty = 0 WHERE id = 4")  # out of the filter: leaves the target
    run(f"UPDATE {t} SET qty = 5, name = 'x' WHERE id = 3")  # into it
    run(f"DELETE FROM {t} WHERE id = 7")
    run(f"INSERT INTO {t} VALUES (31, 'new', 1, 2.50)")
    run_sync(cfg, until_caught_up=True)

    ctx = RunContext(cfg)
    try:
        ctx.discover()
        ok = reconcile_table(ctx, table)
        assert ok.equal, ok.describe()
        expected = sum(1 for i in range(1, 32) if i not in (4, 7) and (i % 3 or i in (3, 31)))
        assert ok.source_rows == ok.target_rows == expected and ok.ranges >= 7
        assert ok.left_out.startswith("kind: reads __data_event_type__")
        assert compare_table(ctx, table).identical

        # a computed value changed in the target, and a row the filter keeps out written there
        plan = ctx.sink.plan(ctx.schemas[table])
        rows = {r[0]: r for r in ctx.sink.inner.fetch_all(ctx.target(table), plan.target)}
        bad = (*rows[5][:4], "WRONG", *rows[5][5:])
        outside = (6, "item6", 0, rows[5][3], "ITEM6", rows[5][5], "+I")
        ctx.sink.inner.upsert(ctx.target(table), plan.target, [bad, outside])
        tampered = reconcile_table(ctx, table, rechecks=0)
        assert not tampered.equal and tampered.target_rows == expected + 1
        for key in (5, 6):  # each tampered row's key range differs, and only those
            assert any(c.start is None or c.start <= (key,) for c in tampered.differing)
        assert all(
            (c.start is None or c.start <= (6,)) and (c.end is None or (5,) < c.end)
            for c in tampered.differing
        )
        compared = compare_table(ctx, table)
        assert not compared.identical and [r[0] for r in compared.extra] == [5, 6]
    finally:
        ctx.close()


def test_a_soft_delete_target_is_not_reconciled_and_says_why(mysql_source, fresh_db, tmp_path):
    run = mysql_source.server.execute
    t = quote_table(fresh_db, "orders")
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, qty INT)")
    run(f"INSERT INTO {t} VALUES (1, 1), (2, 2)")
    cfg = _cfg(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: \\*, __data_event_type__ AS kind
    converter-after-transform: SOFT_DELETE
""",
    )
    run_sync(cfg, until_caught_up=True)
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        rec = reconcile_table(ctx, TableId(fresh_db, "orders"))
        assert not rec.equal and "not reconciled" in rec.describe() and "SOFT_DELETE" in rec.describe()
        cmp = compare_table(ctx, TableId(fresh_db, "orders"))
        assert not cmp.identical and "SOFT_DELETE" in (cmp.blocked or "")
    finally:
        ctx.close()


def test_a_purged_binlog_resnapshots_a_transformed_table(mysql_source, fresh_db, tmp_path):
    """source.scan.binlog.purged.action: resnapshot empties the target by its own key (the rule's output)
    and loads it again through the rule: rows deleted while the binlog was lost leave the target."""
    run = mysql_source.server.execute
    t = quote_table(fresh_db, "orders")
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), qty INT)")
    run(
        f"INSERT INTO {t} SELECT seq, CONCAT('item', seq), seq % 3 FROM {quote_table(fresh_db, 'seq_1_to_12')}"
    )
    _cfg(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: id AS order_id, UPPER(name) AS up
    filter: qty > 0
""",
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        path.read_text().replace("source:\n", "source:\n  scan.binlog.purged.action: resnapshot\n", 1)
    )
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    run(f"DELETE FROM {t} WHERE id IN (1, 2)")  # never read by the pipeline
    run(f"UPDATE {t} SET name = 'changed' WHERE id = 4")
    _purge_all_but_newest(mysql_source.server)
    run_sync(cfg, until_caught_up=True)
    table = TableId(fresh_db, "orders")
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        cmp = compare_table(ctx, table)
        assert cmp.identical, (cmp.missing, cmp.extra)
        plan = ctx.sink.plan(ctx.schemas[table])
        rows = ctx.sink.inner.fetch_all(ctx.target(table), plan.target)
        assert [r[0] for r in rows] == [4, 5, 7, 8, 10, 11] and rows[0][1] == "CHANGED"
    finally:
        ctx.close()


def test_the_dagster_check_lists_what_it_left_out_and_fails_a_tampered_transformed_target(
    mysql_source, fresh_db, tmp_path, monkeypatch
):
    import dagster as dg

    from cdc_assets.defs.pipeline import _reconcile_check

    run = mysql_source.server.execute
    t = quote_table(fresh_db, "orders")
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20))")
    run(f"INSERT INTO {t} VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    cfg = _cfg(
        tmp_path,
        mysql_source,
        fresh_db,
        f"""transform:
  - source-table: {fresh_db}.orders
    projection: \\*, UPPER(name) AS up, __data_event_type__ AS kind
""",
    )
    run_sync(cfg, until_caught_up=True)
    run(f"UPDATE {t} SET name = 'bb' WHERE id = 2")
    run_sync(cfg, until_caught_up=True)
    table = TableId(fresh_db, "orders")
    for name, value in secrets_env(mysql_source).items():  # the check reads the pipeline file itself
        monkeypatch.setenv(name, value)
    check = _reconcile_check(tmp_path / "pipeline.yaml", None, cfg, table)

    ok = check(dg.build_asset_check_context())
    assert ok.passed, ok.description
    assert ok.metadata["left_out_of_checksums"].text.startswith("kind: reads __data_event_type__")
    assert ok.metadata["source_rows"].value == ok.metadata["target_rows"].value == 3

    ctx = RunContext(cfg)
    try:
        ctx.discover()
        plan = ctx.sink.plan(ctx.schemas[table])
        ctx.sink.inner.upsert(ctx.target(table), plan.target, [(3, "c", "WRONG", "+I")])
    finally:
        ctx.close()
    bad = check(dg.build_asset_check_context())
    assert not bad.passed and "differ" in bad.description
