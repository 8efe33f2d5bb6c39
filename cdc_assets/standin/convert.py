"""Load values -> the Python values the store takes, checked the way StarRocks checks them.

Two kinds of bad value, as in StarRocks (docs "Strict mode"; BE ``OlapTableSink::_validate_data``):

- a value that does not convert to the column type (``abc`` for INT, ``10`` for DECIMAL(1,0), a bad
  date) raises :class:`Unconvertible`: with ``strict_mode`` off (the default) it loads as NULL, with it
  on the row is filtered;
- a string longer than the column, or a NULL in a NOT NULL column, always filters the row
  (:class:`Rejected`).

Values handed to :meth:`StandInStore.apply_load`: bool, int, float, Decimal, date, naive datetime,
:class:`YearZero` (a DATE or DATETIME in year 0000), str, bytes (VARBINARY) and JSON as normalized text
(keys sorted, as StarRocks prints JSON objects).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from cdc_assets.standin.catalog import LARGEINT_MAX, LARGEINT_MIN, ColumnMeta

#: BE ``primary_key_limit_size``: the encoded key of a Primary Key table row may not exceed it
KEY_SIZE_LIMIT = 128
_FIXED_KEY_WIDTH = {
    "BOOLEAN": 1,
    "TINYINT": 1,
    "SMALLINT": 2,
    "INT": 4,
    "DATE": 4,
    "BIGINT": 8,
    "DATETIME": 8,
}
_FIXED_KEY_WIDTH.update({"LARGEINT": 16, "FLOAT": 4, "DOUBLE": 8, "DECIMAL": 16})
_INT_RANGES = {
    "TINYINT": (-(2**7), 2**7 - 1),
    "SMALLINT": (-(2**15), 2**15 - 1),
    "INT": (-(2**31), 2**31 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
    "LARGEINT": (LARGEINT_MIN, LARGEINT_MAX),
}
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_DATE_TEXT = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](.*))?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2}))?$")
_TIME_TEXT = re.compile(r"^(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?$")
_HEX = re.compile(r"^[0-9A-Fa-f]*$")
#: JSON column limit (docs "JSON": a value is at most 16 MB)
_JSON_MAX_BYTES = 16 * 1024 * 1024


#: days from 0000-01-01 to 1970-01-01 in the proleptic Gregorian calendar (year 0 is a leap year)
_YEAR_ZERO_TO_EPOCH_DAYS = 719528


@dataclass(frozen=True)
class YearZero:
    """A DATE (``time`` None) or DATETIME in year 0000, which StarRocks accepts (its range starts at
    '0000-01-01 00:00:00') and Python's ``date`` cannot hold (it starts at year 1). DuckDB stores it as
    astronomical year 0, which it prints as 1 BC; :meth:`__str__` is StarRocks' text."""

    month: int
    day: int
    time: _dt.time | None = None

    def __post_init__(self) -> None:
        _dt.date(2000, self.month, self.day)  # ValueError for a day year 0 lacks (a leap year, as 2000)

    def epoch_days(self) -> int:
        """Days since 1970-01-01 (negative), as an Arrow ``date32`` counts them."""
        return _dt.date(2000, self.month, self.day).timetuple().tm_yday - 1 - _YEAR_ZERO_TO_EPOCH_DAYS

    def epoch_micros(self) -> int:
        """Microseconds since 1970-01-01 00:00:00 (negative), as an Arrow ``timestamp("us")`` counts them."""
        t = self.time or _dt.time()
        seconds = self.epoch_days() * 86400 + t.hour * 3600 + t.minute * 60 + t.second
        return seconds * 1_000_000 + t.microsecond

    def __str__(self) -> str:
        day = f"0000-{self.month:02d}-{self.day:02d}"
        return day if self.time is None else f"{day} {self.time.isoformat()}"


class Unconvertible(ValueError):
    """The value does not convert to the column's type (NULL when not in strict mode)."""


class Rejected(ValueError):
    """The row is filtered whatever the mode; the message is the error-log line StarRocks writes."""


def out_of_range(text: Any, col: ColumnMeta) -> Unconvertible:
    return Unconvertible(
        f"Value '{text}' is out of range. The type of '{col.name}' is {col.type.to_sql().upper()}"
    )


def _check_length(value: str | bytes, col: ColumnMeta) -> None:
    size = len(value.encode("utf-8")) if isinstance(value, str) else len(value)
    limit = col.type.length
    if limit is not None and size > limit:
        shown = value if isinstance(value, str) else value.hex().upper()
        shown = shown[:100] + "..." if len(shown) > 100 else shown
        raise Rejected(
            f"String '{shown}'(length={size}) is too long. The max length of '{col.name}' is {limit}"
        )


def _utf8(text: str, col: ColumnMeta) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected(f"Value of column '{col.name}' is not valid UTF-8") from None
    return text


def _int(value: int, text: Any, col: ColumnMeta) -> int:
    low, high = _INT_RANGES[col.type.name]
    if not low <= value <= high:
        raise out_of_range(text, col)
    return value


def _decimal(value: Decimal, text: Any, col: ColumnMeta) -> Decimal:
    t = col.type
    p, s = t.precision or 10, t.scale or 0
    if not value.is_finite():
        raise out_of_range(text, col)
    with localcontext(prec=80):  # DECIMAL128 holds 38 digits; the default context keeps only 28
        quantized = value.quantize(Decimal(1).scaleb(-s), rounding=ROUND_HALF_UP)
        if abs(quantized) >= Decimal(10) ** (p - s):
            raise out_of_range(text, col)
    return quantized


