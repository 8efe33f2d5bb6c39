"""Every supported column type, value by value: MariaDB -> snapshot and binlog -> one canonical value -> DuckDB.

For each case a one-column table is filled with edge values; the rows are read back through the
snapshot path (PyMySQL, ``snapshot_select_expr``, session time zone UTC, ``row_converter('snapshot')``)
and through the binlog (python-mysql-replication from the position before the inserts,
``binlog_values`` + ``row_converter('binlog')``). Both must equal the expected canonical values, and
so must what DuckDB returns after loading them as Arrow arrays of ``arrow_type`` into a table of
``duckdb_type``, and what the StarRocks stand-in returns after the StarRocks sink created the table
and loaded them by Stream Load.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pydantic import SecretStr
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.constants import NONE_SOURCE
from pymysqlreplication.row_event import UpdateRowsEvent, WriteRowsEvent

from cdc_assets.config import StarRocksSinkConfig
from cdc_assets.config.values import to_tzinfo
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.types import (
    arrow_type,
    binlog_values,
    check_supported,
    duckdb_type,
    row_converter,
    snapshot_select_expr,
)
from cdc_assets.core.values import EMPTY_SET_SOURCE
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.starrocks import StarRocksSink
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import STARROCKS_PASSWORD

pytestmark = pytest.mark.mariadb

UTC = dt.UTC
COL = "the `value` ü"  # a backtick, spaces and non-ASCII: every name goes through quote_ident
TABLE = "vals"


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def td(text: str) -> dt.timedelta:
    """'-838:59:58.999999' -> timedelta, as MySQL reads a TIME literal."""
    neg = text.startswith("-")
    h, m, s = text.lstrip("-").split(":")
    sec, _, frac = s.partition(".")
    out = dt.timedelta(hours=int(h), minutes=int(m), seconds=int(sec), microseconds=int(frac.ljust(6, "0")))
    return -out if neg else out


_rnd = random.Random(20240229)
RANDOM_DOUBLES = [_rnd.uniform(-1, 1) * 10.0 ** _rnd.randint(-300, 300) for _ in range(12)]


@dataclass
class Case:
    id: str
    ddl: str
    rows: list[tuple[Any, Any]]  # (value bound in the INSERT, expected canonical value)
    sql_mode: str | None = None  # None: the server's (strict) default
    time_zone: str | None = None  # server (global) and inserting session zone
    tinyint1_as_boolean: bool = True
    duck: str | None = None  # expected DuckDB type, where the case is about it
    extra: dict = field(default_factory=dict)
    placeholder: str = "%s"  # the INSERT's SQL for the bound value, e.g. "ST_GeomFromText(%s, 4326)"


def srid(n: int, wkb: bytes) -> bytes:
    """MySQL's stored spatial value: the SRID as 4 little-endian bytes, then little-endian WKB."""
    return struct.pack("<I", n) + wkb


def wkb(kind: int, body: bytes) -> bytes:
    """WKB of geometry type ``kind`` (1 point, 2 linestring, 3 polygon, 4 multipoint, 7 collection)."""
    return struct.pack("<BI", 1, kind) + body


def pt(x: float, y: float) -> bytes:
    return wkb(1, struct.pack("<dd", x, y))


def pts(*xy: tuple[float, float]) -> bytes:
    return struct.pack("<I", len(xy)) + b"".join(struct.pack("<dd", x, y) for x, y in xy)


def many(*parts: bytes) -> bytes:
    return struct.pack("<I", len(parts)) + b"".join(parts)


MULTIPOINT_2154 = srid(2154, wkb(4, many(pt(1, 2), pt(-3, 0.25))))
MAX65 = "99999999999999999999999999999999999.999999999999999999999999999999"

