"""Binlog decoding speed: python-mysql-replication decode-only vs this project's rows decoder.

Usage: ``python bench/decode.py [--rows N] [--updates M] [--repeat R]``

A private MariaDB (``cdc_assets.local_mariadb``) writes a binlog of N row inserts and M row updates
(full before and after images) of the baselines' 7-column table (bench/_common.py), then every path
reads that binlog range from the server, in one run, interleaved (each path once per round, the
fastest of ``--repeat`` rounds kept):

- ``pymysqlreplication``: python-mysql-replication 1.0.17's ``BinLogStreamReader``, every row
  decoded to its dict (``ev.rows``), nothing else (the baseline: "decode only");
- ``project-exact``: this project's ``BinlogReader`` with the generated decoder switched off
  (python-mysql-replication + ``row_converter``, the reader's path before the generated decoder);
- ``project``: this project's ``BinlogReader`` as it runs: generated per-table-map decoder, target
  values (``RowsRead`` of ``RowChange``).

A row is a row change (an update counts once). It prints a table and, last, the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from _common import CREATE_TABLE, INSERT_ROWS, progress, require_server_binary
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from cdc_assets.core.offsets import BinlogPosition, RestartPoint
from cdc_assets.core.schema import TableId
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.local_mariadb import LocalMariaDB
from cdc_assets.mysql.binlog import BinlogReader, RowsRead
from cdc_assets.mysql.catalog import load_schema
from cdc_assets.mysql.connection import ConnectionSettings
from cdc_assets.mysql.server import inspect_server

DB, TABLE = "bench", "t"
STEP = 100_000  # rows per generating transaction


def generate(server: LocalMariaDB, rows: int, updates: int) -> tuple[tuple[str, int], tuple[str, int]]:
    """Insert ``rows`` rows and update ``updates`` of them, binlogged; returns (start, end) positions."""
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {quote_ident(DB)} CHARACTER SET utf8mb4")
            cur.execute(CREATE_TABLE.format(table=quote_table(DB, TABLE)))
            cur.execute("SHOW MASTER STATUS")
            start = tuple(cur.fetchone()[:2])
            t0 = time.perf_counter()
            for first in range(1, rows + 1, STEP):
                last = min(rows, first + STEP - 1)
                seq = quote_table(DB, f"seq_{first}_to_{last}")
                cur.execute(INSERT_ROWS.format(table=quote_table(DB, TABLE), sequence=seq))
                conn.commit()
            # updates spread over the table (every k-th row), in transactions of STEP rows
            every = max(1, rows // max(1, updates))
            done, lo = 0, 1
            while done < updates and lo <= rows:
                hi = lo + STEP * every
                cur.execute(
                    f"UPDATE {quote_table(DB, TABLE)} SET qty = qty + 1, amount = amount + 0.01, "
                    f"name = CONCAT(name, '+') WHERE id >= %s AND id < %s AND id %% %s = 0 LIMIT %s",
                    (lo, hi, every, updates - done),
                )
                done += cur.rowcount
                conn.commit()
                lo = hi
            cur.execute("SHOW MASTER STATUS")
            end = tuple(cur.fetchone()[:2])
            progress(f"generated {rows:,} inserts + {done:,} updates in {time.perf_counter() - t0:.1f} s")
    finally:
        conn.close()
    return start, end  # type: ignore[return-value]


def run_library(server: LocalMariaDB, start: tuple[str, int]) -> int:
    stream = BinLogStreamReader(
        connection_settings={
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": server.password,
        },
        server_id=random.randint(10_000, 2**31),
        log_file=start[0],
        log_pos=start[1],
        resume_stream=True,
        blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        only_schemas=[DB],
        only_tables=[TABLE],
    )
    rows = 0
    try:
        for ev in stream:
            rows += len(ev.rows)
    finally:
        stream.close()
    return rows


def run_project(server: LocalMariaDB, start: tuple[str, int], fast: bool) -> int:
    settings = ConnectionSettings(server.host, server.port, server.user, server.password)
    conn = server.connect()
    try:
        info = inspect_server(conn, settings)
        schema = load_schema(conn, settings, TableId(DB, TABLE))
    finally:
        conn.close()
    reader = BinlogReader(
        settings,
        info,
        {schema.table_id: schema},
        server_id=random.randint(10_000, 2**31),
        start=RestartPoint(BinlogPosition(*start)),
        blocking=False,
    )
    if not fast:
        reader.fast_rows.changes = lambda ev, table: None  # type: ignore[method-assign]
    rows = 0
    try:
        for item in reader.events():
            if isinstance(item, RowsRead):
                rows += len(item.changes)
    finally:
        reader.close()
    if fast and reader.fast_rows.fallbacks:
        raise SystemExit(f"the generated decoder fell back: {reader.fast_rows.fallbacks}")
    return rows


PATHS = {
    "pymysqlreplication": lambda server, start: run_library(server, start),
    "project-exact": lambda server, start: run_project(server, start, fast=False),
    "project": lambda server, start: run_project(server, start, fast=True),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=500_000, help="row inserts (default 500000)")
    p.add_argument("--updates", type=int, default=None, help="row updates (default: half of --rows)")
    p.add_argument(
        "--repeat", type=int, default=1, help="rounds, the fastest run of each path kept (default 1)"
    )
    p.add_argument("--skip-exact", action="store_true", help="do not run the project-exact path")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    updates = args.rows // 2 if args.updates is None else args.updates
    require_server_binary()
    paths = [p for p in PATHS if not (args.skip_exact and p == "project-exact")]
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp:
        server = LocalMariaDB(
            Path(tmp) / "mariadb", extra_options={"innodb_buffer_pool_size": "1G", "max_binlog_size": "1G"}
        )
        server.start()
        try:
            start, _end = generate(server, args.rows, updates)
            best: dict[str, float] = {}
            counts: dict[str, int] = {}
            for r in range(args.repeat):
                for path in paths:
                    t0 = time.perf_counter()
                    n = PATHS[path](server, start)
                    seconds = time.perf_counter() - t0
                    progress(f"round {r + 1}: {path}: {n:,} rows in {seconds:.2f} s")
                    counts[path] = n
                    best[path] = min(best.get(path, seconds), seconds)
        finally:
            server.stop()
    total = counts["pymysqlreplication"]
    if any(n != total for n in counts.values()):
        raise SystemExit(f"the paths read different row counts: {counts}")
    rate = {p: total / s for p, s in best.items()}
    base = rate["pymysqlreplication"]
    print(
        f"binlog of {args.rows:,} inserts + {total - args.rows:,} updates ({total:,} row changes), 7 columns"
    )
    print(f"{'path':<22}{'seconds':>10}{'rows/s':>12}{'vs pymysqlreplication':>24}")
    for p in paths:
        print(f"{p:<22}{best[p]:>10.2f}{rate[p]:>12,.0f}{rate[p] / base:>23.2f}x")
    print(
        json.dumps(
            {
                "rows": total,
                "inserts": args.rows,
                "updates": total - args.rows,
                "python": platform.python_version(),
                "seconds": {p: round(s, 3) for p, s in best.items()},
                "rows_per_s": {p: round(v) for p, v in rate.items()},
                "ratio_vs_pymysqlreplication": {p: round(v / base, 2) for p, v in rate.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
