"""Change events and how a batch of them reduces to set operations on a target table.

Row images are tuples in the table's column order, already converted to target values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, Literal, NamedTuple

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
    changes: Iterable[RowChange], key_positions: Sequence[int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Reduce ordered changes to ``(keys_to_delete, rows_to_upsert)``.

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
    return keys, rows
