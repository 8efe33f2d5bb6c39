"""Binlog streaming throughput of cdc_assets beside the raw transfer and python-mysql-replication, and its
commit-to-visible latency under a steady load.

    .venv/bin/python bench/streaming.py [--rows 1000000] [--repeat 1] [--latency-seconds 60]

A private MariaDB (``cdc_assets.local_mariadb``) in a temp folder gets an empty table of the baselines'
7-column shape (``_common.CREATE_TABLE``). The restart point at the binlog end is taken, then MariaDB
writes ``--rows`` row events into the binlog: 70 % inserts (``INSERT ... SELECT`` from the sequence
engine, ``--txn-rows`` rows per transaction) and 30 % updates of those rows (full before and after
images, ``--txn-rows`` per transaction). Each path then reads exactly that range of the binlog, each in
a child process of its own (peak RSS and CPU from ``wait4``), best of ``--repeat``, runs interleaved:

- ``raw``: ``mariadb-binlog --read-from-remote-server`` of the range to /dev/null: the transfer limit;
- ``pmr``: python-mysql-replication's ``BinLogStreamReader`` over the range, every row event's row
  dicts built (``ev.rows``) and nothing else: the reference the target is expressed in;
- ``project-duckdb`` / ``project-starrocks``: this project's streaming, ``RunContext.discover()`` (which
  creates the target table) and ``engine.streaming.stream(ctx, until=<range end>)`` from a pipeline
  YAML (``scan.startup.mode: latest-offset``, the restart point at the range start saved in the
  pipeline's state, as the product saves it), into a DuckDB file or into the StarRocks stand-in's
  Stream Load endpoint (the stand-in runs in a process of its own; its CPU is shown beside).

Seconds are measured inside the child from before it builds its pipeline (or stream reader) until the
target is closed, imports excluded; for ``raw`` the whole process. Every run is checked: the stream
must report every row event, and the target must hold the inserted rows with exactly the updated ones
changed (``qty < 0``).

Latency: a driver process commits ``--latency-rate`` rows/s (default 5,000) for ``--latency-seconds``
in small transactions (``--latency-txn-rows``, half inserts, half updates of rows inserted ten
transactions earlier), paced on the wall clock, while the project streams into DuckDB with the
default flush settings (``stream()``'s defaults; the DuckDB sink flushes every second). The driver
records for every transaction the wall-clock time when its ``COMMIT`` returned and the transaction's
GTID (``@@last_gtid``). The streaming worker records, in its ``on_flush`` callback, the wall-clock time
and the GTID set of each flush's restart point: ``on_flush`` runs after the sink's transaction has
committed (and the restart point was saved), so from that moment every transaction up to that GTID
is visible to any reader of the target. A transaction's latency is the time of the first flush
covering its GTID minus its commit time (both processes read the same clock). Polling the target from
another process instead is not possible without disturbing what is measured: a DuckDB file is
opened by one process at a time, and a poller holding it would make the sink wait. After the run the
target is checked: every inserted row present, the highest transaction number (``qty``) applied.

Peak RSS across sizes: a second range of ``--rss-rows`` row events (default three times ``--rows``;
0 skips it) is written, and each project path streams it once; its peak RSS is printed beside the one
of the main range, with the ratio of the larger range's to the smaller's (bounded: within 1.25x, as
the snapshot benchmark asks of its worker). The stream holds at most one flush's changes plus one write
under way, whatever the size of the range.

stdout: a table, the latency figures, the RSS lines, which targets are met, and as the LAST line one JSON
object holding every figure. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import bisect
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import _common
from _common import (
    CREATE_TABLE,
    INSERT_ROWS,
    MIB,
    MYSQL_PASSWORD_ENV,
    PASSWORD,
    USER,
    BenchServer,
    Child,
    StandInProcess,
    Unavailable,
    add_server_options,
    child_failure,
    duckdb_count,
    duckdb_scalar,
    log_tail,
    mysql_source,
    progress,
    read_result,
    run_child,
    yes_no,
)

from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.local_mariadb import LocalMariaDB

PATHS = ("raw", "pmr", "project-duckdb", "project-starrocks")
LABELS = {
    "raw": "mariadb-binlog (raw)",
    "pmr": "python-mysql-repl.",
    "project-duckdb": "project -> DuckDB",
    "project-starrocks": "project -> StarRocks",
}
DB = "bench"
ROOT_PASSWORD_ENV = "CDC_BENCH_ROOT_PASSWORD"  # the driver writes as root (the cdc user only reads)
INSERT_SHARE = 0.7
TARGET_X_PMR = 5.0
TARGET_P99_S = 2.0
TARGET_RSS_RATIO = 1.25
PROJECT_PATHS = ("project-duckdb", "project-starrocks")
#: the driver "held" the rate when it committed at least this share of it
RATE_HELD = 0.95
#: an update in latency transaction k changes rows inserted by transaction k - UPDATE_LAG
UPDATE_LAG = 10
#: binlog client server ids (each distinct from the server's own, 1)
SERVER_IDS = {"pmr": 5801, "project-duckdb": 5802, "project-starrocks": 5803, "latency": 5804}

# Latency transactions: rows of transaction k carry k in qty, so the target's max(qty) is the last one
# applied. The values otherwise look like the benchmark table's (a tenth of the notes NULL).
LATENCY_INSERT = """INSERT INTO {table}
SELECT seq, CONCAT('order-', seq), %s, (seq * 37 %% 100000000) / 100, NOW(),
       IF(seq %% 10 = 0, NULL, CONCAT('größer als 5 kg ', MD5(seq))), CAST(seq %% 1000003 AS DOUBLE) / 64
