"""The watermark algorithm: keys ordered as the source orders them, the binlog merged into a chunk
between its watermarks, and a stream that never takes a written row back to an older version."""

from __future__ import annotations

import datetime as dt
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.chunks import Chunk
from cdc_assets.core.key_order import ChunkLocator, ChunkMark, in_range, is_pad_space, python_sort_value
from cdc_assets.core.offsets import BinlogPosition
from cdc_assets.core.schema import Column, TableId
from cdc_assets.core.sql import quote_ident
from cdc_assets.engine import snapshot as snapshot_module
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.snapshot import load_chunk, plan_table, snapshot_all
from cdc_assets.engine.streaming import snapshot_end, stream
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.watermark import backfill, backfill_server_ids
from cdc_assets.errors import TransientError
from cdc_assets.mysql.key_order import KeySorter
from cdc_assets.mysql.server import current_position
from cdc_assets_tests.pipelines import secrets_env, write_pipeline

# ---- pure ---------------------------------------------------------------------------------------


def _pos(n: int) -> BinlogPosition:
    return BinlogPosition("mysql-bin.000001", n)


def test_locator_finds_the_chunk_by_binary_search_and_compares_its_watermark():
    loc = ChunkLocator([ChunkMark(None, _pos(500)), ChunkMark((10,), _pos(300)), ChunkMark((20,), _pos(900))])
    assert [loc.chunk_of((k,)) for k in (-5, 9, 10, 19, 20, 10**9)] == [0, 0, 1, 1, 2, 2]
    assert (loc.lowest, loc.highest) == (_pos(300), _pos(900))
    assert loc.applies((15,), _pos(301)) and not loc.applies((15,), _pos(300))
    assert not loc.applies((5,), _pos(400)) and loc.applies((5,), _pos(501))
    assert not loc.applies((25,), _pos(800))
    with pytest.raises(ValueError, match="unbounded first chunk"):
        ChunkLocator([ChunkMark((1,), _pos(4))])


def test_in_range_is_half_open_with_open_ends():
    assert in_range((5,), None, None) and in_range((5,), (5,), (6,))
    assert not in_range((6,), (5,), (6,)) and not in_range((4,), (5,), None)
    assert in_range((1, "b"), (1, "a"), (2, "a"))  # row-value order for composite keys


@pytest.mark.parametrize(
    ("collation", "pad", "expected"),
    [
        ("utf8mb4_general_ci", None, True),
        ("utf8mb4_nopad_bin", None, False),
        ("utf8mb4_0900_ai_ci", None, False),
        ("utf8mb4_0900_ai_ci", "NO PAD", False),
        ("latin1_swedish_ci", "PAD SPACE", True),
    ],
)
def test_pad_space_from_the_catalog_or_the_name(collation, pad, expected):
    assert is_pad_space(collation, pad) is expected


def test_raw_and_canonical_values_of_a_key_sort_alike():
    ts = Column("ts", "timestamp", "timestamp(6)")
    sv = python_sort_value(ts)
    naive = dt.datetime(2024, 5, 1, 12, 0)
    assert sv(naive) == sv(naive.replace(tzinfo=dt.UTC))  # raw (session UTC) vs canonical (aware)
    bit = python_sort_value(Column("b", "bit", "bit(16)"))
    assert bit(b"\x01\x00") == bit(256) == bit("100000000")
    enum = python_sort_value(Column("e", "enum", "enum('z','a')"))
    assert enum("z") < enum("a")  # ENUMs order by member number, not text


# ---- against MariaDB ----------------------------------------------------------------------------


def _ctx(tmp_path, mysql_source, db, standin=None, **kw) -> RunContext:
    cfg = load_pipeline(
        write_pipeline(tmp_path, mysql_source, db, standin=standin, **kw), env=secrets_env(mysql_source)
    )
    ctx = RunContext(cfg)
    ctx.discover()
    return ctx


