"""Change events and how a batch of them reduces to set operations on a target table.

Row images are tuples in the table's column order, already converted to target values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["insert", "update", "delete"]


@dataclass(frozen=True)
class RowChange:
    """One row event: ``before`` for update/delete, ``after`` for insert/update."""

    op: Op
    before: tuple[Any, ...] | None
    after: tuple[Any, ...] | None


def key_of(row: Sequence[Any], key_positions: Sequence[int]) -> tuple[Any, ...]:
    return tuple(row[i] for i in key_positions)


def collapse(
    changes: Iterable[RowChange], key_positions: Sequence[int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Reduce ordered changes to ``(keys_to_delete, rows_to_insert)``.

    Applying "delete every returned key, then insert every returned row" leaves each key in the
    state its LAST change gave it. An update that changes the key (including a change the source
    collation calls equal, such as ``'abc'`` -> ``'ABC'``) deletes the old key and writes the new
    one (consistency-notes.md items 2 and 3). Keys of rows to insert are always in the delete list,
    so applying is idempotent: replaying a batch after a crash gives the same table.
    """
    final: dict[tuple[Any, ...], tuple[Any, ...] | None] = {}
    for ch in changes:
        if ch.op == "insert":
            assert ch.after is not None
            final[key_of(ch.after, key_positions)] = ch.after
        elif ch.op == "update":
            assert ch.before is not None and ch.after is not None
            old = key_of(ch.before, key_positions)
            new = key_of(ch.after, key_positions)
            if old != new:
                final[old] = None
            final[new] = ch.after
        elif ch.op == "delete":
            assert ch.before is not None
            final[key_of(ch.before, key_positions)] = None
        else:  # pragma: no cover - Op is a closed set
            raise ValueError(f"unknown change op {ch.op!r}")
    keys = list(final)
    rows = [r for r in final.values() if r is not None]
    return keys, rows