FROM {sequence}"""
LATENCY_UPDATE = "UPDATE {table} SET qty = %s, score = score + 1 WHERE id BETWEEN %s AND %s"


@dataclass(frozen=True)
class BinlogRange:
    """The generated binlog range: ``start`` and ``end`` are restart points (``RestartPoint.to_dict()``)."""

    table: str
    inserts: int
    updates: int
    start: dict[str, Any]
    end: dict[str, Any]
    files: list[str]
    mib: float

    @property
    def rows(self) -> int:
        return self.inserts + self.updates


@dataclass
class PathResult(_common.PathResult):
    RATIOS: ClassVar[tuple[str, ...]] = ("ratio_to_raw", "ratio_to_pmr")

    ratio_to_raw: float | None = None
    ratio_to_pmr: float | None = None


def mariadb_seq(gtids: str, domain: int) -> int | None:
    """The sequence number of ``domain`` in MariaDB GTID text (``0-1-57`` or ``0-1-57,1-2-9``)."""
    for element in gtids.split(","):
        parts = element.strip().split("-")
        if len(parts) == 3 and parts[0].isdigit() and int(parts[0]) == domain:
            return int(parts[2])
    return None


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(sorted_values) * share // 1))  # ceil
    return sorted_values[int(rank) - 1]


# ------------------------------------------------------------------------------------------ the parent
class Bench(BenchServer[BinlogRange, PathResult]):
    """One private MariaDB, the generated binlog range, and the runs of every path, each in its folder."""

    SCRIPT = Path(__file__).resolve()
    RESULT = PathResult
    GENERATED = "the rows are"

    def extra_env(self) -> dict[str, str]:
        return {ROOT_PASSWORD_ENV: self.server.password}

    # ---------------------------------------------------------------------------- the binlog range
    def binlog_end(self) -> dict[str, Any]:
        """The restart point at the binlog end now, as the project's ``latest-offset`` takes it."""
        from cdc_assets.config import load_pipeline
        from cdc_assets.engine.context import connection_settings
        from cdc_assets.mysql.connection import connect
        from cdc_assets.mysql.server import current_position, inspect_server

        folder = self.workdir / "position"
        folder.mkdir(exist_ok=True)
        pipeline = write_pipeline(folder, self.server, f"{DB}.nothing", DUCKDB_SINK, SERVER_IDS["latency"])
        cfg = load_pipeline(pipeline, env={MYSQL_PASSWORD_ENV: PASSWORD})
        settings = connection_settings(cfg)
        with connect(settings) as conn:
            return current_position(conn, settings, inspect_server(conn, settings)).to_dict()

    def binlog_files(self, start: dict[str, Any], end: dict[str, Any]) -> tuple[list[str], float]:
        """The binlog files from ``start``'s to ``end``'s, and the MiB of the range."""
        files = [(str(name), int(size)) for name, size, *_ in self.server.execute("SHOW BINARY LOGS")]
        names = [name for name, _ in files]
        first, last = names.index(start["file"]), names.index(end["file"])
        chosen = files[first : last + 1]
        size = sum(s for _, s in chosen) - start["pos"] - (chosen[-1][1] - end["pos"])
        return [name for name, _ in chosen], round(size / MIB, 1)

    def generate(self, rows: int, txn_rows: int) -> BinlogRange:
        """Create an empty ``bench.s_<rows>``, take the binlog end, write ``rows`` row events, take the end."""
        inserts = max(1, round(rows * INSERT_SHARE))
        updates = rows - inserts
        name = f"s_{rows}"
        table = quote_table(DB, name)
        conn = self.server.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(DB)} CHARACTER SET utf8mb4")
                cur.execute(f"DROP TABLE IF EXISTS {table}")
                cur.execute(CREATE_TABLE.format(table=table))
            start = self.binlog_end()
            progress(f"writing {inserts:,} inserts and {updates:,} updates into the binlog ...")
            started = time.perf_counter()
            with conn.cursor() as cur:  # autocommit: one transaction per statement
                for first in range(1, inserts + 1, txn_rows):
                    last = min(inserts, first + txn_rows - 1)
                    cur.execute(
                        INSERT_ROWS.format(table=table, sequence=quote_table(DB, f"seq_{first}_to_{last}"))
                    )
                for first in range(1, updates + 1, txn_rows):
                    last = min(updates, first + txn_rows - 1)
                    cur.execute(
                        f"UPDATE {table} SET qty = -1 - qty, score = score + 0.25 WHERE id BETWEEN %s AND %s",
                        (first, last),
                    )
            progress(f"  written in {time.perf_counter() - started:.1f} s")
        finally:
            conn.close()
        end = self.binlog_end()
        files, mib = self.binlog_files(start, end)
        return BinlogRange(name, inserts, updates, start, end, files, mib)

    # ------------------------------------------------------------------------------- measuring
    def measure_all(self, paths: list[str], rng: BinlogRange) -> dict[str, PathResult]:
        """The fastest of ``--repeat`` runs of each path, or why it did not run; runs interleaved (every
        path once per round), so a machine that speeds up or slows down does so for every path."""
        results = super().measure_all(paths, rng)
        for r in results.values():
            if r.status == "ok":
                for base, attr in (("raw", "ratio_to_raw"), ("pmr", "ratio_to_pmr")):
                    if results.get(base) is not None and results[base].status == "ok":
                        setattr(r, attr, r.rows_per_s / results[base].rows_per_s)
        return results

    # ------------------------------------------------------------------------------------ the paths
    def run_raw(self, rng: BinlogRange) -> PathResult:
        client = shutil.which("mariadb-binlog") or shutil.which("mysqlbinlog")
        if client is None:
            raise Unavailable("no `mariadb-binlog` on PATH (apt-get install mariadb-client)")
        folder = self.run_dir("raw")
        cmd = [client, "--no-defaults", "--read-from-remote-server", "-h", self.server.host]
        cmd += ["-P", str(self.server.port), "-u", USER]
        cmd += [f"--start-position={rng.start['pos']}", f"--stop-position={rng.end['pos']}", *rng.files]
        # Its output goes to /dev/null: nothing to count; a clean exit means it read the whole range.
        return self.run_path(
            "raw",
            rng.rows,
            cmd,
            folder,
            check=lambda _: None,
            env=self.env(MYSQL_PWD=PASSWORD),
            stdout_null=True,
        )

    def run_pmr(self, rng: BinlogRange) -> PathResult:
        folder = self.run_dir("pmr")
        job = {
            "kind": "pmr",
            "host": self.server.host,
            "port": self.server.port,
            "db": DB,
            "table": rng.table,
            "start": rng.start,
            "end": rng.end,
            "server_id": SERVER_IDS["pmr"],
        }
        return self.run_path(
            "pmr", rng.rows, self.worker_cmd(folder, job), folder, check=lambda out: row_events(out, rng)
        )

    def run_project_duckdb(self, rng: BinlogRange) -> PathResult:
        folder = self.run_dir("project-duckdb")
        target = folder / "target.duckdb"
        pipeline = write_pipeline(
            folder, self.server, f"{DB}.{rng.table}", DUCKDB_SINK, SERVER_IDS["project-duckdb"]
        )
        job = {"kind": "project", "pipeline": str(pipeline), "start": rng.start, "end": rng.end}

        def check(out: dict[str, Any]) -> str | None:
            return row_events(out, rng) or target_rows(
                rng, duckdb_count(target, rng.table), duckdb_count(target, rng.table, "qty < 0")
            )

        return self.run_path("project-duckdb", rng.rows, self.worker_cmd(folder, job), folder, check=check)

    def run_project_starrocks(self, rng: BinlogRange) -> PathResult:
        folder = self.run_dir("project-starrocks")

        def run(standin: StandInProcess, sink: str) -> PathResult:
            pipeline = write_pipeline(
                folder, self.server, f"{DB}.{rng.table}", sink, SERVER_IDS["project-starrocks"]
            )
            job = {"kind": "project", "pipeline": str(pipeline), "start": rng.start, "end": rng.end}

            def check(out: dict[str, Any]) -> str | None:
                return row_events(out, rng) or target_rows(
                    rng, standin.count(DB, rng.table), standin.count(DB, rng.table, "qty < 0")
                )

            return self.run_path(
                "project-starrocks", rng.rows, self.worker_cmd(folder, job), folder, check=check
            )

        return self.run_with_standin(folder, run)

    # ------------------------------------------------------------------------------------ latency
    def measure_latency(self) -> dict[str, Any]:
        """The driver commits a steady load while the project streams it into DuckDB (see the docstring)."""
        args = self.args
        folder = self.run_dir("latency")
        name = "latency"
        table = quote_table(DB, name)
        self.server.execute(f"DROP TABLE IF EXISTS {table}")
        self.server.execute(CREATE_TABLE.format(table=table))
        pipeline = write_pipeline(folder, self.server, f"{DB}.{name}", DUCKDB_SINK, SERVER_IDS["latency"])
        done_file = folder / "driver-done.json"
        ready_file = folder / "stream-ready"
        stream_dir = folder / "stream"
        driver_dir = folder / "driver"
        stream_dir.mkdir()
        driver_dir.mkdir()
        stream_job = {
            "kind": "latency-stream",
            "pipeline": str(pipeline),
            "start": self.binlog_end(),
            "done_file": str(done_file),
            "ready_file": str(ready_file),
            "give_up_s": args.latency_seconds + args.timeout,
        }
        driver_job = {
            "kind": "driver",
            "host": self.server.host,
            "port": self.server.port,
            "user": self.server.user,
            "db": DB,
            "table": name,
            "rate": args.latency_rate,
            "txn_rows": args.latency_txn_rows,
            "seconds": args.latency_seconds,
            "done_file": str(done_file),
        }
        streamed: dict[str, Child] = {}
        stream_log = stream_dir / "log.txt"
        worker = threading.Thread(
            target=lambda: streamed.update(
                child=run_child(
                    self.worker_cmd(stream_dir, stream_job),
                    env=self.env(),
                    log=stream_log,
                    timeout_s=args.latency_seconds + args.timeout,
                )
            ),
            daemon=True,
        )
        progress(
            f"latency: streaming into DuckDB while a driver commits {args.latency_rate:,} rows/s "
            f"for {args.latency_seconds:g} s ..."
        )
        worker.start()
        deadline = time.monotonic() + args.timeout
        while not ready_file.exists() and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not ready_file.exists():
            worker.join(timeout=args.timeout)
            child = streamed.get("child")
            why = child_failure(child, stream_log, args.timeout) if child else None
            return {
                "status": "failed",
                "reason": f"the streaming worker never started: {why or log_tail(stream_log)}",
            }
        time.sleep(1.0)  # the worker is in stream(): its binlog connection opens within this second
        driver_log = driver_dir / "log.txt"
        driver = run_child(
            self.worker_cmd(driver_dir, driver_job),
            env=self.env(),
            log=driver_log,
            timeout_s=args.latency_seconds + args.timeout,
        )
        failed = child_failure(driver, driver_log, args.latency_seconds + args.timeout)
        if failed:
            done_file.write_text(json.dumps({"abandon": True}))  # let the worker stop
            worker.join(timeout=args.timeout)
            return {"status": "failed", "reason": f"driver: {failed}"}
        worker.join(timeout=args.latency_seconds + args.timeout + 30)
        child = streamed.get("child")
        if child is None:
            return {"status": "failed", "reason": "the streaming worker did not finish"}
        failed = child_failure(child, stream_log, args.latency_seconds + args.timeout)
        if failed:
            return {"status": "failed", "reason": f"streaming worker: {failed}"}
        drove, seen = read_result(driver_dir), read_result(stream_dir)
        out = latency_figures(drove, seen)
        if out["status"] != "ok":
            return out
        target = folder / "target.duckdb"
        rows, last = duckdb_count(target, name), duckdb_scalar(target, name, "max(qty)")
        if rows != drove["inserted"] or last != drove["transactions"]:
            return {
                "status": "failed",
                "reason": f"the target holds {rows} rows and max(qty) {last}, not {drove['inserted']:,} rows "
                f"and {drove['transactions']:,}",
            }
        out.update(
            worker_peak_rss_mib=round(child.peak_rss_mib, 1),
            worker_cpu_s=round(child.cpu_s, 1),
            driver_cpu_s=round(driver.cpu_s, 1),
        )
        return out