def test_text_keys_sort_as_the_collation_orders_them(mysql_source, fresh_db, tmp_path):
    db = quote_ident(fresh_db)
    server = mysql_source.server
    server.execute(f"CREATE TABLE {db}.t (k VARCHAR(8) COLLATE utf8mb4_general_ci PRIMARY KEY)")
    words = ["b", "a\t", "a", "Ab", "ä", "zz", "", "😀", "B ", "aa"]
    server.execute(f"INSERT INTO {db}.t VALUES ('b')")
    ctx = _ctx(tmp_path, mysql_source, fresh_db)
    try:
        with ctx.connect() as conn:
            sorter = KeySorter(conn, ctx.settings, ctx.schemas[TableId(fresh_db, "t")])
            keys = sorter.sort_keys([(w,) for w in words])
            mine = sorted(range(len(words)), key=lambda i: keys[i])
            for i in range(len(words)):
                for j in range(len(words)):
                    (cmp,) = server.execute(
                        "SELECT STRCMP(CONVERT(%s USING utf8mb4) COLLATE utf8mb4_general_ci, "
                        "CONVERT(%s USING utf8mb4) COLLATE utf8mb4_general_ci)",
                        [words[i], words[j]],
                    )[0]
                    assert (keys[i] > keys[j]) - (keys[i] < keys[j]) == cmp, (words[i], words[j])
            assert [words[i] for i in mine][:2] == ["", "a\t"]
    finally:
        ctx.close()


def test_backfill_returns_the_chunks_changes_between_its_watermarks(mysql_source, fresh_db, tmp_path):
    db = quote_ident(fresh_db)
    server = mysql_source.server
    server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(10))")
    server.execute(f"INSERT INTO {db}.t VALUES (1, 'a'), (12, 'b'), (15, 'c'), (25, 'd')")
    ctx = _ctx(tmp_path, mysql_source, fresh_db)
    table = TableId(fresh_db, "t")
    try:
        with ctx.connect() as conn:
            low = current_position(conn, ctx.settings, ctx.server)
            server.execute(f"INSERT INTO {db}.t VALUES (11, 'new')")  # into the chunk
            server.execute(f"UPDATE {db}.t SET id = 13 WHERE id = 1")  # moves into the chunk
            server.execute(f"UPDATE {db}.t SET id = 26 WHERE id = 15")  # moves out of it
            server.execute(f"DELETE FROM {db}.t WHERE id = 12")
            server.execute(f"UPDATE {db}.t SET v = 'x' WHERE id = 25")  # another chunk
            high = current_position(conn, ctx.settings, ctx.server)
            server.execute(f"INSERT INTO {db}.t VALUES (14, 'late')")  # after the high watermark
            changes = backfill(
                ctx.settings,
                ctx.server,
                ctx.schemas[table],
                Chunk(1, (10,), (20,)),
                KeySorter(conn, ctx.settings, ctx.schemas[table]),
                low,
                high,
                server_id=backfill_server_ids(ctx.cfg)[0],
                tinyint1_as_boolean=True,
            )
    finally:
        ctx.close()
    assert [(c.op, c.before and c.before[0], c.after and c.after[0]) for c in changes] == [
        ("insert", None, 11),
        ("insert", None, 13),
        ("delete", 15, None),
        ("delete", 12, None),
    ]


class _Workload:
    """Random inserts, updates, deletes and key changes, until stopped. Every write sets ``ver`` to the
    next number of one counter, so a key's versions only grow over time."""

    def __init__(self, server, db: str, seed: int):
        self.server, self.db, self.rng = server, quote_ident(db), random.Random(seed)
        self.stop = threading.Event()
        self.writes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = self.server.connect()
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    k = self.rng.randrange(1, 3000)
                    op = self.rng.random()
                    ver = 2 + self.writes
                    if op < 0.3:
                        cur.execute(
                            f"INSERT IGNORE INTO {self.db}.t (id, ver, v) VALUES (%s, %s, 'i')", (k, ver)
                        )
                    elif op < 0.75:
                        cur.execute(f"UPDATE {self.db}.t SET ver = %s, v = 'u' WHERE id = %s", (ver, k))
                    elif op < 0.9:
                        cur.execute(f"DELETE FROM {self.db}.t WHERE id = %s", (k,))
                    else:  # a key change, across chunks most of the time
                        cur.execute(
                            f"UPDATE IGNORE {self.db}.t SET id = %s, ver = %s WHERE id = %s",
                            (self.rng.randrange(3000, 6000), ver, k),
                        )
                    self.writes += 1
        finally:
            conn.close()


def _versions(ctx: RunContext, table: TableId) -> dict[int, int]:
    schema = ctx.schemas[table]
    ver = schema.column_names.index("ver")
    return {row[0]: row[ver] for row in ctx.sink.fetch_all(ctx.target(table), schema)}


