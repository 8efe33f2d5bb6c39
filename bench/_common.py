"""Helpers the benchmarks share: the benchmark table, child processes measured with ``wait4``, the
StarRocks stand-in in a process of its own, row counts of DuckDB targets, and the parent side of a
benchmark that runs paths in child processes against a private MariaDB (``BenchServer``: the server,
the interleaved best-of-``--repeat`` loop, one child per run and its ``PathResult``).

The table (baselines.md's shape) has 7 columns: BIGINT pk, VARCHAR(64), INT, DECIMAL(12,2), DATETIME,
TEXT, DOUBLE. MariaDB fills it from its sequence engine (no Python per row), the same on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Self, TypeVar

import duckdb
import pymysql

from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.local_mariadb import LocalMariaDB, find_server_binary

MIB = 1024 * 1024
USER = "cdc"
PASSWORD = "bench-pw-1"  # of a throwaway server on 127.0.0.1 that lives as long as this run
STARROCKS_PASSWORD = "bench-sr-pw-1"
MYSQL_PASSWORD_ENV = "CDC_BENCH_MYSQL_PASSWORD"
STARROCKS_PASSWORD_ENV = "CDC_BENCH_STARROCKS_PASSWORD"
#: rows per INSERT ... SELECT while generating (one transaction each, so the undo log stays small)
GENERATE_STEP = 1_000_000

CREATE_TABLE = """CREATE TABLE {table} (
  id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  qty INT NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  created_at DATETIME NOT NULL,
  note TEXT NULL,
  score DOUBLE NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""

# Every value derives from the sequence number. A tenth of the notes are NULL and some hold
# non-ASCII text, as real ones do; a row is about 165 bytes. The DOUBLEs are multiples of 1/64 (short
# decimal forms, like measured values): 17-digit ones made the text-protocol `mariadb` client, the
# limit, spend ~2 s per 1M rows formatting them, which binary-protocol readers never pay.
INSERT_ROWS = """INSERT INTO {table}
SELECT seq,
       CONCAT('customer-', seq, '-', LEFT(MD5(seq), 16)),
       (seq * 7919) % 1000000,
       (seq * 37 % 100000000) / 100,
       TIMESTAMP'2020-01-01 00:00:00' + INTERVAL ((seq * 7919) % 157680000) SECOND,
       IF(seq % 10 = 0, NULL,
          CONCAT(ELT(1 + seq % 4, 'leave at the door', 'größer als 5 kg', '配送前に電話', 'gift'),
                 ' ', SHA1(seq), ' ', MD5(seq * 3))),
       CAST(seq % 1000003 AS DOUBLE) / 64
FROM {sequence}"""


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the report)."""
    print(message, file=sys.stderr, flush=True)


def yes_no(value: bool | None) -> str:
    """A target's verdict in the report."""
    return "not measured" if value is None else ("yes" if value else "NO")


def require_server_binary() -> None:
    """Stop with how to install it when this machine has no MariaDB server binary."""
    if find_server_binary() is None:
        raise SystemExit(
            "no MariaDB server binary (mariadbd): install it with `apt-get install mariadb-server`"
        )


# ------------------------------------------------------------------------------------------ the table
@dataclass(frozen=True)
class BenchTable:
    db: str
    name: str
    rows: int
    data_mib: float  # InnoDB data_length after ANALYZE TABLE

    @property
    def qualified(self) -> str:
        return f"{self.db}.{self.name}"


