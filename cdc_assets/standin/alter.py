"""ALTER TABLE column changes: validation, the asynchronous alter job, and SHOW ALTER TABLE COLUMN rows.

As in StarRocks 3.x (``SchemaChangeHandler``, ``SchemaChangeJobV2``), ADD/DROP/MODIFY COLUMN is checked
when the statement arrives (a refused change is an immediate error carrying StarRocks' message) and
then runs as a job: PENDING -> WAITING_TXN -> RUNNING -> FINISHED, the table in state SCHEMA_CHANGE
meanwhile. The new schema is applied to the data when the job finishes; if existing values do not
convert (say VARCHAR 'abc' to INT) the job ends CANCELLED with the conversion error in ``Msg`` and the
table is left as it was. RENAME COLUMN is metadata-only and synchronous, as in StarRocks.
Jobs are persisted with the catalog; a stand-in restarted on the same data_dir resumes them.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from cdc_assets.standin.catalog import AnalysisError, ColumnMeta, SrType, TableMeta
from cdc_assets.standin.ddl import parse_column
from cdc_assets.standin.store import StandInStore

log = logging.getLogger(__name__)

#: SHOW ALTER TABLE COLUMN columns, in StarRocks' order
ALTER_COLUMNS = [
    "JobId",
    "TableName",
    "CreateTime",
    "FinishTime",
    "IndexName",
    "IndexId",
    "OriginIndexId",
    "SchemaVersion",
    "TransactionId",
    "State",
    "Msg",
    "Progress",
    "Timeout",
]
#: FE ``alter_table_timeout_second``
DEFAULT_TIMEOUT = 86400
_UNFINISHED = ("PENDING", "WAITING_TXN", "RUNNING")
_INT_RANK = {"TINYINT": 1, "SMALLINT": 2, "INT": 3, "BIGINT": 4, "LARGEINT": 5}
#: numeric types in the conversion rules (BOOLEAN is not one of them)
_NUMERIC = frozenset({*_INT_RANK, "FLOAT", "DOUBLE", "DECIMAL"})


def type_string(t: SrType) -> str:
    """StarRocks ``ScalarType.toString``: BIGINT, VARCHAR(40), DECIMAL64(10,2)."""
    if t.name == "DECIMAL":
        return f"{t.decimal_kind}({t.precision},{t.scale})"
    if t.name in ("CHAR", "VARCHAR") or (t.name == "VARBINARY" and t.length is not None):
        return f"{t.name}({t.length})"
    return t.name


def conversion_error(old: SrType, new: SrType) -> str | None:
    """None when StarRocks' schema change allows ``old`` -> ``new``, else its message.

    The allowed conversions, and only these (docs "ALTER TABLE", schema change of a column type):
    an integer to a wider integer or to DOUBLE; a numeric or DECIMAL to VARCHAR; VARCHAR to a longer
    VARCHAR; VARCHAR to a numeric or DATE; DATE to DATETIME and back; FLOAT to DOUBLE. An unchanged type
    (a comment-only or default-only MODIFY) is no conversion at all.
    """
    if old == new:
        return None
    a, b = old.name, new.name
    if a == b == "VARCHAR" and (new.length or 0) < (old.length or 0):
        return "Cannot shorten string length"
    allowed = (
        (a in _INT_RANK and b in _INT_RANK and _INT_RANK[b] > _INT_RANK[a])
        or (a in _INT_RANK and b == "DOUBLE")
        or (a in _NUMERIC and b == "VARCHAR")
        or (a == b == "VARCHAR")  # longer (shorter is refused above, equal is the same type)
        or (a == "VARCHAR" and (b in _NUMERIC or b == "DATE"))
        or (a in ("DATE", "DATETIME") and b in ("DATE", "DATETIME") and a != b)
        or (a == "FLOAT" and b == "DOUBLE")
    )
    return None if allowed else f"Can not change {type_string(old)} to {type_string(new)}"


@dataclass
class SchemaChange:
    """The result of validating an ALTER: the table as it will be, and where each column comes from."""

    meta: TableMeta
    sources: list[str | None]
    timeout: int


def _position(node: exp.Expression) -> tuple[str, str | None] | None:
    pos = node.args.get("position")
    if pos is None:
        return None
    where = pos.text("position").upper()
    return (where, pos.this.name if pos.this is not None else None)


def _place(cols: list[Any], srcs: list[Any], col: Any, src: Any, pos: tuple[str, str | None] | None) -> None:
    if pos is None:
        cols.append(col)
        srcs.append(src)
        return
    if pos[0] == "FIRST":
        at = 0
    else:
        after = next((i for i, c in enumerate(cols) if c.name.lower() == (pos[1] or "").lower()), -1)
        if after < 0:
            raise AnalysisError(f"Column[{pos[1]}] does not found")
        at = after + 1
    cols.insert(at, col)
    srcs.insert(at, src)


def plan_schema_change(
    meta: TableMeta, actions: list[exp.Expression], options: dict[str, str]
) -> SchemaChange:
    """Validate ADD/DROP/MODIFY COLUMN clauses against ``meta`` with StarRocks' checks and messages."""
    if meta.state != "NORMAL":
        raise AnalysisError(f"Table[{meta.name}]'s state is not NORMAL. Do not allow doing ALTER ops")
    cols = [ColumnMeta(**vars(c)) for c in meta.columns]
    srcs: list[str | None] = [c.name for c in meta.columns]
    sort = {s.lower() for s in meta.order_by}
    for action in actions:
        if isinstance(action, exp.ColumnDef):
            parsed = parse_column(action)
            new = parsed.column
            existing = next((c for c in cols if c.name.lower() == new.name.lower()), None)
            if existing is not None:
                if existing == new:
                    raise AnalysisError(f"Can not add column which already exists in base table: {new.name}")
                raise AnalysisError(f"Repeatedly add column: {new.name}")
            if not new.nullable and new.default is None:
                raise AnalysisError(
                    f"Can not add column {new.name} which is NOT NULL and has no default value "
                    "(the stand-in needs a DEFAULT to fill existing rows)"
                )
            _place(cols, srcs, new, None, _position(action))
        elif isinstance(action, exp.Drop) and action.text("kind").upper() == "COLUMN":
            for target in action.args.get("tables") or []:
                i = next((i for i, c in enumerate(cols) if c.name.lower() == target.name.lower()), -1)
                if i < 0:
                    raise AnalysisError(f"Column does not exists: {target.name}")
                if cols[i].is_key:
                    raise AnalysisError("Can not drop key column in primary data model table")
                if cols[i].name.lower() in sort:
                    raise AnalysisError("Can not drop sort column in primary data model table")
                del cols[i], srcs[i]
        elif isinstance(action, exp.ModifyColumn):
            cd = action.this
            parsed = parse_column(cd)
            new = parsed.column
            i = next((i for i, c in enumerate(cols) if c.name.lower() == new.name.lower()), -1)
            if i < 0:
                raise AnalysisError(f"Column[{new.name}] does not exists")
            old = cols[i]
            if old.is_key:
                raise AnalysisError(f"Can not modify key column: {old.name} for primary key table")
            if old.name.lower() in sort:
                raise AnalysisError("Can not modify sort column in primary data model table")
            error = conversion_error(old.type, new.type)
            if error:
                raise AnalysisError(error)
            if old.nullable and not new.nullable:
                raise AnalysisError("Can not change from nullable to non-nullable")
            new.name = old.name
            if _position(cd) is not None:
                # ADD COLUMN ... AFTER/FIRST places a new column; moving an existing one is a reorder
                raise AnalysisError(
                    f"Can not modify the position of column: {old.name} for primary key table; "
                    "primary key tables do not support reordering columns"
                )
            if new == old:
                raise AnalysisError("Nothing is changed. please check your alter stmt.")
            cols[i] = new
        else:
            raise AnalysisError(f"the stand-in does not support ALTER TABLE {action.sql('starrocks')}")
    if cols == meta.columns:
        raise AnalysisError("Nothing is changed. please check your alter stmt.")
    seen_value = False
    for c in cols:
        if c.is_key and seen_value:
            raise AnalysisError(f"Invalid column order. value should be after key. index[{meta.name}]")
        seen_value = seen_value or not c.is_key
    raw_timeout = options.get("timeout", str(DEFAULT_TIMEOUT))
    if not raw_timeout.isdigit() or int(raw_timeout) <= 0:
        raise AnalysisError(f"Invalid timeout: {raw_timeout}")
    new_meta = meta.copy()
    new_meta.columns = cols
    new_meta.state = "NORMAL"
    return SchemaChange(new_meta, srcs, int(raw_timeout))


