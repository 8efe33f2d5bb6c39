"""The type mapping, row by row, and the value converters on the driver outputs seen on MariaDB 10.11.

Pure: no server. What the drivers really return is checked in test_value_roundtrip.py.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pyarrow as pa
import pytest

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.types import (
    OVERRIDES,
    SPATIAL_TYPES,
    TYPE_RULES,
    UNSUPPORTED,
    arrow_type,
    binlog_converter,
    binlog_values,
    check_supported,
    duckdb_type,
    row_converter,
    snapshot_converter,
    snapshot_select_expr,
)
from cdc_assets.errors import SchemaError, UnsupportedTypeError

UTC = dt.UTC
_TEXTISH = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")


def col(
    column_type: str, *, name: str = "c", charset: str | None = None, data_type: str | None = None
) -> Column:
    """A Column as information_schema.COLUMNS describes ``column_type`` on MariaDB 10.11."""
    base = data_type or re.match(r"[a-z]+", column_type.lower()).group(0)
    args = (
        [int(a) for a in re.findall(r"\d+", column_type.split("(", 1)[1].split(")")[0])]
        if "(" in column_type
        else []
    )
    kw: dict = {}
    if base == "decimal":
        kw["numeric_precision"], kw["numeric_scale"] = (args + [10, 0])[:2] if args else (10, 0)
    elif base in ("time", "datetime", "timestamp"):
        kw["datetime_precision"] = args[0] if args else 0
    elif base == "bit":
        kw["numeric_precision"] = args[0] if args else 1
    elif base in ("binary", "char", "varchar", "varbinary") and base not in ("enum", "set"):
        kw["char_max_length"] = args[0] if args else 1
    if base in _TEXTISH:
        kw["charset"] = charset or "utf8mb4"
    return Column(name=name, data_type=base, column_type=column_type, **kw)


# column_type, tinyint1_as_boolean, DuckDB type, Arrow type
MAPPING = [
    ("tinyint(4)", True, "TINYINT", pa.int8()),
    ("tinyint(3) unsigned", True, "UTINYINT", pa.uint8()),
    ("tinyint(1)", True, "BOOLEAN", pa.bool_()),
    ("tinyint(1)", False, "TINYINT", pa.int8()),
    ("tinyint(1) unsigned", True, "UTINYINT", pa.uint8()),
    ("tinyint(1) unsigned zerofill", True, "UTINYINT", pa.uint8()),
    ("smallint(6)", True, "SMALLINT", pa.int16()),
    ("smallint(5) unsigned", True, "USMALLINT", pa.uint16()),
    ("mediumint(9)", True, "INTEGER", pa.int32()),
    ("mediumint(8) unsigned", True, "UINTEGER", pa.uint32()),
    ("int(11)", True, "INTEGER", pa.int32()),
    ("int(10) unsigned", True, "UINTEGER", pa.uint32()),
    ("bigint(20)", True, "BIGINT", pa.int64()),
    ("bigint(20) unsigned", True, "UBIGINT", pa.uint64()),
    ("decimal(12,2)", True, "DECIMAL(12,2)", pa.decimal128(12, 2)),
    ("decimal(20,15)", True, "DECIMAL(20,15)", pa.decimal128(20, 15)),
    ("decimal(38,10)", True, "DECIMAL(38,10)", pa.decimal128(38, 10)),
    ("decimal(10,2) unsigned", True, "DECIMAL(10,2)", pa.decimal128(10, 2)),
    ("decimal(39,0)", True, "VARCHAR", pa.large_string()),
    ("decimal(65,30)", True, "VARCHAR", pa.large_string()),
    ("float", True, "FLOAT", pa.float32()),
    ("float(7,3)", True, "FLOAT", pa.float32()),
    ("double", True, "DOUBLE", pa.float64()),
    ("real", True, "DOUBLE", pa.float64()),
    ("date", True, "DATE", pa.date32()),
    ("datetime", True, "TIMESTAMP", pa.timestamp("us")),
    ("datetime(6)", True, "TIMESTAMP", pa.timestamp("us")),
    ("timestamp", True, "TIMESTAMPTZ", pa.timestamp("us", tz="UTC")),
    ("timestamp(3)", True, "TIMESTAMPTZ", pa.timestamp("us", tz="UTC")),
    ("time", True, "INTERVAL", pa.duration("us")),
    ("time(6)", True, "INTERVAL", pa.duration("us")),
    ("year(4)", True, "SMALLINT", pa.int16()),
    ("char(5)", True, "VARCHAR", pa.large_string()),
    ("varchar(20)", True, "VARCHAR", pa.large_string()),
    ("tinytext", True, "VARCHAR", pa.large_string()),
    ("text", True, "VARCHAR", pa.large_string()),
    ("mediumtext", True, "VARCHAR", pa.large_string()),
    ("longtext", True, "VARCHAR", pa.large_string()),
    ("enum('a','b')", True, "VARCHAR", pa.large_string()),
    ("set('x','y','z')", True, "VARCHAR", pa.large_string()),
    ("json", True, "JSON", pa.large_string()),
    ("binary(4)", True, "BLOB", pa.large_binary()),
    ("varbinary(8)", True, "BLOB", pa.large_binary()),
    ("tinyblob", True, "BLOB", pa.large_binary()),
    ("blob", True, "BLOB", pa.large_binary()),
    ("mediumblob", True, "BLOB", pa.large_binary()),
    ("longblob", True, "BLOB", pa.large_binary()),
    ("bit(1)", True, "UBIGINT", pa.uint64()),
    ("bit(64)", True, "UBIGINT", pa.uint64()),
    *((spatial, True, "BLOB", pa.large_binary()) for spatial in SPATIAL_TYPES),
]


@pytest.mark.parametrize(
    ("column_type", "t1b", "duck", "arrow"), MAPPING, ids=[f"{m[0]}-{m[1]}" for m in MAPPING]
)
def test_mapping_row(column_type, t1b, duck, arrow):
    c = col(column_type)
    assert duckdb_type(c, tinyint1_as_boolean=t1b) == duck
    assert arrow_type(c, tinyint1_as_boolean=t1b) == arrow


def test_decimal_without_catalog_precision_falls_back_to_column_type():
    c = Column(name="d", data_type="decimal", column_type="decimal(50,4)")
    assert duckdb_type(c) == "VARCHAR"
    assert duckdb_type(Column(name="d", data_type="decimal", column_type="decimal(9,4)")) == "DECIMAL(9,4)"


def _override_hit(c: Column, t1b: bool) -> bool:
    return any(o.applies(c, t1b) for o in OVERRIDES)


@pytest.mark.parametrize("rule", TYPE_RULES, ids=[f"{r.data_type}-{r.unsigned}" for r in TYPE_RULES])
def test_every_rule_has_a_mapping_case(rule):
    """A new row in TYPE_RULES must come with a row in MAPPING above."""
    hits = [
        m
        for m in MAPPING
        if col(m[0]).data_type == rule.data_type
        and (rule.unsigned is None or col(m[0]).unsigned == rule.unsigned)
        and not _override_hit(col(m[0]), m[1])
    ]
    assert hits, f"no MAPPING case exercises {rule}"


@pytest.mark.parametrize("override", OVERRIDES, ids=[o.name for o in OVERRIDES])
def test_every_override_has_a_case_and_a_reason(override):
    assert override.reason
    assert any(override.applies(col(m[0]), m[1]) and m[2] == override.duckdb for m in MAPPING)


_OBVIOUS = {
    ("tinyint", "TINYINT"),
    ("tinyint", "UTINYINT"),
    ("smallint", "SMALLINT"),
    ("smallint", "USMALLINT"),
    ("int", "INTEGER"),
    ("int", "UINTEGER"),
    ("bigint", "BIGINT"),
    ("double", "DOUBLE"),
    *((t, "VARCHAR") for t in ("varchar", "tinytext", "text", "mediumtext")),
    *((t, "BLOB") for t in ("varbinary", "tinyblob", "blob", "mediumblob", "longblob")),
}


@pytest.mark.parametrize("rule", TYPE_RULES, ids=[f"{r.data_type}-{r.unsigned}" for r in TYPE_RULES])
def test_non_obvious_rules_carry_a_reason(rule):
    assert (rule.data_type, rule.duckdb) in _OBVIOUS or rule.reason


UNSUPPORTED_CASES = [
    ("uuid", "no mapping"),
    ("inet6", "no mapping"),
    ("vector(3)", "no mapping"),
]


@pytest.mark.parametrize(("column_type", "why"), UNSUPPORTED_CASES)
def test_unsupported_type(column_type, why):
    c = col(column_type, name="shape col")
    with pytest.raises(UnsupportedTypeError) as err:
        duckdb_type(c)
    msg = str(err.value)
    assert "shape col" in msg and column_type in msg and why in msg and "tables.exclude" in msg
    with pytest.raises(UnsupportedTypeError):
        arrow_type(c)
    schema = TableSchema(TableId("shop", "places"), (col("int(11)", name="id"), c), ("id",))
    with pytest.raises(UnsupportedTypeError) as err:
        check_supported(schema)
    assert "shop.places.shape col" in str(err.value) and why in str(err.value)
    assert err.value.context["column"] == "shop.places.shape col"


def test_spatial_columns_are_replicated_as_their_stored_bytes():
    columns = tuple(col(t, name=t) for t in SPATIAL_TYPES)
    schema = TableSchema(TableId("geo", "shapes"), (col("int(11)", name="id"), *columns), ("id",))
    check_supported(schema)
    assert not set(SPATIAL_TYPES) & set(UNSUPPORTED)
    for c in columns:
        assert snapshot_converter(c) is None and binlog_converter(c) is None


def test_every_unsupported_type_has_a_case():
    assert set(UNSUPPORTED) <= {c for c, _ in UNSUPPORTED_CASES}


# column_type, charset, a fragment of the reason (None = supported)
CHARSET_CASES = [
    ("varchar(5)", "utf8mb4", None),
    ("varchar(5)", "utf8mb3", None),
    ("text", "latin1", None),
    ("varchar(5)", "ascii", None),
    ("varchar(5)", "gbk", None),
    ("varchar(5)", "ucs2", None),
    ("varchar(5)", "utf16le", None),
    ("varchar(5)", "utf16", "big-endian"),
    ("text", "utf32", "big-endian"),
    ("varchar(5)", "macce", "no codec"),
    ("enum('é','b')", "latin1", "UTF-8"),
    ("set('x','y')", "latin1", None),
    ("enum('é','😀')", "utf8mb4", None),
]


@pytest.mark.parametrize(("column_type", "charset", "why"), CHARSET_CASES)
def test_charsets_the_binlog_decoder_cannot_return_exactly(column_type, charset, why):
    schema = TableSchema(TableId("d", "t"), (col(column_type, name="x", charset=charset),))
    if why is None:
        check_supported(schema)
        return
    with pytest.raises(UnsupportedTypeError) as err:
        check_supported(schema)
    assert why in str(err.value) and "d.t.x" in str(err.value)


@pytest.mark.parametrize(
    ("column_type", "name", "expr"),
    [
        ("int(11)", "id", "`id`"),
        ("float", "f", "CAST(`f` AS DOUBLE) AS `f`"),
        ("float", "we`ird", "CAST(`we``ird` AS DOUBLE) AS `we``ird`"),
        ("double", "d", "CAST(`d` AS DOUBLE) AS `d`"),  # DOUBLE(M,D) would be printed rounded to D places
        ("bit(3)", "b", "`b`"),
        ("set('a')", "s", "`s`"),
        ("decimal(65,30)", "x", "`x`"),
        ("point", "p", "`p`"),  # the stored bytes, SRID included, as the binlog carries them
        ("geometry", "g", "`g`"),
    ],
)
def test_snapshot_select_expr(column_type, name, expr):
    assert snapshot_select_expr(col(column_type, name=name)) == expr


_POINT_4326 = bytes.fromhex("E61000000101000000000000000000F03F0000000000000040")

# column_type, origin ('snapshot' / 'binlog' / 'both'), driver value, canonical value
CONVERSIONS = [
    ("tinyint(1)", "both", 2, True),
    ("tinyint(1)", "both", 0, False),
    ("int(11)", "both", -5, -5),
    ("decimal(65,30)", "both", Decimal("0E-30"), "0.000000000000000000000000000000"),
    ("decimal(40,2)", "both", Decimal("-1.50"), "-1.50"),
    ("decimal(20,15)", "both", Decimal("-1E-15"), Decimal("-0.000000000000001")),
    ("float", "snapshot", 0.1, 0.10000000149011612),
    ("float", "binlog", 0.10000000149011612, 0.10000000149011612),
    ("date", "snapshot", "0000-00-00", None),
    ("date", "snapshot", "2024-00-15", None),
    ("date", "snapshot", dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
    ("datetime(3)", "snapshot", "2024-00-00 00:00:00.000", None),
    (
        "datetime(6)",
        "both",
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    ),
    ("timestamp(3)", "snapshot", "0000-00-00 00:00:00.000", None),
    (
        "timestamp(3)",
        "both",
        dt.datetime(2038, 1, 19, 3, 14, 7, 123000),
        dt.datetime(2038, 1, 19, 3, 14, 7, 123000, tzinfo=UTC),
    ),
    ("timestamp", "binlog", dt.datetime(1970, 1, 1), None),
    ("timestamp", "both", dt.datetime(1970, 1, 1, 0, 0, 1), dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
    # 1.0.17 decodes negative TIME2 values with a fraction as -(K - f); the truth is -(K - 1 + (1 - f))
    ("time(2)", "binlog", dt.timedelta(seconds=-0.75), dt.timedelta(seconds=-0.25)),
    (
        "time(1)",
        "binlog",
        -dt.timedelta(hours=838, minutes=59, seconds=58, microseconds=100000),
        -dt.timedelta(hours=838, minutes=59, seconds=58, microseconds=900000),
    ),
    (
        "time(6)",
        "binlog",
        -dt.timedelta(seconds=86399, microseconds=1),
        -dt.timedelta(seconds=86399, microseconds=999999),
    ),
    ("time(6)", "binlog", dt.timedelta(seconds=-0.999999), dt.timedelta(microseconds=-1)),
    ("time(3)", "binlog", dt.timedelta(seconds=-0.5), dt.timedelta(seconds=-0.5)),
    ("time(3)", "binlog", dt.timedelta(seconds=-1), dt.timedelta(seconds=-1)),
    (
        "time(3)",
        "both",
        dt.timedelta(hours=100, microseconds=999000),
        dt.timedelta(hours=100, microseconds=999000),
    ),
    (
        "time",
        "both",
        -dt.timedelta(hours=838, minutes=59, seconds=59),
        -dt.timedelta(hours=838, minutes=59, seconds=59),
    ),
    ("year(4)", "binlog", 1900, 0),
    ("year(4)", "both", 2155, 2155),
    ("year(4)", "snapshot", 0, 0),
    ("bit(10)", "snapshot", b"\x02\x01", 513),
    ("bit(10)", "binlog", "1000000001", 513),
    ("bit(64)", "snapshot", b"\xff" * 8, 2**64 - 1),
    ("bit(64)", "binlog", "1" * 64, 2**64 - 1),
    ("bit(1)", "snapshot", b"\x00", 0),
    ("set('x','y','z')", "binlog", {"z", "x"}, "x,z"),
    ("set('x','y','z')", "binlog", frozenset(), ""),
    ("set('x','y','z')", "snapshot", "x,z", "x,z"),
    ("set('it''s','a\\\\b','ü?','x y')", "binlog", {"x y", "ü😀", "it's", "a\\b"}, "it's,a\\b,ü😀,x y"),
    ("enum('a','b')", "both", "b", "b"),
    ("binary(4)", "binlog", b"\x01", b"\x01\x00\x00\x00"),
    ("binary(4)", "binlog", "", b"\x00\x00\x00\x00"),
    ("binary(4)", "both", b"\x00\x00\x00\x01", b"\x00\x00\x00\x01"),
    ("blob", "binlog", "", b""),
    ("varbinary(8)", "both", b"\x00\xff", b"\x00\xff"),
    ("varchar(20)", "both", "héllo😀 ", "héllo😀 "),
    ("json", "binlog", {b"a": [1, 2.5, b"x"], b"b": None}, '{"a": [1, 2.5, "x"], "b": null}'),
    ("json", "snapshot", '{"a":[1,2.5,"x"],"b":null}', '{"a": [1, 2.5, "x"], "b": null}'),
    ("json", "binlog", {b"d": Decimal("1.5")}, '{"d": 1.5}'),
    ("json", "snapshot", b'"str"', '"str"'),
    # SRID 4326, then the WKB of POINT(1 2): both drivers return the stored bytes as they are
    ("point", "both", _POINT_4326, _POINT_4326),
    ("geometry", "both", _POINT_4326, _POINT_4326),
]


def _origins(origin: str) -> list[str]:
    return ["snapshot", "binlog"] if origin == "both" else [origin]


@pytest.mark.parametrize(
    ("column_type", "origin", "raw", "canonical"),
    [(c, o, r, e) for c, origin, r, e in CONVERSIONS for o in _origins(origin)],
)
def test_conversion(column_type, origin, raw, canonical):
    make = snapshot_converter if origin == "snapshot" else binlog_converter
    f = make(col(column_type))
    got = raw if f is None else f(raw)
    assert got == canonical and type(got) is type(canonical)


@pytest.mark.parametrize(
    ("column_type", "charset", "raw", "canonical"),
    [("varchar(5)", "ucs2", b"\x00\xe9\x20\xac", "é€"), ("varchar(5)", "utf16le", b"\xe9\x00\xac\x20", "é€")],
)
def test_binlog_bytes_of_charsets_without_a_python_codec_are_decoded(column_type, charset, raw, canonical):
    assert binlog_converter(col(column_type, charset=charset))(raw) == canonical


@pytest.mark.parametrize("origin", ["snapshot", "binlog"])
@pytest.mark.parametrize("case", MAPPING, ids=[f"{m[0]}-{m[1]}" for m in MAPPING])
def test_null_passes_through(case, origin):
    make = snapshot_converter if origin == "snapshot" else binlog_converter
    f = make(col(case[0]), tinyint1_as_boolean=case[1])
    assert f is None or f(None) is None


@pytest.mark.parametrize(
    ("column_type", "origin"),
    [
        ("int(11)", "snapshot"),
        ("int(11)", "binlog"),
        ("varchar(9)", "binlog"),
        ("time", "binlog"),
        ("double", "snapshot"),
        ("point", "snapshot"),
        ("geometry", "binlog"),
    ],
)
def test_identity_columns_have_no_converter(column_type, origin):
    make = snapshot_converter if origin == "snapshot" else binlog_converter
    assert make(col(column_type)) is None


SCHEMA = TableSchema(
    TableId("shop", "t"),
    (
        col("int(11)", name="id"),
        col("tinyint(1)", name="flag"),
        col("bit(3)", name="b"),
        col("set('x','y')", name="s"),
    ),
    ("id",),
)


def test_row_converter_both_origins():
    assert row_converter(SCHEMA, "snapshot")([1, 3, b"\x05", "x,y"]) == (1, True, 5, "x,y")
    assert row_converter(SCHEMA, "binlog")([1, 0, "101", {"y", "x"}]) == (1, False, 5, "x,y")
    assert row_converter(SCHEMA, "binlog", tinyint1_as_boolean=False)([1, 3, "000", None]) == (1, 3, 0, None)


def test_row_converter_without_conversions_still_returns_tuples():
    schema = TableSchema(TableId("d", "t"), (col("int(11)", name="a"), col("varchar(3)", name="b")))
    assert row_converter(schema, "binlog")([1, "x"]) == (1, "x")


def test_row_converter_refuses_rows_of_another_shape():
    with pytest.raises(SchemaError) as err:
        row_converter(SCHEMA, "snapshot")([1, 0])
    assert "shop.t" in str(err.value)
    with pytest.raises(ValueError):
        row_converter(SCHEMA, "backfill")


def test_binlog_values_restores_the_empty_set():
    image = {"id": 1, "flag": None, "b": "000", "s": None}
    values = binlog_values(image, {"flag": "null", "s": "empty set"}, SCHEMA.column_names)
    assert row_converter(SCHEMA, "binlog")(values) == (1, None, 0, "")
    assert binlog_values(image, None, SCHEMA.column_names) == [1, None, "000", None]
