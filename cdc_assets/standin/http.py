"""The stand-in's two HTTP servers: the FE ``http_port`` and the BE ``be_http_port`` (HTTP/1.1).

FE (StarRocks ``LoadAction``, ``TransactionLoadAction``, ``RestBaseAction``):

- ``PUT /api/{db}/{table}/_stream_load``: Basic auth (401 with ``WWW-Authenticate: Basic realm=""``),
  ``Expect: 100-continue`` required (no ``100 Continue`` is ever sent here), the connection is forced
  closed, then ``307`` to the BE with path and query copied (or ``No backend alive.`` under that fault).
  The body is never read, so a client that streams a large body without waiting for ``100 Continue``
  gets its connection reset, as with StarRocks.
- ``GET /api/{db}/get_load_state?label=``;
- ``POST|PUT /api/transaction/{begin|load|prepare|commit|rollback}``: begin/load/prepare are redirected
  to the BE; commit/rollback are answered here once the transaction is PREPARED or finished;
- ``POST /api/_standin/faults`` (stand-in only): arm or clear :class:`Faults`; ``GET`` lists them.

BE: the same Stream Load path answered directly (always HTTP 200 + JSON, ``100 Continue`` sent once the
headers passed), the transaction API, and ``GET /api/_load_error_log?file=`` behind ``ErrorURL``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cdc_assets.standin.faults import Faults
from cdc_assets.standin.streamload import StreamLoadRequest, run_stream_load
from cdc_assets.standin.txns import ClientGone, TxnManager, fe_failure

log = logging.getLogger(__name__)

TXN_OPS = ("begin", "load", "prepare", "commit", "rollback")
_DRAIN_LIMIT = 1024 * 1024
_DRAIN_WAIT = 0.05
_GSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "=": "\\u003d", "'": "\\u0027"}


def gson(obj: Any, *, pretty: bool) -> bytes:
    """JSON as the FE's Gson writes it: 2-space pretty or compact, HTML characters escaped."""
    text = json.dumps(
        obj, ensure_ascii=False, indent=2 if pretty else None, separators=None if pretty else (",", ":")
    )
    for ch, esc in _GSON_ESCAPES.items():
        text = text.replace(ch, esc)
    return text.encode("utf-8")


def rapidjson(obj: Any) -> bytes:
    """JSON as the BE's rapidjson ``PrettyWriter`` writes it (4-space indent)."""
    return json.dumps(obj, ensure_ascii=False, indent=4).encode("utf-8")


def rest_result(message: str | None = None, **extra: Any) -> dict[str, Any]:
    """FE ``RestBaseResult``: OK, or FAILED with ``message``."""
    if message is None:
        return {"status": "OK", "code": "0", "msg": "Success", "message": "OK", **extra}
    return {"status": "FAILED", "code": "1", "msg": message, "message": message, **extra}


