"""The DDL describer per source server: MySQL 5.7 / 8.0 / 8.4 and MariaDB describe some columns differently.

The MySQL values below come from the MySQL reference manual, release notes and worklogs, each cited
by the rule in :mod:`cdc_assets.core.source_server`, NOT from a MySQL server: only MariaDB can be installed
here. The MariaDB values are checked against a real MariaDB 10.11 in ``test_ddl_mariadb.py``; the MariaDB
cases here pin that MariaDB stays the default and what differs by MariaDB version (utf8 before 10.6).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pymysqlreplication.constants import FIELD_TYPE

from cdc_assets.core.charsets import MARIADB_CHARSETS, ServerDefaults, builtin_charsets
from cdc_assets.core.ddl import DdlParseError, parse_ddl
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.schema_change import AddColumn, CreateTable
from cdc_assets.core.source_server import MARIADB_10_11, SourceServer
from cdc_assets.core.starrocks_types import map_column
from cdc_assets.core.types import binlog_converter, check_supported, duckdb_type
from cdc_assets.mysql.row_decoder import Refused, column_codec

DB = "shop"
MYSQL_5_7 = SourceServer("mysql", (5, 7, 44))
MYSQL_8_0_18 = SourceServer("mysql", (8, 0, 18))
MYSQL_8_0_29 = SourceServer("mysql", (8, 0, 29))
MYSQL_8_0 = SourceServer("mysql", (8, 0, 36))
MYSQL_8_4 = SourceServer("mysql", (8, 4, 3))
MARIADB_10_5 = SourceServer("mariadb", (10, 5, 27))

UTF8MB4_0900 = ("utf8mb4", "utf8mb4_0900_ai_ci")


def _column(
    server: SourceServer, definition: str, *, db_default=None, options="", explicit_ts=True
) -> Column:
    """The first column of ``CREATE TABLE t (definition) options`` in database ``shop`` as described for ``server``."""
    defaults = ServerDefaults(
        databases={DB: db_default} if db_default else {},
        server=server,
        explicit_defaults_for_timestamp=explicit_ts,
    )
    [change] = parse_ddl(f"CREATE TABLE t ({definition}) {options}", DB, defaults=defaults)
    assert isinstance(change, CreateTable) and change.schema is not None
    return change.schema.columns[0]


def _fields(col: Column, expected: dict) -> dict:
    return {k: getattr(col, k) for k in expected}


# ------------------------------------------------------------------------------ integer display widths
#: (server, definition, COLUMN_TYPE, NUMERIC_PRECISION). MySQL 8.0.19+ hides the width except for a signed
#: TINYINT(1) and with ZEROFILL (8.0.19 release notes; WL#13528; manual 13.1.1 "Numeric Data Type Syntax")
INTEGER_CASES = [
    (MYSQL_8_0, "a INT", "int", 10),
    (MYSQL_8_0, "a INT(11)", "int", 10),
    (MYSQL_8_0, "a INT UNSIGNED", "int unsigned", 10),
    (MYSQL_8_0, "a BIGINT UNSIGNED", "bigint unsigned", 20),
    (MYSQL_8_0, "a BIGINT", "bigint", 19),
    (MYSQL_8_0, "a MEDIUMINT UNSIGNED", "mediumint unsigned", 8),
    (MYSQL_8_0, "a SMALLINT(3)", "smallint", 5),
    (MYSQL_8_0, "a TINYINT", "tinyint", 3),
    (MYSQL_8_0, "a TINYINT(1)", "tinyint(1)", 3),
    (MYSQL_8_0, "a BOOL", "tinyint(1)", 3),
    (MYSQL_8_0, "a BOOLEAN NOT NULL", "tinyint(1)", 3),
    (MYSQL_8_0, "a TINYINT(1) UNSIGNED", "tinyint unsigned", 3),  # only the *signed* TINYINT(1) keeps it
    (MYSQL_8_0, "a TINYINT(2)", "tinyint", 3),
    (MYSQL_8_0, "a INT(5) ZEROFILL", "int(5) unsigned zerofill", 10),
    (MYSQL_8_0, "a INT ZEROFILL", "int(10) unsigned zerofill", 10),
    (MYSQL_8_0, "a TINYINT(1) ZEROFILL", "tinyint(1) unsigned zerofill", 3),
    (MYSQL_8_0, "a SERIAL", "bigint unsigned", 20),
    (MYSQL_8_4, "a INT4", "int", 10),
    (MYSQL_8_4, "a INTEGER(3) UNSIGNED", "int unsigned", 10),
    # before 8.0.19 (and on 5.7) the width is shown, the default one when none is given
    (MYSQL_8_0_18, "a INT", "int(11)", 10),
    (MYSQL_8_0_18, "a TINYINT(1) UNSIGNED", "tinyint(1) unsigned", 3),
    (MYSQL_5_7, "a INT UNSIGNED", "int(10) unsigned", 10),
    (MYSQL_5_7, "a BIGINT", "bigint(20)", 19),
    (MYSQL_5_7, "a BOOL", "tinyint(1)", 3),
    (MARIADB_10_11, "a INT", "int(11)", 10),
]


@pytest.mark.parametrize(
    ("server", "definition", "column_type", "precision"),
    INTEGER_CASES,
    ids=[f"{s}-{d}" for s, d, *_ in INTEGER_CASES],
)
def test_integer_display_width(server, definition, column_type, precision):
    col = _column(server, definition)
    assert (col.column_type, col.numeric_precision, col.numeric_scale) == (column_type, precision, 0)


# ------------------------------------------------------------------------------------------------ YEAR
@pytest.mark.parametrize(
    ("server", "definition", "column_type"),
    [
        (MYSQL_8_0, "y YEAR", "year"),  # manual 13.2.4 "The YEAR Type"; WL#13537 F-5
        (MYSQL_8_0, "y YEAR(4)", "year"),
        (MYSQL_8_4, "y YEAR", "year"),
        (MYSQL_8_0_18, "y YEAR", "year(4)"),
        (MYSQL_5_7, "y YEAR(4)", "year(4)"),
        (MARIADB_10_11, "y YEAR", "year(4)"),
    ],
)
def test_year(server, definition, column_type):
    col = _column(server, definition)
    assert (col.data_type, col.column_type) == ("year", column_type)


# ---------------------------------------------------------------------------------------- character sets
#: (server, definition, table options, database default, (CHARACTER_SET_NAME, COLLATION_NAME))
CHARSET_CASES = [
    # MySQL 8.0: utf8mb4's default collation is utf8mb4_0900_ai_ci (manual 12.10.1 "Unicode Character Sets")
    (MYSQL_8_0, "v VARCHAR(3) CHARACTER SET utf8mb4", "", None, UTF8MB4_0900),
    (MYSQL_8_0, "v VARCHAR(3)", "DEFAULT CHARSET=utf8mb4", None, UTF8MB4_0900),
    (MYSQL_8_4, "v TEXT", "CHARSET utf8mb4", ("latin1", "latin1_swedish_ci"), UTF8MB4_0900),
    # the table's default, then the database's (SCHEMATA), before the server's
    (MYSQL_8_0, "v VARCHAR(3)", "", UTF8MB4_0900, UTF8MB4_0900),
    (MYSQL_8_0, "v VARCHAR(3)", "", ("latin1", "latin1_swedish_ci"), ("latin1", "latin1_swedish_ci")),
    (MYSQL_8_0, "v VARCHAR(3)", "COLLATE utf8mb4_bin", UTF8MB4_0900, ("utf8mb4", "utf8mb4_bin")),
    (MYSQL_8_0, "v VARCHAR(3) BINARY", "CHARSET utf8mb4", None, ("utf8mb4", "utf8mb4_bin")),
    (MYSQL_5_7, "v VARCHAR(3) CHARACTER SET utf8mb4", "", None, ("utf8mb4", "utf8mb4_general_ci")),
    # utf8 (= utf8mb3): "utf8" / "utf8_*" before MySQL 8.0.30 (5.7 manual 10.9.2), "utf8mb3" since
    # (8.0.30 release notes, Bug #33787300)
    (MYSQL_5_7, "v VARCHAR(3) CHARACTER SET utf8", "", None, ("utf8", "utf8_general_ci")),
    (MYSQL_5_7, "v VARCHAR(3) CHARACTER SET utf8mb3", "", None, ("utf8", "utf8_general_ci")),
    (MYSQL_5_7, "v VARCHAR(3) COLLATE utf8mb3_bin", "", None, ("utf8", "utf8_bin")),
    (MYSQL_5_7, "v VARCHAR(3)", "CHARSET=utf8 COLLATE=utf8_unicode_ci", None, ("utf8", "utf8_unicode_ci")),
    (MYSQL_5_7, "v NCHAR(2)", "", None, ("utf8", "utf8_general_ci")),
    (MYSQL_8_0_29, "v VARCHAR(3) CHARACTER SET utf8", "", None, ("utf8", "utf8_general_ci")),
    (MYSQL_8_0, "v VARCHAR(3) CHARACTER SET utf8", "", None, ("utf8mb3", "utf8mb3_general_ci")),
    (MYSQL_8_0, "v VARCHAR(3) COLLATE utf8_bin", "", None, ("utf8mb3", "utf8mb3_bin")),
    (MYSQL_8_0, "v NATIONAL VARCHAR(2)", "", None, ("utf8mb3", "utf8mb3_general_ci")),
    (MYSQL_8_4, "v TEXT", "CHARSET utf8", None, ("utf8mb3", "utf8mb3_general_ci")),
    (MYSQL_8_0, "v VARCHAR(3) CHARACTER SET gb18030", "", None, ("gb18030", "gb18030_chinese_ci")),
    # MariaDB: utf8mb3 since 10.6.1 (MDEV-8334; checked on 10.11 in test_ddl_mariadb), utf8 before
    (MARIADB_10_5, "v VARCHAR(3) CHARACTER SET utf8", "", None, ("utf8", "utf8_general_ci")),
    (MARIADB_10_11, "v VARCHAR(3) CHARACTER SET utf8", "", None, ("utf8mb3", "utf8mb3_general_ci")),
]


@pytest.mark.parametrize(
    ("server", "definition", "options", "db_default", "expected"),
    CHARSET_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[3]}" for c in CHARSET_CASES],
)
def test_character_sets(server, definition, options, db_default, expected):
    col = _column(server, definition, db_default=db_default, options=options)
    assert (col.charset, col.collation) == expected


def test_utf8_may_mean_utf8mb4_on_mariadb_by_old_mode():
    """MariaDB 10.6+ without old_mode UTF8_IS_UTF8MB3 (checked on MariaDB in test_ddl_mariadb); never on MySQL."""
    assert MARIADB_10_11.has_utf8_old_mode and not MARIADB_10_5.has_utf8_old_mode
    assert not MYSQL_8_0.has_utf8_old_mode and not MYSQL_5_7.has_utf8_old_mode
    d = ServerDefaults(utf8_is_utf8mb4=True)
    assert (d.charset_name("UTF8"), d.charset_name("utf8mb3")) == ("utf8mb4", "utf8mb3")
    assert (d.collation_name("utf8_bin"), d.collation_name("utf8mb3_bin")) == ("utf8mb4_bin", "utf8mb3_bin")


def test_text_sizes_follow_the_servers_charset_table():
    """TEXT(n) picks the type that holds n characters of the set; utf8 is 3 bytes wide under either name."""
    for server in (MYSQL_5_7, MYSQL_8_0):
        col = _column(server, "v TEXT(30000) CHARACTER SET utf8")
        assert (col.column_type, col.char_max_length) == ("mediumtext", 16777215)


def test_builtin_charset_tables():
    """Without a table read from the server (pure use), each server gets its own; MariaDB 10.11's is unchanged."""
    assert builtin_charsets(MARIADB_10_11) == MARIADB_CHARSETS
    assert ServerDefaults().charsets == MARIADB_CHARSETS
    five_seven = builtin_charsets(MYSQL_5_7)
    assert "utf8mb3" not in five_seven and five_seven["utf8"].default_collation == "utf8_general_ci"
    assert five_seven["utf8mb4"].default_collation == "utf8mb4_general_ci"
    eight = builtin_charsets(MYSQL_8_0)
    assert "utf8" not in eight and eight["utf8mb4"].default_collation == "utf8mb4_0900_ai_ci"
    assert builtin_charsets(MARIADB_10_5)["utf8"].mbmaxlen == 3


