"""The Stream Load client: answer classification (pure), the HTTP exchange against real TCP peers that
behave like a StarRocks FE/BE in one precise way each, and (further down) the whole client against the
StarRocks stand-in over real HTTP."""

from __future__ import annotations

import base64
import json
import logging
import queue
import random
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from cdc_assets.errors import SinkError, TransientError
from cdc_assets.starrocks.client import RetryPolicy, StreamLoadClient
from cdc_assets.starrocks.outcome import Verdict, classify_stream_load, classify_txn
from cdc_assets.starrocks.transport import base_url

PASSWORD = "s3cret-Pw"
FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01, multiplier=2.0, jitter=0.5, max_elapsed=5.0)


def _json(**fields: object) -> bytes:
    return json.dumps(fields).encode()


# ---- classification (pure) ---------------------------------------------------------------------

TOO_MANY_VERSIONS = (
    "Failed to load data into tablet 10086, because of too many versions, current/limit: 1001/1000. "
    "You can reduce the loading job concurrency, or increase loading data batch size."
)


@pytest.mark.parametrize(
    ("http_status", "body", "verdict"),
    [
        (200, _json(TxnId=3, Label="l", Status="Success", Message="OK", NumberLoadedRows=2), Verdict.LOADED),
        (
            200,
            _json(
                Status="Publish Timeout",
                Message="transaction commit successfully, BUT data will be visible later",
            ),
            Verdict.LOADED,
        ),
        (
            200,
            _json(
                Status="Label Already Exists",
                ExistingJobStatus="FINISHED",
                Message="Label [l] has already been used.",
            ),
            Verdict.ALREADY_LOADED,
        ),
        (
            200,
            _json(
                Status="Label Already Exists",
                ExistingJobStatus="RUNNING",
                Message="Label [l] has already been used.",
            ),
            Verdict.LABEL_IN_USE,
        ),
        (200, _json(Status="Fail", Message="Label [l] has already been used."), Verdict.LABEL_IN_USE),
        (200, _json(Status="Fail", Message=TOO_MANY_VERSIONS), Verdict.RETRY),
        (
            200,
            _json(Status="Fail", Message="Too many versions. tablet_id: 1, version_count: 1001, limit: 1000"),
            Verdict.RETRY,
        ),
        (
            200,
            _json(Status="Fail", Message="Memory of process exceed limit. QUERY Backend: x"),
            Verdict.RETRY,
        ),
        (
            200,
            _json(
                Status="Fail",
                Message="primary key memory usage exceeds the limit. tablet_id: 1, consumption: 9",
            ),
            Verdict.RETRY,
        ),
        (
            200,
            _json(Status="Fail", Message="current running txns on db 10 is 1000, larger than limit 1000"),
            Verdict.RETRY,
        ),
        (200, _json(Status="Fail", Message="timeout by txn manager"), Verdict.RETRY),
        (200, _json(Status="INTERNAL_ERROR", Message="rpc failed"), Verdict.RETRY),
        (200, _json(Status="Fail", Message="something unexpected"), Verdict.RETRY),
        (
            200,
            _json(Status="FAILED", Message="class com.starrocks.common.DdlException: No backend alive."),
            Verdict.RETRY,
        ),
        (
            200,
            _json(
                Status="Fail",
                Message="too many filtered rows",
                ErrorURL="http://be:8040/api/_load_error_log?file=x",
            ),
            Verdict.FAIL,
        ),
        (200, _json(Status="Fail", Message="primary key size exceed the limit."), Verdict.FAIL),
        (200, _json(Status="Fail", Message="Only primary key table support partial update"), Verdict.FAIL),
        (200, _json(Status="Fail", Message="Column has no default value. column: c"), Verdict.FAIL),
        (200, _json(Status="Fail", Message="Mapping column is not in table. column: zz"), Verdict.FAIL),
        (200, _json(Status="Fail", Message="unknown data format, format=xml"), Verdict.FAIL),
        (
            200,
            _json(Status="Fail", Message="Invalid partial update flag format. Must be bool type"),
            Verdict.FAIL,
        ),
        (200, _json(Status="Fail", Message="body size 200 exceed limit: 100"), Verdict.FAIL),
        (
            200,
            _json(status="FAILED", msg="Access denied; you need (at least one of) the INSERT privilege(s)"),
            Verdict.FAIL,
        ),
        (401, _json(status="FAILED", code="1", msg="Access denied for user 'root'"), Verdict.FAIL),
        (307, b"", Verdict.FAIL),
        (503, b"Service Unavailable", Verdict.RETRY),
        (404, b"not found", Verdict.FAIL),
        (200, b"<html>proxy</html>", Verdict.FAIL),
    ],
)
def test_stream_load_answers_are_classified(http_status: int, body: bytes, verdict: Verdict) -> None:
    outcome = classify_stream_load(http_status, body)
    assert outcome.verdict is verdict
    if verdict is Verdict.FAIL:
        assert outcome.advice  # every final failure says what to do


