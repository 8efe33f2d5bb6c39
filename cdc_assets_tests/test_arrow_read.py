"""The fast (connectorx -> Arrow) snapshot read, value for value against the exact path.

The exact path is :func:`cdc_assets.mysql.snapshot.read_chunk` + ``row_converter(schema, "snapshot")`` +
``DuckDBSink.to_arrow``; the fast path is :func:`cdc_assets.mysql.arrow_read.read_chunk_arrow`. Both read
the same chunks of a table holding every type of ``test_value_roundtrip`` (and its edge values) while the
server's default session is hostile (time zone +05:30, PAD_CHAR_TO_FULL_LENGTH); the fast path logs in
as a user whose password needs percent-encoding. Chunk bounds are exercised on int, string
(case-insensitive, utf8mb4 and latin1), temporal, decimal, binary and composite keys.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest

from cdc_assets.core.arrow_read import (
    READ_RULES,
    SLOW_TYPES,
    chunk_where_sql,
    plan_arrow_read,
    sql_literal,
)
from cdc_assets.core.chunks import Chunk, chunks_from_boundaries
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.types import TYPE_RULES, row_converter
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.errors import AuthenticationError, SourceUnavailableError, TerminalError
from cdc_assets.mysql.arrow_read import FastReadError, fetch_arrow, read_chunk_arrow, scrub, translate_error
from cdc_assets.mysql.catalog import load_schema
from cdc_assets.mysql.connection import ConnectionSettings, connect
from cdc_assets.mysql.snapshot import find_boundaries, read_chunk
from cdc_assets_tests.test_value_roundtrip import CASES, Case, f32

UTC = dt.UTC
WEIRD_PASSWORD = "p@ss:w/rd?#%x'\" &+=;"  # characters a URI must encode (ASCII: PyMySQL sends it as latin1)
ARROW_USER = "cdc_arrow"


def col(data_type: str, column_type: str, **kw) -> Column:
    return Column("c", data_type, column_type, **kw)


# ----------------------------------------------------------------------------------- pure: the plan
PLAN_CASES = [
    # (column, tinyint1_as_boolean, rule name, SELECT item, canonical Arrow type)
    (col("int", "int(11)"), True, "native", "`c`", pa.int32()),
    (col("bigint", "bigint(20) unsigned"), True, "native", "`c`", pa.uint64()),
    (col("tinyint", "tinyint(1)"), True, "tinyint1-bool", "`c`", pa.bool_()),
    (col("tinyint", "tinyint(1)"), False, "native", "`c`", pa.int8()),
    (col("tinyint", "tinyint(1) unsigned"), True, "native", "`c`", pa.uint8()),
    (col("year", "year(4)"), True, "native", "`c`", pa.int16()),
    (col("double", "double"), True, "native", "`c`", pa.float64()),
    (col("float", "float"), True, "float-as-double", "CAST(`c` AS DOUBLE) AS `c`", pa.float32()),
    (
        col("decimal", "decimal(20,15)", numeric_precision=20, numeric_scale=15),
        True,
        "decimal-text",
        "CAST(`c` AS CHAR) AS `c`",
        pa.decimal128(20, 15),
    ),
    (
        col("decimal", "decimal(65,30)", numeric_precision=65, numeric_scale=30),
        True,
        "decimal-text",
        "CAST(`c` AS CHAR) AS `c`",
        pa.large_string(),
    ),
    (col("date", "date"), True, "date-text", "CAST(`c` AS CHAR) AS `c`", pa.date32()),
    (col("datetime", "datetime(6)"), True, "datetime-text", "CAST(`c` AS CHAR) AS `c`", pa.timestamp("us")),
    (
        col("timestamp", "timestamp(3)"),
        True,
        "timestamp-micros",
        "CAST(UNIX_TIMESTAMP(`c`) * 1000000 AS SIGNED) AS `c`",
        pa.timestamp("us", tz="UTC"),
    ),
    (
        col("time", "time(6)"),
        True,
        "time-micros",
        "TIMESTAMPDIFF(MICROSECOND, '2000-01-01', TIMESTAMP('2000-01-01', `c`)) AS `c`",
        pa.duration("us"),
    ),
    (col("bit", "bit(64)"), True, "bit-unsigned", "CAST(`c` AS UNSIGNED) AS `c`", pa.uint64()),
    (col("point", "point"), True, "spatial-bytes", "CAST(`c` AS BINARY) AS `c`", pa.large_binary()),
    (col("varchar", "varchar(10)", charset="latin1"), True, "native", "`c`", pa.large_string()),
    (col("set", "set('x','y')"), True, "native", "`c`", pa.large_string()),
    (col("binary", "binary(4)"), True, "native", "`c`", pa.large_binary()),
]


@pytest.mark.parametrize(
    ("column", "t1b", "rule", "select", "arrow"),
    PLAN_CASES,
    ids=[f"{c.column_type}-{b}" for c, b, *_ in PLAN_CASES],
)
def test_plan_per_type(column, t1b, rule, select, arrow):
    schema = TableSchema(TableId("d", "t"), (column,), ("c",))
    plan = plan_arrow_read(schema, tinyint1_as_boolean=t1b)
    assert plan.fast and plan.reason == ""
    (read,) = plan.columns
    assert read.rule is not None and read.rule.name == rule
    assert read.select == select
    assert plan.arrow_schema == DuckDBSink("unused", tinyint1_as_boolean=t1b).arrow_schema(schema)
    assert plan.arrow_schema.field("c").type == arrow
    assert plan.select_sql("1 = 1") == f"SELECT {select} FROM `d`.`t` WHERE 1 = 1"


def test_every_mapped_type_has_a_read_rule_or_a_reason():
    for rule in TYPE_RULES:
        assert rule.data_type in READ_RULES or rule.data_type in SLOW_TYPES, rule.data_type


def test_mysql_json_is_not_fast_and_says_why():
    schema = TableSchema(
        TableId("d", "t"), (Column("id", "int", "int(11)"), Column("doc", "json", "json")), ("id",)
    )
    plan = plan_arrow_read(schema)
    assert plan.fast is False
    assert "d.t.doc (json)" in plan.reason and "json.loads" in plan.reason
    with pytest.raises(ValueError, match="exact"):
        read_chunk_arrow(ConnectionSettings("h", 1, "u", "p"), schema, Chunk(0, None, None), plan).__next__()
    with pytest.raises(ValueError, match="cannot be read by the fast path"):
        plan.select_sql("1 = 1")


def test_conversions_of_server_text_and_numbers():
    """What connectorx returns for the plan's expressions -> canonical values (dates Python refuses -> NULL)."""
    schema = TableSchema(
        TableId("d", "t"),
        (
            Column("d", "date", "date"),
            Column("dt", "datetime", "datetime(6)"),
            Column("ts", "timestamp", "timestamp(6)"),
            Column("b", "tinyint", "tinyint(1)"),
            Column("m", "decimal", "decimal(20,15)", numeric_precision=20, numeric_scale=15),
        ),
        ("d",),
    )
    got = plan_arrow_read(schema).to_canonical(
        pa.table(
            {
                "d": [
                    "2024-02-29",
                    "2023-02-29",
                    "0000-01-01",
                    "0001-01-01",
                    "2024-00-10",
                    "0000-00-00",
                    None,
                ],
                "dt": [
                    "2024-02-29 23:59:59.999999",
                    "2023-02-29 00:00:00.000000",
                    "0000-01-01 00:00:00.000000",
                    "0001-01-01 00:00:00.000001",
                    "2024-01-00 12:00:00.000000",
                    "9999-12-31 23:59:59.999999",
                    None,
                ],
                "ts": pa.array([1, 0, -1, None, 2**31 * 10**6, 1_500_000, 7], pa.int64()),
                "b": pa.array([0, 1, -1, 2, None, -128, 0], pa.int8()),
                "m": [
                    "-0.000000000000001",
                    "12345.123456789012345",
                    None,
                    "0.000000000000000",
                    "1.5",
                    "-1",
                    "2",
                ],
            }
        )
    )
    assert got.schema == DuckDBSink("unused").arrow_schema(schema)
    assert got.column("d").to_pylist() == [
        dt.date(2024, 2, 29),
        None,
        None,
        dt.date(1, 1, 1),
        None,
        None,
        None,
    ]
    assert got.column("dt").to_pylist() == [
        dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
        None,
        None,
        dt.datetime(1, 1, 1, 0, 0, 0, 1),
        None,
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        None,
    ]
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert got.column("ts").to_pylist() == [
        epoch + dt.timedelta(microseconds=1),
        None,
        epoch - dt.timedelta(microseconds=1),
        None,
        epoch + dt.timedelta(seconds=2**31),
        epoch + dt.timedelta(seconds=1.5),
        epoch + dt.timedelta(microseconds=7),
    ]
    assert got.column("b").to_pylist() == [False, True, True, True, None, True, False]
    assert got.column("m").to_pylist()[:2] == [
        Decimal("-0.000000000000001"),
        Decimal("12345.123456789012345"),
    ]