def create_table(server: LocalMariaDB, rows: int, db: str = "bench") -> BenchTable:
    """Create and fill ``<db>.t_<rows>`` unless it exists (MariaDB only: it uses the sequence engine)."""
    name = f"t_{rows}"
    table = quote_table(db, name)
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(db)} CHARACTER SET utf8mb4")
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                (db, name),
            )
            if cur.fetchone()[0] == 0:
                progress(f"generating {rows:,} rows into {db}.{name} ...")
                started = time.perf_counter()
                cur.execute("SET SESSION sql_log_bin = 0")  # a snapshot never reads them from the binlog
                cur.execute(CREATE_TABLE.format(table=table))
                for first in range(1, rows + 1, GENERATE_STEP):
                    last = min(rows, first + GENERATE_STEP - 1)
                    sequence = quote_table(db, f"seq_{first}_to_{last}")
                    cur.execute(INSERT_ROWS.format(table=table, sequence=sequence))
                progress(f"  generated in {time.perf_counter() - started:.1f} s")
            cur.execute(f"ANALYZE TABLE {table}")
            cur.fetchall()
            cur.execute(
                "SELECT data_length FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                (db, name),
            )
            data_bytes = int(cur.fetchone()[0])
    finally:
        conn.close()
    return BenchTable(db, name, rows, round(data_bytes / MIB, 1))


def duckdb_count(path: Path, table: str, where: str = "") -> int | None:
    """Rows of the one table named ``table`` in the DuckDB file, whatever schema the tool put it in
    (those matching ``where``, a condition the benchmark wrote, when given); None when the file or the
    table is missing (or the name is ambiguous)."""
    value = duckdb_scalar(path, table, "COUNT(*)", where)
    return None if value is None else int(value)


def duckdb_scalar(path: Path, table: str, expression: str, where: str = "") -> object | None:
    """``SELECT <expression> FROM <table> [WHERE <where>]`` on the one table named ``table`` in the
    DuckDB file (both SQL texts are the benchmark's own); None when the file or the table is missing."""
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as conn:
        found = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()
        if len(found) != 1:
            return None
        qualified = f"{quote_ident(found[0][0], 'duckdb')}.{quote_ident(table, 'duckdb')}"
        condition = f" WHERE {where}" if where else ""
        return conn.execute(f"SELECT {expression} FROM {qualified}{condition}").fetchone()[0]


# ---------------------------------------------------------------------------------- child processes
@dataclass(frozen=True)
class Child:
    """How one child process ended, from ``wait4``: exit code, wall seconds, peak RSS, CPU seconds."""

    returncode: int
    wall_s: float
    peak_rss_mib: float
    cpu_s: float  # user + system
    timed_out: bool


def run_child(
    cmd: list[str], *, env: dict[str, str], log: Path, timeout_s: float, stdout_null: bool = False
) -> Child:
    """Run ``cmd`` to completion; stderr (and stdout unless ``stdout_null``) goes to ``log``.

    ``os.wait4`` reaps the child, so its rusage is that child's alone (peak RSS covers the children it
    waited for itself). A child still running after ``timeout_s`` is killed.
    """
    killed = threading.Event()
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if stdout_null else out,
            stderr=out,
            env=env,
        )

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return Child(
        proc.returncode, wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, killed.is_set()
    )


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds a running process used so far (``/proc/<pid>/stat``), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime in ticks


