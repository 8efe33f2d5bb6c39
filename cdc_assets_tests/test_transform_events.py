"""Event rules without a server: ``__data_event_type__``, ``op_ts`` and SOFT_DELETE evaluated over
uncollapsed change batches (DuckDB, and the DuckDB sink for what a batch leaves in a table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdc_assets.core.events import EventChanges, RowChange, TableEvents, event_images
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.selectors import parse_selectors
from cdc_assets.core.transform import parse_rule
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.engine.transform import TransformEvaluator, TransformingSink, change_buffer

SCHEMA = TableSchema(
    TableId("shop", "t"),
    (
        Column("id", "int", "int(11)", nullable=False),
        Column("v", "varchar", "varchar(9)", char_max_length=9, charset="utf8mb4"),
    ),
    ("id",),
)
TARGET = TableId("dst", "t")
OP_TS = "\\*, __data_event_type__ AS op, op_ts AS ts"


def _rule(projection=None, filter=None, converter=None):
    return parse_rule(
        0,
        selectors=tuple(parse_selectors("shop.t")),
        projection=projection,
        filter=filter,
        converter_after_transform=converter,
    )


def _changes(*events: tuple[int, list[RowChange]]) -> EventChanges:
    out = EventChanges()
    for timestamp, changes in events:
        out.add(changes, timestamp)
    return out


def ins(i, v):
    return RowChange("insert", None, (i, v))


def upd(i, v, j, w):
    return RowChange("update", (i, v), (j, w))


def dele(i, v):
    return RowChange("delete", (i, v), None)


@pytest.fixture
def sink(tmp_path: Path):
    sinks = []

    def make(projection=None, filter=None, converter=None):
        s = TransformingSink(
            DuckDBSink(tmp_path / f"t{len(sinks)}.duckdb"),
            [_rule(projection, filter, converter)],
            TransformEvaluator(time_zone="UTC", source_metadata=("op_ts",)),
        )
        sinks.append(s)
        s.ensure_table(TARGET, SCHEMA)
        return s

    yield make
    for s in sinks:
        s.close()


def _rows(s: TransformingSink) -> list[tuple]:
    return s.inner.fetch_all(TARGET, s.plan(SCHEMA).target)


def test_event_images_carry_each_rows_kind_time_and_change():
    changes = _changes((10, [ins(1, "a"), ins(2, "b")]), (11, [upd(1, "a", 1, "A")]), (12, [dele(2, "b")]))
    images = event_images(changes, keep=(0,))
    assert images.rows == [(1,), (2,), (1,), (1,), (2,)]
    assert images.kinds == ["+I", "+I", "-U", "+U", "-D"]
    assert images.times_ms == [10_000, 10_000, 11_000, 11_000, 12_000]
    assert images.seqs == [0, 1, 2, 2, 3]
    assert images.new == [True, True, False, True, False]


def test_rules_reading_event_columns_or_converting_deletes_are_event_rules():
    assert _rule(OP_TS).needs_events
    assert _rule("id", "__data_event_type__ <> '-D'").needs_events
    assert _rule(converter="soft_delete").needs_events  # any case, as the loader accepts it
    assert not _rule("id, UPPER(v) AS u", "v <> 'x'").needs_events
    s = TransformingSink(None, [_rule(OP_TS)], TransformEvaluator(time_zone="UTC"))
    assert isinstance(change_buffer(s, TableId("shop", "t")), EventChanges)
    assert change_buffer(s, TableId("shop", "other")).__class__ is list
    assert change_buffer(object(), TableId("shop", "t")).__class__ is list  # a sink without rules


def test_snapshot_rows_are_inserts_at_time_zero(sink):
    s = sink(OP_TS)
    assert s.upsert(TARGET, SCHEMA, [(1, "a"), (2, "b")]) == 2
    assert _rows(s) == [(1, "a", "+I", 0), (2, "b", "+I", 0)]


def test_each_key_shows_its_last_event_kind_and_time(sink):
    s = sink(OP_TS)
    s.upsert(TARGET, SCHEMA, [(1, "a"), (2, "b"), (3, "c")])
    changes = _changes(
        (1_700_000_000, [ins(4, "d"), upd(1, "a", 1, "A")]),
        (1_700_000_001, [dele(2, "b"), upd(3, "c", 3, "C"), ins(5, "e")]),
        (1_700_000_002, [upd(3, "C", 3, "CC"), dele(5, "e")]),
    )
    s.apply_batch([TableEvents(TARGET, SCHEMA, changes, (0,), None)], tag="b1")
    assert _rows(s) == [
        (1, "A", "+U", 1_700_000_000_000),
        (3, "CC", "+U", 1_700_000_002_000),
        (4, "d", "+I", 1_700_000_000_000),
    ]


def test_a_key_change_deletes_the_old_key_and_writes_the_new_one(sink):
    s = sink(OP_TS)
    s.upsert(TARGET, SCHEMA, [(1, "a")])
    s.apply_batch([TableEvents(TARGET, SCHEMA, _changes((5, [upd(1, "a", 7, "a")])), (0,), None)])
    assert _rows(s) == [(7, "a", "+U", 5000)]


def test_a_filter_on_the_event_kind_drops_those_events_and_keeps_the_rest(sink):
    # Flink evaluates the filter on each row image: an update's -U/+U both fail '= +I', so the update is
    # dropped (the inserted row stays as inserted); a delete's -D fails, so the row stays too
    s = sink("\\*, __data_event_type__ AS op", "__data_event_type__ = '+I'")
    s.upsert(TARGET, SCHEMA, [(1, "a"), (2, "b")])
    changes = _changes(
        (1, [upd(1, "a", 1, "A"), dele(2, "b"), ins(3, "c"), upd(3, "c", 3, "C"), ins(4, "d")])
    )
    s.apply_batch([TableEvents(TARGET, SCHEMA, changes, (0,), None)])
    assert _rows(s) == [(1, "a", "+I"), (2, "b", "+I"), (3, "c", "+I"), (4, "d", "+I")]


def test_an_update_whose_new_row_fails_an_event_filter_is_a_delete(sink):
    # '-U' passes "<> '+U'", '+U' does not: Flink turns the update into a delete of the old row
    s = sink("\\*, __data_event_type__ AS op", "__data_event_type__ <> '+U'")
    s.upsert(TARGET, SCHEMA, [(1, "a"), (2, "b")])
    s.apply_batch([TableEvents(TARGET, SCHEMA, _changes((1, [upd(1, "a", 1, "A")])), (0,), None)])
    assert _rows(s) == [(2, "b", "+I")]


def test_a_filter_on_op_ts_keeps_changes_made_after_a_time(sink):
    s = sink(OP_TS, "op_ts >= 2000")
    s.upsert(TARGET, SCHEMA, [(1, "a")])  # op_ts 0: filtered out
    assert _rows(s) == []
    s.apply_batch([TableEvents(TARGET, SCHEMA, _changes((1, [ins(2, "b")]), (2, [ins(3, "c")])), (0,), None)])
    assert _rows(s) == [(3, "c", "+I", 2000)]


def test_soft_delete_writes_the_deleted_row_with_minus_d(sink):
    s = sink("\\*, __data_event_type__ AS op", converter="SOFT_DELETE")
    s.upsert(TARGET, SCHEMA, [(1, "a"), (2, "b")])
    changes = _changes((1, [dele(1, "a"), upd(2, "b", 2, "B"), ins(3, "c"), dele(3, "c")]))
    s.apply_batch([TableEvents(TARGET, SCHEMA, changes, (0,), None)])
    assert _rows(s) == [(1, "a", "-D"), (2, "B", "+U"), (3, "c", "-D")]
    # a row inserted again after its soft delete is a live row again
    s.apply_batch([TableEvents(TARGET, SCHEMA, _changes((2, [ins(1, "a2")])), (0,), None)])
    assert _rows(s)[0] == (1, "a2", "+I")


def test_soft_delete_of_an_update_leaving_the_filter_writes_its_old_row(sink):
    # Flink: old row passes, new row fails -> a delete of the old row (-U), which SOFT_DELETE writes
    s = sink("\\*, __data_event_type__ AS op", "v <> 'out'", converter="SOFT_DELETE")
    s.upsert(TARGET, SCHEMA, [(1, "a")])
    s.apply_batch([TableEvents(TARGET, SCHEMA, _changes((1, [upd(1, "a", 1, "out")])), (0,), None)])
    assert _rows(s) == [(1, "a", "-U")]


def test_snapshot_backfill_batches_stay_snapshot_rows_and_delete(sink):
    # collapsed (target, schema, keys, rows) entries come from the snapshot's backfill: +I, 0, real deletes
    s = sink(OP_TS, converter="SOFT_DELETE")
    s.upsert(TARGET, SCHEMA, [(1, "a"), (2, "b")])
    s.apply_batch([(TARGET, SCHEMA, [(1,)], [(2, "B")])])
    assert _rows(s) == [(2, "B", "+I", 0)]


def test_event_rows_are_fitted_to_the_columns_the_target_keeps(sink):
    # the source gained a column the (LENIENT) write schema lacks: images are fitted before evaluation
    s = sink(OP_TS)
    changes = _changes(
        (3, [RowChange("insert", None, (1, "x", "a")), RowChange("delete", (9, "y", "z"), None)])
    )
    s.apply_batch([TableEvents(TARGET, SCHEMA, changes, (0,), (0, 2))])
    assert _rows(s) == [(1, "a", "+I", 3000)]