def test_year_zero_is_null_even_where_arrow_would_parse_it():
    """Arrow parses '0000-01-01' (and refuses 02-30); Python has no year 0, so the exact path gives NULL."""
    schema = TableSchema(
        TableId("d", "t"), (Column("d", "date", "date"), Column("dt", "datetime", "datetime(1)")), ("d",)
    )
    plan = plan_arrow_read(schema)
    valid = plan.to_canonical(pa.table({"d": ["0001-01-01", None], "dt": ["9999-12-31 23:59:59.9", None]}))
    assert valid.to_pylist() == [
        {"d": dt.date(1, 1, 1), "dt": dt.datetime(9999, 12, 31, 23, 59, 59, 900000)},
        {"d": None, "dt": None},
    ]
    year_zero = plan.to_canonical(
        pa.table({"d": ["0000-01-01", "2024-01-01"], "dt": ["0000-12-31 00:00:00.0"] * 2})
    )
    assert year_zero.to_pylist() == [{"d": None, "dt": None}, {"d": dt.date(2024, 1, 1), "dt": None}]


def test_to_canonical_refuses_a_result_of_another_shape():
    schema = TableSchema(TableId("d", "t"), (Column("id", "int", "int(11)"),), ("id",))
    with pytest.raises(Exception, match="returned 2 columns but the plan has 1"):
        plan_arrow_read(schema).to_canonical(pa.table({"a": [1], "b": [2]}))


