"""``cdc-assets demo``: the quickstart, end to end on this machine with nothing else to run.

Starts (or reuses) a private MariaDB with a row binlog in ``<dir>/mariadb``, creates the sample
``shop`` database, writes ``<dir>/pipeline.yaml`` (a Flink CDC pipeline with a DuckDB sink), keeps
a write workload going while it snapshots and tails the binlog into ``<dir>/shop.duckdb``, then
prints per-table row counts source vs target and how to open the same pipeline in the Dagster UI.
Running it again starts over with a fresh sample database. ``--stop`` stops the demo's server.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

from cdc_assets.config import load_pipeline
from cdc_assets.core.schema import TableId
from cdc_assets.demo_data import Workload, create_sample_database, table_row_counts
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.verify import compare_table
from cdc_assets.local_mariadb import LocalMariaDB
from cdc_assets.progress import Progress, run_sync

DEMO_USER = "cdc_demo"
DEMO_PASSWORD_ENV = "CDC_DEMO_PASSWORD"
DEMO_PASSWORD_DEFAULT = (
    "cdc-demo-password"  # a throwaway local server: the pipeline file shows how to pass a secret
)

PIPELINE_YAML = """\
# The demo pipeline: Flink CDC pipeline YAML, as cdc-assets accepts it.
source:
  type: mysql
  hostname: 127.0.0.1
  port: {port}
  username: {user}
  password: ${{{pw_env}:-{pw_default}}}
  tables: shop.\\.*
  server-id: 5401-5404
  scan.incremental.snapshot.chunk.size: 2000
  heartbeat.interval: 1s

{sink}
pipeline:
  name: cdc-assets demo
"""

DUCKDB_SINK = """\
sink:
  type: duckdb
  path: shop.duckdb
"""

STARROCKS_SINK = """\
sink:
  type: starrocks
  jdbc-url: {jdbc_url}
  load-url: {load_url}
  username: root
  password: ""
  table.create.properties.replication_num: 1
  sink.buffer-flush.interval-ms: 1000