@pytest.mark.parametrize(
    ("snapshot_point", "fast"),
    [(True, True), (False, True), (True, False), (False, False)],
    ids=[
        "arrow-from-snapshot-point",
        "arrow-between-watermarks",
        "exact-in-snapshot",
        "exact-between-watermarks",
    ],
)
def test_parallel_snapshot_under_writes_ends_equal_and_rows_never_go_back(
    mysql_source, fresh_db, tmp_path, standin, snapshot_point, fast
):
    server = mysql_source.server
    db = quote_ident(fresh_db)
    server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, ver INT NOT NULL, v VARCHAR(10))")
    server.execute(f"INSERT INTO {db}.t SELECT seq, 1, 's' FROM {db}.seq_1_to_2500")
    table = TableId(fresh_db, "t")
    planner = _ctx(tmp_path, mysql_source, fresh_db, standin=standin, chunk_size=300)
    chunks = plan_table(planner, table)
    assert len(chunks) >= 8
    work = _Workload(server, fresh_db, seed=7)
    work.thread.start()

    def load(index: int) -> int:
        ctx = RunContext(planner.cfg, consistent_snapshot_reads=snapshot_point, fast_reads=fast)
        ctx.discover([table])
        try:
            return load_chunk(ctx, table, index).backfilled
        finally:
            ctx.close()

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            merged = sum(pool.map(load, [c.index for c in chunks]))
        written = _versions(planner, table)  # every chunk written: no version may go back from here
        while work.writes < 300 and work.thread.is_alive():
            threading.Event().wait(0.05)
    finally:
        work.stop.set()
        work.thread.join()
    assert work.writes >= 300, "the workload thread died"
    if fast or not snapshot_point:
        assert merged > 0  # the writes did land between some chunk's watermarks
    seen = dict(written)
    went_back: list[tuple[int, int, int]] = []

    def check(_info) -> None:
        now = _versions(planner, table)
        went_back.extend((k, seen[k], v) for k, v in now.items() if k in seen and v < seen[k])
        seen.update(now)

    stream(planner, until_caught_up=True, on_flush=check, flush_interval=60, max_buffered_rows=25)
    planner.close()
    assert not went_back
    source = {r[0]: (r[1], r[2]) for r in server.execute(f"SELECT id, ver, v FROM {db}.t")}
    final = RunContext(planner.cfg)
    try:
        final.discover([table])
        target = {r[0]: (r[1], r[2]) for r in final.sink.fetch_all(final.target(table), final.schemas[table])}
    finally:
        final.close()
    assert target == source


def test_snapshot_mode_ends_consistent_at_the_highest_watermark_and_exits(mysql_source, fresh_db, tmp_path):
    server = mysql_source.server
    db = quote_ident(fresh_db)
    server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v INT NOT NULL)")
    server.execute(f"INSERT INTO {db}.t SELECT seq, 0 FROM {db}.seq_1_to_200")
    cfg = load_pipeline(
        write_pipeline(
            tmp_path, mysql_source, fresh_db, chunk_size=50, extra_source="  scan.startup.mode: snapshot"
        ),
        env=secrets_env(mysql_source),
    )
    calls = []

    def during(progress) -> None:  # writes to chunks already loaded and to chunks still to load
        calls.append(progress.chunks_done)
        if progress.chunks_done < progress.chunks_total:
            n = progress.chunks_done
            server.execute(f"UPDATE {db}.t SET v = v + 1 WHERE id IN (%s, %s)", (n, 201 - n))
            server.execute(f"DELETE FROM {db}.t WHERE id = %s", (100 + n,))
            server.execute(f"INSERT INTO {db}.t VALUES (%s, 7)", (1000 + n,))

    summary = run_sync(cfg, on_chunk=during)
    assert summary.stream.caught_up and len(calls) >= 4
    source = sorted(server.execute(f"SELECT id, v FROM {db}.t"))
    server.execute(f"UPDATE {db}.t SET v = 99")  # after the snapshot: not applied, nothing streams
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        table = TableId(fresh_db, "t")
        assert sorted(ctx.sink.fetch_all(ctx.target(table), ctx.schemas[table])) == source
        assert ctx.state.restart_point().position == snapshot_end(ctx).position
    finally:
        ctx.close()


