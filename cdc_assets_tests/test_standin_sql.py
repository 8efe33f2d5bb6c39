"""The StarRocks stand-in's FE query port, over a real socket with PyMySQL, and its store.

Each test uses its own database on a server shared by the module; the expected texts are StarRocks'
own messages and output formats (docs and FE source), not whatever the stand-in happens to print.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pymysql
import pytest

from cdc_assets.standin.alter import conversion_error, type_string
from cdc_assets.standin.catalog import AnalysisError, ColumnMeta, SrType, TableMeta
from cdc_assets.standin.query import QueryServer
from cdc_assets.standin.store import StandInStore

PASSWORD = "sr-secret"
_counter = itertools.count()
PROPS = 'PROPERTIES ("replication_num" = "1")'


@pytest.fixture(scope="module")
def server() -> Iterator[QueryServer]:
    store = StandInStore()
    qs = QueryServer(store, password=PASSWORD, alter_job_seconds=0.2).start()
    try:
        yield qs
    finally:
        qs.stop()
        store.close()


def connect(qs: QueryServer, **kw) -> pymysql.connections.Connection:
    kw.setdefault("password", PASSWORD)
    return pymysql.connect(host="127.0.0.1", port=qs.port, user="root", **kw)


@pytest.fixture
def cur(server: QueryServer) -> Iterator[pymysql.cursors.Cursor]:
    """A cursor USE-ing a fresh database."""
    conn = connect(server, autocommit=True)
    c = conn.cursor()
    db = f"db{next(_counter)}"
    c.execute(f"CREATE DATABASE {db}")
    c.execute(f"USE {db}")
    try:
        yield c
    finally:
        c.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.close()


def rows(c, sql: str) -> list[tuple]:
    c.execute(sql)
    return list(c.fetchall())


def error(c, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as e:
        c.execute(sql)
    return e.value.args[0], e.value.args[1]


def current_db(c) -> str:
    return rows(c, "SELECT DATABASE()")[0][0]


def wait_job(c, table: str, timeout: float = 30.0) -> dict[str, str]:
    """Poll SHOW ALTER TABLE COLUMN (as the Flink catalog does) until the latest job of ``table`` ends."""
    deadline = time.monotonic() + timeout
    while True:
        c.execute(f'SHOW ALTER TABLE COLUMN WHERE TableName = "{table}" ORDER BY CreateTime DESC LIMIT 1')
        names = [d[0] for d in c.description]
        job = dict(zip(names, c.fetchone(), strict=True))
        if job["State"] in ("FINISHED", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, f"alter job still {job['State']}"
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------ session
def test_connect_queries_version_and_variables(server: QueryServer) -> None:
    conn = connect(server)
    c = conn.cursor()
    assert rows(c, "SELECT @@version_comment LIMIT 1") == [("StarRocks version 3.3.5",)]
    ver = rows(c, "select current_version() as ver")
    assert [d[0] for d in c.description] == ["ver"]
    assert ver[0][0].split(" ")[0] == "3.3.5"
    assert rows(c, "SELECT version()") == [("5.1.0",)]
    assert conn.get_server_info() == "5.1.0"
    c.execute("SET AUTOCOMMIT = 0")
    assert rows(c, "SELECT @@autocommit") == [(0,)]
    conn.commit()
    c.execute("SET NAMES utf8mb4")
    c.execute("SET query_timeout = 600")
    assert rows(c, "SHOW VARIABLES LIKE 'query_timeout'") == [("query_timeout", "600")]
    assert rows(c, "SELECT DATABASE()") == [(None,)]
    assert rows(c, "SELECT 1 FROM DUAL") == [(1,)]
    assert rows(c, "SHOW WARNINGS") == []
    assert error(c, "SELECT @@no_such_variable") == (1193, "Unknown system variable 'no_such_variable'")
    conn.close()


def test_connector_j_connect_query(server: QueryServer) -> None:
    conn = connect(server)
    c = conn.cursor()
    names = (
        "auto_increment_increment character_set_client character_set_connection character_set_results "
        "character_set_server collation_server collation_connection init_connect interactive_timeout license "
        "lower_case_table_names max_allowed_packet net_write_timeout performance_schema query_cache_size "
        "query_cache_type sql_mode system_time_zone time_zone transaction_isolation wait_timeout"
    ).split()
    select = ", ".join(f"@@{n} AS {n}" for n in names).replace("@@auto", "@@session.auto", 1)
    got = dict(zip(names, rows(c, f"/* mysql-connector-java-8.0.28 */SELECT  {select}")[0], strict=True))
    assert got["character_set_client"] == "utf8mb4"
    assert got["lower_case_table_names"] == 0
    assert got["license"] == "Apache License 2.0"
    c.execute("SET character_set_results = NULL")
    c.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    conn.close()


def test_wrong_password_is_refused(server: QueryServer) -> None:
    with pytest.raises(pymysql.OperationalError) as e:
        connect(server, password="not-it")
    assert e.value.args == (1045, "Access denied for user 'root' (using password: YES)")
    with pytest.raises(pymysql.OperationalError) as e:
        connect(server, password="")
    assert e.value.args == (1045, "Access denied for user 'root' (using password: NO)")
    with pytest.raises(pymysql.OperationalError) as e:
        pymysql.connect(host="127.0.0.1", port=server.port, user="nobody", password=PASSWORD)
    assert e.value.args[0] == 1045


def test_unknown_database_at_connect_is_refused(server: QueryServer) -> None:
    with pytest.raises(pymysql.MySQLError) as e:
        connect(server, database="no_such_db")
    assert e.value.args == (1049, "Unknown database 'no_such_db'")


def test_unknown_statement_is_a_syntax_error(cur) -> None:
    code, msg = error(cur, "FROBNICATE THE TABLES")
    assert code == 1064 and msg.startswith("Getting syntax error")
    code, msg = error(cur, "SELECT FROM WHERE")
    assert code == 1064 and msg.startswith("Getting syntax error")


# ----------------------------------------------------------------------------------------- databases
def test_databases(server: QueryServer) -> None:
    conn = connect(server, autocommit=True)
    c = conn.cursor()
    db = f"dbs{next(_counter)}"
    c.execute(f"CREATE DATABASE {db}")
    assert error(c, f"CREATE DATABASE {db}") == (1007, f"Can't create database '{db}'; database exists")
    c.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    assert (db,) in rows(c, "SHOW DATABASES")
    assert ("information_schema",) in rows(c, "SHOW DATABASES")
    c.execute(f"USE {db}")
    assert current_db(c) == db
    assert rows(c, "SHOW TABLES") == []
    assert error(c, "USE no_such_db") == (1049, "Unknown database 'no_such_db'")
    c.execute(f"DROP DATABASE {db}")
    assert (db,) not in rows(c, "SHOW DATABASES")
    assert error(c, f"DROP DATABASE {db}") == (1008, f"Can't drop database '{db}'; database doesn't exist")
    c.execute(f"DROP DATABASE IF EXISTS {db}")
    conn.close()


# ------------------------------------------------------------------------------------- CREATE TABLE
ALL_TYPES = f"""
CREATE TABLE IF NOT EXISTS `t` (
  `id` BIGINT NOT NULL COMMENT "the key",
  `k2` VARCHAR(64) NOT NULL,
  `b` BOOLEAN NULL,
  `ti` TINYINT,
  `si` SMALLINT,
  `i` INT DEFAULT "7",
  `bi` BIGINT,
  `li` LARGEINT,
  `f` FLOAT,
  `d` DOUBLE,
  `dec` DECIMAL(10, 2),
  `dec38` DECIMAL(38, 10),
  `dt` DATE,
  `ts` DATETIME,
  `c` CHAR(10),
  `s` STRING,
  `j` JSON,
  `vb` VARBINARY(16)
) PRIMARY KEY(`id`, `k2`)
DISTRIBUTED BY HASH(`id`) BUCKETS 4
{PROPS}
"""


def test_create_table_show_create_desc_and_tables(cur) -> None:
    cur.execute(ALL_TYPES)
    cur.execute(ALL_TYPES)  # IF NOT EXISTS
    assert rows(cur, "SHOW TABLES") == [("t",)]
    name, text = rows(cur, "SHOW CREATE TABLE t")[0]
    assert name == "t"
    assert text == (
        "CREATE TABLE `t` (\n"
        '  `id` bigint(20) NOT NULL COMMENT "the key",\n'
        '  `k2` varchar(64) NOT NULL COMMENT "",\n'
        '  `b` boolean NULL COMMENT "",\n'
        '  `ti` tinyint(4) NULL COMMENT "",\n'
        '  `si` smallint(6) NULL COMMENT "",\n'
        '  `i` int(11) NULL DEFAULT "7" COMMENT "",\n'
        '  `bi` bigint(20) NULL COMMENT "",\n'
        '  `li` largeint(40) NULL COMMENT "",\n'
        '  `f` float NULL COMMENT "",\n'
        '  `d` double NULL COMMENT "",\n'
        '  `dec` decimal64(10, 2) NULL COMMENT "",\n'
        '  `dec38` decimal128(38, 10) NULL COMMENT "",\n'
        '  `dt` date NULL COMMENT "",\n'
        '  `ts` datetime NULL COMMENT "",\n'
        '  `c` char(10) NULL COMMENT "",\n'
        '  `s` varchar(65533) NULL COMMENT "",\n'
        '  `j` json NULL COMMENT "",\n'
        '  `vb` varbinary(16) NULL COMMENT ""\n'
        ") ENGINE=OLAP \n"
        "PRIMARY KEY(`id`, `k2`)\n"
        'COMMENT "OLAP"\n'
        "DISTRIBUTED BY HASH(`id`) BUCKETS 4 \n"
        "PROPERTIES (\n"
        '"compression" = "LZ4",\n'
        '"fast_schema_evolution" = "true",\n'
        '"replicated_storage" = "true",\n'
        '"replication_num" = "1"\n'
        ");"
    )
    desc = rows(cur, "DESC t")
    assert [d[0] for d in cur.description] == ["Field", "Type", "Null", "Key", "Default", "Extra"]
    assert desc[0] == ("id", "bigint", "NO", "true", None, "")
    assert desc[1] == ("k2", "varchar(64)", "NO", "true", None, "")
    assert desc[5] == ("i", "int", "YES", "false", "7", "")
    assert desc[10] == ("dec", "decimal(10,2)", "YES", "false", None, "")
    assert rows(cur, "DESCRIBE t") == desc
    db = current_db(cur)
    all_rows = rows(cur, f"DESC `{db}`.`t` ALL")
    assert [d[0] for d in cur.description] == [
        "IndexName",
        "IndexKeysType",
        "Field",
        "Type",
        "Null",
        "Key",
        "Default",
        "Extra",
    ]
    assert all_rows[0] == ("t", "PRIMARY_KEYS", "id", "bigint", "NO", "true", None, "")
    assert all_rows[1][:3] == ("", "", "k2")


def test_create_table_defaults_distribution_to_the_key(cur) -> None:
    cur.execute(f"CREATE TABLE t (a INT NOT NULL, b DATE, v JSON) PRIMARY KEY (a, b) {PROPS}")
    text = rows(cur, "SHOW CREATE TABLE t")[0][1]
    assert "DISTRIBUTED BY HASH(`a`, `b`)\n" in text
    assert "`b` date NOT NULL" in text  # key columns default to NOT NULL
    assert error(cur, f"CREATE TABLE t (a INT) PRIMARY KEY (a) {PROPS}") == (1050, "Table 't' already exists")
    cur.execute(f'CREATE TABLE u (a INT) ENGINE=OLAP PRIMARY KEY (a) COMMENT "my table" {PROPS}')
    assert 'COMMENT "my table"\n' in rows(cur, "SHOW CREATE TABLE u")[0][1]
    db = current_db(cur)
    assert rows(
        cur,
        "SELECT TABLE_COMMENT FROM information_schema.tables "
        f"WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'u'",
    ) == [("my table",)]


KEY_ORDER = (
    "Key columns must be the first few columns of the schema and the order  of the key columns "
    "must be consistent with the order of the schema"
)


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        (f"CREATE TABLE x (v INT, id INT NOT NULL) PRIMARY KEY(id) {PROPS}", KEY_ORDER),
        (f"CREATE TABLE x (a INT, b INT, c INT) PRIMARY KEY(b, a) {PROPS}", KEY_ORDER),
        (f"CREATE TABLE x (a INT) PRIMARY KEY(zz) {PROPS}", "Key column(zz) doesn't exist."),
        (
            f"CREATE TABLE x (id INT NULL) PRIMARY KEY(id) {PROPS}",
            "primary key column[id] cannot be nullable",
        ),
        (
            f"CREATE TABLE x (id CHAR(4)) PRIMARY KEY(id) {PROPS}",
            "primary key column[id] type not supported: char(4)",
        ),
        (
            f"CREATE TABLE x (id FLOAT) PRIMARY KEY(id) {PROPS}",
            "primary key column[id] type not supported: float",
        ),
        (
            f"CREATE TABLE x (id DOUBLE) PRIMARY KEY(id) {PROPS}",
            "primary key column[id] type not supported: double",
        ),
        (
            f"CREATE TABLE x (id DECIMAL(10,2)) PRIMARY KEY(id) {PROPS}",
            "primary key column[id] type not supported: decimal64(10, 2)",
        ),
        (
            f"CREATE TABLE x (id JSON) PRIMARY KEY(id) {PROPS}",
            "primary key column[id] type not supported: json",
        ),
        (
            f"CREATE TABLE x (id INT, v VARCHAR(1048577)) PRIMARY KEY(id) {PROPS}",
            "Varchar size must be <= 1048576: 1048577",
        ),
        (f"CREATE TABLE x (id INT, v VARCHAR(0)) PRIMARY KEY(id) {PROPS}", "Varchar size must be > 0: 0"),
        (f"CREATE TABLE x (id INT, v CHAR(256)) PRIMARY KEY(id) {PROPS}", "Char size must be <= 255: 256"),
        (
            f"CREATE TABLE x (id INT, v DECIMAL(39, 2)) PRIMARY KEY(id) {PROPS}",
            "Precision of DECIMAL128 must between 1 and 38, precision was set to: 39",
        ),
        (
            f"CREATE TABLE x (id INT, v DECIMAL(5, 6)) PRIMARY KEY(id) {PROPS}",
            "Scale of DECIMAL32 must between 0 and 5,  scale was set to: 6",
        ),
        (
            f"CREATE TABLE x (id INT, v VARBINARY(1048577)) PRIMARY KEY(id) {PROPS}",
            "VARBINARY size must be <= 1048576: 1048577",
        ),
        (
            f"CREATE TABLE x (id INT, v INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(v) {PROPS}",
            "Distribution column[v] is not key column",
        ),
        (
            f"CREATE TABLE x (id INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(q) {PROPS}",
            "Distribution column(q) doesn't exist.",
        ),
        (
            f"CREATE TABLE x (id INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 0 {PROPS}",
            "Number of hash distribution should be larger than zero.",
        ),
        (
            f"CREATE TABLE x (id INT, v DOUBLE) PRIMARY KEY(id) ORDER BY (v) {PROPS}",
            "sort key column[v] type not supported: double",
        ),
        (f"CREATE TABLE x (id INT, id INT) PRIMARY KEY(id) {PROPS}", "Duplicate column name 'id'"),
        (
            "CREATE TABLE x (id INT) PRIMARY KEY(id)",
            "Table replication num should be less than or equal to the number of available BE nodes. "
            "You can change this default by setting the replication_num table properties. "
            "Current alive backend is [10001]. , table=x, default_replication_num=3",
        ),
        (
            'CREATE TABLE x (id INT) PRIMARY KEY(id) PROPERTIES ("replication_num" = "2")',
            "Table replication num should be less than or equal to the number of available BE nodes.",
        ),
        (
            f"CREATE TABLE x (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) {PROPS}",
            "only Primary Key tables",
        ),
        (f"CREATE TABLE x (id INT) {PROPS}", "only Primary Key tables"),
        (
            f"CREATE TABLE x (id INT, a ARRAY<INT>) PRIMARY KEY(id) {PROPS}",
            "does not support the column type ARRAY<INT>",
        ),
    ],
)
def test_create_table_errors(cur, ddl: str, message: str) -> None:
    code, msg = error(cur, ddl)
    assert code == (1060 if "Duplicate column" in message else 1064)  # ER_DUP_FIELDNAME as StarRocks sends it
    assert message in msg
    assert rows(cur, "SHOW TABLES") == []


def test_create_table_needs_a_database(server: QueryServer) -> None:
    conn = connect(server, autocommit=True)
    c = conn.cursor()
    assert error(c, f"CREATE TABLE x (id INT) PRIMARY KEY(id) {PROPS}") == (1046, "No database selected")
    assert error(c, f"CREATE TABLE nodb.x (id INT) PRIMARY KEY(id) {PROPS}") == (
        1049,
        "Unknown database 'nodb'",
    )
    conn.close()


# --------------------------------------------------------------------------------- information_schema
def test_connector_queries_on_information_schema(cur) -> None:
    cur.execute(ALL_TYPES)
    db = current_db(cur)
    conn = cur.connection
    c = conn.cursor()
    # the Flink connector's exact statements, parameters interpolated by PyMySQL as JDBC would bind them
    c.execute(
        "select `COLUMN_NAME`,`ORDINAL_POSITION`,`COLUMN_KEY`,`DATA_TYPE`,`COLUMN_SIZE`,`DECIMAL_DIGITS` "
        "from `information_schema`.`COLUMNS` where `TABLE_SCHEMA`=%s and `TABLE_NAME`=%s",
        (db, "t"),
    )
    got = {r[0]: r[1:] for r in c.fetchall()}
    assert got == {
        "id": (1, "PRI", "bigint", 19, 0),
        "k2": (2, "PRI", "varchar", 64, None),
        "b": (3, "", "tinyint", None, 0),
        "ti": (4, "", "tinyint", 3, 0),
        "si": (5, "", "smallint", 5, 0),
        "i": (6, "", "int", 10, 0),
        "bi": (7, "", "bigint", 19, 0),
        "li": (8, "", "bigint unsigned", 39, 0),
        "f": (9, "", "float", 7, 7),
        "d": (10, "", "double", 15, 15),
        "dec": (11, "", "decimal", 10, 2),
        "dec38": (12, "", "decimal", 38, 10),
        "dt": (13, "", "date", None, None),
        "ts": (14, "", "datetime", None, None),
        "c": (15, "", "char", 10, None),
        "s": (16, "", "varchar", 65533, None),
        "j": (17, "", "json", None, None),
        "vb": (18, "", "varbinary", 16, None),
    }
    c.execute(
        "SELECT TABLE_NAME FROM information_schema.`TABLES` WHERE TABLE_SCHEMA=%s and TABLE_NAME=%s",
        (db, "t"),
    )
    assert c.fetchall() == (("t",),)
    c.execute(
        "SELECT TABLE_NAME FROM information_schema.`TABLES` WHERE TABLE_SCHEMA=%s and TABLE_NAME=%s",
        (db, "nope"),
    )
    assert c.fetchall() == ()
    c.execute(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT "
        "FROM information_schema.columns "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 't' AND COLUMN_NAME IN ('id', 'b', 'li', 'i', 'dec') "
        "ORDER BY ORDINAL_POSITION",
        (db,),
    )
    assert c.fetchall() == (
        ("id", "bigint(20)", "NO", None, "the key"),
        ("b", "tinyint(1)", "YES", None, ""),
        ("i", "int(11)", "YES", "7", ""),
        ("li", "bigint(20) unsigned", "YES", None, ""),
        ("dec", "decimal64(10, 2)", "YES", None, ""),
    )


# ------------------------------------------------------------------------------------ values round trip
def test_values_round_trip_with_extremes(cur, server: QueryServer) -> None:
    cur.execute(ALL_TYPES)
    db = current_db(cur)
    big = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    full = {
        "id": 1,
        "k2": "héllo 🚀",
        "b": True,
        "ti": -128,
        "si": 32767,
        "i": -(2**31),
        "bi": 2**63 - 1,
        "li": 2**127 - 1,
        "f": 0.1,
        "d": 1.7976931348623157e308,
        "dec": Decimal("-12345678.99"),
        "dec38": Decimal("9999999999999999999999999999.9999999999"),
        "dt": dt.date(1, 1, 1),
        "ts": big,
        "c": "abc",
        "s": "x" * 70000,
        "j": '{"a": [1, 2.5, null], "b": "\\u00e9"}',
        "vb": b"\x00\xff\x80 binary",
    }
    low = {
        **full,
        "id": 2,
        "b": False,
        "li": -(2**127) + 1,
        "bi": -(2**63),
        "ts": dt.datetime(1, 1, 1),
        "dec": Decimal("0.00"),
    }
    nulls = {"id": 3, "k2": ""}
    server.store.apply_load(db, "t", [(0, full), (0, low), (0, nulls)])
    got = rows(cur, "SELECT * FROM t ORDER BY id")
    names = [d[0] for d in cur.description]
    assert names == list(full)
    r1, r2, r3 = (dict(zip(names, r, strict=True)) for r in got)
    expected1 = {
        **full,
        "b": 1,
        "li": str(2**127 - 1),
        "i": -(2**31),
    }  # BOOLEAN is tinyint 0/1, LARGEINT text
    assert r1 == expected1
    assert isinstance(r1["dec38"], Decimal) and r1["dec38"] == full["dec38"]
    assert r2 == {**low, "b": 0, "li": str(-(2**127) + 1), "dec": Decimal("0.00")}
    # absent columns take their DEFAULT (i = 7) or NULL
    assert r3 == {**{k: None for k in full}, "id": 3, "k2": "", "i": 7}
    assert rows(cur, "SELECT li + 1 FROM t WHERE id = 2") == [(str(-(2**127) + 2),)]


def test_select_rewrites_databases_tables_and_functions(cur, server: QueryServer) -> None:
    cur.execute(f"CREATE TABLE a (id INT NOT NULL, v VARCHAR(10)) PRIMARY KEY(id) {PROPS}")
    cur.execute(f"CREATE TABLE b (id INT NOT NULL, w INT) PRIMARY KEY(id) {PROPS}")
    db = current_db(cur)
    server.store.apply_load(db, "a", [(0, {"id": i, "v": f"v{i}"}) for i in range(5)])
    server.store.apply_load(db, "b", [(0, {"id": i, "w": i * 10}) for i in range(0, 5, 2)])
    assert rows(cur, "SELECT a.v, b.w FROM a JOIN `b` ON a.id = b.id WHERE b.w > 0 ORDER BY a.id") == [
        ("v2", 20),
        ("v4", 40),
    ]
    assert rows(cur, f"SELECT count(*) FROM `{db}`.a") == [(5,)]
    assert rows(cur, "WITH x AS (SELECT id FROM a WHERE id < 2) SELECT * FROM x ORDER BY id") == [(0,), (1,)]
    assert rows(cur, 'SELECT v FROM a WHERE v = "v3"') == [("v3",)]  # MySQL double-quoted string
    assert rows(cur, "SELECT DATABASE(), CONNECTION_ID() > 0") == [(db, 1)]
    code, msg = error(cur, "SELECT * FROM nope")
    assert (code, msg) == (1064, f"Getting analyzing error. Detail message: Unknown table '{db}.nope'.")
    code, msg = error(cur, "SELECT nope FROM a")
    assert code == 1064 and "nope" in msg
    assert error(cur, "SELECT * FROM other_db.a") == (1049, "Unknown database 'other_db'")


def test_odd_names_are_quoted_everywhere(server: QueryServer) -> None:
    conn = connect(server, autocommit=True)
    c = conn.cursor()
    c.execute("CREATE DATABASE `my-db`")
    try:
        c.execute(
            'CREATE TABLE `my-db`.`odd ``t`` é` (`select` INT NOT NULL, `a b` VARCHAR(3) DEFAULT "it\'s") '
            f"PRIMARY KEY(`select`) {PROPS}"
        )
        server.store.apply_load("my-db", "odd `t` é", [(0, {"select": 1}), (0, {"select": 2, "a b": 'q"'})])
        assert rows(c, "SELECT `select`, `a b` FROM `my-db`.`odd ``t`` é` ORDER BY `select`") == [
            (1, "it's"),
            (2, 'q"'),
        ]
        assert [r[0] for r in rows(c, "DESC `my-db`.`odd ``t`` é`")] == ["select", "a b"]
        c.execute('ALTER TABLE `my-db`.`odd ``t`` é` ADD COLUMN `new col` INT DEFAULT "3"')
        c.execute("USE `my-db`")
        assert wait_job(c, "odd `t` é")["State"] == "FINISHED"
        assert rows(c, "SELECT `new col` FROM `odd ``t`` é` WHERE `select` = 2") == [(3,)]
        assert "CREATE TABLE `odd ``t`` é`" in rows(c, "SHOW CREATE TABLE `odd ``t`` é`")[0][1]
    finally:
        c.execute("DROP DATABASE `my-db`")
        conn.close()


def test_use_information_schema(server: QueryServer) -> None:
    conn = connect(server, autocommit=True)
    c = conn.cursor()
    c.execute("USE information_schema")
    assert ("information_schema",) in rows(c, "SELECT SCHEMA_NAME FROM schemata")
    conn.close()


# ------------------------------------------------------------------------------------- TRUNCATE / DROP
def test_truncate_and_drop_table(cur, server: QueryServer) -> None:
    cur.execute(f"CREATE TABLE t (id INT NOT NULL) PRIMARY KEY(id) {PROPS}")
    db = current_db(cur)
    server.store.apply_load(db, "t", [(0, {"id": 1}), (0, {"id": 2})])
    cur.execute("TRUNCATE TABLE t")
    assert rows(cur, "SELECT count(*) FROM t") == [(0,)]
    assert rows(cur, "DESC t")[0][0] == "id"
    cur.execute(f"DROP TABLE {db}.t")
    assert rows(cur, "SHOW TABLES") == []
    assert error(cur, "DROP TABLE t") == (1051, "Unknown table 't'")
    cur.execute("DROP TABLE IF EXISTS t")
    assert error(cur, "TRUNCATE TABLE t") == (1051, "Unknown table 't'")


# ------------------------------------------------------------------------------------------- ALTER
def _table_with_rows(cur, server: QueryServer) -> str:
    cur.execute(
        "CREATE TABLE t (id INT NOT NULL, k DATE NOT NULL, v VARCHAR(10), n INT, s VARCHAR(8)) "
        f"PRIMARY KEY(id, k) ORDER BY (k) {PROPS}"
    )
    db = current_db(cur)
    server.store.apply_load(
        db,
        "t",
        [(0, {"id": i, "k": dt.date(2024, 1, i + 1), "v": str(i * 11), "n": i, "s": "x"}) for i in range(3)],
    )
    return db


def test_alter_add_column_variants_apply_at_finish(cur, server: QueryServer) -> None:
    _table_with_rows(cur, server)
    cur.execute(
        'ALTER TABLE t ADD COLUMN c INT NULL DEFAULT "5" COMMENT "new" AFTER v PROPERTIES("timeout"="60")'
    )
    job = wait_job(cur, "t")
    assert (job["State"], job["Msg"], job["Timeout"], job["TableName"], job["IndexName"]) == (
        "FINISHED",
        "",
        "60",
        "t",
        "t",
    )
    assert job["FinishTime"] != "NULL"
    assert [r[0] for r in rows(cur, "DESC t")] == ["id", "k", "v", "c", "n", "s"]
    assert rows(cur, "SELECT c FROM t ORDER BY id") == [(5,), (5,), (5,)]
    cur.execute('ALTER TABLE t ADD COLUMN (c1 BIGINT DEFAULT "1", c2 VARCHAR(5))')
    assert wait_job(cur, "t")["State"] == "FINISHED"
    assert [r[0] for r in rows(cur, "DESC t")][-2:] == ["c1", "c2"]
    assert rows(cur, "SELECT c1, c2 FROM t WHERE id = 0") == [(1, None)]
    cur.execute("ALTER TABLE t DROP COLUMN c")
    assert wait_job(cur, "t")["State"] == "FINISHED"
    assert "c" not in [r[0] for r in rows(cur, "DESC t")]
    history = rows(cur, "SHOW ALTER TABLE COLUMN ORDER BY JobId")
    assert [d[0] for d in cur.description] == [
        "JobId",
        "TableName",
        "CreateTime",
        "FinishTime",
        "IndexName",
        "IndexId",
        "OriginIndexId",
        "SchemaVersion",
        "TransactionId",
        "State",
        "Msg",
        "Progress",
        "Timeout",
    ]
    assert [r[9] for r in history] == ["FINISHED"] * 3
    assert len({r[0] for r in history}) == 3


def test_alter_modify_widens_in_place(cur, server: QueryServer) -> None:
    _table_with_rows(cur, server)
    cur.execute("ALTER TABLE t MODIFY COLUMN n BIGINT NULL COMMENT 'wide'")
    assert wait_job(cur, "t")["State"] == "FINISHED"
    cur.execute("ALTER TABLE t MODIFY COLUMN v VARCHAR(40)")
    assert wait_job(cur, "t")["State"] == "FINISHED"
    assert rows(cur, "DESC t")[2:] == [  # every column keeps its place
        ("v", "varchar(40)", "YES", "false", None, ""),
        ("n", "bigint", "YES", "false", None, ""),
        ("s", "varchar(8)", "YES", "false", None, ""),
    ]
    assert rows(cur, "SELECT id, n, v FROM t ORDER BY id") == [(0, 0, "0"), (1, 1, "11"), (2, 2, "22")]
    cur.execute("ALTER TABLE t MODIFY COLUMN v INT")  # VARCHAR -> INT: every value converts
    assert wait_job(cur, "t")["State"] == "FINISHED"
    assert rows(cur, "SELECT v FROM t ORDER BY id") == [(0,), (11,), (22,)]
    cur.execute("ALTER TABLE t MODIFY COLUMN s VARCHAR(8) COMMENT 'same type'")  # comment only
    assert wait_job(cur, "t")["State"] == "FINISHED"


@pytest.mark.parametrize(
    ("statement", "column"),
    [
        ("ALTER TABLE t MODIFY COLUMN v VARCHAR(40) AFTER s", "v"),
        ("ALTER TABLE t MODIFY COLUMN v VARCHAR(10) AFTER n", "v"),  # a move with no type change
        ("ALTER TABLE t MODIFY COLUMN s VARCHAR(8) FIRST", "s"),
    ],
)
def test_alter_modify_cannot_move_a_column_of_a_primary_key_table(
    cur, server: QueryServer, statement: str, column: str
) -> None:
    _table_with_rows(cur, server)
    assert error(cur, statement) == (
        1064,
        f"Can not modify the position of column: {column} for primary key table; "
        "primary key tables do not support reordering columns",
    )
    assert rows(cur, "SHOW ALTER TABLE COLUMN") == []
    assert [r[0] for r in rows(cur, "DESC t")] == ["id", "k", "v", "n", "s"]
    cur.execute("ALTER TABLE t ADD COLUMN z INT AFTER v")  # placing a new column stays allowed
    assert wait_job(cur, "t")["State"] == "FINISHED"
    assert [r[0] for r in rows(cur, "DESC t")] == ["id", "k", "v", "z", "n", "s"]


# (old type, new type, allowed) - the conversions starrocks.md section 5 lists, and what is next to them
_CONVERSIONS = [
    # integer widening, or to DOUBLE
    ("TINYINT", "SMALLINT", True),
    ("SMALLINT", "INT", True),
    ("INT", "BIGINT", True),
    ("BIGINT", "LARGEINT", True),
    ("TINYINT", "LARGEINT", True),
    ("INT", "DOUBLE", True),
    ("LARGEINT", "DOUBLE", True),
    ("BIGINT", "INT", False),
    ("LARGEINT", "BIGINT", False),
    ("INT", "FLOAT", False),
    ("INT", "DECIMAL(10,2)", False),
    ("BIGINT", "DECIMAL(20,0)", False),
    ("INT", "DATE", False),
    ("INT", "DATETIME", False),
    # numeric / DECIMAL to VARCHAR
    ("TINYINT", "VARCHAR(10)", True),
    ("BIGINT", "VARCHAR(30)", True),
    ("FLOAT", "VARCHAR(40)", True),
    ("DOUBLE", "VARCHAR(40)", True),
    ("DECIMAL(10,2)", "VARCHAR(20)", True),
    ("BOOLEAN", "VARCHAR(10)", False),
    ("DATE", "VARCHAR(20)", False),
    ("DATETIME", "VARCHAR(30)", False),
    ("JSON", "VARCHAR(100)", False),
    ("INT", "CHAR(20)", False),
    # longer VARCHAR
    ("VARCHAR(10)", "VARCHAR(20)", True),
    ("CHAR(10)", "VARCHAR(20)", False),
    ("CHAR(5)", "CHAR(10)", False),
    ("VARCHAR(10)", "CHAR(10)", False),
    # VARCHAR to numeric or DATE
    ("VARCHAR(10)", "TINYINT", True),
    ("VARCHAR(10)", "INT", True),
    ("VARCHAR(30)", "LARGEINT", True),
    ("VARCHAR(10)", "FLOAT", True),
    ("VARCHAR(10)", "DOUBLE", True),
    ("VARCHAR(10)", "DECIMAL(10,2)", True),
    ("VARCHAR(10)", "DATE", True),
    ("VARCHAR(30)", "DATETIME", False),
    ("VARCHAR(10)", "BOOLEAN", False),
    ("VARCHAR(100)", "JSON", False),
    ("CHAR(10)", "INT", False),
    # DATE <-> DATETIME
    ("DATE", "DATETIME", True),
    ("DATETIME", "DATE", True),
    ("DATE", "INT", False),
    # FLOAT to DOUBLE, and nothing else between floating types and decimals
    ("FLOAT", "DOUBLE", True),
    ("DOUBLE", "FLOAT", False),
    ("DOUBLE", "INT", False),
    ("FLOAT", "INT", False),
    ("DOUBLE", "DECIMAL(10,2)", False),
    ("DECIMAL(10,2)", "DOUBLE", False),
    ("DECIMAL(10,2)", "DECIMAL(12,2)", False),
    ("DECIMAL(10,2)", "DECIMAL(10,4)", False),
    ("BOOLEAN", "INT", False),
    ("TINYINT", "BOOLEAN", False),
    # the same type is no conversion (comment- or default-only changes)
    ("INT", "INT", True),
    ("VARCHAR(10)", "VARCHAR(10)", True),
    ("DECIMAL(10,2)", "DECIMAL(10,2)", True),
    ("JSON", "JSON", True),
    ("BOOLEAN", "BOOLEAN", True),
]


@pytest.mark.parametrize(("old", "new", "allowed"), _CONVERSIONS)
def test_alter_modify_type_conversions_are_exactly_starrocks_list(old: str, new: str, allowed: bool) -> None:
    message = conversion_error(SrType.parse(old), SrType.parse(new))
    if allowed:
        assert message is None
    else:
        old_text, new_text = type_string(SrType.parse(old)), type_string(SrType.parse(new))
        assert message == f"Can not change {old_text} to {new_text}"


def test_alter_modify_shorter_varchar_and_refused_conversions_over_the_query_port(cur) -> None:
    cur.execute(
        "CREATE TABLE t (id INT NOT NULL, d DATE, c CHAR(10), v VARCHAR(20), x DECIMAL(10, 2)) "
        f"PRIMARY KEY(id) {PROPS}"
    )
    assert error(cur, "ALTER TABLE t MODIFY COLUMN v VARCHAR(5)") == (1064, "Cannot shorten string length")
    assert error(cur, "ALTER TABLE t MODIFY COLUMN d VARCHAR(20)") == (
        1064,
        "Can not change DATE to VARCHAR(20)",
    )
    assert error(cur, "ALTER TABLE t MODIFY COLUMN c VARCHAR(20)") == (
        1064,
        "Can not change CHAR(10) to VARCHAR(20)",
    )
    assert error(cur, "ALTER TABLE t MODIFY COLUMN v DATETIME") == (
        1064,
        "Can not change VARCHAR(20) to DATETIME",
    )
    assert error(cur, "ALTER TABLE t MODIFY COLUMN x DECIMAL(12, 2)") == (
        1064,
        "Can not change DECIMAL64(10,2) to DECIMAL64(12,2)",
    )
    assert rows(cur, "SHOW ALTER TABLE COLUMN") == []
    cur.execute("ALTER TABLE t MODIFY COLUMN x VARCHAR(20)")  # DECIMAL -> VARCHAR is on the list
    assert wait_job(cur, "t")["State"] == "FINISHED"
    assert [r[1] for r in rows(cur, "DESC t")] == ["int", "date", "char(10)", "varchar(20)", "varchar(20)"]


def test_alter_conversion_failure_cancels_the_job(cur, server: QueryServer) -> None:
    _table_with_rows(cur, server)
    cur.execute("ALTER TABLE t MODIFY COLUMN s INT")  # 'x' is no number
    job = wait_job(cur, "t")
    assert job["State"] == "CANCELLED"
    assert "x" in job["Msg"] and job["FinishTime"] != "NULL"
    assert rows(cur, "SELECT s FROM t WHERE id = 0") == [("x",)]
    assert [r[1] for r in rows(cur, "DESC t")][-1] == "varchar(8)"
    cur.execute("ALTER TABLE t ADD COLUMN z INT")  # the table is NORMAL again
    assert wait_job(cur, "t")["State"] == "FINISHED"


def test_rename_column_is_synchronous(cur, server: QueryServer) -> None:
    db = _table_with_rows(cur, server)
    cur.execute("ALTER TABLE t RENAME COLUMN v TO v2")
    assert [r[0] for r in rows(cur, "DESC t")][2] == "v2"
    cur.execute("ALTER TABLE t RENAME COLUMN id ident")  # TO is optional; key columns may be renamed
    meta = server.store.get_table(db, "t")
    assert meta is not None and meta.key == ["ident", "k"] and meta.distributed_by == ["ident", "k"]
    assert rows(cur, "SELECT ident, v2 FROM t ORDER BY ident") == [(0, "0"), (1, "11"), (2, "22")]
    assert error(cur, "ALTER TABLE t RENAME COLUMN nope TO x") == (1064, "Column[nope] does not exists")
    assert error(cur, "ALTER TABLE t RENAME COLUMN v2 TO n") == (1064, "Column name[n] is already used")


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("ALTER TABLE t DROP COLUMN id", "Can not drop key column in primary data model table"),
        ("ALTER TABLE t DROP COLUMN nope", "Column does not exists: nope"),
        ("ALTER TABLE t MODIFY COLUMN id BIGINT", "Can not modify key column: id for primary key table"),
        ("ALTER TABLE t MODIFY COLUMN nope INT", "Column[nope] does not exists"),
        ("ALTER TABLE t MODIFY COLUMN n INT NOT NULL", "Can not change from nullable to non-nullable"),
        ("ALTER TABLE t MODIFY COLUMN n SMALLINT", "Can not change INT to SMALLINT"),
        ("ALTER TABLE t MODIFY COLUMN n DATE", "Can not change INT to DATE"),
        ("ALTER TABLE t MODIFY COLUMN n DECIMAL(10, 2)", "Can not change INT to DECIMAL64(10,2)"),
        ("ALTER TABLE t MODIFY COLUMN v VARCHAR(5)", "Cannot shorten string length"),
        ("ALTER TABLE t MODIFY COLUMN n INT", "Nothing is changed. please check your alter stmt."),
        ("ALTER TABLE t ADD COLUMN v INT", "Repeatedly add column: v"),
        ("ALTER TABLE t ADD COLUMN z INT AFTER nope", "Column[nope] does not found"),
        ("ALTER TABLE t ADD COLUMN z INT FIRST", "Invalid column order. value should be after key. index[t]"),
        ("ALTER TABLE t ADD COLUMN z VARCHAR(1048577)", "Varchar size must be <= 1048576: 1048577"),
    ],
)
def test_alter_restrictions_are_immediate_errors(
    cur, server: QueryServer, statement: str, message: str
) -> None:
    _table_with_rows(cur, server)
    assert error(cur, statement) == (1064, message)
    assert rows(cur, "SHOW ALTER TABLE COLUMN") == []


def test_drop_sort_column_is_refused(cur) -> None:
    cur.execute(f"CREATE TABLE t (id INT NOT NULL, o INT, v INT) PRIMARY KEY(id) ORDER BY (o) {PROPS}")
    assert error(cur, "ALTER TABLE t DROP COLUMN o") == (
        1064,
        "Can not drop sort column in primary data model table",
    )
    assert error(cur, "ALTER TABLE t MODIFY COLUMN o BIGINT") == (
        1064,
        "Can not modify sort column in primary data model table",
    )


def test_alter_job_lifecycle_and_one_job_per_table() -> None:
    # jobs of 1.5 s, so the states in between can be watched
    store = StandInStore()
    qs = QueryServer(store, password=PASSWORD, alter_job_seconds=1.5).start()
    try:
        conn = connect(qs, autocommit=True)
        c = conn.cursor()
        c.execute("CREATE DATABASE life")
        c.execute("USE life")
        c.execute(f"CREATE TABLE t (id INT NOT NULL, v INT) PRIMARY KEY(id) {PROPS}")
        c.execute("ALTER TABLE t ADD COLUMN w INT")
        assert store.get_table("life", "t").state == "SCHEMA_CHANGE"  # type: ignore[union-attr]
        assert error(c, "ALTER TABLE t ADD COLUMN x INT") == (
            1064,
            "Table[t]'s state is not NORMAL. Do not allow doing ALTER ops",
        )
        assert error(c, "ALTER TABLE t RENAME COLUMN v TO vv") == (
            1064,
            "Table[t]'s state is not NORMAL. Do not allow doing ALTER ops",
        )
        assert [r[0] for r in rows(c, "DESC t")] == ["id", "v"]  # applied only when the job finishes
        seen = []
        while not seen or seen[-1] not in ("FINISHED", "CANCELLED"):
            state = rows(
                c, 'SHOW ALTER TABLE COLUMN FROM life WHERE TableName="t" ORDER BY CreateTime DESC LIMIT 1'
            )[0][9]
            if not seen or seen[-1] != state:
                seen.append(state)
            time.sleep(0.02)
        assert seen == ["PENDING", "WAITING_TXN", "RUNNING", "FINISHED"]
        assert [r[0] for r in rows(c, "DESC t")] == ["id", "v", "w"]
        assert store.get_table("life", "t").state == "NORMAL"  # type: ignore[union-attr]
        conn.close()
    finally:
        qs.stop()
        store.close()


# -------------------------------------------------------------------------------------- persistence
def test_restart_keeps_catalog_data_and_jobs(tmp_path: Path) -> None:
    store = StandInStore(tmp_path)
    qs = QueryServer(store, alter_job_seconds=60).start()
    conn = connect(qs, password="", autocommit=True)
    c = conn.cursor()
    c.execute("CREATE DATABASE keep")
    c.execute("USE keep")
    c.execute(f'CREATE TABLE t (id INT NOT NULL, v VARCHAR(10) DEFAULT "d") PRIMARY KEY(id) {PROPS}')
    store.apply_load("keep", "t", [(0, {"id": 1, "v": "a"}), (0, {"id": 2})])
    c.execute('ALTER TABLE t ADD COLUMN w INT DEFAULT "9"')  # still PENDING when the server stops
    conn.close()
    qs.stop()
    store.close()

    store = StandInStore(tmp_path)
    qs = QueryServer(store, alter_job_seconds=0.2).start()
    try:
        conn = connect(qs, password="", database="keep", autocommit=True)
        c = conn.cursor()
        assert rows(c, "SHOW TABLES") == [("t",)]
        job = wait_job(c, "t")  # the interrupted job resumes
        assert job["State"] == "FINISHED"
        assert rows(c, "SELECT * FROM t ORDER BY id") == [(1, "a", 9), (2, "d", 9)]
        assert 'DEFAULT "d"' in rows(c, "SHOW CREATE TABLE t")[0][1]
        conn.close()
    finally:
        qs.stop()
        store.close()


# ------------------------------------------------------------------------------ StandInStore directly
def _meta(db: str = "s", name: str = "t") -> TableMeta:
    return TableMeta(
        db=db,
        name=name,
        columns=[
            ColumnMeta("a", SrType("INT"), False, True),
            ColumnMeta("b", SrType("VARCHAR", length=8), False, True),
            ColumnMeta("v", SrType("VARCHAR", length=8), True, False, default="dflt"),
            ColumnMeta("n", SrType("BIGINT"), True, False),
        ],
        key=["a", "b"],
        distributed_by=["a"],
        buckets=None,
        properties={"replication_num": "1"},
    )


@pytest.fixture
def store() -> Iterator[StandInStore]:
    s = StandInStore()
    s.create_database("s")
    s.create_table(_meta())
    try:
        yield s
    finally:
        s.close()


def table(s: StandInStore) -> list[tuple]:
    return s.query("SELECT * FROM s.t ORDER BY a, b")[1]


def test_apply_load_last_op_per_key_wins(store: StandInStore) -> None:
    store.apply_load(
        "s",
        "t",
        [
            (0, {"a": 1, "b": "x", "v": "first", "n": 1}),
            (0, {"a": 2, "b": "x", "v": "keep", "n": 2}),
            (0, {"a": 1, "b": "x", "v": "second", "n": 3}),  # replaces the first
            (0, {"a": 3, "b": "x", "v": "gone", "n": 4}),
            (1, {"a": 3, "b": "x"}),  # delete after upsert in one load
            (1, {"a": 4, "b": "x"}),  # delete of a missing key is a no-op
            (1, {"a": 5, "b": "y"}),
            (0, {"a": 5, "b": "y", "v": "back", "n": 5}),  # upsert after delete
        ],
    )
    assert table(store) == [(1, "x", "second", 3), (2, "x", "keep", 2), (5, "y", "back", 5)]
    store.apply_load("s", "t", [(1, {"a": 2, "b": "x"}), (0, {"a": 1, "b": "x"})])
    # an upsert replaces the whole row: absent columns take DEFAULT or NULL
    assert table(store) == [(1, "x", "dflt", None), (5, "y", "back", 5)]


def test_apply_load_matches_keys_on_every_key_column_and_names_case_insensitively(
    store: StandInStore,
) -> None:
    store.apply_load("s", "t", [(0, {"a": 1, "b": "x", "n": 1}), (0, {"a": 1, "b": "y", "n": 2})])
    store.apply_load("s", "t", [(0, {"A": 1, "B": "y", "N": 20})])
    assert table(store) == [(1, "x", "dflt", 1), (1, "y", "dflt", 20)]
    store.apply_load("s", "t", [])
    assert len(table(store)) == 2


def test_apply_load_with_largeint_datetime_and_boolean_keys() -> None:
    s = StandInStore()
    try:
        s.create_database("k")
        cols = [
            ColumnMeta("a", SrType("LARGEINT"), False, True),
            ColumnMeta("b", SrType("DATETIME"), False, True),
            ColumnMeta("c", SrType("BOOLEAN"), False, True),
            ColumnMeta("v", SrType("INT"), True, False),
        ]
        s.create_table(TableMeta("k", "t", cols, ["a", "b", "c"], ["a"], None, {}))
        key = {"a": 2**127 - 1, "b": dt.datetime(2024, 1, 1, 0, 0, 0, 1), "c": True}
        s.apply_load("k", "t", [(0, {**key, "v": 1}), (0, {**key, "a": -(2**127) + 1, "v": 2})])
        s.apply_load("k", "t", [(0, {**key, "v": 3})])
        assert s.query("SELECT a, v FROM k.t ORDER BY v")[1] == [(-(2**127) + 1, 2), (2**127 - 1, 3)]
        s.apply_load("k", "t", [(1, key)])
        assert s.query("SELECT a, v FROM k.t")[1] == [(-(2**127) + 1, 2)]
    finally:
        s.close()


def test_apply_load_is_one_transaction(store: StandInStore) -> None:
    store.apply_load("s", "t", [(0, {"a": 1, "b": "x", "n": 1})])
    with pytest.raises(Exception):  # noqa: B017,PT011 - whatever DuckDB/Arrow raise, nothing may change
        store.apply_load("s", "t", [(1, {"a": 1, "b": "x"}), (0, {"a": 2, "b": "x", "n": "not a number"})])
    assert table(store) == [(1, "x", "dflt", 1)]


def test_apply_load_bulk(store: StandInStore) -> None:
    ops = [(0, {"a": i, "b": "k", "v": str(i), "n": i}) for i in range(50_000)]
    ops += [(1, {"a": i, "b": "k"}) for i in range(0, 50_000, 2)]
    store.apply_load("s", "t", ops)
    assert store.query("SELECT count(*), sum(n) FROM s.t")[1] == [(25_000, sum(range(1, 50_000, 2)))]


def test_store_catalog_rules(store: StandInStore, tmp_path: Path) -> None:
    assert store.has_database("s") and not store.has_database("S")
    meta = store.get_table("s", "t")
    assert meta is not None and meta.column("V") is meta.columns[2]
    meta.columns.clear()  # a copy: the store is unaffected
    assert len(store.get_table("s", "t").columns) == 4  # type: ignore[union-attr]
    with pytest.raises(AnalysisError, match="case-insensitive"):
        store.create_table(_meta(name="T"))
    with pytest.raises(AnalysisError, match="reserved"):
        store.create_database("main")
    with pytest.raises(AnalysisError, match="Unknown table"):
        store.apply_load("s", "nope", [])


@pytest.mark.parametrize(
    ("text", "parsed", "sql"),
    [
        ("tinyint(1)", SrType("TINYINT"), "tinyint(4)"),
        ("smallint", SrType("SMALLINT"), "smallint(6)"),
        ("int(11)", SrType("INT"), "int(11)"),
        ("INTEGER", SrType("INT"), "int(11)"),
        ("bigint", SrType("BIGINT"), "bigint(20)"),
        ("LARGEINT", SrType("LARGEINT"), "largeint(40)"),
        ("float", SrType("FLOAT"), "float"),
        ("double", SrType("DOUBLE"), "double"),
        ("DECIMAL(10, 2)", SrType("DECIMAL", precision=10, scale=2), "decimal64(10, 2)"),
        ("decimal64(10,2)", SrType("DECIMAL", precision=10, scale=2), "decimal64(10, 2)"),
        ("decimal(9)", SrType("DECIMAL", precision=9, scale=0), "decimal32(9, 0)"),
        ("decimal", SrType("DECIMAL", precision=10, scale=0), "decimal64(10, 0)"),
        ("decimal128(38, 10)", SrType("DECIMAL", precision=38, scale=10), "decimal128(38, 10)"),
        ("boolean", SrType("BOOLEAN"), "boolean"),
        ("date", SrType("DATE"), "date"),
        ("datetime", SrType("DATETIME"), "datetime"),
        ("char(3)", SrType("CHAR", length=3), "char(3)"),
        ("varchar(10)", SrType("VARCHAR", length=10), "varchar(10)"),
        ("string", SrType("VARCHAR", length=65533), "varchar(65533)"),
        ("json", SrType("JSON"), "json"),
        ("varbinary(16)", SrType("VARBINARY", length=16), "varbinary(16)"),
    ],
)
def test_srtype_parse_and_to_sql(text: str, parsed: SrType, sql: str) -> None:
    assert SrType.parse(text) == parsed
    assert parsed.to_sql() == sql
    assert SrType.parse(sql) == parsed


def test_srtype_rejects_unknown_types() -> None:
    with pytest.raises(AnalysisError, match="Unsupported data type"):
        SrType.parse("array<int>")


# ------------------------------------------------------------------------------------- table rename
def test_rename_table_is_synchronous_within_the_database(cur, server: QueryServer) -> None:
    db = _table_with_rows(cur, server)
    cur.execute(f"CREATE TABLE other (id INT NOT NULL) PRIMARY KEY(id) {PROPS}")
    cur.execute(f"ALTER TABLE `{db}`.t RENAME `t 2`")
    assert sorted(r[0] for r in rows(cur, "SHOW TABLES")) == ["other", "t 2"]
    assert rows(cur, "SELECT id, v FROM `t 2` ORDER BY id") == [(0, "0"), (1, "11"), (2, "22")]
    assert [r[0] for r in rows(cur, "DESC `t 2`")] == ["id", "k", "v", "n", "s"]
    assert error(cur, "ALTER TABLE `t 2` RENAME `t 2`") == (1064, "Same table name")
    assert error(cur, "ALTER TABLE `t 2` RENAME other") == (1064, "Table name[other] is already used")
    assert error(cur, "ALTER TABLE t RENAME u") == (1051, "Unknown table 't'")
    # StarRocks' grammar is RENAME <name>: RENAME TO is a syntax error
    code, message = error(cur, "ALTER TABLE `t 2` RENAME TO u")
    assert message.startswith("Getting syntax error")
    # a table running a schema change cannot be renamed (FE LocalMetastore.renameTable)
    cur.execute("ALTER TABLE `t 2` ADD COLUMN z INT")
    assert error(cur, "ALTER TABLE `t 2` RENAME u") == (1064, "Table[t 2] is under SCHEMA_CHANGE")
    assert wait_job(cur, "t 2")["State"] == "FINISHED"
    cur.execute("ALTER TABLE `t 2` RENAME u")
    assert server.store.get_table(db, "u") is not None and server.store.get_table(db, "t 2") is None


def test_rename_table_survives_a_restart(tmp_path: Path) -> None:
    store = StandInStore(tmp_path)
    qs = QueryServer(store, password=PASSWORD).start()
    try:
        c = connect(qs, autocommit=True).cursor()
        c.execute("CREATE DATABASE d")
        c.execute(f"CREATE TABLE d.t (id INT NOT NULL) PRIMARY KEY(id) {PROPS}")
        store.apply_load("d", "t", [(0, {"id": 7})])
        c.execute("ALTER TABLE d.t RENAME u")
    finally:
        qs.stop()
        store.close()
    store = StandInStore(tmp_path)
    try:
        assert store.list_tables("d") == ["u"]
        assert store.query(f"SELECT id FROM {store.table_ref('d', 'u')}")[1] == [(7,)]
    finally:
        store.close()


def test_rename_column_needs_3_3_2() -> None:
    store = StandInStore()
    qs = QueryServer(store, password=PASSWORD, version="3.3.1").start()
    try:
        c = connect(qs, autocommit=True).cursor()
        c.execute("CREATE DATABASE d")
        c.execute(f"CREATE TABLE d.t (id INT NOT NULL, v INT) PRIMARY KEY(id) {PROPS}")
        for statement in ("ALTER TABLE d.t RENAME COLUMN v TO w", "ALTER TABLE d.t RENAME COLUMN v w"):
            code, message = error(c, statement)
            assert message.startswith("Getting syntax error") and "3.3.2" in message
        assert rows(c, "select current_version()")[0][0].startswith("3.3.1 ")
    finally:
        qs.stop()
        store.close()


def test_the_cli_passes_the_version_on() -> None:
    from cdc_assets.standin.server import _parser

    assert _parser().parse_args([]).starrocks_version == "3.3.5"
    assert _parser().parse_args(["--starrocks-version", "3.6.1"]).starrocks_version == "3.6.1"
