"""Writing a snapshot chunk from a canonical Arrow table: ``encode_arrow`` gives the bytes ``encode`` gives
for the same rows (pure, property-style over seeded random values of every ``SrColumn.kind``), and both
sinks' ``upsert_arrow`` leave the table ``upsert`` leaves (a real DuckDB file; the StarRocks stand-in)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import struct
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.starrocks_arrow import encode_arrow, fallback_reason
from cdc_assets.core.starrocks_load import LoadFormat, choose_format, encode
from cdc_assets.core.starrocks_types import KINDS, plan_table
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.errors import ConfigError, SchemaError

from .test_starrocks_sink import make_sink, state  # noqa: F401 - the state fixture
from .test_starrocks_types import col

UTC = dt.UTC
BIG = 1 << 40

# ------------------------------------------------------------------------------- random canonical values
#: characters that need escaping in JSON or CSV, multi-byte ones, and plain ones
ALPHABET = list("ab Z09,;:'\"\\/\t\n\r\b\f\x00\x01\x1b\x1f\x7fé€😀𝄞\u2028\u2029{}[]") + ["\\N", "null"]
STRINGS = [
    "",
    'a "quoted", back\\slash',
    "line\nbreak\r\ttab",
    "\\N",
    "".join(chr(i) for i in range(0x20)) + "\x7f\u2028",
    "héllo 😀 𝄞",
    "null",
]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
#: offset changes: New York DST 2024, Lord Howe's half-hour DST, Monrovia's -0:44:30 -> 0 in 1972
TRANSITIONS = [
    dt.datetime(2024, 3, 10, 7, tzinfo=UTC),
    dt.datetime(2024, 11, 3, 6, tzinfo=UTC),
    dt.datetime(2024, 4, 6, 15, tzinfo=UTC),
    dt.datetime(2024, 10, 5, 15, 30, tzinfo=UTC),
    dt.datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC),
    dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
    dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
]


def _text(rnd: random.Random) -> str:
    if rnd.random() < 0.2:
        return rnd.choice(STRINGS)
    return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 12)))


def _double(rnd: random.Random) -> float:
    pick = rnd.random()
    if pick < 0.25:
        while True:
            v = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
            if v == v and abs(v) != float("inf"):
                return v
    if pick < 0.5:
        return round(rnd.uniform(-1e6, 1e6), rnd.randint(0, 6))
    if pick < 0.7:
        return float(rnd.randint(-(10**18), 10**18) // 10 ** rnd.randint(0, 18))
    if pick < 0.8:
        return rnd.choice([0.0, -0.0, 1e16, 1e15, 1e-4, 1e-5, 5e-324, 1.7976931348623157e308, 0.1, 2.0**53])
    return rnd.uniform(-1, 1) * 10.0 ** rnd.randint(-30, 30)


def _float(rnd: random.Random) -> float:
    """A float32 value, widened (the canonical FLOAT)."""
    if rnd.random() < 0.5:
        return struct.unpack("<f", struct.pack("<f", rnd.uniform(-1e6, 1e6)))[0]
    while True:
        v = struct.unpack("<f", struct.pack("<I", rnd.getrandbits(32)))[0]
        if v == v and abs(v) != float("inf"):
            return v


def _decimal(rnd: random.Random, p: int, s: int) -> Decimal:
    digits = rnd.randint(1, p)
    return Decimal(rnd.choice([1, -1]) * rnd.randint(0, 10**digits - 1)).scaleb(-s)


def _time(rnd: random.Random) -> dt.timedelta:
    limit = 838 * 3600 + 59 * 60 + 59
    if rnd.random() < 0.2:
        return dt.timedelta(
            seconds=rnd.choice([0, 1, -1, limit, -limit]), microseconds=rnd.choice([0, 500000])
        )
    return dt.timedelta(microseconds=rnd.randint(-limit * 10**6, limit * 10**6))


def _timestamp(rnd: random.Random) -> dt.datetime:
    if rnd.random() < 0.3:
        base = rnd.choice(TRANSITIONS)
        return base + dt.timedelta(microseconds=rnd.choice([-1, 0, 1]))
    seconds = rnd.randint(1, 2**31 - 1)
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=rnd.choice([0, rnd.randint(0, 999999)]))


def _datetime(rnd: random.Random) -> dt.datetime:
    day = dt.date(1000, 1, 1) + dt.timedelta(days=rnd.randint(0, 3_287_181))
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(
        seconds=rnd.randint(0, 86399), microseconds=rnd.choice([0, rnd.randint(0, 999999)])
    )


def _json(rnd: random.Random) -> str:
    doc = {"s": _text(rnd), "n": rnd.randint(-5, 5), "f": 2.5, "l": [None, True, _text(rnd)]}
    return json.dumps(doc, ensure_ascii=rnd.random() < 0.5)


GENERATORS = {
    "tinyint(1)": lambda r: r.random() < 0.5,
    "bit(1)": lambda r: r.randint(0, 1),
    "tinyint(4)": lambda r: r.randint(-128, 127),
    "tinyint(3) unsigned": lambda r: r.randint(0, 255),
    "smallint(6)": lambda r: r.randint(-(2**15), 2**15 - 1),
    "mediumint(8) unsigned": lambda r: r.randint(0, 2**24 - 1),
    "int(11)": lambda r: r.randint(-(2**31), 2**31 - 1),
    "bigint(20)": lambda r: r.randint(-(2**63), 2**63 - 1),
    "bigint(20) unsigned": lambda r: r.randint(0, 2**64 - 1),
    "bit(10)": lambda r: r.randint(0, 1023),
    "bit(64)": lambda r: r.randint(0, 2**64 - 1),
    "year(4)": lambda r: r.choice([0, 1901, 2155, r.randint(1901, 2155)]),
    "float": _float,
    "double": _double,
    "decimal(12,2)": lambda r: _decimal(r, 12, 2),
    "decimal(38,30)": lambda r: _decimal(r, 38, 30),
    "decimal(20,15)": lambda r: _decimal(r, 20, 15),
    "decimal(5,5)": lambda r: _decimal(r, 5, 5),
    "decimal(10,0)": lambda r: _decimal(r, 10, 0),
    "decimal(65,30)": lambda r: format(_decimal(r, 65, 30), "f"),
    "date": lambda r: dt.date(1000, 1, 1) + dt.timedelta(days=r.randint(0, 3_287_181)),
    "datetime": lambda r: _datetime(r).replace(microsecond=0),
    "datetime(6)": _datetime,
    "timestamp(6)": _timestamp,
    "time": lambda r: dt.timedelta(seconds=_time(r) // dt.timedelta(seconds=1)),
    "time(3)": _time,
    "time(6)": _time,
    "varchar(40)": _text,
    "text": _text,
    "enum('a','b')": lambda r: r.choice(["a", "b"]),
    "set('x','y','z')": lambda r: r.choice(["", "x", "x,z", "x,y,z"]),
    "json": _json,
    "varbinary(16)": lambda r: r.randbytes(r.randint(0, 16)),
    "binary(4)": lambda r: r.randbytes(4),
    "blob": lambda r: r.randbytes(r.randint(0, 40)),
    "geometry": lambda r: b"\x00\x00\x00\x00" + r.randbytes(21),
}
BINARY_TYPES = ("varbinary(16)", "binary(4)", "blob", "geometry")
TEXT_TYPES = [ct for ct in GENERATORS if ct not in BINARY_TYPES]


def schema_of(key: list[str], values: list[str], *, table: str = "t") -> TableSchema:
    """Key columns k0.. then value columns c0.. of the given types (columns are listed values first, so
    that source order differs from the planned order)."""
    cols = [col(ct, name=f"c{i}") for i, ct in enumerate(values)]
    cols += [dataclasses.replace(col(ct, name=f"k{i}"), nullable=False) for i, ct in enumerate(key)]
    return TableSchema(TableId("src", table), tuple(cols), tuple(f"k{i}" for i in range(len(key))))


def random_rows(schema: TableSchema, n: int, seed: int, *, null_share: float = 0.2) -> list[tuple]:
    rnd = random.Random(seed)
    keys = set(schema.primary_key)
    rows, seen = [], set()
    while len(rows) < n:
        row = tuple(
            None if c.name not in keys and rnd.random() < null_share else GENERATORS[c.column_type](rnd)
            for c in schema.columns
        )
        key = tuple(row[i] for i in schema.key_positions)
        if key not in seen:  # unique keys, so that the sinks can hold every row
            seen.add(key)
            rows.append(row)
    return rows


def arrow_chunk(schema: TableSchema, rows: list[tuple], *, tinyint1_as_boolean: bool = True) -> pa.Table:
    """The canonical table the chunk reader yields: ``DuckDBSink.to_arrow`` (no file is opened)."""
    return DuckDBSink("unused.duckdb", tinyint1_as_boolean=tinyint1_as_boolean).to_arrow(schema, rows)


def table_rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(c.to_pylist() for c in table.columns), strict=True))


def assert_same_bodies(schema, rows, fmt=None, tz=UTC, *, t1b=True, sr_t1b=True, sizes=(1, 300, 4000, BIG)):
    t = plan_table(schema, TableId("dw", "t"), tinyint1_as_boolean=sr_t1b)
    table = arrow_chunk(schema, rows, tinyint1_as_boolean=t1b)
    fmt = fmt or choose_format(t, {})
    assert fallback_reason(t, fmt, table, time_zone=tz) is None  # the vectorized path, not the fallback
    canonical = table_rows(table)
    assert canonical == rows  # the table holds exactly the rows' values
    for max_bytes in sizes:
        want = list(encode(t, fmt, canonical, (), time_zone=tz, max_bytes=max_bytes))
        got = list(encode_arrow(t, fmt, table, time_zone=tz, max_bytes=max_bytes))
        assert len(got) == len(want)
        for (g, gn), (w, wn) in zip(got, want, strict=True):
            assert gn == wn
            assert g == w, _first_difference(g, w)
    return t


def _first_difference(got: bytes, want: bytes) -> str:
    i = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
    return f"at byte {i}: got {got[max(0, i - 60) : i + 60]!r}, want {want[max(0, i - 60) : i + 60]!r}"


# ------------------------------------------------------------------------------------- encode_arrow
WIDE_TEXT = schema_of(["int(11)"], TEXT_TYPES, table="wide_text")
WIDE_BINARY = schema_of(["int(11)"], list(GENERATORS), table="wide_binary")
REMAP_KEYS = schema_of(["decimal(12,2)", "double", "varbinary(16)", "time(3)", "float"], ["int(11)", "text"])
LONG_KEY = schema_of(["bigint(20)", "varchar(40)", "decimal(65,30)"], ["double"])  # key may exceed 128 bytes
LONG_REMAP_KEY = schema_of(["double", "varbinary(100)", "time(6)"], ["int(11)"])  # 24 + 200 + 17 bytes
TIMESTAMP_KEY = schema_of(["timestamp(6)", "date"], ["timestamp(6)", "datetime(6)"])


def test_the_tables_cover_every_kind():
    kinds = set()
    for schema in (WIDE_BINARY, REMAP_KEYS, LONG_KEY, TIMESTAMP_KEY):
        kinds |= {c.kind for c in plan_table(schema, TableId("dw", "t")).columns}
    assert kinds == KINDS


@pytest.mark.parametrize("fmt", list(LoadFormat))
def test_every_text_kind_with_nulls_in_both_formats(fmt):
    assert_same_bodies(WIDE_TEXT, random_rows(WIDE_TEXT, 400, seed=1), fmt)


def test_binary_columns_in_csv():
    t = assert_same_bodies(WIDE_BINARY, random_rows(WIDE_BINARY, 300, seed=2))
    assert choose_format(t, {}) is LoadFormat.CSV


def test_a_column_of_nulls_only_and_of_no_nulls():
    assert_same_bodies(WIDE_BINARY, random_rows(WIDE_BINARY, 30, seed=3, null_share=1.0))
    assert_same_bodies(WIDE_BINARY, random_rows(WIDE_BINARY, 30, seed=4, null_share=0.0))


@pytest.mark.parametrize("fmt", list(LoadFormat))
def test_key_remaps(fmt):
    assert_same_bodies(REMAP_KEYS, random_rows(REMAP_KEYS, 300, seed=5), fmt)


@pytest.mark.parametrize("fmt", list(LoadFormat))
def test_keys_that_may_exceed_128_bytes_but_do_not(fmt):
    rows = [(1.5, i, f"k{i}😀", format(Decimal(i).scaleb(-30), "f")) for i in range(50)]
    assert_same_bodies(LONG_KEY, rows, fmt)
    rnd = random.Random(11)
    rows = [(i, rnd.uniform(-1e9, 1e9), rnd.randbytes(i % 40), _time(rnd)) for i in range(50)]
    assert_same_bodies(LONG_REMAP_KEY, rows, fmt)


ZONES = [
    UTC,
    ZoneInfo("UTC"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("Africa/Monrovia"),
    dt.timezone(dt.timedelta(hours=-5, minutes=-30)),
]


@pytest.mark.parametrize("tz", ZONES, ids=str)
@pytest.mark.parametrize("fmt", list(LoadFormat))
def test_timestamps_in_the_load_time_zone(fmt, tz):
    assert_same_bodies(TIMESTAMP_KEY, random_rows(TIMESTAMP_KEY, 300, seed=6), fmt, tz, sizes=(BIG,))


@pytest.mark.parametrize(("t1b", "sr_t1b"), [(True, False), (False, True)])
def test_tinyint1_read_one_way_and_planned_the_other(t1b, sr_t1b):
    schema = schema_of(["int(11)"], ["tinyint(1)", "bit(1)"])
    ints, bits = [None, 1, 0, -5, 127], [None, 1, 0, 1, 0]
    # the canonical TINYINT(1) value is a bool when the chunk was read with tinyint1-as-boolean
    rows = [
        (v if v is None or not t1b else v != 0, b, i) for i, (v, b) in enumerate(zip(ints, bits, strict=True))
    ]
    assert_same_bodies(schema, rows, LoadFormat.JSON, t1b=t1b, sr_t1b=sr_t1b)


@pytest.mark.parametrize("fmt", list(LoadFormat))
@pytest.mark.parametrize("max_bytes", [1, 2, 57, 58, 59, 200, 1000])
def test_pieces_split_where_encode_splits(fmt, max_bytes):
    schema = schema_of(["int(11)"], ["varchar(40)"])
    rows = [("é" * (i % 7) + "x" * (i % 13), i) for i in range(120)]
    assert_same_bodies(schema, rows, fmt, sizes=(max_bytes,))


def test_a_chunk_table_with_several_arrow_chunks():
    schema = WIDE_BINARY
    rows = random_rows(schema, 90, seed=7)
    whole = arrow_chunk(schema, rows)
    chunked = pa.concat_tables([whole.slice(0, 31), whole.slice(31, 1), whole.slice(32)])
    assert chunked.column(0).num_chunks == 3
    t = plan_table(schema, TableId("dw", "t"))
    assert fallback_reason(t, LoadFormat.CSV, chunked, time_zone=UTC) is None
    for max_bytes in (500, BIG):
        assert list(encode_arrow(t, LoadFormat.CSV, chunked, time_zone=UTC, max_bytes=max_bytes)) == list(
            encode(t, LoadFormat.CSV, rows, (), time_zone=UTC, max_bytes=max_bytes)
        )


# ------------------------------------------------------------------------------------------- fallback
def _both(t, fmt, table, tz=UTC):
    """(encode's outcome, encode_arrow's outcome): the pieces, or the error's type and message."""
    out = []
    for run in (
        lambda: list(encode(t, fmt, table_rows(table), (), time_zone=tz, max_bytes=BIG)),
        lambda: list(encode_arrow(t, fmt, table, time_zone=tz, max_bytes=BIG)),
    ):
        try:
            out.append(run())
        except Exception as e:  # the same error is the expected outcome of several cases
            out.append((type(e), str(e)))
    return out