def test_final_failures_keep_the_error_url() -> None:
    url = "http://be:8040/api/_load_error_log?file=error_log_1"
    outcome = classify_stream_load(200, _json(Status="Fail", Message="too many filtered rows", ErrorURL=url))
    assert outcome.error_url == url
    assert "ErrorURL" in outcome.advice


@pytest.mark.parametrize(
    ("op", "body", "verdict"),
    [
        ("begin", _json(Status="OK", Message="", Label="l", TxnId=7, BeginTxnTimeMs=1), Verdict.LOADED),
        (
            "begin",
            _json(Status="LABEL_ALREADY_EXISTS", ExistingJobStatus="RUNNING", Message="x"),
            Verdict.LABEL_IN_USE,
        ),
        ("load", _json(Status="MEM_LIMIT_EXCEEDED", Message="Memory of process exceed limit"), Verdict.RETRY),
        ("load", _json(Status="TXN_IN_PROCESSING", Label="l", Message="txn in processing"), Verdict.RETRY),
        ("load", _json(Status="INVALID_ARGUMENT", Message="Invalid timeout format"), Verdict.FAIL),
        ("load", _json(Status="INVALID_ARGUMENT", Message="bad header"), Verdict.FAIL),
        (
            "prepare",
            _json(Status="TXN_NOT_EXISTS", Message="transaction with label l not exists"),
            Verdict.RETRY,
        ),
        ("prepare", _json(Status="INTERNAL_ERROR", Message="too many filtered rows"), Verdict.FAIL),
        (
            "commit",
            _json(Status="OK", Message="Transaction 7 has already committed, label is l"),
            Verdict.LOADED,
        ),
        ("commit", _json(Status="PUBLISH_TIMEOUT", Message="visible later"), Verdict.LOADED),
        (
            "commit",
            _json(Status="FAILED", Message="Can not commit ABORTED transaction 7, label is l"),
            Verdict.RETRY,
        ),
        (
            "rollback",
            _json(Status="OK", Message="Transaction 7 has already aborted, label is l"),
            Verdict.LOADED,
        ),
        (
            "load",
            _json(Status="FAILED", Message="Request database a not equal transaction database b"),
            Verdict.FAIL,
        ),
    ],
)
def test_transaction_answers_are_classified(op: str, body: bytes, verdict: Verdict) -> None:
    assert classify_txn(op, 200, body).verdict is verdict


def test_backoff_grows_caps_and_jitters() -> None:
    plain = RetryPolicy(initial_delay=1.0, max_delay=10.0, multiplier=2.0, jitter=0.0)
    rng = random.Random(1)
    assert [plain.delay(n, rng) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    jittery = RetryPolicy(initial_delay=1.0, max_delay=100.0, multiplier=3.0, jitter=0.5)
    delays = [jittery.delay(3, rng) for _ in range(200)]
    assert all(4.5 <= d <= 13.5 for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("fe1:8030", "http://fe1:8030"),
        ("http://fe1:8030/", "http://fe1:8030"),
        (" 127.0.0.1:18030 ", "http://127.0.0.1:18030"),
        ("[::1]:8030", "http://[::1]:8030"),
    ],
)
def test_load_urls_are_normalised(address: str, url: str) -> None:
    assert base_url(address) == url


@pytest.mark.parametrize("address", ["https://fe1:8030", "fe1:8030/api", "ftp://fe1", "fe1:port"])
def test_bad_load_urls_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="load URL"):
        base_url(address)


# ---- the HTTP exchange against real TCP peers --------------------------------------------------