DUCKDB_SINK = "sink:\n  type: duckdb\n  path: target.duckdb\n"


def write_pipeline(folder: Path, server: LocalMariaDB, tables: str, sink: str, server_id: int) -> Path:
    """The project's pipeline file: streaming from the binlog end (``latest-offset``), state in ``folder``."""
    path = folder / "pipeline.yaml"
    path.write_text(f"""{mysql_source(server, tables, server_id)}  scan.startup.mode: latest-offset
{sink}
pipeline:
  name: bench streaming {tables}
""")
    return path


def row_events(out: dict[str, Any], rng: BinlogRange) -> str | None:
    if out.get("rows") != rng.rows:
        return f"read {out.get('rows')} row events, not {rng.rows:,}"
    return None


def target_rows(rng: BinlogRange, rows: int | None, updated: int | None) -> str | None:
    if rows != rng.inserts or updated != rng.updates:
        return (
            f"the target holds {rows} rows, {updated} of them updated; expected {rng.inserts:,} rows, "
            f"{rng.updates:,} updated"
        )
    return None


def latency_figures(drove: dict[str, Any], seen: dict[str, Any]) -> dict[str, Any]:
    """Commit-to-visible seconds of every driver transaction: the first flush whose GTID covers it."""
    commits = drove.get("commits") or []
    if not commits:
        return {"status": "failed", "reason": "the driver committed nothing"}
    domain = drove["domain"]
    flushes = sorted((t, mariadb_seq(g, domain)) for t, g in seen.get("flushes", []) if g)
    flush_times = [t for t, s in flushes if s is not None]
    flush_seqs = [s for _, s in flushes if s is not None]
    if seen.get("flushes") and not flush_seqs:
        return {
            "status": "failed",
            "reason": f"no flush's restart point carried a GTID of domain {domain}: visibility cannot be "
            "matched to the driver's transactions",
        }
    # A later flush never covers less (flushes go forward), so the first covering one is found by bisect.
    latencies, missing = [], 0
    for committed, seq in commits:
        i = bisect.bisect_left(flush_seqs, seq)
        if i == len(flush_seqs):
            missing += 1
        else:
            latencies.append(flush_times[i] - committed)
    if missing:
        return {
            "status": "failed",
            "reason": f"{missing:,} of {len(commits):,} transactions never became visible",
        }
    latencies.sort()
    rows = drove["inserted"] + drove["updated"]
    rate = rows / drove["seconds"]
    return {
        "status": "ok",
        "method": "on_flush GTID vs driver commit time",
        "transactions": len(commits),
        "rows": rows,
        "driver_seconds": round(drove["seconds"], 2),
        "target_rate": drove["rate"],
        "achieved_rate": round(rate, 1),
        "rate_held": rate >= RATE_HELD * drove["rate"],
        "flushes": len(flush_seqs),
        "p50_s": round(percentile(latencies, 0.50), 3),
        "p99_s": round(percentile(latencies, 0.99), 3),
        "max_s": round(latencies[-1], 3),
        "mean_s": round(sum(latencies) / len(latencies), 3),
    }


