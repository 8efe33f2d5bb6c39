"""The stand-in's fast path for CSV Stream Load bodies (cdc_assets/standin/fastcsv.py) against its exact
per-row path: the same rows, value by value and in the store, for clean bodies over every type; the exact
path's answer (filtered rows, error lines, whole-load errors) for every body the fast path must not take;
random bodies of separators, quotes, backslashes and line ends, whole and cut into transaction loads; and
over HTTP, the answers to bad CSV stay StarRocks' (filtered rows, ErrorURL, max_filter_ratio)."""

from __future__ import annotations

import random

import pytest
import requests

from cdc_assets.standin import StandIn, fastcsv, loads
from cdc_assets.standin.catalog import ColumnMeta, SrType, TableMeta
from cdc_assets.standin.store import StandInStore

from .test_standin_fastload import _TYPES, _meta, _store_rows, stores  # noqa: F401 - the stores fixture

NAMES = [n for n, *_ in _TYPES]
#: the headers the sink sends with the CSV bodies of core/starrocks_csv.py
CSV_HEADERS = {
    "format": "csv",
    "columns": ",".join(f"`{n}`" for n in NAMES) + ",__op",
    "column_separator": ",",
    "enclose": '"',
    "strict_mode": "true",
}


class Q(str):
    """A field written enclosed in double quotes (quotes inside doubled)."""


NULL = None


def _field(v: str | None, sep: str = ",", quote: str = '"') -> str:
    if v is None:
        return "\\N"
    if isinstance(v, Q):
        return quote + v.replace(quote, quote * 2) + quote
    return v


def _line(values: dict[str, str | None], sep: str = ",", quote: str = '"') -> str:
    return sep.join(_field(values.get(n), sep, quote) for n in [*NAMES, "__op"]) + "\n"


