"""Snapshot chunks as CSV by Arrow's writer (core/starrocks_csv.py): the stand-in reads the CSV bodies to
exactly the values it reads from the bodies the sink sent before (JSON, or escaped CSV for binary tables),
for every SrColumn.kind, both by its exact per-row path and by its fast path; chunks whose text would be
ambiguous in StarRocks' CSV reader are declined (and the sink writes them as before); pieces; headers;
and the sink's upsert_arrow over HTTP."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlglot

from cdc_assets.core.schema import TableId
from cdc_assets.core.starrocks_arrow import encode_arrow
from cdc_assets.core.starrocks_csv import csv_bodies, csv_layout_allowed, csv_unsafe_reason
from cdc_assets.core.starrocks_load import LoadFormat, choose_format, load_headers
from cdc_assets.core.starrocks_types import KINDS, create_table_sql, plan_table
from cdc_assets.errors import ConfigError
from cdc_assets.standin import loads
from cdc_assets.standin.ddl import analyze_create_table

from .test_arrow_write import (
    BIG,
    GENERATORS,
    REMAP_KEYS,
    TIMESTAMP_KEY,
    arrow_chunk,
    random_rows,
    schema_of,
    table_rows,
)
from .test_starrocks_sink import make_sink, state  # noqa: F401 - the state fixture

UTC = dt.UTC
#: every type but JSON (whose documents hold quotes), values first, as test_arrow_write's wide table
CSV_TYPES = [ct for ct in GENERATORS if ct != "json"]
WIDE = schema_of(["int(11)"], CSV_TYPES, table="wide")


def _clean(v: object) -> object:
    """A string value written as CSV: no double quote, no NUL, not the text \\N."""
    if not isinstance(v, str):
        return v
    v = v.replace('"', "'").replace("\x00", "0")
    return "\\n" if v == "\\N" else v


def clean_rows(schema, n: int, seed: int) -> list[tuple]:
    return [tuple(_clean(v) for v in row) for row in random_rows(schema, n, seed)]


def _meta(t):
    sql = create_table_sql(t, num_buckets=None, properties={"replication_num": "1"})
    meta, _ = analyze_create_table(
        sqlglot.parse_one(sql, read="starrocks"), t.target.db, default_replication_num=1
    )
    return meta


def _read(meta, headers: dict[str, str], bodies: list[bytes], *, fast: bool) -> loads.LoadBatch:
    """The bodies as one transaction's loads, read by the stand-in (as ``txns.py`` runs them)."""
    plan = loads.plan_load(headers, loads.check_header_phase(headers, 0), meta)
    stream, batch = loads.CsvStream(), loads.LoadBatch()
    for body in bodies:
        batch.extend(loads.execute_plan(plan, body, stream, final=False, fast=fast))
    if stream.tail:
        batch.extend(loads.execute_plan(plan, b"", stream, final=True, fast=fast))
    return batch


def _same_values(got: loads.LoadBatch, want: loads.LoadBatch) -> None:
    assert (got.total_rows, got.filtered_rows, got.error_lines) == (want.total_rows, 0, [])
    for n, (g, w) in enumerate(zip(got.ops(), want.ops(), strict=True)):
        assert g[0] == w[0] == 0, n
        for col in w[1]:
            gv, wv = g[1][col], w[1][col]
            assert (type(gv), gv) == (type(wv), wv), (n, col, gv, wv)


def _check_chunk(schema, rows, tz=UTC, max_bytes=BIG):
    """The chunk's CSV bodies and the bodies the sink sent before read to the same values, both ways."""
    t = plan_table(schema, TableId("dw", "t"))
    table = arrow_chunk(schema, rows)
    assert csv_unsafe_reason(t, table, time_zone=tz) is None
    pieces = csv_bodies(t, table, time_zone=tz, max_bytes=max_bytes)
    assert pieces is not None and sum(n for _, n in pieces) == len(rows)
    fmt = choose_format(t, {})
    before = [b for b, _ in encode_arrow(t, fmt, table, time_zone=tz, max_bytes=BIG)]
    meta = _meta(t)
    want = _read(meta, load_headers(t, fmt, {}), before, fast=False)
    assert want.filtered_rows == 0, want.error_lines
    headers = load_headers(t, LoadFormat.CSV, {}, doubled_quotes=True)
    exact = _read(meta, headers, [b for b, _ in pieces], fast=False)
    _same_values(exact, want)
    fast = _read(meta, headers, [b for b, _ in pieces], fast=True)
    _same_values(fast, want)
    return t, pieces, fast


