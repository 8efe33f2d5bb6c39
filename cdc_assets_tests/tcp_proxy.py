"""A small TCP proxy for tests: forwards 127.0.0.1:<port> to a server, and can cut its connections
after a number of bytes from the server, so a client sees a connection break in the middle of a packet.

:class:`ProxyProcess` runs it in a process of its own: connectorx holds the GIL while it connects,
so proxy threads in the test's own process would never get to accept its connections.
"""

from __future__ import annotations

import multiprocessing
import socket
import threading


class ProxyProcess:
    """A :class:`TcpProxy` in a child process, driven from the test thread (not thread-safe)."""

    def __init__(self, upstream_host: str, upstream_port: int):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(upstream_host, upstream_port, child), daemon=True)
        self._proc.start()
        self.port: int = self._conn.recv()

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ask(self, *msg):
        self._conn.send(msg)
        return self._conn.recv()

    def cut_after(self, n: int) -> None:
        self._ask("cut", n)

    def refuse(self, on: bool) -> None:
        self._ask("refuse", on)

    @property
    def cuts(self) -> int:
        return self._ask("cuts")

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._ask("close")
            except (OSError, EOFError):
                pass
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)


def _serve(host: str, port: int, conn) -> None:
    proxy = TcpProxy(host, port)
    conn.send(proxy.port)
    while True:
        try:
            msg = conn.recv()
        except EOFError:  # the test process went away
            proxy.close()
            return
        if msg[0] == "cut":
            proxy.cut_after(msg[1])
        elif msg[0] == "refuse":
            proxy.refuse(msg[1])
        elif msg[0] == "close":
            proxy.close()
            conn.send(None)
            return
        conn.send(proxy.cuts if msg[0] == "cuts" else None)


class TcpProxy:
    """Threads and sockets; ``cut_after(n)`` arms a cut: each open connection forwards ``n`` more bytes
    from the server, then both sides are closed. ``refuse(True)`` closes new connections at once."""

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: list[_Pair] = []
        self._refusing = False
        self._closed = False
        self.cuts = 0  # connections cut by cut_after
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cut_after(self, n: int) -> None:
        with self._lock:
            for pair in self._conns:
                if not pair.closed:
                    pair.cut_budget = n

    def refuse(self, on: bool) -> None:
        self._refusing = on

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for pair in self._conns:
                pair.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            pair = _Pair(self, client, server)
            with self._lock:
                self._conns = [p for p in self._conns if not p.closed] + [pair]
            pair.start()


class _Pair:
    def __init__(self, proxy: TcpProxy, client: socket.socket, server: socket.socket):
        self.proxy = proxy
        self.client = client
        self.server = server
        self.closed = False
        self.cut_budget: int | None = None  # bytes from the server still forwarded before the cut

    def start(self) -> None:
        threading.Thread(target=self._pump, args=(self.client, self.server, False), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.server, self.client, True), daemon=True).start()

    def close(self) -> None:
        self.closed = True
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while not self.closed:
                data = src.recv(65536)
                if not data:
                    break
                budget = self.cut_budget if from_server else None
                if budget is not None and len(data) >= budget:
                    dst.sendall(data[:budget])
                    with self.proxy._lock:
                        self.proxy.cuts += 1
                    break
                if budget is not None:
                    self.cut_budget = budget - len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self.close()