"""


def _server(base: Path) -> LocalMariaDB:
    meta = base / "demo.json"
    port = json.loads(meta.read_text())["port"] if meta.exists() else None
    server = LocalMariaDB(base / "mariadb", port=port, server_id=1, detach=True)
    server.start()
    meta.write_text(json.dumps({"port": server.port}))
    return server


def stop_demo(base: Path) -> int:
    base = base.resolve()
    meta = base / "demo.json"
    if not meta.exists():
        print(f"no demo server in {base}")
        return 0
    server = LocalMariaDB(base / "mariadb", port=json.loads(meta.read_text())["port"], detach=True)
    server.stop()
    print(f"demo MariaDB in {base / 'mariadb'} stopped")
    return 0


def run_demo(
    base: Path, *, rows: int = 5000, seconds: float = 10.0, sink: str = "duckdb", out=sys.stdout
) -> int:
    """The quickstart; ``sink`` is ``duckdb`` or ``starrocks`` (the stand-in, run in this process)."""
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    say = lambda msg: print(msg, file=out, flush=True)  # noqa: E731
    if sink != "starrocks":
        return _run(base, rows, seconds, DUCKDB_SINK, say)
    from cdc_assets.standin import StandIn

    data_dir = base / "starrocks"
    shutil.rmtree(data_dir, ignore_errors=True)  # start over, like the sample database
    with StandIn(data_dir=data_dir) as standin:
        say(f"StarRocks stand-in started: {standin.jdbc_url}, Stream Load at {standin.load_url}")
        code = _run(
            base,
            rows,
            seconds,
            STARROCKS_SINK.format(jdbc_url=standin.jdbc_url, load_url=standin.load_url),
            say,
        )
    say("The stand-in stopped with the demo; its data stays. Query it with any MySQL client:")
    say(
        f"  .venv/bin/cdc-assets starrocks-standin --data-dir {data_dir} &   # then: mysql -h 127.0.0.1 -P 9030 -u root"
    )
    return code


def _run(base: Path, rows: int, seconds: float, sink_yaml: str, say) -> int:
    say(f"starting a private MariaDB (row binlog) in {base / 'mariadb'} ...")
    server = _server(base)
    server.create_user(DEMO_USER, DEMO_PASSWORD_DEFAULT)
    pipeline = base / "pipeline.yaml"
    pipeline.write_text(
        PIPELINE_YAML.format(
            port=server.port,
            user=DEMO_USER,
            pw_env=DEMO_PASSWORD_ENV,
            pw_default=DEMO_PASSWORD_DEFAULT,
            sink=sink_yaml,
        )
    )
    cfg = load_pipeline(pipeline)
    # Start over: a new sample database invalidates the old state and target.
    shutil.rmtree(cfg.state_dir, ignore_errors=True)
    if cfg.sink.type == "duckdb":
        for suffix in ("", ".wal"):
            Path(str(cfg.sink.path) + suffix).unlink(missing_ok=True)
    with server.connect() as conn:
        tables = create_sample_database(conn, "shop", rows=rows)
    say(f"sample database `shop` created on 127.0.0.1:{server.port}: {', '.join(tables)}")

    workload = Workload(lambda: server.connect(database="shop"), "shop", rate_per_s=200.0)
    workload.start()
    say(f"write workload running (~200 transactions/s); syncing into {_target_name(cfg)} ...")
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    progress = Progress()
    try:
        # Snapshot, then stream while the workload writes, for `seconds`.
        timer.start()
        first = run_sync(cfg, until_caught_up=False, progress=progress, stop=stop)
    finally:
        timer.cancel()
        workload.stop()
    say(
        f"snapshot loaded {first.snapshot_rows:,} rows; streamed {first.stream.rows:,} changes while the workload ran "
        f"({workload.transactions:,} transactions: {workload.inserts:,} inserts, {workload.updates:,} updates, "
        f"{workload.deletes:,} deletes)"
    )
    last = run_sync(cfg, until_caught_up=True, progress=progress)
    say(
        f"caught up with the binlog end: {last.stream.rows:,} more changes applied; restart point {last.stream.point}"
    )

    ok = _report(server, cfg, tables, say)
    home = base / "dagster_home"
    say("")
    if cfg.sink.type == "duckdb":
        say(f"DuckDB file: {cfg.sink.path}")
        say(
            f"  look inside: .venv/bin/python -c \"import duckdb; print(duckdb.connect('{cfg.sink.path}', read_only=True)"
            f".sql('select * from shop.customers limit 5'))\""
        )
        say("Open the same pipeline in the Dagster UI (the demo's MariaDB keeps running):")
        say(
            f"  mkdir -p {home} && cp dagster.yaml {home}/ && CDC_ASSETS_PIPELINE={pipeline} DAGSTER_HOME={home} "
            ".venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000"
        )
    say(f"Stop the demo's MariaDB: .venv/bin/cdc-assets demo --dir {base} --stop")
    return 0 if ok else 1


def _target_name(cfg) -> str:
    return str(cfg.sink.path) if cfg.sink.type == "duckdb" else f"StarRocks ({cfg.sink.jdbc_url})"


def _report(server: LocalMariaDB, cfg, tables: list[str], say) -> bool:
    with server.connect() as conn:
        source = table_row_counts(conn, "shop")
    ctx = RunContext(cfg)
    ok = True
    try:
        say("")
        say(f"{'table':<14}{'source rows':>12}{'target rows':>12}  contents")
        for t in tables:
            cmp = compare_table(ctx, TableId("shop", t))
            ok &= cmp.identical
            say(
                f"{t:<14}{source[t]:>12,}{cmp.target_rows:>12,}  {'identical' if cmp.identical else 'DIFFERENT'}"
            )
    finally:
        ctx.close()
    return ok