def test_the_tables_cover_every_kind():
    kinds = set()
    for schema in (WIDE, REMAP_KEYS, TIMESTAMP_KEY):
        kinds |= {c.kind for c in plan_table(schema, TableId("dw", "t")).columns}
    assert kinds == KINDS - {"json"}


def test_every_kind_reads_back_as_the_values_the_sink_sent_before():
    rows = clean_rows(WIDE, 300, seed=1)
    _, pieces, fast = _check_chunk(WIDE, rows)
    assert len(pieces) == 1 and b"\r" in pieces[0][0]
    assert all(isinstance(p, list) for p in fast.parts)  # a CR: the stand-in's fast path leaves it
    no_cr = [tuple(v.replace("\r", " ") if isinstance(v, str) else v for v in r) for r in rows]
    _, _, fast = _check_chunk(WIDE, no_cr)
    assert all(not isinstance(p, list) for p in fast.parts), "the stand-in read the chunk the exact way"


@pytest.mark.parametrize("schema", [REMAP_KEYS, TIMESTAMP_KEY], ids=["remapped-keys", "timestamp-key"])
@pytest.mark.parametrize(
    "tz", [UTC, ZoneInfo("America/New_York"), dt.timezone(dt.timedelta(hours=5, minutes=45))]
)
def test_keys_and_timestamps_in_the_load_time_zone(schema, tz):
    _check_chunk(schema, clean_rows(schema, 120, seed=2), tz=tz)


STRINGS = [
    "",
    " ",
    "a,b",
    "x\ny",
    "tab\tand, comma\n",
    "back\\slash",
    "\\",
    "\\n",
    "a\\N",
    "\\N ",
    "N",
    "null",
    "NULL",
    "'single'",
    "ünï 😀 中文",
    "\x01\x1f\x7f",
    "\u2028",
]


def test_strings_with_separators_newlines_and_backslashes_keep_null_and_empty_apart():
    schema = schema_of(["int(11)"], ["varchar(40)", "text"])
    rows = [(s, None, i) for i, s in enumerate(STRINGS)] + [(None, s, 100 + i) for i, s in enumerate(STRINGS)]
    _, pieces, fast = _check_chunk(schema, rows)
    values = {(op[1]["k0"]): (op[1]["c0"], op[1]["c1"]) for op in fast.ops()}
    assert values[0] == ("", None) and values[100] == (None, "")
    assert values[len(STRINGS) - 1] == ("\u2028", None)
    body = pieces[0][0]
    assert body.startswith(b'0,"",\\N\n') and b'\n100,\\N,""\n' in body  # empty enclosed, NULL bare


@pytest.mark.parametrize("max_bytes", [1, 200, 1500, 10_000])
def test_pieces_hold_whole_rows_in_order_within_max_bytes(max_bytes):
    schema = schema_of(["bigint(20)"], ["varchar(40)", "double", "datetime(6)"])
    rows = clean_rows(schema, 200, seed=3)
    t, pieces, _ = _check_chunk(schema, rows, max_bytes=max_bytes)
    whole = csv_bodies(t, arrow_chunk(schema, rows), time_zone=UTC, max_bytes=BIG)
    assert whole is not None and len(whole) == 1
    assert b"".join(b for b, _ in pieces) == whole[0][0]
    assert all(b.endswith(b"\n") for b, _ in pieces)  # StarRocks: every record ends with the delimiter
    assert all(len(b) <= max_bytes or n == 1 for b, n in pieces)
    if max_bytes == 1:
        assert [n for _, n in pieces] == [1] * 200
    if max_bytes >= 1500:
        assert len(pieces) < 200 and all(len(b) > max_bytes / 3 for b, _ in pieces[:-1])