# ------------------------------------------------------------------------------------------------ JSON
#: MySQL 5.7.8+: JSON is its own type without a character set (manual 13.5 "The JSON Data Type");
#: MariaDB: LONGTEXT in utf8mb4_bin (checked on MariaDB in test_ddl_mariadb)
JSON_CASES = [
    (
        MYSQL_8_0,
        dict(data_type="json", column_type="json", char_max_length=None, charset=None, collation=None),
    ),
    (
        MYSQL_5_7,
        dict(data_type="json", column_type="json", char_max_length=None, charset=None, collation=None),
    ),
    (
        MARIADB_10_11,
        dict(data_type="longtext", column_type="longtext", charset="utf8mb4", collation="utf8mb4_bin"),
    ),
]


@pytest.mark.parametrize(("server", "expected"), JSON_CASES, ids=[str(c[0]) for c in JSON_CASES])
def test_json_column(server, expected):
    col = _column(server, "doc JSON", db_default=("latin1", "latin1_swedish_ci"))
    assert _fields(col, expected) == expected


def test_mysql_json_values_decode_on_the_exact_path():
    """MySQL writes JSON to the binlog in its binary format: the generated decoder refuses the column (so
    the table's rows go through python-mysql-replication, which parses it) and the column the describer
    gives converts the parsed document to JSON text. MariaDB's JSON is a LONGTEXT: text as written."""
    mysql_col = _column(MYSQL_8_0, "doc JSON")
    with pytest.raises(Refused):
        column_codec(SimpleNamespace(type=FIELD_TYPE.JSON), mysql_col, tinyint1_as_boolean=True)
    convert = binlog_converter(mysql_col)
    assert convert is not None and convert({b"a": [1, b"x"]}) == '{"a": [1, "x"]}'
    assert binlog_converter(_column(MARIADB_10_11, "doc JSON", db_default=UTF8MB4_0900)) is None