@pytest.mark.parametrize("fast", [True, False], ids=["arrow", "exact"])
def test_a_chunk_read_again_after_a_dead_read_merges_from_the_first_low_watermark(
    mysql_source, fresh_db, tmp_path, fast
):
    server = mysql_source.server
    db = quote_ident(fresh_db)
    server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v INT NOT NULL)")
    server.execute(f"INSERT INTO {db}.t SELECT seq, 0 FROM {db}.seq_1_to_10")
    ctx = _ctx(tmp_path, mysql_source, fresh_db, chunk_size=1000)
    ctx.fast_reads = fast
    table = TableId(fresh_db, "t")
    try:
        (chunk,) = plan_table(ctx, table)
        schema = ctx.schemas[table]
        # A first read that died after writing its rows (as a killed worker leaves them).
        with ctx.connect() as conn:
            ctx.state.record_chunk_low(str(table), 0, current_position(conn, ctx.settings, ctx.server))
        ctx.state.start_chunk_attempt(str(table), 0)
        ctx.sink.upsert(ctx.target(table), schema, [(i, 0) for i in range(1, 11)], tag="c0-a1-w1")
        server.execute(f"DELETE FROM {db}.t WHERE id = 5")  # after that read, before the next one
        res = load_chunk(ctx, table, chunk.index)
        assert res.backfilled == 1  # the delete, merged from the dead read's low watermark
        stream(ctx, until_caught_up=True)
        assert sorted(ctx.sink.fetch_all(ctx.target(table), schema)) == sorted(
            server.execute(f"SELECT id, v FROM {db}.t")
        )
    finally:
        ctx.close()


# ---- snapshot_all with pipeline.parallelism: chunks loaded at once in one process -----------------


@pytest.mark.parametrize("sink", ["duckdb", "starrocks"])
def test_one_process_loads_chunks_in_parallel_under_writes_and_ends_equal(
    mysql_source, fresh_db, tmp_path, standin, sink
):
    server = mysql_source.server
    db = quote_ident(fresh_db)
    server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, ver INT NOT NULL, v VARCHAR(10))")
    server.execute(f"INSERT INTO {db}.t SELECT seq, 1, 's' FROM {db}.seq_1_to_2500")
    table = TableId(fresh_db, "t")
    ctx = _ctx(
        tmp_path, mysql_source, fresh_db, chunk_size=250, standin=standin if sink == "starrocks" else None
    )
    workers: set[str] = set()
    progress = []

    def on_chunk(p) -> None:
        progress.append(p.chunks_done)
        workers.update(t.name for t in threading.enumerate() if t.name.startswith("snapshot-chunk"))

    work = _Workload(server, fresh_db, seed=11)
    work.thread.start()
    try:
        loaded = snapshot_all(ctx, on_chunk, parallelism=3)
        while work.writes < 200 and work.thread.is_alive():
            threading.Event().wait(0.05)
    finally:
        work.stop.set()
        work.thread.join()
    total = len(ctx.state.chunks(str(table)))
    assert total >= 10 and progress == list(range(1, total + 1))  # reported in this thread, in order
    assert len(workers) == 3
    assert loaded >= 2000
    stream(ctx, until_caught_up=True, flush_interval=60)
    source = {r[0]: (r[1], r[2]) for r in server.execute(f"SELECT id, ver, v FROM {db}.t")}
    target = {r[0]: (r[1], r[2]) for r in ctx.sink.fetch_all(ctx.target(table), ctx.schemas[table])}
    ctx.close()
    assert target == source


def test_a_failed_chunk_stops_the_parallel_snapshot_and_a_rerun_loads_the_rest(
    mysql_source, fresh_db, tmp_path, monkeypatch
):
    server = mysql_source.server
    db = quote_ident(fresh_db)
    server.execute(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(10))")
    server.execute(f"INSERT INTO {db}.t SELECT seq, 's' FROM {db}.seq_1_to_1000")
    table = TableId(fresh_db, "t")
    ctx = _ctx(tmp_path, mysql_source, fresh_db, chunk_size=100)
    real = snapshot_module.load_chunk

    def failing(ctx, table, index, **kw):  # fault injection: chunk 2's load fails as a dropped source would
        if index == 2:
            raise TransientError("chunk 2: the source connection dropped")
        return real(ctx, table, index, **kw)

    monkeypatch.setattr(snapshot_module, "load_chunk", failing)
    with pytest.raises(TransientError, match="chunk 2: the source connection dropped"):
        snapshot_all(ctx, parallelism=3)
    done = {c.chunk.index for c in ctx.state.chunks(str(table)) if c.done}
    rows_done = sum(c.rows or 0 for c in ctx.state.chunks(str(table)) if c.done)
    assert 2 not in done
    # no chunk started after the failure: at most the two others under way and the ones started as
    # they finished
    assert done and max(done) <= 2 + 3 and len(done) < 9
    monkeypatch.undo()
    assert snapshot_all(ctx, parallelism=3) == 1000 - rows_done  # the rest, and only the rest
    assert all(c.done for c in ctx.state.chunks(str(table)))
    target = ctx.sink.fetch_all(ctx.target(table), ctx.schemas[table])
    ctx.close()
    assert target == [(i, "s") for i in range(1, 1001)]