@dataclass
class Seen:
    """What a peer received on one connection."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    extra: bytes = b""  # bytes that arrived after the peer answered without asking for the body
    notes: dict = field(default_factory=dict)


class Conn:
    def __init__(self, sock: socket.socket, seen: Seen, rest: bytes) -> None:
        self.sock = sock
        self.seen = seen
        self.rest = rest

    def read_body(self) -> bytes:
        size = int(self.seen.headers.get("content-length", "0"))
        data = self.rest
        while len(data) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        self.seen.body = data[:size]
        return self.seen.body

    def send_continue(self) -> None:
        self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def answer(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, reason: str = "X"
    ) -> None:
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def drain(self) -> None:
        """Read until the client closes: whatever arrives is a body sent although it was not asked for."""
        self.sock.settimeout(5)
        data = self.rest
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except OSError:
            pass
        self.seen.extra = data

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class Peer:
    """A real TCP server on 127.0.0.1; ``script(conn, n)`` handles the n-th connection (0-based)."""

    def __init__(self, script: Callable[[Conn, int], None]) -> None:
        self.script = script
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.seen: queue.Queue[Seen] = queue.Queue()
        self.count = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            n, self.count = self.count, self.count + 1
            threading.Thread(target=self._handle, args=(sock, n), daemon=True).start()

    def _handle(self, sock: socket.socket, n: int) -> None:
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                sock.close()
                return
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("utf-8").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        seen = Seen(method, target, headers)
        try:
            self.script(Conn(sock, seen, rest), n)
        finally:
            self.seen.put(seen)
            try:
                sock.close()
            except OSError:
                pass

    def next_seen(self) -> Seen:
        return self.seen.get(timeout=10)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def peers():
    made: list[Peer] = []

    def make(script: Callable[[Conn, int], None]) -> Peer:
        made.append(Peer(script))
        return made[-1]

    yield make
    for p in made:
        p.close()


def _client(*urls: str, **kw) -> StreamLoadClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("connect_timeout", 2.0)
    kw.setdefault("socket_timeout", 5.0)
    return StreamLoadClient(list(urls), "loader", PASSWORD, **kw)


AUTH = "Basic " + base64.b64encode(f"loader:{PASSWORD}".encode()).decode()
SUCCESS = _json(TxnId=11, Label="lbl", Status="Success", Message="OK", NumberLoadedRows=2, LoadBytes=9)


def _be(conn: Conn, n: int) -> None:
    """A BE: Basic auth required, body only after 100 Continue, then a Success answer."""
    if conn.seen.headers.get("authorization") != AUTH:
        conn.answer(200, _json(Status="Fail", Message="no valid Basic authorization"))
        return
    if conn.seen.headers.get("expect", "").lower() != "100-continue":
        conn.answer(200, _json(Status="Fail", Message="There is no 100-continue header"))
        return
    conn.send_continue()
    conn.read_body()
    conn.answer(200, SUCCESS)


def test_redirect_is_followed_with_auth_and_body_only_sent_to_the_be(peers) -> None:
    be = peers(_be)

    def fe(conn: Conn, n: int) -> None:
        location = f"http://127.0.0.1:{be.port}{conn.seen.target}"
        conn.answer(307, headers={"Location": location})
        conn.drain()

    front = peers(fe)
    body = b'[{"id":1,"__op":0},{"id":2,"__op":0}]'
    result = _client(front.url).stream_load("d b", "t", body, label="lbl", headers={"format": "json"})
    assert (result.status, result.loaded_rows, result.txn_id, result.already_loaded) == (
        "Success",
        2,
        11,
        False,
    )
    at_fe, at_be = front.next_seen(), be.next_seen()
    assert at_fe.method == at_be.method == "PUT"
    assert at_fe.target == at_be.target == "/api/d%20b/t/_stream_load"
    assert at_fe.extra == b""  # the FE answered before asking for the body: none was sent
    assert at_fe.headers["expect"] == "100-continue"
    assert at_fe.headers["content-length"] == str(len(body))
    assert at_be.body == body
    assert at_be.headers["authorization"] == AUTH
    assert (at_be.headers["label"], at_be.headers["format"]) == ("lbl", "json")


def test_body_is_sent_when_100_continue_never_comes(peers) -> None:
    def silent_be(conn: Conn, n: int) -> None:
        conn.read_body()  # never says 100 Continue
        conn.answer(200, SUCCESS)

    be = peers(silent_be)
    client = _client(be.url, wait_for_continue_timeout=0.2)
    assert client.stream_load("d", "t", b"1,2\n", label="lbl", headers={}).status == "Success"
    assert be.next_seen().body == b"1,2\n"


def test_401_is_final_and_the_password_is_never_shown(peers, caplog) -> None:
    def fe(conn: Conn, n: int) -> None:
        conn.answer(
            401,
            _json(status="FAILED", code="1", msg="Access denied for user 'loader'", message="Access denied"),
            headers={"WWW-Authenticate": 'Basic realm=""'},
        )
        conn.drain()

    front = peers(fe)
    client = _client(front.url)
    with caplog.at_level(logging.DEBUG), pytest.raises(SinkError) as err:
        client.stream_load("db", "tbl", b"x" * 1000, label="lbl", headers={})
    text = str(err.value)
    assert "db.tbl" in text and "lbl" in text and "Access denied" in text and "password" in text
    assert front.next_seen().extra == b""
    assert front.count == 1
    for shown in (text, repr(client), caplog.text, repr(err.value.context)):
        assert PASSWORD not in shown
        assert AUTH.split()[1] not in shown


def test_unreachable_fe_fails_over_and_the_working_one_is_remembered(peers) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    dead = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    be = peers(_be)
    client = _client(dead, be.url)
    assert client.stream_load("d", "t", b"a", label="l1", headers={}).status == "Success"
    assert client.current_fe == f"http://{be.url}"
    assert client.stream_load("d", "t", b"b", label="l2", headers={}).attempts == 1
    assert be.count == 2


def test_a_reset_connection_is_retried_with_the_same_label(peers, caplog) -> None:
    def flaky(conn: Conn, n: int) -> None:
        if n == 0:
            conn.reset()
            return
        _be(conn, n)

    be = peers(flaky)
    with caplog.at_level(logging.WARNING, logger="cdc_assets.starrocks.client"):
        result = _client(be.url).stream_load("d", "t", b"a", label="same", headers={})
    assert result.attempts == 2
    first, second = be.next_seen(), be.next_seen()
    assert first.headers["label"] == second.headers["label"] == "same"
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 1 and "same" in retries[0].getMessage()


def test_a_timeout_is_retried(peers) -> None:
    release = threading.Event()

    def slow_then_fine(conn: Conn, n: int) -> None:
        if n == 0:
            conn.send_continue()
            conn.read_body()
            release.wait(5)  # never answers in time
            return
        _be(conn, n)

    be = peers(slow_then_fine)
    try:
        result = _client(be.url, socket_timeout=0.3).stream_load("d", "t", b"a", label="l", headers={})
    finally:
        release.set()
    assert (result.status, result.attempts) == ("Success", 2)


def test_5xx_is_retried_until_the_budget_is_spent(peers) -> None:
    def broken(conn: Conn, n: int) -> None:
        conn.answer(503, b"busy", reason="Service Unavailable")

    fe = peers(broken)
    slept: list[float] = []
    policy = RetryPolicy(initial_delay=0.01, max_delay=0.02, jitter=0.0, max_elapsed=0.1)
    client = _client(fe.url, retry=policy, sleep=slept.append)
    with pytest.raises(TransientError, match="kept failing") as err:
        client.stream_load("d", "t", b"a", label="l", headers={})
    assert err.value.context["attempts"] == fe.count >= 4
    assert sum(slept) == pytest.approx(0.1)


def test_a_redirect_loop_is_final(peers) -> None:
    def loop(conn: Conn, n: int) -> None:
        conn.answer(307, headers={"Location": conn.seen.target})

    fe = peers(loop)
    with pytest.raises(SinkError, match="redirect"):
        _client(fe.url).stream_load("d", "t", b"a", label="l", headers={})
    assert fe.count == 4  # the first request and three redirects


def test_a_non_json_answer_is_final(peers) -> None:
    fe = peers(lambda conn, n: conn.answer(200, b"<html>a proxy</html>"))
    with pytest.raises(SinkError, match="not a JSON object"):
        _client(fe.url).stream_load("d", "t", b"", label="l", headers={})


def test_chunked_and_close_delimited_answers_are_read(peers) -> None:
    def chunked(conn: Conn, n: int) -> None:
        conn.send_continue()
        conn.read_body()
        half = len(SUCCESS) // 2
        pieces = [SUCCESS[:half], SUCCESS[half:]]
        data = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        conn.sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + data)

    def close_delimited(conn: Conn, n: int) -> None:
        conn.send_continue()
        conn.read_body()
        conn.sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + SUCCESS)

    for script in (chunked, close_delimited):
        assert _client(peers(script).url).stream_load("d", "t", b"a", label="l", headers={}).loaded_rows == 2


def test_final_failure_fetches_the_error_log(peers) -> None:
    def be_with_log(conn: Conn, n: int) -> None:
        if conn.seen.target.startswith("/api/_load_error_log"):
            conn.answer(200, b"Error: Value count does not match column count. Row: 1,2,3\nline two\n")
            return
        conn.send_continue()
        conn.read_body()
        url = f"http://127.0.0.1:{conn.sock.getsockname()[1]}/api/_load_error_log?file=e1"
        conn.answer(200, _json(Status="Fail", Message="too many filtered rows", ErrorURL=url))

    be = peers(be_with_log)
    with pytest.raises(SinkError) as err:
        _client(be.url).stream_load("d", "t", b"1,2,3\n", label="l9", headers={"format": "csv"})
    text = str(err.value)
    assert "d.t" in text and "l9" in text and "too many filtered rows" in text
    assert "/api/_load_error_log?file=e1" in text and "Value count does not match" in text
    assert err.value.context["error_url"].endswith("file=e1")


def _txn_server(answers: dict[str, list[bytes]], states: list[str]):
    """A transaction endpoint whose answers per operation (and label states) are given in order; the last
    one repeats. Records the operations in order."""
    ops: list[str] = []

    def script(conn: Conn, n: int) -> None:
        target = conn.seen.target
        if "get_load_state" in target:
            ops.append("state")
            state = states.pop(0) if len(states) > 1 else states[0]
            conn.answer(200, _json(status="OK", code="0", msg="Success", message="OK", state=state))
            return
        op = target.rsplit("/", 1)[1]
        ops.append(op)
        if conn.seen.headers.get("expect"):
            conn.send_continue()
            conn.read_body()
        queue_ = answers[op]
        conn.answer(200, queue_.pop(0) if len(queue_) > 1 else queue_[0])

    return script, ops


OK_BEGIN = _json(Status="OK", Message="", Label="tl", TxnId=21, BeginTxnTimeMs=1)
OK_LOAD = _json(Status="OK", Message="", Label="tl", TxnId=21, LoadBytes=5)
OK_PREPARE = _json(
    Status="OK", Message="", Label="tl", TxnId=21, NumberLoadedRows=3, NumberFilteredRows=0, LoadBytes=10
)
OK_COMMIT = _json(Status="OK", Message="", Label="tl", TxnId=21)
OK_ROLLBACK = _json(Status="OK", Message="")


def test_prepare_txn_not_exists_polls_until_prepared(peers) -> None:
    script, ops = _txn_server(
        {
            "begin": [OK_BEGIN],
            "load": [OK_LOAD],
            "prepare": [_json(Status="TXN_NOT_EXISTS", Message="transaction with label tl not exists")],
            "commit": [OK_COMMIT],
            "rollback": [OK_ROLLBACK],
        },
        ["PREPARE", "PREPARE", "PREPARED"],
    )
    fe = peers(script)
    result = _client(fe.url).transaction_load("d", "t", [b"a", b"b"], label="tl", headers={"timeout": "60"})
    assert ops == ["begin", "load", "load", "prepare", "state", "state", "state", "commit"]
    assert (result.status, result.txn_id, result.attempts, result.already_loaded) == ("OK", 21, 1, False)


def test_a_refused_commit_that_did_commit_is_success(peers) -> None:
    script, ops = _txn_server(
        {
            "begin": [OK_BEGIN],
            "load": [OK_LOAD],
            "prepare": [OK_PREPARE],
            "commit": [_json(Status="FAILED", Message="has no backend")],
            "rollback": [OK_ROLLBACK],
        },
        ["VISIBLE"],
    )
    result = _client(peers(script).url).transaction_load("d", "t", [b"a"], label="tl", headers={})
    assert ops == ["begin", "load", "prepare", "commit", "state"]
    assert (result.status, result.loaded_rows, result.already_loaded) == ("VISIBLE", 3, False)


def test_a_refused_commit_of_a_prepared_transaction_is_committed_again(peers) -> None:
    script, ops = _txn_server(
        {
            "begin": [OK_BEGIN],
            "load": [OK_LOAD],
            "prepare": [OK_PREPARE],
            "commit": [_json(Status="FAILED", Message="get database write lock timeout"), OK_COMMIT],
            "rollback": [OK_ROLLBACK],
        },
        ["PREPARED"],
    )
    result = _client(peers(script).url).transaction_load("d", "t", [b"a"], label="tl", headers={})
    assert ops == ["begin", "load", "prepare", "commit", "state", "commit"]
    assert (result.status, result.loaded_rows) == ("OK", 3)


def test_transaction_headers_go_where_the_docs_say(peers) -> None:
    script, ops = _txn_server(
        {"begin": [OK_BEGIN], "load": [OK_LOAD], "prepare": [OK_PREPARE], "commit": [OK_COMMIT]}, ["VISIBLE"]
    )
    fe = peers(script)
    headers = {"Format": "json", "strip_outer_array": "true", "timeout": "90", "prepared_timeout": "300"}
    _client(fe.url).transaction_load("d", "t", [b"[]", b"[]"], label="tl", headers=headers)
    seen = {}
    for _ in ops:
        s = fe.next_seen()
        seen.setdefault(s.target.rsplit("/", 1)[1], []).append(s)
    for op, requests in seen.items():
        for s in requests:
            assert (s.headers["label"], s.headers["db"], s.headers["table"]) == ("tl", "d", "t"), op
            assert s.headers["authorization"] == AUTH
            assert s.method == ("PUT" if op == "load" else "POST")
            assert s.headers["content-length"] == str(len(s.body))
            assert ("timeout" in s.headers) == (op == "begin")
            assert ("prepared_timeout" in s.headers) == (op == "prepare")
            assert ("format" in s.headers) == (op == "load")
    assert seen["begin"][0].headers["timeout"] == "90"
    assert [s.headers["format"] for s in seen["load"]] == ["json", "json"]


# ---- the whole client against the StarRocks stand-in --------------------------------------------

SR_PASSWORD = "sr-Pw-9"
JSON_HEADERS = {"format": "json", "strip_outer_array": "true", "ignore_json_size": "true"}


@pytest.fixture(scope="module")
def standin():
    from cdc_assets.standin import StandIn

    with StandIn(password=SR_PASSWORD) as sr:
        yield sr


@pytest.fixture
def sr(standin):
    standin.faults.clear()
    yield standin
    standin.faults.clear()


def _sql(sr, statement: str, params: tuple = ()) -> list[tuple]:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=sr.query_port, user="root", password=SR_PASSWORD)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params or None)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def table(sr) -> str:
    """A fresh Primary Key table ``cl.<name>`` (id BIGINT key, v VARCHAR)."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:10]}"
    _sql(sr, "CREATE DATABASE IF NOT EXISTS cl")
    _sql(
        sr,
        f"CREATE TABLE cl.{name} (id BIGINT NOT NULL, v VARCHAR(40) NULL) PRIMARY KEY(id) "
        'DISTRIBUTED BY HASH(id) PROPERTIES ("replication_num" = "1")',
    )
    return name


