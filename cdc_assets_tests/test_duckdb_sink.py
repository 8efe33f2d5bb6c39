"""The DuckDB sink against real DuckDB files (no MySQL needed), and other processes sharing them."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import subprocess
import sys
import threading
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from cdc_assets.core.events import RowChange, collapse
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.errors import SinkError, TransientError

SCHEMA = TableSchema(
    table_id=TableId("shop", 'odd `name" here'),
    columns=(
        Column(
            "sku",
            "varchar",
            "varchar(32)",
            nullable=False,
            char_max_length=32,
            collation="utf8mb4_general_ci",
        ),
        Column("select", "decimal", "decimal(10,2)", numeric_precision=10, numeric_scale=2),
        Column("ünï code", "datetime", "datetime(6)", datetime_precision=6),
    ),
    primary_key=("sku",),
)
ROW_A = ("abc", Decimal("1.50"), dt.datetime(2024, 1, 2, 3, 4, 5, 123456))
ROW_B = ("xyz", None, None)


@pytest.mark.parametrize("file_name", ["shop.duckdb", "target.duckdb"])
def test_a_file_named_like_the_schema_works(tmp_path, file_name):
    # DuckDB names the file's catalog after its stem: "shop.duckdb" + schema "shop" must not clash.
    sink = DuckDBSink(tmp_path / file_name)
    target = SCHEMA.table_id
    sink.ensure_table(target, SCHEMA)
    sink.ensure_table(target, SCHEMA)  # idempotent
    assert sink.upsert(target, SCHEMA, [ROW_A, ROW_B]) == 2
    assert sink.upsert(target, SCHEMA, [ROW_A]) == 1  # re-loading a chunk replaces, never duplicates
    assert sink.row_count(target) == 2
    assert sink.fetch_all(target, SCHEMA) == [ROW_A, ROW_B]


def test_missing_table_counts_as_none(tmp_path):
    sink = DuckDBSink(tmp_path / "x.duckdb")
    assert sink.row_count(TableId("a", "b")) is None
    sink.ensure_table(TableId("a", "c"), SCHEMA)
    assert sink.row_count(TableId("a", "b")) is None


def test_apply_batch_gives_each_key_its_last_state_and_is_idempotent(tmp_path):
    sink = DuckDBSink(tmp_path / "t.duckdb")
    target = TableId("s", "t")
    sink.ensure_table(target, SCHEMA)
    sink.upsert(target, SCHEMA, [ROW_A, ROW_B])
    changes = [
        RowChange("update", ROW_A, ("ABC", Decimal("2.00"), None)),  # key change by case only
        RowChange("insert", None, ("new", Decimal("3.00"), None)),
        RowChange("delete", ROW_B, None),
        RowChange("update", ("new", Decimal("3.00"), None), ("new", Decimal("4.00"), None)),
    ]
    keys, rows = collapse(changes, [0])
    for _ in range(2):  # replaying after a crash changes nothing
        sink.apply_batch([(target, SCHEMA, keys, rows)])
        assert sink.fetch_all(target, SCHEMA) == [
            ("ABC", Decimal("2.00"), None),
            ("new", Decimal("4.00"), None),
        ]


@pytest.mark.parametrize(
    ("changes", "deleted", "written"),
    [
        ([RowChange("insert", None, (1, "a"))], [], [(1, "a")]),
        ([RowChange("insert", None, (1, "a")), RowChange("delete", (1, "a"), None)], [(1,)], []),
        ([RowChange("delete", (1, "a"), None), RowChange("insert", None, (1, "b"))], [], [(1, "b")]),
        ([RowChange("update", (1, "a"), (2, "a"))], [(1,)], [(2, "a")]),
        (
            [RowChange("update", (1, "a"), (2, "a")), RowChange("update", (2, "a"), (1, "z"))],
            [(2,)],
            [(1, "z")],
        ),
    ],
)
def test_collapse(changes, deleted, written):
    """The keys are those whose last change deleted them; a written row's own key is not among them."""
    keys, rows = collapse(changes, [0])
    assert sorted(keys) == sorted(deleted)
    assert rows == written


@pytest.mark.parametrize("listed", [False, True], ids=["rows-keys-not-listed", "rows-keys-listed"])
def test_apply_batch_rows_replace_their_keys_whether_or_not_the_keys_are_listed(tmp_path, listed):
    sink = DuckDBSink(tmp_path / "t.duckdb")
    target = TableId("s", "t")
    sink.ensure_table(target, SCHEMA)
    sink.upsert(target, SCHEMA, [ROW_A, ROW_B])
    new_a = (ROW_A[0], Decimal("9.00"), None)
    keys = [(ROW_B[0],), (ROW_A[0],)] if listed else [(ROW_B[0],)]
    for _ in range(2):
        sink.apply_batch([(target, SCHEMA, keys, [new_a])])
        assert sink.fetch_all(target, SCHEMA) == [new_a]


# ------------------------------------------------------------------ one DuckDB per sink, the file attached
KEYED = TableSchema(
    table_id=TableId("s", "t"),
    columns=(Column("id", "bigint", "bigint(20)", nullable=False), Column("v", "varchar", "varchar(20)")),
    primary_key=("id",),
)


def _rows(first: int, n: int) -> pa.Table:
    return pa.table({"id": pa.array(range(first, first + n), pa.int64()), "v": [f"v{i}" for i in range(n)]})


