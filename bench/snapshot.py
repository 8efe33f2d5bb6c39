"""Snapshot throughput of cdc_assets beside the server's raw limit and its peers, plus a worker's peak RSS.

    .venv/bin/python bench/snapshot.py [--rows 1000000] [--only all] [--repeat 1] [--skip-rss]

A private MariaDB (``cdc_assets.local_mariadb``) in a temp folder gets a table of ``--rows`` rows of
7 columns (BIGINT pk, VARCHAR(64), INT, DECIMAL(12,2), DATETIME, TEXT, DOUBLE; see ``_common.py``).
Each path then reads the whole table (best of ``--repeat``), each in a child process of its own so
that its peak RSS and CPU are its alone:

- ``limit``: ``mariadb --quick -e 'SELECT * FROM ...' > /dev/null``, the server's rate for one reader;
- ``project-duckdb`` / ``project-starrocks``: this project's snapshot (``RunContext.discover`` then
  ``snapshot_all``) from a pipeline YAML into a DuckDB file, or into the StarRocks stand-in's Stream
  Load endpoint (the stand-in runs in a process of its own; both share the machine's cores);
- ``dlt-connectorx`` / ``dlt-pyarrow``: dlt's ``sql_table`` into a DuckDB file, dlt's defaults kept;
- ``sling``: Sling 1.4.11 into a DuckDB file, with a DuckDB 1.4.4 CLI and its extensions, all from
  PyPI into a folder of their own (``--sling-dir``); when they are missing the row says
  "not available: <reason>" with the pip command.

Seconds are measured inside the child from before it builds its pipeline until the target is closed
(interpreter start and imports excluded) for the Python paths, and for the whole process for the
binaries (``limit``, ``sling``). Every load is checked: the target must hold exactly ``--rows`` rows.

Then the project's worker snapshots tables of each ``--rss-rows`` size into DuckDB, and its peak RSS
(``ru_maxrss`` from ``wait4``) is printed per size with the ratio of the largest to the smallest.

stdout: a table, the RSS lines, which targets are met, and as the LAST line one JSON object holding
every figure. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import _common
from _common import (
    MYSQL_PASSWORD_ENV,
    PASSWORD,
    USER,
    BenchServer,
    BenchTable,
    StandInProcess,
    Unavailable,
    add_server_options,
    create_table,
    duckdb_count,
    mysql_source,
    progress,
    run_child,
    yes_no,
)

PATHS = ("limit", "project-duckdb", "project-starrocks", "dlt-connectorx", "dlt-pyarrow", "sling")
GROUPS = {
    "all": PATHS,
    "project": ("project-duckdb", "project-starrocks"),
    "dlt": ("dlt-connectorx", "dlt-pyarrow"),
}
PEERS = ("dlt-connectorx", "dlt-pyarrow", "sling")
TARGET_OF_LIMIT = 0.5
TARGET_RSS_RATIO = 1.25

#: Sling 1.4.11 drives a DuckDB CLI that loads the json extension and, for its default copy_method
#: (csv_http), httpfs. Their PyPI packages pin the duckdb Python package to 1.4.4, so these go into a
#: folder of their own, not the venv (pip --target does not add to a filled folder: install all at once).
SLING_TOOLS = (
    "sling-linux-amd64==1.4.11",
    "duckdb-cli==1.4.4.post2",
    "duckdb-ext-json==1.4.4.20260205",
    "duckdb-ext-httpfs==1.4.4.20260205",
)
DEFAULT_SLING_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cdc-assets-bench" / "sling"
)


@dataclass
class PathResult(_common.PathResult):
    RATIOS: ClassVar[tuple[str, ...]] = ("ratio_to_limit",)

    ratio_to_limit: float | None = None


@dataclass(frozen=True)
class SlingTools:
    sling: str  # the Sling binary
    duckdb_cli: str  # the DuckDB CLI it drives (Sling would download one otherwise)
    extensions: Path | None  # a DuckDB extensions folder (``v<version>/<platform>/*.duckdb_extension``)


def sling_tools(folder: Path) -> SlingTools:
    """Sling, its DuckDB CLI and extensions as ``pip install --target folder`` put them (or the env's
    ``SLING_BINARY`` / ``DUCKDB_PATH``)."""
    install = f"{sys.executable} -m pip install --no-deps --target {folder} " + " ".join(SLING_TOOLS)
    sling = os.environ.get("SLING_BINARY") or str(folder / "sling_linux_amd64" / "bin" / "sling-linux-amd64")
    cli = os.environ.get("DUCKDB_PATH") or str(folder / "bin" / "duckdb")
    if not Path(sling).is_file() or not Path(cli).is_file():
        raise Unavailable(
            f"Sling and its DuckDB CLI are not in {folder}; install them with `{install}` (the `sling` "
            "package itself downloads its binary at first use, which needs the internet)"
        )
    extensions = folder / "duckdb_ext" / "extensions"
    return SlingTools(sling, cli, extensions if extensions.is_dir() else None)


class Bench(BenchServer[BenchTable, PathResult]):
    """One private MariaDB and the runs of every path against its tables, each in its own folder."""

    SCRIPT = Path(__file__).resolve()
    RESULT = PathResult
    GENERATED = "the table is"

    def extra_env(self) -> dict[str, str]:
        return {
            "RUNTIME__DLTHUB_TELEMETRY": "false",  # no network beyond package registries here
            "SLING_DISABLE_TELEMETRY": "true",
        }

    def _run(
        self,
        path: str,
        table: BenchTable,
        cmd: list[str],
        folder: Path,
        *,
        count: Callable[[], int | None],
        env: dict[str, str] | None = None,
        stdout_null: bool = False,
    ) -> PathResult:
        """Run one child, check the target holds every row, and turn its figures into a result."""

        def check(_: dict[str, Any]) -> str | None:
            loaded = count()
            return None if loaded == table.rows else f"the target holds {loaded} rows, not {table.rows:,}"

        return self.run_path(path, table.rows, cmd, folder, check=check, env=env, stdout_null=stdout_null)

    # --------------------------------------------------------------------------------- the limit
    def limit_cmd(self, table: BenchTable) -> list[str]:
        client = shutil.which("mariadb") or shutil.which("mysql")
        if client is None:
            raise Unavailable("no `mariadb` client on PATH (apt-get install mariadb-client)")
        return [
            client,
            "--no-defaults",
            "--quick",
            "--batch",
            "-h",
            self.server.host,
            "-P",
            str(self.server.port),
            "-u",
            USER,
            "-e",
            f"SELECT * FROM {table.qualified}",
        ]

    def run_limit(self, table: BenchTable) -> PathResult:
        folder = self.run_dir("limit")
        # The client's output goes to /dev/null, so there is nothing to count: the table has table.rows.
        return self._run(
            "limit",
            table,
            self.limit_cmd(table),
            folder,
            count=lambda: table.rows,
            env=self.env(MYSQL_PWD=PASSWORD),
            stdout_null=True,
        )

    def warm_up(self, table: BenchTable) -> None:
        """Read the table once, untimed, so the first path measured does not pay for a cold cache."""
        try:
            cmd = self.limit_cmd(table)
        except Unavailable:
            return
        run_child(
            cmd,
            env=self.env(MYSQL_PWD=PASSWORD),
            log=self.workdir / "warm-up.txt",
            timeout_s=self.args.timeout,
            stdout_null=True,
        )

    # -------------------------------------------------------------------------------- the project
    def write_pipeline(self, folder: Path, table: BenchTable, sink: str) -> Path:
        fetch = f"  scan.snapshot.fetch.size: {self.args.fetch_size}\n" if self.args.fetch_size else ""
        path = folder / "pipeline.yaml"
        source = mysql_source(self.server, table.qualified, 5701)
        path.write_text(f"""{source}  scan.incremental.snapshot.chunk.size: {self.args.chunk_size}
{fetch}{sink}
pipeline:
  name: bench snapshot
  parallelism: {self.args.parallelism}
