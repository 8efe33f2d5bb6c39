"""Schema changes that meet the snapshot, against a real MariaDB and both sinks (DuckDB, the StarRocks
stand-in): a column widened while the chunks are read, and a reload of chunks lost to a crash.

A chunk is read with the table as it is now; a column widened since the target was created holds
values the target's column cannot (a longer text, a bigger number): the chunk loader widens the target
first (when the behaviour allows it), or fails with an error that says what to do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.offsets import BinlogPosition, RestartPoint
from cdc_assets.core.sql import quote_table
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.snapshot import snapshot_all
from cdc_assets.engine.streaming import stream
from cdc_assets.engine.sync import run_sync
from cdc_assets.engine.watermark import StreamFilter
from cdc_assets.errors import TerminalError
from cdc_assets.standin import StandIn
from cdc_assets.state import SchemaChangeRecord, StateStore
from cdc_assets_tests.conftest import STARROCKS_PASSWORD
from cdc_assets_tests.pipelines import assert_identical, secrets_env, write_pipeline


@pytest.fixture(scope="module")
def standin36(tmp_path_factory):
    """A stand-in reporting StarRocks 3.6, which takes alter.column.type (the session's reports 3.3.5)."""
    with StandIn(
        password=STARROCKS_PASSWORD,
        data_dir=tmp_path_factory.mktemp("standin36"),
        version="3.6.1",
        alter_job_seconds=0.3,
    ) as server:
        yield server


def _pipeline(tmp_path, mysql_source, db, behavior: str, standin=None, sink_extra: str = ""):
    path = write_pipeline(tmp_path, mysql_source, db, standin=standin)
    text = path.read_text().replace("pipeline:\n", f"pipeline:\n  schema.change.behavior: {behavior}\n")
    if sink_extra:
        text = text.replace("sink:\n", "sink:\n" + sink_extra)
    path.write_text(text)
    return path


def _create(run, t: str) -> None:
    run(f"CREATE TABLE {t} (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(10), amount DECIMAL(5,2))")
    rows = ", ".join(f"({i}, {i * 10}, 'n{i}', {i}.25)" for i in range(1, 201))
    run(f"INSERT INTO {t} VALUES {rows}")


#: a widening DDL and an UPDATE that gives some rows values only the wider column holds
WIDENINGS = {
    "varchar": ("MODIFY COLUMN note VARCHAR(100)", "note = CONCAT(REPEAT('w', 60), id)"),
    "int": ("MODIFY COLUMN qty BIGINT NOT NULL", "qty = 5000000000 + id"),
    "decimal": ("MODIFY COLUMN amount DECIMAL(12,2)", "amount = 1234567.89 + id"),
    "added": ("ADD COLUMN price DECIMAL(12,2) NOT NULL DEFAULT 1.50", "price = 99999.5 + id"),
}


def _widen_after_first_chunk(run, t: str, which: str):
    ddl, fill = WIDENINGS[which]
    done = []

    def after_chunk(progress) -> None:
        done.append(progress)
        if len(done) == 1:
            run(f"ALTER TABLE {t} {ddl}")
            # rows in the chunk read already (3) and in chunks read later (120, 190)
            run(f"UPDATE {t} SET {fill} WHERE id IN (3, 120, 190)")
            run(f"DELETE FROM {t} WHERE id IN (5, 122)")

    return after_chunk, done


@pytest.mark.parametrize("which", sorted(WIDENINGS))
@pytest.mark.parametrize("sink", ["duckdb", "starrocks"])
def test_a_column_widened_while_the_snapshot_runs(mysql_source, fresh_db, tmp_path, standin36, which, sink):
    """EVOLVE / LENIENT: rows read after the DDL hold values the target's column as created cannot; the chunk
    loader widens the target first, the snapshot completes, and the stream finds the change applied."""
    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    _create(run, t)
    # LENIENT (the default) passes a type change as it is, as EVOLVE does: DuckDB runs with one, StarRocks the other
    behavior = "evolve" if sink == "starrocks" else "lenient"
    path = _pipeline(
        tmp_path, mysql_source, fresh_db, behavior, standin=standin36 if sink == "starrocks" else None
    )
    after_chunk, done = _widen_after_first_chunk(run, t, which)
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    if sink == "starrocks" and which == "decimal":
        # StarRocks changes no DECIMAL's precision ("Can not change DECIMAL32(5,2) to DECIMAL64(12,2)"):
        # the chunk whose values do not fit fails, saying so and what to do
        with pytest.raises(TerminalError) as err:
            run_sync(cfg, until_caught_up=True, on_chunk=after_chunk)
        text = str(err.value)
        assert f"{fresh_db}.orders" in text and "column amount" in text and "Can not change" in text
        assert "resnapshot" in text and "chunk 2 of" in text and len(done) == 2
        return
    run_sync(cfg, until_caught_up=True, on_chunk=after_chunk)
    # every chunk of the plan loaded (InnoDB's row estimate decides whether 200 rows plan 4 or 5 chunks)
    assert {p.last.chunk.index for p in done} == set(range(done[-1].chunks_total))
    assert_identical(path, mysql_source, fresh_db, ["orders"])
    with StateStore(cfg.state_dir) as st:
        records = st.schema_changes()
    kinds = [(r.kind, r.origin) for r in records]
    if which == "added":  # the stream adds it (the chunks leave it out): nothing for the loader to do
        assert kinds == [("add.column", "stream")]
        return
    if sink == "duckdb" and which == "varchar":  # a DuckDB VARCHAR has no length: nothing to change
        assert kinds == [("alter.column.type", "stream")]
        return
    # the loader widened the target (once, however many chunks saw it); the stream found it done
    assert kinds == [("alter.column.type", "snapshot"), ("alter.column.type", "stream")]
    assert records[0].outcome.startswith("applied") and "chunk 1" in records[0].outcome
    assert "already applied" in records[1].outcome


@pytest.mark.parametrize(
    ("behavior", "sink_extra", "why"),
    [
        ("exception", "", "EXCEPTION"),
        ("ignore", "", "IGNORE"),
        ("evolve", "  exclude.schema.changes: alter.column.type\n", "exclude.schema.changes"),
    ],
)
def test_a_widening_the_behaviour_forbids_fails_the_chunk_clearly(
    mysql_source, fresh_db, tmp_path, standin36, behavior, sink_extra, why
):
    """The target keeps its narrower column; a chunk with values it cannot hold fails with an error that
    names the table, the column, the change and the way on, and is not retried as if it could pass."""
    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    _create(run, t)
    path = _pipeline(tmp_path, mysql_source, fresh_db, behavior, standin=standin36, sink_extra=sink_extra)
    after_chunk, done = _widen_after_first_chunk(run, t, "varchar")
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    with pytest.raises(TerminalError) as err:
        run_sync(cfg, until_caught_up=True, on_chunk=after_chunk)
    text = str(err.value)
    assert f"{fresh_db}.orders" in text and "note" in text and "varchar(100)" in text.lower()
    assert why in text and "resnapshot" in text
    # chunk 1 (ids 51-100) holds no wide value and loads; chunk 2 (id 120) fails, and no later one starts
    assert "chunk 2 of" in text and len(done) == 2


def test_a_widening_starrocks_cannot_apply_fails_the_chunk_clearly(mysql_source, fresh_db, tmp_path, standin):
    """StarRocks 3.3 (the session's stand-in) takes no alter.column.type: the chunk fails naming it."""
    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    _create(run, t)
    path = _pipeline(tmp_path, mysql_source, fresh_db, "evolve", standin=standin)
    after_chunk, done = _widen_after_first_chunk(run, t, "int")
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    with pytest.raises(TerminalError) as err:
        run_sync(cfg, until_caught_up=True, on_chunk=after_chunk)
    text = str(err.value)
    assert f"{fresh_db}.orders" in text and "qty" in text and "bigint" in text.lower()
    assert "3.3.5" in text and "3.6" in text
    assert "chunk 2 of" in text and len(done) == 2


def test_a_type_change_that_is_no_widening_fails_a_chunk_it_does_not_fit_clearly(
    mysql_source, fresh_db, tmp_path
):
    """INT to VARCHAR is left to the stream (rows from before it may not fit a narrower or other type); a
    chunk holding text the target's INT column cannot take fails naming the change, not with DuckDB's
    bare conversion error."""
    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    _create(run, t)
    path = _pipeline(tmp_path, mysql_source, fresh_db, "evolve")
    done = []

    def after_chunk(progress) -> None:
        done.append(progress)
        if len(done) == 1:
            run(f"ALTER TABLE {t} MODIFY COLUMN qty VARCHAR(20) NOT NULL")
            run(f"UPDATE {t} SET qty = CONCAT('q', id) WHERE id IN (3, 120, 190)")

    with pytest.raises(TerminalError) as err:
        run_sync(
            load_pipeline(path, env=secrets_env(mysql_source)), until_caught_up=True, on_chunk=after_chunk
        )
    text = str(err.value)
    assert (
        "chunk 2 of" in text and "column qty" in text and "varchar(20)" in text and "not a widening" in text
    )
    assert "resnapshot" in text and len(done) == 2


class _Crash(Exception):
    pass


def test_chunks_to_read_again_after_a_rename_survive_a_crash(mysql_source, fresh_db, tmp_path):
    """A column renamed while the snapshot ran: chunks read after it are read again once the stream has
    renamed the target's column. The stream dies right after saving the rename's restart point (the
    schema-change callback, which the Dagster op uses to materialize the schema asset, raises): the
    next run reads those chunks again from the state, and the target ends equal to the source."""
    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    _create(run, t)
    path = _pipeline(tmp_path, mysql_source, fresh_db, "evolve")
    done = []

    def after_chunk(progress) -> None:
        done.append(progress)
        if len(done) == 1:
            run(f"ALTER TABLE {t} RENAME COLUMN note TO remark")
            run(f"UPDATE {t} SET qty = qty + 1 WHERE id IN (4, 121, 191)")

    def crash(records) -> None:
        raise _Crash("killed right after the rename's restart point was saved")

    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        snapshot_all(ctx, after_chunk)
        with pytest.raises(_Crash):
            stream(ctx, until_caught_up=True, on_schema_change=crash)
        with StateStore(cfg.state_dir) as st:
            pending = st.chunk_reloads()
        assert pending == [(f"{fresh_db}.orders", i) for i in (1, 2, 3)]
    finally:
        ctx.close()
    run_sync(cfg, until_caught_up=True)  # a new process: the chunks are read again from the state
    assert_identical(path, mysql_source, fresh_db, ["orders"])
    with StateStore(cfg.state_dir) as st:
        assert st.chunk_reloads() == []


def test_snapshot_partitions_widen_the_target_once_and_materialize_the_schema_asset(
    mysql_source, fresh_db, tmp_path, monkeypatch
):
    """Through Dagster: each chunk is a partition run; the first partition loaded after the widening
    changes the target and materializes the table's schema asset with the change; the later ones find
    it applied (no second record)."""
    import dagster as dg

    from cdc_assets.core.schema import TableId
    from cdc_assets.defs.locate import PIPELINE_ENV, build_definitions
    from cdc_assets.defs.names import schema_asset_key, table_asset_key
    from cdc_assets.defs.pipeline import partitions_def_name

    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    _create(run, t)
    path = _pipeline(tmp_path, mysql_source, fresh_db, "evolve")
    for name, value in secrets_env(mysql_source).items():
        monkeypatch.setenv(name, value)
    defs = build_definitions({PIPELINE_ENV: str(path)})
    (pid,) = [
        j.name.removesuffix("_stream") for j in defs.resolve_all_job_defs() if j.name.endswith("_stream")
    ]
    target = TableId(fresh_db, "orders")
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "dagster.yaml", home / "dagster.yaml")
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        planner = defs.resolve_sensor_def(f"{pid}_snapshot_planner")
        for req in planner(dg.build_sensor_context(instance=instance)).dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        asset = defs.resolve_assets_def(table_asset_key(target))
        keys = instance.get_dynamic_partitions(partitions_def_name(pid, target))
        assert len(keys) == 4
        for n, key in enumerate(keys):
            assert dg.materialize([asset], partition_key=key, instance=instance).success
            if n == 0:
                run(f"ALTER TABLE {t} MODIFY COLUMN qty BIGINT NOT NULL")
                run(f"UPDATE {t} SET qty = 5000000000 + id WHERE id IN (3, 120, 190)")
        records = instance.fetch_materializations(schema_asset_key(target), limit=10).records
    assert len(records) == 1
    meta = records[0].asset_materialization.metadata
    assert meta["change"].value == "alter.column.type" and meta["origin"].value == "snapshot"
    assert "qty bigint(20) NOT NULL" in meta["columns_after"].value
    assert "qty int(11) NOT NULL" in meta["columns_before"].value
    assert meta["outcome"].value.startswith("applied by the snapshot: chunk 1")
    run_sync(load_pipeline(path, env=secrets_env(mysql_source)), until_caught_up=True)
    assert_identical(path, mysql_source, fresh_db, ["orders"])


