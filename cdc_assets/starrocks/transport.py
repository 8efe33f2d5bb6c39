"""One HTTP/1.1 exchange the way StarRocks Stream Load needs it, on one connection per request.

Why not ``requests``: it drops ``Authorization`` when the FE redirects to a BE on another port, and it
sends the body without waiting for ``100 Continue``, so the FE, which answers 307 without reading the
body, resets the connection under a large body. Why not plain ``http.client``: its response parser
skips interim 100 answers, so it cannot tell "go on" from "here is the final answer" before the body
is sent. This module sends the head, waits for either answer, sends the body only after 100 Continue
(or after the wait times out, as curl and Apache HttpClient do), and follows 307/308 itself,
re-sending the method, every header (``Authorization`` included) and the body.
"""

from __future__ import annotations

import http.client
import select
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

_MAX_LINE = 65536
_MAX_BODY = 64 * 2**20  # a load answer is a few hundred bytes; refuse to buffer a runaway stream
_REDIRECTS = (307, 308)  # the only redirects that keep the method and the body


class TransportError(Exception):
    """The exchange failed before a complete answer arrived.

    ``connected`` is False when no connection could be opened, so nothing was sent and trying another
    address is safe. ``hop`` is 0 for the first URL, 1 for the first redirect target, and so on.
    """

    def __init__(self, message: str, *, url: str, hop: int, connected: bool) -> None:
        super().__init__(message)
        self.url = url
        self.hop = hop
        self.connected = connected


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` None waits forever (``sink.socket.timeout-ms`` -1)."""

    connect: float = 30.0
    read: float | None = None
    expect_continue: float = 30.0


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    url: str  # the URL that gave this answer (after redirects)
    redirects: int  # how many redirects were followed to get here


def base_url(address: str) -> str:
    """``host:port`` or ``http://host:port[/]`` as ``http://host:port``; ValueError if it is neither."""
    text = address.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme != "http":
        raise ValueError(f"load URL '{address}': only plain http FE addresses (host:port) are supported")
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise ValueError(f"load URL '{address}' must be host:port or http://host:port")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"load URL '{address}' has an invalid port") from exc
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"http://{host}:{port}"


def request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes = b"",
    *,
    timeouts: Timeouts,
    max_redirects: int = 3,
) -> Response:
    """Send one request, following up to ``max_redirects`` 307/308 answers; the last answer is returned.

    ``headers`` must not contain Host, Content-Length, Expect or Connection (this function sets them).
    """
    hop = 0
    while True:
        response = exchange(method, url, headers, body, timeouts=timeouts, hop=hop)
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or not location or hop >= max_redirects:
            return Response(response.status, response.reason, response.headers, response.body, url, hop)
        url = urljoin(url, location)
        hop += 1


def exchange(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes = b"",
    *,
    timeouts: Timeouts,
    hop: int = 0,
) -> Response:
    """One request and its final answer on a fresh connection, without following redirects."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise TransportError(f"cannot send to '{url}': not an http URL", url=url, hop=hop, connected=False)
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rsplit("@", 1)[-1]
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=timeouts.connect)
    except OSError as exc:
        raise TransportError(
            f"cannot connect to {parts.hostname}:{port}: {_describe(exc)}", url=url, hop=hop, connected=False
        ) from exc
    try:
        sock.settimeout(timeouts.read)
        # Every PUT is a load: the FE refuses one without "Expect: 100-continue", even an empty one.
        expect = bool(body) or method == "PUT"
        head = _head(method, target, host_header, headers, len(body), expect_continue=expect)
        return _converse(sock, head, body, url=url, hop=hop, timeouts=timeouts, expect=expect)
    except TransportError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise TransportError(
            f"{method} {_safe(url)} failed: {_describe(exc)}", url=url, hop=hop, connected=True
        ) from exc
    finally:
        sock.close()


def _head(
    method: str, target: str, host: str, headers: Mapping[str, str], length: int, *, expect_continue: bool
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}")
    if method in ("PUT", "POST") or length:
        lines.append(f"Content-Length: {length}")
    if expect_continue:
        lines.append("Expect: 100-continue")
    lines.append("Connection: close")
    # Header values go out as UTF-8: the BE reads raw bytes, so unicode column names in `columns` work.
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _converse(
    sock: socket.socket, head: bytes, body: bytes, *, url: str, hop: int, timeouts: Timeouts, expect: bool
) -> Response:
    sock.sendall(head)
    reader = sock.makefile("rb")
    try:
        if expect:
            # Wait for "100 Continue" or for a final answer (307, 401, an error) sent without reading the
            # body. select() rather than a socket timeout: a timed-out socket file cannot be read again.
            readable, _, _ = select.select([sock], [], [], timeouts.expect_continue)
            if not readable:
                _send_body(sock, body)
            else:
                status, reason, headers = _read_head(reader)
                if status != 100:
                    return Response(status, reason, headers, _read_body(reader, headers), url, hop)
                _send_body(sock, body)
        status, reason, headers = _read_head(reader)
        while 100 <= status < 200:  # interim answers (a late or repeated 100 Continue)
            status, reason, headers = _read_head(reader)
        return Response(status, reason, headers, _read_body(reader, headers), url, hop)
    finally:
        reader.close()


def _send_body(sock: socket.socket, body: bytes) -> None:
    if not body:
        return
    try:
        sock.sendall(body)
    except (BrokenPipeError, ConnectionResetError):
        # The server may have answered and closed while the body was on its way; the answer (if any)
        # is still in the receive buffer and is read next. If there is none, reading raises.
        pass


def _read_head(reader) -> tuple[int, str, http.client.HTTPMessage]:
    line = reader.readline(_MAX_LINE + 1)
    if not line:
        raise http.client.RemoteDisconnected("the server closed the connection without an answer")
    if len(line) > _MAX_LINE:
        raise http.client.LineTooLong("status line")
    text = line.decode("iso-8859-1").rstrip("\r\n")
    version, _, rest = text.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit() or len(code) != 3:
        raise http.client.BadStatusLine(text)
    return int(code), reason.strip(), http.client.parse_headers(reader)


def _read_body(reader, headers: http.client.HTTPMessage) -> bytes:
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return _read_chunked(reader)
    length = headers.get("Content-Length")
    if length is not None:
        size = int(length.strip())
        if size < 0 or size > _MAX_BODY:
            raise http.client.HTTPException(f"answer body of {size} bytes")
        data = reader.read(size)
        if len(data) < size:
            raise http.client.IncompleteRead(data, size - len(data))
        return data
    data = reader.read(_MAX_BODY + 1)  # no length: the body ends when the server closes
    if len(data) > _MAX_BODY:
        raise http.client.HTTPException("answer body too large")
    return data


def _read_chunked(reader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = reader.readline(_MAX_LINE + 1)
        if not line:
            raise http.client.IncompleteRead(b"".join(parts))
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while reader.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        total += size
        if total > _MAX_BODY:
            raise http.client.HTTPException("answer body too large")
        chunk = reader.read(size)
        if len(chunk) < size:
            raise http.client.IncompleteRead(chunk, size - len(chunk))
        parts.append(chunk)
        reader.readline(_MAX_LINE + 1)  # the CRLF after the chunk


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _safe(url: str) -> str:
    """The URL without any user:password part (a Location header could carry one)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()
