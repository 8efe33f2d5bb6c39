"""The StarRocks sink against the StarRocks stand-in: real MySQL protocol on the FE query port, real
Stream Load over HTTP (FE 307 -> BE), real transactions. No MySQL source is needed here; the end-to-end
tests (test_e2e_cli.py) and the type round-trip (test_value_roundtrip.py) run the sink with one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import subprocess
import time
import uuid
from decimal import Decimal

import pymysql
import pytest
from pydantic import SecretStr

from cdc_assets.config import StarRocksSinkConfig, load_pipeline
from cdc_assets.core.events import RowChange, collapse
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.starrocks_load import make_label
from cdc_assets.demo_data import Workload, create_sample_database
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.streaming import stream
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.transform import rows_to_arrow
from cdc_assets.errors import AuthenticationError, CdcError, SchemaError
from cdc_assets.starrocks import StarRocksSink
from cdc_assets.starrocks.client import StreamLoadClient
from cdc_assets.state import StateStore
from cdc_assets_tests.conftest import STARROCKS_PASSWORD
from cdc_assets_tests.pipelines import assert_identical, secrets_env, write_pipeline

SCHEMA = TableSchema(
    table_id=TableId("shop", "items"),
    columns=(
        Column("name", "varchar", "varchar(20)", char_max_length=20, charset="utf8mb4"),
        Column("id", "bigint", "bigint(20) unsigned", nullable=False),
        Column("price", "decimal", "decimal(10,2)", numeric_precision=10, numeric_scale=2),
        Column("at", "datetime", "datetime(6)", datetime_precision=6),
    ),
    primary_key=("id",),
)


def row(i: int, name: str = "x") -> tuple:
    return (f"{name}{i} 😀", 2**64 - 1 - i, Decimal(f"{i}.25"), dt.datetime(2024, 5, 6, 7, 8, 9, i))


def config(standin, **kw) -> StarRocksSinkConfig:
    base = StarRocksSinkConfig(
        jdbc_url=standin.jdbc_url,
        load_url=(standin.load_url,),
        username="root",
        password=SecretStr(STARROCKS_PASSWORD),
        table_create_properties={"replication_num": "1"},
    )
    return dataclasses.replace(base, **kw)


@pytest.fixture
def target() -> TableId:
    return TableId(f"sr_{uuid.uuid4().hex[:10]}", "items")


@pytest.fixture
def state(tmp_path):
    with StateStore(tmp_path / "state") as st:
        yield st


def make_sink(standin, state, **kw) -> StarRocksSink:
    return StarRocksSink(config(standin, **kw), pipeline_id="test", journal=state)


def query(standin, sql: str) -> list[tuple]:
    conn = pymysql.connect(
        host="127.0.0.1", port=standin.query_port, user="root", password=STARROCKS_PASSWORD, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction-stream-load", "stream-load"])
def test_creates_the_table_then_upserts_and_deletes_by_key(standin, state, target, transactions):
    sink = make_sink(standin, state, use_transaction_stream_load=transactions, table_create_num_buckets=3)
    try:
        sink.ensure_table(target, SCHEMA)
        sink.ensure_table(target, SCHEMA)  # idempotent
        create = query(standin, f"SHOW CREATE TABLE `{target.db}`.`items`")[0][1]
        assert "PRIMARY KEY(`id`)" in create and "BUCKETS 3" in create and '"replication_num" = "1"' in create
        # key first, NOT NULL; BIGINT UNSIGNED as LARGEINT; utf8mb4 VARCHAR(20) sized in bytes
        desc = query(standin, f"DESC `{target.db}`.`items`")
        assert [(d[0], d[1].lower(), d[2]) for d in desc[:2]] == [
            ("id", "largeint", "NO"),
            ("name", "varchar(80)", "YES"),
        ]

        assert sink.upsert(target, SCHEMA, [row(i) for i in range(5)], tag="c0-a1-w1") == 5
        changes = [
            RowChange("update", row(1), row(1, "renamed")),
            RowChange("delete", row(2), None),
            RowChange("insert", None, row(9)),
        ]
        keys, rows = collapse(changes, SCHEMA.key_positions)
        sink.apply_batch([(target, SCHEMA, keys, rows)], tag="bmysql-bin.000001_4-mysql-bin.000001_99")
        got = sink.fetch_all(target, SCHEMA)
        assert sorted(got, key=lambda r: r[1]) == sorted(
            [row(0), row(1, "renamed"), row(3), row(4), row(9)], key=lambda r: r[1]
        )
        assert sink.row_count(target) == 5
    finally:
        sink.close()


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction-stream-load", "stream-load"])
def test_rows_given_as_arrow_are_upserted_beside_the_deletes(standin, state, target, transactions):
    """The stream hands a column batch's rows over as an Arrow table: with deletes in the same write (a
    key both deleted and upserted is only upserted), and alone (encoded column by column)."""
    sink = make_sink(standin, state, use_transaction_stream_load=transactions)
    try:
        sink.ensure_table(target, SCHEMA)
        sink.upsert(target, SCHEMA, [row(i) for i in range(5)], tag="c0-a1-w1")
        upserts = rows_to_arrow(SCHEMA, [row(1, "renamed"), row(9)], tinyint1_as_boolean=True)
        deletes = [(row(2)[1],), (row(1)[1],)]  # row 1 is upserted too
        sink.apply_batch([(target, SCHEMA, deletes, upserts)], tag="b-arrow-1")
        got = sink.fetch_all(target, SCHEMA)
        assert sorted(got, key=lambda r: r[1]) == sorted(
            [row(0), row(1, "renamed"), row(3), row(4), row(9)], key=lambda r: r[1]
        )
        only = rows_to_arrow(SCHEMA, [row(3, "arrow")], tinyint1_as_boolean=True)
        sink.apply_batch([(target, SCHEMA, [], only)], tag="b-arrow-2")
        assert row(3, "arrow") in sink.fetch_all(target, SCHEMA)
        assert sink.row_count(target) == 5
    finally:
        sink.close()


def test_the_same_write_replayed_after_a_crash_is_recognised_by_its_label(standin, state, target):
    """A flush that was loaded but whose restart point was never saved is flushed again after a
    restart, with the same binlog range, hence the same label: StarRocks answers "already loaded"."""
    sink = make_sink(standin, state)
    try:
        sink.ensure_table(target, SCHEMA)
        sink.apply_batch([(target, SCHEMA, [], [row(1)])], tag="b-range-1")
        # a different value under the same label is NOT loaded again: proof that the label deduplicated
        sink.apply_batch([(target, SCHEMA, [], [row(1, "changed")])], tag="b-range-1")
        assert sink.fetch_all(target, SCHEMA) == [row(1)]
        sink.apply_batch([(target, SCHEMA, [], [row(1, "changed")])], tag="b-range-2")
        assert sink.fetch_all(target, SCHEMA) == [row(1, "changed")]
    finally:
        sink.close()


def test_a_prepared_transaction_left_by_a_dead_process_is_rolled_back_at_start(standin, state, target):
    sink = make_sink(standin, state)
    sink.ensure_table(target, SCHEMA)
    sink.close()
    # What a process killed between prepare and commit leaves: a journalled label, a PREPARED transaction.
    label = make_label(f"cdc_test_{state.generation}", target, "b-dead")
    client = StreamLoadClient([standin.load_url], "root", STARROCKS_PASSWORD)
    headers = {"format": "json", "strip_outer_array": "true", "ignore_json_size": "true"}
    body = b'[{"id": 7, "name": "ghost", "__op": 0}]'
    state.sink_txn_started(label, target.db, target.table)
    client.begin(target.db, target.table, label)
    client.load(target.db, target.table, label, body, headers)
    client.prepare(target.db, target.table, label)
    assert client.get_load_state(target.db, label) == "PREPARED"

    sink = make_sink(standin, state)
    try:
        sink.upsert(target, SCHEMA, [row(1)], tag="c0-a1-w1")
        assert client.get_load_state(target.db, label) == "ABORTED"
        assert state.sink_txns_open() == []
        assert sink.fetch_all(target, SCHEMA) == [row(1)]  # the ghost row never became visible
    finally:
        sink.close()
        client.close()


def test_retriable_failures_are_retried_until_the_load_succeeds(standin, state, target):
    sink = make_sink(standin, state, use_transaction_stream_load=False)
    try:
        sink.ensure_table(target, SCHEMA)
        standin.faults.inject("too_many_versions", times=1)
        standin.faults.inject("mem_limit_exceeded", times=1)
        sink.upsert(target, SCHEMA, [row(1), row(2)], tag="c0-a1-w1")
        assert len(sink.fetch_all(target, SCHEMA)) == 2
    finally:
        standin.faults.clear()
        sink.close()


def test_an_existing_table_with_another_key_is_refused_clearly(standin, state, target):
    query(standin, f"CREATE DATABASE IF NOT EXISTS `{target.db}`")
    query(
        standin,
        f"CREATE TABLE `{target.db}`.`items` (name VARCHAR(80) NOT NULL, id LARGEINT NULL) "
        'PRIMARY KEY(name) DISTRIBUTED BY HASH(name) PROPERTIES ("replication_num" = "1")',
    )
    sink = make_sink(standin, state)
    try:
        with pytest.raises(
            SchemaError, match=r"exists but does not match.*primary key \(name\) instead of \(id\)"
        ):
            sink.ensure_table(target, SCHEMA)
    finally:
        sink.close()


def test_a_wrong_password_is_named_without_showing_it(standin, state, target):
    wrong = "not-the-password-42"
    sink = StarRocksSink(
        dataclasses.replace(config(standin), password=SecretStr(wrong)), pipeline_id="test", journal=state
    )
    try:
        with pytest.raises(AuthenticationError) as err:
            sink.ensure_table(target, SCHEMA)
        assert "sink.password" in str(err.value) and wrong not in str(err.value)
        assert wrong not in repr(sink)
    finally:
        sink.close()


def test_an_unreachable_fe_is_a_clear_error(state, target):
    cfg = StarRocksSinkConfig(
        jdbc_url="jdbc:mysql://127.0.0.1:1",
        load_url=("127.0.0.1:1",),
        username="root",
        password=SecretStr(""),
    )
    sink = StarRocksSink(cfg, pipeline_id="test", journal=state)
    try:
        with pytest.raises(CdcError, match="cannot reach any StarRocks FE query port of sink.jdbc-url"):
            sink.ensure_table(target, SCHEMA)
    finally:
        sink.close()


class _Crash(Exception):
    """Stands for the process dying between the sink's acknowledgement and the restart-point save."""