# ------------------------------------------------------------------------------- pure: literals
UTF8_CI = Column("k", "varchar", "varchar(20)", charset="utf8mb4", collation="utf8mb4_general_ci")
LATIN1 = Column("k", "varchar", "varchar(20)", charset="latin1", collation="latin1_german1_ci")


@pytest.mark.parametrize(
    ("value", "column", "literal"),
    [
        (0, None, "0"),
        (-(2**63), None, "-9223372036854775808"),
        (2**64 - 1, None, "18446744073709551615"),
        (True, None, "1"),
        (Decimal("-0.000000000000001"), None, "-0.000000000000001"),
        (Decimal("1E+3"), None, "1000"),
        (0.1, None, "0.1e0"),
        (-2.5e-300, None, "-2.5e-300"),
        (1e16, None, "1e+16"),
        ("a'b", None, "_utf8mb4 X'612762'"),
        ("", UTF8_CI, "_utf8mb4 X'' COLLATE utf8mb4_general_ci"),
        ("\\\x00😀", UTF8_CI, "_utf8mb4 X'5C00F09F9880' COLLATE utf8mb4_general_ci"),
        ("ä", LATIN1, "CONVERT(_utf8mb4 X'C3A4' USING latin1) COLLATE latin1_german1_ci"),
        (b"\x00'\\", None, "X'00275C'"),
        (b"", None, "X''"),
        (dt.date(999, 1, 2), None, "'0999-01-02'"),
        (dt.datetime(2024, 2, 29, 1, 2, 3), None, "'2024-02-29 01:02:03'"),
        (dt.datetime(9, 2, 28, 1, 2, 3, 50), None, "'0009-02-28 01:02:03.000050'"),
        (
            dt.datetime(2024, 1, 1, 5, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
            None,
            "'2024-01-01 00:00:00'",
        ),
        (dt.time(23, 59, 59, 999999), None, "'23:59:59.999999'"),
        (dt.timedelta(seconds=-1), None, "'-00:00:01'"),
        (dt.timedelta(microseconds=-250000), None, "'-00:00:00.250000'"),
        (-dt.timedelta(hours=838, minutes=59, seconds=58, microseconds=999999), None, "'-838:59:58.999999'"),
        (dt.timedelta(hours=100), None, "'100:00:00'"),
    ],
)
def test_sql_literal(value, column, literal):
    assert sql_literal(value, column) == literal


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), Decimal("NaN"), object()])
def test_sql_literal_refuses(value):
    with pytest.raises((ValueError, TypeError)):
        sql_literal(value)


def test_sql_literal_refuses_odd_collation_names():
    bad = Column("k", "varchar", "varchar(5)", charset="utf8mb4", collation="x; DROP TABLE t")
    with pytest.raises(ValueError, match="collation"):
        sql_literal("a", bad)