@pytest.mark.parametrize(
    ("key", "values", "rows", "fmt", "reason", "error"),
    [
        (["date"], ["int(11)"], [(1, None)], LoadFormat.JSON, "holds NULL", SchemaError),
        (["bigint(20)", "varchar(100)"], [], [(1, "x" * 121)], LoadFormat.CSV, "over 128", SchemaError),
        (["double", "varbinary(100)"], [], [(1.5, b"\x01" * 63)], LoadFormat.JSON, "over 128", SchemaError),
        (["int(11)"], ["mediumtext"], [("a" * (1048576 + 1), 1)], LoadFormat.CSV, "exceeds", SchemaError),
        (["int(11)"], ["blob"], [(b"x", 1)], LoadFormat.JSON, "VARBINARY", ConfigError),
        (["int(11)"], ["double"], [(float("nan"), 1), (float("-inf"), 2)], LoadFormat.JSON, "NaN", None),
    ],
)
def test_tables_that_need_an_error_or_another_text_fall_back_to_encode(key, values, rows, fmt, reason, error):
    schema = schema_of(key, values)
    t = plan_table(schema, TableId("dw", "t"))
    table = arrow_chunk(schema, rows)
    assert reason in fallback_reason(t, fmt, table, time_zone=UTC)
    expected, got = _both(t, fmt, table)
    assert got == expected
    if error is not None:
        assert got[0] is error