""")
        return path

    def run_project_duckdb(self, table: BenchTable) -> PathResult:
        folder = self.run_dir("project-duckdb")
        pipeline = self.write_pipeline(folder, table, "sink:\n  type: duckdb\n  path: target.duckdb\n")
        cmd = self.worker_cmd(folder, {"kind": "project", "pipeline": str(pipeline)})
        return self._run(
            "project-duckdb",
            table,
            cmd,
            folder,
            count=lambda: duckdb_count(folder / "target.duckdb", table.name),
        )

    def run_project_starrocks(self, table: BenchTable) -> PathResult:
        folder = self.run_dir("project-starrocks")

        def run(standin: StandInProcess, sink: str) -> PathResult:
            pipeline = self.write_pipeline(folder, table, sink)
            cmd = self.worker_cmd(folder, {"kind": "project", "pipeline": str(pipeline)})
            return self._run(
                "project-starrocks", table, cmd, folder, count=lambda: standin.count(table.db, table.name)
            )

        return self.run_with_standin(folder, run)

    # ---------------------------------------------------------------------------------- the peers
    def _dlt(self, path: str, backend: str, table: BenchTable) -> PathResult:
        for module in ("dlt", "sqlalchemy", backend):
            if importlib.util.find_spec(module) is None:
                raise Unavailable(f"{module} is not installed (pip install -e '.[bench]')")
        folder = self.run_dir(path)
        job = {
            "kind": "dlt",
            "backend": backend,
            "host": self.server.host,
            "port": self.server.port,
            "db": table.db,
            "table": table.name,
        }
        return self._run(
            path,
            table,
            self.worker_cmd(folder, job),
            folder,
            count=lambda: duckdb_count(folder / "target.duckdb", table.name),
        )

    def run_dlt_connectorx(self, table: BenchTable) -> PathResult:
        return self._dlt("dlt-connectorx", "connectorx", table)

    def run_dlt_pyarrow(self, table: BenchTable) -> PathResult:
        return self._dlt("dlt-pyarrow", "pyarrow", table)

    def run_sling(self, table: BenchTable) -> PathResult:
        tools = sling_tools(self.args.sling_dir)
        folder = self.run_dir("sling")
        target = folder / "target.duckdb"
        home = folder / "home"
        (home / ".duckdb").mkdir(parents=True)
        if tools.extensions is not None:  # DuckDB's INSTALL finds them in ~/.duckdb and downloads nothing
            (home / ".duckdb" / "extensions").symlink_to(tools.extensions)
        env = self.env(
            HOME=str(home),
            BENCH_MYSQL=f"mysql://{USER}:{PASSWORD}@{self.server.host}:{self.server.port}/{table.db}",
            BENCH_DUCKDB=f"duckdb://{target}",
            DUCKDB_PATH=tools.duckdb_cli,
            SLING_HOME_DIR=str(home / ".sling"),
        )
        cmd = [
            tools.sling,
            "run",
            "--src-conn",
            "BENCH_MYSQL",
            "--src-stream",
            table.qualified,
            "--tgt-conn",
            "BENCH_DUCKDB",
            "--tgt-object",
            f"main.{table.name}",
            "--mode",
            "full-refresh",
        ]
        return self._run("sling", table, cmd, folder, count=lambda: duckdb_count(target, table.name), env=env)


# ------------------------------------------------------------------------------------------ workers
def run_worker(job_path: Path) -> int:
    """The child side: run the load the job describes; write ``{rows, seconds}`` next to the job."""
    job = json.loads(job_path.read_text())
    folder = job_path.parent
    if job["kind"] == "project":
        out = worker_project(Path(job["pipeline"]))
    elif job["kind"] == "dlt":
        out = worker_dlt(job, folder)
    else:
        raise SystemExit(f"unknown worker kind {job['kind']!r}")
    (folder / "result.json").write_text(json.dumps(out))
    return 0


def worker_project(pipeline: Path) -> dict[str, Any]:
    from cdc_assets.config import load_pipeline
    from cdc_assets.engine.context import RunContext
    from cdc_assets.engine.snapshot import snapshot_all

    cfg = load_pipeline(pipeline)
    started = time.perf_counter()
    ctx = RunContext(cfg)
    try:
        ctx.discover()
        rows = snapshot_all(ctx)
    finally:
        ctx.close()
    return {"rows": rows, "seconds": time.perf_counter() - started}


def worker_dlt(job: dict[str, Any], folder: Path) -> dict[str, Any]:
    import dlt
    from dlt.sources.sql_database import sql_table

    url = f"mysql+pymysql://{USER}:{os.environ[MYSQL_PASSWORD_ENV]}@{job['host']}:{job['port']}/{job['db']}"
    started = time.perf_counter()
    source = sql_table(
        credentials=url,
        table=job["table"],
        schema=job["db"],
        backend=job["backend"],
        table_adapter_callback=doubles_as_floats,
    )
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{job['backend']}",
        destination=dlt.destinations.duckdb(str(folder / "target.duckdb")),
        dataset_name=job["db"],
        pipelines_dir=str(folder / "dlt"),
    )
    pipeline.run(source).raise_on_failed_jobs()
    seconds = time.perf_counter() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts.get(job["table"], 0)
    return {"rows": int(rows), "seconds": seconds}


def doubles_as_floats(table: Any) -> Any:
    """Read DOUBLE columns as Python floats: SQLAlchemy's MySQL DOUBLE returns Decimals by default, whose
    precision dlt 1.31's pyarrow backend infers batch by batch until two batches disagree and the load
    fails (``IncompatibleArrowSchema``). A user would configure this; connectorx reads DOUBLE natively."""
    import sqlalchemy

    for column in table.columns:
        if isinstance(column.type, sqlalchemy.Float) and column.type.asdecimal:
            column.type = sqlalchemy.Double(asdecimal=False)
    return table


# ------------------------------------------------------------------------------------------ the report
def measure_rss(bench: Bench, sizes: list[int]) -> dict[str, Any]:
    """Peak RSS of the project's worker snapshotting a table of each size into DuckDB."""
    peaks: dict[str, float] = {}
    failed: dict[str, str] = {}
    for rows in sizes:
        table = create_table(bench.server, rows)
        bench.warm_up(table)
        progress(f"peak RSS run: project-duckdb over {rows:,} rows ...")
        result = bench.run_project_duckdb(table)
        if result.status == "ok" and result.peak_rss_mib is not None:
            peaks[str(rows)] = round(result.peak_rss_mib, 1)
            progress(f"  {result.peak_rss_mib:,.1f} MiB, {result.seconds:.1f} s")
        else:
            failed[str(rows)] = result.reason
    small, large = str(min(sizes)), str(max(sizes))
    ratio = peaks[large] / peaks[small] if small != large and small in peaks and large in peaks else None
    out: dict[str, Any] = {
        "worker": "project-duckdb",
        "peak_rss_mib": peaks,
        "ratio": None if ratio is None else round(ratio, 3),
    }
    if failed:
        out["failed"] = failed
    return out


