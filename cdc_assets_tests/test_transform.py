"""Transform rules without a server: the function mapping (evaluated by DuckDB), config errors, types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from cdc_assets.config import parse_pipeline
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.selectors import parse_selectors
from cdc_assets.core.transform import FUNCTIONS, column_for_duckdb_type, java_to_strftime, parse_rule
from cdc_assets.core.types import duckdb_type
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.engine.transform import TransformEvaluator, TransformingSink, rows_to_arrow
from cdc_assets.errors import ConfigError

SCHEMA = TableSchema(
    TableId("shop", "orders"),
    (
        Column("id", "int", "int(11)", nullable=False),
        Column("s", "varchar", "varchar(20)", char_max_length=20, charset="utf8mb4"),
        Column("n", "int", "int(11)"),
        Column("m", "int", "int(11)"),
        Column("d", "decimal", "decimal(10,2)", numeric_precision=10, numeric_scale=2),
        Column("f", "double", "double"),
        Column("ts", "datetime", "datetime(6)", datetime_precision=6),
        Column("tz", "timestamp", "timestamp(6)", datetime_precision=6),
        Column("dt", "date", "date"),
        Column("nul", "varchar", "varchar(5)", char_max_length=5, charset="utf8mb4"),
    ),
    ("id",),
)
ROW = (
    1,
    "Hello World",
    7,
    2,
    Decimal("2.50"),
    2.5,
    dt.datetime(2024, 3, 5, 6, 7, 8, 123456),
    dt.datetime(2024, 1, 1, 20, 0, tzinfo=dt.UTC),
    dt.date(2024, 2, 29),
    None,
)
ZONE = "Asia/Shanghai"  # UTC+8 all year: the zone TIMESTAMP (LTZ) values are shown in


def _rule(projection=None, filter=None, **kw):
    return parse_rule(
        0, selectors=tuple(parse_selectors("shop.orders")), projection=projection, filter=filter, **kw
    )


@pytest.fixture(scope="module")
def evaluator():
    return TransformEvaluator(time_zone=ZONE)


# (Flink expression, value for ROW): every function of FUNCTIONS, and the operators
CASES = [
    ("s || '!'", "Hello World!"),
    ("CONCAT(s, '-', CAST(n AS STRING))", "Hello World-7"),
    ("CONCAT(s, nul)", "Hello Worldnull"),  # Flink CDC's concat is Java's String.join
    ("nul || '!'", "null!"),
    ("CONCAT_WS('-', s, nul, 'x')", "Hello World-x"),
    ("UPPER(s)", "HELLO WORLD"),
    ("LOWER(s)", "hello world"),
    ("CHAR_LENGTH('héllo')", 5),
    ("TRIM('  a b  ')", "a b"),
    ("SUBSTR(s, 7)", "World"),
    ("SUBSTR(s, 1, 5)", "Hello"),
    ("SUBSTRING(s, 7, 3)", "Wor"),
    ("SUBSTRING(s FROM 7 FOR 3)", "Wor"),
    ("REGEXP_REPLACE('foobar', 'oo|ar', '')", "fb"),
    ("REPLACE(s, 'World', 'There')", "Hello There"),
    ("LPAD('7', 3, '0')", "007"),
    ("LPAD('hello', 2, '?')", "he"),
    ("RPAD('a', 3, 'xy')", "axy"),
    ("n / m", 3),  # integer / integer is integer division, as Java's '/'
    ("f / m", 1.25),
    ("n % m", 1),
    ("d * m", Decimal("5.00")),
    ("-n", -7),
    ("ABS(-3)", 3),
    ("CEIL(f)", 3.0),
    ("CEILING(f)", 3.0),
    ("FLOOR(f)", 2.0),
    ("ROUND(d, 1)", Decimal("2.5")),
    ("n = 7", True),
    ("nul = 'x'", False),  # two-valued: FALSE, not NULL
    ("nul <> 'x'", True),  # !valueEquals
    ("n > 6 AND n >= 7 AND n < 8 AND n <= 7", True),
    ("n IN (1, 7)", True),
    ("nul IN ('a')", False),
    ("nul NOT IN ('a')", True),
    ("n BETWEEN 5 AND 7", True),
    ("n NOT BETWEEN 5 AND 7", False),
    ("s LIKE '^Hel+o W'", True),  # Flink CDC's LIKE: a Java regular expression found anywhere
    ("s LIKE 'World'", True),
    ("s LIKE '^World'", False),
    ("nul LIKE 'x'", False),
    ("s NOT LIKE 'x'", True),
    ("nul IS NULL", True),
    ("n IS NOT NULL", True),
    ("(n > 1) IS TRUE", True),
    ("NOT (n > 100) OR FALSE", True),
    ("IF(n > 5, 'big', 'small')", "big"),
    ("IFNULL(nul, 'dflt')", "dflt"),
    ("COALESCE(nul, s)", "Hello World"),
    ("NULLIF(n, 7)", None),
    ("CASE n WHEN 7 THEN 'seven' ELSE 'other' END", "seven"),
    ("CASE WHEN n > 100 THEN 'a' END", None),
    ("CAST(n AS BIGINT)", 7),
    ("CAST('12' AS INT)", 12),
    ("CAST(d AS DECIMAL(5,1))", Decimal("2.5")),
    ("CAST(d AS DECIMAL)", Decimal("3")),  # Flink's DECIMAL is DECIMAL(10, 0)
    ("TRY_CAST('x' AS INT)", None),
    ("CAST('x' AS INT)", None),  # Flink's casts give NULL when the conversion is not viable
    ("CAST(f AS INT)", 2),  # truncated toward zero, as Java's intValue() (DuckDB would round)
    ("CAST(-f AS BIGINT)", -2),
    ("CAST(d AS INT)", 2),
    ("CAST('2.7' AS INT)", 2),
    ("CAST('-12' AS SMALLINT)", -12),
    ("CAST('1e3' AS INT)", 1000),
    ("CAST('TRUE' AS BOOLEAN)", True),  # Boolean.valueOf: 'true' in any case, anything else FALSE
    ("CAST('yes' AS BOOLEAN)", False),
    ("CAST(CAST(n AS STRING) AS INT)", 7),
    ("CAST(n AS BOOLEAN)", True),
    ("CAST(ts AS DATE)", dt.date(2024, 3, 5)),
    ("DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss.SSS')", "2024-03-05 06:07:08.123"),
    ("DATE_FORMAT(tz, 'yyyy-MM-dd HH:mm')", "2024-01-02 04:00"),  # an instant, shown in local-time-zone
    ("DATE_FORMAT(dt, 'dd/MM/yy')", "29/02/24"),
    ("DATE_FORMAT(ts, '''T''HH')", "T06"),
    ("TIMESTAMPDIFF(DAY, dt, ts)", 5),
    ("TIMESTAMPDIFF(DAY, ts, dt)", -5),
    ("TIMESTAMPDIFF(MONTH, TO_DATE('2024-01-31'), TO_DATE('2024-02-01'))", 1),  # calendar months
    ("TIMESTAMPDIFF(YEAR, TO_DATE('2023-12-31'), TO_DATE('2024-01-01'))", 1),
    ("TIMESTAMPDIFF(HOUR, TO_TIMESTAMP('2024-01-01 00:00:00'), TO_TIMESTAMP('2024-01-01 05:59:00'))", 5),
    ("TIMESTAMP_DIFF(MINUTE, TO_TIMESTAMP('2024-01-01 00:00:00'), TO_TIMESTAMP('2024-01-01 00:01:59'))", 1),
    ("TO_TIMESTAMP('2024/03/05 10', 'yyyy/MM/dd HH')", dt.datetime(2024, 3, 5, 10)),
    ("TO_TIMESTAMP('garbage')", None),
    ("TO_DATE('2024-03-05')", dt.date(2024, 3, 5)),
    ("TO_DATE('05.03.2024', 'dd.MM.yyyy')", dt.date(2024, 3, 5)),
    ("TO_TIMESTAMP_LTZ(1000, 3)", dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC)),
    ("TO_TIMESTAMP_LTZ(60, 0)", dt.datetime(1970, 1, 1, 0, 1, tzinfo=dt.UTC)),
    ("FROM_UNIXTIME(0)", "1970-01-01 08:00:00"),
    ("FROM_UNIXTIME(86400, 'yyyy-MM-dd')", "1970-01-02"),
    ("UNIX_TIMESTAMP('1970-01-01 08:00:00')", 0),
    ("UNIX_TIMESTAMP('1970-01-01 08:01', 'yyyy-MM-dd HH:mm')", 60),
    ("UNIX_TIMESTAMP() > 1700000000", True),
    ("CHAR_LENGTH(UUID())", 36),
    ("NOW() IS NOT NULL AND CURRENT_TIMESTAMP IS NOT NULL", True),
    ("TIMESTAMPDIFF(MINUTE, CAST(NOW() AS TIMESTAMP), LOCALTIMESTAMP)", 0),
    ("CURRENT_DATE = CAST(LOCALTIMESTAMP AS DATE)", True),
    ("__schema_name__", "shop"),
    ("__table_name__", "orders"),
    ("__namespace_name__", None),
]


@pytest.mark.parametrize(("expression", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_function_evaluates_as_flink_does(evaluator, expression, expected):
    plan = evaluator.compile(_rule(f"id, {expression} AS v"), SCHEMA)
    out = evaluator.evaluate(plan, rows_to_arrow(SCHEMA, [ROW], tinyint1_as_boolean=True))
    assert out.column("v").to_pylist() == [expected]


def test_trim_and_char_length_follow_java_strings(evaluator):
    """TRIM removes every character up to U+0020 (String.trim()); CHAR_LENGTH counts UTF-16 units."""
    plan = evaluator.compile(_rule("id, TRIM(s) AS t, CHAR_LENGTH(s) AS n"), SCHEMA)
    rows = [(1, "\t a b\n\r ", *ROW[2:]), (2, "a😀e\u0301", *ROW[2:]), (3, None, *ROW[2:])]
    out = evaluator.evaluate(plan, rows_to_arrow(SCHEMA, rows, tinyint1_as_boolean=True))
    assert out.column("t").to_pylist() == ["a b", "a😀e\u0301", None]
    assert out.column("n").to_pylist() == [8, 5, None]  # a, the emoji's surrogate pair, e, the accent


def test_every_documented_function_has_a_case():
    used = " ".join(e.upper() for e, _ in CASES)
    assert [f for f in FUNCTIONS if f"{f}(" not in used and f not in used] == []


def test_the_filter_sees_computed_columns_and_drops_rows(evaluator):
    plan = evaluator.compile(_rule(r"\*, n * 10 AS n10", "n10 > 50 AND s LIKE '^H'"), SCHEMA)
    rows = [ROW, (2, "Hi", 3, *ROW[3:]), (3, "Bye", 9, *ROW[3:])]
    out = evaluator.evaluate(plan, rows_to_arrow(SCHEMA, rows, tinyint1_as_boolean=True))
    assert out.column("id").to_pylist() == [1]
    assert out.column_names == [*SCHEMA.column_names, "n10"]


def test_copied_columns_keep_their_values_exactly(evaluator):
    """Every type the sinks take passes a projection unchanged (TIME needs a detour: see compile_rule)."""
    cols = (
        Column("id", "int", "int(11)", nullable=False),
        Column("t", "time", "time(6)", datetime_precision=6),
        Column("j", "json", "json"),
        Column("b", "blob", "blob"),
        Column("u", "bigint", "bigint(20) unsigned"),
        Column("flag", "tinyint", "tinyint(1)"),
        Column("e", "enum", "enum('a','b')"),
        Column("big", "decimal", "decimal(40,2)", numeric_precision=40, numeric_scale=2),
    )
    schema = TableSchema(TableId("shop", "orders"), cols, ("id",))
    rows = [
        (1, dt.timedelta(hours=-838, minutes=-59, seconds=-59, microseconds=-999999), '{"a": 1}', b"\x00\xff",
         2**64 - 1, True, "b", "-12345678901234567890123456789012345678.90"),
        (2, None, None, None, None, None, None, None),
    ]  # fmt: skip
    plan = evaluator.compile(_rule(r"\*, 1 AS one"), schema)
    out = evaluator.evaluate(plan, rows_to_arrow(schema, rows, tinyint1_as_boolean=True))
    assert [r[:-1] for r in zip(*(c.to_pylist() for c in out.columns), strict=True)] == rows


def test_a_star_column_named_again_is_replaced_in_place(evaluator):
    plan = evaluator.compile(_rule(r"\*, UPPER(s) AS s"), SCHEMA)
    assert plan.target.column_names == SCHEMA.column_names
    assert plan.target.column("s").data_type == "longtext"  # computed now
    assert plan.target.column("n") == SCHEMA.column("n")  # copied columns keep their source type


@pytest.mark.parametrize(
    ("duckdb", "data_type", "column_type"),
    [
        ("BOOLEAN", "tinyint", "tinyint(1)"),
        ("INTEGER", "int", "int(11)"),
        ("BIGINT", "bigint", "bigint(20)"),
        ("UBIGINT", "bigint", "bigint(20) unsigned"),
        ("HUGEINT", "decimal", "decimal(38,0)"),
        ("DECIMAL(18,3)", "decimal", "decimal(18,3)"),
        ("DOUBLE", "double", "double"),
        ("VARCHAR", "longtext", "longtext"),
        ("DATE", "date", "date"),
        ("TIMESTAMP", "datetime", "datetime(6)"),
        ("TIMESTAMP_MS", "datetime", "datetime(6)"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp", "timestamp(6)"),
        ("BLOB", "longblob", "longblob"),
        ("JSON", "json", "json"),
        ('"NULL"', "longtext", "longtext"),
    ],
)
def test_computed_column_types_map_to_columns_the_sinks_create(duckdb, data_type, column_type):
    col = column_for_duckdb_type("c", duckdb)
    assert (col.data_type, col.column_type) == (data_type, column_type)
    duckdb_type(col)  # the sinks' mapping accepts it


@pytest.mark.parametrize("duckdb", ["INTERVAL", "TIME", "INTEGER[]", "STRUCT(a INTEGER)"])
def test_computed_column_types_no_sink_holds_are_refused(duckdb):
    with pytest.raises(ValueError, match="cannot be stored"):
        column_for_duckdb_type("c", duckdb)


@pytest.mark.parametrize(
    ("java", "strftime"),
    [
        ("yyyy-MM-dd HH:mm:ss", "%Y-%m-%d %H:%M:%S"),
        ("yy/M/d H:m:s", "%y/%-m/%-d %-H:%-M:%-S"),
        ("hh:mm a", "%I:%M %p"),
        ("EEE, d MMM yyyy", "%a, %-d %b %Y"),
        ("yyyyMMdd'T'HHmmss.SSS", "%Y%m%dT%H%M%S.%g"),
        ("'it''s' 100%", "it's 100%%"),
        ("DDD", "%j"),
    ],
)
def test_java_date_patterns_become_strftime_formats(java, strftime):
    assert java_to_strftime(java) == strftime


@pytest.mark.parametrize("java", ["yyyy-ww", "u", "XXX", "G", "'open"])
def test_java_date_letters_without_an_equivalent_are_refused(java):
    with pytest.raises(ValueError):
        java_to_strftime(java)


# (projection, filter, extra rule options, message): refused when the file loads, without a schema
PARSE_ERRORS = [
    ("COUNT(*) AS c", None, {}, r"transform\[0\]\.projection: aggregate function COUNT\(\) is not allowed"),
    ("MD5(s) AS h", None, {}, r"transform\[0\]\.projection: function MD5\(\) is not supported"),
    ("SUM(n) OVER () AS x", None, {}, "window functions"),
    ("(SELECT 1) AS x", None, {}, "subqueries are not allowed"),
    ("n +", None, {}, r"transform\[0\]\.projection: cannot parse"),
    (None, "n > 1; DROP TABLE x", {}, r"transform\[0\]\.filter: cannot parse"),
    (None, "UNKNOWN_FN(n)", {}, r"transform\[0\]\.filter: function UNKNOWN_FN\(\)"),
    (
        None,
        None,
        {"converter_after_transform": "HARD_DELETE"},
        "converter-after-transform: unknown converter",
    ),
]


@pytest.mark.parametrize(("projection", "filter", "extra", "message"), PARSE_ERRORS)
def test_bad_expressions_are_refused_when_the_file_loads(projection, filter, extra, message):
    with pytest.raises(ConfigError, match=message):
        _rule(projection, filter, **extra)


# (projection, filter, extra rule options, message): refused when compiled for the source schema
COMPILE_ERRORS = [
    ("id, w AS x", None, {}, r"transform\[0\]\.projection: unknown column 'w'"),
    ("id, n + 1", None, {}, "a computed column needs a name"),
    ("id, SUBSTR(s, 0, 2) AS x", None, {}, "positive integer literal"),
    ("id, REGEXP_REPLACE(s, '(l+)', '$1') AS x", None, {}, "group references"),
    ("id, REGEXP_REPLACE(s, 'l(?=o)', '') AS x", None, {}, r"transform\[0\]: cannot be evaluated"),
    ("id, CAST(f AS STRING) AS x", None, {}, "turning a DOUBLE into a string is not supported"),
    ("id, CAST(ts AS STRING) AS x", None, {}, "turning a TIMESTAMP into a string is not supported"),
    ("id, s || dt AS x", None, {}, "turning a DATE into a string is not supported"),
    ("id, CONCAT(s, f) AS x", None, {}, "turning a DOUBLE into a string is not supported"),
    ("id, DATE_FORMAT(ts, 'yyyy-ww') AS x", None, {}, "'ww'.*no exact equivalent"),
    ("id, op_ts AS x", None, {}, r"op_ts is source metadata .*list it in the source, `metadata.list: op_ts`"),
    ("id, s, s", None, {}, "'s' is named twice"),
    ("s, n", None, {}, r"source key column\(s\) id of shop.orders are not in the projection"),
    ("id, UPPER(s) AS k", None, {"primary_keys": ("k",)}, "'k' must be a source key column"),
    ("id, s", None, {"primary_keys": ("s",)}, "'s' must be a source key column"),
    ("id, s", None, {"partition_keys": ("s",)}, r"transform\[0\]\.partition-keys: 's' is not a primary key"),
    ("id, INTERVAL '1' DAY AS x", None, {}, "not supported in a transform"),
    ("id, LOCALTIME AS x", None, {}, "LOCALTIME .a TIME value. is not supported"),
    (
        "id",
        "s LIKE 'Hell%'",
        {},
        r"transform\[0\]\.filter: LIKE 'Hell%': in Flink CDC transforms LIKE takes a Java",
    ),
    ("id", "s LIKE s", {}, "LIKE: the pattern must be a string literal"),
    ("id", "s LIKE '(?<=a)b'", {}, r"transform\[0\]: cannot be evaluated"),
    ("id, ROUND(f, 1) AS x", None, {}, "ROUND of a DOUBLE is not supported"),
    ("id", "w > 1", {}, r"transform\[0\]\.filter: unknown column 'w'"),
    ("id, s.x AS y", None, {}, "qualified column names"),
    ("id, TIMESTAMPDIFF(WEEK, ts, ts) AS x", None, {}, "the unit must be one of"),
]


@pytest.mark.parametrize(("projection", "filter", "extra", "message"), COMPILE_ERRORS)
def test_rules_that_do_not_fit_the_source_table_are_refused(evaluator, projection, filter, extra, message):
    with pytest.raises(ConfigError, match=message):
        evaluator.compile(_rule(projection, filter, **extra), SCHEMA)


def test_an_unknown_local_time_zone_is_a_config_error():
    with pytest.raises(ConfigError, match="pipeline.local-time-zone"):
        TransformEvaluator(time_zone="Mars/Olympus").compile(_rule("id"), SCHEMA)


def test_the_loader_reports_a_bad_transform_with_its_file_line_and_key(tmp_path):
    text = """source:
  type: mysql
  hostname: localhost
  username: u
  password: p
  tables: shop.orders
