"""What a StarRocks load answer means: done, already done, ask again later, or give up.

Pure functions over the HTTP status and the JSON body, so every rule is testable without a server.
The rules follow the StarRocks Stream Load docs (``docs/en/loading/StreamLoad.md``,
``docs/en/sql-reference/sql-statements/loading_unloading/STREAM_LOAD.md``) and the Transaction Stream
Load docs (``docs/en/loading/Stream_Load_transaction_interface.md``), and the retry rules of the
official stream-load SDK (``ErrorUtils.isRetryable``), with the differences said below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    LOADED = "loaded"  # this request made the data (or will make it) visible
    ALREADY_LOADED = "already_loaded"  # the label was committed before: nothing was applied again
    LABEL_IN_USE = "label_in_use"  # the label is taken by a job whose fate is unknown: ask get_load_state
    RETRY = "retry"  # retrying the same label later may succeed
    FAIL = "fail"  # retrying cannot help until a person changes something


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    status: str  # StarRocks' Status ('' when the answer had none), or 'HTTP <code>'
    message: str  # StarRocks' Message, or a description of the HTTP-level problem
    advice: str  # why it is retried, or what a person should do
    error_url: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


# Label states answered by GET /api/{db}/get_load_state (TransactionStatus names).
COMMITTED_STATES = frozenset({"COMMITTED", "VISIBLE"})
PENDING_STATES = frozenset({"PREPARE", "PREPARED", "UNKNOWN", "RECOMMITTING"})

# Message fragments (matched case-insensitively) that no retry can fix, with what to do about them.
# The SDK's list (too many filtered rows, primary key size, partial update, Access denied) plus the
# request errors of stream_load.cpp / LoadAction / Load.initColumns that come from the request itself.
_TERMINAL: tuple[tuple[str, str], ...] = (
    (
        "too many filtered rows",
        "StarRocks rejected rows as invalid for the target table: read the rejected rows at the "
        "ErrorURL, then fix the table definition or the data (or raise sink.properties.max_filter_ratio "
        "if dropping rows is acceptable)",
    ),
    (
        "primary key size exceed the limit",
        "a row's encoded primary key is longer than 128 bytes: shorten the key values or change the key",
    ),
    (
        "only primary key table support partial update",
        "the target is not a Primary Key table: recreate it with PRIMARY KEY or drop "
        "sink.properties.partial_update",
    ),
    (
        "access denied",
        "check the sink username/password and that the user has the INSERT privilege on the table",
    ),
    (
        "no valid basic authorization",
        "check the sink username/password (the BE refused the Authorization header)",
    ),
    (
        "column has no default value",
        "the target table has a NOT NULL column without a default that the load does not supply: "
        "give it a default, make it nullable, or let the pipeline create the table",
    ),
    (
        "mapping column is not in table",
        "the load sends a column the target table lacks: add the column or let the pipeline evolve the schema",
    ),
    ("unknown data format", "fix sink.properties.format (csv or json)"),
    ("invalid partial update flag", "sink.properties.partial_update must be true or false"),
    ("invalid timeout", "sink.properties.timeout must be a whole number of seconds from 1 to 259200"),
    ("load request not equal last", "every load of a transaction must send the same data headers"),
    ("load op type string not supported", "the columns header maps __op to an unknown operation"),
    (
        "only one of http header content-encoding and compression",
        "set only one of sink.properties.compression and Content-Encoding",
    ),
    (
        "body size",  # body size N exceed limit: M (BE streaming_load_max_mb)
        "the batch is larger than the BE accepts: lower sink.buffer-flush.max-bytes or raise the BE's "
        "streaming_load_max_mb",
    ),
    (
        "exceed the max size",  # JSON batch over streaming_load_max_batch_size_mb without ignore_json_size
        "send sink.properties.ignore_json_size=true or lower sink.buffer-flush.max-bytes",
    ),
    (
        "there is no 100-continue header",
        "something between this host and the FE (a proxy?) drops the Expect header: load directly",
    ),
    ("unknown database", "create the database, or check the sink's table routing"),
    ("unknown table", "create the table, or check the sink's table routing"),
    (
        "not equal transaction database",
        "the label belongs to a transaction on another table: use a new label",
    ),
)

# Retriable failures that deserve a specific hint in the retry log line. Everything else that is
# not terminal is retried too (the SDK retries every other Fail / INTERNAL_ERROR).
_RETRY_HINTS: tuple[tuple[str, str], ...] = (
    (
        "too many versions",
        "the table gets more loads than compaction can merge: send fewer, larger batches "
        "(raise sink.buffer-flush.max-bytes / interval)",
    ),
    (
        "memory",
        "a StarRocks memory limit was hit (process, load or primary key index): if it persists, send "
        "smaller batches (sink.buffer-flush.max-bytes) or give the BEs more memory",
    ),
    (
        "current running txns on db",
        "too many loads run at once on the database (max_running_txn_num_per_db); StarRocks' docs say "
        "wait and retry",
    ),
    ("timeout by txn manager", "the transaction outlived its timeout (sink.properties.timeout)"),
    ("no backend alive", "no BE is alive: check the BEs"),
)

# Transaction API statuses (TStatusCode names) that are retried whatever the message says.
_RETRY_STATUSES = frozenset({"MEM_LIMIT_EXCEEDED", "TXN_IN_PROCESSING", "TXN_NOT_EXISTS", "ABORTED"})
# Statuses that mean the request itself is malformed.
_TERMINAL_STATUSES = frozenset({"INVALID_ARGUMENT", "NOT_IMPLEMENTED_ERROR"})


def parse_json(body: bytes) -> dict[str, Any] | None:
    """The JSON object in ``body``, or None when it is not one."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def get(body: dict[str, Any], name: str, default: Any = None) -> Any:
    """``body[name]`` matched case-insensitively (the FE answers ``status``, the BE ``Status``)."""
    if name in body:
        return body[name]
    lower = name.lower()
    for key, value in body.items():
        if key.lower() == lower:
            return value
    return default