def _date_parts(text: str) -> tuple[_dt.date | YearZero, str | None] | None:
    m = _DATE_TEXT.match(text)
    if m:
        y, mo, d, rest = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    else:
        m = _COMPACT_DATE.match(text)
        if not m:
            return None
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        rest = f"{m.group(4)}:{m.group(5)}:{m.group(6)}" if m.group(4) else None
    try:
        return (YearZero(mo, d) if y == 0 else _dt.date(y, mo, d)), rest
    except ValueError:
        return None


def _date(text: str, col: ColumnMeta) -> _dt.date | YearZero:
    parts = _date_parts(text.strip())
    if parts is None:
        raise out_of_range(text, col)
    return parts[0]


def _datetime(text: str, col: ColumnMeta) -> _dt.datetime | YearZero:
    parts = _date_parts(text.strip())
    if parts is None:
        raise out_of_range(text, col)
    day, rest = parts
    time = _dt.time()
    if rest is not None and rest.strip():
        m = _TIME_TEXT.match(rest.strip())
        if not m:
            raise out_of_range(text, col)
        frac = (m.group(4) or "")[:6].ljust(6, "0")
        try:
            time = _dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), int(frac))
        except ValueError:
            raise out_of_range(text, col) from None
    if isinstance(day, YearZero):
        return YearZero(day.month, day.day, time)
    return _dt.datetime.combine(day, time)


def _float(value: float, text: Any, col: ColumnMeta) -> float:
    if not math.isfinite(value):
        raise out_of_range(text, col)
    return value


def _bool_text(text: str, col: ColumnMeta) -> bool:
    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if _INT_TEXT.match(low):
        return int(low) != 0
    try:
        return float(low) != 0.0
    except ValueError:
        raise out_of_range(text, col) from None


def normalize_json(value: Any) -> str:
    """JSON text as StarRocks prints a JSON value: object keys sorted, ``", "`` and ``": "`` separators."""

    def plain(v: Any) -> Any:
        if isinstance(v, Decimal):  # only fractions and exponents parse to Decimal; StarRocks keeps a double
            return float(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return json.dumps(plain(value), ensure_ascii=False, sort_keys=True, allow_nan=False)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """Parse JSON the way the loader does: fractions as Decimal (exact), NaN/Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


def _json_text(text: str, col: ColumnMeta) -> str:
    try:
        parsed = parse_json(text)
    except ValueError:
        raise out_of_range(text, col) from None
    return _json_checked(normalize_json(parsed), col)


def _json_checked(text: str, col: ColumnMeta) -> str:
    if len(text.encode("utf-8")) > _JSON_MAX_BYTES:
        raise Rejected(f"JSON value of column '{col.name}' is larger than {_JSON_MAX_BYTES} bytes")
    return text


def from_text(col: ColumnMeta, text: str) -> Any:
    """A CSV field (never ``\\N``; the caller handles NULL) -> the column's value."""
    name = col.type.name
    if name in ("CHAR", "VARCHAR"):
        _check_length(_utf8(text, col), col)
        return text
    if name == "VARBINARY":
        raw = text.strip()
        if len(raw) % 2 or not _HEX.match(raw):
            raise out_of_range(text, col)
        data = bytes.fromhex(raw)
        _check_length(data, col)
        return data
    if name == "JSON":
        return _json_text(_utf8(text, col), col)
    if name == "BOOLEAN":
        return _bool_text(text, col)
    if name in _INT_RANGES:
        raw = text.strip()
        if not _INT_TEXT.match(raw):
            raise out_of_range(text, col)
        return _int(int(raw), text, col)
    if name in ("FLOAT", "DOUBLE"):
        try:
            return _float(float(text.strip()), text, col)
        except ValueError:
            raise out_of_range(text, col) from None
    if name == "DECIMAL":
        try:
            return _decimal(Decimal(text.strip()), text, col)
        except InvalidOperation:
            raise out_of_range(text, col) from None
    if name == "DATE":
        return _date(text, col)
    if name == "DATETIME":
        return _datetime(text, col)
    raise Unconvertible(f"column '{col.name}' has type {col.type.to_sql()}, which the stand-in cannot load")


def _json_number_text(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def from_json(col: ColumnMeta, value: Any) -> Any:
    """A JSON value (parsed with Decimal floats; never None) -> the column's value."""
    name = col.type.name
    if name == "JSON":
        return _json_checked(normalize_json(value), col)
    if isinstance(value, dict | list):
        if name in ("CHAR", "VARCHAR"):
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
            _check_length(text, col)
            return text
        raise out_of_range(json.dumps(value, default=str), col)
    if name in ("CHAR", "VARCHAR"):
        text = value if isinstance(value, str) else _json_number_text(value)
        _check_length(_utf8(text, col), col)
        return text
    if isinstance(value, str):
        return from_text(col, value)
    if name == "BOOLEAN":
        return bool(value)
    if name in _INT_RANGES:
        if isinstance(value, bool):
            return _int(int(value), value, col)
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise out_of_range(value, col)
            value = int(value)
        return _int(value, value, col)
    if name in ("FLOAT", "DOUBLE"):
        return _float(float(value), value, col)
    if name == "DECIMAL":
        return _decimal(Decimal(int(value)) if isinstance(value, bool) else Decimal(value), value, col)
    raise out_of_range(_json_number_text(value), col)


def key_size(key_columns: list[ColumnMeta], row: dict[str, Any]) -> int:
    """Encoded size of a row's primary key: fixed widths per type, strings by their UTF-8 length."""
    size = 0
    for col in key_columns:
        value = row.get(col.name)
        if col.type.name in _FIXED_KEY_WIDTH:
            size += _FIXED_KEY_WIDTH[col.type.name]
        elif isinstance(value, str):
            size += len(value.encode("utf-8"))
        elif isinstance(value, bytes):
            size += len(value)
    return size
