"""The stand-in's fast path for JSON Stream Load bodies (cdc_assets/standin/fastload.py) against its exact
per-row path: the same rows, value by value and in the store, for clean bodies over every type the sink
maps to; and the exact path's answer (filtered rows, error lines, whole-load errors) whenever a body has
anything the fast path does not take as it is."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pymysql
import pytest
import requests

from cdc_assets.standin import StandIn, fastload, loads
from cdc_assets.standin.catalog import ColumnMeta, SrType, TableMeta
from cdc_assets.standin.store import StandInStore

SINK_HEADERS = {
    "format": "json",
    "strip_outer_array": "true",
    "ignore_json_size": "true",
    "strict_mode": "true",
}

_TYPES = [
    ("id", "BIGINT", False, True),
    ("k2", "VARCHAR(20)", False, True),
    ("ti", "TINYINT", True, False),
    ("si", "SMALLINT", True, False),
    ("i", "INT", True, False),
    ("bi", "BIGINT", True, False),
    ("li", "LARGEINT", True, False),
    ("b", "BOOLEAN", True, False),
    ("f", "FLOAT", True, False),
    ("d", "DOUBLE", True, False),
    ("dec", "DECIMAL(10,2)", True, False),
    ("dec38", "DECIMAL(38,10)", True, False),
    ("dec0", "DECIMAL(18,0)", True, False),
    ("dt", "DATE", True, False),
    ("ts", "DATETIME", True, False),
    ("c", "CHAR(10)", True, False),
    ("v", "VARCHAR(12)", True, False),
    ("s", "STRING", True, False),
    ("j", "JSON", True, False),
    ("nn", "INT", False, False),
]


def _meta(name: str = "t") -> TableMeta:
    cols = [ColumnMeta(n, SrType.parse(t), nullable, key) for n, t, nullable, key in _TYPES]
    cols[-1].default = "7"  # a NOT NULL column with a default: deletes may leave it out
    return TableMeta("fl", name, cols, ["id", "k2"], ["id"], 1, {})


@pytest.fixture
def stores() -> Iterator[tuple[StandInStore, StandInStore]]:
    pair = (StandInStore(), StandInStore())
    for store in pair:
        store.create_database("fl")
        store.create_table(_meta())
    yield pair
    for store in pair:
        store.close()


def _plan(headers: dict[str, str] | None = None) -> loads.LoadPlan:
    h = headers or SINK_HEADERS
    return loads.plan_load(h, loads.check_header_phase(h, 0), _meta())


def _row(key: int, /, **over: object) -> dict[str, object]:
    row: dict[str, object] = {"id": key, "k2": f"k{key % 3}", "nn": key, "__op": 0}
    row.update(over)
    return row


def _body(rows: list[dict[str, object]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False).encode()


# one row per interesting value of each type; every row is clean (the exact path takes each as it is)
CLEAN_ROWS = [
    _row(1, ti=-128, si=32767, i=-(2**31), bi=2**63 - 1, li=-(2**63), b=True, f=1.5, d=-0.0),
    _row(2, ti=127, si=-32768, i=2**31 - 1, bi=-(2**63), li=2**64 - 1, b=False, f=3.4e38, d=1e308),
    _row(
        3,
        f=0.1,
        d=2.2250738585072014e-308,
        dec="12345678.99",
        dec38="1234567890123456789012345678.0123456789",
    ),
    _row(4, dec="-0.01", dec38="-0.0000000001", dec0="999999999999999999", d=123, f=7),
    _row(5, dec="5", dec38="+12.5", dec0="-42"),
    _row(6, dt="2024-02-29", ts="2024-02-29 23:59:59.999999"),
    _row(7, dt="0001-01-01", ts="9999-12-31 00:00:00.1"),
    _row(8, ts="2024-01-01T10:20:30.12345", dt="1970-01-01"),
    _row(9, ts="2024-01-01", c="", v="", s=""),
    _row(10, c='ab"c\\d', v="tab\there\n", s="ünïcødé 😀 中文"),
    _row(11, v="aé😀bcdef", s="\u00e9\u0001 control"),
    _row(12, j={"b": [1, 2.5, {"z": None, "a": True}], "a": "x"}),
    _row(13, j=[1, "two", 3.0, -0.0, 1e-7, 12345678901234567]),
    _row(14, j="just a string", s="\\N"),
    _row(15, j=0, ti=None, si=None, i=None, bi=None, li=None, b=None, f=None, d=None),
    _row(16, dec=None, dec38=None, dec0=None, dt=None, ts=None, c=None, v=None, s=None, j=None),
    _row(17, j={"nested": {"deep": {"deeper": [[], {}]}}, "ünï": "😀"}),
    {"id": 18, "k2": "k0", "nn": 5},  # no __op: an upsert; every other column missing: NULL
    _row(19, d=1.7976931348623157e308, f=-1.25e-10, b=True),
    _row(1, i=99, s="the same key again: last one wins"),  # upsert of key (1, k1) once more
    {"id": 2, "k2": "k2", "nn": 0, "__op": 1},  # delete of (2, k2)
    {"id": 3, "k2": "k0", "nn": 0, "__op": 1},  # delete of (3, k0), then upserted again below
    _row(3, s="back after the delete"),
    {"id": 99, "k2": "nothing", "nn": 0, "__op": 1},  # delete of a key that is not there
    _row(20, __op=None),  # __op null: an upsert
]


def _store_rows(store: StandInStore) -> list[tuple]:
    _, rows = store.query(f"SELECT * FROM {store.table_ref('fl', 't')} ORDER BY id, k2")
    return rows


def test_fast_path_takes_a_clean_body_and_yields_the_exact_paths_values(
    stores: tuple[StandInStore, StandInStore],
) -> None:
    plan = _plan()
    body = _body(CLEAN_ROWS)
    fast = loads.execute_plan(plan, body)
    exact = loads.execute_plan(plan, body, fast=False)
    assert exact.filtered_rows == 0, exact.error_lines
    assert len(fast.parts) == 1 and not isinstance(fast.parts[0], list), "the clean body went the exact way"
    assert exact.filtered_rows == 0 and not exact.error_lines
    assert (fast.total_rows, fast.filtered_rows, fast.error_lines) == (exact.total_rows, 0, [])
    fast_ops, exact_ops = fast.ops(), exact.ops()
    assert len(fast_ops) == len(exact_ops) == len(CLEAN_ROWS)
    for n, (f, e) in enumerate(zip(fast_ops, exact_ops, strict=True)):
        assert f[0] == e[0], n
        assert f[1].keys() == e[1].keys(), n
        for col in e[1]:
            fv, ev = f[1][col], e[1][col]
            assert (type(fv), fv) == (type(ev), ev) or (fv != fv and ev != ev), (n, col, fv, ev)
            if isinstance(ev, float):
                assert repr(fv) == repr(ev), (n, col)  # -0.0 stays -0.0
    fast_store, exact_store = stores
    fast_store.apply_parts("fl", "t", fast.parts)
    exact_store.apply_load("fl", "t", exact_ops)
    got, want = _store_rows(fast_store), _store_rows(exact_store)
    assert got == want
    assert (3, "k0") in {(r[0], r[1]) for r in got} and (2, "k2") not in {(r[0], r[1]) for r in got}
    by_key = {(r[0], r[1]): r for r in got}
    assert by_key[(1, "k1")][4] == 99 and by_key[(1, "k1")][17] == "the same key again: last one wins"


def test_fast_and_exact_parts_mix_in_load_order(stores: tuple[StandInStore, StandInStore]) -> None:
    """A transaction's loads may go different ways: the parts keep their order (last op per key wins)."""
    plan = _plan()
    first = loads.execute_plan(plan, _body([_row(1, s="fast 1"), _row(2, s="fast 2")]))
    second = loads.execute_plan(plan, _body([_row(1, s="exact", i="not a number"), _row(3, s="exact 3")]))
    third = loads.execute_plan(plan, _body([_row(3, __op=1), _row(2, s="fast again")]))
    assert [isinstance(b.parts[0], list) for b in (first, second, third)] == [False, True, False]
    batch = loads.LoadBatch()
    for b in (first, second, third):
        batch.extend(b)
    assert (batch.total_rows, batch.filtered_rows) == (6, 1)
    fast_store, exact_store = stores
    fast_store.apply_parts("fl", "t", batch.parts)
    exact_store.apply_load("fl", "t", batch.ops())
    rows = _store_rows(fast_store)
    assert rows == _store_rows(exact_store)
    assert [(r[0], r[17]) for r in rows] == [(1, "fast 1"), (2, "fast again")]