def _rows(sr, table: str) -> list[tuple]:
    return [tuple(r) for r in _sql(sr, f"SELECT id, v FROM cl.{table} ORDER BY id")]


def _body(*rows: tuple[int, str]) -> bytes:
    return json.dumps([{"id": i, "v": v, "__op": 0} for i, v in rows]).encode()


def _sr_client(sr, **kw) -> StreamLoadClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("connect_timeout", 2.0)
    kw.setdefault("socket_timeout", 10.0)
    urls = kw.pop("urls", [sr.load_url])
    return StreamLoadClient(urls, kw.pop("user", "root"), kw.pop("password", SR_PASSWORD), **kw)


def test_standin_stream_load_follows_the_redirect_and_dedups_the_label(sr, table) -> None:
    client = _sr_client(sr)
    first = client.stream_load(
        "cl", table, _body((1, "a"), (2, "b")), label=f"{table}_1", headers=JSON_HEADERS
    )
    assert (first.status, first.loaded_rows, first.already_loaded, first.attempts) == ("Success", 2, False, 1)
    again = client.stream_load("cl", table, _body((1, "CHANGED")), label=f"{table}_1", headers=JSON_HEADERS)
    assert (again.status, again.already_loaded, again.loaded_rows) == ("Label Already Exists", True, 0)
    assert _rows(sr, table) == [(1, "a"), (2, "b")]
    assert client.get_load_state("cl", f"{table}_1") == "VISIBLE"
    assert client.get_load_state("cl", "never_used") == "UNKNOWN"


