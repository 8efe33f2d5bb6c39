"""Values read back from StarRocks (over its MySQL protocol) -> the canonical values of ``core.values``.

Verification compares a target with its source row by row; where the StarRocks column type differs
from the MySQL one (see :mod:`cdc_assets.core.starrocks_types`) the value comes back in another form
and is turned back here: BOOLEAN arrives as 0/1, a TIMESTAMP as the wall-clock time in the pipeline's
time zone, a TIME or a DECIMAL key as text, a binary key as hex, a FLOAT as its shortest decimal text.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from cdc_assets.core.starrocks_types import SrColumn, SrTable

Decoder = Callable[[Any], Any]

_TIME = re.compile(r"^(-)?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")


def _float32(v: Any) -> float:
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def _time(v: Any) -> _dt.timedelta:
    if isinstance(v, _dt.timedelta):
        return v
    m = _TIME.match(str(v))
    if not m:
        raise ValueError(f"not a TIME text: {v!r}")
    sign, h, mi, s, frac = m.groups()
    delta = _dt.timedelta(
        hours=int(h), minutes=int(mi), seconds=int(s), microseconds=int((frac or "0").ljust(6, "0"))
    )
    return -delta if sign else delta


def _datetime(v: Any) -> _dt.datetime:
    return v if isinstance(v, _dt.datetime) else _dt.datetime.fromisoformat(str(v))


def _decoder(col: SrColumn, zone: _dt.tzinfo) -> Decoder | None:
    """By the column's load encoding (``SrColumn.kind``), which already says how the value was written."""
    kind, float32 = col.kind, col.source.data_type.lower() == "float"
    if kind == "bool":  # BIT(1) is BOOLEAN in StarRocks but an int in canonical form
        return int if col.source.data_type.lower() == "bit" else (lambda v: bool(int(v)))
    if kind == "int":  # LARGEINT arrives as text
        return int
    if kind in ("float", "float_string"):
        return _float32 if float32 else float
    if kind in ("decimal", "decimal_string"):
        return Decimal
    if kind == "date":
        return lambda v: v if isinstance(v, _dt.date) else _dt.date.fromisoformat(str(v))
    if kind == "datetime":
        return _datetime
    if kind == "timestamp":
        return lambda v: _datetime(v).replace(tzinfo=zone).astimezone(_dt.UTC)
    if kind == "time":
        return _time
    if kind == "binary":
        return bytes
    if kind == "hex_string":
        return bytes.fromhex
    return None  # string, json: text as it is


def target_decoder(table: SrTable, zone: _dt.tzinfo | None) -> Callable[[Sequence[Any]], tuple]:
    """Row in SOURCE column order as read from StarRocks -> canonical row (NULL stays None)."""
    by_source = sorted(zip(table.source_positions, table.columns, strict=True))
    decoders = [_decoder(col, zone or _dt.UTC) for _, col in by_source]

    def decode(row: Sequence[Any]) -> tuple:
        return tuple(v if v is None or f is None else f(v) for v, f in zip(row, decoders, strict=True))

    return decode


def source_order(table: SrTable) -> list[str]:
    """The table's column names in source order (the order :func:`target_decoder` expects)."""
    return [col.name for _, col in sorted(zip(table.source_positions, table.columns, strict=True))]