def test_a_body_of_fast_parts_only_is_applied_as_the_exact_path_would(
    stores: tuple[StandInStore, StandInStore],
) -> None:
    plan = _plan()
    bodies = [_body([_row(i, s=f"r{i}-{n}", dec=f"{n}.5") for i in range(50)]) for n in range(3)]
    bodies.append(_body([_row(i, __op=1) for i in range(0, 50, 7)]))
    fast, exact = loads.LoadBatch(), loads.LoadBatch()
    for body in bodies:
        fast.extend(loads.execute_plan(plan, body))
        exact.extend(loads.execute_plan(plan, body, fast=False))
    assert all(not isinstance(p, list) for p in fast.parts)
    fast_store, exact_store = stores
    fast_store.apply_parts("fl", "t", fast.parts)
    exact_store.apply_parts("fl", "t", exact.parts)
    assert _store_rows(fast_store) == _store_rows(exact_store)
    assert len(_store_rows(fast_store)) == 50 - len(range(0, 50, 7))


# bodies the fast path must leave to the exact path; the exact answer is what the load reports
OFF_BODIES = {
    "string too long": [_row(1, v="x" * 13)],
    "multi-byte string too long": [_row(1, v="é" * 7)],
    "int as a string": [_row(1, i="12")],
    "int out of range": [_row(1, ti=128)],
    "fraction in an int column": [_row(1, i=1.5)],
    "bool in an int column": [_row(1, i=True)],
    "decimal that needs rounding": [_row(1, dec="1.005")],
    "decimal out of range": [_row(1, dec="123456789.00")],
    "decimal as a float": [_row(1, dec=1.25)],
    "decimal with spaces": [_row(1, dec=" 1.25")],
    "datetime hour 24": [_row(1, ts="2024-01-01 24:00:00")],
    "datetime with 7 fraction digits": [_row(1, ts="2024-01-01 10:00:00.1234567")],
    "date with a time": [_row(1, dt="2024-01-01 10:00:00")],
    "date in year 0000": [_row(1, dt="0000-01-01")],
    "bad day": [_row(1, dt="2023-02-29")],
    "compact date": [_row(1, ts="20240101")],
    "number in a string column": [_row(1, v=12)],
    "object in a string column": [_row(1, v={"a": 1})],
    "string in a boolean column": [_row(1, b="true")],
    "unknown key": [{**_row(1), "extra": 1}],
    "key in another case": [{"ID": 1, "k2": "a", "nn": 1}],
    "null in a NOT NULL column": [_row(1, nn=None)],
    "delete without the NOT NULL column": [{"id": 1, "k2": "k1", "__op": 1}],
    "null key": [_row(1, k2=None)],
    "key too long": [_row(1, k2="é" * 80)],
    "bad __op": [_row(1, __op=2)],
    "__op as a string": [_row(1, __op="1")],
    "huge integer in a JSON column": [_row(1, j=[2**70])],
    "row that is not an object": [_row(1), 5],
    "empty array": [],
}