def targets(results: dict[str, PathResult], rss: dict[str, Any] | None) -> dict[str, Any]:
    """Each target: true or false, or null when what it compares was not measured."""
    ok = {k: r for k, r in results.items() if r.status == "ok"}
    out: dict[str, Any] = {}
    for path in ("project-duckdb", "project-starrocks"):
        ratio = ok[path].ratio_to_limit if path in ok else None
        out[f"{path}_half_of_limit"] = None if ratio is None else ratio >= TARGET_OF_LIMIT
    peers = [ok[p] for p in PEERS if p in ok]
    project = ok.get("project-duckdb")
    ahead = None if project is None or not peers else all(project.rows_per_s > p.rows_per_s for p in peers)
    out["project-duckdb_ahead_of_peers"] = ahead
    out["peers_compared"] = [p.path for p in peers]
    out["rss_within_1.25x"] = (
        None if rss is None or rss["ratio"] is None else rss["ratio"] <= TARGET_RSS_RATIO
    )
    return out


def render(
    table: BenchTable, results: dict[str, PathResult], rss: dict[str, Any] | None, goals: dict[str, Any]
) -> str:
    fmt = "{:<18} {:>11} {:>8} {:>11} {:>8} {:>13} {:>7} {:>15}"
    lines = [
        f"snapshot of {table.qualified}: {table.rows:,} rows, {table.data_mib} MiB of InnoDB data",
        "",
        fmt.format("path", "rows", "seconds", "rows/s", "x limit", "peak RSS MiB", "CPU s", "mariadbd CPU s"),
        "-" * 97,
    ]
    for r in results.values():
        if r.status != "ok":
            lines.append(f"{r.path:<18} {r.status}: {r.reason}")
            continue
        ratio = "" if r.ratio_to_limit is None else f"{r.ratio_to_limit:.2f}"
        lines.append(r.table_line(fmt, r.path, [ratio]))
    lines += ["", "seconds: inside the child, imports excluded; limit and sling: the whole process", ""]
    if rss is None:
        lines.append("peak RSS of a project worker: skipped (--skip-rss)")
    else:
        sizes = "; ".join(f"{int(n):,} rows: {mib:,.1f} MiB" for n, mib in rss["peak_rss_mib"].items())
        ratio = "n/a" if rss["ratio"] is None else f"{rss['ratio']:.2f}"
        lines.append(
            f"peak RSS of a project worker (snapshot into DuckDB): {sizes}; largest/smallest {ratio}"
        )
        lines += [f"  {int(n):,} rows: failed: {why}" for n, why in rss.get("failed", {}).items()]
    peers = ", ".join(goals["peers_compared"]) or "none measured"
    lines += [
        "",
        "targets:",
        f"  project into DuckDB >= {TARGET_OF_LIMIT} x limit: {yes_no(goals['project-duckdb_half_of_limit'])}",
        f"  project into the StarRocks stand-in >= {TARGET_OF_LIMIT} x limit: "
        + yes_no(goals["project-starrocks_half_of_limit"]),
        f"  project into DuckDB ahead of every peer ({peers}): {yes_no(goals['project-duckdb_ahead_of_peers'])}",
        f"  worker peak RSS, largest size <= {TARGET_RSS_RATIO} x smallest: {yes_no(goals['rss_within_1.25x'])}",
    ]
    return "\n".join(lines)