def test_chunk_where_sql_composite_and_open_ends():
    schema = TableSchema(
        TableId("d", "t"),
        (UTF8_CI, Column("n`o", "int", "int(11)"), Column("v", "text", "text")),
        ("k", "n`o"),
    )
    assert chunk_where_sql(schema, Chunk(0, None, None)) == "1 = 1"
    a = "_utf8mb4 X'61' COLLATE utf8mb4_general_ci"
    b = "_utf8mb4 X'42' COLLATE utf8mb4_general_ci"
    # Written out (not as a row-value comparison) so the server reads the chunk by index ranges.
    assert chunk_where_sql(schema, Chunk(1, ("a", 1), None)) == f"(`k` > {a} OR (`k` = {a} AND `n``o` >= 1))"
    assert chunk_where_sql(schema, Chunk(2, ("a", 1), ("B", -2))) == (
        f"(`k` > {a} OR (`k` = {a} AND `n``o` >= 1)) AND (`k` < {b} OR (`k` = {b} AND `n``o` < -2))"
    )
    with pytest.raises(ValueError, match="bound of 1 values"):
        chunk_where_sql(schema, Chunk(3, ("a",), None))


# --------------------------------------------------------------------------- pure: error messages
def test_errors_never_show_the_password():
    settings = ConnectionSettings("db.example", 3306, "cdc", WEIRD_PASSWORD)
    encoded = urllib.parse.quote(WEIRD_PASSWORD, safe="")
    assert WEIRD_PASSWORD not in repr(settings)
    raw = RuntimeError(
        f"timed out waiting for connection: MySqlError {{ ERROR 1045 (28000): Access denied for user 'cdc' "
        f"(using password: {WEIRD_PASSWORD}) url mysql://cdc:{encoded}@db.example:3306 }}"
    )
    err = translate_error(raw, settings, "reading chunk 3 of d.t")
    assert isinstance(err, AuthenticationError)
    for text in (str(err), repr(err), repr(err.context)):
        assert WEIRD_PASSWORD not in text and encoded not in text
    assert "reading chunk 3 of d.t" in str(err) and "db.example:3306" in str(err)
    assert scrub(f"x {encoded} y", settings) == "x *** y"

    refused = translate_error(
        RuntimeError(
            "timed out waiting for connection: DriverError { Could not connect to address: Connection refused }"
        ),
        settings,
        "reading",
    )
    assert isinstance(refused, SourceUnavailableError)
    other = translate_error(RuntimeError("Unknown URL parameter `x'"), settings, "reading")
    assert type(other) is TerminalError


# ----------------------------------------------------------------------------------- server tests
# PyMySQL 2.2 builds a TLS context per connection (~0.2 s here), so each test opens few connections.
@pytest.fixture(scope="module")
def admin(mariadb):
    """One root session for DDL and test data (opened before the server defaults turn hostile)."""
    conn = mariadb.connect()
    try:
        yield conn
    finally:
        conn.close()


def run_sql(admin, sql: str, params=None) -> list[tuple]:
    with admin.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


@pytest.fixture(scope="module")
def arrow_settings(mariadb, admin) -> ConnectionSettings:
    """A CDC user whose password needs percent-encoding in connectorx's URI."""
    mariadb.create_user(ARROW_USER, WEIRD_PASSWORD)
    try:
        yield ConnectionSettings(mariadb.host, mariadb.port, ARROW_USER, WEIRD_PASSWORD)
    finally:
        run_sql(admin, "DROP USER IF EXISTS %s@%s", (ARROW_USER, "%"))


@pytest.fixture(scope="module")
def hostile(admin):
    """New sessions start in +05:30 with CHAR padding on; both read paths must undo that themselves."""
    old_zone, old_mode = run_sql(admin, "SELECT @@GLOBAL.time_zone, @@GLOBAL.sql_mode")[0]
    mode = ",".join(filter(None, [old_mode, "PAD_CHAR_TO_FULL_LENGTH"]))
    run_sql(admin, "SET GLOBAL time_zone = '+05:30', GLOBAL sql_mode = %s", (mode,))
    try:
        yield
    finally:
        run_sql(admin, "SET GLOBAL time_zone = %s, GLOBAL sql_mode = %s", (old_zone, old_mode))


@pytest.fixture(scope="module")
def exact_conn(arrow_settings, hostile):
    """The exact path's streaming session (it sets UTC and drops CHAR padding itself)."""
    conn = connect(arrow_settings, streaming=True)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="module")
