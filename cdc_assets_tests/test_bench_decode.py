"""Smoke test of ``bench/decode.py``: it runs end to end on a small binlog (its own private MariaDB),
every path reads the same row count, the generated decoder does not fall back, and the last line is
the JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_assets.local_mariadb import find_server_binary

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "decode.py"

pytestmark = pytest.mark.mariadb


def test_decode_bench_runs_and_ends_with_a_json_summary(tmp_path: Path) -> None:
    if find_server_binary() is None:
        pytest.fail("no MariaDB server binary: `apt-get install mariadb-server`", pytrace=False)
    # this checkout's package, whatever the virtualenv has installed
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, str(BENCH), "--rows", "3000", "--updates", "1000"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["rows"], summary["inserts"], summary["updates"]) == (4000, 3000, 1000)
    assert set(summary["rows_per_s"]) == {"pymysqlreplication", "project-exact", "project"}
    assert summary["ratio_vs_pymysqlreplication"]["pymysqlreplication"] == 1.0