# ------------------------------------------------------------------------------------------ workers
def run_worker(job_path: Path) -> int:
    """The child side: run what the job describes; write its figures to ``result.json`` beside it."""
    job = json.loads(job_path.read_text())
    kinds: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "pmr": worker_pmr,
        "project": worker_project,
        "latency-stream": worker_latency_stream,
        "driver": worker_driver,
    }
    if job["kind"] not in kinds:
        raise SystemExit(f"unknown worker kind {job['kind']!r}")
    out = kinds[job["kind"]](job)
    (job_path.parent / "result.json").write_text(json.dumps(out))
    return 0


def worker_pmr(job: dict[str, Any]) -> dict[str, Any]:
    """python-mysql-replication alone: every row event of the range decoded to row dicts."""
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import XidEvent
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    end = (job["end"]["file"], job["end"]["pos"])
    started = time.perf_counter()
    reader = BinLogStreamReader(
        connection_settings={
            "host": job["host"],
            "port": job["port"],
            "user": USER,
            "passwd": os.environ[MYSQL_PASSWORD_ENV],
        },
        server_id=job["server_id"],
        resume_stream=True,
        blocking=False,
        log_file=job["start"]["file"],
        log_pos=job["start"]["pos"],
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent],
        only_schemas=[job["db"]],
        only_tables=[job["table"]],
        is_mariadb=False,  # as the project reads it: by file and position
    )
    rows = 0
    try:
        for ev in reader:
            if isinstance(ev, XidEvent):
                if (reader.log_file, ev.packet.log_pos) >= end:  # same base name, zero-padded numbers
                    break
                continue
            rows += len(ev.rows)  # ev.rows decodes the event into row dicts
    finally:
        reader.close()
    return {"rows": rows, "seconds": time.perf_counter() - started}