@pytest.mark.parametrize("name", sorted(OFF_BODIES))
def test_an_off_body_goes_the_exact_way(name: str) -> None:
    plan = _plan()
    body = _body(OFF_BODIES[name])
    meta = _meta()
    assert (
        fastload.fast_json_rows(meta, body, plan.sources, plan.targets, plan.op_const, plan.op_source) is None
    )
    got, want = loads.execute_plan(plan, body), loads.execute_plan(plan, body, fast=False)
    assert all(isinstance(p, list) for p in got.parts)
    assert (got.total_rows, got.filtered_rows, got.error_lines, got.ops()) == (
        want.total_rows,
        want.filtered_rows,
        want.error_lines,
        want.ops(),
    )


@pytest.mark.parametrize(
    "body",
    [
        b'[{"id": 1, "k2": "a", "nn": 1, "d": NaN}]',
        b'[{"id": 1, "k2": "a", "nn": 1, "id": 2}]',
        b'[{"id": 1, "k2": "\\ud800", "nn": 1}]',
        b'[{"id": 1, "k2": "a\xff", "nn": 1}]',
        b'[{"id": 1, "k2": "a", "nn": 1}] [{"id": 2, "k2": "a", "nn": 1}]',
        b'[{"id": 1, "k2": "a", "nn": 1},]',
        b'{"id": 1, "k2": "a", "nn": 1}',
        b'[{"id": 1, "k2": "a\\u0000b", "nn": 1}]',
        b'[{"id": 1, "k2": "a", "nn": 1, "j": [1e400]}]',
    ],
)
def test_bodies_duckdb_reads_differently_go_the_exact_way(body: bytes) -> None:
    plan = _plan()
    meta = _meta()
    assert (
        fastload.fast_json_rows(meta, body, plan.sources, plan.targets, plan.op_const, plan.op_source) is None
    )
    assert _outcome(plan, body, fast=True) == _outcome(plan, body, fast=False)


