"""A private, throwaway MariaDB (or MySQL 8) server for tests, the demo and benchmarks.

``LocalMariaDB`` runs the distribution's server binary on its own data directory, on a free TCP
port of 127.0.0.1, configured the way CDC needs it (row-based binlog with full images and full
row metadata, GTIDs, utf8mb4). It never touches a system server: every file it uses lives in
``base_dir`` and it reads no global option file.

    with LocalMariaDB() as db:
        db.create_user("cdc", "secret")
        conn = db.connect("shop")

Layout of ``base_dir``: ``my.cnf`` (the only option file the server reads; also usable with
``mariadb --defaults-file=.../my.cnf``), ``data/``, ``tmp/``, ``files/``, ``error.log``,
``mysqld.pid`` and ``mysqld.sock``.
"""

from __future__ import annotations

import atexit
import configparser
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pymysql

from cdc_assets.core.sql import quote_ident
from cdc_assets.errors import TerminalError

_SERVER_NAMES = ("mariadbd", "mysqld")
_SEARCH_DIRS = (Path("/usr/sbin"), Path("/usr/local/sbin"), Path("/usr/local/mysql/bin"))
#: sockaddr_un.sun_path is 108 bytes on Linux; longer socket paths cannot be bound
_MAX_SOCKET_PATH = 100
_DEFAULT_CDC_PRIVILEGES = ("SELECT", "RELOAD", "SHOW DATABASES", "REPLICATION SLAVE", "REPLICATION CLIENT")
_PRIVILEGE_RE = re.compile(r"^[A-Z][A-Z ]*[A-Z]$")
_INITIALISED_MARKER = "cdc-initialised"

_running: set[LocalMariaDB] = set()
_running_lock = threading.Lock()


def find_server_binary() -> Path | None:
    """The first ``mariadbd`` or ``mysqld`` on PATH or in the usual sbin folders, or None."""
    for name in _SERVER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    for folder in _SEARCH_DIRS:
        for name in _SERVER_NAMES:
            candidate = folder / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    return None


def _free_port() -> int:
    # The kernel hands out an unused ephemeral port; the small race until the server binds it is
    # handled by start(), which retries with another port when the bind fails.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parse_version(text: str) -> tuple[str, tuple[int, int, int]]:
    match = re.search(r"Ver\s+(\S+)", text)
    full = match.group(1) if match else text.strip()
    nums = re.match(r"(\d+)\.(\d+)\.(\d+)", full)
    if not nums:
        raise TerminalError(f"cannot read the server version from {text.strip()!r}", output=text)
    return full, (int(nums.group(1)), int(nums.group(2)), int(nums.group(3)))


