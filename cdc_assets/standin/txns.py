"""Labels and transactions, and the Transaction Stream Load API (StarRocks 2.4+).

One :class:`TxnManager` plays the FE transaction manager and the BE ``TransactionMgr``:

- every load has a label in its database, with a state ``PREPARE`` -> (``PREPARED``) -> ``COMMITTED``
  / ``VISIBLE``, or ``ABORTED``; a label may be reused only once its transaction aborted (plain
  Stream Load, in :mod:`cdc_assets.standin.streamload`, uses the same labels);
- an idle-transaction cleaner aborts transactions past ``timeout`` / ``idle_transaction_timeout``;
- the transaction API keeps a BE "stream context" per label while the transaction is PREPARE: ``load``
  buffers rows, ``prepare`` makes it PREPARED (the rows persist), ``commit`` applies them through
  :meth:`StandInStore.apply_load` in one call. BE answers follow ``to_resp_json``; the FE answers
  commit/rollback itself once the transaction is PREPARED or finished (``TransactionWithoutChannelHandler``).

Messages are StarRocks' (BE ``transaction_mgr.cpp``, ``transaction_stream_load.cpp``, FE
``TransactionLoadAction``); ``starrocks.md`` section 3 has the state table.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdc_assets.standin import labels as L
from cdc_assets.standin.catalog import TableMeta
from cdc_assets.standin.faults import Faults
from cdc_assets.standin.labels import ErrorLogs, LabelRow, LabelStore
from cdc_assets.standin.loads import (
    STREAMING_LOAD_MAX_MB,
    CsvStream,
    LoadBatch,
    LoadError,
    LoadPlan,
    check_header_phase,
    data_headers,
    execute_plan,
    header_map,
    parse_uint32,
    plan_load,
    too_many_filtered,
)
from cdc_assets.standin.store import StandInStore

LABEL_RE = re.compile(r"^[-\w]{1,128}$", re.ASCII)
#: FE ``max_running_txn_num_per_db`` (3.1+), quoted by the running_txns_limit fault
MAX_RUNNING_TXN_PER_DB = 1000
DEFAULT_TIMEOUT = 600
#: FE ``min_load_timeout_second`` and ``max_stream_load_timeout_second``: the range of a load's timeout
MIN_TIMEOUT, MAX_TIMEOUT = 1, 259200
DEFAULT_PREPARED_TIMEOUT = 86400
#: BE transaction cleaner period (``transaction_mgr.cpp``: 30 s)
CLEAN_INTERVAL = 30.0
FE_EXCEPTION = "class com.starrocks.common.StarRocksException"
PUBLISH_TIMEOUT_MESSAGE = "transaction commit successfully, BUT data will be visible later"


class ClientGone(Exception):
    """The client went away (or a connection_reset fault cut it off) before the body was read."""


def db_id(db: str) -> int:
    """A stable numeric database id, as StarRocks messages show ids rather than names."""
    return 10000 + zlib.crc32(db.encode("utf-8")) % 90000


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def existing_job_status(state: str) -> str:
    return "FINISHED" if state in L.FINISHED_STATES else "RUNNING"


def new_load_id() -> str:
    """A load id as the BE prints a ``UniqueId``: two 16-digit hex halves."""
    return f"{uuid.uuid4().hex[:16]}-{uuid.uuid4().hex[:16]}"


def load_brief(load_id: str, txn_id: int, label: str, db: str) -> str:
    """BE ``StreamLoadContext::brief``, quoted by some of its messages; ``txn_id`` -1 before begin."""
    return f"id={load_id}, job_id=-1, txn_id: {txn_id}, label={label}, db={db}"


@dataclass
class Txn:
    """A label's transaction: the persisted :class:`LabelRow` plus what a running transaction needs."""

    row: LabelRow
    lock: threading.Lock = field(default_factory=threading.Lock)
    load_id: str = field(default_factory=new_load_id)
    timeout: int = DEFAULT_TIMEOUT
    idle_timeout: int | None = None
    prepared_timeout: int = DEFAULT_PREPARED_TIMEOUT
    begun: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    prepared_at: float | None = None
    plan: LoadPlan | None = None
    data_headers: dict[str, str] | None = None  # of the first load; later loads must send the same
    csv: CsvStream = field(default_factory=CsvStream)
    batch: LoadBatch = field(default_factory=LoadBatch)
    loads: int = 0
    load_bytes: int = 0
    body_bytes: int = 0
    error_url: str | None = None
    plan_ms: int = 0
    receive_ms: int = 0

    @property
    def is_be_context(self) -> bool:
        """The BE holds a stream context for transaction-API labels until prepare/commit/rollback."""
        return self.row.kind == "transaction" and self.row.state == L.PREPARE

    def brief(self) -> str:
        return load_brief(self.load_id, self.row.txn_id, self.row.label, self.row.db)