def _row(key: int, k2: str, /, **over: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {"id": str(key), "k2": Q(k2), "nn": str(key), "__op": "0"}
    row.update(over)
    return row


def _body(rows: list[dict[str, str | None]], **layout: str) -> bytes:
    return "".join(_line(r, **layout) for r in rows).encode()


def _plan(headers: dict[str, str] | None = None) -> loads.LoadPlan:
    h = headers or CSV_HEADERS
    return loads.plan_load(h, loads.check_header_phase(h, 0), _meta())


# every value in the text the sink's CSV writer gives it (and a few more spellings the exact path reads
# the same way); every row is clean
CLEAN_ROWS = [
    _row(
        1,
        "k1",
        ti="-128",
        si="32767",
        i="-2147483648",
        bi="9223372036854775807",
        li="-9223372036854775808",
        b="true",
        f="1.5",
        d="-0",
        dec="12345678.99",
        dec38=Q("1234567890123456789012345678.0123456789"),
        dec0="999999999999999999",
        dt="2024-02-29",
        ts="2024-02-29 23:59:59.999999",
        c=Q(""),
        v=Q("tab\there\n"),
        s=Q("ünïcødé 😀 中文"),
    ),
    _row(
        2,
        "k2",
        li="18446744073709551615",
        b="false",
        f="3.4e+38",
        d="1e+308",
        dec="-0.01",
        dec38=Q("-0.0000000001"),
        dec0="-42",
        dt="0001-01-01",
        ts="9999-12-31 00:00:00.100000",
        c=Q("a,b"),
        v=Q("back\\slash"),
        s=Q("\\N"),  # enclosed: the text, not NULL
        j=Q('{"b": [1, 2.5], "a": "x"}'),
    ),
    _row(
        3,
        "k0",
        f="0.10000000149011612",
        d="2.2250738585072014e-308",
        dec="5",
        dec38="12.5",
        ts="1970-01-01 00:00:00.000000",
        s=Q(""),
        v=NULL,
        c=Q('say "hi"'),
        j=Q('[1, "two", 3.0]'),
    ),
    _row(4, "k1", s=Q('line\nbreak, and a "quote"'), v=Q("a\\Nb"), j="7", dec="0", d="123"),
    _row(1, "k1", i="99", s=Q("the same key again: last one wins")),
    {**_row(2, "k2"), "__op": "1"},  # a delete
    _row(5, "k2", __op=NULL),  # __op NULL: an upsert
    {"id": "6", "k2": Q(""), "nn": "0", "__op": "0"},  # an empty key string; every other column NULL
]


def _assert_same_ops(fast: loads.LoadBatch, exact: loads.LoadBatch) -> None:
    assert (fast.total_rows, fast.filtered_rows, fast.error_lines) == (exact.total_rows, 0, [])
    fast_ops, exact_ops = fast.ops(), exact.ops()
    assert len(fast_ops) == len(exact_ops)
    for n, (f, e) in enumerate(zip(fast_ops, exact_ops, strict=True)):
        assert f[0] == e[0], n
        assert f[1].keys() == e[1].keys(), n
        for col in e[1]:
            fv, ev = f[1][col], e[1][col]
            assert (type(fv), fv) == (type(ev), ev), (n, col, fv, ev)
            if isinstance(ev, float):
                assert repr(fv) == repr(ev), (n, col)  # -0.0 stays -0.0


def test_fast_path_takes_a_clean_body_and_yields_the_exact_paths_values(
    stores: tuple[StandInStore, StandInStore],  # noqa: F811
) -> None:
    plan = _plan()
    body = _body(CLEAN_ROWS)
    fast = loads.execute_plan(plan, body)
    exact = loads.execute_plan(plan, body, fast=False)
    assert exact.filtered_rows == 0, exact.error_lines
    assert len(fast.parts) == 1 and not isinstance(fast.parts[0], list), "the clean body went the exact way"
    _assert_same_ops(fast, exact)
    fast_store, exact_store = stores
    fast_store.apply_parts("fl", "t", fast.parts)
    exact_store.apply_load("fl", "t", exact.ops())
    got = _store_rows(fast_store)
    assert got == _store_rows(exact_store)
    assert (2, "k2") not in {(r[0], r[1]) for r in got}
    assert {(r[0], r[1]): r for r in got}[(1, "k1")][4] == 99


@pytest.mark.parametrize(
    ("sep", "quote"),
    [("\t", '"'), ("|", "'"), (";", '"')],
    ids=["tab", "pipe-single-quote", "semicolon"],
)
def test_other_separators_and_enclose_characters_take_the_fast_path(sep: str, quote: str) -> None:
    headers = {**CSV_HEADERS, "column_separator": sep, "enclose": quote}
    if sep == "\t":
        headers.pop("column_separator")  # StarRocks' default
    plan = _plan(headers)
    body = _body(CLEAN_ROWS, sep=sep, quote=quote)
    fast = loads.execute_plan(plan, body)
    assert not isinstance(fast.parts[0], list)
    _assert_same_ops(fast, loads.execute_plan(plan, body, fast=False))


def test_without_enclose_a_quote_is_text_on_both_paths() -> None:
    headers = {k: v for k, v in CSV_HEADERS.items() if k != "enclose"}
    body = b'1,"k1",' + b",".join([b"\\N"] * 17) + b',1,0\n2,k"2,' + b",".join([b"\\N"] * 17) + b",2,0\n"
    plan = _plan(headers)
    fast = loads.execute_plan(plan, body)
    assert not isinstance(fast.parts[0], list)
    _assert_same_ops(fast, loads.execute_plan(plan, body, fast=False))
    assert [row["k2"] for _, row in fast.ops()] == ['"k1"', 'k"2']


def _outcome(plan: loads.LoadPlan, body: bytes, *, fast: bool) -> tuple:
    try:
        b = loads.execute_plan(plan, body, fast=fast)
        return (b.total_rows, b.filtered_rows, b.error_lines, b.ops())
    except loads.LoadError as e:
        return (e.code, e.message)


_CLEAN = CLEAN_ROWS[0]
OFF_BODIES: dict[str, bytes] = {
    "string too long": _body([{**_CLEAN, "v": Q("x" * 13)}]),
    "multi-byte string too long": _body([{**_CLEAN, "v": Q("é" * 7)}]),
    "int with a plus sign": _body([{**_CLEAN, "i": "+12"}]),
    "int in hex": _body([{**_CLEAN, "i": "0x10"}]),
    "int with a leading zero": _body([{**_CLEAN, "i": "012"}]),
    "int with a space": _body([{**_CLEAN, "i": " 12"}]),
    "int enclosed": _body([{**_CLEAN, "i": Q("12 ")}]),
    "int out of range": _body([{**_CLEAN, "ti": "128"}]),
    "int as a fraction": _body([{**_CLEAN, "i": "1.0"}]),
    "largeint too large": _body([{**_CLEAN, "li": "1" + "0" * 38}]),
    "largeint below its range": _body([{**_CLEAN, "li": str(-(2**127))}]),
    "largeint above its range": _body([{**_CLEAN, "li": str(2**127)}]),
    "largeint negative zero": _body([{**_CLEAN, "li": "-0"}]),
    "boolean as 1": _body([{**_CLEAN, "b": "1"}]),
    "boolean in capitals": _body([{**_CLEAN, "b": "TRUE"}]),
    "double with a capital E": _body([{**_CLEAN, "d": "1E5"}]),
    "double not in its shortest form": _body([{**_CLEAN, "d": "0.10000000000000001"}]),
    "double NaN": _body([{**_CLEAN, "d": "nan"}]),
    "double infinity": _body([{**_CLEAN, "d": "inf"}]),
    "double out of range": _body([{**_CLEAN, "d": "1e999"}]),
    "double with underscores": _body([{**_CLEAN, "d": "1_000"}]),
    "decimal that needs rounding": _body([{**_CLEAN, "dec": "1.005"}]),
    "decimal out of range": _body([{**_CLEAN, "dec": "123456789.00"}]),
    "decimal with an exponent": _body([{**_CLEAN, "dec": "1e2"}]),
    "decimal with a plus sign": _body([{**_CLEAN, "dec": "+1.25"}]),
    "decimal with a space": _body([{**_CLEAN, "dec": " 1.25"}]),
    "date with a time": _body([{**_CLEAN, "dt": "2024-01-01 10:00:00"}]),
    "date in year 0000": _body([{**_CLEAN, "dt": "0000-01-01"}]),
    "date with one-digit month": _body([{**_CLEAN, "dt": "2024-1-01"}]),
    "bad day": _body([{**_CLEAN, "dt": "2023-02-29"}]),
    "compact date": _body([{**_CLEAN, "ts": "20240101"}]),
    "datetime without fraction": _body([{**_CLEAN, "ts": "2024-01-01 10:00:00"}]),
    "datetime with 7 fraction digits": _body([{**_CLEAN, "ts": "2024-01-01 10:00:00.1234567"}]),
    "datetime with a T": _body([{**_CLEAN, "ts": "2024-01-01T10:00:00.000000"}]),
    "datetime with a zone": _body([{**_CLEAN, "ts": "2024-01-01 10:00:00.000000Z"}]),
    "datetime hour 24": _body([{**_CLEAN, "ts": "2024-01-01 24:00:00.000000"}]),
    "datetime in year 0000": _body([{**_CLEAN, "ts": "0000-01-01 00:00:00.000000"}]),
    "NULL in a NOT NULL column": _body([{**_CLEAN, "nn": NULL}]),
    "NULL key": _body([{**_CLEAN, "k2": NULL}]),
    "bad JSON": _body([{**_CLEAN, "j": Q("{")}]),
    "bad __op": _body([{**_CLEAN, "__op": "2"}]),
    "__op with a space": _body([{**_CLEAN, "__op": " 1"}]),
    "too few fields": _body([_CLEAN]).replace(b",0\n", b"\n"),
    "too many fields": _body([_CLEAN]).replace(b",0\n", b",0,0\n"),
    "a bad row among good ones": _body(CLEAN_ROWS[:3]) + b"1,2\n" + _body(CLEAN_ROWS[3:]),
    "unterminated enclosure": _body([_CLEAN]) + b'7,"k1,' + b",".join([b"\\N"] * 17) + b",7,0\n",
    "CRLF line ends": _body([_CLEAN, CLEAN_ROWS[1]]).replace(b"\n", b"\r\n"),
    "a carriage return in a value": _body([{**_CLEAN, "v": Q("a\rb")}]),
    "a byte order mark": b"\xef\xbb\xbf" + _body([_CLEAN]),
    "a NUL byte": _body([{**_CLEAN, "v": Q("a\x00b")}]),
    "invalid UTF-8": _body([_CLEAN]).replace(b"tab", b"t\xffb"),
    "empty body": b"",
    "only empty lines": b"\n\n",
}


@pytest.mark.parametrize("name", sorted(OFF_BODIES))
def test_an_off_body_goes_the_exact_way(name: str) -> None:
    plan = _plan()
    body = OFF_BODIES[name]
    assert fastcsv.fast_csv_rows(plan, body, final=True) is None
    assert _outcome(plan, body, fast=True) == _outcome(plan, body, fast=False)


@pytest.mark.parametrize(
    "headers",
    [
        {"escape": "\\"},
        {"skip_header": "1"},
        {"trim_space": "true"},
        {"column_separator": "||"},
        {"column_separator": "\\x01\\x02"},
        {"row_delimiter": "\\x02"},
        {"enclose": ","},
        {"column_separator": "N"},
    ],
    ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()),
)
def test_reader_options_the_fast_path_does_not_read_go_the_exact_way(headers: dict[str, str]) -> None:
    plan = _plan({**CSV_HEADERS, **headers})
    sep = plan.column_separator
    body = (
        _body(CLEAN_ROWS[:4]).replace(b",", sep.encode("latin-1")).replace(b"\n", plan.row_delimiter.encode())
    )
    assert fastcsv.fast_csv_rows(plan, body, final=True) is None
    assert _outcome(plan, body, fast=True) == _outcome(plan, body, fast=False)