def test_standin_wrong_password_is_final(sr, table) -> None:
    client = _sr_client(sr, password="wrong-pw-123")
    with pytest.raises(SinkError, match="Access denied") as err:
        client.stream_load("cl", table, _body((1, "a")), label=f"{table}_x", headers=JSON_HEADERS)
    assert "wrong-pw-123" not in str(err.value) and "wrong-pw-123" not in repr(err.value.context)


def test_standin_failover_from_a_dead_fe(sr, table) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    dead = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    client = _sr_client(sr, urls=[dead, f"http://{sr.load_url}"])
    assert (
        client.stream_load("cl", table, _body((1, "a")), label=f"{table}_1", headers=JSON_HEADERS).attempts
        == 1
    )
    assert client.current_fe == f"http://{sr.load_url}"
    assert _rows(sr, table) == [(1, "a")]


@pytest.mark.parametrize(
    ("kind", "times"),
    [
        ("mem_limit_exceeded", 2),
        ("too_many_versions", 2),
        ("connection_reset", 1),
        ("running_txns_limit", 2),
    ],
)
def test_standin_retriable_faults_are_retried_with_the_same_label(sr, table, kind, times, caplog) -> None:
    sr.faults.inject(kind, times=times, table=table)
    with caplog.at_level(logging.WARNING, logger="cdc_assets.starrocks.client"):
        result = _sr_client(sr).stream_load(
            "cl", table, _body((1, "a")), label=f"{table}_1", headers=JSON_HEADERS
        )
    assert (result.status, result.attempts, result.already_loaded) == ("Success", times + 1, False)
    assert _rows(sr, table) == [(1, "a")]
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == times
    assert all(f"{table}_1" in line and SR_PASSWORD not in line for line in retries)


