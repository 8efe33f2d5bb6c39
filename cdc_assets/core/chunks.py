"""Snapshot chunks: half-open primary-key ranges ``[start, end)`` and their persisted form.

A chunk's bounds are primary-key tuples (one value per key column, in key order); ``None`` means
unbounded. Bounds are found by queries the source executes (keyset reads in the key's collation),
so a case-insensitive VARCHAR key orders as MySQL orders it, not as Python would.

Bounds are stored in the state file as JSON, so key values carry a type tag (:func:`encode_key`).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Chunk:
    """Chunk ``index`` of a table: key range ``[start, end)``; ``None`` bounds are open."""

    index: int
    start: Key | None
    end: Key | None

    @property
    def partition_key(self) -> str:
        """The Dagster partition key of this chunk (no ``|`` or ``,``: they break UI backfills)."""
        return chunk_partition_key(self.index)

    def to_dict(self) -> dict:
        return {"index": self.index, "start": encode_key(self.start), "end": encode_key(self.end)}

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        return cls(index=int(d["index"]), start=decode_key(d["start"]), end=decode_key(d["end"]))


def chunk_partition_key(index: int) -> str:
    """``chunk-NNNNNN``: the chunk's part of a partition key (alone, the key of releases before routing
    merged tables; see :func:`source_chunk_partition_key`)."""
    return f"chunk-{index:06d}"


def chunk_index_from_partition_key(key: str) -> int:
    prefix = "chunk-"
    if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
        raise ValueError(f"{key!r} is not a chunk partition key (expected chunk-NNNNNN)")
    return int(key[len(prefix) :])


def _encode_name(text: str) -> str:
    # Letters and digits (any script), '_', '-' and '$' stay; the rest is %XX of its UTF-8 bytes, so
    # that a key holds no '.' but the separator, no ',' or '|' (UI backfills), no '...' (ranges), no
    # control characters (Dagster refuses them), and no ':' but the separator.
    return "".join(
        ch if ch.isalnum() or ch in "_-$" else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text
    )


def source_chunk_partition_key(table: TableId, index: int) -> str:
    """The Dagster partition key of chunk ``index`` of source ``table``: ``<db>.<table>:chunk-NNNNNN``
    (names escaped as in URLs where needed). A target's asset has the chunks of every table routed to it."""
    return f"{_encode_name(table.db)}.{_encode_name(table.table)}:{chunk_partition_key(index)}"


def parse_source_chunk_partition_key(key: str) -> tuple[TableId | None, int]:
    """``(source table, chunk index)`` of a partition key; the table is None for a key of the form
    ``chunk-NNNNNN`` alone (the only source of its target). Raises ValueError naming the forms."""
    name, sep, chunk = key.rpartition(":")
    try:
        index = chunk_index_from_partition_key(chunk)
    except ValueError:
        index = -1
    db, dot, table = name.partition(".")
    if index < 0 or (sep and not (dot and db and table)):
        raise ValueError(
            f"{key!r} is not a snapshot chunk partition key (expected <db>.<table>:chunk-NNNNNN, or chunk-NNNNNN)"
        )
    if not sep:
        return None, index
    return TableId(unquote(db, errors="strict"), unquote(table, errors="strict")), index


