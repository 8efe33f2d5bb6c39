"""Snapshot chunks: half-open primary-key ranges ``[start, end)`` and their persisted form.

A chunk's bounds are primary-key tuples (one value per key column, in key order); ``None`` means
unbounded. Bounds are found by queries the source executes (keyset reads in the key's collation),
so a case-insensitive VARCHAR key orders as MySQL orders it, not as Python would.

Bounds are stored in the state file as JSON, so key values carry a type tag (:func:`encode_key`).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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
    return f"chunk-{index:06d}"


def chunk_index_from_partition_key(key: str) -> int:
    prefix = "chunk-"
    if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
        raise ValueError(f"{key!r} is not a chunk partition key (expected chunk-NNNNNN)")
    return int(key[len(prefix) :])


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