CASES = [
    Case("tinyint", "TINYINT", [(-128, -128), (127, 127), (0, 0)]),
    Case("tinyint-unsigned", "TINYINT UNSIGNED", [(0, 0), (255, 255)]),
    Case("tinyint1-bool", "TINYINT(1)", [(0, False), (1, True), (2, True), (-1, True)], duck="BOOLEAN"),
    Case(
        "tinyint1-int",
        "TINYINT(1)",
        [(0, 0), (2, 2), (-128, -128)],
        tinyint1_as_boolean=False,
        duck="TINYINT",
    ),
    Case("bool", "BOOL", [(True, True), (False, False)], duck="BOOLEAN"),
    Case("smallint", "SMALLINT", [(-32768, -32768), (32767, 32767)]),
    Case("smallint-unsigned", "SMALLINT UNSIGNED", [(65535, 65535), (0, 0)]),
    Case("mediumint", "MEDIUMINT", [(-8388608, -8388608), (8388607, 8388607)]),
    Case("mediumint-unsigned", "MEDIUMINT UNSIGNED", [(16777215, 16777215)]),
    Case("int", "INT", [(-(2**31), -(2**31)), (2**31 - 1, 2**31 - 1)]),
    Case("int-unsigned", "INT UNSIGNED", [(2**32 - 1, 2**32 - 1), (0, 0)]),
    Case("bigint", "BIGINT", [(-(2**63), -(2**63)), (2**63 - 1, 2**63 - 1)]),
    Case(
        "bigint-unsigned", "BIGINT UNSIGNED", [(2**64 - 1, 2**64 - 1), (2**63, 2**63), (0, 0)], duck="UBIGINT"
    ),
    Case(
        "decimal-65-30",
        "DECIMAL(65,30)",
        [
            ("-" + MAX65, "-" + MAX65),
            (MAX65, MAX65),
            ("0", "0." + "0" * 30),
            ("1.5", "1." + "5".ljust(30, "0")),
            ("-0.000000000000000000000000000001", "-0." + "0" * 29 + "1"),
        ],
        duck="VARCHAR",
    ),
    Case("decimal-39-0", "DECIMAL(39,0)", [("-" + "9" * 39, "-" + "9" * 39), ("0", "0")], duck="VARCHAR"),
    Case(
        "decimal-20-15",
        "DECIMAL(20,15)",
        [
            ("12345.123456789012345", Decimal("12345.123456789012345")),
            ("-0.000000000000001", Decimal("-0.000000000000001")),
            ("-99999.999999999999999", Decimal("-99999.999999999999999")),
            ("0", Decimal("0")),
        ],
        duck="DECIMAL(20,15)",
    ),
    Case(
        "decimal-38-10", "DECIMAL(38,10)", [("9" * 28 + "." + "9" * 10, Decimal("9" * 28 + "." + "9" * 10))]
    ),
    Case("decimal-10-0", "DECIMAL(10,0)", [(-9999999999, Decimal(-9999999999))]),
    Case(
        "float",
        "FLOAT",
        [
            (0.1, f32(0.1)),
            (16777217.0, 16777216.0),
            (-3.4028234663852886e38, -3.4028234663852886e38),
            (1.17549435e-38, f32(1.17549435e-38)),
            (123.456, f32(123.456)),
        ],
    ),
    Case(
        "double",
        "DOUBLE",
        [(0.1 + 0.2, 0.30000000000000004), (1 / 3, 1 / 3), (1.7976931348623157e308, 1.7976931348623157e308)]
        + [(5e-324, 5e-324), (-2.2250738585072014e-308, -2.2250738585072014e-308)]
        + [(x, x) for x in RANDOM_DOUBLES],
    ),
    Case(
        "date",
        "DATE",
        [
            ("1000-01-01", dt.date(1000, 1, 1)),
            ("9999-12-31", dt.date(9999, 12, 31)),
            ("2024-02-29", dt.date(2024, 2, 29)),
            ("0000-00-00", None),
            ("2024-00-15", None),
            ("2024-01-00", None),
        ],
        sql_mode="",
    ),
    Case(
        "datetime6",
        "DATETIME(6)",
        [
            ("1000-01-01 00:00:00", dt.datetime(1000, 1, 1)),
            ("9999-12-31 23:59:59.999999", dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
            ("2000-01-01 00:00:00.000001", dt.datetime(2000, 1, 1, 0, 0, 0, 1)),
            ("0000-00-00 00:00:00", None),
        ],
        sql_mode="",
    ),
    Case("datetime0", "DATETIME", [("2024-02-29 12:34:56", dt.datetime(2024, 2, 29, 12, 34, 56))]),
    Case(
        "timestamp3-in-plus-0530",
        "TIMESTAMP(3) NULL",
        [
            ("2038-01-19 08:44:07.999", dt.datetime(2038, 1, 19, 3, 14, 7, 999000, tzinfo=UTC)),
            ("1970-01-01 05:30:01", dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
            ("2024-02-29 12:34:56.001", dt.datetime(2024, 2, 29, 7, 4, 56, 1000, tzinfo=UTC)),
            ("0000-00-00 00:00:00", None),
        ],
        sql_mode="",
        time_zone="+05:30",
        duck="TIMESTAMPTZ",
    ),
    Case(
        "timestamp6-in-minus-0800",
        "TIMESTAMP(6) NULL",
        [("2038-01-18 19:14:07.999999", dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC))],
        time_zone="-08:00",
    ),
    Case(
        "time",
        "TIME",
        [(t, td(t)) for t in ("-838:59:59", "838:59:59", "00:00:00", "-00:00:01", "100:00:00", "-24:00:00")],
        duck="INTERVAL",
    ),
    Case(
        "time1", "TIME(1)", [(t, td(t)) for t in ("-838:59:58.9", "-00:00:00.5", "-01:00:00.1", "12:00:00.1")]
    ),
    Case("time2", "TIME(2)", [(t, td(t)) for t in ("-00:00:00.25", "-838:59:58.99", "23:59:59.99")]),
    Case(
        "time3",
        "TIME(3)",
        [(t, td(t)) for t in ("-00:00:01.500", "-00:00:00.250", "-01:00:00.001", "-00:00:02")],
    ),
    Case("time4", "TIME(4)", [(t, td(t)) for t in ("-00:00:00.0001", "-838:59:58.9999")]),
    Case("time5", "TIME(5)", [(t, td(t)) for t in ("-00:00:00.00001", "00:00:00.00001")]),
    Case(
        "time6",
        "TIME(6)",
        [
            (t, td(t))
            for t in (
                "-00:00:00.000001",
                "-838:59:58.999999",
                "-23:59:59.999999",
                "838:59:58.999999",
                "-00:00:00",
            )
        ],
    ),
    Case("year", "YEAR", [(1901, 1901), (2155, 2155), (0, 0), (2000, 2000)], duck="SMALLINT"),
    Case("char", "CHAR(5)", [("ab  ", "ab"), ("😀😀😀😀😀", "😀😀😀😀😀"), ("", ""), (" x", " x")]),
    Case("varchar", "VARCHAR(20)", [("héllo😀 ", "héllo😀 "), ("", ""), ("tab\tnl\n", "tab\tnl\n")]),
    Case("tinytext", "TINYTEXT", [("😀" * 63, "😀" * 63)]),
    Case("text", "TEXT", [("long text ", "long text "), ("", "")]),
    Case("longtext", "LONGTEXT", [("😀é" * 5000, "😀é" * 5000)]),
    Case("varchar-latin1", "VARCHAR(10) CHARACTER SET latin1", [("é€ÿ", "é€ÿ")]),
    Case("varchar-utf16le", "VARCHAR(10) CHARACTER SET utf16le", [("é€😀", "é€😀")]),
    Case("varchar-ucs2", "VARCHAR(10) CHARACTER SET ucs2", [("é€ z", "é€ z"), ("", "")]),
    Case("enum", "ENUM('a','b','é','😀','it''s','x,y')", [(v, v) for v in ("a", "é", "😀", "it's", "x,y")]),
    Case(
        "set",
        "SET('x','y','z','ü😀','it''s','a\\\\b')",
        [
            ("z,x", "x,z"),
            ("", ""),
            ("a\\b,it's,ü😀,z,y,x", "x,y,z,ü😀,it's,a\\b"),
            ("ü😀", "ü😀"),
        ],
    ),
    Case(
        "json-mariadb",
        "JSON",
        [
            ('{"a": [1, 2.5, "x"],  "b": null}', '{"a": [1, 2.5, "x"],  "b": null}'),
            ("[]", "[]"),
            ('"😀"', '"😀"'),
        ],
        duck="VARCHAR",  # MariaDB reports JSON columns as longtext
    ),
    Case(
        "binary4",
        "BINARY(4)",
        [
            (b"\x01\x00\x00\x00", b"\x01\x00\x00\x00"),
            (b"\x00\x00\x00\x00", b"\x00\x00\x00\x00"),
            (b"\x00\x00\x00\x01", b"\x00\x00\x00\x01"),
            (b"\xff", b"\xff\x00\x00\x00"),
            (b"", b"\x00\x00\x00\x00"),
        ],
        duck="BLOB",
    ),
    Case("varbinary", "VARBINARY(8)", [(b"\x00\x00", b"\x00\x00"), (b"", b""), (b"\xff ", b"\xff ")]),
    Case("blob", "BLOB", [(bytes(range(256)), bytes(range(256))), (b"", b"")]),
    Case("longblob", "LONGBLOB", [(b"\x00" * 70000, b"\x00" * 70000)]),
    Case("bit1", "BIT(1)", [(0, 0), (1, 1)], duck="UBIGINT"),
    Case("bit64", "BIT(64)", [(2**64 - 1, 2**64 - 1), (2**63, 2**63), (0, 0), (1, 1)]),
    Case("bit10", "BIT(10)", [(513, 513), (1023, 1023)]),
    Case(
        "point-srid4326",
        "POINT",
        [
            ("POINT(1 2)", srid(4326, pt(1, 2))),
            ("POINT(-179.9 0.1)", srid(4326, pt(-179.9, 0.1))),
            ("POINT(1e300 -5e-324)", srid(4326, pt(1e300, -5e-324))),
        ],
        placeholder="ST_GeomFromText(%s, 4326)",
        duck="BLOB",
    ),
    Case(
        "polygon",
        "POLYGON",
        [
            (
                "POLYGON((0 0,10 0,10 10,0 10,0 0),(1 1,2 1,2 2,1 1))",
                srid(
                    0,
                    wkb(
                        3,
                        many(
                            pts((0, 0), (10, 0), (10, 10), (0, 10), (0, 0)),
                            pts((1, 1), (2, 1), (2, 2), (1, 1)),
                        ),
                    ),
                ),
            )
        ],
        placeholder="ST_GeomFromText(%s)",
    ),
    Case(
        "geometry-srid3857",
        "GEOMETRY",
        [
            ("POINT(-0.5 1.25)", srid(3857, pt(-0.5, 1.25))),
            ("LINESTRING(0 0,1 1,2 0.5)", srid(3857, wkb(2, pts((0, 0), (1, 1), (2, 0.5))))),
            ("MULTIPOINT(0 0,3 4)", srid(3857, wkb(4, many(pt(0, 0), pt(3, 4))))),
            (
                "GEOMETRYCOLLECTION(POINT(7 8),LINESTRING(1 2,3 4))",
                srid(3857, wkb(7, many(pt(7, 8), wkb(2, pts((1, 2), (3, 4)))))),
            ),
        ],
        placeholder="ST_GeomFromText(%s, 3857)",
    ),
    # the stored format itself is accepted as a value (as mysqldump --hex-blob writes it)
    Case("multipoint-stored-bytes", "MULTIPOINT", [(MULTIPOINT_2154, MULTIPOINT_2154)]),
]


def _load_schema(conn, db: str, table: str) -> TableSchema:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, "
            "NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        cols = tuple(
            Column(r[0], r[1].lower(), r[2], True, r[3], r[4], r[5], r[6], r[7]) for r in cur.fetchall()
        )
    return TableSchema(TableId(db, table), cols, ("id",))