def test_columns_header_and_constant_delete_take_the_fast_path(
    stores: tuple[StandInStore, StandInStore],
) -> None:
    """A ``columns`` header naming the keys and ``__op='delete'``: the fast path deletes as the exact one."""
    upsert = _body([_row(i, s=f"v{i}") for i in range(6)])
    headers = {**SINK_HEADERS, "columns": "id, k2, __op='delete'"}
    delete = _body([{"id": i, "k2": f"k{i % 3}"} for i in range(0, 6, 2)])
    fast_store, exact_store = stores
    for fast, store in ((True, fast_store), (False, exact_store)):
        batch = loads.execute_plan(_plan(), upsert, fast=fast)
        batch.extend(loads.execute_plan(_plan(headers), delete, fast=fast))
        assert all(isinstance(p, list) for p in batch.parts) is not fast
        store.apply_parts("fl", "t", batch.parts)
    assert _store_rows(fast_store) == _store_rows(exact_store)
    assert [r[0] for r in _store_rows(fast_store)] == [1, 3, 5]


def _ddl_column(name: str, sr_type: str, nullable: bool) -> str:
    default = " DEFAULT '7'" if name == "nn" else ""
    return f"`{name}` {sr_type}{'' if nullable else ' NOT NULL'}{default}"


_DDL_TYPES = ", ".join(_ddl_column(n, t, nullable) for n, t, nullable, _ in _TYPES)