def test_an_unexpected_arrow_type_falls_back_to_encode():
    schema = schema_of(["int(11)"], ["decimal(12,2)", "datetime(6)"])
    t = plan_table(schema, TableId("dw", "t"))
    table = pa.table(
        {
            "c0": pa.array([Decimal("1.5"), None], pa.decimal128(12, 1)),  # another scale
            "c1": pa.array([dt.datetime(2024, 1, 1, 1, 2, 3, 4000), None], pa.timestamp("ms")),
            "k0": pa.array([1, 2], pa.int64()),
        }
    )
    assert "scale" in fallback_reason(t, LoadFormat.JSON, table, time_zone=UTC)
    expected, got = _both(t, LoadFormat.JSON, table)
    assert got == expected and b'"1.50"' in got[0][0]


def test_a_table_with_other_columns_is_refused():
    schema = schema_of(["int(11)"], ["int(11)"])
    t = plan_table(schema, TableId("dw", "t"))
    table = pa.table({"k0": [1], "c0": [2]})  # planned source order is c0, k0
    with pytest.raises(SchemaError, match=r"has columns \['k0', 'c0'\].*restart the pipeline"):
        list(encode_arrow(t, LoadFormat.JSON, table, time_zone=UTC, max_bytes=BIG))


def test_no_rows_no_pieces_and_max_bytes_is_checked():
    schema = schema_of(["int(11)"], ["int(11)"])
    t = plan_table(schema, TableId("dw", "t"))
    empty = arrow_chunk(schema, [])
    assert list(encode_arrow(t, LoadFormat.JSON, empty, time_zone=UTC, max_bytes=10)) == []
    binary = schema_of(["int(11)"], ["blob"])
    with pytest.raises(ConfigError, match="CSV"):  # as encode() refuses it, rows or not
        list(
            encode_arrow(
                plan_table(binary, TableId("dw", "t")),
                LoadFormat.JSON,
                arrow_chunk(binary, []),
                time_zone=UTC,
                max_bytes=10,
            )
        )
    with pytest.raises(ValueError, match="max_bytes"):
        list(encode_arrow(t, LoadFormat.JSON, arrow_chunk(schema, [(1, 2)]), time_zone=UTC, max_bytes=0))