def _assert_same(got: list, want: list, where: str) -> None:
    assert got == want, where
    for g, w in zip(got, want, strict=True):
        assert type(g) is type(w), f"{where}: {g!r} is a {type(g).__name__}, expected {type(w).__name__}"
        if isinstance(w, dt.datetime):
            assert (g.utcoffset() is None) == (w.utcoffset() is None), f"{where}: {g!r} vs {w!r}"


def _stream(
    mariadb, db: str, start: tuple[str, int], *events: type, table: str = TABLE
) -> BinLogStreamReader:
    """``table``'s row events of the kinds given, from ``start`` to the binlog end (non-blocking)."""
    return BinLogStreamReader(
        connection_settings={
            "host": mariadb.host,
            "port": mariadb.port,
            "user": mariadb.user,
            "password": mariadb.password,
        },
        server_id=random.randint(10_000, 2**31),
        log_file=start[0],
        log_pos=start[1],
        resume_stream=True,
        blocking=False,
        only_schemas=[db],
        only_tables=[table],
        only_events=list(events),
    )


def _binlog_rows(mariadb, db: str, start: tuple[str, int], names: tuple[str, ...]) -> list[list[Any]]:
    stream = _stream(mariadb, db, start, WriteRowsEvent)
    try:
        return [binlog_values(r["values"], r["none_sources"], names) for ev in stream for r in ev.rows]
    finally:
        stream.close()


