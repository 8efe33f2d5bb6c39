"""The generated rows decoder against the exact path, value by value, on a real MariaDB binlog.

For every type case of ``test_value_roundtrip`` the rows are inserted, updated (full images, then
with ``binlog_row_image`` MINIMAL and NOBLOB so that images lack columns) and deleted; every rows
event is decoded by :class:`FastRows` and by python-mysql-replication + ``row_converter`` (the exact
path the reader used before), and the two must be equal, value type included. Then the reader
itself: captured tables are decoded by the fast path, rows of tables that are not captured are
skipped before decoding, and a table the fast decoder refuses falls back (logged once) with the
same values.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from decimal import Decimal

import pytest
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from cdc_assets.core.column_batch import ColumnBatch
from cdc_assets.core.events import RowChange, collapse, key_of
from cdc_assets.core.offsets import BinlogPosition, RestartPoint
from cdc_assets.core.row_codegen import ColumnCodec, compile_rows_decoder
from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.engine.transform import arrow_schema, rows_to_arrow
from cdc_assets.mysql.binlog import BinlogReader, RowsRead, _changes, _TableDecoder
from cdc_assets.mysql.connection import ConnectionSettings
from cdc_assets.mysql.row_decoder import FastRows
from cdc_assets.mysql.server import inspect_server
from cdc_assets_tests.test_value_roundtrip import CASES, COL, TABLE, Case, _load_schema, _stream

pytestmark = pytest.mark.mariadb
KEY = (0,)  # the test tables' key: their first column, id


def _same(got, want, where: str) -> None:
    assert got == want, where
    for g_row, w_row in zip(got, want, strict=True):
        for g_img, w_img in ((g_row.before, w_row.before), (g_row.after, w_row.after)):
            if w_img is None:
                assert g_img is None, where
                continue
            for g, w in zip(g_img, w_img, strict=True):
                assert type(g) is type(w), (
                    f"{where}: {g!r} is a {type(g).__name__}, expected {type(w).__name__}"
                )
                if isinstance(w, dt.datetime):
                    assert g.tzinfo is w.tzinfo, f"{where}: {g!r} vs {w!r}"


def _as_rows(changes: list[RowChange]) -> list[RowChange]:
    """Changes as a column batch keeps them: an update of the same key is an upsert (an insert)."""
    out = []
    for ch in changes:
        same_key = ch.op == "update" and key_of(ch.before, KEY) == key_of(ch.after, KEY)
        out.append(RowChange("insert", None, ch.after) if same_key else ch)
    return out


def _same_columns(batch: ColumnBatch, want: list[RowChange], schema, t1b: bool, where: str) -> None:
    """A rows event read column by column holds the exact path's changes, and becomes the same Arrow
    rows and deleted keys as ``collapse`` of them."""
    assert len(batch) == len(want), where
    _same(batch.changes(), _as_rows(want), where)
    aschema = arrow_schema(schema, tinyint1_as_boolean=t1b)
    keys, table = batch.to_arrow(aschema)
    want_keys, want_rows = collapse(want, schema.key_positions)
    assert sorted(keys) == sorted(want_keys), where
    expected = rows_to_arrow(schema, want_rows, tinyint1_as_boolean=t1b)
    assert table.sort_by("id").equals(expected.sort_by("id")), where


def _compare(mariadb, db: str, start: tuple[str, int], schema, t1b: bool = True) -> dict[str, int]:
    """Decode every rows event of the test table both ways; returns the number of rows per op."""
    stream = _stream(
        mariadb, db, start, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, table=schema.table_id.table
    )
    fast = FastRows({schema.table_id: schema}, tinyint1_as_boolean=t1b)
    exact = _TableDecoder(schema, t1b)
    counts: dict[str, int] = {}
    try:
        for ev in stream:
            got = fast.changes(ev, schema.table_id)  # reads the raw bytes: the event is left unread
            columns = fast.columns(ev, schema.table_id)  # reads the raw bytes too
            want = _changes(ev, exact)
            assert got is not None, f"{type(ev).__name__} fell back to the exact path"
            _same(got, want, f"{type(ev).__name__} at {ev.packet.log_pos}")
            if columns is not None:
                _same_columns(columns, want, schema, t1b, f"{type(ev).__name__} at {ev.packet.log_pos}")
                counts["columns"] = counts.get("columns", 0) + 1
            for ch in got:
                counts[ch.op] = counts.get(ch.op, 0) + 1
    finally:
        stream.close()
    assert not fast.fallbacks
    return counts


def _run_case(mariadb, db: str, case: Case) -> dict[str, int]:
    admin = mariadb.connect(db)
    old_zone = None
    col = quote_ident(COL)
    tbl = quote_ident(TABLE)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE TABLE {tbl} (id INT PRIMARY KEY, {col} {case.ddl}, pad INT NULL)")
            cur.execute("SHOW MASTER STATUS")
            start = tuple(cur.fetchone()[:2])
            if case.time_zone is not None:
                cur.execute("SELECT @@GLOBAL.time_zone")
                old_zone = cur.fetchone()[0]
                cur.execute("SET GLOBAL time_zone = %s", (case.time_zone,))
        ins = mariadb.connect(db)
        try:
            with ins.cursor() as c:
                if case.sql_mode is not None:
                    c.execute("SET SESSION sql_mode = %s", (case.sql_mode,))
                values = [v for v, _ in case.rows] + [None]
                c.executemany(
                    f"INSERT INTO {tbl} (id, {col}) VALUES (%s, {case.placeholder})", list(enumerate(values))
                )
                # full images: every row takes the next row's value (NULL <-> value included)
                c.executemany(
                    f"UPDATE {tbl} SET {col} = {case.placeholder}, pad = %s WHERE id = %s",
                    [(values[(i + 1) % len(values)], i, i) for i in range(len(values))],
                )
                c.execute(f"UPDATE {tbl} SET id = id + 100")  # a multi-row event changing the key
                for image in ("MINIMAL", "NOBLOB"):  # images without some columns
                    c.execute("SET SESSION binlog_row_image = %s", (image,))
                    c.execute(f"UPDATE {tbl} SET pad = pad + 1")
                    c.execute(f"DELETE FROM {tbl} WHERE id = 100")
                    c.execute(
                        f"INSERT INTO {tbl} (id, {col}, pad) VALUES (%s, {case.placeholder}, 0)",
                        (100, values[0]),
                    )
                c.execute("SET SESSION binlog_row_image = 'FULL'")
                c.execute(f"DELETE FROM {tbl}")
        finally:
            ins.close()
        schema = _load_schema(admin, db, TABLE)
    finally:
        if old_zone is not None:
            with admin.cursor() as cur:
                cur.execute("SET GLOBAL time_zone = %s", (old_zone,))
        admin.close()
    return _compare(mariadb, db, start, schema, case.tinyint1_as_boolean)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fast_decoder_equals_the_exact_path(mariadb, fresh_db, case: Case):
    counts = _run_case(mariadb, fresh_db, case)
    assert counts.pop("columns") > 0  # the events with full images, read column by column too
    n = len(case.rows) + 1
    assert counts == {"insert": n + 2, "update": 2 * n + 2 * n, "delete": 2 + n}


WIDE = """CREATE TABLE wide (
  id BIGINT NOT NULL PRIMARY KEY, b TINYINT(1) NOT NULL, y YEAR NOT NULL, d DATE NOT NULL,
  m DECIMAL(65,30) NOT NULL, dt DATETIME NOT NULL, s SMALLINT UNSIGNED NOT NULL, f FLOAT NOT NULL,
  mi MEDIUMINT NOT NULL, u INT UNSIGNED NOT NULL, name VARCHAR(300) NULL, small DECIMAL(5,5) NULL,
  t6 DATETIME(6) NULL, ts TIMESTAMP(2) NULL, e ENUM('a','b') NULL, st SET('x','y') NULL, bits BIT(12) NULL,
  tm TIME(3) NULL, bin BINARY(3) NULL, txt TEXT NULL, g DOUBLE NULL
)"""
WIDE_ROWS = """INSERT INTO wide SELECT seq, seq % 3 = 0, 1901 + seq % 255, DATE'2000-01-01' + INTERVAL seq DAY,
  (CAST(seq AS SIGNED) - 1000) * 1234567.000000000000000000000000000007, TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq MINUTE,
  seq % 65536, seq / 7, CAST(seq AS SIGNED) - 5000, seq * 1000003 % 4294967296, IF(seq % 5 = 0, NULL, REPEAT('é', seq % 300)),
  IF(seq % 4 = 0, NULL, (seq % 100000) / 100000 * IF(seq % 2, -1, 1)),
  IF(seq % 6 = 0, NULL, TIMESTAMP'1999-12-31 23:59:59.999999' + INTERVAL seq * 1001 MICROSECOND),
  IF(seq % 7 = 0, NULL, FROM_UNIXTIME(1000000000 + seq * 3601.01)), IF(seq % 3 = 0, NULL, ELT(1 + seq % 2, 'a', 'b')),
  IF(seq % 8 = 0, NULL, ELT(1 + seq % 4, '', 'x', 'y', 'x,y')), IF(seq % 9 = 0, NULL, seq % 4096),
  IF(seq % 10 = 0, NULL, SEC_TO_TIME((CAST(seq AS SIGNED) - 1500) * 12.345)), IF(seq % 11 = 0, NULL, UNHEX(HEX(seq % 65536))),
  IF(seq % 12 = 0, NULL, REPEAT('x😀', seq % 50)), IF(seq % 13 = 0, NULL, seq * 1.5e300 / 3000)