def test_standin_retries_give_up_after_the_budget(sr, table) -> None:
    sr.faults.inject("mem_limit_exceeded", times=-1, table=table)
    policy = RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=0.0, max_elapsed=0.3)
    with pytest.raises(TransientError, match="memory") as err:
        _sr_client(sr, retry=policy).stream_load(
            "cl", table, _body((1, "a")), label=f"{table}_1", headers=JSON_HEADERS
        )
    assert err.value.context["attempts"] > 1
    assert _rows(sr, table) == []


def test_standin_publish_timeout_is_success_and_never_reloaded(sr, table) -> None:
    sr.faults.inject("publish_timeout", seconds=30, table=table)
    client = _sr_client(sr)
    result = client.stream_load("cl", table, _body((1, "a")), label=f"{table}_1", headers=JSON_HEADERS)
    assert (result.status, result.attempts, result.already_loaded) == ("Publish Timeout", 1, False)
    assert client.get_load_state("cl", f"{table}_1") == "COMMITTED"
    again = client.stream_load("cl", table, _body((1, "b")), label=f"{table}_1", headers=JSON_HEADERS)
    assert again.already_loaded
    assert _rows(sr, table) == [(1, "a")]


def test_standin_slow_answer_times_out_and_the_retry_is_deduplicated(sr, table) -> None:
    sr.faults.inject("slow", seconds=1.5, table=table)
    client = _sr_client(sr, socket_timeout=0.5)
    result = client.stream_load("cl", table, _body((1, "a")), label=f"{table}_1", headers=JSON_HEADERS)
    assert result.attempts >= 2
    assert _rows(sr, table) == [(1, "a")]