def _through_duckdb(schema: TableSchema, rows: list[tuple], t1b: bool) -> list[tuple]:
    con = duckdb.connect()
    try:
        cols = ", ".join(
            f"{quote_ident(c.name, 'duckdb')} {duckdb_type(c, tinyint1_as_boolean=t1b)}"
            for c in schema.columns
        )
        con.execute(f"CREATE TABLE t ({cols})")
        aschema = pa.schema(
            [pa.field(c.name, arrow_type(c, tinyint1_as_boolean=t1b)) for c in schema.columns]
        )
        arrays = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(aschema)]
        batch = pa.Table.from_arrays(arrays, schema=aschema)  # noqa: F841 (scanned by name below)
        con.execute("INSERT INTO t SELECT * FROM batch")
        return con.execute("SELECT * FROM t ORDER BY 1").fetchall()
    finally:
        con.close()


def _through_starrocks(
    standin, state_dir, db: str, schema: TableSchema, rows: list[tuple], t1b: bool, *, arrow: bool = False
) -> list[tuple]:
    """Create the table in the StarRocks stand-in, load ``rows`` by Stream Load, read them back over its
    MySQL protocol and decode them to canonical values (TIMESTAMPs travel as +08:00 wall-clock time).
    ``arrow``: load them as a snapshot chunk (``upsert_arrow``: CSV by Arrow's writer when the values allow)."""
    cfg = StarRocksSinkConfig(
        jdbc_url=standin.jdbc_url,
        load_url=(standin.load_url,),
        username="root",
        password=SecretStr(STARROCKS_PASSWORD),
        table_create_properties={"replication_num": "1"},
    )
    with StateStore(state_dir) as journal:
        sink = StarRocksSink(
            cfg,
            pipeline_id="roundtrip",
            journal=journal,
            tinyint1_as_boolean=t1b,
            time_zone=to_tzinfo("+08:00"),
        )
        try:
            target = TableId(db, TABLE + ("_arrow" if arrow else ""))
            sink.ensure_table(target, schema)
            if arrow:
                chunk = DuckDBSink("unused.duckdb", tinyint1_as_boolean=t1b).to_arrow(schema, rows)
                sink.upsert_arrow(target, schema, chunk, tag="roundtrip")
            else:
                sink.upsert(target, schema, rows, tag="roundtrip")
            return sink.fetch_all(target, schema)
        finally:
            sink.close()