# ------------------------------------------------------------------------- random bodies, whole and cut
_FUZZ_META = TableMeta(
    "fz",
    "t",
    [
        ColumnMeta("k", SrType.parse("VARCHAR(64)"), False, True),
        ColumnMeta("a", SrType.parse("VARCHAR(64)"), True, False),
        ColumnMeta("b", SrType.parse("VARCHAR(16)"), True, False),
    ],
    ["k"],
    ["k"],
    1,
    {},
)
_FUZZ_HEADERS = {"format": "csv", "column_separator": ",", "enclose": '"'}
#: the characters that matter to a CSV reader, and some that do not
_FUZZ_ALPHABET = [",", '"', '"', "\n", "\\", "N", "\\N", " ", "a", "b", "é", "x,y", '""', "\r"]


def _fuzz_body(rnd: random.Random) -> bytes:
    chars = _FUZZ_ALPHABET if rnd.random() < 0.2 else _FUZZ_ALPHABET[:-1]  # most without \r
    if rnd.random() < 0.5:  # mostly well-formed lines with odd values, so that the fast path runs often
        lines = []
        for _ in range(rnd.randint(1, 4)):
            fields = []
            for _ in range(3 if rnd.random() < 0.9 else rnd.randint(1, 4)):
                text = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 4)))
                r = rnd.random()
                fields.append("\\N" if r < 0.15 else '"' + text.replace('"', '""') + '"' if r < 0.7 else text)
            lines.append(",".join(fields))
        return ("\n".join(lines) + ("\n" if rnd.random() < 0.9 else "")).encode()
    return "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 30))).encode()