def module_db(admin):
    name = f"t_{uuid.uuid4().hex[:12]}"
    run_sql(admin, f"CREATE DATABASE {quote_ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    try:
        yield name
    finally:
        run_sql(admin, f"DROP DATABASE IF EXISTS {quote_ident(name)}")


@pytest.fixture
def table_in(admin, module_db):
    """Create tables in the module's database (dropped after the test); returns the schema loader."""
    made: list[TableId] = []

    def create(name: str, ddl: str) -> TableId:
        table = TableId(module_db, f"{name} {uuid.uuid4().hex[:6]}")
        run_sql(admin, f"CREATE TABLE {quote_table(table.db, table.table)} ({ddl})")
        made.append(table)
        return table

    yield create
    for t in made:
        run_sql(admin, f"DROP TABLE IF EXISTS {quote_table(t.db, t.table)}")


def schema_of(admin, table: TableId) -> TableSchema:
    return load_schema(admin, ConnectionSettings("admin", 0, "root", ""), table)


def exact_table(settings, conn, schema: TableSchema, chunk: Chunk, t1b: bool = True) -> pa.Table:
    convert = row_converter(schema, "snapshot", tinyint1_as_boolean=t1b)
    rows = [convert(r) for batch in read_chunk(settings, conn, schema, chunk, 1000) for r in batch]
    return DuckDBSink("unused", tinyint1_as_boolean=t1b).to_arrow(schema, rows)


def fast_table(
    settings, schema, chunk, t1b: bool = True, sizes: list[int] | None = None, **batching
) -> pa.Table:
    """The chunk read by the fast path; ``sizes``, when given, receives the rows of each table yielded."""
    plan = plan_arrow_read(schema, tinyint1_as_boolean=t1b)
    assert plan.fast, plan.reason
    tables = list(read_chunk_arrow(settings, schema, chunk, plan, **batching))
    for t in tables:
        assert t.schema == DuckDBSink("unused", tinyint1_as_boolean=t1b).arrow_schema(schema)
        assert t.num_rows > 0
    if sizes is not None:
        sizes.extend(t.num_rows for t in tables)
    return pa.concat_tables(tables) if tables else plan.arrow_schema.empty_table()


def by_key(table: pa.Table, schema: TableSchema) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in schema.primary_key])


def assert_same_table(fast: pa.Table, exact: pa.Table, schema: TableSchema, where: str) -> None:
    fast, exact = by_key(fast, schema), by_key(exact, schema)
    assert fast.schema == exact.schema, where
    assert fast.num_rows == exact.num_rows, f"{where}: {fast.num_rows} rows fast, {exact.num_rows} exact"
    for name in exact.column_names:
        assert fast.column(name).to_pylist() == exact.column(name).to_pylist(), f"{where}: column {name!r}"
    assert fast.equals(exact), where


def compare_chunks(settings, conn, schema: TableSchema, chunk_size: int, t1b: bool = True) -> pa.Table:
    """Chunk the table as the engine does; every chunk read both ways must agree. Returns the fast union."""
    chunks = chunks_from_boundaries(list(find_boundaries(conn, settings, schema, chunk_size)))
    assert len(chunks) >= 3
    tables = []
    for chunk in chunks:
        fast = fast_table(settings, schema, chunk, t1b)
        exact = exact_table(settings, conn, schema, chunk, t1b)
        assert_same_table(fast, exact, schema, f"chunk {chunk.index} {chunk.start}..{chunk.end}")
        tables.append(fast)
    return by_key(pa.concat_tables(tables), schema)