def test_none_source_tag_matches_the_library():
    assert NONE_SOURCE.EMPTY_SET == EMPTY_SET_SOURCE


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_value_roundtrip(mariadb, fresh_db, case: Case, standin, tmp_path):
    t1b = case.tinyint1_as_boolean
    admin = mariadb.connect(fresh_db)
    old_zone = None
    try:
        with admin.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {quote_ident(TABLE)} (id INT PRIMARY KEY, {quote_ident(COL)} {case.ddl})"
            )
            cur.execute("SHOW MASTER STATUS")
            start = tuple(cur.fetchone()[:2])
            if case.time_zone is not None:
                cur.execute("SELECT @@GLOBAL.time_zone")
                old_zone = cur.fetchone()[0]
                cur.execute("SET GLOBAL time_zone = %s", (case.time_zone,))
            ins = mariadb.connect(fresh_db)  # a new session: it starts in the new global zone
            try:
                with ins.cursor() as icur:
                    if case.sql_mode is not None:
                        icur.execute("SET SESSION sql_mode = %s", (case.sql_mode,))
                    if case.time_zone is not None:
                        icur.execute("SELECT @@SESSION.time_zone")
                        assert icur.fetchone()[0] == case.time_zone
                    icur.executemany(
                        f"INSERT INTO {quote_ident(TABLE)} VALUES (%s, {case.placeholder})",
                        [(i, v) for i, (v, _) in enumerate(case.rows)] + [(len(case.rows), None)],
                    )
            finally:
                ins.close()
        schema = _load_schema(admin, fresh_db, TABLE)
    finally:
        if old_zone is not None:
            with admin.cursor() as cur:
                cur.execute("SET GLOBAL time_zone = %s", (old_zone,))
        admin.close()

    check_supported(schema, tinyint1_as_boolean=t1b)
    if case.duck is not None:
        assert duckdb_type(schema.columns[1], tinyint1_as_boolean=t1b) == case.duck
    expected = [(i, want) for i, (_, want) in enumerate(case.rows)] + [(len(case.rows), None)]

    # snapshot: the session time zone is UTC (the reader's contract), whatever the server's zone is
    snap_conn = mariadb.connect(fresh_db, init_command="SET time_zone = '+00:00'")
    try:
        with snap_conn.cursor() as cur:
            select = ", ".join(snapshot_select_expr(c) for c in schema.columns)
            cur.execute(f"SELECT {select} FROM {quote_table(fresh_db, TABLE)} ORDER BY 1")
            raw_snapshot = cur.fetchall()
    finally:
        snap_conn.close()
    to_canonical = row_converter(schema, "snapshot", tinyint1_as_boolean=t1b)
    snapshot = [to_canonical(r) for r in raw_snapshot]

    binlog_convert = row_converter(schema, "binlog", tinyint1_as_boolean=t1b)
    binlog = [binlog_convert(r) for r in _binlog_rows(mariadb, fresh_db, start, schema.column_names)]

    _assert_same([v for _, v in snapshot], [v for _, v in expected], "snapshot")
    _assert_same([v for _, v in binlog], [v for _, v in expected], "binlog")
    assert snapshot == binlog == expected

    back = _through_duckdb(schema, snapshot, t1b)
    _assert_same([v for _, v in back], [v for _, v in expected], "duckdb")

    starrocks = _through_starrocks(standin, tmp_path / "state", fresh_db, schema, snapshot, t1b)
    _assert_same([v for _, v in starrocks], [v for _, v in expected], "starrocks")
    chunk = _through_starrocks(standin, tmp_path / "state", fresh_db, schema, snapshot, t1b, arrow=True)
    _assert_same([v for _, v in chunk], [v for _, v in expected], "starrocks snapshot chunk")