def test_standin_reused_label_with_the_new_wording_is_already_loaded(sr, table) -> None:
    client = _sr_client(sr)
    client.stream_load("cl", table, _body((1, "a")), label=f"{table}_1", headers=JSON_HEADERS)
    sr.faults.inject("label_already_used_message", table=table)
    again = client.stream_load("cl", table, _body((1, "b")), label=f"{table}_1", headers=JSON_HEADERS)
    assert (again.already_loaded, again.status) == (True, "VISIBLE")
    assert _rows(sr, table) == [(1, "a")]


def test_standin_aborted_label_is_loaded_again(sr, table) -> None:
    client = _sr_client(sr)
    label = f"{table}_1"
    assert client.begin("cl", table, label)["Status"] == "OK"
    assert client.rollback("cl", table, label)["Status"] == "OK"
    assert client.get_load_state("cl", label) == "ABORTED"
    result = client.stream_load("cl", table, _body((1, "a")), label=label, headers=JSON_HEADERS)
    assert (result.status, result.already_loaded) == ("Success", False)
    assert _rows(sr, table) == [(1, "a")]


def test_standin_rejected_rows_are_final_and_show_the_error_log(sr, table) -> None:
    with pytest.raises(SinkError) as err:
        _sr_client(sr).stream_load(
            "cl", table, b'[{"id":"x","v":"a"}]', label=f"{table}_1", headers=JSON_HEADERS
        )
    text = str(err.value)
    assert f"cl.{table}" in text and f"{table}_1" in text and "too many filtered rows" in text
    assert "/api/_load_error_log?file=" in text and "Row:" in text  # the log's first lines are quoted
    assert "What to do" in text


@pytest.mark.parametrize(
    ("headers", "body", "needle"),
    [
        ({**JSON_HEADERS, "partial_update": "maybe"}, _body((1, "a")), "partial update flag"),
        ({"format": "xml"}, b"<a/>", "unknown data format"),
        ({"format": "csv", "columns": "id,tmp,zz=tmp", "column_separator": ","}, b"1,2\n", "not in table"),
    ],
)
def test_standin_bad_requests_are_final(sr, table, headers, body, needle) -> None:
    with pytest.raises(SinkError, match=needle):
        _sr_client(sr).stream_load("cl", table, body, label=f"{table}_1", headers=headers)


def test_standin_missing_table_is_final(sr) -> None:
    with pytest.raises(SinkError, match="unknown table"):
        _sr_client(sr).stream_load("cl", "no_such_table", b"[]", label="missing_1", headers=JSON_HEADERS)


# transactions


def test_standin_transaction_load_and_its_label_dedup(sr, table) -> None:
    client = _sr_client(sr)
    label = f"{table}_t"
    result = client.transaction_load(
        "cl", table, [_body((1, "a")), _body((2, "b"), (3, "c"))], label=label, headers=JSON_HEADERS
    )
    assert (result.status, result.loaded_rows, result.already_loaded, result.attempts) == ("OK", 3, False, 1)
    assert result.txn_id is not None and result.load_bytes > 0
    again = client.transaction_load("cl", table, [_body((1, "CHANGED"))], label=label, headers=JSON_HEADERS)
    assert (again.already_loaded, again.status) == (True, "VISIBLE")
    assert _rows(sr, table) == [(1, "a"), (2, "b"), (3, "c")]
    recommit = client.commit("cl", table, label)
    assert recommit["Status"] == "OK" and "has already committed" in recommit["Message"]