def _load_in_a_process(path: str, env: dict, db: str, index: int, start, errors) -> None:
    """One chunk loaded by a process of its own, as a Dagster partition run loads it."""
    from cdc_assets.core.schema import TableId
    from cdc_assets.engine.snapshot import load_chunk

    table = TableId(db, "orders")
    ctx = RunContext(load_pipeline(Path(path), env=env))
    try:
        ctx.discover(only=[table])
        start.wait()
        load_chunk(ctx, table, index)
    except BaseException as exc:  # reported by the test
        errors.put(f"chunk {index}: {exc!r}")
    finally:
        ctx.close()


def test_loaders_in_parallel_apply_one_widening_safely(mysql_source, fresh_db, tmp_path, standin36):
    """Two chunks of one table loaded at once by processes of their own (as Dagster runs them, each with
    its own sink and state connections) both see the widened column: the StarRocks ALTER job runs once,
    the other loader waits for it or finds it done, every chunk lands, and the change is recorded once."""
    import multiprocessing

    from cdc_assets.core.schema import TableId
    from cdc_assets.engine.snapshot import load_chunk, plan_table

    t = quote_table(fresh_db, "orders")
    run = mysql_source.server.execute
    _create(run, t)
    path = _pipeline(tmp_path, mysql_source, fresh_db, "evolve", standin=standin36)
    cfg = load_pipeline(path, env=secrets_env(mysql_source))
    table = TableId(fresh_db, "orders")
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        assert len(plan_table(ctx, table)) == 4
        load_chunk(ctx, table, 0)
    finally:
        ctx.close()
    run(f"ALTER TABLE {t} MODIFY COLUMN note VARCHAR(100)")
    run(f"UPDATE {t} SET note = CONCAT(REPEAT('w', 60), id) WHERE id IN (3, 60, 120, 190)")
    spawn = multiprocessing.get_context("spawn")
    start, failures = spawn.Barrier(2), spawn.Queue()
    args = (str(path), secrets_env(mysql_source), fresh_db)
    loaders = [spawn.Process(target=_load_in_a_process, args=(*args, i, start, failures)) for i in (1, 2)]
    for p in loaders:
        p.start()
    for p in loaders:
        p.join()
    errors = []
    while not failures.empty():  # every loader has ended, its queue fed
        errors.append(failures.get())
    assert errors == [] and [p.exitcode for p in loaders] == [0, 0]
    # a later write, then the last chunk: its watermark is past the point the loaders recorded the change at
    run(f"UPDATE {t} SET qty = qty + 1 WHERE id = 200")
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        load_chunk(ctx, table, 3)
    finally:
        ctx.close()
    with StateStore(cfg.state_dir) as st:
        assert all(c.done for c in st.chunks(str(table)))
        assert [(r.kind, r.origin) for r in st.schema_changes()] == [("alter.column.type", "snapshot")]
    # The loaders' record does not switch off the stream's watermark filter for the table (the stream
    # has not read the statement yet): changes older than a chunk are still not applied over it.
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        watermarks = StreamFilter.open(ctx)
        try:
            assert watermarks.filters(table)
        finally:
            watermarks.close()
    finally:
        ctx.close()
    run_sync(cfg, until_caught_up=True)
    assert_identical(path, mysql_source, fresh_db, ["orders"])


