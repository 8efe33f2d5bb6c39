"""Stream Load bodies, headers and labels for planned StarRocks tables. Pure: no server.

CSV bodies are read back with :func:`read_csv`, a reader written from the format's rules (``,`` between
fields, ``\\n`` after each row, bare ``\\N`` is NULL, ``"``-enclosed fields with ``\\`` escapes), so the
tests check what a loader would see rather than the encoder's own text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.starrocks_load import LoadFormat, choose_format, encode, load_headers, make_label
from cdc_assets.core.starrocks_types import SrTable, plan_table
from cdc_assets.errors import ConfigError, SchemaError

from .test_starrocks_types import col

UTC = dt.UTC
BIG = 64 << 20
NULL = object()  # what read_csv returns for \N


def read_csv(body: bytes) -> list[list]:
    """Rows of a CSV body as lists of str, with NULL for a bare \\N."""
    text = body.decode("utf-8")
    rows, row, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            i += 1
            out = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                out.append(text[i])
                i += 1
            value, i = "".join(out), i + 1
        else:
            j = i
            while text[j] not in ",\n":
                j += 1
            value, i = text[i:j], j
            if value == "\\N":
                value = NULL
        row.append(value)
        if text[i] == "\n":
            rows.append(row)
            row = []
        i += 1
    assert not row, "the body does not end with a row delimiter"
    return rows


def table(*columns: Column, key: tuple[str, ...] = ("id",), t1b: bool = True) -> SrTable:
    return plan_table(
        TableSchema(TableId("src", "t"), columns, key), TableId("dw", "t"), tinyint1_as_boolean=t1b
    )


def one_body(t, fmt, upserts=(), deletes=(), tz=UTC) -> bytes:
    pieces = list(encode(t, fmt, upserts, deletes, time_zone=tz, max_bytes=BIG))
    assert len(pieces) == 1
    return pieces[0][0]


def json_rows(t, upserts=(), deletes=(), tz=UTC) -> list[dict]:
    return json.loads(one_body(t, LoadFormat.JSON, upserts, deletes, tz))


def csv_rows(t, upserts=(), deletes=(), tz=UTC) -> list[list]:
    return read_csv(one_body(t, LoadFormat.CSV, upserts, deletes, tz))


# column_type, canonical value, JSON value (as json.loads returns it), CSV field text
VALUES = [
    ("tinyint(1)", True, True, "true"),
    ("tinyint(1)", False, False, "false"),
    ("bit(1)", 1, True, "true"),
    ("bit(1)", 0, False, "false"),
    ("tinyint(4)", -128, -128, "-128"),
    ("tinyint(3) unsigned", 255, 255, "255"),
    ("int(11)", -2147483648, -2147483648, "-2147483648"),
    ("bigint(20)", -(2**63), -(2**63), str(-(2**63))),
    ("bigint(20) unsigned", 2**64 - 1, 2**64 - 1, "18446744073709551615"),
    ("bit(64)", 2**64 - 1, 2**64 - 1, "18446744073709551615"),
    ("bit(10)", 513, 513, "513"),
    ("year(4)", 0, 0, "0"),
    ("float", 0.10000000149011612, 0.10000000149011612, "0.10000000149011612"),
    ("double", -1.7976931348623157e308, -1.7976931348623157e308, "-1.7976931348623157e+308"),
    ("double", 5e-324, 5e-324, "5e-324"),
    ("decimal(12,2)", Decimal("-1.5"), "-1.50", "-1.50"),
    (
        "decimal(38,10)",
        Decimal("9" * 28 + "." + "9" * 10),
        "9" * 28 + "." + "9" * 10,
        "9" * 28 + "." + "9" * 10,
    ),
    ("decimal(20,15)", Decimal("-1E-15"), "-0.000000000000001", "-0.000000000000001"),
    (
        "decimal(65,30)",
        "-" + "9" * 35 + "." + "9" * 30,
        "-" + "9" * 35 + "." + "9" * 30,
        "-" + "9" * 35 + "." + "9" * 30,
    ),
    ("date", dt.date(1000, 1, 1), "1000-01-01", "1000-01-01"),
    ("datetime", dt.datetime(2024, 2, 29, 23, 59, 59), "2024-02-29 23:59:59", "2024-02-29 23:59:59"),
    (
        "datetime(6)",
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        "9999-12-31 23:59:59.999999",
        "9999-12-31 23:59:59.999999",
    ),
    (
        "datetime(3)",
        dt.datetime(2024, 1, 2, 3, 4, 5, 120000),
        "2024-01-02 03:04:05.120000",
        "2024-01-02 03:04:05.120000",
    ),
    (
        "timestamp(6)",
        dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
        "2038-01-19 03:14:07.999999",
        "2038-01-19 03:14:07.999999",
    ),
    ("time", -dt.timedelta(hours=838, minutes=59, seconds=59), "-838:59:59", "-838:59:59"),
    (
        "time(6)",
        dt.timedelta(hours=838, minutes=59, seconds=59, microseconds=999999),
        "838:59:59.999999",
        None,
    ),
    ("time(3)", dt.timedelta(seconds=-0.5), "-00:00:00.500", None),
    ("time(2)", dt.timedelta(hours=1, minutes=2, seconds=3), "01:02:03.00", None),
    ("varchar(40)", "", "", ""),
    ("varchar(40)", "héllo 😀 𝄞", "héllo 😀 𝄞", None),
    ("varchar(40)", 'a "quoted", back\\slash', 'a "quoted", back\\slash', None),
    ("varchar(40)", "line\nbreak\r\ttab", "line\nbreak\r\ttab", None),
    ("varchar(40)", "\\N", "\\N", None),
    ("varchar(40)", "\x00\x01\x1f\x7f\u2028\u2029", "\x00\x01\x1f\x7f\u2028\u2029", None),
    ("text", "null", "null", None),
    ("enum('a','b')", "b", "b", None),
    ("set('x','y','z')", "x,z", "x,z", None),
    ("json", '{"a": [1, 2.5, "x\\"y"], "b": null}', {"a": [1, 2.5, 'x"y'], "b": None}, None),
    ("json", '"str"', "str", None),
    ("json", "[]", [], None),
]


@pytest.mark.parametrize(("column_type", "value", "as_json", "as_csv"), VALUES)
def test_json_value(column_type, value, as_json, as_csv):
    t = table(col("int(11)", name="id"), col(column_type, name="v"))
    rows = json_rows(t, [(1, value)])
    assert rows == [{"id": 1, "v": as_json, "__op": 0}]
    assert type(rows[0]["v"]) is type(as_json)


@pytest.mark.parametrize(("column_type", "value", "as_json", "as_csv"), VALUES)
def test_csv_value(column_type, value, as_json, as_csv):
    t = table(col("int(11)", name="id"), col(column_type, name="v"))
    expected = as_csv if as_csv is not None else as_json
    if column_type == "json":
        expected = value  # the JSON text itself, as a string field
    assert csv_rows(t, [(1, value)]) == [["1", expected, "0"]]


def test_json_body_bytes_are_compact_and_utf8():
    t = table(col("int(11)", name="id"), col("varchar(10)", name="v"), col("datetime", name="d"))
    body = one_body(t, LoadFormat.JSON, [(1, "é😀", dt.datetime(2024, 1, 1))], [(2,)])
    assert body == ('[{"id":2,"__op":1},{"id":1,"v":"é😀","d":"2024-01-01 00:00:00","__op":0}]').encode()


def test_csv_body_bytes():
    t = table(col("int(11)", name="id"), col("varchar(10)", name="v"), col("decimal(5,2)", name="d"))
    body = one_body(t, LoadFormat.CSV, [(1, 'a"b\\c,\n', Decimal("1.5")), (3, None, None)], [(2,)])
    assert body == b'2,\\N,\\N,1\n1,"a\\"b\\\\c,\n",1.50,0\n3,\\N,\\N,0\n'


def test_binary_values_in_csv_are_upper_case_hex():
    t = table(col("int(11)", name="id"), col("varbinary(8)", name="b"), col("binary(4)", name="c"))
    assert csv_rows(t, [(1, b"\x00\xab\xff", b"\x00\x00\x00\x01"), (2, b"", None)]) == [
        ["1", "00ABFF", "00000001", "0"],
        ["2", "", NULL, "0"],
    ]


def test_json_refuses_binary_columns():
    t = table(col("int(11)", name="id"), col("blob", name="b"))
    with pytest.raises(ConfigError, match="CSV"):
        list(encode(t, LoadFormat.JSON, [(1, b"x")], (), time_zone=UTC, max_bytes=BIG))


def test_nulls_in_every_nullable_column():
    types = [v[0] for v in VALUES] + ["blob", "geometry"]
    cols = [col("int(11)", name="id")] + [col(ct, name=f"c{i}") for i, ct in enumerate(types)]
    t = table(*cols)
    row = (7,) + (None,) * len(types)
    assert csv_rows(t, [row]) == [["7"] + [NULL] * len(types) + ["0"]]
    t = table(*cols[: len(VALUES) + 1])
    assert json_rows(t, [row[: len(VALUES) + 1]]) == [
        {"id": 7, **{f"c{i}": None for i in range(len(VALUES))}, "__op": 0}
    ]


# ------------------------------------------------------------------------------------------- keys
KEY_VALUES = [
    ("decimal(12,2)", Decimal("1.5"), "1.50"),
    ("decimal(12,2)", Decimal("-0.10"), "-0.10"),
    ("decimal(5,5)", Decimal("-0.12345"), "-0.12345"),
    ("decimal(65,30)", "1." + "0" * 30, "1." + "0" * 30),
    ("float", 0.10000000149011612, "0.10000000149011612"),
    ("double", -2.2250738585072014e-308, "-2.2250738585072014e-308"),
    ("binary(4)", b"\x00\xab\xcd\xef", "00ABCDEF"),
    ("blob", b"\xff", "FF"),
    ("time(1)", dt.timedelta(seconds=-1.5), "-00:00:01.5"),
    ("char(3)", "a😀", "a😀"),
    ("set('a','b')", "a,b", "a,b"),
]


@pytest.mark.parametrize(("column_type", "value", "text"), KEY_VALUES)
def test_key_remaps_load_their_text(column_type, value, text):
    t = table(col(column_type, name="id"), col("int(11)", name="v"))
    assert t.columns[0].type_sql.startswith("VARCHAR")
    assert json_rows(t, [(value, 1)], [(value,)]) == [
        {"id": text, "__op": 1},
        {"id": text, "v": 1, "__op": 0},
    ]
    assert csv_rows(t, [(value, 1)], [(value,)]) == [[text, NULL, "1"], [text, "1", "0"]]
    fitted = int(re.search(r"\d+", t.columns[0].type_sql).group(0))
    assert len(text.encode()) <= fitted


def test_deletes_come_first_in_key_order_and_carry_only_the_key():
    t = table(col("varchar(5)", name="v"), col("int(11)", name="b"), col("date", name="a"), key=("a", "b"))
    ups = [("x", 1, dt.date(2024, 1, 1))]
    dels = [(dt.date(2023, 5, 6), 9)]
    assert json_rows(t, ups, dels) == [
        {"a": "2023-05-06", "b": 9, "__op": 1},
        {"a": "2024-01-01", "b": 1, "v": "x", "__op": 0},
    ]
    assert csv_rows(t, ups, dels) == [["2023-05-06", "9", NULL, "1"], ["2024-01-01", "1", "x", "0"]]


@pytest.mark.parametrize(
    ("tz", "wall"),
    [
        (UTC, "2024-07-01 12:00:00.250000"),
        (ZoneInfo("UTC"), "2024-07-01 12:00:00.250000"),
        (ZoneInfo("Asia/Shanghai"), "2024-07-01 20:00:00.250000"),
        (dt.timezone(dt.timedelta(hours=-5, minutes=-30)), "2024-07-01 06:30:00.250000"),
        (ZoneInfo("America/New_York"), "2024-07-01 08:00:00.250000"),  # EDT, -4
    ],
)
def test_timestamps_are_shown_in_the_load_time_zone(tz, wall):
    t = table(col("int(11)", name="id"), col("timestamp(3)", name="ts"), col("datetime(3)", name="d"))
    instant = dt.datetime(2024, 7, 1, 12, 0, 0, 250000, tzinfo=UTC)
    naive = dt.datetime(2024, 7, 1, 12, 0, 0, 250000)
    # DATETIME is wall-clock time already: it never moves
    assert json_rows(t, [(1, instant, naive)], tz=tz)[0]["ts"] == wall
    assert json_rows(t, [(1, instant, naive)], tz=tz)[0]["d"] == "2024-07-01 12:00:00.250000"
    assert csv_rows(t, [(1, instant, naive)], tz=tz)[0][1] == wall


def test_timestamp_key_in_winter_time():
    t = table(col("timestamp", name="id"))
    v = dt.datetime(2024, 1, 15, 5, 0, tzinfo=UTC)
    assert json_rows(t, [(v,)], tz=ZoneInfo("America/New_York")) == [{"id": "2024-01-15 00:00:00", "__op": 0}]


# ------------------------------------------------------------------------------------- key checks
def test_key_size_at_the_limit_loads_and_over_it_is_refused():
    t = table(col("bigint(20)", name="a"), col("varchar(100)", name="b"), key=("a", "b"))
    ok = [(1, "x" * 120)]  # 8 + 120 = 128
    assert len(json_rows(t, ok)) == 1
    with pytest.raises(SchemaError) as err:
        list(encode(t, LoadFormat.JSON, [(1, "x" * 121)], (), time_zone=UTC, max_bytes=BIG))
    msg = str(err.value)
    assert "dw.t" in msg and "129 bytes" in msg and "(a, b)" in msg and "xxx" in msg
    assert err.value.context["key_bytes"] == 129


def test_key_size_counts_utf8_bytes():
    t = table(col("varchar(40)", name="id"))
    assert len(csv_rows(t, [("😀" * 32,)])) == 1  # 128 bytes
    for fmt in LoadFormat:
        with pytest.raises(SchemaError, match="129 bytes"):
            list(encode(t, fmt, [("😀" * 32 + "x",)], (), time_zone=UTC, max_bytes=BIG))
        with pytest.raises(SchemaError, match="132 bytes"):
            list(encode(t, fmt, (), [("😀" * 33,)], time_zone=UTC, max_bytes=BIG))


def test_key_size_of_remapped_keys_counts_their_text():
    t = table(col("varbinary(100)", name="id"))
    assert len(json_rows(t, [(b"\x01" * 64,)])) == 1  # 128 hex characters
    with pytest.raises(SchemaError, match="130 bytes"):
        json_rows(t, [(b"\x01" * 65,)])


def test_null_key_is_refused():
    t = table(col("date", name="id"), col("int(11)", name="v"))
    for fmt in LoadFormat:
        with pytest.raises(SchemaError, match=r"NULL in key column id \(date\)"):
            list(encode(t, fmt, [(None, 1)], (), time_zone=UTC, max_bytes=BIG))
        with pytest.raises(SchemaError, match="NULL in key column id"):
            list(encode(t, fmt, (), [(None,)], time_zone=UTC, max_bytes=BIG))


def test_value_wider_than_its_starrocks_column_is_refused():
    t = table(col("int(11)", name="id"), col("mediumtext", name="body"), col("longblob", name="b"))
    limit = 1048576
    ok = [(1, "a" * limit, b"\x00" * limit), (2, "😀" * (limit // 4), None)]
    assert [n for _, n in encode(t, LoadFormat.CSV, ok, (), time_zone=UTC, max_bytes=BIG)] == [2]
    for row, column, size in [
        ((3, "a" * (limit + 1), None), "body", limit + 1),
        ((4, "😀" * (limit // 4) + "é", None), "body", limit + 2),
        ((5, None, b"\x00" * (limit + 1)), "b", limit + 1),
    ]:
        with pytest.raises(SchemaError) as err:
            list(encode(t, LoadFormat.CSV, [row], (), time_zone=UTC, max_bytes=BIG))
        msg = str(err.value)
        assert f"column {column} of dw.t is {size} bytes" in msg and f"(id) = ({row[0]},)" in msg


def test_row_of_the_wrong_width_is_refused():
    t = table(col("int(11)", name="id"), col("int(11)", name="v"))
    for fmt in LoadFormat:
        with pytest.raises(SchemaError, match="has 3 values but 2"):
            list(encode(t, fmt, [(1, 2, 3)], (), time_zone=UTC, max_bytes=BIG))
        with pytest.raises(SchemaError, match="has 2 values but 1"):
            list(encode(t, fmt, (), [(1, 2)], time_zone=UTC, max_bytes=BIG))


# -------------------------------------------------------------------------------------- splitting
@pytest.mark.parametrize("fmt", list(LoadFormat))
@pytest.mark.parametrize("max_bytes", [1, 40, 100, 333, 10_000])
def test_pieces_respect_max_bytes_and_keep_every_row_in_order(fmt, max_bytes):
    t = table(col("int(11)", name="id"), col("varchar(40)", name="v"))
    ups = [(i, "é" * (i % 7) + str(i)) for i in range(50)]
    dels = [(i,) for i in range(100, 110)]
    pieces = list(encode(t, fmt, ups, dels, time_zone=UTC, max_bytes=max_bytes))
    whole = one_body(t, fmt, ups, dels)
    parse = json.loads if fmt is LoadFormat.JSON else read_csv
    rows = []
    for body, n in pieces:
        assert n >= 1
        assert len(body) <= max_bytes or n == 1
        got = parse(body)
        assert len(got) == n
        rows += got
    assert rows == parse(whole) and len(rows) == 60
    if max_bytes >= len(whole):
        assert [b for b, _ in pieces] == [whole]


def test_pieces_are_as_full_as_max_bytes_allows():
    t = table(col("int(11)", name="id"))
    row = len(b'{"id":1,"__op":0}')
    pieces = list(
        encode(t, LoadFormat.JSON, [(i,) for i in range(1, 10)], (), time_zone=UTC, max_bytes=2 + 3 * row + 2)
    )
    assert [n for _, n in pieces] == [3, 3, 3]
    assert all(len(b) == 2 + 3 * row + 2 for b, _ in pieces)


def test_no_rows_no_pieces():
    t = table(col("int(11)", name="id"))
    assert list(encode(t, LoadFormat.JSON, [], [], time_zone=UTC, max_bytes=10)) == []
    with pytest.raises(ValueError):
        list(encode(t, LoadFormat.JSON, [(1,)], [], time_zone=UTC, max_bytes=0))


# ------------------------------------------------------------------------------ format and headers
BIN = table(col("int(11)", name="id"), col("varbinary(4)", name="b"))
PLAIN = table(col("int(11)", name="id"), col("varchar(4)", name="we`ird, name"))


def test_choose_format():
    assert choose_format(PLAIN, {}) is LoadFormat.JSON
    assert choose_format(PLAIN, {"format": "json"}) is LoadFormat.JSON
    assert choose_format(PLAIN, {"format": "csv"}) is LoadFormat.CSV
    assert choose_format(PLAIN, {"FORMAT": "CSV"}) is LoadFormat.CSV
    assert choose_format(BIN, {}) is LoadFormat.CSV
    assert choose_format(BIN, {"format": "json"}) is LoadFormat.CSV
    with pytest.raises(ConfigError, match="json or csv"):
        choose_format(PLAIN, {"format": "gzip"})


def test_json_headers():
    assert load_headers(PLAIN, LoadFormat.JSON, {}) == {
        "format": "json",
        "strip_outer_array": "true",
        "ignore_json_size": "true",
        "strict_mode": "true",  # a value StarRocks cannot convert fails the load instead of loading NULL
    }
    merged = load_headers(
        PLAIN, LoadFormat.JSON, {"timeout": "60", "ignore_json_size": "false", "format": "json"}
    )
    assert merged == {
        "format": "json",
        "strip_outer_array": "true",
        "ignore_json_size": "false",
        "strict_mode": "true",
        "timeout": "60",
    }


def test_csv_headers():
    assert load_headers(PLAIN, LoadFormat.CSV, {"max_filter_ratio": "0"}) == {
        "format": "csv",
        "columns": "`id`,`we``ird, name`,__op",
        "column_separator": ",",
        "enclose": '"',
        "escape": "\\",
        "strict_mode": "true",
        "max_filter_ratio": "0",
    }
    # spellings of the same layout are accepted
    same = {"row_delimiter": "\\n", "column_separator": "\\x2C", "enclose": '"', "skip_header": "0"}
    assert load_headers(BIN, LoadFormat.CSV, same)["columns"] == "`id`,`b`,__op"


@pytest.mark.parametrize(
    ("t", "fmt", "props", "fragment"),
    [
        (PLAIN, LoadFormat.JSON, {"columns": "id,__op"}, "sink.properties.columns"),
        (PLAIN, LoadFormat.CSV, {"Columns": "id"}, "sink.properties.Columns"),
        (PLAIN, LoadFormat.JSON, {"label": "x"}, "sink.properties.label"),
        (PLAIN, LoadFormat.JSON, {"jsonpaths": "[]"}, "jsonpaths"),
        (PLAIN, LoadFormat.JSON, {"strip_outer_array": "false"}, "strip_outer_array"),
        (PLAIN, LoadFormat.JSON, {"format": "csv"}, "sink.properties.format"),
        (BIN, LoadFormat.CSV, {"format": "json"}, "VARBINARY"),
        (BIN, LoadFormat.JSON, {}, "VARBINARY"),
        (BIN, LoadFormat.CSV, {"column_separator": "\\t"}, "column_separator"),
        (BIN, LoadFormat.CSV, {"row_delimiter": "\\r\\n"}, "row_delimiter"),
        (BIN, LoadFormat.CSV, {"enclose": "'"}, "enclose"),
        (BIN, LoadFormat.CSV, {"trim_space": "true"}, "trim_space"),
    ],
)
def test_headers_refuse_user_properties_that_break_the_body(t, fmt, props, fragment):
    with pytest.raises(ConfigError) as err:
        load_headers(t, fmt, props)
    assert fragment in str(err.value)


# ----------------------------------------------------------------------------------------- labels
LABEL = re.compile(r"^[-\w]{1,128}$", re.ASCII)


def test_label_is_deterministic_and_readable():
    label = make_label("cdc", TableId("shop", "orders"), "000042")
    assert label == "cdc-orders-000042" == make_label("cdc", TableId("shop", "orders"), "000042")
    assert LABEL.match(label)
    assert make_label("cdc", TableId("shop", "orders"), "000043") != label


def test_label_replaces_other_characters_and_keeps_names_apart():
    a = make_label("cdc", TableId("shop", "a.b"), "1")
    b = make_label("cdc", TableId("shop", "a_b"), "1")
    c = make_label("cdc", TableId("shop", "größe"), "1")
    assert b == "cdc-a_b-1" and a != b
    assert a.startswith("cdc-a_b-1-") and c.startswith("cdc-gr__e-1-")
    digest = hashlib.sha1(b"cdc-a.b-1").hexdigest()[:16]
    assert a == f"cdc-a_b-1-{digest}"
    for label in (a, c):
        assert LABEL.match(label)


def test_long_label_is_cut_to_128_with_a_hash():
    long = make_label("p", TableId("d", "t" * 300), "9")
    other = make_label("p", TableId("d", "t" * 300), "8")
    assert len(long) == 128 and LABEL.match(long) and long != other
    assert long.startswith("p-ttt") and re.search(r"-[0-9a-f]{16}$", long)
    assert long == make_label("p", TableId("d", "t" * 300), "9")
    assert len(make_label("p", TableId("d", "t" * 122), "9")) == 126  # fits: kept as is