def test_a_crash_between_a_load_and_the_restart_point_save_loses_and_duplicates_nothing(
    mysql_source, fresh_db, tmp_path, standin
):
    conn = mysql_source.server.connect()
    try:
        tables = create_sample_database(conn, fresh_db, rows=200)
    finally:
        conn.close()
    pipeline = write_pipeline(tmp_path, mysql_source, fresh_db, standin=standin)
    cfg = load_pipeline(pipeline, env=secrets_env(mysql_source))
    run_sync(cfg, until_caught_up=True)
    Workload(lambda: mysql_source.server.connect(database=fresh_db), fresh_db, seed=11).run_for(150)

    ctx = RunContext(cfg)
    loaded = []
    try:
        ctx.discover()
        apply, save = ctx.sink.apply_batch, ctx.state.save_restart_point

        def apply_then_note(batch, *, tag=""):
            apply(batch, tag=tag)
            loaded.append(tag)

        def save_unless_loaded(point):
            if loaded:
                raise _Crash
            save(point)

        ctx.sink.apply_batch = apply_then_note
        ctx.state.save_restart_point = save_unless_loaded
        before = ctx.state.restart_point()
        with pytest.raises(_Crash):
            stream(ctx, until_caught_up=True)
        assert loaded and ctx.state.restart_point() == before  # loaded, not saved
    finally:
        ctx.close()

    again = run_sync(cfg, until_caught_up=True)  # replays from the old restart point
    assert again.stream.caught_up and again.stream.rows > 0
    assert_identical(pipeline, mysql_source, fresh_db, tables)