sink:
  type: duckdb
  path: out.duckdb
transform:
  - source-table: shop.orders
    projection: id, MD5(s) AS h
"""
    with pytest.raises(ConfigError) as info:
        parse_pipeline(text, origin="p.yaml", base_dir=tmp_path, env={})
    assert "p.yaml:12: transform[0].projection: function MD5() is not supported" in str(info.value)


def test_an_update_out_of_the_filter_deletes_its_target_row(evaluator, tmp_path: Path):
    schema = TableSchema(
        TableId("shop", "t"),
        (
            Column("id", "int", "int(11)", nullable=False),
            Column("v", "varchar", "varchar(9)", charset="utf8mb4"),
        ),
        ("id",),
    )
    sink = TransformingSink(
        DuckDBSink(tmp_path / "t.duckdb"),
        [
            parse_rule(
                0,
                selectors=tuple(parse_selectors("shop.t")),
                projection="id, UPPER(v) AS vu",
                filter="v <> 'out'",
            )
        ],
        evaluator,
    )
    target = TableId("dst", "t")
    try:
        sink.ensure_table(target, schema)
        assert sink.upsert(target, schema, [(1, "a"), (2, "b"), (3, "out")]) == 3
        fetch = lambda: sink.inner.fetch_all(target, sink.plan(schema).target)  # noqa: E731
        assert fetch() == [(1, "A"), (2, "B")]
        # 1 leaves the filter, 2 is deleted, 3 enters it, 4 is new and filtered out
        sink.apply_batch([(target, schema, [(2,)], [(1, "out"), (3, "c"), (4, "out")])])
        assert fetch() == [(3, "C")]
    finally:
        sink.close()


def test_partition_keys_comment_and_options_go_into_the_starrocks_ddl():
    import sqlglot

    from cdc_assets.core.starrocks_types import create_table_sql, plan_table
    from cdc_assets.standin.catalog import AnalysisError
    from cdc_assets.standin.ddl import analyze_create_table

    schema = TableSchema(
        TableId("shop", "sales"),
        (
            Column("region", "varchar", "varchar(8)", char_max_length=8, charset="ascii"),
            Column("id", "int", "int(11)"),
            Column("amount", "int", "int(11)"),
        ),
        ("region", "id"),
    )
    table = plan_table(schema, TableId("dw", "sales"))
    sql = create_table_sql(
        table, properties={"replication_num": "1", "comment": 'the "sales"'}, partition_keys=("region",)
    )
    assert sql.endswith(
        'PRIMARY KEY(`region`, `id`) COMMENT "the \\"sales\\"" PARTITION BY (`region`) '
        'DISTRIBUTED BY HASH(`region`, `id`) PROPERTIES ("replication_num" = "1")'
    )
    meta, _ = analyze_create_table(sqlglot.parse_one(sql, read="starrocks"), "dw", default_replication_num=1)
    assert meta.partition_by == ["region"] and meta.comment == 'the "sales"'
    with pytest.raises(ConfigError, match="partition-keys amount of dw.sales are not among its primary key"):
        create_table_sql(table, partition_keys=("amount",))
    not_key = sql.replace("PARTITION BY (`region`)", "PARTITION BY (`amount`)")
    with pytest.raises(AnalysisError, match="partition column must be key column"):
        analyze_create_table(sqlglot.parse_one(not_key, read="starrocks"), "dw", default_replication_num=1)