def versions(sling_dir: Path) -> dict[str, str]:
    out = {}
    for dist in ("cdc-assets", "dlt", "connectorx", "duckdb", "pymysql"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    for dist in importlib.metadata.distributions(path=[str(sling_dir)]) if sling_dir.is_dir() else ():
        out[dist.metadata["Name"]] = dist.version  # what the Sling path ran with
    return out


# ------------------------------------------------------------------------------------------ main
def parse_only(text: str) -> list[str]:
    chosen: set[str] = set()
    for word in (w.strip() for w in text.split(",") if w.strip()):
        names = GROUPS.get(word, (word,) if word in PATHS else None)
        if names is None:
            raise argparse.ArgumentTypeError(
                f"unknown path {word!r}; choose from {', '.join((*GROUPS, *PATHS))}"
            )
        chosen.update(names)
    return [p for p in PATHS if p in chosen]  # the limit first, then the table's order


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(w.replace("_", "")) for w in text.split(",") if w.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected row counts separated by commas, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("expected positive row counts")
    return sizes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the measured table (default 1000000)")
    p.add_argument(
        "--only",
        type=parse_only,
        default=list(PATHS),
        metavar="PATHS",
        help="comma-separated paths or groups: " + ", ".join((*GROUPS, *PATHS)) + " (default all)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per path, the fastest kept (default 1)")
    p.add_argument(
        "--chunk-size",
        type=int,
        default=245_760,
        help="the project's scan.incremental.snapshot.chunk.size (default 245760: two DuckDB row groups, "
        "which DuckDB writes straight to the file; see the README)",
    )
    p.add_argument(
        "--parallelism",
        type=int,
        default=2,
        help="pipeline.parallelism: chunks the project loads at once (default 2)",
    )
    p.add_argument(
        "--fetch-size",
        type=int,
        default=None,
        help="the project's scan.snapshot.fetch.size (default: the project's default)",
    )
    p.add_argument(
        "--rss-rows",
        type=parse_sizes,
        default=[1_000_000, 10_000_000],
        metavar="N,N",
        help="table sizes for the project worker's peak RSS (default 1000000,10000000)",
    )
    p.add_argument("--skip-rss", action="store_true", help="skip the peak-RSS runs (10M rows take minutes)")
    p.add_argument(
        "--sling-dir",
        type=Path,
        default=DEFAULT_SLING_DIR,
        help=f"where Sling and its DuckDB CLI are installed (default {DEFAULT_SLING_DIR})",
    )
    add_server_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.worker:
        return run_worker(args.worker)
    if args.rows < 1 or args.repeat < 1:
        raise SystemExit("--rows and --repeat must be at least 1")
    with Bench.running(args) as bench:
        table = create_table(bench.server, args.rows)
        bench.warm_up(table)
        results = bench.measure_all(list(args.only), table)
        limit = results.get("limit")
        if limit is not None and limit.status == "ok":
            for r in results.values():
                if r.status == "ok":
                    r.ratio_to_limit = r.rows_per_s / limit.rows_per_s
        rss = None if args.skip_rss else measure_rss(bench, args.rss_rows)
        goals = targets(results, rss)
        print(render(table, results, rss, goals))
        summary = {
            "benchmark": "snapshot",
            "table": table.qualified,
            "rows": table.rows,
            "data_mib": table.data_mib,
            "chunk_size": args.chunk_size,
            "fetch_size": args.fetch_size,
            "repeat": args.repeat,
            "server": bench.server.version,
            "cpus": os.cpu_count(),
            "paths": {path: r.json() for path, r in results.items()},
            "rss": rss,
            "targets": goals,
            "versions": versions(args.sling_dir),
        }
        print(json.dumps(summary, ensure_ascii=False), flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