@dataclass
class HttpContext:
    """What both servers share."""

    user: str
    password: str = field(repr=False)
    txns: TxnManager
    faults: Faults
    host: str
    be_port: int = 0

    def check(self, auth: tuple[str, str] | None) -> bool:
        return auth is not None and auth[0].split("@", 1)[0] == self.user and auth[1] == self.password


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], ctx: HttpContext
    ) -> None:
        self.ctx = ctx
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    """Shared plumbing: 100-continue on demand, bodies (length or chunked), closing and resetting."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self._reset = False

    def handle_one_request(self) -> None:
        self._expect_continue = False
        self._body_read = False
        self._drain = False
        super().handle_one_request()

    def handle_expect_100(self) -> bool:  # decided per request, never automatically
        self._expect_continue = True
        return True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    @property
    def ctx(self) -> HttpContext:
        return self.server.ctx

    # ---------------------------------------------------------------- request parts
    def _auth(self) -> tuple[str, str] | None:
        """(user, password) from ``Authorization: Basic``; None when absent or malformed."""
        header = self.headers.get("Authorization", "")
        parts = header.split(" ")
        if len(parts) != 2 or parts[0].lower() != "basic":
            return None
        try:
            text = base64.b64decode(parts[1], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if ":" not in text or not text:
            return None
        user, password = text.split(":", 1)
        return user, password

    def _content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def _has_body(self) -> bool:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        return chunked or (self._content_length() or 0) > 0

    def _send_continue(self) -> None:
        if self._expect_continue:
            self._expect_continue = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()

    def _read_body(self, limit: int | None = None) -> bytes:
        """The request body (after ``100 Continue`` if the client waits for it); ``limit`` stops early."""
        self._send_continue()
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                data = self._read_chunked(limit)
            else:
                length = self._content_length() or 0
                want = length if limit is None else min(length, limit)
                data = self.rfile.read(want)
                if len(data) < want:
                    raise ClientGone("the client closed the connection before sending the whole body")
        except OSError as e:
            raise ClientGone(str(e)) from None
        self._body_read = limit is None
        return data

    def _read_chunked(self, limit: int | None) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ClientGone("the client closed the connection in a chunked body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ClientGone("the client closed the connection in a chunked body")
            out += chunk
            self.rfile.readline(3)
            if limit is not None and len(out) >= limit:
                return bytes(out)

    # ---------------------------------------------------------------- answers
    def _send(
        self,
        code: int,
        body: bytes,
        *,
        content_type: str,
        headers: list[tuple[str, str]] | None = None,
        close: bool = False,
    ) -> None:
        if self._has_body() and not self._body_read:
            close, self._drain = True, True  # the unread body makes the connection unusable
        self.send_response_only(code)
        self.send_header("Content-Type", content_type)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        try:
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client is gone (it gave up waiting, or reset the connection)
            close, self._drain = True, False
        if close:
            self.close_connection = True

    def _reset_connection(self) -> None:
        """connection_reset fault: RST instead of an answer (SO_LINGER 0, then close)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._reset = True
        self.close_connection = True
        self.connection.close()  # the descriptor goes once rfile/wfile close in finish()

    def _fault_reset(self, db: str | None, table: str | None, *, mid_body: bool) -> bool:
        """Fire a connection_reset fault: read part of the body first when ``mid_body``."""
        if self.ctx.faults.take("connection_reset", db, table) is None:
            return False
        if mid_body:
            try:
                self._read_body(limit=max((self._content_length() or 0) // 2, 1))
            except ClientGone:
                pass
        self._reset_connection()
        return True

    def _slow(self, db: str | None, table: str | None) -> None:
        fault = self.ctx.faults.take("slow", db, table)
        if fault is not None:
            time.sleep(fault.seconds)

    def finish(self) -> None:
        if self._reset:
            for f in (self.wfile, self.rfile):
                try:
                    f.close()
                except OSError:
                    pass
            return
        super().finish()
        if self._drain:
            self._drain_then_close()

    def _drain_then_close(self) -> None:
        """Read what already arrived of an unread body (as Netty and libevent do) and stop; whatever the
        client still sends after the socket closes is answered with a reset."""
        sock = self.connection
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(_DRAIN_WAIT)
            drained = 0
            while drained < _DRAIN_LIMIT:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass

    def _route(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self._route("GET")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_POST(self) -> None:
        self._route("POST")

    def _not_found(self) -> None:
        self._send(404, b"Not Found", content_type="text/plain")

    def _path(self) -> tuple[list[str], dict[str, list[str]], str]:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        return parts, parse_qs(url.query), url.query


def _stream_load_path(parts: list[str]) -> tuple[str, str] | None:
    if len(parts) == 4 and parts[0] == "api" and parts[3] == "_stream_load":
        return parts[1], parts[2]
    return None


class FeHandler(_Handler):
    """The FE ``http_port``."""

    def _send_fe(self, code: int, obj: Any, *, pretty: bool, headers=None, close: bool = False) -> None:
        self._send(code, gson(obj, pretty=pretty), content_type="text/html", headers=headers, close=close)

    def _require_auth(self) -> bool:
        auth = self._auth()
        if self.ctx.check(auth):
            return True
        ip = self.client_address[0]
        message = "Need auth information." if auth is None else f"Access denied for {auth[0]}@{ip}"
        self._send_fe(
            401, rest_result(message), pretty=False, headers=[("WWW-Authenticate", 'Basic realm=""')]
        )
        return False

    def _route(self, method: str) -> None:
        parts, query, raw_query = self._path()
        target = _stream_load_path(parts)
        if target is not None and method == "PUT":
            self._stream_load(raw_query)
        elif len(parts) == 3 and parts[0] == "api" and parts[2] == "get_load_state" and method == "GET":
            self._get_load_state(parts[1], query)
        elif len(parts) == 3 and parts[:2] == ["api", "transaction"] and method in ("POST", "PUT"):
            self._transaction(parts[2], raw_query)
        elif parts == ["api", "_standin", "faults"] and method in ("GET", "POST"):
            self._faults(method)
        else:
            self._not_found()

    def _be_location(self, raw_query: str) -> str:
        host = self.ctx.host
        if host in ("", "0.0.0.0", "::"):
            host = (self.headers.get("Host") or "127.0.0.1").rsplit(":", 1)[0]
        path = urlsplit(self.path).path
        return f"http://{host}:{self.ctx.be_port}{path}" + (f"?{raw_query}" if raw_query else "")

    def _stream_load(self, raw_query: str) -> None:
        if not self._require_auth():
            return
        # LoadAction: HTTP/1.1 and later must ask for 100-continue (HTTP/1.0 cannot)
        expects = self.headers.get("Expect", "").lower() == "100-continue"
        if self.request_version not in ("HTTP/0.9", "HTTP/1.0") and not expects:
            body = fe_failure("There is no 100-continue header", "class com.starrocks.common.DdlException")
            self._send_fe(200, body, pretty=True, close=True)
            return
        db, table = _stream_load_path(self._path()[0]) or ("", "")
        if self.ctx.faults.take("no_backend_alive", db, table):  # LoadAction: no BE to redirect to
            body = fe_failure("No backend alive.", "class com.starrocks.common.DdlException")
            self._send_fe(200, body, pretty=True, close=True)
            return
        headers = [("Location", self._be_location(raw_query))]
        self._send(307, b"", content_type="text/html", headers=headers, close=True)

    def _get_load_state(self, db: str, query: dict[str, list[str]]) -> None:
        if not self._require_auth():
            return
        label = (query.get("label") or [""])[0]
        if not label:
            self._send_fe(200, rest_result("No label selected."), pretty=False)
        elif not self.ctx.txns.store.has_database(db):
            self._send_fe(200, rest_result(f"unknown database, database={db}"), pretty=False)
        else:
            state = self.ctx.txns.get_load_state(db, label)
            self._send_fe(200, rest_result(None, state=state), pretty=False)

    def _transaction(self, op: str, raw_query: str) -> None:
        if not self._require_auth():
            return
        op = op.lower()
        db = self.headers.get("db", "").strip()
        label = self.headers.get("label", "").strip()
        problem = None
        if op not in TXN_OPS:
            problem = fe_failure(f"Unknown transaction operation: {op}")
        elif not db:
            problem = fe_failure("No database selected.")
        elif not label:
            problem = fe_failure("Empty label.")
        else:
            for name in ("timeout", "prepared_timeout"):
                value = self.headers.get(name)
                if value is not None and not _java_long(value):
                    problem = fe_failure(
                        f'For input string: "{value}"', "class java.lang.NumberFormatException"
                    )
                    break
            if problem is None and not self.ctx.txns.store.has_database(db):
                problem = fe_failure(f"Database[{db}] does not exist.")
        if problem is None and op != "load" and self._has_body():
            self._read_body()
        if (
            problem is None
            and op == "begin"
            and self.ctx.faults.take("no_backend_alive", db, self.headers.get("table"))
        ):
            problem = fe_failure("No backend alive.")  # TransactionLoadAction: no BE for the transaction
        if problem is not None:
            self._send_fe(200, problem, pretty=True)
            return
        if op in ("commit", "rollback") and self.ctx.txns.fe_answers(db, label):
            if self._fault_reset(db, self.headers.get("table"), mid_body=False):
                return
            answer = self.ctx.txns.fe_commit_or_rollback(op, db, label)
            if answer is not None:
                self._slow(db, self.headers.get("table"))
                self._send_fe(200, answer, pretty=True)
                return
        self._send(307, b"", content_type="text/html", headers=[("Location", self._be_location(raw_query))])

    def _faults(self, method: str) -> None:
        if not self._require_auth():
            return
        if method == "POST":
            try:
                body = json.loads(self._read_body() or b"null")
                self.ctx.faults.apply_json(body)
            except (ValueError, UnicodeDecodeError) as e:
                self._send(
                    400,
                    gson({"status": "FAILED", "msg": str(e)}, pretty=True),
                    content_type="application/json",
                )
                return
        answer = {"status": "OK", "faults": self.ctx.faults.armed()}
        self._send(200, gson(answer, pretty=True), content_type="application/json")


def _java_long(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isascii() and body.isdigit() and -(2**63) <= int(text) < 2**63


class BeHandler(_Handler):
    """The BE ``be_http_port``."""

    def _send_be(self, obj: Any) -> None:
        self._send(200, rapidjson(obj), content_type="application/json")

    def _route(self, method: str) -> None:
        parts, query, _ = self._path()
        target = _stream_load_path(parts)
        if target is not None and method == "PUT":
            self._stream_load(*target)
        elif len(parts) == 3 and parts[:2] == ["api", "transaction"] and method in ("POST", "PUT"):
            self._transaction(parts[2].lower())
        elif parts == ["api", "_load_error_log"] and method == "GET":
            text = self.ctx.txns.error_logs.get((query.get("file") or [""])[0])
            if text is None:
                self._not_found()
            else:
                self._send(200, text.encode("utf-8"), content_type="text/plain; charset=utf-8")
        else:
            self._not_found()

    def _auth_state(self) -> tuple[bool | None, str]:
        auth = self._auth()
        if auth is None:
            return None, ""
        return self.ctx.check(auth), auth[0].split("@", 1)[0]

    def _body_reader(self, db: str, table: str) -> Callable[[], bytes]:
        def read() -> bytes:
            if self._fault_reset(db, table, mid_body=True):
                raise ClientGone("connection_reset fault")
            return self._read_body()

        return read

    def _stream_load(self, db: str, table: str) -> None:
        auth_ok, user = self._auth_state()
        request = StreamLoadRequest(
            db=db,
            table=table,
            label=self.headers.get("label", ""),
            headers=dict(self.headers.items()),
            content_length=self._content_length(),
            auth_ok=auth_ok,
            user=user,
            remote_ip=self.client_address[0],
            read_body=self._body_reader(db, table),
        )
        try:
            result = run_stream_load(self.ctx.txns, request)
        except ClientGone:
            if not self._reset:
                self.close_connection = True
            return
        self._slow(db, table)
        self._send_be(result.to_json())

    def _transaction(self, op: str) -> None:
        txns = self.ctx.txns
        db = self.headers.get("db", "")
        table = self.headers.get("table", "")
        label = self.headers.get("label", "")
        headers = dict(self.headers.items())
        if op == "load":
            try:
                answer, _ = txns.be_load(
                    db, table, label, headers, self._content_length(), self._body_reader(db, table)
                )
            except ClientGone:
                if not self._reset:
                    self.close_connection = True
                return
            self._slow(db, table)
            self._send_be(answer)
            return
        if self._has_body():
            self._read_body()
        if not label:
            self._send_be({"Status": "INVALID_ARGUMENT", "Message": "empty label"})
            return
        if op not in TXN_OPS:
            self._send_be({"Status": "INVALID_ARGUMENT", "Message": f"unsupport transaction operation {op}"})
            return
        if self._fault_reset(db, table, mid_body=False):
            return
        if op == "begin":
            auth_ok, user = self._auth_state()
            answer = txns.be_begin(
                db, table, label, headers, auth_ok=auth_ok, user=user, ip=self.client_address[0]
            )
        elif op in ("prepare", "commit"):
            answer = txns.be_commit(db, label, headers, prepare=op == "prepare")
        else:
            answer = txns.be_rollback(db, label)
        self._slow(db, table)
        self._send_be(answer)


class HttpServers:
    """The FE and BE HTTP servers, each on its own thread."""

    def __init__(self, ctx: HttpContext, *, http_port: int = 0, be_http_port: int = 0) -> None:
        self.ctx = ctx
        self._be = _Server((ctx.host, be_http_port), BeHandler, ctx)
        ctx.be_port = self._be.server_address[1]
        try:
            self._fe = _Server((ctx.host, http_port), FeHandler, ctx)
        except BaseException:
            self._be.server_close()
            raise
        self._threads: list[threading.Thread] = []

    @property
    def http_port(self) -> int:
        return self._fe.server_address[1]

    @property
    def be_http_port(self) -> int:
        return self._be.server_address[1]

    def start(self) -> HttpServers:
        for name, server in (("fe", self._fe), ("be", self._be)):
            thread = threading.Thread(target=server.serve_forever, name=f"standin-{name}-http", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving (if started) and close both listening sockets."""
        for server in (self._fe, self._be):
            if self._threads:  # shutdown() waits for serve_forever, so only after start()
                server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
