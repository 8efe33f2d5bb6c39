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

Small DECIMAL and DATETIME columns (:func:`~cdc_assets.core.row_codegen.packed_ok`) travel as the
integers the binlog stores them as and are converted for the whole batch at once by Arrow compute
kernels (building a ``Decimal`` or a ``datetime`` per value, and converting it back in Arrow, cost more
than decoding the rest of the row); :meth:`ColumnBatch.exact` gives the value the row path holds, and the
tests hold both ways equal for every type case. Every other value is the canonical Python value.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdc_assets.core.events import RowChange
from cdc_assets.core.row_codegen import decimal_size, decimal_terms

#: exact for every unscaled DECIMAL(18); only used to move the decimal point
_CTX = decimal.Context(prec=100, Emin=-999999, Emax=999999, traps=[decimal.Inexact, decimal.Rounded])


@dataclass(frozen=True)
class ColumnLayout:
    """What a batch's columns hold: two batches extend each other only when their layouts are equal."""

    columns: int
    key_positions: tuple[int, ...]
    #: columns held as the integers the binlog stores them as: (position, "decimal", precision, scale)
    #: or (position, "datetime", fsp, 0)
    packed: tuple[tuple[int, str, int, int], ...] = ()


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

    def joins(self, other: ColumnBatch) -> bool:
        """Whether ``other`` can be appended to this batch (the same layout: the same object, mostly)."""
        return other.layout is self.layout or other.layout == self.layout

    def extend(self, other: ColumnBatch) -> None:
        """Append ``other``'s changes (of the same layout) after this batch's."""
        if not self.joins(other):
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
        if value is None:
            return None
        for pos, kind, a, b in self.layout.packed:
            if pos == position:
                return _decimal(value, a, b) if kind == "decimal" else _datetime(value)
        return value

    def _column(self, position: int, field: pa.Field) -> pa.Array:
        values = self.cols[position]
        for pos, kind, a, b in self.layout.packed:
            if pos != position:
                continue
            ints = pa.array(values, pa.int64())
            if kind == "decimal" and field.type == pa.decimal128(a, b):
                return _decimals(ints, a, b)
            if kind == "datetime" and field.type == pa.timestamp("us"):
                return _datetimes(ints)
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


# ------------------------------------------------------------------------------- packed values
def _decimal_sign(size: int) -> tuple[int, int]:
    top = 1 << (8 * size - 1)
    return top, top ^ ((1 << (8 * size)) - 1)


def _decimal(n: int, precision: int, scale: int) -> Decimal:
    """A packed DECIMAL as the row decoder reads it (``row_codegen._Gen._decimal``)."""
    top, flip = _decimal_sign(decimal_size(precision, scale))
    positive = bool(n & top)
    n ^= top if positive else flip
    value = sum(((n >> shift) & mask) * weight for shift, mask, weight in decimal_terms(precision, scale))
    return Decimal(value if positive else -value).scaleb(-scale, _CTX)


def _decimals(n: pa.Array, precision: int, scale: int) -> pa.Array:
    """:func:`_decimal` for an int64 array, as decimal128(precision, scale) (unscaled values < 10**18)."""
    top, flip = _decimal_sign(decimal_size(precision, scale))
    positive = pc.not_equal(pc.bit_wise_and(n, top), 0)
    n = pc.if_else(positive, pc.bit_wise_xor(n, top), pc.bit_wise_xor(n, flip))
    value = None
    for shift, mask, weight in decimal_terms(precision, scale):
        term = pc.multiply_checked(pc.bit_wise_and(pc.shift_right(n, shift), mask), weight)
        value = term if value is None else pc.add_checked(value, term)
    assert value is not None
    value = pc.if_else(positive, value, pc.negate_checked(value))
    return value.cast(pa.decimal128(19, 0)).view(pa.decimal128(precision, scale))


def _datetime(r: int) -> _dt.datetime | None:
    """A DATETIME as the row decoder reads it: the packed value << 24 | microseconds; None where the
    stored date or time is not a valid one (zero dates)."""
    n = r >> 24
    ym = (n >> 22) & 0x1FFFF
    try:
        return _dt.datetime(
            ym // 13, ym % 13, (n >> 17) & 31, (n >> 12) & 31, (n >> 6) & 63, n & 63, r & 0xFFFFFF
        )
    except ValueError:
        return None


#: days per month, index 0 unused (a month 0 is invalid anyway)
_MONTH_DAYS = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int64())


def _datetimes(r: pa.Array) -> pa.Array:
    """:func:`_datetime` for an int64 array, as timestamp("us"): what ``datetime`` refuses is null."""

    def field(x: pa.Array, shift: int, mask: int) -> pa.Array:
        return pc.bit_wise_and(pc.shift_right(x, shift), mask)

    def mod(x: pa.Array, k: int) -> pa.Array:
        return pc.subtract(x, pc.multiply(pc.divide(x, k), k))

    us = pc.bit_wise_and(r, 0xFFFFFF)
    n = pc.shift_right(r, 24)
    ym = field(n, 22, 0x1FFFF)
    y, m = pc.divide(ym, 13), mod(ym, 13)
    d, hh, mi, ss = field(n, 17, 31), field(n, 12, 31), field(n, 6, 63), pc.bit_wise_and(n, 63)
    leap = pc.and_(pc.equal(mod(y, 4), 0), pc.or_(pc.not_equal(mod(y, 100), 0), pc.equal(mod(y, 400), 0)))
    month_days = pc.add(pc.take(_MONTH_DAYS, m), pc.if_else(pc.and_(leap, pc.equal(m, 2)), 1, 0))
    valid = pc.and_(
        pc.and_(pc.and_(pc.greater_equal(y, 1), pc.less_equal(y, 9999)), pc.greater_equal(m, 1)),
        pc.and_(
            pc.and_(pc.greater_equal(d, 1), pc.less_equal(d, month_days)),
            pc.and_(
                pc.and_(pc.less_equal(hh, 23), pc.less_equal(mi, 59)),
                pc.and_(pc.less_equal(ss, 59), pc.less_equal(us, 999_999)),
            ),
        ),
    )
    # days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's days_from_civil), y >= 1
    early = pc.less_equal(m, 2)
    yy = pc.subtract(y, pc.if_else(early, 1, 0))
    era = pc.divide(yy, 400)
    yoe = pc.subtract(yy, pc.multiply(era, 400))
    mp = pc.add(m, pc.if_else(early, 9, -3))
    doy = pc.add(pc.divide(pc.add(pc.multiply(mp, 153), 2), 5), pc.subtract(d, 1))
    doe = pc.add(pc.add(pc.multiply(yoe, 365), pc.divide(yoe, 4)), pc.subtract(doy, pc.divide(yoe, 100)))
    days = pc.subtract(pc.add(pc.multiply(era, 146097), doe), 719468)
    seconds = pc.add(pc.add(pc.multiply(days, 86400), pc.multiply(hh, 3600)), pc.add(pc.multiply(mi, 60), ss))
    micros = pc.add(pc.multiply(seconds, 1_000_000), us)
    return pc.if_else(valid, micros, pa.scalar(None, pa.int64())).cast(pa.timestamp("us"))
