"""The StarRocks stand-in: store + MySQL-protocol query port + FE and BE HTTP ports, in one process.

``cdc-assets starrocks-standin`` runs it in the foreground (:func:`main`); tests start a
:class:`StandIn` on free ports::

    with StandIn(data_dir=tmp) as sr:
        pymysql.connect(host="127.0.0.1", port=sr.query_port, user="root")
        requests.put(f"http://{sr.load_url}/api/db/t/_stream_load", ...)
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from cdc_assets.standin.faults import Faults
from cdc_assets.standin.http import HttpContext, HttpServers
from cdc_assets.standin.labels import ErrorLogs, LabelStore
from cdc_assets.standin.loads import STREAMING_LOAD_MAX_MB
from cdc_assets.standin.query import QueryServer
from cdc_assets.standin.store import StandInStore
from cdc_assets.standin.txns import TxnManager


class StandIn:
    """A local StarRocks: ``query_port`` (MySQL protocol), ``http_port`` (FE) and ``be_http_port`` (BE).

    Ports 0 pick free ones; the bound ports are set by :meth:`start`. ``data_dir`` None keeps tables
    and labels in memory; otherwise they persist in ``<data_dir>`` across restarts.
    ``streaming_load_max_mb`` is the BE setting of that name (default 102400, as StarRocks): a Stream
    Load body, or the bodies of one transaction together, larger than that many MB fail with
    ``body size N exceed limit: M``. ``version`` is the StarRocks version the FE reports
    (``current_version()``, ``@@version_comment``; RENAME COLUMN needs 3.3.2+); ``alter_job_seconds``
    how long a schema-change job runs. One start per object: after :meth:`stop`, make a new one.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        query_port: int = 0,
        http_port: int = 0,
        be_http_port: int = 0,
        user: str = "root",
        password: str = "",
        data_dir: Path | None = None,
        streaming_load_max_mb: int = STREAMING_LOAD_MAX_MB,
        version: str = "3.3.5",
        alter_job_seconds: float = 0.5,
    ) -> None:
        if isinstance(streaming_load_max_mb, bool) or not isinstance(streaming_load_max_mb, int):
            raise ValueError(
                f"streaming_load_max_mb must be a whole number of MB, got {streaming_load_max_mb!r}"
            )
        if streaming_load_max_mb < 1:
            raise ValueError(f"streaming_load_max_mb must be at least 1 (MB), got {streaming_load_max_mb}")
        self.streaming_load_max_mb = streaming_load_max_mb
        self.version = version
        self.alter_job_seconds = alter_job_seconds
        self.host = host
        self.user = user
        self._password = password
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.query_port = query_port
        self.http_port = http_port
        self.be_http_port = be_http_port
        self.faults = Faults()
        self.store: StandInStore | None = None
        self.txns: TxnManager | None = None
        self._query: QueryServer | None = None
        self._http: HttpServers | None = None

    def __repr__(self) -> str:  # the password stays out
        return (
            f"StandIn(host={self.host!r}, query_port={self.query_port}, http_port={self.http_port}, "
            f"be_http_port={self.be_http_port}, user={self.user!r}, data_dir={self.data_dir!r})"
        )

    @property
    def load_url(self) -> str:
        """``host:port`` of the FE http port, as the Flink connector's ``load-url`` takes it."""
        return f"{self._advertised_host}:{self.http_port}"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:mysql://{self._advertised_host}:{self.query_port}"

    @property
    def _advertised_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host

    def start(self) -> StandIn:
        """Open the store and listen on all three ports; returns once they accept connections."""
        if self.store is not None:
            raise RuntimeError("this StandIn was already started; create a new one to start again")
        self.store = StandInStore(self.data_dir)
        try:
            self.txns = TxnManager(
                self.store,
                self.faults,
                LabelStore(self.data_dir),
                ErrorLogs(),
                streaming_load_max_mb=self.streaming_load_max_mb,
            )
            ctx = HttpContext(self.user, self._password, self.txns, self.faults, self.host)
            self._http = HttpServers(ctx, http_port=self.http_port, be_http_port=self.be_http_port)
            self.http_port, self.be_http_port = self._http.http_port, self._http.be_http_port
            self.txns.be_address = f"{self._advertised_host}:{self.be_http_port}"
            self._query = QueryServer(
                self.store,
                host=self.host,
                port=self.query_port,
                user=self.user,
                password=self._password,
                version=self.version,
                alter_job_seconds=self.alter_job_seconds,
            ).start()
            self.query_port = self._query.port
            self._http.start()
            self.txns.start_cleaner()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop listening and close the store; idempotent."""
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self._query is not None:
            self._query.stop()
            self._query = None
        if self.txns is not None:
            self.txns.close()
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _megabytes(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of MB, at least 1, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cdc-assets starrocks-standin",
        description="Run a local StarRocks stand-in (MySQL protocol, Stream Load, transaction API).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--query-port", type=int, default=9030, help="MySQL-protocol port (default 9030)")
    p.add_argument("--http-port", type=int, default=8030, help="FE HTTP port (default 8030)")
    p.add_argument("--be-http-port", type=int, default=8040, help="BE HTTP port (default 8040)")
    p.add_argument("--user", default="root", help="the one user (default root)")
    p.add_argument("--password", default="", help="its password (default empty)")
    p.add_argument(
        "--data-dir", type=Path, default=None, help="keep tables and labels here (default: memory)"
    )
    p.add_argument(
        "--streaming-load-max-mb",
        type=_megabytes,
        default=STREAMING_LOAD_MAX_MB,
        help=f"largest load body in MB, as the BE's streaming_load_max_mb (default {STREAMING_LOAD_MAX_MB})",
    )
    p.add_argument(
        "--starrocks-version",
        default="3.3.5",
        help="the StarRocks version the FE reports (current_version()); the sink applies the schema "
        "changes Flink CDC's StarRocks sink applies on it (default 3.3.5)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run in the foreground until SIGINT/SIGTERM; prints one line once ready. Exit 0, or 2 when a port
    cannot be opened."""
    args = _parser().parse_args(argv)
    standin = StandIn(
        host=args.host,
        query_port=args.query_port,
        http_port=args.http_port,
        be_http_port=args.be_http_port,
        user=args.user,
        password=args.password,
        data_dir=args.data_dir,
        streaming_load_max_mb=args.streaming_load_max_mb,
        version=args.starrocks_version,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            standin.start()
        except OSError as e:
            print(
                f"cannot start the StarRocks stand-in on {args.host}: {e.strerror or e}; choose other ports with "
                "--query-port / --http-port / --be-http-port",
                file=sys.stderr,
            )
            return 2
        print(
            f"StarRocks stand-in ready: query port {standin.query_port} ({standin.jdbc_url}), "
            f"FE http {standin.http_port}, BE http {standin.be_http_port}, user {standin.user}",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        standin.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