@pytest.mark.parametrize(
    ("values", "row", "reason"),
    [
        (["varchar(40)"], ('say "hi"',), "double quote"),
        (["text"], ("a\x00b",), "NUL"),
        (["varchar(40)"], ("\\N",), "\\N"),
        (["json"], ("[1, 2]",), "JSON"),
        (["double"], (float("nan"),), "NaN"),
        (["float"], (float("inf"),), "NaN"),
    ],
)
def test_chunks_with_ambiguous_texts_are_declined(values, row, reason):
    schema = schema_of(["int(11)"], values)
    t = plan_table(schema, TableId("dw", "t"))
    table = arrow_chunk(schema, [(*row, 1), (None, 2)])
    assert reason in csv_unsafe_reason(t, table, time_zone=UTC)
    assert csv_bodies(t, table, time_zone=UTC, max_bytes=BIG) is None


def test_chunks_that_need_an_error_are_declined_so_the_sink_raises_it():
    schema = schema_of(["date"], ["int(11)"])
    t = plan_table(schema, TableId("dw", "t"))
    assert "NULL" in csv_unsafe_reason(t, arrow_chunk(schema, [(1, None)]), time_zone=UTC)
    assert csv_bodies(t, arrow_chunk(schema, []), time_zone=UTC, max_bytes=BIG) == []
    with pytest.raises(ValueError, match="max_bytes"):
        csv_bodies(t, arrow_chunk(schema, [(1, dt.date(2024, 1, 1))]), time_zone=UTC, max_bytes=0)


def test_decimals_of_a_large_scale_are_written_without_exponents():
    schema = schema_of(["int(11)"], ["decimal(20,10)", "decimal(12,2)"])
    t = plan_table(schema, TableId("dw", "t"))
    rows = [(Decimal("0E-10"), Decimal("0.00"), 1), (Decimal("-1E-10"), Decimal("-0.01"), 2)]
    pieces = csv_bodies(t, arrow_chunk(schema, rows), time_zone=UTC, max_bytes=BIG)
    assert pieces is not None
    assert pieces[0][0] == b'1,"0.0000000000",0.00\n2,"-0.0000000001",-0.01\n'
    _check_chunk(schema, rows)


def test_headers_of_the_doubled_quote_layout():
    t = plan_table(schema_of(["int(11)"], ["varchar(4)"]), TableId("dw", "t"))
    h = load_headers(t, LoadFormat.CSV, {"max_filter_ratio": "0.1"}, doubled_quotes=True)
    assert h == {
        "format": "csv",
        "columns": "`k0`,`c0`",  # no __op: every row an upsert
        "column_separator": ",",
        "enclose": '"',
        "strict_mode": "true",
        "max_filter_ratio": "0.1",
    }
    with pytest.raises(ConfigError, match="no escape"):
        load_headers(t, LoadFormat.CSV, {"escape": "\\"}, doubled_quotes=True)
    assert csv_layout_allowed({"max_filter_ratio": "0.1", "timeout": "60", "format": "CSV"})
    assert not csv_layout_allowed({"FORMAT": "json"})
    for key in ("column_separator", "Enclose", "escape", "row_delimiter", "skip_header", "trim_space"):
        assert not csv_layout_allowed({key: "x"})
    assert load_headers(t, LoadFormat.CSV, {"format": "csv"}, doubled_quotes=True)["format"] == "csv"


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction-stream-load", "stream-load"])
def test_starrocks_upsert_arrow_as_csv_leaves_the_rows_upsert_leaves(standin, state, transactions):  # noqa: F811
    sink = make_sink(standin, state, use_transaction_stream_load=transactions, buffer_flush_max_bytes=4000)
    db = f"src_{uuid.uuid4().hex[:10]}"
    by_rows, by_arrow = TableId(db, "by_rows"), TableId(db, "by_arrow")
    rows = clean_rows(WIDE, 80, seed=4)
    table = arrow_chunk(WIDE, rows)
    plan = sink.plan(by_arrow, WIDE)
    pieces = csv_bodies(plan, table, time_zone=sink.time_zone, max_bytes=4000)
    assert pieces is not None and len(pieces) > 2  # several pieces, as CSV
    try:
        for target in (by_rows, by_arrow):
            sink.ensure_table(target, WIDE)
        assert sink.upsert(by_rows, WIDE, table_rows(table), tag="c0") == 80
        assert sink.upsert_arrow(by_arrow, WIDE, table, tag="c0") == 80
        got = sink.fetch_all(by_arrow, WIDE)
        assert len(got) == 80 and got == sink.fetch_all(by_rows, WIDE)
        # a chunk the CSV layout cannot carry is written as before, and replaces the rows of its keys
        quoted = list(rows[:5])
        text = f"c{CSV_TYPES.index('varchar(40)')}"
        quoted[0] = tuple(
            'say "hi"' if c.name == text else v for c, v in zip(WIDE.columns, quoted[0], strict=True)
        )
        assert csv_bodies(plan, arrow_chunk(WIDE, quoted), time_zone=sink.time_zone, max_bytes=BIG) is None
        sink.upsert(by_rows, WIDE, quoted, tag="c1")
        sink.upsert_arrow(by_arrow, WIDE, arrow_chunk(WIDE, quoted), tag="c1")
        assert sink.fetch_all(by_arrow, WIDE) == sink.fetch_all(by_rows, WIDE)
    finally:
        sink.close()