# Beyond test_value_roundtrip's cases: dates Python cannot hold that are not zero dates, CHAR padding,
# text with quotes, backslashes and NUL, and a case-sensitive collation.
EXTRA_CASES = [
    Case(
        "date-invalid",
        "DATE",
        [("2023-02-29", None), ("0000-01-01", None), ("0001-01-01", dt.date(1, 1, 1)), ("2024-02-30", None)],
        sql_mode="ALLOW_INVALID_DATES",
    ),
    Case(
        "datetime3-invalid",
        "DATETIME(3)",
        [
            ("2023-02-29 10:00:00.5", None),
            ("0000-01-01 00:00:00", None),
            ("2024-12-31 23:59:59.999", dt.datetime(2024, 12, 31, 23, 59, 59, 999000)),
        ],
        sql_mode="ALLOW_INVALID_DATES",
    ),
    Case(
        "timestamp0",
        "TIMESTAMP NULL",
        [
            ("2038-01-19 03:14:07", dt.datetime(2038, 1, 19, 3, 14, 7, tzinfo=UTC)),
            ("0000-00-00 00:00:00", None),
        ],
        sql_mode="",
        time_zone="+00:00",
    ),
    Case("char-latin1-padded", "CHAR(6) CHARACTER SET latin1", [("é ", "é"), ("ab", "ab")]),
    Case("text-quotes", "TEXT", [('it\'s \\ "q" \x00 end', 'it\'s \\ "q" \x00 end')]),
    Case("varchar-bin", "VARCHAR(10) COLLATE utf8mb4_bin", [("Ab\x00c", "Ab\x00c")]),
    Case(
        "decimal-28-10",
        "DECIMAL(28,10)",
        [("-" + "9" * 18 + "." + "9" * 10, Decimal("-" + "9" * 18 + "." + "9" * 10))],
    ),
    Case("float-7-3", "FLOAT(7,3)", [("1.234", f32(1.234)), ("-9999.999", f32(-9999.999))]),
]
ALL_CASES = CASES + EXTRA_CASES


def _case_column(case: Case) -> str:
    return f"`{case.id} ü"  # a backtick, a space and non-ASCII: every name goes through quote_ident


@pytest.fixture(scope="module")
def every_type(admin, module_db) -> tuple[TableSchema, int]:
    """One table with a column per case; row i holds each case's i-th value, the rest NULL."""
    table = TableId(module_db, "every type")
    qt = quote_table(table.db, table.table)
    n_rows = max(len(c.rows) for c in ALL_CASES) + 1
    cols = ", ".join(f"{quote_ident(_case_column(c))} {c.ddl}" for c in ALL_CASES)
    run_sql(admin, f"CREATE TABLE {qt} (id INT PRIMARY KEY, {cols})")
    run_sql(admin, f"INSERT INTO {qt} (id) VALUES " + ", ".join(f"({i})" for i in range(n_rows)))
    with admin.cursor() as cur:
        for case in ALL_CASES:
            # each case's values as its own session would write them (sql_mode, time zone)
            cur.execute("SET SESSION sql_mode = COALESCE(%s, @@GLOBAL.sql_mode)", (case.sql_mode,))
            cur.execute("SET SESSION time_zone = COALESCE(%s, @@GLOBAL.time_zone)", (case.time_zone,))
            cur.executemany(
                f"UPDATE {qt} SET {quote_ident(_case_column(case))} = {case.placeholder} WHERE id = %s",
                [(v, i) for i, (v, _) in enumerate(case.rows)],
            )
        cur.execute("SET SESSION sql_mode = @@GLOBAL.sql_mode, SESSION time_zone = @@GLOBAL.time_zone")
    return schema_of(admin, table), n_rows


