"""Ordering primary keys as the source orders them, and finding the snapshot chunk that holds a key.

The watermark algorithm (flink-cdc.md section 2) asks two questions about a key seen in the binlog:
is it inside chunk ``[start, end)``, and which chunk holds it. Both must be answered in the source's
order (consistency-notes item 3): a case-insensitive VARCHAR key orders ``'abc' == 'ABC'``, and under
a PAD SPACE collation ``'a' == 'a '``. So a key is mapped to a *sort key* whose Python order is the
server's order:

- numbers, dates and times, binary strings and ENUMs are ordered in Python (:func:`python_sort_value`,
  which accepts both the driver's raw value, as chunk boundaries have, and the canonical value of the
  binlog path);
- text is ordered by the collation's weights, computed by the server with ``WEIGHT_STRING``
  (:func:`weight_sql`), padded to the column's length under PAD SPACE collations, so that a byte
  comparison of two weights is the collation's comparison.

A key column of another type (SET, BIT stored as text, DECIMAL kept as text, JSON, spatial) has no
order here: :func:`orderable` says so, and the caller falls back to applying every binlog change
after the table's lowest chunk watermark (eventually equal to the source, but a row may briefly show
an older version while the stream catches up).
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cdc_assets.core.offsets import BinlogPosition
from cdc_assets.core.schema import Column
from cdc_assets.core.values import enum_members

_INT_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year", "bit"}
_TEXT_TYPES = {"char", "varchar"}
_BYTES_TYPES = {"binary", "varbinary"}
_TEMPORAL = {"date", "datetime", "timestamp"}
_NAME = re.compile(r"^[A-Za-z0-9_]+$")

SortKey = tuple[Any, ...]


def _int(v: Any) -> int:
    if isinstance(v, (bytes, bytearray)):  # BIT read raw
        return int.from_bytes(v, "big")
    if isinstance(v, str):  # BIT as '0101' text
        return int(v, 2)
    return int(v)


def _temporal(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    return v


def _time(v: Any) -> dt.timedelta:
    if isinstance(v, dt.time):
        return dt.timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond)
    return v


def _bytes(v: Any) -> bytes:
    return v.encode() if isinstance(v, str) else bytes(v)


def needs_weight(col: Column) -> bool:
    """True for text key columns: their order comes from the server's collation weights."""
    return col.data_type in _TEXT_TYPES


def orderable(col: Column) -> bool:
    """Whether keys of this column can be ordered as the source orders them."""
    if needs_weight(col):
        return bool(col.charset and col.collation and _NAME.match(col.charset) and _NAME.match(col.collation))
    if col.data_type == "decimal":
        return (col.numeric_precision or 0) <= 38  # wider ones are canonical text; Decimal() parses both
    return col.data_type in _INT_TYPES | _TEMPORAL | _BYTES_TYPES | {"float", "double", "time", "enum"}


def python_sort_value(col: Column) -> Callable[[Any], Any]:
    """``value -> sort value`` for a column that is :func:`orderable` and not :func:`needs_weight`."""
    t = col.data_type
    if t in _INT_TYPES:
        return _int
    if t == "decimal":
        return lambda v: Decimal(str(v))
    if t in ("float", "double"):
        return float
    if t in _TEMPORAL:
        return _temporal
    if t == "time":
        return _time
    if t in _BYTES_TYPES:
        return _bytes
    if t == "enum":
        rank = {m.lower(): i for i, m in enumerate(enum_members(col.column_type), start=1)}
        return lambda v: rank.get(str(v).lower(), 0)
    raise ValueError(f"column {col.name} ({col.column_type}) has no Python order")


def weight_sql(col: Column, *, pad_space: bool) -> str:
    """A MySQL expression (one ``%s`` placeholder for the text) giving the value's collation weight.

    Under a PAD SPACE collation trailing spaces do not count, and a shorter string compares as if
    padded with spaces: ``AS CHAR(n)`` pads every value to the column's length, so weights compare
    byte by byte exactly as the collation compares the strings.
    """
    if not orderable(col) or not needs_weight(col):
        raise ValueError(f"column {col.name} ({col.column_type}) is not ordered by collation weights")
    expr = f"CONVERT(%s USING {col.charset}) COLLATE {col.collation}"
    if pad_space and col.char_max_length:
        expr += f" AS CHAR({int(col.char_max_length)})"
    return f"WEIGHT_STRING({expr})"


def is_pad_space(collation: str, pad_attribute: str | None) -> bool:
    """From ``information_schema.COLLATIONS.PAD_ATTRIBUTE`` (MySQL 8) or, where the server has no such
    column (MariaDB, MySQL 5.7), from the name: MariaDB's ``_nopad_`` and MySQL 8's UCA 9.0.0
    (``_0900_``) collations are NO PAD, every other is PAD SPACE."""
    if pad_attribute:
        return pad_attribute.upper().startswith("PAD")
    name = collation.lower()
    return "_nopad_" not in name and "_0900_" not in name


@dataclass(frozen=True)
class ChunkMark:
    """One written chunk: the sort key of its start (None for the first) and its high watermark."""

    start: SortKey | None
    high: BinlogPosition


class ChunkLocator:
    """Finds the chunk of a key by binary search over the chunks' start keys, and decides whether a
    binlog change at ``position`` is newer than that chunk's high watermark (then it is applied),
    as Flink CDC's ``BinlogSplitReader.shouldEmit`` does.

    ``marks`` are the table's chunks in key order (contiguous: each starts where the previous ends).
    """

    def __init__(self, marks: Sequence[ChunkMark]):
        if not marks or marks[0].start is not None:
            raise ValueError("chunk marks must start with the unbounded first chunk")
        self._starts = [m.start for m in marks[1:]]
        self._highs = [m.high for m in marks]
        self.lowest = min(self._highs)
        self.highest = max(self._highs)

    def chunk_of(self, key: SortKey) -> int:
        return bisect_right(self._starts, key)

    def applies(self, key: SortKey, position: BinlogPosition) -> bool:
        """True if a change of ``key`` written at ``position`` is after its chunk's high watermark."""
        return position > self._highs[self.chunk_of(key)]


def in_range(key: SortKey, start: SortKey | None, end: SortKey | None) -> bool:
    """``start <= key < end`` with None bounds open."""
    return (start is None or key >= start) and (end is None or key < end)