def test_random_text_values_round_trip_as_csv():
    """Random texts of every printable and control character except the three declined ones."""
    rnd = random.Random(5)
    alphabet = [chr(c) for c in range(1, 128) if chr(c) != '"'] + ["é", "😀", "\u2028", "\\N"]
    schema = schema_of(["int(11)"], ["text", "varchar(40)"])
    rows = []
    for i in range(300):
        a = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20)))
        b = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 10)))
        rows.append((_clean(a), None if i % 7 == 0 else _clean(b), i))
    _check_chunk(schema, rows)


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction-stream-load", "stream-load"])
def test_a_stream_write_that_deletes_nothing_goes_as_csv_and_one_with_deletes_as_before(
    standin,
    state,  # noqa: F811
    transactions,
):
    """``apply_batch`` with an Arrow table of upserts and no deletes (the streaming column path) takes the
    CSV bodies of a snapshot chunk; with deletes, or a value CSV cannot carry, the rows go as before. Each
    write leaves the rows the row-by-row ``upsert`` / ``apply_batch`` leave."""
    sink = make_sink(standin, state, use_transaction_stream_load=transactions, buffer_flush_max_bytes=4000)
    db = f"src_{uuid.uuid4().hex[:10]}"
    by_rows, by_arrow = TableId(db, "by_rows"), TableId(db, "by_arrow")
    rows = clean_rows(WIDE, 60, seed=7)
    table = arrow_chunk(WIDE, rows)
    plan = sink.plan(by_arrow, WIDE)
    assert csv_bodies(plan, table, time_zone=sink.time_zone, max_bytes=4000) is not None
    try:
        for target in (by_rows, by_arrow):
            sink.ensure_table(target, WIDE)
        sink.apply_batch([(by_rows, WIDE, [], table_rows(table))], tag="b1")
        sink.apply_batch([(by_arrow, WIDE, [], table)], tag="b1")
        assert len(sink.fetch_all(by_arrow, WIDE)) == 60
        assert sink.fetch_all(by_arrow, WIDE) == sink.fetch_all(by_rows, WIDE)
        # deletes beside the upserts: one write, as before (CSV bodies carry no __op)
        keys = [tuple(r[i] for i in WIDE.key_positions) for r in rows[:10]]
        later = arrow_chunk(WIDE, rows[10:20])
        sink.apply_batch([(by_rows, WIDE, keys, table_rows(later))], tag="b2")
        sink.apply_batch([(by_arrow, WIDE, keys, later)], tag="b2")
        # a value CSV cannot carry (a double quote): written as before
        text = f"c{CSV_TYPES.index('varchar(40)')}"
        quoted = [
            tuple('say "hi"' if c.name == text else v for c, v in zip(WIDE.columns, rows[30], strict=True))
        ]
        assert csv_bodies(plan, arrow_chunk(WIDE, quoted), time_zone=sink.time_zone, max_bytes=BIG) is None
        sink.apply_batch([(by_rows, WIDE, [], quoted)], tag="b3")
        sink.apply_batch([(by_arrow, WIDE, [], arrow_chunk(WIDE, quoted))], tag="b3")
        got = sink.fetch_all(by_arrow, WIDE)
        assert len(got) == 50 and got == sink.fetch_all(by_rows, WIDE)
    finally:
        sink.close()