def message_of(body: dict[str, Any]) -> str:
    """StarRocks' message: BE ``Message``, FE ``msg`` / ``message``."""
    for name in ("Message", "msg"):
        value = get(body, name)
        if value not in (None, "", "OK", "Success"):
            return str(value)
    return str(get(body, "Message", "") or "")


def classify_http(http_status: int, body: bytes) -> Outcome | None:
    """The verdict when the HTTP exchange itself already decides it; None when the JSON must be read."""
    parsed = parse_json(body) or {}
    if http_status == 401 or http_status == 403:
        return Outcome(
            Verdict.FAIL,
            f"HTTP {http_status}",
            message_of(parsed) or "Access denied",
            "check the sink username/password and that the user has the INSERT privilege on the table",
            body=parsed,
        )
    if http_status in (301, 302, 303, 307, 308):
        return Outcome(
            Verdict.FAIL,
            f"HTTP {http_status}",
            "the FE still answered with a redirect after the redirects were followed",
            "check that load-url names FE HTTP ports (http_port, 8030) and that the FEs are healthy: a slow "
            "or misconfigured FE keeps redirecting",
            body=parsed,
        )
    if http_status >= 500 or http_status in (408, 429):
        return Outcome(
            Verdict.RETRY,
            f"HTTP {http_status}",
            message_of(parsed) or body[:200].decode("utf-8", "replace"),
            "the server had a problem",
            body=parsed,
        )
    if http_status != 200:
        return Outcome(
            Verdict.FAIL,
            f"HTTP {http_status}",
            message_of(parsed) or body[:200].decode("utf-8", "replace"),
            "check that load-url names the FE HTTP port (http_port, 8030) of a StarRocks 2.4+ cluster",
            body=parsed,
        )
    if not parsed:
        return Outcome(
            Verdict.FAIL,
            "HTTP 200",
            f"the answer is not a JSON object: {body[:200].decode('utf-8', 'replace')!r}",
            "check that load-url names the FE HTTP port (http_port, 8030) of a StarRocks cluster",
        )
    return None