def _record(origin: str, after: list[str], pos: int = 4) -> SchemaChangeRecord:
    return SchemaChangeRecord(
        source="db.t",
        target="db.t",
        kind="alter.column.type",
        ddl="ALTER TABLE t MODIFY c BIGINT",
        position=RestartPoint(BinlogPosition("mysql-bin.000001", pos)),
        columns_before=["c int(11)"],
        columns_after=after,
        outcome="applied",
        origin=origin,
    )


def test_state_keeps_reloads_with_the_restart_point_and_snapshot_changes_once(tmp_path):
    """Pure state: chunks to read again are saved with the restart point and forgotten one by one (and
    with their table); a change two loaders applied is recorded once; an older state folder, whose
    schema_changes table has no origin column, gets it with its records taken as the stream's."""
    folder = tmp_path / "state"
    with StateStore(folder) as st:
        st._conn.execute("ALTER TABLE schema_changes DROP COLUMN origin")  # as a folder of an older release
        st._conn.execute(
            "INSERT INTO schema_changes (source, target, kind, ddl, position, outcome, recorded_at) "
            "VALUES ('db.t', 'db.t', 'add.column', 'x', ?, 'applied', 0)",
            (json.dumps(RestartPoint(BinlogPosition("mysql-bin.000001", 4)).to_dict()),),
        )
    with StateStore(folder) as st:
        assert [r.origin for r in st.schema_changes()] == ["stream"]
        point = RestartPoint(BinlogPosition("mysql-bin.000001", 900))
        st.save_restart_point(point, reload=[("db.t", 2), ("db.t", 1), ("db.u", 0)])
        assert st.restart_point() == point
        assert st.chunk_reloads() == [("db.t", 1), ("db.t", 2), ("db.u", 0)]
        st.chunk_reloaded("db.t", 1)
        st.forget_table("db.u")
        assert st.chunk_reloads() == [("db.t", 2)]
        first = st.record_once([_record("snapshot", ["c bigint(20)"])])
        again = st.record_once([_record("snapshot", ["c bigint(20)"], pos=99)])
        later = st.record_once([_record("snapshot", ["c decimal(30,0)"])])
        assert (len(first), len(again), len(later)) == (1, 0, 1)
        assert [r.origin for r in st.schema_changes()] == ["stream", "snapshot", "snapshot"]
