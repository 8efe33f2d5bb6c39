"""Where the stand-in remembers load labels: in memory, or in ``<data_dir>/standin_labels.sqlite``.

StarRocks keeps a label with its transaction state for ``label_keep_max_second`` (3 days) and refuses
to reuse it unless that transaction was aborted; this is what makes a retried load idempotent. So a
stand-in restarted on the same ``data_dir`` must still know its labels, and the rows of PREPARED
transactions (a Flink exactly-once job commits them after its own restart). One SQLite row per label,
written in its own transaction whenever the state changes.

Also here: the error logs behind ``ErrorURL`` (kept in memory, bounded).
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

#: FE ``label_keep_max_second``: finished labels older than this are forgotten
LABEL_KEEP_SECONDS = 259200
FILE_NAME = "standin_labels.sqlite"
SCHEMA_VERSION = 1

PREPARE, PREPARED, COMMITTED, VISIBLE, ABORTED, UNKNOWN = (
    "PREPARE",
    "PREPARED",
    "COMMITTED",
    "VISIBLE",
    "ABORTED",
    "UNKNOWN",
)
FINISHED_STATES = (COMMITTED, VISIBLE)


@dataclass
class LabelRow:
    """The persisted part of a label: identity, state and, while PREPARED, its rows."""

    db: str
    label: str
    table: str
    txn_id: int
    kind: str  # "stream_load" or "transaction"
    state: str
    created: float  # wall-clock seconds
    finished: float | None = None
    reason: str = ""
    visible_at: float | None = None  # COMMITTED under a publish timeout turns VISIBLE then
    ops: list[tuple[int, dict[str, Any]]] | None = None  # PREPARED transactions only
    stats: dict[str, int] | None = None


def _encode_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return {"$dec": str(v)}
    if isinstance(v, _dt.datetime):
        return {"$dt": v.isoformat()}
    if isinstance(v, _dt.date):
        return {"$date": v.isoformat()}
    if isinstance(v, bytes):
        return {"$hex": v.hex()}
    return v


def _decode_value(v: Any) -> Any:
    if isinstance(v, dict) and len(v) == 1:
        ((tag, text),) = v.items()
        if tag == "$dec":
            return Decimal(text)
        if tag == "$dt":
            return _dt.datetime.fromisoformat(text)
        if tag == "$date":
            return _dt.date.fromisoformat(text)
        if tag == "$hex":
            return bytes.fromhex(text)
    return v


def encode_ops(ops: Sequence[tuple[int, dict[str, Any]]]) -> str:
    return json.dumps([[op, {k: _encode_value(v) for k, v in row.items()}] for op, row in ops])


def decode_ops(text: str) -> list[tuple[int, dict[str, Any]]]:
    return [(op, {k: _decode_value(v) for k, v in row.items()}) for op, row in json.loads(text)]


class LabelStore:
    """Persists :class:`LabelRow` objects; ``data_dir`` None keeps nothing (in-memory stand-in)."""

    def __init__(self, data_dir: Path | None) -> None:
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        if data_dir is None:
            return
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(str(Path(data_dir) / FILE_NAME), check_same_thread=False)
        with self._lock, self._con:
            self._con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS labels (db TEXT, label TEXT, tbl TEXT, txn_id INTEGER, kind TEXT, "
                "state TEXT, created REAL, finished REAL, reason TEXT, visible_at REAL, ops TEXT, stats TEXT, "
                "PRIMARY KEY (db, label))"
            )
            row = self._con.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None:
                self._con.execute("INSERT INTO meta VALUES ('version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise RuntimeError(
                    f"{Path(data_dir) / FILE_NAME} has label schema version {row[0]}, this stand-in writes "
                    f"{SCHEMA_VERSION}; use a fresh data directory"
                )

    def load_all(self) -> list[LabelRow]:
        with self._lock:
            if self._con is None:
                return []
            rows = self._con.execute(
                "SELECT db, label, tbl, txn_id, kind, state, created, finished, reason, visible_at, ops, stats "
                "FROM labels"
            ).fetchall()
        out = []
        for db, label, tbl, txn_id, kind, state, created, finished, reason, visible_at, ops, stats in rows:
            out.append(
                LabelRow(
                    db,
                    label,
                    tbl,
                    txn_id,
                    kind,
                    state,
                    created,
                    finished,
                    reason or "",
                    visible_at,
                    decode_ops(ops) if ops else None,
                    json.loads(stats) if stats else None,
                )
            )
        return out

    @property
    def persistent(self) -> bool:
        """True when labels (and a PREPARED transaction's rows) are written to ``data_dir``."""
        return self._con is not None

    def save(self, row: LabelRow) -> None:
        values = (
            row.db,
            row.label,
            row.table,
            row.txn_id,
            row.kind,
            row.state,
            row.created,
            row.finished,
            row.reason,
            row.visible_at,
            encode_ops(row.ops) if row.ops is not None else None,
            json.dumps(row.stats) if row.stats is not None else None,
        )
        with self._lock:
            if self._con is None:  # in memory, or closed while a request was finishing
                return
            with self._con:
                sql = "INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                self._con.execute(sql, values)

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        with self._lock:
            if self._con is None or not keys:
                return
            with self._con:
                self._con.executemany("DELETE FROM labels WHERE db = ? AND label = ?", list(keys))

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


class ErrorLogs:
    """The rejected-row logs ``ErrorURL`` points at (``/api/_load_error_log?file=...`` on the BE)."""

    def __init__(self, keep: int = 200) -> None:
        self._lock = threading.Lock()
        self._logs: OrderedDict[str, str] = OrderedDict()
        self._keep = keep

    def put(self, txn_id: int, lines: Sequence[str]) -> str:
        """Store ``lines`` and return the file name for the URL."""
        name = f"error_log_insert_stmt_{txn_id}_{uuid.uuid4().hex}"
        with self._lock:
            self._logs[name] = "".join(line + "\n" for line in lines)
            while len(self._logs) > self._keep:
                self._logs.popitem(last=False)
        return name

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._logs.get(name)
