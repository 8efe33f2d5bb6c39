"""The quickstart itself: `cdc-assets demo` with each sink, as a newcomer runs it (small and short)."""

from __future__ import annotations

import subprocess

import pytest

from cdc_assets_tests.pipelines import CLI


@pytest.mark.parametrize("sink", ["duckdb", "starrocks"])
def test_the_demo_replicates_the_sample_database_exactly(tmp_path, sink):
    demo = tmp_path / "demo"
    try:
        run = subprocess.run(
            [CLI, "demo", "--dir", str(demo), "--rows", "300", "--seconds", "2", "--sink", sink],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        rows = [line.split() for line in run.stdout.splitlines() if line.endswith(("identical", "DIFFERENT"))]
        assert [r[0] for r in rows] == ["customers", "products", "orders", "order_items"]
        assert all(r[-1] == "identical" and r[1] == r[2] for r in rows), run.stdout
        if sink == "starrocks":
            assert "StarRocks stand-in started" in run.stdout and "starrocks-standin --data-dir" in run.stdout
    finally:
        subprocess.run([CLI, "demo", "--dir", str(demo), "--stop"], capture_output=True, timeout=120)
