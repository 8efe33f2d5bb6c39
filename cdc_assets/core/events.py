"""Change events and how a batch of them reduces to set operations on a target table.

Row images are tuples in the table's column order, already converted to target values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, Literal, NamedTuple

from cdc_assets.core.schema import TableId, TableSchema, keep_columns

Op = Literal["insert", "update", "delete"]


class RowChange(NamedTuple):
    """One row event: ``before`` for update/delete, ``after`` for insert/update.

    A NamedTuple, not a frozen dataclass: the binlog reader builds one per row, and a frozen
    dataclass's ``__init__`` (three ``object.__setattr__`` calls) cost more than decoding the row.
    """

    op: Op
    before: tuple[Any, ...] | None
    after: tuple[Any, ...] | None


def key_of(row: Sequence[Any], key_positions: Sequence[int]) -> tuple[Any, ...]:
    return tuple(row[i] for i in key_positions)


def _key_getter(key_positions: Sequence[int]):
    """``key_of`` as one C call per row (itemgetter returns a bare value for one position)."""
    if len(key_positions) == 1:
        (i,) = key_positions
        return lambda row: (row[i],)
    if not key_positions:
        return lambda row: ()
    return itemgetter(*key_positions)


def collapse(
    changes: Iterable[RowChange], key_positions: Sequence[int], keep: Sequence[int] | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Reduce ordered changes to ``(keys_to_delete, rows_to_upsert)``; with ``keep`` (the positions of the
    columns a target has, :func:`~cdc_assets.core.schema.fit_to_target`) the rows are cut to them.

    Applying "delete every returned key, then upsert every returned row (replacing the row its key
    holds)" leaves each key in the state its LAST change gave it. An update that changes the key
    (including a change the source collation calls equal, such as ``'abc'`` -> ``'ABC'``) deletes the
    old key and writes the new one (consistency-notes.md items 2 and 3). The keys are only those whose
    last change deleted them: a row's own key is replaced by the upsert (each sink does so), so the keys
    of the rows are not converted twice. Applying is idempotent: replaying a batch after a crash gives
    the same table.
    """
    final: dict[tuple[Any, ...], tuple[Any, ...] | None] = {}
    key = _key_getter(key_positions)
    for op, before, after in changes:
        if op == "insert":
            assert after is not None
            final[key(after)] = after
        elif op == "update":
            assert before is not None and after is not None
            old = key(before)
            new = key(after)
            if old != new:
                final[old] = None
            final[new] = after
        elif op == "delete":
            assert before is not None
            final[key(before)] = None
        else:  # pragma: no cover - Op is a closed set
            raise ValueError(f"unknown change op {op!r}")
    keys = [k for k, r in final.items() if r is None]
    rows = [r for r in final.values() if r is not None]
    return keys, rows if keep is None else keep_columns(rows, keep)


class EventChanges(list):
    """A table's buffered changes (a list of :class:`RowChange`, as any table's) together with each
    binlog event's time: ``runs`` holds ``(index of the event's first change, event time in Unix
    seconds)`` per event, in order. Kept only for tables whose transform reads event kinds or times
    (``cdc_assets.engine.transform``); every other table buffers a plain list."""

    __slots__ = ("runs",)

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[tuple[int, int]] = []

    def add(self, changes: Sequence[RowChange], timestamp: int) -> None:
        self.runs.append((len(self), timestamp))
        self.extend(changes)


class TableEvents(NamedTuple):
    """One table's entry in a change batch when its transform needs every change (not the collapsed
    ``(target, schema, keys, rows)``): the changes as read, rows in the decoding schema's columns;
    ``keep`` fits them to ``schema`` (the columns the target has, None: all)."""

    target: TableId
    schema: TableSchema
    changes: EventChanges
    key_positions: tuple[int, ...]
    keep: tuple[int, ...] | None


#: Flink CDC's ``__data_event_type__`` of a row image: (op, is the new row)
_KINDS = {("insert", True): "+I", ("update", False): "-U", ("update", True): "+U", ("delete", False): "-D"}


class EventImages(NamedTuple):
    """Every row image of a batch of changes, one entry each in every list: the image (fitted to the
    target's columns), its ``__data_event_type__``, its event's time in milliseconds, the index of its
    change, and whether it is the new row (an update has two images, one of each)."""

    rows: list[tuple[Any, ...]]
    kinds: list[str]
    times_ms: list[int]
    seqs: list[int]
    new: list[bool]


def event_images(changes: EventChanges, keep: Sequence[int] | None = None) -> EventImages:
    """The row images of ``changes`` in order (an update's old row before its new one)."""
    out = EventImages([], [], [], [], [])
    rows, kinds, times, seqs, new = out
    starts = [start for start, _t in changes.runs]
    if not starts or starts[0] != 0:  # changes added without a time (none are): time 0
        starts.insert(0, 0)
        runs = [(0, 0), *changes.runs]
    else:
        runs = changes.runs
    ends = [*starts[1:], len(changes)]
    for (start, seconds), end in zip(runs, ends, strict=True):
        ms = seconds * 1000
        for i in range(start, end):
            op, before, after = changes[i]
            if before is not None:
                rows.append(before)
                kinds.append(_KINDS[op, False])
                times.append(ms)
                seqs.append(i)
                new.append(False)
            if after is not None:
                rows.append(after)
                kinds.append(_KINDS[op, True])
                times.append(ms)
                seqs.append(i)
                new.append(True)
    if keep is not None:
        out.rows[:] = keep_columns(rows, keep)
    return out
