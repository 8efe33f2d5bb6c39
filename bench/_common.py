"""Helpers the benchmarks share: the benchmark table, child processes measured with ``wait4``, the
StarRocks stand-in in a process of its own, and row counts of DuckDB targets.

The table (baselines.md's shape) has 7 columns: BIGINT pk, VARCHAR(64), INT, DECIMAL(12,2), DATETIME,
TEXT, DOUBLE. MariaDB fills it from its sequence engine (no Python per row), the same on every run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pymysql

from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.local_mariadb import LocalMariaDB

MIB = 1024 * 1024
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