# ---------------------------------------------------------------------------------------------- DuckDB
def test_duckdb_upsert_arrow_leaves_the_rows_upsert_leaves(tmp_path):
    sink = DuckDBSink(tmp_path / "w.duckdb")
    schema = WIDE_BINARY
    by_rows, by_arrow = TableId("s", "by_rows"), TableId("s", "by_arrow")
    first = random_rows(schema, 200, seed=8)
    # half of the keys again with other values, and new keys: the second write replaces and adds
    second = [
        r[:-1] + (first[i][-1] if i < 100 else -(10**6) - i,)
        for i, r in enumerate(random_rows(schema, 150, seed=9))
    ]
    for target in (by_rows, by_arrow):
        sink.ensure_table(target, schema)
    assert sink.upsert(by_rows, schema, first) == 200
    assert sink.upsert_arrow(by_arrow, schema, sink.to_arrow(schema, first), tag="c0") == 200
    assert sink.upsert(by_rows, schema, second) == 150
    assert sink.upsert_arrow(by_arrow, schema, sink.to_arrow(schema, second), tag="c1") == 150
    got = sink.fetch_all(by_arrow, schema)
    assert got == sink.fetch_all(by_rows, schema)
    final = {r[-1]: r for r in first} | {r[-1]: r for r in second}  # the key is the last column
    assert got == [final[k] for k in sorted(final)]
    assert len(got) == 250 and sink.row_count(by_arrow) == 250
    assert sink.upsert_arrow(by_arrow, schema, sink.to_arrow(schema, []), tag="c2") == 0