# ------------------------------------------------------------------------- TIMESTAMP without NULL / DEFAULT
@pytest.mark.parametrize(
    ("server", "explicit_ts", "definition", "nullable"),
    [
        # explicit_defaults_for_timestamp ON (MySQL 8.0.2+ default): TIMESTAMP is an ordinary nullable type
        (MYSQL_8_0, True, "ts TIMESTAMP", True),
        (MYSQL_8_0, True, "ts TIMESTAMP(3) NOT NULL", False),
        # OFF (MySQL 5.7 default): "TIMESTAMP columns not explicitly declared with the NULL attribute are
        # automatically declared with the NOT NULL attribute" (5.7 manual 5.1.7, explicit_defaults_for_timestamp;
        # 11.2.6 "Automatic Initialization and Updating for TIMESTAMP and DATETIME")
        (MYSQL_5_7, False, "ts TIMESTAMP", False),
        (MYSQL_5_7, False, "ts TIMESTAMP(6)", False),
        (MYSQL_5_7, False, "ts TIMESTAMP NULL", True),
        (MYSQL_5_7, False, "ts DATETIME", True),  # only TIMESTAMP
        (MYSQL_5_7, True, "ts TIMESTAMP", True),  # the variable, not the version, decides
    ],
)
def test_timestamp_nullability(server, explicit_ts, definition, nullable):
    assert _column(server, definition, explicit_ts=explicit_ts).nullable is nullable