class BeginFailed(Exception):
    def __init__(self, code: str, message: str, existing: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.existing = code, message, existing


def resp(
    status: str,
    message: str,
    *,
    label: str = "",
    fields: Mapping[str, Any] | None = None,
    error_url: str | None = None,
) -> dict[str, Any]:
    """BE ``StreamLoadContext::to_resp_json``: Status, [ExistingJobStatus | Label], Message, ..."""
    out: dict[str, Any] = {"Status": status}
    if status == "TXN_IN_PROCESSING":
        out["Label"] = label
    out["Message"] = message
    if status == "OK":
        out["Label"] = label
        out.update(fields or {})
    if error_url:
        out["ErrorURL"] = error_url
    return out


def fe_result(status: str, message: str, **entries: Any) -> dict[str, Any]:
    """FE ``TransactionResult``: Status, Message, then TxnId / Label / ExistingJobStatus."""
    return {"Status": status, "Message": message, **entries}


def fe_failure(message: str, exception: str = FE_EXCEPTION) -> dict[str, Any]:
    return fe_result("FAILED", f"{exception}: {message}")


class TxnManager:
    """Labels, transactions and their rows; thread-safe. See the module docstring."""

    def __init__(
        self,
        store: StandInStore,
        faults: Faults,
        label_store: LabelStore,
        error_logs: ErrorLogs,
        *,
        clock: Callable[[], float] = time.time,
        streaming_load_max_mb: int = STREAMING_LOAD_MAX_MB,
    ) -> None:
        self.store = store
        self.faults = faults
        self.error_logs = error_logs
        #: BE ``streaming_load_max_mb`` in bytes: a larger body (or transaction) fails
        self.max_body_bytes = streaming_load_max_mb * 1024 * 1024
        self.be_address = "127.0.0.1:8040"  # set by the server once the BE port is known
        self.clean_interval = CLEAN_INTERVAL
        self._labels = label_store
        self._clock = clock
        self._lock = threading.RLock()
        self._txns: dict[tuple[str, str], Txn] = {}
        self._next_id = 1
        self._stop = threading.Event()
        self._cleaner: threading.Thread | None = None
        for row in label_store.load_all():
            self._restore(row)

    # ------------------------------------------------------------------ lifecycle
    def _restore(self, row: LabelRow) -> None:
        txn = Txn(row)
        if row.state == L.PREPARE:
            # a restarted BE has lost its stream contexts; the FE aborts such transactions
            self._finish(txn, L.ABORTED, "transaction is aborted because the StarRocks stand-in restarted")
        elif row.state == L.PREPARED:
            txn.prepared_at = time.monotonic()
            txn.batch = LoadBatch.of_ops(list(row.ops or []), **_batch_counts(row.stats))
            txn.loads = 1
        self._txns[(row.db, row.label)] = txn
        self._next_id = max(self._next_id, row.txn_id + 1)

    def start_cleaner(self) -> None:
        """Run :meth:`clean_expired` every ``clean_interval`` seconds in a daemon thread."""
        if self._cleaner is None:
            self._cleaner = threading.Thread(target=self._clean_loop, name="standin-txn-cleaner", daemon=True)
            self._cleaner.start()

    def _clean_loop(self) -> None:
        while not self._stop.wait(self.clean_interval):
            self.clean_expired()

    def close(self) -> None:
        self._stop.set()
        if self._cleaner is not None:
            self._cleaner.join(timeout=5)
        self._labels.close()

    def clean_expired(self, now: float | None = None) -> None:
        """Abort transactions past ``timeout`` / ``idle_transaction_timeout`` / ``prepared_timeout``,
        publish COMMITTED ones whose visibility delay passed, forget labels older than 3 days.
        ``now`` is a :func:`time.monotonic` value (tests pass a future one)."""
        mono = time.monotonic() if now is None else now
        wall = self._clock() + (mono - time.monotonic())
        with self._lock:
            txns = list(self._txns.values())
        for txn in txns:
            r = txn.row
            if r.state == L.PREPARE and r.kind == "transaction" and txn.lock.acquire(blocking=False):
                try:
                    if r.state == L.PREPARE:
                        if mono - txn.begun > txn.timeout:
                            self._finish(
                                txn, L.ABORTED, f"transaction is aborted by timeout {txn.timeout} seconds."
                            )
                        elif txn.idle_timeout is not None and mono - txn.last_active > txn.idle_timeout:
                            reason = f"transaction is aborted by idle timeout {txn.idle_timeout} seconds."
                            self._finish(txn, L.ABORTED, reason)
                finally:
                    txn.lock.release()
            elif r.state == L.PREPARED and txn.prepared_at is not None:
                if mono - txn.prepared_at > txn.prepared_timeout and txn.lock.acquire(blocking=False):
                    try:
                        if r.state == L.PREPARED:
                            self._finish(txn, L.ABORTED, "timeout by txn manager")
                    finally:
                        txn.lock.release()
            self._state_at(txn, wall)
        with self._lock:
            old = [
                k
                for k, t in self._txns.items()
                if t.row.finished is not None and wall - t.row.finished > L.LABEL_KEEP_SECONDS
            ]
            for k in old:
                del self._txns[k]
        self._labels.delete(old)

    # ------------------------------------------------------------------ state
    def _state_at(self, txn: Txn, wall: float | None = None) -> str:
        r = txn.row
        if r.state == L.COMMITTED and r.visible_at is not None and (wall or self._clock()) >= r.visible_at:
            r.state, r.visible_at = L.VISIBLE, None
            self._labels.save(r)
        return r.state

    def get_load_state(self, db: str, label: str) -> str:
        """The label's transaction state, ``UNKNOWN`` when the label is not known."""
        txn = self.get(db, label)
        return L.UNKNOWN if txn is None else self._state_at(txn)

    def get(self, db: str, label: str) -> Txn | None:
        with self._lock:
            return self._txns.get((db, label))

    def _finish(self, txn: Txn, state: str, reason: str = "", visible_at: float | None = None) -> None:
        r = txn.row
        r.state, r.reason, r.visible_at = state, reason, visible_at
        r.finished = self._clock()
        r.ops = None
        r.stats = None
        txn.batch = LoadBatch(total_rows=txn.batch.total_rows, filtered_rows=txn.batch.filtered_rows)
        self._labels.save(r)

    def begin(
        self,
        db: str,
        table: str,
        label: str,
        kind: str,
        *,
        auth_ok: bool,
        user: str,
        remote_ip: str,
        timeout: int | None = None,
    ) -> tuple[Txn, TableMeta]:
        """FE ``loadTxnBegin``: password, label, database, table, the timeout's range (``timeout`` None:
        the default), running-transaction limit, label reuse."""
        if not auth_ok:
            raise BeginFailed("INTERNAL_ERROR", f"Access denied for {user}@{remote_ip}")
        if not LABEL_RE.match(label):
            raise BeginFailed(
                "ANALYSIS_ERROR", f"Label format error. regex: ^[-\\w]{{1,128}}$, label: {label}"
            )
        if not self.store.has_database(db):
            raise BeginFailed("ANALYSIS_ERROR", f"unknown database, database={db}")
        meta = self.store.get_table(db, table)
        if meta is None:
            raise BeginFailed("ANALYSIS_ERROR", f'unknown table "{db}.{table}"')
        if timeout is not None and not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
            # GlobalTransactionMgr.checkValidTimeoutSecond
            raise BeginFailed(
                "ANALYSIS_ERROR",
                f"Invalid timeout. Timeout should between {MIN_TIMEOUT} and {MAX_TIMEOUT} seconds",
            )
        if self.faults.take("running_txns_limit", db, table):
            raise BeginFailed(
                "ANALYSIS_ERROR",
                f"current running txns on db {db_id(db)} is {MAX_RUNNING_TXN_PER_DB}, "
                f"larger than limit {MAX_RUNNING_TXN_PER_DB}",
            )
        with self._lock:
            old = self._txns.get((db, label))
            if old is not None and self._state_at(old) != L.ABORTED:
                raise BeginFailed(
                    "LABEL_ALREADY_EXISTS",
                    f"Label [{label}] has already been used.",
                    existing_job_status(old.row.state),
                )
            row = LabelRow(db, label, meta.name, self._next_id, kind, L.PREPARE, self._clock())
            self._next_id += 1
            txn = Txn(row)
            self._txns[(db, label)] = txn
        self._labels.save(row)
        return txn, meta

    def abort(self, txn: Txn, reason: str) -> None:
        if txn.row.state in (L.PREPARE, L.PREPARED):
            self._finish(txn, L.ABORTED, reason)

    def data_fault(self, txn: Txn) -> tuple[str, str] | None:
        """mem_limit_exceeded / too_many_versions, as (transaction API status, message)."""
        r = txn.row
        if self.faults.take("mem_limit_exceeded", r.db, r.table):
            return (
                "MEM_LIMIT_EXCEEDED",
                "Memory of process exceed limit. Start execute plan fragment. Backend: 127.0.0.1, "
                "Used: 6226410376, Limit: 6184752905. Mem usage has exceed the limit of BE",
            )
        if self.faults.take("too_many_versions", r.db, r.table):
            return (
                "SERVICE_UNAVAILABLE",
                f"Failed to load data into tablet {10000 + r.txn_id}, because of too many versions, current/limit: "
                "1001/1000. You can reduce the loading job concurrency, or increase loading data batch size. If "
                "you are loading data with Routine Load, you can increase FE configs "
                "routine_load_task_consume_second and max_routine_load_batch_size,: be:127.0.0.1",
            )
        return None

    def commit(self, txn: Txn) -> tuple[str, float | None]:
        """Apply the transaction's rows in one store call and make it VISIBLE (or COMMITTED under a
        publish_timeout fault). Returns (state, seconds the store took)."""
        r = txn.row
        started = time.monotonic()
        if txn.batch.has_rows:
            self.store.apply_parts(r.db, r.table, txn.batch.parts)
        elapsed = time.monotonic() - started
        fault = self.faults.take("publish_timeout", r.db, r.table)
        if fault is not None:
            self._finish(txn, L.COMMITTED, visible_at=self._clock() + fault.seconds)
            return L.COMMITTED, elapsed
        self._finish(txn, L.VISIBLE)
        return L.VISIBLE, elapsed

    def error_url(self, txn: Txn) -> str | None:
        if not txn.batch.error_lines:
            return None
        name = self.error_logs.put(txn.row.txn_id, txn.batch.error_lines)
        return f"http://{self.be_address}/api/_load_error_log?file={name}"

    # ------------------------------------------------------------------ transaction API, BE side
    def be_begin(
        self,
        db: str,
        table: str,
        label: str,
        headers: Mapping[str, str],
        *,
        auth_ok: bool | None,
        user: str,
        ip: str,
    ) -> dict[str, Any]:
        started = time.monotonic()
        if self._context(db, label) is not None:  # the BE already holds a stream context for the label
            return {
                "Status": "LABEL_ALREADY_EXISTS",
                "ExistingJobStatus": "RUNNING",
                "Message": f"Label [{label}] has already been used.",
            }
        h = header_map(headers)
        timeouts: dict[str, int] = {}
        for name in ("timeout", "idle_transaction_timeout"):
            if name in h:
                value = parse_uint32(h[name])
                if value is None:
                    return resp("INVALID_ARGUMENT", "Invalid timeout format")
                timeouts[name] = value
        if auth_ok is None:
            return resp("INTERNAL_ERROR", "no valid Basic authorization")
        try:
            txn, _ = self.begin(
                db,
                table,
                label,
                "transaction",
                auth_ok=auth_ok,
                user=user,
                remote_ip=ip,
                timeout=timeouts.get("timeout"),
            )
        except BeginFailed as e:
            if e.code == "LABEL_ALREADY_EXISTS":
                return {"Status": e.code, "ExistingJobStatus": e.existing or "", "Message": e.message}
            return resp(e.code, e.message)
        txn.timeout = timeouts.get("timeout", DEFAULT_TIMEOUT)
        txn.idle_timeout = timeouts.get("idle_transaction_timeout")
        fields = {"TxnId": txn.row.txn_id, "BeginTxnTimeMs": ms(time.monotonic() - started)}
        return resp("OK", "", label=label, fields=fields)

    def _context(self, db: str, label: str) -> Txn | None:
        """The BE stream context of ``label``: the BE keys them by label alone (same database first)."""
        with self._lock:
            txn = self._txns.get((db, label))
            if txn is not None and txn.is_be_context:
                return txn
            return next((t for (_, lb), t in self._txns.items() if lb == label and t.is_be_context), None)

    def be_load(
        self,
        db: str,
        table: str,
        label: str,
        headers: Mapping[str, str],
        content_length: int | None,
        read_body: Callable[[], bytes],
    ) -> tuple[dict[str, Any], bool]:
        """``/api/transaction/load``: (answer, whether the body was read)."""
        if not label:
            return resp("INVALID_ARGUMENT", "Invalid label "), False
        txn = self._context(db, label)
        if txn is None:
            return resp("TXN_NOT_EXISTS", f"transaction with label {label} not exists"), False
        r = txn.row
        if r.db != db:
            return resp(
                "INVALID_ARGUMENT", f"Request database {db} not equal transaction database {r.db}"
            ), False
        if r.table != table:
            return resp(
                "INVALID_ARGUMENT", f"Request table {table} not equal transaction table {r.table}"
            ), False
        if not txn.lock.acquire(blocking=False):
            msg = "Transaction in processing, please retry later"
            return resp("TXN_IN_PROCESSING", msg, label=label), False
        try:
            txn.last_active = time.monotonic()
            return self._be_load_locked(txn, headers, content_length, read_body)
        finally:
            txn.last_active = time.monotonic()
            txn.lock.release()

    def _be_load_locked(
        self, txn: Txn, headers: Mapping[str, str], content_length: int | None, read_body: Callable[[], bytes]
    ) -> tuple[dict[str, Any], bool]:
        r = txn.row
        if r.state != L.PREPARE:
            return resp("TXN_NOT_EXISTS", f"transaction with label {r.label} not exists"), False
        body_read = False
        try:
            txn.body_bytes += content_length or 0
            phase = check_header_phase(
                headers, txn.body_bytes, max_body_bytes=self.max_body_bytes, brief=txn.brief()
            )
            t0 = time.monotonic()
            if txn.plan is None:
                meta = self.store.get_table(r.db, r.table)
                if meta is None:
                    raise LoadError("ANALYSIS_ERROR", f'unknown table "{r.db}.{r.table}"')
                txn.plan = plan_load(headers, phase, meta)
                txn.data_headers = data_headers(headers)
            elif data_headers(headers) != txn.data_headers:
                # every load of a transaction feeds one plan (docs: "the parameter settings specified for
                # all of the /api/transaction/load operations that are called must be the same")
                raise LoadError("INTERNAL_ERROR", "load request not equal last.")
            plan_ms = ms(time.monotonic() - t0)
            t0 = time.monotonic()
            body = read_body()
            body_read = True
            receive_ms = ms(time.monotonic() - t0)
            fault = self.data_fault(txn)
            if fault is not None:
                raise LoadError(*fault)
            batch = execute_plan(txn.plan, body, txn.csv, final=False)
        except ClientGone:
            self.abort(txn, "Cancelled")
            raise
        except LoadError as e:
            self.abort(txn, e.message)
            return resp(e.code, e.message), body_read
        if r.state != L.PREPARE:  # rolled back while this load ran
            return resp("TXN_NOT_EXISTS", f"transaction with label {r.label} not exists"), body_read
        txn.batch.extend(batch)
        txn.loads += 1
        txn.load_bytes += len(body)
        txn.plan_ms += plan_ms
        txn.receive_ms += receive_ms
        fields = {
            "TxnId": r.txn_id,
            "LoadBytes": len(body),
            "StreamLoadPlanTimeMs": plan_ms,
            "ReceivedDataTimeMs": receive_ms,
        }
        return resp("OK", "", label=r.label, fields=fields), body_read

    def be_commit(self, db: str, label: str, headers: Mapping[str, str], *, prepare: bool) -> dict[str, Any]:
        """``/api/transaction/prepare`` and ``commit`` on the BE (the transaction is still PREPARE)."""
        txn = self._context(db, label)
        if txn is None:
            return resp("TXN_NOT_EXISTS", f"transaction with label {label} not exists")
        r = txn.row
        if r.db != db:
            return resp("INVALID_ARGUMENT", f"Request database {db} not equal transaction database {r.db}")
        h = header_map(headers)
        prepared_timeout = None
        if prepare and "prepared_timeout" in h:
            prepared_timeout = parse_uint32(h["prepared_timeout"])
            if not prepared_timeout:
                return resp("INVALID_ARGUMENT", f"Invalid prepared_timeout: {h['prepared_timeout']}")
        if not txn.lock.acquire(blocking=False):
            return resp("TXN_IN_PROCESSING", "Transaction in processing, please retry later", label=label)
        try:
            if r.state != L.PREPARE:
                return resp("TXN_NOT_EXISTS", f"transaction with label {label} not exists")
            if prepared_timeout:
                txn.prepared_timeout = prepared_timeout
            return self._be_commit_locked(txn, prepare)
        finally:
            txn.lock.release()

    def _be_commit_locked(self, txn: Txn, prepare: bool) -> dict[str, Any]:
        r = txn.row
        started = time.monotonic()
        if txn.loads == 0:
            message = f"transaction {txn.brief()} hasn't send any data yet"
            self.abort(txn, message)
            return resp("INTERNAL_ERROR", message)
        if txn.csv.tail and txn.plan is not None:  # the end of the data ends an unterminated last record
            try:
                txn.batch.extend(execute_plan(txn.plan, b"", txn.csv, final=True))
            except LoadError as e:
                self.abort(txn, e.message)
                return resp(e.code, e.message)
        fault = self.data_fault(txn)
        if fault is not None:
            self.abort(txn, fault[1])
            return resp(*fault)
        b = txn.batch
        txn.error_url = txn.error_url or self.error_url(txn)
        plan = txn.plan
        if plan is not None and too_many_filtered(
            b.total_rows, b.filtered_rows, b.unselected_rows, plan.max_filter_ratio
        ):
            self.abort(txn, "too many filtered rows")
            return resp("INTERNAL_ERROR", "too many filtered rows", error_url=txn.error_url)
        status, message, commit_ms = "OK", "", 0
        if prepare:
            # the rows are kept only where they outlive the process (a data_dir): in memory, txn.batch has them
            r.state, r.ops = L.PREPARED, b.ops() if self._labels.persistent else []
            r.stats = {"total_rows": b.total_rows, "filtered_rows": b.filtered_rows}
            txn.prepared_at = time.monotonic()
            self._labels.save(r)
        else:
            try:
                state, elapsed = self.commit(txn)
            except Exception as e:
                self.abort(txn, str(e))
                return resp("INTERNAL_ERROR", f"Failed to write data into the table: {e}")
            commit_ms = ms(elapsed or 0)
            if state == L.COMMITTED:
                status, message = "PUBLISH_TIMEOUT", PUBLISH_TIMEOUT_MESSAGE
        fields = {
            "TxnId": r.txn_id,
            "NumberTotalRows": b.total_rows,
            "NumberLoadedRows": b.total_rows - b.filtered_rows - b.unselected_rows,
            "NumberFilteredRows": b.filtered_rows,
            "NumberUnselectedRows": b.unselected_rows,
            "LoadBytes": txn.load_bytes,
            "LoadTimeMs": ms(time.monotonic() - txn.begun),
            "StreamLoadPlanTimeMs": txn.plan_ms,
            "ReceivedDataTimeMs": txn.receive_ms,
            "WriteDataTimeMs": ms(time.monotonic() - started) - commit_ms,
            "CommitAndPublishTimeMs": commit_ms,
        }
        return resp(status, message, label=r.label, fields=fields, error_url=txn.error_url)

    def be_rollback(self, db: str, label: str) -> dict[str, Any]:
        txn = self._context(db, label)
        if txn is None:
            return resp("TXN_NOT_EXISTS", f"transaction with label {label} not exists")
        if txn.row.db != db:
            return resp(
                "INVALID_ARGUMENT", f"Request database {db} not equal transaction database {txn.row.db}"
            )
        with txn.lock:
            if txn.row.state != L.PREPARE:
                return resp("TXN_NOT_EXISTS", f"transaction with label {label} not exists")
            self.abort(txn, "transaction is aborted by user.")
        return resp("OK", "", label=label)

    # ------------------------------------------------------------------ transaction API, FE side
    def fe_answers(self, db: str, label: str) -> bool:
        """Whether the FE answers commit/rollback itself: the label is unknown, PREPARED or finished."""
        txn = self.get(db, label)
        return txn is None or self._state_at(txn) != L.PREPARE

    def fe_commit_or_rollback(self, op: str, db: str, label: str) -> dict[str, Any] | None:
        """FE answer for ``commit``/``rollback``; None means: redirect to the BE (transaction still PREPARE)."""
        txn = self.get(db, label)
        if txn is None:
            return fe_failure(f"No transaction found by label {label}")
        with txn.lock:
            state = self._state_at(txn)
            r = txn.row
            if state == L.PREPARE:
                return None
            if op == "commit":
                if state == L.PREPARED:
                    try:
                        self.commit(txn)
                    except Exception as e:
                        return fe_failure(f"Failed to commit transaction {r.txn_id}, label is {label}: {e}")
                    return fe_result("OK", "", TxnId=r.txn_id, Label=label)
                if state in L.FINISHED_STATES:
                    message = f"Transaction {r.txn_id} has already committed, label is {label}"
                    return fe_result("OK", message, TxnId=r.txn_id, Label=label)
                return fe_failure(f"Can not commit {state} transaction {r.txn_id}, label is {label}")
            if state == L.PREPARED:
                self._finish(txn, L.ABORTED, "User Aborted")
                return fe_result("OK", "", TxnId=r.txn_id, Label=label)
            if state == L.ABORTED:
                message = f"Transaction {r.txn_id} has already aborted, label is {label}"
                return fe_result("OK", message, TxnId=r.txn_id, Label=label)
            return fe_failure(f"Can not abort {state} transaction {r.txn_id}, label is {label}")


def _batch_counts(stats: dict[str, int] | None) -> dict[str, int]:
    stats = stats or {}
    return {"total_rows": stats.get("total_rows", 0), "filtered_rows": stats.get("filtered_rows", 0)}
