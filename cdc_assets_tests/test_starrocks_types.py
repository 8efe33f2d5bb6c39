"""The StarRocks type mapping row by row, table planning, and the CREATE TABLE text. Pure: no server."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.starrocks_types import (
    CHARSET_UTF8_BYTES,
    KEY_SIZE_LIMIT,
    KINDS,
    MAX_JSON,
    TYPE_RULES,
    create_database_sql,
    create_table_sql,
    key_size_bounds,
    map_column,
    plan_table,
    rule_for,
    type_mapping_markdown,
    value_limit,
)
from cdc_assets.errors import ConfigError, SchemaError, UnsupportedTypeError

_TEXTISH = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")


def col(column_type: str, *, name: str = "c", charset: str | None = "utf8mb4") -> Column:
    """A Column as information_schema.COLUMNS describes ``column_type`` (charset only for text types)."""
    base = re.match(r"[a-z]+", column_type.lower()).group(0)
    inner = column_type.split("(", 1)[1].split(")")[0] if "(" in column_type else ""
    args = [int(a) for a in re.findall(r"\d+", inner)] if base not in ("enum", "set") else []
    kw: dict = {}
    if base == "decimal":
        kw["numeric_precision"], kw["numeric_scale"] = (args + [10, 0])[:2] if args else (10, 0)
    elif base in ("time", "datetime", "timestamp"):
        kw["datetime_precision"] = args[0] if args else 0
    elif base == "bit":
        kw["numeric_precision"] = args[0] if args else 1
    elif base in ("binary", "char", "varchar", "varbinary"):
        kw["char_max_length"] = args[0] if args else 1
    if base in _TEXTISH:
        kw["charset"] = charset
    return Column(name=name, data_type=base, column_type=column_type, **kw)


RULE = {r.mysql: r for r in TYPE_RULES}

# rule (TypeRule.mysql), column_type, is_key, tinyint1_as_boolean, StarRocks type, kind
MAPPING = [
    ("TINYINT(1), BOOL", "tinyint(1)", False, True, "BOOLEAN", "bool"),
    ("TINYINT(1), BOOL", "tinyint(1)", True, True, "BOOLEAN", "bool"),
    ("TINYINT", "tinyint(1)", False, False, "TINYINT", "int"),
    ("TINYINT", "tinyint(4)", True, True, "TINYINT", "int"),
    ("TINYINT UNSIGNED", "tinyint(3) unsigned", False, True, "SMALLINT", "int"),
    ("TINYINT UNSIGNED", "tinyint(1) unsigned", False, True, "SMALLINT", "int"),
    ("SMALLINT", "smallint(6)", False, True, "SMALLINT", "int"),
    ("SMALLINT UNSIGNED, MEDIUMINT [UNSIGNED]", "smallint(5) unsigned", False, True, "INT", "int"),
    ("SMALLINT UNSIGNED, MEDIUMINT [UNSIGNED]", "mediumint(9)", False, True, "INT", "int"),
    ("SMALLINT UNSIGNED, MEDIUMINT [UNSIGNED]", "mediumint(8) unsigned", True, True, "INT", "int"),
    ("INT", "int(11)", True, True, "INT", "int"),
    ("INT UNSIGNED", "int(10) unsigned", False, True, "BIGINT", "int"),
    ("BIGINT", "bigint(20)", True, True, "BIGINT", "int"),
    ("BIGINT UNSIGNED", "bigint(20) unsigned", False, True, "LARGEINT", "int"),
    ("BIGINT UNSIGNED", "bigint(20) unsigned", True, True, "LARGEINT", "int"),
    ("YEAR", "year(4)", False, True, "SMALLINT", "int"),
    ("BIT(1)", "bit(1)", False, True, "BOOLEAN", "bool"),
    ("BIT(2..63)", "bit(2)", False, True, "BIGINT", "int"),
    ("BIT(2..63)", "bit(63)", True, True, "BIGINT", "int"),
    ("BIT(64)", "bit(64)", False, True, "LARGEINT", "int"),
    ("FLOAT", "float", False, True, "FLOAT", "float"),
    ("FLOAT", "float(7,3)", False, True, "FLOAT", "float"),
    ("DOUBLE, REAL", "double", False, True, "DOUBLE", "float"),
    ("DOUBLE, REAL", "real", False, True, "DOUBLE", "float"),
    ("DECIMAL(p,s), p <= 38", "decimal(12,2)", False, True, "DECIMAL(12,2)", "decimal"),
    ("DECIMAL(p,s), p <= 38", "decimal(38,10)", False, True, "DECIMAL(38,10)", "decimal"),
    ("DECIMAL(p,s), p <= 38", "decimal(10,2) unsigned", False, True, "DECIMAL(10,2)", "decimal"),
    ("DECIMAL(p,s), p > 38", "decimal(39,0)", False, True, "VARCHAR(41)", "string"),
    ("DECIMAL(p,s), p > 38", "decimal(65,30)", False, True, "VARCHAR(67)", "string"),
    ("DATE", "date", True, True, "DATE", "date"),
    ("DATETIME(p)", "datetime", False, True, "DATETIME", "datetime"),
    ("DATETIME(p)", "datetime(6)", True, True, "DATETIME", "datetime"),
    ("TIMESTAMP(p)", "timestamp(3)", False, True, "DATETIME", "timestamp"),
    ("TIMESTAMP(p)", "timestamp", True, True, "DATETIME", "timestamp"),
    ("TIME(p)", "time", False, True, "VARCHAR(10)", "time"),
    ("TIME(p)", "time(3)", True, True, "VARCHAR(14)", "time"),
    ("TIME(p)", "time(6)", False, True, "VARCHAR(17)", "time"),
    ("CHAR(n), VARCHAR(n)", "char(5)", True, True, "VARCHAR(20)", "string"),
    ("CHAR(n), VARCHAR(n)", "char(0)", False, True, "VARCHAR(1)", "string"),
    ("CHAR(n), VARCHAR(n)", "varchar(20)", False, True, "VARCHAR(80)", "string"),
    ("CHAR(n), VARCHAR(n)", "varchar(16383)", False, True, "VARCHAR(65532)", "string"),
    ("TINYTEXT, TEXT, MEDIUMTEXT, LONGTEXT", "tinytext", False, True, "VARCHAR(255)", "string"),
    ("TINYTEXT, TEXT, MEDIUMTEXT, LONGTEXT", "text", True, True, "VARCHAR(65535)", "string"),
    ("TINYTEXT, TEXT, MEDIUMTEXT, LONGTEXT", "mediumtext", False, True, "VARCHAR(1048576)", "string"),
    ("TINYTEXT, TEXT, MEDIUMTEXT, LONGTEXT", "longtext", False, True, "VARCHAR(1048576)", "string"),
    ("ENUM", "enum('a','bcd')", False, True, "VARCHAR(12)", "string"),
    ("ENUM", "enum('')", True, True, "VARCHAR(1)", "string"),
    ("SET", "set('x','yy','zzz')", False, True, "VARCHAR(26)", "string"),
    ("SET", "set('it''s','a,b')", True, True, "VARCHAR(29)", "string"),
    ("JSON", "json", False, True, "JSON", "json"),
    ("BINARY(n), VARBINARY(n)", "binary(16)", False, True, "VARBINARY(16)", "binary"),
    ("BINARY(n), VARBINARY(n)", "varbinary(255)", False, True, "VARBINARY(255)", "binary"),
    ("TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB", "tinyblob", False, True, "VARBINARY(255)", "binary"),
    ("TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB", "blob", False, True, "VARBINARY(65535)", "binary"),
    ("TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB", "mediumblob", False, True, "VARBINARY(1048576)", "binary"),
    ("TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB", "longblob", False, True, "VARBINARY(1048576)", "binary"),
    ("GEOMETRY, POINT, POLYGON, ... (spatial)", "geometry", False, True, "VARBINARY(1048576)", "binary"),
    ("GEOMETRY, POINT, POLYGON, ... (spatial)", "point", False, True, "VARBINARY(1048576)", "binary"),
    (
        "GEOMETRY, POINT, POLYGON, ... (spatial)",
        "geomcollection",
        False,
        True,
        "VARBINARY(1048576)",
        "binary",
    ),
    ("DECIMAL(p,s) in the primary key", "decimal(12,2)", True, True, "VARCHAR(14)", "decimal_string"),
    ("DECIMAL(p,s) in the primary key", "decimal(5,5)", True, True, "VARCHAR(8)", "decimal_string"),
    ("DECIMAL(p,s) in the primary key", "decimal(20,0)", True, True, "VARCHAR(22)", "decimal_string"),
    ("DECIMAL(p,s) in the primary key", "decimal(65,30)", True, True, "VARCHAR(67)", "string"),
    ("FLOAT, DOUBLE in the primary key", "float", True, True, "VARCHAR(24)", "float_string"),
    ("FLOAT, DOUBLE in the primary key", "double", True, True, "VARCHAR(24)", "float_string"),
    (
        "BINARY, VARBINARY, BLOB, spatial in the primary key",
        "binary(16)",
        True,
        True,
        "VARCHAR(32)",
        "hex_string",
    ),
    (
        "BINARY, VARBINARY, BLOB, spatial in the primary key",
        "blob",
        True,
        True,
        "VARCHAR(131070)",
        "hex_string",
    ),
    (
        "BINARY, VARBINARY, BLOB, spatial in the primary key",
        "point",
        True,
        True,
        "VARCHAR(1048576)",
        "hex_string",
    ),
    ("JSON in the primary key", "json", True, True, "VARCHAR(1048576)", "string"),
]


@pytest.mark.parametrize(
    ("rule", "column_type", "is_key", "t1b", "sr", "kind"),
    MAPPING,
    ids=[f"{m[1]}-{'key' if m[2] else 'value'}-{m[3]}" for m in MAPPING],
)
def test_mapping_row(rule, column_type, is_key, t1b, sr, kind):
    c = col(column_type, name="x")
    got = map_column(c, is_key=is_key, tinyint1_as_boolean=t1b)
    assert (got.type_sql, got.kind) == (sr, kind)
    assert got.name == "x" and got.source is c and got.is_key is is_key
    assert got.nullable is (not is_key)
    assert got.kind in KINDS
    assert rule_for(c, is_key=is_key, tinyint1_as_boolean=t1b) is RULE[rule]


@pytest.mark.parametrize("rule", TYPE_RULES, ids=[r.mysql for r in TYPE_RULES])
def test_every_rule_has_a_case_and_a_reason(rule):
    assert rule.reason and rule.starrocks
    if rule.starrocks == "refused":
        assert any(why for _, why in UNSUPPORTED_CASES)
    else:
        assert any(m[0] == rule.mysql for m in MAPPING), f"no MAPPING case exercises {rule.mysql}"


@pytest.mark.parametrize(
    ("column_type", "charset", "sr"),
    [
        ("varchar(10)", "utf8mb4", "VARCHAR(40)"),
        ("varchar(10)", "utf8mb3", "VARCHAR(30)"),
        ("varchar(10)", "utf8", "VARCHAR(30)"),
        ("varchar(10)", "latin1", "VARCHAR(30)"),  # latin1 'é' and '€' are 2 and 3 bytes in UTF-8
        ("varchar(10)", "latin2", "VARCHAR(20)"),
        ("varchar(10)", "ascii", "VARCHAR(10)"),
        ("varchar(10)", "gbk", "VARCHAR(30)"),
        ("varchar(10)", "ucs2", "VARCHAR(30)"),
        ("varchar(10)", "gb18030", "VARCHAR(40)"),
        ("varchar(10)", "UTF8MB4", "VARCHAR(40)"),
        ("varchar(10)", "cp1253", "VARCHAR(40)"),  # not in the table: 4 always fits
        ("varchar(10)", None, "VARCHAR(40)"),
        ("char(255)", "utf8mb4", "VARCHAR(1020)"),
        ("varchar(300000)", "utf8mb4", "VARCHAR(1048576)"),
        ("text", "latin1", "VARCHAR(196605)"),
        ("tinytext", "gbk", "VARCHAR(383)"),
        ("text", "utf8mb3", "VARCHAR(65535)"),
        ("tinytext", "cp1253", "VARCHAR(1020)"),
        ("enum('é','😀')", "utf8mb4", "VARCHAR(4)"),
        ("enum('ab','c')", "latin1", "VARCHAR(6)"),
        ("set('ab','c')", "ascii", "VARCHAR(4)"),
    ],
)
def test_text_is_sized_in_utf8_bytes_of_the_charset(column_type, charset, sr):
    assert map_column(col(column_type, charset=charset), is_key=False).type_sql == sr


# MySQL charset -> Python codec with the same repertoire
_SINGLE_BYTE_CODECS = {
    "ascii": "ascii",
    "latin1": "cp1252",
    "latin2": "iso8859_2",
    "latin5": "iso8859_9",
    "latin7": "iso8859_13",
    "greek": "iso8859_7",
    "hebrew": "iso8859_8",
    "cp1250": "cp1250",
    "cp1251": "cp1251",
    "cp1256": "cp1256",
    "cp1257": "cp1257",
    "cp850": "cp850",
    "cp852": "cp852",
    "cp866": "cp866",
    "koi8r": "koi8_r",
    "koi8u": "koi8_u",
    "macce": "mac_latin2",
    "macroman": "mac_roman",
    "tis620": "tis_620",
    "hp8": "hp_roman8",
}
_DOUBLE_BYTE_CODECS = {
    "gbk": "gbk",
    "gb2312": "gb2312",
    "big5": "big5",
    "sjis": "shift_jis",
    "cp932": "cp932",
    "euckr": "euc_kr",
    "ujis": "euc_jp",
    "eucjpms": "euc_jp",
    "ucs2": "utf_16_be",
}


@pytest.mark.parametrize("charset", sorted(_SINGLE_BYTE_CODECS))
def test_single_byte_charset_widths_cover_every_character(charset):
    text = bytes(range(256)).decode(_SINGLE_BYTE_CODECS[charset], errors="ignore")
    widest = max(len(ch.encode("utf-8")) for ch in text)
    per_char, per_byte = CHARSET_UTF8_BYTES[charset]
    assert widest <= per_char and widest <= per_byte


@pytest.mark.parametrize("charset", sorted(_DOUBLE_BYTE_CODECS))
def test_double_byte_charset_widths_cover_every_character(charset):
    codec = codecs.getdecoder(_DOUBLE_BYTE_CODECS[charset])
    per_char, per_byte = CHARSET_UTF8_BYTES[charset]
    for lead in range(256):
        for trail in range(256):
            raw = bytes((lead, trail))
            try:
                text, _ = codec(raw)
            except UnicodeDecodeError:
                continue
            utf8 = len(text.encode("utf-8", errors="surrogatepass"))
            assert max(len(ch.encode("utf-8", errors="surrogatepass")) for ch in text) <= per_char
            assert utf8 <= per_byte * len(raw)


UNSUPPORTED_CASES = [
    ("uuid", "no StarRocks mapping"),
    ("inet6", "no StarRocks mapping"),
    ("inet4", "no StarRocks mapping"),
    ("vector(3)", "no StarRocks mapping"),
]


@pytest.mark.parametrize(("column_type", "why"), UNSUPPORTED_CASES)
def test_unsupported_types_are_refused_naming_table_column_and_type(column_type, why):
    c = Column(name="odd col", data_type=column_type.split("(")[0], column_type=column_type)
    with pytest.raises(UnsupportedTypeError) as err:
        map_column(c, is_key=False)
    assert "odd col" in str(err.value) and column_type in str(err.value) and why in str(err.value)
    schema = TableSchema(TableId("shop", "t"), (col("int(11)", name="id"), c), ("id",))
    with pytest.raises(UnsupportedTypeError) as err:
        plan_table(schema, TableId("dw", "t"))
    msg = str(err.value)
    assert "shop.t.odd col" in msg and column_type in msg and "tables.exclude" in msg
    assert err.value.context == {"column": "shop.t.odd col", "column_type": column_type}


@pytest.mark.parametrize(
    ("column_type", "charset", "why"),
    [
        ("varchar(5)", "utf16", "big-endian"),
        ("text", "utf32", "big-endian"),
        ("varchar(5)", "macce", "no codec"),
    ],
)
def test_charsets_the_binlog_decoder_cannot_read_are_refused(column_type, charset, why):
    with pytest.raises(UnsupportedTypeError) as err:
        map_column(col(column_type, name="x", charset=charset), is_key=False)
    assert why in str(err.value) and "x" in str(err.value)


# ------------------------------------------------------------------------------------------ planning
def test_plan_puts_key_columns_first_in_key_order_and_the_rest_in_source_order():
    schema = TableSchema(
        TableId("shop", "t"),
        (
            col("varchar(10)", name="a"),
            col("int(11)", name="b"),
            col("decimal(10,2)", name="c"),
            col("datetime(6)", name="d"),
            col("bigint(20) unsigned", name="e"),
        ),
        ("e", "c", "b"),
    )
    t = plan_table(schema, TableId("dw", "t2"))
    assert t.target == TableId("dw", "t2")
    assert [c.name for c in t.columns] == ["e", "c", "b", "a", "d"]
    assert t.source_positions == (4, 2, 1, 0, 3)
    assert t.key == ("e", "c", "b")
    assert [c.is_key for c in t.columns] == [True, True, True, False, False]
    assert [c.nullable for c in t.columns] == [False, False, False, True, True]
    assert [c.type_sql for c in t.columns] == ["LARGEINT", "VARCHAR(12)", "INT", "VARCHAR(40)", "DATETIME"]
    assert not t.has_binary


def test_non_key_columns_are_nullable_even_when_the_source_says_not_null():
    c = Column(name="v", data_type="date", column_type="date", nullable=False)
    schema = TableSchema(TableId("d", "t"), (col("int(11)", name="id"), c), ("id",))
    assert plan_table(schema, TableId("d", "t")).columns[1].nullable is True


def test_has_binary():
    schema = TableSchema(TableId("d", "t"), (col("int(11)", name="id"), col("blob", name="b")), ("id",))
    assert plan_table(schema, TableId("d", "t")).has_binary
    # a binary key is hex text, not VARBINARY
    schema = TableSchema(TableId("d", "t"), (col("binary(16)", name="id"),), ("id",))
    assert not plan_table(schema, TableId("d", "t")).has_binary


def test_tinyint1_option_reaches_every_column():
    schema = TableSchema(TableId("d", "t"), (col("int(11)", name="id"), col("tinyint(1)", name="f")), ("id",))
    assert plan_table(schema, TableId("d", "t")).columns[1].type_sql == "BOOLEAN"
    assert plan_table(schema, TableId("d", "t"), tinyint1_as_boolean=False).columns[1].type_sql == "TINYINT"


def test_table_without_primary_key_is_refused():
    schema = TableSchema(TableId("shop", "log"), (col("int(11)", name="id"),))
    with pytest.raises(SchemaError, match=r"shop\.log has no primary key.*tables\.exclude"):
        plan_table(schema, TableId("shop", "log"))


def test_column_named_op_is_refused():
    schema = TableSchema(
        TableId("shop", "t"), (col("int(11)", name="id"), col("int(11)", name="__OP")), ("id",)
    )
    with pytest.raises(SchemaError, match="__OP"):
        plan_table(schema, TableId("shop", "t"))


def test_key_column_missing_from_columns_is_refused():
    schema = TableSchema(TableId("shop", "t"), (col("int(11)", name="id"),), ("nope",))
    with pytest.raises(SchemaError, match="nope"):
        plan_table(schema, TableId("shop", "t"))


def test_key_that_can_never_fit_is_refused():
    cols = tuple(col("bigint(20) unsigned", name=f"k{i}") for i in range(9))  # 9 x LARGEINT = 144 bytes
    with pytest.raises(SchemaError) as err:
        plan_table(TableSchema(TableId("shop", "wide"), cols, tuple(c.name for c in cols)), TableId("d", "t"))
    assert "shop.wide" in str(err.value) and "144" in str(err.value) and str(KEY_SIZE_LIMIT) in str(err.value)
    # 8 x 16 = 128 is allowed
    t = plan_table(
        TableSchema(TableId("shop", "w"), cols[:8], tuple(c.name for c in cols[:8])), TableId("d", "t")
    )
    assert key_size_bounds(t) == (128, 128)


def test_key_size_bounds_add_varchar_maxima():
    schema = TableSchema(
        TableId("d", "t"),
        (
            col("int(11)", name="a"),
            col("varchar(20)", name="b"),
            col("date", name="c"),
            col("text", name="z"),
        ),
        ("a", "b", "c"),
    )
    assert key_size_bounds(plan_table(schema, TableId("d", "t"))) == (8, 8 + 80)


@pytest.mark.parametrize(
    ("column_type", "is_key", "limit"),
    [
        ("varchar(100)", False, None),
        ("text", False, None),
        ("mediumtext", False, 1048576),
        ("longtext", True, 1048576),
        ("blob", False, None),
        ("longblob", False, 1048576),
        ("blob", True, None),
        ("longblob", True, 1048576),
        ("json", False, MAX_JSON),
        ("json", True, 1048576),
        ("geometry", False, 1048576),
        ("int(11)", False, None),
    ],
)
def test_value_limit_only_where_the_source_can_be_wider(column_type, is_key, limit):
    assert value_limit(map_column(col(column_type), is_key=is_key)) == limit


# ----------------------------------------------------------------------------------------------- DDL
def _table(*columns: Column, key: tuple[str, ...], target: TableId | None = None):
    return plan_table(TableSchema(TableId("src", "t"), columns, key), target or TableId("dw", "t"))


def test_create_table_sql_text():
    t = _table(col("varchar(10)", name="v"), col("bigint(20)", name="id"), key=("id",))
    assert create_table_sql(t) == (
        "CREATE TABLE IF NOT EXISTS `dw`.`t` (`id` BIGINT NOT NULL, `v` VARCHAR(40) NULL) "
        "PRIMARY KEY(`id`) DISTRIBUTED BY HASH(`id`)"
    )
    assert create_table_sql(t, num_buckets=8, properties={"replication_num": "1"}) == (
        "CREATE TABLE IF NOT EXISTS `dw`.`t` (`id` BIGINT NOT NULL, `v` VARCHAR(40) NULL) "
        'PRIMARY KEY(`id`) DISTRIBUTED BY HASH(`id`) BUCKETS 8 PROPERTIES ("replication_num" = "1")'
    )


def test_create_table_sql_quotes_identifiers_and_parses_back():
    t = _table(
        col("int(11)", name="we`ird id"),
        col("date", name="day"),
        col("json", name="sélect"),
        col("varbinary(4)", name="b"),
        key=("day", "we`ird id"),
        target=TableId("my db", "ta`ble"),
    )
    props = {"replication_num": "1", "x.y-z": 'quote " back \\ new\nline ünï 😀'}
    sql = create_table_sql(t, num_buckets=3, properties=props)
    tree = sqlglot.parse_one(sql, read="starrocks")
    table = tree.find(exp.Table)
    assert (table.db, table.name) == ("my db", "ta`ble")
    defs = [(d.name, d.args["kind"].sql("starrocks")) for d in tree.find_all(exp.ColumnDef)]
    assert [n for n, _ in defs] == ["day", "we`ird id", "sélect", "b"]
    pk = tree.find(exp.PrimaryKey)
    assert [e.name for e in pk.expressions] == ["day", "we`ird id"]
    got = {p.this.this: p.args["value"].this for p in tree.find_all(exp.Property) if type(p) is exp.Property}
    assert got == props
    assert tree.find(exp.DistributedByProperty).args["buckets"].this == "3"


@pytest.mark.parametrize("key", ["bad key", 'a"b', "", "1abc", "a=b", "x)"])
def test_create_table_sql_refuses_bad_property_names(key):
    t = _table(col("int(11)", name="id"), key=("id",))
    with pytest.raises(ConfigError, match="table.create.properties"):
        create_table_sql(t, properties={key: "1"})


def test_create_table_sql_refuses_nul_in_property_values():
    t = _table(col("int(11)", name="id"), key=("id",))
    with pytest.raises(ConfigError, match="NUL"):
        create_table_sql(t, properties={"k": "a\x00b"})


@pytest.mark.parametrize("buckets", [0, -1, True, "3", 2.0])
def test_create_table_sql_refuses_bad_bucket_counts(buckets):
    t = _table(col("int(11)", name="id"), key=("id",))
    with pytest.raises(ConfigError, match="num-buckets"):
        create_table_sql(t, num_buckets=buckets)


def test_create_database_sql():
    assert create_database_sql("shop") == "CREATE DATABASE IF NOT EXISTS `shop`"
    assert create_database_sql("a`b") == "CREATE DATABASE IF NOT EXISTS `a``b`"


def test_type_mapping_markdown_is_a_table_of_every_rule():
    md = type_mapping_markdown()
    lines = md.splitlines()
    assert lines[0] == "| MySQL | StarRocks | Why |" and lines[1] == "| --- | --- | --- |"
    rows = [line for line in lines[2:] if line.startswith("|")]
    assert len(rows) == len(TYPE_RULES)
    for line, rule in zip(rows, TYPE_RULES, strict=True):
        assert len(re.findall(r"(?<!\\)\|", line)) == 4, line  # no cell breaks the table
        assert rule.mysql in line and rule.reason.replace("|", "\\|") in line
    assert "BIGINT UNSIGNED | LARGEINT" in md and "128 bytes" in md


def test_the_readme_shows_the_type_mapping_as_the_code_has_it():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert type_mapping_markdown().strip() in readme, (
        "regenerate the README table from type_mapping_markdown()"
    )