def chunks_from_boundaries(boundaries: Sequence[Key]) -> list[Chunk]:
    """``[b1, b2]`` -> ``[None, b1), [b1, b2), [b2, None)``; no boundaries -> one unbounded chunk."""
    bounds: list[Key | None] = [None, *boundaries, None]
    return [Chunk(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def range_predicate(key_columns: Sequence[str], chunk: Chunk) -> tuple[str, list[Any]]:
    """A MySQL WHERE clause (with ``%s`` placeholders) and its values selecting the chunk's rows.

    Multi-column keys use row-value comparison ``(a, b) >= (%s, %s)``, evaluated by the server in
    the key columns' collations.
    """
    cols = [quote_ident(c) for c in key_columns]
    lhs = cols[0] if len(cols) == 1 else "(" + ", ".join(cols) + ")"
    marks = "%s" if len(cols) == 1 else "(" + ", ".join(["%s"] * len(cols)) + ")"
    clauses: list[str] = []
    params: list[Any] = []
    if chunk.start is not None:
        clauses.append(f"{lhs} >= {marks}")
        params.extend(chunk.start)
    if chunk.end is not None:
        clauses.append(f"{lhs} < {marks}")
        params.extend(chunk.end)
    return (" AND ".join(clauses) if clauses else "1 = 1"), params


def key_compare(
    key_columns: Sequence[str], op: str, key: Key, *, literal: Callable[[int, Any], str] | None = None
) -> tuple[str, list[Any]]:
    """``(c1, ..., cn) op (v1, ..., vn)`` as SQL the optimizer turns into an index range scan.

    MariaDB (10.11 measured) and MySQL do not use an index range for a row-value comparison such
    as ``(a, b) > (%s, %s)``: they scan the index from its start and filter, so a keyset read near
    the end of a big table reads the whole table. The same comparison written as its definition,
    ``a > x OR (a = x AND b > y)``, becomes exact ranges on the key's index. ``op`` is one of
    ``>``, ``>=``, ``<``, ``<=``; every comparison runs in the key columns' collations.

    ``literal(i, value)``, when given, renders the value of key column ``i`` as SQL text in place of
    a ``%s`` placeholder (for readers that take no parameters); the parameter list is then empty.
    """
    if op not in (">", ">=", "<", "<="):
        raise ValueError(f"unsupported key comparison {op!r}")
    if len(key) != len(key_columns) or not key_columns:
        raise ValueError(f"key {key!r} does not match key columns {list(key_columns)!r}")
    cols = [quote_ident(c) for c in key_columns]
    params: list[Any] = []

    def mark(j: int) -> str:
        if literal is not None:
            return literal(j, key[j])
        params.append(key[j])
        return "%s"

    if len(cols) == 1:
        return f"{cols[0]} {op} {mark(0)}", params
    strict = op[0]
    terms: list[str] = []
    for i, col in enumerate(cols):
        last = i == len(cols) - 1
        parts = [f"{cols[j]} = {mark(j)}" for j in range(i)] + [f"{col} {op if last else strict} {mark(i)}"]
        terms.append(parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(terms) + ")", params


def key_range_predicate(
    key_columns: Sequence[str], chunk: Chunk, *, literal: Callable[[int, Any], str] | None = None
) -> tuple[str, list[Any]]:
    """The rows of :func:`range_predicate`, written with :func:`key_compare` so that a multi-column
    key is read by an index range scan instead of a full index scan per chunk."""
    clauses: list[str] = []
    params: list[Any] = []
    for op, bound in ((">=", chunk.start), ("<", chunk.end)):
        if bound is not None:
            sql, values = key_compare(key_columns, op, bound, literal=literal)
            clauses.append(sql)
            params.extend(values)
    return (" AND ".join(clauses) if clauses else "1 = 1"), params


# ---- JSON form of key values -------------------------------------------------------------------


def _encode_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return {"f": repr(v)}
    if isinstance(v, Decimal):
        return {"d": str(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"b": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, dt.datetime):
        return {"dt": v.isoformat()}
    if isinstance(v, dt.date):
        return {"date": v.isoformat()}
    if isinstance(v, dt.timedelta):
        return {"td": [v.days, v.seconds, v.microseconds]}
    if isinstance(v, dt.time):
        return {"t": v.isoformat()}
    raise TypeError(f"cannot store a key value of type {type(v).__name__} in chunk state")


def _decode_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    ((tag, x),) = v.items()
    return {
        "f": float,
        "d": Decimal,
        "b": lambda s: base64.b64decode(s),
        "dt": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "td": lambda p: dt.timedelta(days=p[0], seconds=p[1], microseconds=p[2]),
        "t": dt.time.fromisoformat,
    }[tag](x)


def encode_key(key: Key | None) -> list | None:
    return None if key is None else [_encode_value(v) for v in key]


def decode_key(data: list | None) -> Key | None:
    return None if data is None else tuple(_decode_value(v) for v in data)