def _batch_outcome(run) -> tuple:
    try:
        b = run()
        return (b.total_rows, b.filtered_rows, b.error_lines, b.ops())
    except loads.LoadError as e:
        return (e.code, e.message)


def _as_transaction(plan: loads.LoadPlan, pieces: list[bytes], fast: bool) -> loads.LoadBatch:
    """The loads of one transaction, as ``txns.py`` runs them: one CSV stream, then the end of the data."""
    stream, batch = loads.CsvStream(), loads.LoadBatch()
    for piece in pieces:
        batch.extend(loads.execute_plan(plan, piece, stream, final=False, fast=fast))
    if stream.tail:
        batch.extend(loads.execute_plan(plan, b"", stream, final=True, fast=fast))
    return batch


def test_random_bodies_read_the_same_on_both_paths() -> None:
    plan = loads.plan_load(_FUZZ_HEADERS, loads.check_header_phase(_FUZZ_HEADERS, 0), _FUZZ_META)
    rnd = random.Random(20261121)
    taken = 0
    for _ in range(2000):
        body = _fuzz_body(rnd)
        taken += fastcsv.fast_csv_rows(plan, body, final=True) is not None
        whole = [
            _batch_outcome(lambda f=f, b=body: loads.execute_plan(plan, b, fast=f)) for f in (True, False)
        ]
        assert whole[0] == whole[1], body
        cuts = sorted(rnd.sample(range(len(body) + 1), min(len(body) + 1, rnd.randint(0, 3))))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        split = [_batch_outcome(lambda f=f, p=pieces: _as_transaction(plan, p, f)) for f in (True, False)]
        assert split[0] == split[1], (body, cuts)
    assert taken > 250  # the fast path did read a good share of them


