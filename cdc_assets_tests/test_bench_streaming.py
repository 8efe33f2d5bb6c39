"""Smoke test of ``bench/streaming.py``: it runs end to end on a small binlog range and a short latency
window (its own private MariaDB; raw transfer with ``mariadb-binlog``, python-mysql-replication, the
project's streaming into DuckDB and into the StarRocks stand-in, the paced driver), and its last line is
the JSON summary, with figures that agree with each other."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_assets.local_mariadb import find_server_binary

BENCH = Path(__file__).resolve().parents[1] / "bench" / "streaming.py"
ROWS = 10_000
RSS_ROWS = 20_000
LATENCY_SECONDS = 3
RATE = 2_000

pytestmark = pytest.mark.mariadb


def test_streaming_bench_runs_and_ends_with_a_consistent_json_summary(tmp_path: Path) -> None:
    if find_server_binary() is None:
        pytest.fail("no MariaDB server binary: `apt-get install mariadb-server`", pytrace=False)
    if shutil.which("mariadb-binlog") is None and shutil.which("mysqlbinlog") is None:
        pytest.fail("no mariadb-binlog client: `apt-get install mariadb-client`", pytrace=False)
    cmd = [sys.executable, str(BENCH), "--rows", str(ROWS), "--txn-rows", "500"]
    cmd += ["--latency-seconds", str(LATENCY_SECONDS), "--latency-rate", str(RATE), "--timeout", "240"]
    cmd += ["--rss-rows", str(RSS_ROWS)]
    env = dict(os.environ, TMPDIR=str(tmp_path))  # the bench's temp folder (server, targets) goes here
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"

    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["benchmark"] == "streaming"
    assert summary["rows"] == ROWS == summary["inserts"] + summary["updates"]
    assert summary["inserts"] == 7_000 and summary["updates"] == 3_000
    assert summary["binlog_mib"] > 0 and summary["binlog_files"]
    paths = summary["paths"]
    assert set(paths) == {"raw", "pmr", "project-duckdb", "project-starrocks"}
    for name, figures in paths.items():
        assert figures["status"] == "ok", (name, figures)
        assert figures["rows"] == ROWS
        assert figures["seconds"] > 0 and figures["peak_rss_mib"] > 0, (name, figures)
        # rows/s is rows over seconds (seconds rounded to 1 ms in the JSON, rows/s to 0.1)
        seconds = figures["seconds"]
        low, high = ROWS / (seconds + 0.0005) - 0.1, ROWS / max(seconds - 0.0005, 1e-6) + 0.1
        assert low <= figures["rows_per_s"] <= high, (name, figures)
        # every ratio is this path's rate over the reference path's rate
        for ratio, base in (("ratio_to_raw", "raw"), ("ratio_to_pmr", "pmr")):
            expected = figures["rows_per_s"] / paths[base]["rows_per_s"]
            assert figures[ratio] == pytest.approx(expected, rel=0.01, abs=0.002), (name, ratio)
    assert paths["raw"]["timing"] == "wall"
    assert paths["pmr"]["ratio_to_pmr"] == 1.0 and paths["raw"]["ratio_to_raw"] == 1.0
    assert "standin_cpu_s" in paths["project-starrocks"]

    latency = summary["latency"]
    assert latency["status"] == "ok", latency
    assert latency["target_rate"] == RATE
    assert latency["transactions"] > 0 and latency["flushes"] > 0
    # 50-row transactions: half inserts, half updates of earlier rows
    assert latency["rows"] == latency["transactions"] * 50
    assert latency["achieved_rate"] == pytest.approx(latency["rows"] / latency["driver_seconds"], rel=0.01)
    assert 0 < latency["p50_s"] <= latency["p99_s"] <= latency["max_s"]
    assert latency["worker_peak_rss_mib"] > 0

    rss = summary["rss"]
    assert rss["rows"] == [ROWS, RSS_ROWS]
    for name in ("project-duckdb", "project-starrocks"):
        figures = rss[name]
        assert figures["status"] == "ok", (name, figures)
        peaks = figures["peak_rss_mib"]
        assert peaks[str(ROWS)] == round(paths[name]["peak_rss_mib"], 1)  # the main range's run
        assert figures["ratio"] == pytest.approx(peaks[str(RSS_ROWS)] / peaks[str(ROWS)], abs=0.002)

    targets = summary["targets"]
    ratios = [rss[p]["ratio"] for p in ("project-duckdb", "project-starrocks")]
    assert targets["rss_within_1.25x"] == all(r <= 1.25 for r in ratios)
    assert targets["project-duckdb_5x_pmr"] == (paths["project-duckdb"]["ratio_to_pmr"] >= 5)
    assert targets["project-starrocks_5x_pmr"] == (paths["project-starrocks"]["ratio_to_pmr"] >= 5)
    assert targets["latency_p99_within_2s"] == (latency["p99_s"] <= 2)
    assert targets["driver_held_rate"] == latency["rate_held"]

    printed = "\n".join(proc.stdout.strip().splitlines()[:-1])
    for label in ("mariadb-binlog (raw)", "python-mysql-repl.", "project -> DuckDB", "project -> StarRocks"):
        assert label in printed, f"{label} missing from the printed table"
    assert "latency (commit -> visible in DuckDB" in printed
    assert f"peak RSS of the streaming worker, {ROWS:,} vs {RSS_ROWS:,} row events:" in printed
    assert not list(tmp_path.glob("cdc-bench-*")), "the bench left its temp folder behind"