@pytest.mark.parametrize("t1b", [True, False], ids=["tinyint1-bool", "tinyint1-int"])
def test_every_type_matches_the_exact_path(arrow_settings, exact_conn, every_type, t1b):
    schema, n_rows = every_type
    table = compare_chunks(arrow_settings, exact_conn, schema, 5, t1b)
    assert table.column("id").to_pylist() == list(range(n_rows))
    for case in ALL_CASES:  # and the values are the canonical ones test_value_roundtrip expects
        if case.tinyint1_as_boolean != t1b:
            continue
        want = [w for _, w in case.rows] + [None] * (n_rows - len(case.rows))
        assert table.column(_case_column(case)).to_pylist() == want, case.id
    # small batches: the stream is cut into several tables, which together are the same rows. Fetches
    # of 3 rows are joined into tables of 4 (a fetch split across two tables), or cut early by bytes.
    whole = Chunk(0, None, None)
    exact = exact_table(arrow_settings, exact_conn, schema, whole, t1b)
    sizes: list[int] = []
    assert_same_table(
        fast_table(arrow_settings, schema, whole, t1b, sizes, batch_rows=4, fetch_rows=3),
        exact,
        schema,
        "fetches of 3 in tables of 4",
    )
    assert sizes == [4] * (n_rows // 4) + ([n_rows % 4] if n_rows % 4 else [])
    sizes.clear()
    assert_same_table(
        fast_table(arrow_settings, schema, whole, t1b, sizes, batch_rows=100, fetch_rows=2, batch_bytes=1),
        exact,
        schema,
        "tables ended by bytes",
    )
    assert sizes == [2] * (n_rows // 2) + ([n_rows % 2] if n_rows % 2 else [])


def _double_with_scale(admin, table_in) -> TableSchema:
    # DOUBLE(10,2) rounds on insert in double arithmetic: -0.01 is stored as -0.010000000000000009
    table = table_in("scaled double", "id INT PRIMARY KEY, d DOUBLE(10,2)")
    run_sql(
        admin,
        f"INSERT INTO {quote_table(table.db, table.table)} VALUES (1, -0.01), (2, 0.1), (3, 12345678.91)",
    )
    return schema_of(admin, table)


def test_double_with_scale_is_read_as_stored(admin, arrow_settings, table_in):
    """The fast path returns the stored double, as the binlog does (python-mysql-replication unpacks the 8 bytes)."""
    schema = _double_with_scale(admin, table_in)
    stored = run_sql(
        admin,
        f"SELECT CAST(d AS DOUBLE) FROM {quote_table(schema.table_id.db, schema.table_id.table)} ORDER BY id",
    )
    fast = by_key(fast_table(arrow_settings, schema, Chunk(0, None, None)), schema)
    assert fast.column("d").to_pylist() == [r[0] for r in stored] == [-0.010000000000000009, 0.1, 12345678.91]


def test_double_with_scale_matches_the_exact_path(admin, arrow_settings, exact_conn, table_in):
    schema = _double_with_scale(admin, table_in)
    whole = Chunk(0, None, None)
    assert_same_table(
        fast_table(arrow_settings, schema, whole),
        exact_table(arrow_settings, exact_conn, schema, whole),
        schema,
        "all",
    )


KEY_CASES = [
    # (id, key DDL, key values inserted)
    (
        "varchar-utf8mb4-ci",
        "VARCHAR(20) COLLATE utf8mb4_general_ci",
        ["apple", "Banana", "b", "O'Brien", "back\\slash", 'a"q', "\x00nul", "😀", "É", "zz", "ß", "Zebra"],
    ),
    (
        "varchar-latin1-german-ci",
        "VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_german1_ci",
        ["Ärger", "apfel", "Ab", "ö", "Zoo", "o'k", "b\\c", "ss", "B"],
    ),
    ("bigint-unsigned", "BIGINT UNSIGNED", [0, 1, 2**63, 2**64 - 1, 7, 2**63 - 1, 5]),
    (
        "decimal-20-15",
        "DECIMAL(20,15)",
        [
            "-99999.999999999999999",
            "-0.000000000000001",
            "0",
            "0.000000000000001",
            "1.5",
            "12345.123456789012345",
        ],
    ),
    ("double", "DOUBLE", [-1e300, -0.1, 0.0, 0.1, 0.30000000000000004, 5e-324, 1e300]),
    ("varbinary", "VARBINARY(8)", [b"", b"\x00", b"\x00\x00", b"\x00\x01", b"'", b"\\", b"\xff\xff", b"a"]),
    (
        "datetime6",
        "DATETIME(6)",
        [
            "1000-01-01 00:00:00",
            "2024-02-29 12:00:00.000001",
            "2024-02-29 12:00:00",
            "9999-12-31 23:59:59.999999",
            "2000-01-01 00:00:00.5",
        ],
    ),
    ("date", "DATE", ["1000-01-01", "2024-02-29", "2024-03-01", "9999-12-31", "0999-12-31"]),
    (
        "timestamp6",
        "TIMESTAMP(6)",
        # hours apart: read in the server's +05:30 instead of UTC, the bounds would move across rows
        ["2024-01-01 00:00:00", "2024-01-01 02:00:00.5", "2024-01-01 04:00:00", "2024-01-01 06:00:00.000001"]
        + ["2024-01-01 08:00:00", "2024-01-01 10:00:00", "1970-01-01 00:00:01", "2038-01-19 03:14:07.999999"],
    ),
    (
        "time6",
        "TIME(6)",
        ["-838:59:58.999999", "-00:00:00.25", "-00:00:00.000001", "00:00:00", "00:00:00.5", "838:59:59"],
    ),
]


@pytest.mark.parametrize(("ddl", "values"), [k[1:] for k in KEY_CASES], ids=[k[0] for k in KEY_CASES])
def test_chunk_bounds_select_the_exact_paths_rows(admin, arrow_settings, exact_conn, table_in, ddl, values):
    table = table_in("keyed", f"k {ddl} PRIMARY KEY, v INT")
    with admin.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP keys are written as UTC
        cur.executemany(
            f"INSERT INTO {quote_table(table.db, table.table)} VALUES (%s, %s)",
            [(k, i) for i, k in enumerate(values)],
        )
        cur.execute("SET SESSION time_zone = DEFAULT")
    fast = compare_chunks(arrow_settings, exact_conn, schema_of(admin, table), 2)
    assert sorted(fast.column("v").to_pylist()) == list(range(len(values)))  # every row in exactly one chunk


def test_composite_key_with_case_insensitive_text(admin, arrow_settings, exact_conn, table_in):
    table = table_in(
        "composite key",
        "`a b` VARCHAR(10) COLLATE utf8mb4_general_ci, `n``o` BIGINT, v INT, PRIMARY KEY (`a b`, `n``o`)",
    )
    rows = [(a, n) for a in ("x", "Y", "é", "z'", "\\") for n in (-5, 0, 9)]
    with admin.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {quote_table(table.db, table.table)} VALUES (%s, %s, %s)",
            [(a, n, i) for i, (a, n) in enumerate(rows)],
        )
    fast = compare_chunks(arrow_settings, exact_conn, schema_of(admin, table), 4)
    assert sorted(fast.column("v").to_pylist()) == list(range(len(rows)))


@pytest.mark.parametrize(
    ("value", "column", "check_sql", "expected"),
    [
        (
            'it\'s \\ "q" \x00 😀',
            UTF8_CI,
            "SELECT HEX(CAST({lit} AS BINARY))",
            'it\'s \\ "q" \x00 😀'.encode().hex(),
        ),
        ("Ärger\\'", LATIN1, "SELECT HEX(CAST({lit} AS BINARY)), COLLATION({lit})", None),
        (b"\x00'\\\"\xff", None, "SELECT HEX({lit})", b"\x00'\\\"\xff".hex()),
        (Decimal("-12345.123456789012345"), None, "SELECT CAST({lit} AS CHAR)", "-12345.123456789012345"),
        (0.1, None, "SELECT {lit}", 0.1),  # a DOUBLE: a DECIMAL literal would read back as Decimal
        (
            dt.datetime(999, 1, 2, 3, 4, 5, 6),
            None,
            "SELECT CAST({lit} AS DATETIME(6))",
            dt.datetime(999, 1, 2, 3, 4, 5, 6),
        ),
        (
            -dt.timedelta(hours=1, microseconds=1),
            None,
            "SELECT CAST({lit} AS TIME(6))",
            -dt.timedelta(hours=1, microseconds=1),
        ),
        (2**64 - 1, None, "SELECT CAST({lit} AS CHAR)", str(2**64 - 1)),
    ],
    ids=["utf8mb4", "latin1", "bytes", "decimal", "float", "datetime", "time", "uint64"],
)
def test_literals_mean_their_value_whatever_the_sql_mode(admin, value, column, check_sql, expected):
    with admin.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'")
        try:
            cur.execute(check_sql.format(lit=sql_literal(value, column)))
            got = cur.fetchone()
        finally:
            cur.execute("SET SESSION sql_mode = DEFAULT")
    if column is LATIN1:
        assert got == (value.encode("latin1").hex().upper(), "latin1_german1_ci")
    elif check_sql.startswith("SELECT HEX"):
        assert got[0] == expected.upper()
    else:
        assert got[0] == expected and type(got[0]) is type(expected)


def test_server_errors_are_classified_without_the_password(admin, arrow_settings, table_in):
    table = table_in("gone", "id INT PRIMARY KEY")
    schema = schema_of(admin, table)
    run_sql(admin, f"DROP TABLE {quote_table(table.db, table.table)}")
    with pytest.raises(TerminalError) as info:
        list(read_chunk_arrow(arrow_settings, schema, Chunk(0, None, None), plan_arrow_read(schema)))
    assert "1146" in str(info.value) and str(table) in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert WEIRD_PASSWORD not in str(info.value)


def test_a_connectorx_panic_becomes_a_fast_read_error(arrow_settings):
    # connectorx 0.4.6 does not implement MYSQL_TYPE_GEOMETRY: a bare spatial value panics (a BaseException)
    with pytest.raises(FastReadError, match="exact path") as info:
        list(fetch_arrow(arrow_settings, "SELECT ST_GeomFromText('POINT(1 2)') AS g", doing="testing"))
    assert "MYSQL_TYPE_GEOMETRY" in str(info.value)
    assert WEIRD_PASSWORD not in str(info.value)