# ----------------------------------------------------------------------------------- other type names
def test_geometrycollection_is_geomcollection_on_mysql_8():
    """WL#2388 F-2: INFORMATION_SCHEMA.COLUMNS says GEOMCOLLECTION (manual 13.4.2.8); 5.7 and MariaDB do not."""
    for definition in ("g GEOMETRYCOLLECTION", "g GEOMCOLLECTION"):
        col = _column(MYSQL_8_0, definition)
        assert (col.data_type, col.column_type) == ("geomcollection", "geomcollection")
        assert _column(MYSQL_5_7, definition).data_type == "geometrycollection"
        assert _column(MARIADB_10_11, definition).data_type == "geometrycollection"


@pytest.mark.parametrize("definition", ["u UUID", "i INET6", "i INET4"])
def test_mariadb_only_types_are_not_mysql_types(definition):
    assert _column(MARIADB_10_11, definition).data_type == definition.split()[1].lower()
    with pytest.raises(DdlParseError, match="is a MariaDB type, which MySQL 8.0.36 does not have"):
        _column(MYSQL_8_0, definition)


def test_invisible_columns_are_described_on_mysql():
    """MySQL 8.0.23+ invisible columns are in information_schema.COLUMNS and in row images, as on MariaDB."""
    t = TableId(DB, "t")
    known = {
        t: TableSchema(
            t, (Column("id", "int", "int", False, numeric_precision=10, numeric_scale=0),), ("id",)
        )
    }
    sql = "ALTER TABLE t ADD y INT INVISIBLE AFTER id, ALTER COLUMN y SET VISIBLE, ALGORITHM=INSTANT"
    [add] = parse_ddl(sql, DB, known=known, defaults=ServerDefaults(server=MYSQL_8_0))
    assert isinstance(add, AddColumn) and add.column is not None and add.column.column_type == "int"