def _row_groups(sink: DuckDBSink) -> list[int]:
    """Rows per row group of s.t, read by a DuckDB of this test's own."""
    with duckdb.connect(str(sink.path), read_only=True) as conn:
        return [
            n
            for (n,) in conn.execute(
                "SELECT max(count) FROM pragma_storage_info('s.t') WHERE column_name = 'id' "
                "GROUP BY row_group_id ORDER BY row_group_id"
            ).fetchall()
        ]


def test_snapshot_writes_leave_earlier_row_groups_alone_until_a_change_batch(tmp_path):
    """Each upsert_arrow checkpoints without vacuum: with it, every checkpoint merged the earlier writes'
    row groups again (batches of 50,000 + 50,000 + a remainder made that most of a snapshot's time). The
    first change batch, checkpointed with DuckDB's defaults, merges them once."""
    sink = DuckDBSink(tmp_path / "rg.duckdb")
    sink.ensure_table(KEYED.table_id, KEYED)
    sizes = [3000, 3000, 100, 3000, 3000, 100]
    first = 0
    for n in sizes:
        assert sink.upsert_arrow(KEYED.table_id, KEYED, _rows(first, n)) == n
        first += n
    assert _row_groups(sink) == sizes  # with vacuum: one group of 12,200 rows
    sink.apply_batch([(KEYED.table_id, KEYED, [(0,)], [(0, "changed")])])
    assert _row_groups(sink) == [sum(sizes)]
    rows = sink.fetch_all(KEYED.table_id, KEYED)
    assert len(rows) == sum(sizes) and rows[0] == (0, "changed") and rows[-1] == (first - 1, "v99")


_OTHER_WRITER = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("INSERT INTO s.t VALUES (-1, 'other process')")
print("held", flush=True)
sys.stdin.readline()  # hold the file until the test says so
conn.close()
"""


def _other_writer(path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _OTHER_WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_the_file_is_unlocked_between_operations_and_a_locked_file_is_waited_for(tmp_path):
    path = tmp_path / "shared.duckdb"
    sink = DuckDBSink(path, lock_timeout=60)
    sink.ensure_table(KEYED.table_id, KEYED)
    sink.upsert_arrow(KEYED.table_id, KEYED, _rows(0, 2))
    assert sink.row_count(KEYED.table_id) == 2
    # the sink's DuckDB lives on, but another process can open the file and write...
    other = _other_writer(path)
    try:
        # ...and while it holds it, a sink that may not wait gives up with a TransientError
        with pytest.raises(TransientError, match="stayed locked by another process"):
            DuckDBSink(path, lock_timeout=0.2).row_count(KEYED.table_id)
        threading.Timer(0.5, other.stdin.close).start()  # end of input: the other writer closes the file
        sink.upsert_arrow(KEYED.table_id, KEYED, _rows(2, 1))  # waits for it
        assert other.wait(timeout=30) == 0
    finally:
        if other.poll() is None:
            other.kill()
    assert sink.fetch_all(KEYED.table_id, KEYED) == [(-1, "other process"), (0, "v0"), (1, "v1"), (2, "v0")]
    sink.close()
    sink.close()  # idempotent; the next operation starts another DuckDB
    assert sink.row_count(KEYED.table_id) == 4


def _write_in_child(sink: DuckDBSink) -> None:
    sink.upsert_arrow(KEYED.table_id, KEYED, _rows(100, 3))


def test_a_forked_child_uses_a_duckdb_of_its_own(tmp_path):
    sink = DuckDBSink(tmp_path / "fork.duckdb")
    sink.ensure_table(KEYED.table_id, KEYED)
    sink.upsert_arrow(KEYED.table_id, KEYED, _rows(0, 1))  # the parent's DuckDB is running
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(sink,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    sink.upsert_arrow(KEYED.table_id, KEYED, _rows(200, 1))  # the parent's DuckDB still works
    assert [r[0] for r in sink.fetch_all(KEYED.table_id, KEYED)] == [0, 100, 101, 102, 200]


class _FullDisk:
    """A DuckDB connection whose CHECKPOINT fails as a full disk makes it (fault injection)."""

    def __init__(self, conn) -> None:
        self._conn = conn

    def execute(self, sql: str, *args):
        if sql.startswith("CHECKPOINT"):
            raise duckdb.IOException("could not write: No space left on device")
        return self._conn.execute(sql, *args)


class _FailingCheckpoint(DuckDBSink):
    fail = True

    def _checkpoint_without_vacuum(self, conn) -> None:
        failing, self.fail = self.fail, False
        super()._checkpoint_without_vacuum(_FullDisk(conn) if failing else conn)


def test_a_write_whose_checkpoint_fails_raises_and_loses_nothing(tmp_path):
    sink = _FailingCheckpoint(tmp_path / "f.duckdb")
    sink.ensure_table(KEYED.table_id, KEYED)
    with pytest.raises(
        SinkError, match=r"checkpoint after a committed write to .*f\.duckdb failed .*No space left"
    ):
        sink.upsert_arrow(KEYED.table_id, KEYED, _rows(0, 2))
    # committed before the checkpoint: the rows are there, and the file is usable again
    assert sink.fetch_all(KEYED.table_id, KEYED) == [(0, "v0"), (1, "v1")]
    sink.upsert_arrow(KEYED.table_id, KEYED, _rows(2, 1))
    sink.close()
    assert DuckDBSink(tmp_path / "f.duckdb").row_count(KEYED.table_id) == 3
