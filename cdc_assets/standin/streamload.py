"""Plain Stream Load (``PUT /api/{db}/{table}/_stream_load`` on the BE): begin, plan, read, write, commit.

The steps and their failures follow BE ``StreamLoadAction`` (``stream_load.cpp``): authorization and the
header checks answer before the body is read (so no ``100 Continue`` is sent), then the FE begins the
transaction (label reuse -> ``Label Already Exists``), the load is planned, the body read, rows
converted and filtered, and everything applied through one :meth:`StandInStore.apply_load` call. Any
failure after begin rolls the transaction back, so the label can be reused. The answer has the fields of
``StreamLoadContext::to_json`` in its order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cdc_assets.standin import labels as L
from cdc_assets.standin.catalog import TableMeta
from cdc_assets.standin.loads import (
    HeaderPhase,
    LoadError,
    check_header_phase,
    execute_plan,
    plan_load,
    too_many_filtered,
)
from cdc_assets.standin.txns import (
    PUBLISH_TIMEOUT_MESSAGE,
    BeginFailed,
    ClientGone,
    Txn,
    TxnManager,
    load_brief,
    ms,
    new_load_id,
)


@dataclass
class StreamLoadRequest:
    """One plain Stream Load as the BE sees it. ``auth_ok`` None: no valid Basic header."""

    db: str
    table: str
    label: str
    headers: Mapping[str, str]
    content_length: int | None
    auth_ok: bool | None
    user: str
    remote_ip: str
    read_body: Callable[[], bytes]


@dataclass
class StreamLoadResult:
    """The fields of BE ``StreamLoadContext::to_json``, plus whether the body was read."""

    txn_id: int = -1
    label: str = ""
    status: str = "Fail"
    existing_job_status: str | None = None
    message: str = ""
    total: int = 0
    loaded: int = 0
    filtered: int = 0
    unselected: int = 0
    load_bytes: int = 0
    load_ms: int = 0
    begin_ms: int = 0
    plan_ms: int = 0
    read_ms: int = 0
    write_ms: int = 0
    commit_ms: int = 0
    error_url: str | None = None
    body_read: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"TxnId": self.txn_id, "Label": self.label, "Status": self.status}
        if self.existing_job_status is not None:
            out["ExistingJobStatus"] = self.existing_job_status
        out["Message"] = "OK" if self.status == "Success" else self.message
        out.update(
            NumberTotalRows=self.total,
            NumberLoadedRows=self.loaded,
            NumberFilteredRows=self.filtered,
            NumberUnselectedRows=self.unselected,
            LoadBytes=self.load_bytes,
            LoadTimeMs=self.load_ms,
            BeginTxnTimeMs=self.begin_ms,
            StreamLoadPlanTimeMs=self.plan_ms,
            ReadDataTimeMs=self.read_ms,
            WriteDataTimeMs=self.write_ms,
            CommitAndPublishTimeMs=self.commit_ms,
        )
        if self.error_url:
            out["ErrorURL"] = self.error_url
        return out


def run_stream_load(txns: TxnManager, req: StreamLoadRequest) -> StreamLoadResult:
    """One plain Stream Load on the BE, begin to commit; never raises for a load failure."""
    started = time.monotonic()
    label = req.label or str(uuid.uuid4())
    res = StreamLoadResult(label=label)
    if req.auth_ok is None:
        res.message = "no valid Basic authorization"
        return res
    load_id = new_load_id()
    try:
        phase = check_header_phase(
            req.headers,
            req.content_length,
            max_body_bytes=txns.max_body_bytes,
            brief=load_brief(load_id, -1, label, req.db),
        )
    except LoadError as e:
        res.message = e.message
        return res
    try:
        txn, meta = txns.begin(
            req.db,
            req.table,
            label,
            "stream_load",
            auth_ok=req.auth_ok,
            user=req.user,
            remote_ip=req.remote_ip,
            timeout=phase.timeout,
        )
    except BeginFailed as e:
        if e.code == "LABEL_ALREADY_EXISTS" and not txns.faults.take(
            "label_already_used_message", req.db, req.table
        ):
            res.status, res.existing_job_status = "Label Already Exists", e.existing
        res.message = e.message
        return res
    txn.load_id = load_id
    res.txn_id = txn.row.txn_id
    res.begin_ms = ms(time.monotonic() - started)
    with txn.lock:
        try:
            _run(txns, txn, meta, phase, req, res)
        except ClientGone:
            txns.abort(txn, "Cancelled")
            raise
        except LoadError as e:
            txns.abort(txn, e.message)
            res.status, res.message = "Fail", e.message
        except Exception as e:  # the store refused the rows (e.g. the table changed under the load)
            txns.abort(txn, str(e))
            res.status, res.message = "Fail", f"Failed to write data into the table: {e}"
    res.load_ms = ms(time.monotonic() - started)
    return res


def _run(
    txns: TxnManager,
    txn: Txn,
    meta: TableMeta,
    phase: HeaderPhase,
    req: StreamLoadRequest,
    res: StreamLoadResult,
) -> None:
    t0 = time.monotonic()
    plan = plan_load(req.headers, phase, meta)
    res.plan_ms = ms(time.monotonic() - t0)
    t0 = time.monotonic()
    body = req.read_body()
    res.body_read = True
    res.load_bytes = len(body)
    res.read_ms = ms(time.monotonic() - t0)
    fault = txns.data_fault(txn)
    if fault is not None:
        raise LoadError(fault[0], fault[1])
    t0 = time.monotonic()
    txn.batch = execute_plan(plan, body)
    b = txn.batch
    res.total, res.filtered, res.unselected = b.total_rows, b.filtered_rows, b.unselected_rows
    res.loaded = b.total_rows - b.filtered_rows - b.unselected_rows
    res.error_url = txns.error_url(txn)
    res.write_ms = ms(time.monotonic() - t0)
    if too_many_filtered(b.total_rows, b.filtered_rows, b.unselected_rows, plan.max_filter_ratio):
        raise LoadError("INTERNAL_ERROR", "too many filtered rows")
    t0 = time.monotonic()
    state, _ = txns.commit(txn)
    res.commit_ms = ms(time.monotonic() - t0)
    if state == L.COMMITTED:
        res.status, res.message = "Publish Timeout", PUBLISH_TIMEOUT_MESSAGE
    else:
        res.status, res.message = "Success", "OK"