# ---------------------------------------------------------------------------------------- over HTTP
def _put(sr: StandIn, table: str, body: bytes, label: str, **extra: str) -> dict:
    url = f"http://{sr.load_url}/api/fl/{table}/_stream_load"
    headers = {**CSV_HEADERS, "label": label, "Expect": "100-continue", **extra}
    first = requests.put(url, headers=headers, auth=("root", ""), allow_redirects=False)
    return requests.put(first.headers["Location"], data=body, headers=headers, auth=("root", "")).json()


def test_bad_csv_over_http_is_answered_as_starrocks_answers_it() -> None:
    """A large clean body loads by the fast path; one bad record in it makes the load StarRocks' failure
    (too many filtered rows, with the error log behind ErrorURL), or, allowed by max_filter_ratio, a success
    that counts the filtered row."""
    good = _body([_row(i, f"k{i}", s=Q(f"value {i}, with a comma")) for i in range(1, 2001)])
    bad = good + b"9999,only two fields\n"
    with StandIn() as sr:
        assert sr.store is not None
        sr.store.create_database("fl")
        for name in ("t", "u", "w"):
            sr.store.create_table(_meta(name))
        ok = _put(sr, "t", good, "csv-good")
        assert (ok["Status"], ok["NumberLoadedRows"], ok["NumberFilteredRows"]) == ("Success", 2000, 0)
        assert "ErrorURL" not in ok
        failed = _put(sr, "u", bad, "csv-bad")
        assert (failed["Status"], failed["Message"]) == ("Fail", "too many filtered rows")
        assert (failed["NumberTotalRows"], failed["NumberFilteredRows"]) == (2001, 1)
        log = requests.get(failed["ErrorURL"]).text
        assert (
            "Value count does not match column count. Expect 21, but got 2. Row: 9999,only two fields" in log
        )
        allowed = _put(sr, "w", bad, "csv-ratio", max_filter_ratio="0.01")
        assert (allowed["Status"], allowed["NumberLoadedRows"], allowed["NumberFilteredRows"]) == (
            "Success",
            2000,
            1,
        )
        assert "ErrorURL" in allowed
        _, counts = sr.store.query(
            "SELECT (SELECT count(*) FROM fl.t), (SELECT count(*) FROM fl.u), (SELECT count(*) FROM fl.w)"
        )
        assert counts == [(2000, 0, 2000)]


@pytest.mark.parametrize("key_type", ["BIGINT", "LARGEINT", "VARCHAR(20)", "DATE"])
def test_fast_parts_of_later_loads_replace_the_rows_of_their_keys(key_type: str) -> None:
    """A second load over keys already stored replaces those rows (the delete runs) and adds the new ones;
    a load into a key range of its own adds its rows (no delete needed), with every key type."""
    meta = TableMeta(
        "fk",
        "t",
        [
            ColumnMeta("k", SrType.parse(key_type), False, True),
            ColumnMeta("v", SrType.parse("VARCHAR(20)"), True, False),
        ],
        ["k"],
        ["k"],
        1,
        {},
    )
    headers = {"format": "csv", "column_separator": ",", "enclose": '"'}
    plan = loads.plan_load(headers, loads.check_header_phase(headers, 0), meta)

    def key(i: int) -> str:
        if key_type == "DATE":
            return f"2024-01-{i:02d}"
        return (
            f'"k{i:03d}"' if key_type.startswith("VARCHAR") else str(i if key_type == "BIGINT" else 2**64 + i)
        )

    loads_ = [
        [(i, "first") for i in range(1, 11)],  # an empty table
        [(i, "own range") for i in range(21, 26)],  # keys above every stored one
        [(i, "second") for i in (5, 6, 7, 15, 28)],  # stored keys, and new ones between and after them
    ]
    pair = (StandInStore(), StandInStore())
    try:
        for store in pair:
            store.create_database("fk")
            store.create_table(meta)
        for rows in loads_:
            body = "".join(f'{key(i)},"{v}"\n' for i, v in rows).encode()
            fast = loads.execute_plan(plan, body)
            assert not isinstance(fast.parts[0], list)
            pair[0].apply_parts("fk", "t", fast.parts)
            pair[1].apply_load("fk", "t", loads.execute_plan(plan, body, fast=False).ops())
        got = [s.query(f"SELECT k, v FROM {s.table_ref('fk', 't')} ORDER BY k")[1] for s in pair]
    finally:
        for store in pair:
            store.close()
    assert got[0] == got[1]
    assert len(got[0]) == 10 + 5 + 2
    assert [v for _, v in got[0]].count("second") == 5 and [v for _, v in got[0]].count("first") == 7