def plan_rename(meta: TableMeta, old: str, new: str) -> SchemaChange:
    """RENAME COLUMN: metadata-only in StarRocks (3.3.2+)."""
    if meta.state != "NORMAL":
        raise AnalysisError(f"Table[{meta.name}]'s state is not NORMAL. Do not allow doing ALTER ops")
    col = meta.column(old)
    if col is None:
        raise AnalysisError(f"Column[{old}] does not exists")
    if meta.column(new) is not None:
        raise AnalysisError(f"Column name[{new}] is already used")
    new_meta = meta.copy()
    sources: list[str | None] = [c.name for c in meta.columns]
    for c in new_meta.columns:
        if c.name == col.name:
            c.name = new
    for names in (new_meta.key, new_meta.distributed_by, new_meta.order_by):
        names[:] = [new if n == col.name else n for n in names]
    return SchemaChange(new_meta, sources, DEFAULT_TIMEOUT)


def check_table_rename(meta: TableMeta, new: str, taken: bool) -> None:
    """``ALTER TABLE t RENAME n`` (synchronous), with StarRocks' checks and messages (FE
    ``LocalMetastore.renameTable``); ``taken`` says whether the database has a table ``n``."""
    if meta.state != "NORMAL":
        raise AnalysisError(f"Table[{meta.name}] is under {meta.state}")
    if meta.name == new:
        raise AnalysisError("Same table name")
    if taken:
        raise AnalysisError(f"Table name[{new}] is already used")


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class AlterJobs:
    """Runs schema-change jobs in background threads, ``seconds`` each, recording them in the store."""

    def __init__(self, store: StandInStore, seconds: float) -> None:
        self._store = store
        self._seconds = seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, db: str, change: SchemaChange) -> int:
        """Record a PENDING job, put the table in SCHEMA_CHANGE and start the job; returns its JobId."""
        meta = change.meta
        with self._lock:
            jobs = self._store.alter_jobs()
            job_id = max([j["JobId"] for j in jobs] + [10000]) + 3
            origin = 10000 + zlib.crc32(f"{db}.{meta.name}".encode()) % 100000
            version = 1 + sum(1 for j in jobs if j["db"] == db and j["TableName"] == meta.name)
            job = {
                "JobId": job_id,
                "TableName": meta.name,
                "CreateTime": _now(),
                "FinishTime": "NULL",
                "IndexName": meta.name,
                "IndexId": job_id + 1,
                "OriginIndexId": origin,
                "SchemaVersion": f"{version}:{zlib.crc32(str(job_id).encode())}",
                "TransactionId": -1,
                "State": "PENDING",
                "Msg": "",
                "Progress": "NULL",
                "Timeout": change.timeout,
                "db": db,
                "plan": {"meta": meta.to_dict(), "sources": change.sources},
            }
            self._store.set_state(db, meta.name, "SCHEMA_CHANGE")
            self._store.save_alter_job(job)
            self._start(job_id)
        return job_id

    def resume(self) -> None:
        """Restart the jobs a previous run left unfinished."""
        for job in self._store.alter_jobs():
            if job["State"] in _UNFINISHED:
                self._start(job["JobId"])

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def _start(self, job_id: int) -> None:
        t = threading.Thread(target=self._run, args=(job_id,), name=f"standin-alter-{job_id}", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _job(self, job_id: int) -> dict[str, Any]:
        return next(j for j in self._store.alter_jobs() if j["JobId"] == job_id)

    def _update(self, job_id: int, **fields: Any) -> dict[str, Any]:
        job = {**self._job(job_id), **fields}
        self._store.save_alter_job(job)
        return job

    def _run(self, job_id: int) -> None:
        try:
            self._run_phases(job_id)
        except Exception:  # noqa: BLE001 - a thread has nobody to raise to
            if not self._stop.is_set():  # while stopping, the store may already be closed
                log.exception("stand-in alter job %s failed", job_id)

    def _run_phases(self, job_id: int) -> None:
        job = self._job(job_id)
        total = min(self._seconds, float(job["Timeout"]))
        if job["State"] == "PENDING":
            if self._stop.wait(total * 0.2):
                return
            job = self._update(job_id, State="WAITING_TXN", TransactionId=job_id + 7)
        if job["State"] == "WAITING_TXN":
            if self._stop.wait(total * 0.2):
                return
            job = self._update(job_id, State="RUNNING", Progress="0/1")
        if self._stop.wait(total * 0.6):
            return
        db, plan = job["db"], job["plan"]
        meta = TableMeta.from_dict(plan["meta"])
        if self._seconds > float(job["Timeout"]):
            self._cancel(job_id, db, meta.name, "Timeout")
            return
        current = self._store.get_table(db, meta.name)
        if current is None or current.state != "SCHEMA_CHANGE":  # dropped (and maybe created anew) meanwhile
            self._update(
                job_id, State="CANCELLED", Msg="table does not exist", FinishTime=_now(), Progress="NULL"
            )
            return
        try:
            self._store.rebuild_table(meta, plan["sources"])
        except Exception as e:  # noqa: BLE001 - DuckDB conversion errors become the job's Msg
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            self._cancel(job_id, db, meta.name, f"schema change failed: {detail}")
            return
        self._update(job_id, State="FINISHED", FinishTime=_now(), Progress="NULL")

    def _cancel(self, job_id: int, db: str, table: str, msg: str) -> None:
        if self._store.get_table(db, table) is not None:
            self._store.set_state(db, table, "NORMAL")
        self._update(job_id, State="CANCELLED", Msg=msg, FinishTime=_now(), Progress="NULL")


def job_rows(store: StandInStore, db: str) -> list[tuple]:
    """SHOW ALTER TABLE COLUMN rows of database ``db`` (every value a string, as StarRocks sends them)."""
    return [
        tuple(str(j[c]) for c in ALTER_COLUMNS) + (j["JobId"],) for j in store.alter_jobs() if j["db"] == db
    ]