def test_duckdb_upsert_arrow_casts_a_table_of_other_types_and_refuses_other_columns(tmp_path):
    sink = DuckDBSink(tmp_path / "w.duckdb")
    schema = TableSchema(
        TableId("s", "t"),
        (Column("id", "int", "int(11)", nullable=False), Column("v", "varchar", "varchar(5)")),
        ("id",),
    )
    target = schema.table_id
    sink.ensure_table(target, schema)
    assert sink.upsert_arrow(target, schema, pa.table({"id": [1, 2], "v": ["a", None]})) == 2  # int64, string
    assert sink.upsert_arrow(target, schema, pa.table({"id": [2], "v": ["b"]})) == 1
    assert sink.fetch_all(target, schema) == [(1, "a"), (2, "b")]
    with pytest.raises(SchemaError, match=r"has columns \['v', 'id'\]"):
        sink.upsert_arrow(target, schema, pa.table({"v": ["x"], "id": [3]}))
    with pytest.raises(SchemaError, match="do not convert"):
        sink.upsert_arrow(target, schema, pa.table({"id": ["not a number"], "v": ["x"]}))
    assert sink.fetch_all(target, schema) == [(1, "a"), (2, "b")]


# ------------------------------------------------------------------------------------------- StarRocks
@pytest.mark.parametrize("transactions", [True, False], ids=["transaction-stream-load", "stream-load"])
@pytest.mark.parametrize("schema", [WIDE_BINARY, REMAP_KEYS], ids=["csv", "json-remapped-keys"])
def test_starrocks_upsert_arrow_leaves_the_rows_upsert_leaves(standin, state, schema, transactions):  # noqa: F811
    sink = make_sink(standin, state, use_transaction_stream_load=transactions, buffer_flush_max_bytes=3000)
    db = f"sra_{uuid.uuid4().hex[:10]}"
    by_rows, by_arrow = TableId(db, "by_rows"), TableId(db, "by_arrow")
    rows = random_rows(schema, 60, seed=10)
    table = arrow_chunk(schema, rows)
    plan = sink.plan(by_arrow, schema)
    fmt = choose_format(plan, {})
    assert fallback_reason(plan, fmt, table, time_zone=sink.time_zone) is None
    assert len(list(encode_arrow(plan, fmt, table, time_zone=UTC, max_bytes=3000))) > 2  # several pieces
    try:
        for target in (by_rows, by_arrow):
            sink.ensure_table(target, schema)
        assert sink.upsert(by_rows, schema, table_rows(table), tag="c0") == 60
        assert sink.upsert_arrow(by_arrow, schema, table, tag="c0") == 60
        got = sink.fetch_all(by_arrow, schema)
        assert len(got) == 60 and got == sink.fetch_all(by_rows, schema)
    finally:
        sink.close()


def test_starrocks_upsert_arrow_uses_the_labels_upsert_uses(standin, state):  # noqa: F811
    """The same chunk written again under the same tag is recognised by its label, whichever path wrote it."""
    schema = schema_of(["int(11)"], ["varchar(40)"])
    sink = make_sink(standin, state)
    target = TableId(f"sra_{uuid.uuid4().hex[:10]}", "t")
    try:
        sink.ensure_table(target, schema)
        sink.upsert(target, schema, [("first", 1)], tag="c0-a1")
        # another value under the same label is not loaded again: the label deduplicated it
        sink.upsert_arrow(target, schema, arrow_chunk(schema, [("changed", 1)]), tag="c0-a1")
        assert sink.fetch_all(target, schema) == [("first", 1)]
        sink.upsert_arrow(target, schema, arrow_chunk(schema, [("changed", 1)]), tag="c0-a2")
        assert sink.fetch_all(target, schema) == [("changed", 1)]
        assert state.sink_txns_open() == []
    finally:
        sink.close()