def _project_context(job: dict[str, Any]):
    """The project's context from the pipeline file, target tables created, restart point saved."""
    from cdc_assets.config import load_pipeline
    from cdc_assets.core.offsets import RestartPoint
    from cdc_assets.engine.context import RunContext

    ctx = RunContext(load_pipeline(Path(job["pipeline"])))
    try:
        ctx.discover()  # checks the server and creates the target table, as `cdc-assets sync` does
        ctx.state.save_restart_point(RestartPoint.from_dict(job["start"]))
    except BaseException:
        ctx.close()
        raise
    return ctx


def worker_project(job: dict[str, Any]) -> dict[str, Any]:
    from cdc_assets.core.offsets import RestartPoint
    from cdc_assets.engine.streaming import stream

    started = time.perf_counter()
    ctx = _project_context(job)
    try:
        result = stream(ctx, until=RestartPoint.from_dict(job["end"]))
    finally:
        ctx.close()
    seconds = time.perf_counter() - started
    return {"rows": result.rows, "seconds": seconds, "flushes": result.flushes, "caught_up": result.caught_up}


def worker_latency_stream(job: dict[str, Any]) -> dict[str, Any]:
    """Stream until the driver's last transaction is flushed; record each flush's time and GTID set."""
    from cdc_assets.engine.streaming import FlushInfo, stream

    done_file = Path(job["done_file"])
    give_up = time.monotonic() + job["give_up_s"]
    flushes: list[tuple[float, str]] = []
    last: dict[str, Any] = {}

    def on_flush(info: FlushInfo) -> None:
        gtids = info.point.gtid_set
        flushes.append((time.time(), "" if gtids is None else str(gtids)))

    def should_stop() -> bool:
        if not last and done_file.exists():
            last.update(json.loads(done_file.read_text()))
        if last.get("abandon") or time.monotonic() > give_up:
            return True
        if not last or not flushes:
            return False
        seq = mariadb_seq(flushes[-1][1], last["domain"])
        return seq is not None and seq >= last["seq"]

    ctx = _project_context(job)
    try:
        Path(job["ready_file"]).touch()
        result = stream(ctx, should_stop=should_stop, on_flush=on_flush)
    finally:
        ctx.close()
    return {"rows": result.rows, "flushes": flushes}