# ------------------------------------------------------------------------------------- to the targets
@pytest.mark.parametrize(
    ("server", "definition"),
    [(MYSQL_8_0, "a INT UNSIGNED"), (MYSQL_8_0, "a TINYINT(1) UNSIGNED"), (MYSQL_8_0, "a BIGINT"),
     (MYSQL_8_0, "y YEAR"), (MYSQL_8_0, "g GEOMETRYCOLLECTION"), (MYSQL_5_7, "v VARCHAR(3) CHARACTER SET utf8"),
     (MYSQL_5_7, "t TEXT(70000) CHARSET utf8")],
)  # fmt: skip
def test_mysql_descriptions_map_to_the_same_targets(server, definition):
    """A column described by MySQL's rules is replicable and gets the same DuckDB and StarRocks types as the
    same definition described by MariaDB's (the display width and the utf8 spelling change nothing)."""
    mysql_col = _column(server, definition)
    maria_col = _column(MARIADB_10_11, definition)
    assert mysql_col != maria_col  # the descriptions do differ
    check_supported(TableSchema(TableId(DB, "t"), (mysql_col,)))
    assert duckdb_type(mysql_col) == duckdb_type(maria_col)
    assert map_column(mysql_col, is_key=False).type_sql == map_column(maria_col, is_key=False).type_sql


def test_mysql_json_maps_to_json_targets():
    col = _column(MYSQL_8_0, "doc JSON")
    check_supported(TableSchema(TableId(DB, "t"), (col,)))
    assert (duckdb_type(col), map_column(col, is_key=False).type_sql) == ("JSON", "JSON")


# ------------------------------------------------------------------------------------------ the value
@pytest.mark.parametrize(
    ("text", "flavor", "version"),
    [
        ("8.0.36", "mysql", (8, 0, 36)),
        ("5.7.44-log", "mysql", (5, 7, 44)),
        ("8.4.3", "mysql", (8, 4, 3)),
        ("10.11.6-MariaDB-0+deb12u1-log", "mariadb", (10, 11, 6)),
        ("5.5.5-10.6.12-MariaDB", "mariadb", (10, 6, 12)),
    ],
)
def test_source_server_from_the_version_text(text, flavor, version):
    assert SourceServer.parse(text) == SourceServer(flavor, version)


def test_source_server_refuses_an_unknown_flavor():
    with pytest.raises(ValueError, match="unknown server flavor 'oracle'"):
        SourceServer("oracle", (1, 0, 0))
