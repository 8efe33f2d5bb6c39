"""Smoke test of ``bench/snapshot.py``: it runs end to end on a small table (its own private MariaDB,
the project's snapshot into DuckDB and into the StarRocks stand-in, the ``mariadb --quick`` limit), and
its last line is the JSON summary. It needs neither dlt nor Sling: a Sling that is not installed shows
as "not available", not as a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_assets.local_mariadb import find_server_binary

BENCH = Path(__file__).resolve().parents[1] / "bench" / "snapshot.py"
ROWS = 20_000

pytestmark = pytest.mark.mariadb


def test_snapshot_bench_runs_and_ends_with_a_json_summary(tmp_path: Path) -> None:
    if find_server_binary() is None:
        pytest.fail("no MariaDB server binary: `apt-get install mariadb-server`", pytrace=False)
    empty = tmp_path / "no-sling"
    empty.mkdir()
    cmd = [sys.executable, str(BENCH), "--rows", str(ROWS), "--skip-rss", "--only", "project,limit,sling"]
    cmd += ["--sling-dir", str(empty)]
    env = dict(os.environ, TMPDIR=str(tmp_path))  # the bench's temp folder (server, targets) goes here
    env.pop("SLING_BINARY", None)
    env.pop("DUCKDB_PATH", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"

    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["rows"] == ROWS
    assert summary["rss"] is None
    paths = summary["paths"]
    assert set(paths) == {"limit", "project-duckdb", "project-starrocks", "sling"}
    for name in ("limit", "project-duckdb", "project-starrocks"):
        figures = paths[name]
        assert figures["status"] == "ok", (name, figures)
        assert figures["rows"] == ROWS
        assert figures["seconds"] > 0 and figures["rows_per_s"] > 0, (name, figures)
        assert figures["peak_rss_mib"] > 0, (name, figures)
        assert figures["ratio_to_limit"] > 0, (name, figures)
    assert paths["limit"]["ratio_to_limit"] == 1.0
    assert paths["sling"]["status"] == "not available"
    assert "pip install" in paths["sling"]["reason"]
    targets = summary["targets"]
    assert targets["project-duckdb_ahead_of_peers"] is None  # no peer ran
    assert isinstance(targets["project-duckdb_half_of_limit"], bool)

    table = proc.stdout.strip().splitlines()[:-1]
    for name in paths:
        assert any(line.startswith(name) for line in table), f"{name} missing from the printed table"
    assert not list(tmp_path.glob("cdc-bench-*")), "the bench left its temp folder behind"