def worker_driver(job: dict[str, Any]) -> dict[str, Any]:
    """Commit ``rate`` rows/s in transactions of ``txn_rows`` (half inserts, half updates) for ``seconds``,
    paced on the wall clock; record each commit's time and GTID."""
    import pymysql

    table = quote_table(job["db"], job["table"])
    inserts = -(-job["txn_rows"] // 2)
    updates = job["txn_rows"] - inserts
    period = job["txn_rows"] / job["rate"]
    conn = pymysql.connect(
        host=job["host"],
        port=job["port"],
        user=job["user"],
        password=os.environ.get(ROOT_PASSWORD_ENV, ""),
        autocommit=False,
    )
    commits: list[tuple[float, int]] = []
    updated = 0
    domain = 0
    try:
        with conn.cursor() as cur:
            t0 = time.time()
            k = 0
            while k * period < job["seconds"]:
                wait = t0 + k * period - time.time()
                if wait > 0:
                    time.sleep(wait)
                k += 1
                first = (k - 1) * inserts + 1
                sequence = quote_table(job["db"], f"seq_{first}_to_{first + inserts - 1}")
                cur.execute(LATENCY_INSERT.format(table=table, sequence=sequence), (k,))
                j = k - UPDATE_LAG if k > UPDATE_LAG else k  # rows of an earlier transaction (or this one)
                lo = (j - 1) * inserts + 1
                updated += cur.execute(LATENCY_UPDATE.format(table=table), (k, lo, lo + updates - 1))
                conn.commit()
                committed = time.time()
                cur.execute("SELECT @@last_gtid")
                gtid = str(cur.fetchone()[0])
                domain = int(gtid.split("-")[0])
                commits.append((committed, mariadb_seq(gtid, domain) or 0))
            seconds = time.time() - t0
    finally:
        conn.close()
    done = Path(job["done_file"])
    done.with_suffix(".tmp").write_text(
        json.dumps({"domain": domain, "seq": commits[-1][1] if commits else 0})
    )
    done.with_suffix(".tmp").replace(done)
    return {
        "commits": commits,
        "domain": domain,
        "transactions": len(commits),
        "inserted": len(commits) * inserts,
        "updated": updated,
        "seconds": seconds,
        "rate": job["rate"],
    }


# ------------------------------------------------------------------------------------------ the report
def measure_rss(bench: Bench, main: BinlogRange, results: dict[str, PathResult], rows: int, txn_rows: int):
    """Peak RSS of each project path over the main range (from ``results``) and over a range of ``rows``
    row events, streamed once, and the ratio of the larger range's to the smaller's."""
    rng = bench.generate(rows, txn_rows)
    out: dict[str, Any] = {"rows": [main.rows, rng.rows]}
    for path in PROJECT_PATHS:
        first = results.get(path)
        progress(f"peak RSS run: {path} over {rng.rows:,} row events ...")
        other = (
            bench.run_project_duckdb(rng) if path == "project-duckdb" else bench.run_project_starrocks(rng)
        )
        if first is None or first.status != "ok" or other.status != "ok":
            why = other.reason if other.status != "ok" else "the main range's run failed"
            out[path] = {"status": "failed", "reason": why}
            continue
        peaks = {main.rows: first.peak_rss_mib, rng.rows: other.peak_rss_mib}
        small, large = peaks[min(peaks)], peaks[max(peaks)]
        ratio = large / small if small and large and main.rows != rng.rows else None
        out[path] = {
            "status": "ok",
            "peak_rss_mib": {str(k): round(v, 1) for k, v in peaks.items() if v is not None},
            "rows_per_s": round(other.rows_per_s),
            "ratio": None if ratio is None else round(ratio, 3),
        }
        progress(f"  {other.peak_rss_mib:,.1f} MiB, {other.rows_per_s:,.0f} rows/s")
    return out


def render_rss(rss: dict[str, Any] | None) -> list[str]:
    if rss is None:
        return ["peak RSS across sizes: skipped (--rss-rows 0)"]
    small, large = rss["rows"]
    lines = [f"peak RSS of the streaming worker, {small:,} vs {large:,} row events:"]
    for path in PROJECT_PATHS:
        r = rss[path]
        if r["status"] != "ok":
            lines.append(f"  {LABELS[path]:<21} {r['status']}: {r['reason']}")
            continue
        peaks = r["peak_rss_mib"]
        ratio = "" if r["ratio"] is None else f"  ratio {r['ratio']:.2f}"
        lines.append(
            f"  {LABELS[path]:<21} {peaks.get(str(small), float('nan')):,.0f} MiB vs "
            f"{peaks.get(str(large), float('nan')):,.0f} MiB{ratio}  ({r['rows_per_s']:,} rows/s on the larger)"
        )
    return lines


def targets(
    results: dict[str, PathResult], latency: dict[str, Any] | None, rss: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Each target: true or false, or null when what it compares was not measured."""
    out: dict[str, Any] = {}
    for path in ("project-duckdb", "project-starrocks"):
        r = results.get(path)
        ratio = r.ratio_to_pmr if r is not None and r.status == "ok" else None
        out[f"{path}_5x_pmr"] = None if ratio is None else ratio >= TARGET_X_PMR
    ok = latency is not None and latency.get("status") == "ok"
    out["latency_p99_within_2s"] = latency["p99_s"] <= TARGET_P99_S if ok else None  # type: ignore[index]
    out["driver_held_rate"] = latency["rate_held"] if ok else None  # type: ignore[index]
    ratios = [] if rss is None else [rss[p].get("ratio") for p in PROJECT_PATHS]
    out["rss_within_1.25x"] = (
        None if not ratios or None in ratios else all(r <= TARGET_RSS_RATIO for r in ratios)
    )
    return out


def render(
    rng: BinlogRange,
    results: dict[str, PathResult],
    latency: dict[str, Any] | None,
    goals: dict[str, Any],
    rss: dict[str, Any] | None = None,
) -> str:
    fmt = "{:<21} {:>10} {:>8} {:>10} {:>7} {:>7} {:>8} {:>6} {:>9}"
    lines = [
        f"binlog range of {DB}.{rng.table}: {rng.rows:,} row events ({rng.inserts:,} inserts, {rng.updates:,} "
        f"updates with both images), {rng.mib} MiB in {', '.join(rng.files)}",
        "",
        fmt.format("path", "rows", "seconds", "rows/s", "x raw", "x pmr", "RSS MiB", "CPU s", "mariadbd"),
        "-" * 94,
    ]
    for path in PATHS:
        r = results.get(path)
        if r is None:
            continue
        if r.status != "ok":
            lines.append(f"{LABELS[path]:<21} {r.status}: {r.reason}")
            continue
        ratios = [
            "" if r.ratio_to_raw is None else f"{r.ratio_to_raw:.3f}",
            "" if r.ratio_to_pmr is None else f"{r.ratio_to_pmr:.2f}",
        ]
        lines.append(r.table_line(fmt, LABELS[path], ratios))
    lines += [
        "",
        "seconds: inside the child, imports excluded; raw: the whole process. RSS: the child's peak (wait4).",
        "",
    ]
    if latency is None:
        lines.append("latency: skipped (--latency-seconds 0)")
    elif latency["status"] != "ok":
        lines.append(f"latency: {latency['status']}: {latency['reason']}")
    else:
        held = "" if latency["rate_held"] else "  (the driver could NOT hold the target rate)"
        lines += [
            f"latency (commit -> visible in DuckDB, default flush settings): p50 {latency['p50_s']:.3f} s, "
            f"p99 {latency['p99_s']:.3f} s, max {latency['max_s']:.3f} s over {latency['transactions']:,} "
            f"transactions, {latency['flushes']:,} flushes",
            f"  driver: {latency['achieved_rate']:,.0f} rows/s achieved of {latency['target_rate']:,} for "
            f"{latency['driver_seconds']:g} s{held}; streaming worker peak RSS "
            f"{latency['worker_peak_rss_mib']:,.0f} MiB, CPU {latency['worker_cpu_s']:.1f} s",
        ]
    lines += ["", *render_rss(rss)]
    lines += [
        "",
        "targets:",
        f"  project into DuckDB >= {TARGET_X_PMR:g} x python-mysql-replication: {yes_no(goals['project-duckdb_5x_pmr'])}",
        f"  project into the StarRocks stand-in >= {TARGET_X_PMR:g} x python-mysql-replication: "
        + yes_no(goals["project-starrocks_5x_pmr"]),
        f"  latency p99 <= {TARGET_P99_S:g} s: {yes_no(goals['latency_p99_within_2s'])}"
        + ("" if goals["driver_held_rate"] in (None, True) else " (at a lower rate than asked)"),
        f"  peak RSS of the larger range within {TARGET_RSS_RATIO:g}x of the smaller: "
        + yes_no(goals["rss_within_1.25x"]),
    ]
    return "\n".join(lines)


def versions() -> dict[str, str]:
    out = {}
    for dist in ("cdc-assets", "mysql-replication", "duckdb", "pymysql"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    client = shutil.which("mariadb-binlog") or shutil.which("mysqlbinlog")
    if client:
        found = subprocess.run([client, "--version"], capture_output=True, text=True, check=False)
        out["mariadb-binlog"] = found.stdout.strip()
    return out


# ------------------------------------------------------------------------------------------ main
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--rows", type=int, default=1_000_000, help="row events in the binlog range (default 1000000)"
    )
    p.add_argument("--txn-rows", type=int, default=1000, help="rows per generated transaction (default 1000)")
    p.add_argument("--repeat", type=int, default=1, help="runs per path, the fastest kept (default 1)")
    p.add_argument(
        "--latency-seconds",
        type=float,
        default=60.0,
        help="how long the driver commits for the latency run (default 60; 0 skips it)",
    )
    p.add_argument("--latency-rate", type=int, default=5000, help="rows/s the driver commits (default 5000)")
    p.add_argument(
        "--latency-txn-rows", type=int, default=50, help="rows per driver transaction (default 50)"
    )
    p.add_argument(
        "--rss-rows",
        type=int,
        default=None,
        help="row events of the second range the peak RSS is compared over (default 3 x --rows; 0 skips)",
    )
    add_server_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.worker:
        return run_worker(args.worker)
    if args.rows < 2 or args.repeat < 1 or args.txn_rows < 1 or args.latency_seconds < 0:
        raise SystemExit(
            "--rows must be at least 2, --repeat and --txn-rows at least 1, --latency-seconds >= 0"
        )
    if args.rss_rows is not None and args.rss_rows < 0:
        raise SystemExit("--rss-rows must be 0 (skip) or more")
    if args.latency_rate < 1 or args.latency_txn_rows < 2:
        raise SystemExit("--latency-rate must be at least 1 and --latency-txn-rows at least 2")
    with Bench.running(args) as bench:
        rng = bench.generate(args.rows, args.txn_rows)
        results = bench.measure_all(list(PATHS), rng)
        latency = bench.measure_latency() if args.latency_seconds > 0 else None
        rss_rows = 3 * args.rows if args.rss_rows is None else args.rss_rows
        rss = measure_rss(bench, rng, results, rss_rows, args.txn_rows) if rss_rows > 0 else None
        goals = targets(results, latency, rss)
        print(render(rng, results, latency, goals, rss))
        summary = {
            "benchmark": "streaming",
            "table": f"{DB}.{rng.table}",
            "rows": rng.rows,
            "inserts": rng.inserts,
            "updates": rng.updates,
            "txn_rows": args.txn_rows,
            "binlog_mib": rng.mib,
            "binlog_files": rng.files,
            "repeat": args.repeat,
            "server": bench.server.version,
            "cpus": os.cpu_count(),
            "paths": {path: r.json() for path, r in results.items()},
            "latency": latency,
            "rss": rss,
            "targets": goals,
            "versions": versions(),
        }
        print(json.dumps(summary, ensure_ascii=False), flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