def log_tail(log: Path, lines: int = 6) -> str:
    """The last non-empty lines of a child's log, on one line, for a report row."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no output)"
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"


def child_failure(child: Child, log: Path, timeout: float) -> str | None:
    """Why a child failed (killed after ``timeout`` seconds, or its exit code and log's tail), or None."""
    if child.timed_out:
        return f"killed after {timeout:.0f} s (--timeout)"
    if child.returncode != 0:
        return f"exit {child.returncode}: {log_tail(log)}"
    return None


def read_result(folder: Path) -> dict[str, Any]:
    """What a worker wrote to ``folder/result.json``; empty when it wrote nothing readable."""
    try:
        return json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------------------ the StarRocks stand-in
class StandInProcess:
    """The StarRocks stand-in (``cdc-assets starrocks-standin``) in a child process, on free ports,
    keeping its tables in memory. Its CPU is its own, not the measured worker's."""

    def __init__(self, log: Path, env: dict[str, str], password: str) -> None:
        self.log = log
        self.env = env
        self.password = password
        self.proc: subprocess.Popen[str] | None = None
        self.query_port = 0
        self.http_port = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> StandInProcess:
        cli = Path(sys.executable).with_name("cdc-assets")
        cmd = [str(cli), "starrocks-standin", "--query-port", "0", "--http-port", "0", "--be-http-port", "0"]
        cmd += ["--password", self.password]
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=self.env, text=True
            )
        assert self.proc.stdout is not None
        # "StarRocks stand-in ready: query port N (jdbc:...), FE http N, BE http N, user root"
        line = self.proc.stdout.readline()
        if "ready" not in line:
            self.stop()
            raise RuntimeError(f"the StarRocks stand-in did not start: {line.strip()} {log_tail(self.log)}")
        words = line.replace(",", " ").split()
        self.query_port = int(words[words.index("port") + 1])
        self.http_port = int(words[words.index("http") + 1])
        return self

    def count(self, db: str, table: str, where: str = "") -> int:
        """Rows of ``db.table`` (those matching ``where``, a condition the benchmark wrote, when given)."""
        conn = pymysql.connect(host="127.0.0.1", port=self.query_port, user="root", password=self.password)
        try:
            with conn.cursor() as cur:
                condition = f" WHERE {where}" if where else ""
                cur.execute(f"SELECT COUNT(*) FROM {quote_table(db, table)}{condition}")
                return int(cur.fetchone()[0])
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def mysql_source(server: LocalMariaDB, tables: str, server_id: int) -> str:
    """The pipeline's source section up to ``server-id`` (the password read from ``MYSQL_PASSWORD_ENV``);
    a benchmark adds its own ``scan.*`` options after it."""
    return f"""source:
  type: mysql
  hostname: {server.host}
  port: {server.port}
  username: {USER}
  password: ${{{MYSQL_PASSWORD_ENV}}}
  tables: {tables}
  server-id: {server_id}
"""


def starrocks_sink(standin: StandInProcess) -> str:
    """The pipeline's sink section for the stand-in (its password read from ``STARROCKS_PASSWORD_ENV``)."""
    return f"""sink:
  type: starrocks
  jdbc-url: jdbc:mysql://127.0.0.1:{standin.query_port}
  load-url: 127.0.0.1:{standin.http_port}
  username: root
  password: ${{{STARROCKS_PASSWORD_ENV}}}
  table.create.properties.replication_num: 1
"""


# --------------------------------------------------------------------------------- the parent side
class Unavailable(Exception):
    """The path cannot run on this machine (a peer or a tool is not installed); its row says why."""


@dataclass
class PathResult:
    """One path's figures, or why it has none. A benchmark extends it with its ratio fields and names
    them in ``RATIOS``: the JSON puts them after ``rows_per_s``, rounded to 3 places like ``seconds``."""

    RATIOS: ClassVar[tuple[str, ...]] = ()

    path: str
    status: str = "ok"  # ok | not available | failed
    reason: str = ""
    rows: int = 0
    seconds: float = 0.0
    rows_per_s: float = 0.0
    peak_rss_mib: float | None = None
    cpu_s: float | None = None  # the child's own CPU (user + system)
    mariadb_cpu_s: float | None = None  # the source server's CPU while the path ran
    standin_cpu_s: float | None = None  # the StarRocks stand-in's CPU while the path ran
    timing: str = "work"  # work: inside the child, imports excluded; wall: the whole process
    runs: list[float] = field(default_factory=list)  # seconds of each run (--repeat), the best is seconds

    def json(self) -> dict[str, Any]:
        if self.status != "ok":
            return {"status": self.status, "reason": self.reason}
        out: dict[str, Any] = {"status": "ok", "rows": self.rows, "timing": self.timing}
        precise = ("seconds", *self.RATIOS)
        for key in (
            "seconds",
            "rows_per_s",
            *self.RATIOS,
            "peak_rss_mib",
            "cpu_s",
            "mariadb_cpu_s",
            "standin_cpu_s",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 3 if key in precise else 1)
        out["runs"] = [round(s, 3) for s in self.runs]
        return out

    def table_line(self, fmt: str, label: str, ratios: list[str]) -> str:
        """The report table's line of an ``ok`` result in ``fmt``: label, rows, seconds, rows/s, the
        ``ratios`` cells, peak RSS, CPU, the server's CPU; then the stand-in's CPU when it ran."""
        line = fmt.format(
            label,
            f"{self.rows:,}",
            f"{self.seconds:.2f}",
            f"{self.rows_per_s:,.0f}",
            *ratios,
            f"{self.peak_rss_mib:,.0f}",
            f"{self.cpu_s:.1f}",
            "" if self.mariadb_cpu_s is None else f"{self.mariadb_cpu_s:.1f}",
        )
        if self.standin_cpu_s is not None:
            line += f"  (stand-in CPU {self.standin_cpu_s:.1f} s)"
        return line