def classify_failure(status: str, message: str, body: dict[str, Any]) -> Outcome:
    """A failed load: terminal when the message says so, otherwise retried (with a hint if one fits)."""
    lower = message.lower()
    error_url = get(body, "ErrorURL") or None
    for fragment, advice in _TERMINAL:
        if fragment in lower:
            return Outcome(Verdict.FAIL, status, message, advice, error_url, body)
    if status.upper() in _TERMINAL_STATUSES:
        return Outcome(
            Verdict.FAIL, status, message, "fix the load's headers (sink.properties.*)", error_url, body
        )
    for fragment, advice in _RETRY_HINTS:
        if fragment in lower:
            return Outcome(Verdict.RETRY, status, message, advice, error_url, body)
    if status.upper() in _RETRY_STATUSES:
        return Outcome(Verdict.RETRY, status, message, "StarRocks asked to try again later", error_url, body)
    return Outcome(
        Verdict.RETRY, status, message, "StarRocks reported a failure that may pass", error_url, body
    )


def classify_stream_load(http_status: int, body: bytes) -> Outcome:
    """The verdict on one plain Stream Load answer (``PUT /api/{db}/{table}/_stream_load``)."""
    early = classify_http(http_status, body)
    if early is not None:
        return early
    parsed = parse_json(body) or {}
    status = str(get(parsed, "Status", "") or "")
    message = message_of(parsed)
    error_url = get(parsed, "ErrorURL") or None
    if status == "Success":
        return Outcome(Verdict.LOADED, status, message, "", error_url, parsed)
    if status == "Publish Timeout":
        # Committed; it becomes visible later. Reloading would be wrong (and is deduplicated anyway).
        return Outcome(Verdict.LOADED, status, message, "committed, visible later", error_url, parsed)
    if status == "Label Already Exists":
        if str(get(parsed, "ExistingJobStatus", "")).upper() == "FINISHED":
            return Outcome(Verdict.ALREADY_LOADED, status, message, "", error_url, parsed)
        return Outcome(
            Verdict.LABEL_IN_USE, status, message, "the label's job is still running", error_url, parsed
        )
    if "has already been used" in message.lower():
        # StarRocks 3.2.11+ may answer a reused label with a plain failure (StarRocks issue #57982).
        return Outcome(Verdict.LABEL_IN_USE, status, message, "the label was used before", error_url, parsed)
    return classify_failure(status or "Fail", message, parsed)


def classify_txn(op: str, http_status: int, body: bytes) -> Outcome:
    """The verdict on one Transaction Stream Load answer (``/api/transaction/{op}``).

    ``LOADED`` means the operation did what was asked. For ``commit`` that includes re-committing a
    committed transaction ("has already committed") and ``PUBLISH_TIMEOUT`` (committed, visible
    later); for ``rollback`` it includes "has already aborted". ``LABEL_IN_USE`` is ``begin`` with a
    label that is taken. Anything else is ``RETRY`` or ``FAIL`` as for plain Stream Load, with the
    transaction statuses ``MEM_LIMIT_EXCEEDED``, ``TXN_IN_PROCESSING``, ``TXN_NOT_EXISTS`` retried.
    """
    early = classify_http(http_status, body)
    if early is not None:
        return early
    parsed = parse_json(body) or {}
    status = str(get(parsed, "Status", "") or "")
    message = message_of(parsed)
    error_url = get(parsed, "ErrorURL") or None
    upper = status.upper()
    if upper in ("OK", "SUCCESS"):
        return Outcome(Verdict.LOADED, status, message, "", error_url, parsed)
    if op == "commit" and upper in ("PUBLISH_TIMEOUT", "PUBLISH TIMEOUT"):
        return Outcome(Verdict.LOADED, status, message, "committed, visible later", error_url, parsed)
    if upper == "LABEL_ALREADY_EXISTS" or "has already been used" in message.lower():
        return Outcome(Verdict.LABEL_IN_USE, status, message, "the label is taken", error_url, parsed)
    return classify_failure(status or "FAILED", message, parsed)