def test_empty_set_in_update_images(mariadb, fresh_db):
    """1.0.17 returns None for an empty SET in every image; none_sources tells it apart from NULL."""
    conn = mariadb.connect(fresh_db)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {quote_ident(TABLE)} (id INT PRIMARY KEY, s SET('x','y'))")
            cur.execute("SHOW MASTER STATUS")
            log_file, log_pos = cur.fetchone()[:2]
            cur.execute(f"INSERT INTO {quote_ident(TABLE)} VALUES (1, 'y,x')")
            cur.execute(f"UPDATE {quote_ident(TABLE)} SET s = '' WHERE id = 1")
            cur.execute(f"UPDATE {quote_ident(TABLE)} SET s = NULL WHERE id = 1")
        schema = _load_schema(conn, fresh_db, TABLE)
    finally:
        conn.close()
    convert = row_converter(schema, "binlog")
    names = schema.column_names
    stream = _stream(mariadb, fresh_db, (log_file, log_pos), UpdateRowsEvent)
    try:
        images = [
            (
                convert(binlog_values(r["before_values"], r["before_none_sources"], names)),
                convert(binlog_values(r["after_values"], r["after_none_sources"], names)),
            )
            for ev in stream
            for r in ev.rows
        ]
    finally:
        stream.close()
    assert images == [((1, "x,y"), (1, "")), ((1, ""), (1, None))]


def test_mysql_json_type_loads_into_duckdb_json():
    """MySQL's JSON (MariaDB has none): both paths' canonical text goes into a DuckDB JSON column unchanged."""
    schema = TableSchema(
        TableId("d", "t"),
        (Column("id", "int", "int(11)"), Column("doc", "json", "json")),
        ("id",),
    )
    assert duckdb_type(schema.columns[1]) == "JSON"
    snap = row_converter(schema, "snapshot")((1, '{"a":[1,2.5,"😀"],"b":null}'))
    binlog = row_converter(schema, "binlog")((1, {b"a": [1, 2.5, "😀".encode()], b"b": None}))
    assert snap == binlog == (1, '{"a": [1, 2.5, "😀"], "b": null}')
    assert _through_duckdb(schema, [snap, (2, None)], True) == [snap, (2, None)]