Subject = TypeVar("Subject")  # what every path reads: a table, a binlog range
Result = TypeVar("Result", bound=PathResult)


class BenchServer(Generic[Subject, Result]):
    """One private MariaDB in ``workdir`` with the benchmark's user, and the runs of every path against a
    ``Subject``, each in a child process and a folder of its own.

    A benchmark's subclass sets ``SCRIPT`` (its file: the children run it with ``--worker``), ``RESULT``
    (its ``PathResult``), ``GENERATED`` (what MariaDB's sequence engine makes, for the error on another
    server) and has a ``run_<path>`` method per path; ``extra_env()`` adds to every child's environment.
    """

    SCRIPT: Path
    RESULT: type[Result]
    GENERATED = "the rows are"

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.server = LocalMariaDB(
            workdir / "mariadb",
            extra_options={
                # The tables stay in memory, as the baseline's did, and the redo log is big enough that
                # generating 10M rows is not a string of checkpoints.
                "innodb_buffer_pool_size": args.buffer_pool,
                "innodb_log_file_size": "512M",
            },
        )
        self.runs = 0

    @classmethod
    @contextmanager
    def running(cls, args: argparse.Namespace) -> Iterator[Self]:
        """A started benchmark in a new temp folder; afterwards the server stops and the folder is
        removed (unless ``--keep``)."""
        workdir = Path(tempfile.mkdtemp(prefix="cdc-bench-"))
        bench = cls(args, workdir)
        try:
            progress(f"starting a private MariaDB in {workdir} ...")
            bench.start()
            yield bench
        finally:
            bench.close()
            if args.keep:
                progress(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)

    def start(self) -> None:
        require_server_binary()
        self.server.start()
        if self.server.flavor != "mariadb":
            raise SystemExit(
                f"{self.GENERATED} generated by MariaDB's sequence engine; {self.server.version} is not MariaDB"
            )
        self.server.create_user(USER, PASSWORD)

    def close(self) -> None:
        self.server.stop()

    def env(self, **extra: str) -> dict[str, str]:
        """A child's environment: this process's, the passwords, ``extra_env()`` and ``extra``."""
        env = dict(os.environ)
        env[MYSQL_PASSWORD_ENV] = PASSWORD
        env[STARROCKS_PASSWORD_ENV] = STARROCKS_PASSWORD
        env.update(self.extra_env())
        env.update(extra)
        return env

    def extra_env(self) -> dict[str, str]:
        return {}

    def run_dir(self, path: str) -> Path:
        self.runs += 1
        folder = self.workdir / f"run{self.runs:03d}-{path}"
        folder.mkdir()
        return folder

    def worker_cmd(self, folder: Path, job: dict[str, Any]) -> list[str]:
        """The command of a child running ``job`` in ``folder`` (it writes ``folder/result.json``)."""
        (folder / "job.json").write_text(json.dumps(job))
        return [sys.executable, str(self.SCRIPT), "--worker", str(folder / "job.json")]

    def measure_all(self, paths: list[str], subject: Subject) -> dict[str, Result]:
        """The fastest of ``--repeat`` runs of each path, or why it did not run. The runs are interleaved
        (every path once per round), so that a machine that speeds up or slows down during the
        benchmark does so for every path alike."""
        results: dict[str, Result] = {}
        times: dict[str, list[float]] = {p: [] for p in paths}
        for round_ in range(self.args.repeat):
            for path in paths:
                if round_ and results[path].status != "ok":
                    continue
                progress(f"running {path} (run {round_ + 1} of {self.args.repeat}) ...")
                result = self.measure_once(path, subject)
                if result.status == "ok":
                    times[path].append(result.seconds)
                    best = results.get(path)
                    if best is None or result.seconds < best.seconds:
                        results[path] = result
                    results[path].runs = times[path]
                else:
                    results[path] = result
                progress(
                    f"  {path}: "
                    + (f"{result.rows_per_s:,.0f} rows/s" if result.status == "ok" else result.reason)
                )
        return results

    def measure_once(self, path: str, subject: Subject) -> Result:
        run: Callable[[Subject], Result] = getattr(self, "run_" + path.replace("-", "_"))
        try:
            return run(subject)
        except Unavailable as exc:
            return self.RESULT(path, status="not available", reason=str(exc))

    def run_path(
        self,
        path: str,
        rows: int,
        cmd: list[str],
        folder: Path,
        *,
        check: Callable[[dict[str, Any]], str | None],
        env: dict[str, str] | None = None,
        stdout_null: bool = False,
    ) -> Result:
        """Run one child that handles ``rows`` rows, ``check`` what it wrote to ``result.json`` (None or
        what is wrong), and turn its figures into a result: the ``seconds`` it measured itself, else the
        whole process's; its peak RSS and CPU; the server's CPU meanwhile."""
        log = folder / "log.txt"
        before = cpu_seconds(self.server.pid)
        child = run_child(
            cmd, env=env or self.env(), log=log, timeout_s=self.args.timeout, stdout_null=stdout_null
        )
        after = cpu_seconds(self.server.pid)
        failed = child_failure(child, log, self.args.timeout)
        if failed:
            return self.RESULT(path, status="failed", reason=failed)
        out = read_result(folder)
        wrong = check(out)
        if wrong:
            return self.RESULT(path, status="failed", reason=wrong)
        work = out.get("seconds")
        seconds = child.wall_s if work is None else float(work)
        return self.RESULT(
            path,
            rows=rows,
            seconds=seconds,
            rows_per_s=rows / seconds,
            peak_rss_mib=child.peak_rss_mib,
            cpu_s=child.cpu_s,
            mariadb_cpu_s=None if before is None or after is None else after - before,
            timing="wall" if work is None else "work",
        )

    def run_with_standin(self, folder: Path, run: Callable[[StandInProcess, str], Result]) -> Result:
        """Start the StarRocks stand-in, ``run(standin, sink)`` (``sink``: the pipeline's sink section for
        it), add the stand-in's CPU meanwhile to the result, and stop the stand-in."""
        standin = StandInProcess(folder / "standin.log", self.env(), STARROCKS_PASSWORD).start()
        try:
            before = cpu_seconds(standin.pid)
            result = run(standin, starrocks_sink(standin))
            after = cpu_seconds(standin.pid)
            if before is not None and after is not None:
                result.standin_cpu_s = after - before
            return result
        finally:
            standin.stop()


def add_server_options(p: argparse.ArgumentParser) -> None:
    """The options of ``BenchServer`` and its children, last in the benchmark's ``--help``."""
    p.add_argument("--buffer-pool", default="2G", help="MariaDB innodb_buffer_pool_size (default 2G)")
    p.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a run is killed (default 3600)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temp folder (server, logs, targets)")
    p.add_argument("--worker", type=Path, metavar="JOB", help=argparse.SUPPRESS)  # the child side
