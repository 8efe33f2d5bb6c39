"""Value coercion for the pipeline file: YAML text -> typed option values, by Flink's rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr

from cdc_assets.core.routing import RouteMode
from cdc_assets.core.selectors import TableSelector, parse_selectors

# Value coercion, Flink's rules. Each parser takes the YAML value (str, list, dict or None is never
# passed) and returns the typed value or raises ValueError with a message naming the value.

_DURATION_UNITS = {
    **dict.fromkeys(("ns", "nano", "nanos", "nanosecond", "nanoseconds"), 1e-9),
    **dict.fromkeys(("us", "µs", "micro", "micros", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ms", "milli", "millis", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
_DURATION = re.compile(r"(\d+)\s*([a-zµ]*)")
_OFFSET = re.compile(r"(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")


def _text(value: Any) -> str:
    if isinstance(value, list):
        raise ValueError("expected a single value, got a list")
    if isinstance(value, dict):
        raise ValueError("expected a single value, got a mapping")
    return str(value)


def parse_duration(value: Any) -> float:
    """A Flink duration (``30s``, ``500 ms``, ``1min``, ``2h``; no unit = milliseconds) -> seconds."""
    text = _text(value)
    m = _DURATION.fullmatch(text.strip().lower())
    if not m or m.group(2) not in _DURATION_UNITS and m.group(2):
        raise ValueError(f"expected a duration such as 30s, 500ms or 1min, got '{text}'")
    return int(m.group(1)) * _DURATION_UNITS.get(m.group(2), 1e-3)


def to_tzinfo(name: str) -> tzinfo:
    """An IANA zone (``Asia/Shanghai``), ``UTC``/``Z`` or an offset (``+08:00``, ``UTC+8``) -> tzinfo."""
    text = name.strip()
    if text.upper() in ("Z", "UTC", "GMT", "UT"):
        return UTC
    m = _OFFSET.fullmatch(text)
    if m:
        sign, hh, mm, ss = m.group(1), int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0)
        if hh > 18 or mm > 59 or ss > 59 or (hh == 18 and (mm or ss)):
            raise ValueError(f"time zone offset '{name}' is out of range (-18:00..+18:00)")
        delta = timedelta(hours=hh, minutes=mm, seconds=ss)
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{name}'; use an IANA name such as 'UTC' or 'Asia/Shanghai', or an "
            "offset such as '+08:00'"
        ) from None


def _zone(value: Any) -> str:
    text = _text(value).strip()
    to_tzinfo(text)
    return text


def _string(value: Any) -> str:
    text = _text(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _secret(value: Any) -> SecretStr:
    # Never put the value in a message: only its shape.
    if isinstance(value, list | dict):
        raise ValueError("expected a single value (a string)")
    return SecretStr(str(value))


def _bool(value: Any) -> bool:
    text = _text(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got '{_text(value)}'")
    return text == "true"


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        text = _text(value)
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise ValueError(f"expected an integer, got '{text}'")
        n = int(text)
        if lo is not None and hi is not None and not lo <= n <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {n}")
        if lo is not None and n < lo:
            raise ValueError(f"must be at least {lo}, got {n}")
        if hi is not None and n > hi:
            raise ValueError(f"must be at most {hi}, got {n}")
        return n

    return parse


def _float(lo: float, hi: float | None = None) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        text = _text(value)
        try:
            x = float(text.strip())
        except ValueError:
            raise ValueError(f"expected a number, got '{text}'") from None
        if hi is not None and not lo <= x <= hi:
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {text}")
        if not lo <= x:  # also rejects nan
            raise ValueError(f"must be at least {lo:g}, got {text}")
        return x

    return parse


def _duration(min_s: float = 0.0, whole_seconds: bool = False) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds < min_s:
            raise ValueError(f"must be at least {min_s:g}s, got '{_text(value)}'")
        if whole_seconds and abs(seconds - round(seconds)) > 1e-9:
            raise ValueError(f"must be a whole number of seconds, got '{_text(value)}'")
        return seconds

    return parse


def _enum(enum: type[StrEnum]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        text = _text(value).strip()
        for member in enum:
            if member.value.lower() == text.lower():
                return member
        raise ValueError(f"unknown value '{text}'; expected one of: {', '.join(m.value for m in enum)}")

    return parse


def _route_mode(value: Any) -> RouteMode:
    return RouteMode.parse(_text(value))


def _server_id(value: Any) -> tuple[int, int]:
    text = _text(value).strip()
    m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
    if not m:
        raise ValueError(f"expected a server id like 5400 or a range like 5400-5408, got '{text}'")
    start, end = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 1 <= start <= end <= 2**32 - 1:
        raise ValueError(f"'{text}' must be ids between 1 and 4294967295 with start <= end")
    return start, end


def _selectors(value: Any) -> str:
    text = _text(value)
    parse_selectors(text)
    return text


def _per_table(value: Any) -> tuple[tuple[TableSelector, str], ...]:
    """``db.tbl_regex:col;db2.t\\.*:col2`` (Flink: ';' between entries, one ':' in each)."""
    text, out = _text(value), []
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        selector_text, sep, rest = entry.partition(":")
        if not sep or not rest.strip() or ":" in rest:
            raise ValueError(f"entry '{entry}' is not of the form db_regex.table_regex:column")
        out.extend((s, rest.strip()) for s in parse_selectors(selector_text))
    return tuple(out)


def _snapshot_filters(value: Any) -> tuple[tuple[TableSelector, str], ...]:
    """``db.tbl:id > 100;db2.t\\.*:id < 0`` (the filter may contain ':', so split at the first)."""
    out = []
    for entry in (e.strip() for e in _text(value).split(";")):
        if not entry:
            continue
        selector_text, sep, expr = entry.partition(":")
        if not sep or not expr.strip():
            raise ValueError(f"entry '{entry}' is not of the form db_regex.table_regex:filter")
        out.extend((s, expr.strip()) for s in parse_selectors(selector_text))
    return tuple(out)


def _name_list(allowed: tuple[str, ...] | None) -> Callable[[Any], tuple[str, ...]]:
    """A YAML list or a comma string; with ``allowed``, each item must be one of them."""

    def parse(value: Any) -> tuple[str, ...]:
        items = value if isinstance(value, list) else _text(value).split(",")
        out = tuple(_text(i).strip().lower() for i in items if i is not None and _text(i).strip())
        for item in out:
            if allowed is not None and item not in allowed:
                raise ValueError(f"unknown value '{item}'; expected some of: {', '.join(allowed)}")
        return out

    return parse


def _load_urls(value: Any) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in re.split(r"[;,]", _text(value)) if u.strip())
    if not urls:
        raise ValueError("expected FE HTTP addresses such as 'fe1:8030;fe2:8030'")
    return urls


_JDBC_URL = re.compile(r"^jdbc:mysql://([^/?#]+)(?:/([^?#]*))?(?:\?.*)?$", re.IGNORECASE)


def parse_jdbc_url(url: str) -> tuple[tuple[str, int], ...]:
    """The FE query addresses of ``jdbc:mysql://fe1:9030,fe2:9030[/db][?props]`` (port 9030 when omitted)."""
    m = _JDBC_URL.match(url.strip())
    if not m:
        raise ValueError(f"'{url}' is not a JDBC MySQL URL; expected e.g. jdbc:mysql://fe1:9030,fe2:9030")
    out = []
    for part in m.group(1).split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep:
            host, port = part.strip(), "9030"
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"'{part}' in '{url}' is not host:port")
        out.append((host, int(port)))
    return tuple(out)


def _label_prefix(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(r"[-_A-Za-z0-9]{1,100}", text):
        raise ValueError(f"'{text}' may only contain A-Z a-z 0-9 - _ (at most 100 characters)")
    return text


def _path(value: Any) -> str:
    return _string(value).strip()