@pytest.mark.parametrize(
    ("kind", "times"),
    [
        ("mem_limit_exceeded", 1),
        ("too_many_versions", 2),
        ("running_txns_limit", 2),
        ("connection_reset", 1),
    ],
)
def test_standin_transaction_faults_redo_the_transaction(sr, table, kind, times) -> None:
    sr.faults.inject(kind, times=times, table=table)
    client = _sr_client(sr)
    result = client.transaction_load(
        "cl", table, [_body((1, "a")), _body((2, "b"))], label=f"{table}_t", headers=JSON_HEADERS
    )
    assert (result.status, result.already_loaded) == ("OK", False)
    assert result.attempts == times + 1
    assert _rows(sr, table) == [(1, "a"), (2, "b")]


def test_standin_transaction_publish_timeout_is_success(sr, table) -> None:
    sr.faults.inject("publish_timeout", seconds=30, table=table)
    client = _sr_client(sr)
    result = client.transaction_load("cl", table, [_body((1, "a"))], label=f"{table}_t", headers=JSON_HEADERS)
    assert result.attempts == 1 and not result.already_loaded
    assert client.get_load_state("cl", f"{table}_t") == "COMMITTED"
    assert _rows(sr, table) == [(1, "a")]


@pytest.mark.parametrize("left_in", ["PREPARE", "PREPARED"])
def test_standin_transaction_left_open_is_rolled_back_and_redone(sr, table, left_in) -> None:
    client = _sr_client(sr)
    label = f"{table}_t"
    assert client.begin("cl", table, label, headers={"timeout": "600"})["Status"] == "OK"
    assert client.load("cl", table, label, _body((1, "partial")), headers=JSON_HEADERS)["Status"] == "OK"
    if left_in == "PREPARED":
        assert client.prepare("cl", table, label)["Status"] == "OK"
    assert client.get_load_state("cl", label) == left_in
    result = client.transaction_load(
        "cl", table, [_body((1, "whole")), _body((2, "whole"))], label=label, headers=JSON_HEADERS
    )
    assert (result.already_loaded, result.attempts) == (False, 2)
    assert _rows(sr, table) == [(1, "whole"), (2, "whole")]
    assert client.get_load_state("cl", label) == "VISIBLE"


def test_standin_bad_rows_in_a_transaction_are_final_and_rolled_back(sr, table) -> None:
    client = _sr_client(sr)
    with pytest.raises(SinkError, match="too many filtered rows"):
        client.transaction_load(
            "cl", table, [b'[{"id":"x","v":"a"}]'], label=f"{table}_t", headers=JSON_HEADERS
        )
    assert client.get_load_state("cl", f"{table}_t") == "ABORTED"


def test_standin_lingering_transactions_are_resolved(sr, table) -> None:
    client = _sr_client(sr)

    def leave(label: str, rows: tuple[tuple[int, str], ...], *, prepare: bool) -> None:
        assert client.begin("cl", table, label)["Status"] == "OK"
        assert client.load("cl", table, label, _body(*rows), headers=JSON_HEADERS)["Status"] == "OK"
        if prepare:
            assert client.prepare("cl", table, label)["Status"] == "OK"

    a, b, c, d = (f"{table}_{x}" for x in "abcd")
    leave(a, ((1, "a"),), prepare=True)
    leave(b, ((2, "b"),), prepare=True)
    leave(c, ((3, "c"),), prepare=False)
    client.transaction_load("cl", table, [_body((4, "d"))], label=d, headers=JSON_HEADERS)
    done = client.resolve_lingering("cl", [a, c, d, f"{table}_never"], commit=True)
    assert done == {a: "committed", c: "rolled_back", d: "already_committed", f"{table}_never": "not_found"}
    assert client.resolve_lingering("cl", [b], commit=False) == {b: "rolled_back"}
    assert client.resolve_lingering("cl", [b, c], commit=True) == {b: "already_aborted", c: "already_aborted"}
    assert _rows(sr, table) == [(1, "a"), (4, "d")]


def test_semicolon_separated_load_urls_and_all_fes_down() -> None:
    ports = []
    for _ in range(2):
        s = socket.create_server(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    client = _client(f"127.0.0.1:{ports[0]};http://127.0.0.1:{ports[1]}", retry=RetryPolicy(max_elapsed=0.0))
    assert repr(client) == (
        f"StreamLoadClient(load_urls=['http://127.0.0.1:{ports[0]}', 'http://127.0.0.1:{ports[1]}'], user='loader')"
    )
    with pytest.raises(TransientError, match="cannot connect to any FE") as err:
        client.stream_load("d", "t", b"a", label="l", headers={})
    assert all(str(p) in str(err.value) for p in ports)
