"""Faults the stand-in can be told to inject, so clients can be tested against StarRocks' bad days.

A fault is armed for ``times`` requests (``-1``: until :meth:`Faults.clear`), optionally only for one
table (``"t"`` or ``"db.t"``). Each request that a fault fires on consumes one time. Where each kind
fires, and what it answers (wording from the StarRocks BE/FE sources quoted in ``starrocks.md``):

- ``mem_limit_exceeded``: a plain Stream Load fails (``Fail``, ``Memory of process exceed limit...``);
  a transaction ``load`` or ``prepare`` answers ``"Status": "MEM_LIMIT_EXCEEDED"`` and the
  transaction is rolled back.
- ``too_many_versions``: the same places; ``Failed to load data into tablet N, because of too many
  versions, current/limit: 1001/1000...`` (transaction API status ``SERVICE_UNAVAILABLE``).
- ``publish_timeout``: the load is committed and applied but reported as ``Publish Timeout`` (plain
  Stream Load) or ``PUBLISH_TIMEOUT`` (transaction ``commit`` answered by the BE); the label stays
  COMMITTED for ``seconds`` and then turns VISIBLE.
- ``connection_reset``: the socket is reset (RST) in the middle of the request; nothing is applied.
- ``slow``: the answer is delayed by ``seconds``.
- ``running_txns_limit``: beginning a transaction fails with
  ``current running txns on db <id> is 1000, larger than limit 1000``.
- ``label_already_used_message``: a reused label gets the 3.2.11+ answer, a plain ``Fail`` whose
  Message says ``has already been used`` (StarRocks issue #57982), instead of ``Label Already Exists``.
- ``no_backend_alive``: the FE finds no BE to send the request to. A Stream Load gets, instead of the
  307, HTTP 200 and ``{"Status": "FAILED", "Message": "class com.starrocks.common.DdlException: No
  backend alive."}`` (``LoadAction``); a transaction ``begin`` gets the same ``No backend alive.``
  failure from ``TransactionLoadAction``. Nothing is begun.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = (
    "mem_limit_exceeded",
    "too_many_versions",
    "publish_timeout",
    "connection_reset",
    "slow",
    "running_txns_limit",
    "label_already_used_message",
    "no_backend_alive",
)


@dataclass
class Fault:
    """One armed fault. ``times`` left (-1: unlimited), ``seconds`` for slow/publish_timeout."""

    kind: str
    times: int
    seconds: float
    table: str | None

    def matches(self, db: str | None, table: str | None) -> bool:
        if self.table is None:
            return True
        if table is None:
            return False
        return self.table in (table, f"{db}.{table}")


class Faults:
    """Thread-safe set of armed faults; switchable from Python and over HTTP (``POST /api/_standin/faults``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def inject(self, kind: str, *, times: int = 1, seconds: float = 0.0, table: str | None = None) -> None:
        """Arm ``kind`` for the next ``times`` matching requests (-1: until :meth:`clear`).

        ValueError names the accepted kinds when ``kind`` is unknown or ``times``/``seconds`` are invalid.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if isinstance(times, bool) or not isinstance(times, int) or (times < 1 and times != -1):
            raise ValueError(f"fault times must be a positive integer or -1 (until cleared), got {times!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"fault seconds must be a number >= 0, got {seconds!r}")
        if table is not None and (not isinstance(table, str) or not table):
            raise ValueError(f"fault table must be a table name ('t' or 'db.t') or null, got {table!r}")
        with self._lock:
            self._armed.append(Fault(kind, times, float(seconds), table))

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()

    def take(self, kind: str, db: str | None = None, table: str | None = None) -> Fault | None:
        """Consume one time of the first armed ``kind`` fault matching ``db.table``; None if there is none."""
        with self._lock:
            for i, fault in enumerate(self._armed):
                if fault.kind == kind and fault.matches(db, table):
                    fired = Fault(fault.kind, 1, fault.seconds, fault.table)
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            del self._armed[i]
                    return fired
        return None

    def armed(self) -> list[dict[str, Any]]:
        """The armed faults, as the JSON the HTTP endpoint shows."""
        with self._lock:
            return [asdict(f) for f in self._armed]

    def apply_json(self, body: Any) -> None:
        """Apply an HTTP request body: ``{"kind": ..., "times": ..., "seconds": ..., "table": ...}`` or
        ``{"clear": true}``. ValueError says what is wrong with it."""
        if not isinstance(body, dict):
            raise ValueError('expected a JSON object: {"kind": ..., "times": 1, "seconds": 0, "table": null}')
        if body.get("clear") is True:
            unknown = set(body) - {"clear"}
            if unknown:
                raise ValueError(f"'clear' takes no other keys, got {sorted(unknown)}")
            self.clear()
            return
        unknown = set(body) - {"kind", "times", "seconds", "table"}
        if unknown:
            raise ValueError(
                f"unknown keys {sorted(unknown)}; expected kind, times, seconds, table (or clear)"
            )
        if "kind" not in body:
            raise ValueError(f"missing 'kind'; expected one of {', '.join(FAULT_KINDS)}")
        self.inject(
            body["kind"],
            times=body.get("times", 1),
            seconds=body.get("seconds", 0.0),
            table=body.get("table"),
        )
