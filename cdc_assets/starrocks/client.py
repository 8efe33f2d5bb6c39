"""The Stream Load client: plain Stream Load and Transaction Stream Load, with retries that are safe.

Every retry reuses the label, so StarRocks itself deduplicates: a batch whose first attempt did land
answers "Label Already Exists" (or, since 3.2.11, a failure saying the label "has already been used"),
and the client then asks ``get_load_state`` whether the earlier job committed. Only aborted or unknown
labels are loaded again. See the StarRocks docs ``loading/StreamLoad.md`` and
``loading/Stream_Load_transaction_interface.md``; :mod:`cdc_assets.starrocks.outcome` holds the rules
for which answers are retried and which are final.

Retriable failures are retried with exponential backoff and jitter for up to ``RetryPolicy.max_elapsed``
seconds and then raise :class:`~cdc_assets.errors.TransientError`; final ones raise
:class:`~cdc_assets.errors.SinkError` at once. Connections are opened per request (the FE closes them
anyway), so the client holds no sockets; when an FE of ``load_urls`` cannot be reached the next one is
tried, and the one that answered is used first from then on.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cdc_assets.errors import SinkError, TransientError
from cdc_assets.starrocks import transport
from cdc_assets.starrocks.outcome import (
    COMMITTED_STATES,
    Outcome,
    Verdict,
    classify_failure,
    classify_http,
    classify_stream_load,
    classify_txn,
    get,
    message_of,
    parse_json,
)
from cdc_assets.starrocks.retry import Budget, RetryPolicy
from cdc_assets.starrocks.transport import Response, Timeouts, TransportError

__all__ = ["DEFAULT_RETRY", "LoadResult", "RetryPolicy", "StreamLoadClient"]

_LOG = logging.getLogger(__name__)
DEFAULT_RETRY = RetryPolicy()

# Headers this client sets itself; a caller's value for them is ignored.
_OWN_HEADERS = frozenset({"host", "content-length", "expect", "connection", "authorization", "label"})
# Transaction headers that belong to one operation only (the docs: timeout and idle_transaction_timeout
# on begin, prepared_timeout on prepare); the data headers go with every load.
_BEGIN_ONLY = frozenset({"timeout", "idle_transaction_timeout"})
_PREPARE_ONLY = frozenset({"prepared_timeout"})
_TXN_IDS = frozenset({"db", "table"})
# How long one round of get_load_state polling may last before the load is retried (the V1 connector
# polls for up to 600 s too).
LABEL_POLL_LIMIT = 600.0
_PENDING = frozenset({"PREPARE", "PREPARED"})


@dataclass(frozen=True)
class LoadResult:
    label: str
    status: str  # the StarRocks Status that settled the load, or the label state (VISIBLE / COMMITTED)
    txn_id: int | None
    loaded_rows: int
    filtered_rows: int
    load_bytes: int
    attempts: int
    already_loaded: bool  # True: the label was already committed (nothing re-applied)
    response: dict = field(repr=False)


class StreamLoadClient:
    """Loads bodies into StarRocks tables over HTTP (see the module docstring)."""

    def __init__(
        self,
        load_urls: Sequence[str],
        user: str,
        password: str,
        *,
        connect_timeout: float = 30.0,
        socket_timeout: float | None = None,
        wait_for_continue_timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        log: logging.Logger | None = None,
    ) -> None:
        if isinstance(load_urls, str):
            load_urls = [load_urls]
        # Flink's load-url is "fe1:8030;fe2:8030"; accept that inside any entry too.
        addresses = [a for u in load_urls for a in u.replace(",", ";").split(";") if a.strip()]
        if not addresses:
            raise ValueError("load_urls is empty: give the FE HTTP addresses, e.g. fe1:8030")
        self._fes = [transport.base_url(a) for a in addresses]
        self.user = user
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._authorization = f"Basic {token}"
        self.timeouts = Timeouts(connect_timeout, socket_timeout, wait_for_continue_timeout)
        self.retry = retry
        self._sleep = sleep
        self._log = log or _LOG
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._current = 0

    def __repr__(self) -> str:
        return f"StreamLoadClient(load_urls={self._fes!r}, user={self.user!r})"

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""

    @property
    def current_fe(self) -> str:
        """The FE address tried first (the last one that answered)."""
        with self._lock:
            return self._fes[self._current]

    # ---- plain Stream Load ---------------------------------------------------------------------

    def stream_load(
        self, db: str, table: str, body: bytes, *, label: str, headers: Mapping[str, str]
    ) -> LoadResult:
        """Load ``body`` into ``db.table`` under ``label`` (``PUT /api/{db}/{table}/_stream_load``).

        Success and Publish Timeout are successes; a label committed earlier is ``already_loaded``.
        """
        sent = _data_headers(headers)
        sent["label"] = label
        path = f"/api/{_seg(db)}/{_seg(table)}/_stream_load"
        budget = self._budget()
        attempts = 0
        while True:
            attempts += 1
            outcome = self._call("PUT", path, sent, body, classify_stream_load)
            if outcome.verdict is Verdict.LOADED:
                return _result(label, outcome.status, outcome.body, attempts, already=False)
            if outcome.verdict is Verdict.ALREADY_LOADED:
                return _result(label, outcome.status, outcome.body, attempts, already=True)
            if outcome.verdict is Verdict.LABEL_IN_USE:
                state, state_body = self._settle_label(db, label, budget, wait_while=_PENDING)
                if state in COMMITTED_STATES:
                    return _result(label, state, state_body, attempts, already=True, status_body=outcome.body)
                outcome = _relabel(outcome, label, state)
            if outcome.verdict is Verdict.FAIL:
                raise self._terminal("load", db, table, label, outcome)
            self._back_off(budget, "load", db, table, label, attempts, outcome)

    # ---- Transaction Stream Load ---------------------------------------------------------------

    def transaction_load(
        self, db: str, table: str, bodies: Sequence[bytes], *, label: str, headers: Mapping[str, str]
    ) -> LoadResult:
        """Load ``bodies`` into ``db.table`` as one transaction: begin, load x N, prepare, commit.

        A retriable failure before the commit rolls the transaction back and redoes it under the same
        label. A label that is already committed is ``already_loaded``; one that an earlier attempt left
        open (PREPARE or PREPARED) is rolled back and redone: this call holds the whole content, while
        a prepared leftover may come from a run that cut the batch differently.
        """
        if not bodies:
            raise ValueError("transaction_load needs at least one body (StarRocks refuses empty commits)")
        data = _data_headers(headers)
        begin_h = {k: v for k, v in data.items() if k in _BEGIN_ONLY or k == "warehouse"}
        begin_h.setdefault("timeout", "600")
        prepare_h = {k: v for k, v in data.items() if k in _PREPARE_ONLY}
        load_h = {k: v for k, v in data.items() if k not in _BEGIN_ONLY | _PREPARE_ONLY | _TXN_IDS}
        budget = self._budget()
        attempts = 0
        while True:
            attempts += 1
            done = self._txn_attempt(db, table, label, bodies, begin_h, load_h, prepare_h, budget, attempts)
            if isinstance(done, LoadResult):
                return done
            self._back_off(budget, "transaction load", db, table, label, attempts, done)

    def _txn_attempt(
        self,
        db: str,
        table: str,
        label: str,
        bodies: Sequence[bytes],
        begin_h: dict[str, str],
        load_h: dict[str, str],
        prepare_h: dict[str, str],
        budget: Budget,
        attempts: int,
    ) -> LoadResult | Outcome:
        """One begin-load-prepare-commit round: the result, or the retriable Outcome that stopped it."""
        begun = self._txn_call("begin", db, table, label, begin_h)
        if begun.verdict is Verdict.LABEL_IN_USE:
            state, state_body = self._settle_label(db, label, budget, wait_while=frozenset())
            if state in COMMITTED_STATES:
                return _result(label, state, state_body, attempts, already=True, status_body=begun.body)
            # Left open by an earlier attempt (or a dead process). Rolling back and redoing is right
            # whatever it holds; committing it is right only if it holds exactly these bodies.
            self._rollback_quietly(db, table, label)
            if state in _PENDING:
                advice = f"an earlier attempt left label {label} {state}; it was rolled back to be redone"
                return Outcome(Verdict.RETRY, begun.status, begun.message, advice, None, begun.body)
            return _relabel(begun, label, state)
        if begun.verdict is not Verdict.LOADED:
            return self._abandon(db, table, label, begun)
        load_bytes = 0
        for body in bodies:
            loaded = self._txn_call("load", db, table, label, load_h, body)
            if loaded.verdict is not Verdict.LOADED:
                return self._abandon(db, table, label, loaded)
            load_bytes += int(get(loaded.body, "LoadBytes", 0) or 0)
        prepared = self._prepare(db, table, label, prepare_h, budget, attempts)
        if isinstance(prepared, Outcome):
            return self._abandon(db, table, label, prepared)
        committed = self._commit(db, table, label, budget, attempts)
        if isinstance(committed, Outcome):
            return self._abandon(db, table, label, committed)
        status, commit_body = committed

        def count(name: str) -> int:
            value = get(commit_body, name)
            return int((value if value is not None else get(prepared, name)) or 0)

        txn_id = _int_or_none(get(commit_body, "TxnId"))
        return LoadResult(
            label=label,
            status=status,
            txn_id=txn_id if txn_id is not None else _int_or_none(get(begun.body, "TxnId")),
            loaded_rows=count("NumberLoadedRows"),
            filtered_rows=count("NumberFilteredRows"),
            load_bytes=count("LoadBytes") or load_bytes,
            attempts=attempts,
            already_loaded=False,
            response=commit_body,
        )

    def _prepare(
        self, db: str, table: str, label: str, headers: dict[str, str], budget: Budget, attempts: int
    ) -> dict[str, Any] | Outcome:
        """Prepare; the prepare answer's body when the transaction is PREPARED, else why not."""
        while True:
            prepared = self._txn_call("prepare", db, table, label, headers)
            if prepared.verdict is Verdict.LOADED:
                return prepared.body
            status = prepared.status.upper()
            if status == "TXN_NOT_EXISTS":
                # The SDK's rule: the transaction may already be prepared; ask for the label's state.
                state, _ = self._settle_label(db, label, budget, wait_while=frozenset({"PREPARE"}))
                if state == "PREPARED" or state in COMMITTED_STATES:
                    return prepared.body
                return _relabel(prepared, label, state)
            if status == "TXN_IN_PROCESSING" and budget.remaining > 0:
                # Another request on the label is still running (a retried load): wait, prepare again.
                self._back_off(budget, "transaction prepare", db, table, label, attempts, prepared)
                continue
            return prepared

    def _commit(
        self, db: str, table: str, label: str, budget: Budget, attempts: int
    ) -> tuple[str, dict[str, Any]] | Outcome:
        """Commit; (status, body) once the label is COMMITTED or VISIBLE, else why not."""
        while True:
            committed = self._txn_call("commit", db, table, label, {})
            if committed.verdict is Verdict.LOADED:  # OK, "has already committed", PUBLISH_TIMEOUT
                return committed.status, committed.body
            # Whatever the answer, the label's state decides (the SDK does the same): a commit whose
            # answer was lost, or one refused after an FE restart, may well have committed.
            try:
                state, state_body = self._load_state(db, label)
            except TransientError:
                state, state_body = "", {}
            if state in COMMITTED_STATES:
                return state, state_body
            if committed.verdict is Verdict.FAIL:
                return committed
            if state == "PREPARED" and budget.remaining > 0:
                self._back_off(budget, "transaction commit", db, table, label, attempts, committed)
                continue
            return _relabel(committed, label, state) if state else committed

    def _abandon(self, db: str, table: str, label: str, outcome: Outcome) -> Outcome:
        """Roll back after a failed step; a final failure raises, a retriable one is returned."""
        self._rollback_quietly(db, table, label)
        if outcome.verdict is Verdict.FAIL:
            raise self._terminal("transaction load", db, table, label, outcome)
        return outcome

    def _rollback_quietly(self, db: str, table: str | None, label: str) -> None:
        outcome = self._txn_call("rollback", db, table, label, {})
        if outcome.verdict is not Verdict.LOADED:
            self._log.info(
                "rollback of StarRocks transaction %s on %s.%s did not succeed (%s: %s); "
                "StarRocks aborts it at its timeout",
                label,
                db,
                table,
                outcome.status,
                _short(outcome.message),
            )

    # raw operations: one request each, no retries -------------------------------------------------

    def begin(self, db: str, table: str, label: str, headers: Mapping[str, str] | None = None) -> dict:
        """``POST /api/transaction/begin``; the parsed answer (``Status`` OK, LABEL_ALREADY_EXISTS, ...)."""
        return self._raw("begin", db, table, label, headers)

    def load(
        self, db: str, table: str, label: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> dict:
        """``PUT /api/transaction/load`` with one body; the parsed answer."""
        return self._raw("load", db, table, label, headers, body)

    def prepare(
        self, db: str, table: str | None, label: str, headers: Mapping[str, str] | None = None
    ) -> dict:
        """``POST /api/transaction/prepare``; the parsed answer (``table`` None leaves the header out)."""
        return self._raw("prepare", db, table, label, headers)

    def commit(
        self, db: str, table: str | None, label: str, headers: Mapping[str, str] | None = None
    ) -> dict:
        """``POST /api/transaction/commit``; the parsed answer (``table`` None leaves the header out)."""
        return self._raw("commit", db, table, label, headers)

    def rollback(
        self, db: str, table: str | None, label: str, headers: Mapping[str, str] | None = None
    ) -> dict:
        """``POST /api/transaction/rollback``; the parsed answer (``table`` None leaves the header out)."""
        return self._raw("rollback", db, table, label, headers)

    def _raw(
        self,
        op: str,
        db: str,
        table: str | None,
        label: str,
        headers: Mapping[str, str] | None,
        body: bytes = b"",
    ) -> dict:
        outcome = self._txn_call(op, db, table, label, _data_headers(headers or {}), body)
        if outcome.status == "connection":
            raise TransientError(
                f"StarRocks transaction {op} for {db}.{table or '?'} (label {label}): {outcome.message}",
                table=f"{db}.{table}",
                label=label,
            )
        if outcome.status.startswith("HTTP"):
            if outcome.verdict is Verdict.FAIL:
                raise self._terminal(f"transaction {op}", db, table or "?", label, outcome)
            raise TransientError(
                f"StarRocks transaction {op} for {db}.{table or '?'} (label {label}) answered "
                f"{outcome.status}: {outcome.message}",
                table=f"{db}.{table}",
                label=label,
            )
        return outcome.body

    def resolve_lingering(self, db: str, labels: Iterable[str], *, commit: bool) -> dict[str, str]:
        """Settle transactions an earlier process left open, by label.

        PREPARED is committed (``commit=True``) or rolled back; PREPARE (still loading, so incomplete)
        is rolled back either way; committed, aborted and unknown labels are left alone. Returns what
        happened per label: ``committed``, ``rolled_back``, ``already_committed``, ``already_aborted``
        or ``not_found``. A commit or rollback that keeps failing raises after the retry budget.
        """
        return {label: self._resolve_one(db, label, commit=commit) for label in labels}

    def _resolve_one(self, db: str, label: str, *, commit: bool) -> str:
        budget = self._budget()
        attempts = 0
        while True:
            attempts += 1
            try:
                state, _ = self._load_state(db, label)
            except TransientError as exc:
                outcome = Outcome(
                    Verdict.RETRY, "state", str(exc), "StarRocks could not tell the label's state"
                )
                self._back_off(budget, "label state query", db, "?", label, attempts, outcome)
                continue
            if state in COMMITTED_STATES:
                return "already_committed"
            if state == "ABORTED":
                return "already_aborted"
            if state not in _PENDING:
                return "not_found"
            op = "commit" if commit and state == "PREPARED" else "rollback"
            outcome = self._txn_call(op, db, None, label, {})
            if outcome.verdict is Verdict.LOADED:
                done = "committed" if op == "commit" else "rolled_back"
                self._log.info("StarRocks transaction %s in %s was %s: %s", label, db, state, done)
                return done
            if outcome.verdict is Verdict.FAIL:
                raise self._terminal(f"transaction {op}", db, "?", label, outcome)
            self._back_off(budget, f"transaction {op}", db, "?", label, attempts, outcome)

    # ---- label state ---------------------------------------------------------------------------

    def get_load_state(self, db: str, label: str) -> str:
        """The label's state: UNKNOWN (no such label), PREPARE, PREPARED, COMMITTED, VISIBLE or ABORTED."""
        return self._load_state(db, label)[0]

    def _load_state(self, db: str, label: str) -> tuple[str, dict[str, Any]]:
        path = f"/api/{_seg(db)}/get_load_state?label={quote(label, safe='')}"
        try:
            response = self._send("GET", path, {}, b"")
        except TransportError as exc:
            raise TransientError(
                f"cannot ask StarRocks for label {label}'s state: {exc}", label=label
            ) from exc
        outcome = classify_http(response.status, response.body)
        if outcome is None:
            body = parse_json(response.body) or {}
            state = get(body, "state")
            if state:
                return str(state).upper(), body
            outcome = classify_failure(str(get(body, "status", "") or "FAILED"), message_of(body), body)
        if outcome.verdict is Verdict.FAIL:
            raise self._terminal("label state query", db, "?", label, outcome)
        raise TransientError(
            f"StarRocks could not tell label {label}'s state in {db}: {outcome.status}: {outcome.message}",
            label=label,
        )

    def _settle_label(
        self, db: str, label: str, budget: Budget, *, wait_while: frozenset[str]
    ) -> tuple[str, dict[str, Any]]:
        """Poll get_load_state while the state is in ``wait_while``, with pauses growing from 0 to 5
        steps (a step is the policy's initial delay, at most 1 s), for at most LABEL_POLL_LIMIT s."""
        step = min(self.retry.initial_delay, 1.0)
        started = budget.elapsed
        polls = 0
        state, body = "", {}
        while True:
            try:
                state, body = self._load_state(db, label)
            except TransientError as exc:
                self._log.info("asking for the state of label %s failed (%s); asking again", label, exc)
                state = ""
            if state and state not in wait_while:
                return state, body
            if budget.remaining <= 0 or budget.elapsed - started >= LABEL_POLL_LIMIT:
                return state or "UNKNOWN", body
            budget.pause(min(polls, 5) * step)
            polls += 1

    # ---- one request ---------------------------------------------------------------------------

    def _txn_call(
        self,
        op: str,
        db: str,
        table: str | None,
        label: str,
        headers: Mapping[str, str],
        body: bytes = b"",
    ) -> Outcome:
        sent = {k: v for k, v in headers.items() if k not in _OWN_HEADERS | _TXN_IDS}
        sent.update({"label": label, "db": db})
        if table is not None:
            sent["table"] = table
        method = "PUT" if op == "load" else "POST"
        return self._call(method, f"/api/transaction/{op}", sent, body, lambda s, b: classify_txn(op, s, b))

    def _call(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        classify: Callable[[int, bytes], Outcome],
    ) -> Outcome:
        """One request (FE failover, redirects followed); a connection failure is a retriable Outcome."""
        try:
            response = self._send(method, path, headers, body)
        except TransportError as exc:
            return Outcome(
                Verdict.RETRY, "connection", str(exc), "check that StarRocks is up and reachable from here"
            )
        return classify(response.status, response.body)

    def _send(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Send to the current FE; when it cannot be reached, to the next one, and remember who answered.

        A failure after the FE accepted the connection (a reset, a timeout, a BE that cannot be reached)
        is raised: the caller retries later, starting with the next FE if the FE itself failed.
        """
        sent = {**headers, "Authorization": self._authorization}
        with self._lock:
            start = self._current
        error: TransportError | None = None
        for i in range(len(self._fes)):
            index = (start + i) % len(self._fes)
            try:
                response = transport.request(
                    method, self._fes[index] + path, sent, body, timeouts=self.timeouts
                )
            except TransportError as exc:
                if exc.hop != 0:
                    raise
                error = exc
                with self._lock:
                    self._current = (index + 1) % len(self._fes)
                if exc.connected:
                    raise
                if len(self._fes) > 1:
                    self._log.warning(
                        "StarRocks FE %s is unreachable (%s); trying the next one", self._fes[index], exc
                    )
                continue
            with self._lock:
                self._current = index
            return response
        assert error is not None
        if len(self._fes) == 1:
            raise error
        raise TransportError(
            f"cannot connect to any FE of load-url ({', '.join(self._fes)}); last error: {error}",
            url=error.url,
            hop=0,
            connected=False,
        ) from error

    # ---- failures ------------------------------------------------------------------------------

    def _budget(self) -> Budget:
        return Budget(self.retry, self._sleep, self._rng)

    def _back_off(
        self, budget: Budget, what: str, db: str, table: str, label: str, attempts: int, outcome: Outcome
    ) -> None:
        """Log the failure and pause before the next attempt, or raise TransientError when out of time."""
        delay = budget.next_delay()
        if delay is None:
            raise TransientError(
                f"StarRocks {what} into {db}.{table} (label {label}) kept failing for "
                f"{budget.elapsed:.1f} s over {attempts} attempt(s); last answer {outcome.status}: "
                f"{_short(outcome.message)}. {_sentence(outcome.advice)}. Retrying later reuses the label, "
                f"so StarRocks cannot apply the data twice",
                table=f"{db}.{table}",
                label=label,
                status=outcome.status,
                attempts=attempts,
            )
        self._log.warning(
            "StarRocks %s into %s.%s (label %s) failed on attempt %d: %s: %s; %s; retrying in %.1f s",
            what,
            db,
            table,
            label,
            attempts,
            outcome.status,
            _short(outcome.message),
            outcome.advice,
            delay,
        )
        budget.pause(delay)

    def _terminal(self, what: str, db: str, table: str, label: str, outcome: Outcome) -> SinkError:
        parts = [
            f"StarRocks refused the {what} into {db}.{table} (label {label}): "
            f"{outcome.status}: {_short(outcome.message, 1000)}"
        ]
        if outcome.error_url:
            parts.append(f"ErrorURL: {outcome.error_url}")
            rejected = self._error_log(outcome.error_url)
            if rejected:
                parts.append("first lines of the error log:\n" + rejected)
        parts.append(f"What to do: {outcome.advice}")
        return SinkError(
            "\n".join(parts),
            table=f"{db}.{table}",
            label=label,
            status=outcome.status,
            error_url=outcome.error_url,
            response=outcome.body,
        )

    def _error_log(self, url: str, lines: int = 10) -> str:
        """The first lines of a load's error log, or '' when it cannot be fetched."""
        quick = Timeouts(min(self.timeouts.connect, 5.0), 5.0, 1.0)
        try:
            response = transport.request("GET", url, {}, b"", timeouts=quick, max_redirects=1)
        except (TransportError, ValueError):
            return ""
        if response.status != 200:
            return ""
        text = response.body.decode("utf-8", "replace").splitlines()[:lines]
        return "\n".join(_short(line, 500) for line in text)


def _data_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers with lower-case names and this client's own headers removed."""
    return {k.lower(): str(v) for k, v in headers.items() if k.lower() not in _OWN_HEADERS}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _seg(name: str) -> str:
    return quote(name, safe="")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and int(value) >= 0 else None
    except (TypeError, ValueError):
        return None


def _relabel(outcome: Outcome, label: str, state: str) -> Outcome:
    """A retriable Outcome that says what the label's state means for the next attempt."""
    if state in ("ABORTED", "UNKNOWN", ""):
        advice = f"label {label} is {state or 'UNKNOWN'}, so it is loaded again under the same label"
    else:
        advice = f"label {label} is still {state}: an earlier attempt's transaction has not finished"
    return Outcome(Verdict.RETRY, outcome.status, outcome.message, advice, outcome.error_url, outcome.body)


def _result(
    label: str,
    status: str,
    body: Mapping[str, Any],
    attempts: int,
    *,
    already: bool,
    status_body: Mapping[str, Any] | None = None,
) -> LoadResult:
    def count(name: str) -> int:
        return 0 if already else int(get(dict(body), name, 0) or 0)

    txn = _int_or_none(get(dict(body), "TxnId")) or _int_or_none(get(dict(status_body or {}), "TxnId"))
    response = dict(body) if not status_body else {**dict(status_body), "load_state": dict(body)}
    return LoadResult(
        label=label,
        status=status,
        txn_id=txn,
        loaded_rows=count("NumberLoadedRows"),
        filtered_rows=count("NumberFilteredRows"),
        load_bytes=count("LoadBytes"),
        attempts=attempts,
        already_loaded=already,
        response=response,
    )