def test_mysql_reads_see_the_same_rows_after_an_http_load_as_after_the_exact_path() -> None:
    """Over real sockets: the clean body through the BE's Stream Load (the fast path) into ``t``, the exact
    path's rows of the same body into ``x``; SELECT through the FE's MySQL port answers the same."""
    with StandIn() as sr:
        con = pymysql.connect(host="127.0.0.1", port=sr.query_port, user="root", password="", autocommit=True)
        try:
            with con.cursor() as cur:
                cur.execute("CREATE DATABASE fl")
                for name in ("t", "x"):
                    cur.execute(
                        f"CREATE TABLE fl.{name} ({_DDL_TYPES}) PRIMARY KEY(id, k2) DISTRIBUTED BY HASH(id) "
                        "PROPERTIES('replication_num' = '1')"
                    )
            body = _body(CLEAN_ROWS)
            url = f"http://{sr.load_url}/api/fl/t/_stream_load"
            headers = {**SINK_HEADERS, "label": "fast-1", "Expect": "100-continue"}
            first = requests.put(url, headers=headers, auth=("root", ""), allow_redirects=False)
            answer = requests.put(
                first.headers["Location"], data=body, headers=headers, auth=("root", "")
            ).json()
            assert (answer["Status"], answer["NumberLoadedRows"], answer["NumberFilteredRows"]) == (
                "Success",
                len(CLEAN_ROWS),
                0,
            )
            assert "ErrorURL" not in answer
            assert sr.store is not None
            meta = sr.store.get_table("fl", "x")
            assert meta is not None
            plan = loads.plan_load(SINK_HEADERS, loads.check_header_phase(SINK_HEADERS, 0), meta)
            sr.store.apply_load("fl", "x", loads.execute_plan(plan, body, fast=False).ops())
            with con.cursor() as cur:
                got = []
                for name in ("t", "x"):
                    cur.execute(f"SELECT * FROM fl.{name} ORDER BY id, k2")
                    got.append(list(cur.fetchall()))
        finally:
            con.close()
    assert got[0] == got[1]
    assert len(got[0]) == 19  # keys 1-20, (2, k2) deleted


def test_duplicate_keys_inside_a_json_value_keep_the_last_as_in_the_exact_path() -> None:
    plan = _plan()
    body = b'[{"id": 1, "k2": "a", "nn": 1, "j": {"b": {"x": "y", "x": "z"}, "a": 1, "a": 2}, "__op": 0}]'
    fast = loads.execute_plan(plan, body)
    assert not isinstance(fast.parts[0], list)
    assert fast.ops() == loads.execute_plan(plan, body, fast=False).ops()
    assert fast.ops()[0][1]["j"] == '{"a": 2, "b": {"x": "z"}}'


@pytest.mark.parametrize(
    "body",
    [
        b'[{"id": -0, "k2": "a", "nn": -0, "i": -0, "d": 1E2, "f": -1.5e-3, "dec": 100, "dec0": -0, "__op": 0}]',
        b' \n[ {"id":1,"k2":"\\u00e9\\/\\"q\\"","nn":2,"d":123456789012345678901234567890,"li":-0} ]\n ',
        b'[{"id": 1, "k2": "a", "nn": 2, "j": {"n": 1E400}}]',
        b'[{"id": 1, "k2": "a", "nn": 2, "d": -Infinity}]',
        b'[{"id": 1, "k2": "a", "nn": 2, "i": 1.0}]',
        b'[{"id": 1, "k2": "a", "nn": 2, "__op": 1.0}]',
        b'[{"id": 1, "k2": "a", "nn": 2, "__op": "1"}]',
    ],
)
def test_numbers_as_written_give_the_same_rows_either_way(body: bytes) -> None:
    """Numbers in every spelling JSON allows (and some it does not): the fast path takes a row only when
    it yields the exact path's values, else the exact path answers."""
    plan = _plan()
    assert _outcome(plan, body, fast=True) == _outcome(plan, body, fast=False)


def _outcome(plan, body: bytes, *, fast: bool) -> tuple:
    """What a load of ``body`` gives: its counts, error lines and ops, or its error (the exact path's
    own failure, such as 1E400 in a JSON value, whatever it is, must be the same both ways)."""
    try:
        b = loads.execute_plan(plan, body, fast=fast)
        return (b.total_rows, b.filtered_rows, b.error_lines, b.ops())
    except loads.LoadError as e:
        return (e.code, e.message)
    except ValueError as e:
        return (type(e).__name__, str(e))