def _pdeathsig_setter() -> Callable[[], None] | None:
    """A function for ``preexec_fn`` that makes Linux SIGTERM the server when its parent dies.

    That covers a parent killed by SIGKILL or ``os._exit``, where atexit handlers never run.
    libc's ``prctl`` is looked up here, in the parent, so the child only calls it between fork
    and exec. PR_SET_PDEATHSIG = 1.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        prctl(1, signal.SIGTERM, 0, 0, 0)

    return set_pdeathsig


class LocalMariaDB:
    """One private server process. Defaults: a fresh temp ``base_dir``, a free port, no root password.

    ``extra_options`` are written into ``my.cnf`` after (and so override) the defaults; an empty
    string value writes the bare option name (``{"skip-log-bin": ""}``). Timeouts are in seconds.
    A server still running when the interpreter exits is stopped by an atexit handler, and its
    ``base_dir`` removed if this object created it; if the starting process is killed outright,
    the kernel sends the server SIGTERM (parent-death signal, when started from the main thread).
    ``detach=True`` is for a server that outlives this process (the demo): none of that, and a
    session of its own. ``start()`` adopts a server already running on ``base_dir`` (from an
    earlier process), and ``LocalMariaDB(base_dir).stop()`` stops whatever server runs there.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        port: int | None = None,
        server_id: int = 1,
        root_password: str = "",
        extra_options: Mapping[str, str] | None = None,
        log_bin_basename: str = "mysql-bin",
        server_binary: Path | None = None,
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 30.0,
        detach: bool = False,
    ) -> None:
        self._owns_base_dir = base_dir is None
        self._base_dir = Path(tempfile.mkdtemp(prefix="cdc-mariadb-")) if base_dir is None else Path(base_dir)
        self._port = port
        self._server_id = server_id
        self._password = root_password
        self._extra = dict(extra_options or {})
        self._log_bin_basename = log_bin_basename
        self._binary = server_binary
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._detach = detach
        self._proc: subprocess.Popen[bytes] | None = None  # a server this object started
        self._adopted: int | None = None  # pid of a server found running on base_dir
        self._version: tuple[str, tuple[int, int, int]] | None = None
        self._flavor: str | None = None
        self._short_socket_dir: Path | None = None

    # ----------------------------------------------------------------------------------- properties
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        """The TCP port; known once the server was started (or when given)."""
        if self._port is None:
            raise TerminalError("the server has no port yet: call start() first")
        return self._port

    @property
    def user(self) -> str:
        return "root"

    @property
    def password(self) -> str:
        return self._password

    @property
    def server_id(self) -> int:
        return self._server_id

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def data_dir(self) -> Path:
        return self._base_dir / "data"

    @property
    def error_log_path(self) -> Path:
        return self._base_dir / "error.log"

    @property
    def socket_path(self) -> Path:
        path = self._base_dir / "mysqld.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        if self._short_socket_dir is None:
            self._short_socket_dir = Path(tempfile.mkdtemp(prefix="cdc-sock-"))
        return self._short_socket_dir / "mysqld.sock"

    @property
    def pid_path(self) -> Path:
        return self._base_dir / "mysqld.pid"

    @property
    def config_path(self) -> Path:
        return self._base_dir / "my.cnf"

    @property
    def server_binary(self) -> Path:
        if self._binary is None:
            found = find_server_binary()
            if found is None:
                raise TerminalError(
                    "no MariaDB/MySQL server binary (mariadbd or mysqld) found on PATH or in "
                    + ", ".join(map(str, _SEARCH_DIRS))
                    + ": install it, e.g. `apt-get install mariadb-server`"
                )
            self._binary = found
        return self._binary

    @property
    def version(self) -> str:
        """The server's version string, e.g. ``10.11.19-MariaDB-0+deb12u1`` (from ``--version``)."""
        return self._read_version()[0]

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return self._read_version()[1]

    @property
    def flavor(self) -> str:
        """``mariadb`` or ``mysql``."""
        if self._flavor is None:
            self._read_version()
        assert self._flavor is not None
        return self._flavor

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (started or adopted by this object), else None."""
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        if self._adopted is not None and self._is_our_server(self._adopted):
            return self._adopted
        return None

    def __repr__(self) -> str:
        state = f"port={self._port}, running" if self.running else "stopped"
        return f"LocalMariaDB(base_dir={str(self._base_dir)!r}, {state})"

    def _read_version(self) -> tuple[str, tuple[int, int, int]]:
        if self._version is None:
            out = subprocess.run(
                [str(self.server_binary), "--version"], capture_output=True, text=True, check=False
            ).stdout
            self._version = _parse_version(out)
            self._flavor = "mariadb" if "mariadb" in out.lower() else "mysql"
        return self._version

    # ----------------------------------------------------------------------------------- lifecycle
    def start(self) -> LocalMariaDB:
        """Start the server (initialising ``data/`` on first use) and wait until it accepts logins."""
        if self.running:
            return self
        if self._adopt_running_server():
            return self
        self._base_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("tmp", "files"):
            (self._base_dir / sub).mkdir(exist_ok=True)
        if self._port is None:
            self._port = self._port_from_config()
        initialised = (self._base_dir / _INITIALISED_MARKER).exists()
        auto_port = self._port is None
        if not initialised:
            self._write_config()
            self._initialise_datadir()
        for attempt in range(3):
            if auto_port:
                self._port = _free_port()
            self._write_config()
            try:
                self._launch()
                break
            except _PortInUse:
                if not auto_port or attempt == 2:
                    raise TerminalError(
                        f"port {self._port} on 127.0.0.1 is in use: pass another port or none. "
                        f"Server log ({self.error_log_path}):\n{self._log_tail()}",
                        port=self._port,
                    ) from None
        if not initialised:
            try:
                self._bootstrap_accounts()
            except BaseException:
                self.kill()  # the next start() initialises the datadir again
                raise
            (self._base_dir / _INITIALISED_MARKER).write_text("1\n")
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Clean shutdown: SIGTERM, then SIGKILL if the server is still up after ``timeout_s``.

        Stops the server running on ``base_dir`` even if another process started it.
        """
        timeout = self._stop_timeout_s if timeout_s is None else timeout_s
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        else:
            pid = self._adopted if self._adopted is not None else self._pid_from_file()
            if pid is not None and self._is_our_server(pid):
                self._signal_and_wait(pid, signal.SIGTERM, timeout)
                if self._is_our_server(pid):
                    self._signal_and_wait(pid, signal.SIGKILL, timeout)
        self._forget_process()

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; the next start() runs crash recovery."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        else:
            pid = self._adopted if self._adopted is not None else self._pid_from_file()
            if pid is not None and self._is_our_server(pid):
                self._signal_and_wait(pid, signal.SIGKILL, self._stop_timeout_s)
        self._forget_process()

    def restart(self) -> LocalMariaDB:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server, then remove ``base_dir`` if this object created it."""
        self.stop()
        if self._short_socket_dir is not None:
            shutil.rmtree(self._short_socket_dir, ignore_errors=True)
            self._short_socket_dir = None
        if self._owns_base_dir:
            shutil.rmtree(self._base_dir, ignore_errors=True)

    def __enter__(self) -> LocalMariaDB:
        try:
            return self.start()
        except BaseException:
            self.cleanup()  # __exit__ does not run when __enter__ fails; the error carries the log tail
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # ------------------------------------------------------------------------------------- clients
    def connect(self, database: str | None = None, **kw: Any) -> pymysql.connections.Connection:
        """A new pymysql connection as root over TCP, autocommit on, utf8mb4; ``kw`` overrides."""
        args: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self._password,
            "database": database,
            "autocommit": True,
            "charset": "utf8mb4",
            "connect_timeout": 10,
        }
        args.update(kw)
        return pymysql.connect(**args)

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[tuple]:
        """Run one statement on a short-lived connection; returns its rows (empty for DML/DDL)."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def create_user(
        self,
        name: str,
        password: str,
        *,
        privileges: Iterable[str] = _DEFAULT_CDC_PRIVILEGES,
        on: str = "*.*",
        host: str = "%",
    ) -> None:
        """(Re)create ``name@host`` with ``privileges`` on ``on`` (``*.*``, ``db.*`` or ``db.table``).

        On MariaDB 10.5+ ``REPLICATION CLIENT`` no longer covers everything it used to, so it is
        granted together with ``BINLOG MONITOR`` (SHOW MASTER STATUS / SHOW BINARY LOGS) and
        ``SLAVE MONITOR``; ``REPLICATION SLAVE`` still allows reading the binlog.
        """
        privs = self._privileges_for_server(privileges)
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                # User, host and password are bound values (string literals); privilege names and the
                # object cannot be bound, so they are checked and quoted instead.
                cur.execute("DROP USER IF EXISTS %s@%s", (name, host))
                cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, password))
                cur.execute(f"GRANT {', '.join(privs)} ON {_grant_target(on)} TO %s@%s", (name, host))
        finally:
            conn.close()

    def _privileges_for_server(self, privileges: Iterable[str]) -> list[str]:
        out: list[str] = []
        for raw in privileges:
            priv = " ".join(raw.upper().split())
            if not _PRIVILEGE_RE.match(priv):
                raise ValueError(f"not a privilege name: {raw!r}")
            out.append(priv)
        if self.flavor == "mariadb" and "REPLICATION CLIENT" in out:
            # BINLOG MONITOR appeared in 10.5.2 and SLAVE MONITOR in 10.5.9, split off REPLICATION CLIENT.
            split_off = {"BINLOG MONITOR": (10, 5, 2), "SLAVE MONITOR": (10, 5, 9)}
            out += [p for p, since in split_off.items() if self.version_tuple >= since and p not in out]
        return out

    # ------------------------------------------------------------------------------------ internals
    def _config_options(self) -> dict[str, str]:
        base = self._base_dir
        opts: dict[str, str] = {
            "datadir": str(self.data_dir),
            "tmpdir": str(base / "tmp"),
            "secure-file-priv": str(base / "files"),
            "socket": str(self.socket_path),
            "pid-file": str(self.pid_path),
            "log-error": str(self.error_log_path),
            "bind-address": "127.0.0.1",
            "skip-name-resolve": "",
            "server-id": str(self._server_id),
            "log-bin": self._log_bin_basename,
            "binlog_format": "ROW",
            "binlog_row_image": "FULL",
            "binlog_row_metadata": "FULL",
            "character-set-server": "utf8mb4",
            "collation-server": "utf8mb4_general_ci",
            "max_connections": "300",
            "max_allowed_packet": "64M",
            "innodb_buffer_pool_size": "128M",
            "innodb_log_file_size": "32M",
            # A throwaway server trades durability on OS crash for speed; a killed *process* loses
            # nothing with these (the OS still holds the writes), so crash tests stay meaningful.
            "innodb_flush_log_at_trx_commit": "2",
            "sync_binlog": "0",
            "innodb_doublewrite": "0",
            # Fast, quiet start and stop: no buffer pool dump/load, no performance_schema.
            "innodb_fast_shutdown": "1",
            "innodb_buffer_pool_dump_at_shutdown": "OFF",
            "innodb_buffer_pool_load_at_startup": "OFF",
            "performance_schema": "OFF",
            # Containers often cap aio contexts (fs.aio-max-nr); several servers at once then fail.
            "innodb_use_native_aio": "0",
        }
        if self._port is not None:  # unknown only while initialising, which listens on no port
            opts["port"] = str(self._port)
        if os.geteuid() == 0:
            opts["user"] = "root"
        if self.flavor == "mariadb":
            opts.update({"gtid_strict_mode": "ON", "log_slave_updates": "ON"})
        else:
            # mysqlx would otherwise listen on 33060, possibly clashing with a system server.
            opts.update({"gtid_mode": "ON", "enforce_gtid_consistency": "ON", "mysqlx": "OFF"})
        # An extra option replaces a default however it is spelled (binlog-format vs binlog_format).
        extra_keys = {k.replace("-", "_") for k in self._extra}
        opts = {k: v for k, v in opts.items() if k.replace("-", "_") not in extra_keys}
        opts.update(self._extra)
        return opts

    def _write_config(self) -> None:
        lines = ["# written by cdc_assets.local_mariadb; the server reads no other option file", "[mysqld]"]
        for key, value in self._config_options().items():
            lines.append(key if value == "" else f"{key}={value}")
        lines += ["", "[client]", f"socket={self.socket_path}", f"port={self._port}", "user=root", ""]
        self.config_path.write_text("\n".join(lines))

    def _port_from_config(self) -> int | None:
        # A new object on an existing base_dir keeps the port the data was served on before.
        if not self.config_path.exists():
            return None
        parser = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None)
        with contextlib.suppress(configparser.Error, ValueError, TypeError):
            parser.read(self.config_path)
            return int(parser.get("mysqld", "port"))
        return None

    def _initialise_datadir(self) -> None:
        if self.data_dir.exists():
            # A datadir without the marker is from an initialisation that did not finish.
            shutil.rmtree(self.data_dir)
        defaults = f"--defaults-file={self.config_path}"
        if self.flavor == "mariadb":
            cmd = [
                str(_install_db_for(self.server_binary)),
                defaults,
                "--auth-root-authentication-method=normal",
            ]
            # --skip-name-resolve: grant IP-address accounts only (no root@<hostname> to warn about)
            cmd += ["--skip-test-db", "--skip-name-resolve", f"--datadir={self.data_dir}"]
        else:
            cmd = [str(self.server_binary), defaults, "--initialize-insecure", f"--datadir={self.data_dir}"]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            output = res.stdout + "\n" + res.stderr
            if self.error_log_path.exists():  # mysqld --initialize writes to log-error, not stderr
                output += "\n" + self._log_tail()
            raise TerminalError(
                f"initialising {self.data_dir} with {cmd[0]} failed (exit {res.returncode}); fix what "
                f"these lines name (often an option in extra_options):\n{_summarise(output)}",
                command=cmd,
            )

    def _launch(self) -> None:
        self.socket_path.unlink(missing_ok=True)  # left behind by a killed server
        log_start = self.error_log_path.stat().st_size if self.error_log_path.exists() else 0
        on_main = threading.current_thread() is threading.main_thread()
        self._proc = subprocess.Popen(
            [str(self.server_binary), f"--defaults-file={self.config_path}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # PDEATHSIG fires when the starting *thread* ends, so only use it from the main thread.
            preexec_fn=_pdeathsig_setter() if on_main and not self._detach else None,
            start_new_session=self._detach,  # a detached server ignores the terminal's Ctrl-C
        )
        self._track()
        deadline = time.monotonic() + self._start_timeout_s
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._forget_process()
                new_log = self._log_tail(since=log_start)
                if "Address already in use" in new_log and "TCP/IP" in new_log:
                    raise _PortInUse()
                raise TerminalError(
                    f"the server exited during start (exit {code}). Server log ({self.error_log_path}):\n{new_log}",
                    exit_code=code,
                )
            if self._accepts_connections():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise TerminalError(
                    f"the server did not accept connections within {self._start_timeout_s:.0f} s; raise "
                    f"start_timeout_s if the machine is slow. Server log ({self.error_log_path}):\n"
                    f"{self._log_tail(since=log_start)}"
                )
            time.sleep(0.05)

    def _accepts_connections(self) -> bool:
        try:
            conn = pymysql.connect(
                unix_socket=str(self.socket_path), user="root", password=self._password, connect_timeout=1
            )
        except pymysql.err.MySQLError as exc:
            # A server error (code < 2000, e.g. 1045 access denied) means it is up and answering
            # logins; client errors (2000+) mean nothing listens yet; 1053 is a shutdown in progress.
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 2000
            return code < 2000 and code != 1053
        except OSError:
            return False
        conn.close()
        return True

    def _bootstrap_accounts(self) -> None:
        # The fresh datadir has root@localhost without a password (socket logins). With
        # skip-name-resolve a TCP login from 127.0.0.1 only matches root@127.0.0.1, so make sure it exists.
        conn = pymysql.connect(unix_socket=str(self.socket_path), user="root", password="", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION sql_log_bin = 0")  # keep the binlog free of our set-up
                # Anonymous users and password-less root@::1 / root@<hostname> are not wanted.
                cur.execute(
                    "SELECT User, Host FROM mysql.user WHERE User = '' "
                    "OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1'))"
                )
                for user, host in cur.fetchall():
                    cur.execute("DROP USER %s@%s", (user, host))
                cur.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'")
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
                if self._password:
                    for host in ("localhost", "127.0.0.1"):
                        cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", ("root", host, self._password))
        finally:
            conn.close()

    def _adopt_running_server(self) -> bool:
        """Take over a server that an earlier process left running on ``base_dir``."""
        pid = self._pid_from_file()
        if pid is None or not self._is_our_server(pid):
            return False
        running_port = self._port_from_config()
        if self._port is not None and running_port is not None and self._port != running_port:
            raise TerminalError(
                f"the server already running on {self._base_dir} (pid {pid}) listens on port "
                f"{running_port}, not {self._port}: pass port={running_port} or stop it first",
                pid=pid,
            )
        self._port = running_port
        self._adopted = pid
        self._track()
        deadline = time.monotonic() + self._start_timeout_s
        while not self._accepts_connections():
            if not self._is_our_server(pid) or time.monotonic() > deadline:
                self._forget_process()
                raise TerminalError(
                    f"the server found running on {self._base_dir} (pid {pid}) does not accept connections; "
                    f"stop it (`kill {pid}`) and start again. Server log:\n{self._log_tail()}",
                    pid=pid,
                )
            time.sleep(0.05)
        return True

    def _pid_from_file(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _is_our_server(self, pid: int) -> bool:
        # The pid must be alive, not a zombie, and a server on *this* option file (pids get reused).
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return stat.rpartition(")")[2].split()[0] != "Z" and f"--defaults-file={self.config_path}" in cmdline

    def _signal_and_wait(self, pid: int, sig: int, timeout_s: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while self._is_our_server(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _track(self) -> None:
        if not self._detach:
            with _running_lock:
                _running.add(self)

    def _forget_process(self) -> None:
        self._proc = None
        self._adopted = None
        with _running_lock:
            _running.discard(self)

    def _log_tail(self, lines: int = 30, since: int = 0) -> str:
        try:
            with self.error_log_path.open("rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError:
            return "(no error log)"
        return "\n".join(text.splitlines()[-lines:])


def _summarise(output: str, lines: int = 20) -> str:
    # install-db prints a page of generic advice after a failure; the flagged lines say what broke.
    all_lines = [line for line in output.splitlines() if line.strip()]
    flagged = [line for line in all_lines if re.search(r"\[(ERROR|Warning)\]|^ERROR|failed", line)]
    return "\n".join((flagged or all_lines)[-lines:])


class _PortInUse(Exception):
    """Internal signal: the server could not bind its TCP port (start() retries another one)."""


def _install_db_for(server: Path) -> Path:
    names = ("mariadb-install-db", "mysql_install_db")
    folders = (server.parent, server.parent.parent / "bin", server.parent.parent / "scripts")
    for name in names:
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
        found = shutil.which(name)
        if found:
            return Path(found)
    raise TerminalError(
        f"mariadb-install-db not found next to {server} or on PATH: install it (`apt-get install mariadb-server`)"
    )


def _grant_target(on: str) -> str:
    if on == "*.*":
        return on
    db, sep, table = on.partition(".")
    if not sep or not db or not table:
        raise ValueError(f"grant target must be '*.*', 'db.*' or 'db.table', not {on!r}")
    return f"{quote_ident(db)}.{table if table == '*' else quote_ident(table)}"


@atexit.register
def _stop_all_at_exit() -> None:
    with _running_lock:
        servers = list(_running)
    for server in servers:
        with contextlib.suppress(Exception):
            server.cleanup()