FROM seq_1_to_3000"""


def test_wide_rows_of_mixed_types_equal_the_exact_path(mariadb, fresh_db):
    """Many columns per row (runs of fixed-width values read together), NULLs mixed in, big events."""
    conn = mariadb.connect(fresh_db)
    try:
        with conn.cursor() as cur:
            cur.execute(WIDE)
            cur.execute("SHOW MASTER STATUS")
            start = tuple(cur.fetchone()[:2])
            cur.execute(WIDE_ROWS)
            cur.execute(
                "UPDATE wide SET name = CONCAT(name, '+'), y = 2155, m = -m, ts = NULL WHERE id % 2 = 0"
            )
            cur.execute("DELETE FROM wide WHERE id % 3 = 0")
        conn.commit()
        schema = _load_schema(conn, fresh_db, "wide")
    finally:
        conn.close()
    counts = _compare(mariadb, fresh_db, start, schema)
    assert counts.pop("columns") > 0
    assert counts == {"insert": 3000, "update": 1500, "delete": 1000}


def _reader(mysql_source, schemas, start, t1b=True) -> BinlogReader:
    settings = ConnectionSettings(
        mysql_source.host, mysql_source.port, mysql_source.user, mysql_source.password
    )
    conn = mysql_source.server.connect()
    try:
        server = inspect_server(conn, settings)
    finally:
        conn.close()
    return BinlogReader(
        settings,
        server,
        schemas,
        server_id=random.randint(10_000, 2**31),
        start=RestartPoint(BinlogPosition(*start)),
        tinyint1_as_boolean=t1b,
        blocking=False,
    )


def _status(server) -> tuple[str, int]:
    row = server.execute("SHOW MASTER STATUS")[0]
    return row[0], int(row[1])


def _legacy_datetime_table(server, db: str, table: str) -> None:
    """A table with a pre-MySQL-5.6 DATETIME (binlog type 12), which the fast decoder refuses."""
    (old,) = server.execute("SELECT @@GLOBAL.mysql56_temporal_format")[0]
    server.execute("SET GLOBAL mysql56_temporal_format = OFF")
    try:
        conn = server.connect(db)  # a new session picks the global value up
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE TABLE {quote_ident(table)} (id INT PRIMARY KEY, at DATETIME)")
        finally:
            conn.close()
    finally:
        server.execute(f"SET GLOBAL mysql56_temporal_format = {'ON' if old else 'OFF'}")


def test_reader_skips_rows_of_tables_it_does_not_capture(mysql_source, fresh_db, caplog):
    """``other.legacy`` shares the name of a captured table of another database, so the library's
    schema/table filters let its events through; the reader must skip them before decoding."""
    server = mysql_source.server
    db, db2 = fresh_db, fresh_db + "_b"
    server.execute(f"CREATE DATABASE {quote_ident(db2)}")
    try:
        server.execute(f"CREATE TABLE {quote_table(db, 't')} (id INT PRIMARY KEY, v VARCHAR(10))")
        server.execute(f"CREATE TABLE {quote_table(db2, 'legacy')} (id INT PRIMARY KEY, at DATETIME(3))")
        _legacy_datetime_table(server, db, "legacy")  # not captured, refused by the fast decoder
        conn = server.connect()
        try:
            schemas = {
                TableId(db, "t"): _load_schema(conn, db, "t"),
                TableId(db2, "legacy"): _load_schema(conn, db2, "legacy"),
            }
        finally:
            conn.close()
        start = _status(server)
        for i in range(3):
            server.execute(f"INSERT INTO {quote_table(db, 'legacy')} VALUES ({i}, '2024-01-02 03:04:05')")
            server.execute(f"INSERT INTO {quote_table(db, 't')} VALUES ({i}, 'v{i}')")
            server.execute(f"INSERT INTO {quote_table(db2, 'legacy')} VALUES ({i}, '2024-01-02 03:04:05.5')")
        reader = _reader(mysql_source, schemas, start)
        with caplog.at_level(logging.WARNING, logger="cdc_assets.mysql.row_decoder"):
            try:
                rows = [i for i in reader.events() if isinstance(i, RowsRead)]
            finally:
                reader.close()
        assert {str(r.table) for r in rows} == {f"{db}.t", f"{db2}.legacy"}
        assert sum(len(r.changes) for r in rows) == 6
        assert reader.fast_rows.decoded == {TableId(db, "t"): 3, TableId(db2, "legacy"): 3}
        assert reader.fast_rows.fallbacks == {}
        assert not caplog.records  # the refused, uncaptured table was never looked at
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {quote_ident(db2)}")


def test_a_refused_table_falls_back_once_logged_with_exact_values(mysql_source, fresh_db, caplog):
    server = mysql_source.server
    _legacy_datetime_table(server, fresh_db, "legacy")
    conn = server.connect()
    try:
        schema = _load_schema(conn, fresh_db, "legacy")
    finally:
        conn.close()
    start = _status(server)
    server.execute(
        f"INSERT INTO {quote_table(fresh_db, 'legacy')} VALUES (1, '2024-01-02 03:04:05'), (2, NULL)"
    )
    server.execute(f"UPDATE {quote_table(fresh_db, 'legacy')} SET at = '1999-12-31 23:59:59'")
    reader = _reader(mysql_source, {schema.table_id: schema}, start)
    with caplog.at_level(logging.WARNING, logger="cdc_assets.mysql.row_decoder"):
        try:
            changes = [c for i in reader.events() if isinstance(i, RowsRead) for c in i.changes]
        finally:
            reader.close()
    assert [(c.op, c.before, c.after) for c in changes] == [
        ("insert", None, (1, dt.datetime(2024, 1, 2, 3, 4, 5))),
        ("insert", None, (2, None)),
        ("update", (1, dt.datetime(2024, 1, 2, 3, 4, 5)), (1, dt.datetime(1999, 12, 31, 23, 59, 59))),
        ("update", (2, None), (2, dt.datetime(1999, 12, 31, 23, 59, 59))),
    ]
    assert reader.fast_rows.fallbacks == {schema.table_id: 2} and not reader.fast_rows.decoded
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "column at" in warnings[0] and "no fast decoder" in warnings[0]


# ------------------------------------------------------------------------------ pure: generated code
def test_generated_decimal_reads_mysql_packed_decimal():
    """DECIMAL(12,2) -1234567890.12 and 0.05, as MySQL packs them (a NOT NULL column, two rows)."""

    def packed(value: str) -> bytes:
        neg = value.startswith("-")
        ip, fp = value.lstrip("-").split(".")
        ip = ip.rjust(10, "0")
        raw = int(ip[0]).to_bytes(1, "big") + int(ip[1:]).to_bytes(4, "big") + int(fp).to_bytes(1, "big")
        n = int.from_bytes(raw, "big") ^ (1 << 47)
        if neg:
            n ^= (1 << 48) - 1
        return n.to_bytes(6, "big")

    fn = compile_rows_decoder(
        [ColumnCodec("decimal", precision=12, scale=2)], "insert", b"\x01", None, lambda *a: a
    )
    buf = b"\x00" + packed("-1234567890.12") + b"\x00" + packed("0.05") + b"\x01"
    out, pos = fn(buf, 0, len(buf))
    assert pos == len(buf)
    assert [a for _, _, (a,) in out] == [Decimal("-1234567890.12"), Decimal("0.05"), None]


def test_a_layout_that_misreads_the_bytes_is_dropped_and_logged_once(mariadb, fresh_db, monkeypatch, caplog):
    """The safety net: a decoder that does not end exactly at the event's end is never trusted again."""
    from cdc_assets.mysql import row_decoder

    conn = mariadb.connect(fresh_db)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {quote_ident(TABLE)} (id INT PRIMARY KEY, v INT NOT NULL)")
            cur.execute("SHOW MASTER STATUS")
            start = tuple(cur.fetchone()[:2])
            cur.execute(f"INSERT INTO {quote_ident(TABLE)} VALUES (1, 10), (2, 20)")
            cur.execute(f"INSERT INTO {quote_ident(TABLE)} VALUES (3, 30)")
        conn.commit()
        schema = _load_schema(conn, fresh_db, TABLE)
    finally:
        conn.close()
    real = row_decoder.column_codec

    def wrong_width(bc, col, t1b):  # reads column v as a BIGINT: 4 bytes too many per row
        codec = real(bc, col, t1b)
        return ColumnCodec("int", 8) if col.name == "v" else codec

    monkeypatch.setattr(row_decoder, "column_codec", wrong_width)
    stream = _stream(mariadb, fresh_db, start, WriteRowsEvent)
    fast = FastRows({schema.table_id: schema})
    try:
        with caplog.at_level(logging.WARNING, logger="cdc_assets.mysql.row_decoder"):
            results = [fast.changes(ev, schema.table_id) for ev in stream]
    finally:
        stream.close()
    assert results == [None, None]
    assert fast.fallbacks == {schema.table_id: 2} and not fast.decoded
    assert len(caplog.records) == 1
