"""Row changes of one table held column by column, from the binlog rows decoder straight to Arrow.

The row path builds a tuple and a :class:`~cdc_assets.core.events.RowChange` per row, collapses them
by key (:func:`~cdc_assets.core.events.collapse`) and transposes the surviving rows into Arrow columns
in the writer. For a table written as it is read (no transform rule, no snapshot watermark left to
check) the generated decoder (:func:`cdc_assets.core.row_codegen.compile_columns_decoder`) appends
each upserted row's values to one list per column and its key to a list of keys instead; a delete
(or an update that changes the key) is kept aside with its place among the upserts. :meth:`collapse`
then reduces the batch with exactly ``collapse``'s rule (each key ends in the state its LAST change
gave it, keys compared as the same Python values), and :meth:`to_arrow` builds the columns at C
speed and keeps the surviving rows with one ``take``.

DECIMAL columns of precision <= 18 travel as their unscaled integers (one ``int`` instead of a
``Decimal`` built in the decoder and converted back by Arrow); every other value is the canonical
Python value the row path holds.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from cdc_assets.core.events import RowChange

#: exact for every unscaled DECIMAL(18); only used to move the decimal point
_CTX = decimal.Context(prec=100, Emin=-999999, Emax=999999, traps=[decimal.Inexact, decimal.Rounded])


@dataclass(frozen=True)
class ColumnLayout:
    """What a batch's columns hold: two batches extend each other only when their layouts are equal."""

    columns: int
    key_positions: tuple[int, ...]
    #: (column position, precision, scale) of the DECIMAL columns held as unscaled integers
    unscaled: tuple[tuple[int, int, int], ...] = ()


class ColumnBatch:
    """Changes of one table: ``cols`` (one list per column) and ``keys`` of the upserted rows, in order;
    ``deletes``: ``(key tuple, upserts before it, before image, is_update)``. ``len()`` is the number of
    row changes read (an update counts once), as for a list of RowChange."""

    __slots__ = ("cols", "deletes", "keys", "layout", "rows")

    def __init__(self, layout: ColumnLayout):
        self.layout = layout
        self.cols: list[list[Any]] = [[] for _ in range(layout.columns)]
        self.keys: list[Any] = []
        self.deletes: list[tuple[tuple[Any, ...], int, tuple[Any, ...], bool]] = []
        self.rows = 0

    def __len__(self) -> int:
        return self.rows

    def extend(self, other: ColumnBatch) -> None:
        """Append ``other``'s changes (of the same layout) after this batch's."""
        if other.layout != self.layout:
            raise ValueError("column batches of different layouts cannot be joined")
        offset = len(self.keys)
        for mine, theirs in zip(self.cols, other.cols, strict=True):
            mine.extend(theirs)
        if other.deletes:
            self.deletes.extend((k, n + offset, b, u) for k, n, b, u in other.deletes)
        self.keys.extend(other.keys)
        self.rows += other.rows

    def collapse(self) -> tuple[list[tuple[Any, ...]], list[int] | None]:
        """``(keys_to_delete, surviving upserts)``, as :func:`~cdc_assets.core.events.collapse` reduces the
        same changes: the keys whose last change deleted them, and the positions of the upserts that are
        their key's last change (None: every upsert survives)."""
        last = dict(zip(self.keys, range(len(self.keys)), strict=True))  # each key's last upsert
        single = len(self.layout.key_positions) == 1
        deleted: dict[tuple[Any, ...], None] = {}
        for key, n, _before, _update in self.deletes:
            k = key[0] if single else key
            if last.get(k, -1) < n:  # no upsert of the key after this delete
                last.pop(k, None)
                deleted[key] = None
        if len(last) == len(self.keys):
            return list(deleted), None
        return list(deleted), list(last.values())

    def exact(self, position: int, value: Any) -> Any:
        """The canonical value of column ``position`` for a value held in the batch."""
        for pos, _precision, scale in self.layout.unscaled:
            if pos == position and value is not None:
                return Decimal(value).scaleb(-scale, _CTX)
        return value

    def _column(self, position: int, field: pa.Field) -> pa.Array:
        values = self.cols[position]
        for pos, precision, scale in self.layout.unscaled:
            if pos != position:
                continue
            if field.type == pa.decimal128(precision, scale):
                # the unscaled integers are the decimal128 values of the column's own type
                ints = pa.array(values, pa.int64())
                return ints.cast(pa.decimal128(19, 0)).view(pa.decimal128(precision, scale))
            return pa.array([self.exact(position, v) for v in values], type=field.type)
        return pa.array(values, type=field.type)

    def to_arrow(self, schema: pa.Schema, keep: Sequence[int] | None = None) -> tuple[list[tuple], pa.Table]:
        """``(keys_to_delete, rows)``: the collapsed batch, its rows as an Arrow table of ``schema`` (the
        columns ``keep`` lists, by position, when given; else every column)."""
        keys, survivors = self.collapse()
        positions = list(keep) if keep is not None else list(range(self.layout.columns))
        if len(positions) != len(schema):
            raise ValueError(f"{len(positions)} columns for an Arrow schema of {len(schema)}")
        arrays = [self._column(pos, field) for pos, field in zip(positions, schema, strict=True)]
        table = pa.Table.from_arrays(arrays, schema=schema)
        if survivors is not None:
            table = table.take(pa.array(survivors, pa.int64()))
        return keys, table

    def row(self, index: int) -> tuple[Any, ...]:
        """Upsert ``index`` as a tuple of canonical values."""
        return tuple(self.exact(pos, col[index]) for pos, col in enumerate(self.cols))

    def changes(self) -> list[RowChange]:
        """The batch as the RowChange list the row path would hold (for joining a batch of another
        layout, or rows decoded by the exact path)."""
        out: list[RowChange] = []
        deletes = self.deletes
        d = 0
        for i in range(len(self.keys)):
            update_before = None
            while d < len(deletes) and deletes[d][1] == i:
                _key, _n, before, is_update = deletes[d]
                d += 1
                if is_update:  # the key-changing update whose after image is upsert i
                    update_before = before
                else:
                    out.append(RowChange("delete", before, None))
            if update_before is not None:
                out.append(RowChange("update", update_before, self.row(i)))
            else:
                out.append(RowChange("insert", None, self.row(i)))
        out.extend(RowChange("delete", before, None) for _k, _n, before, _u in deletes[d:])
        return out