def test_the_journal_resolves_only_transactions_of_processes_that_are_gone(tmp_path):
    """Chunk loads run in several Dagster processes sharing one state: a sink starting in one of them
    must not roll back the loads the others are doing right now."""
    live = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        with StateStore(tmp_path / "state") as st:
            st.sink_txn_started("mine", "d", "t")
            here, now = socket.gethostname(), time.time()
            rows = [
                ("live", here, live.pid, now),
                ("dead", here, dead.pid, now),
                ("far-recent", "another-host", 1, now - 60),
                ("far-old", "another-host", 1, now - 3600),
            ]
            with st._tx() as c:
                c.executemany(
                    "INSERT INTO sink_txns VALUES (?, 'd', 't', ?, ?, ?)",
                    [(name, t, h, p) for name, h, p, t in rows],
                )
            assert {label for label, _, _ in st.sink_txns_open()} == {"mine", "dead", "far-old"}
    finally:
        live.kill()
        live.wait()


def test_a_value_starrocks_refuses_stops_the_load_instead_of_becoming_null(standin, state, target):
    query(standin, f"CREATE DATABASE IF NOT EXISTS `{target.db}`")
    query(  # an existing table whose `name` column cannot hold the source's text
        standin,
        f"CREATE TABLE `{target.db}`.`items` (id LARGEINT NOT NULL, name INT NULL, price DECIMAL(10,2) NULL, "
        'at DATETIME NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) PROPERTIES ("replication_num" = "1")',
    )
    sink = make_sink(standin, state, use_transaction_stream_load=False)
    try:
        sink.ensure_table(target, SCHEMA)
        with pytest.raises(CdcError, match="too many filtered rows"):
            sink.upsert(target, SCHEMA, [row(1)], tag="c0-a1-w1")
        assert sink.row_count(target) == 0
    finally:
        sink.close()
