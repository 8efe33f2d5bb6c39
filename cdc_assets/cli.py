"""The ``cdc-assets`` command.

Exit codes: 0 ok, 2 bad configuration or input, 1 runtime failure; a failure prints one line on
stderr (``--debug`` adds the traceback).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from pathlib import Path

from cdc_assets.config import load_pipeline
from cdc_assets.errors import CdcError
from cdc_assets.progress import Progress, run_sync


def _load(args):
    return load_pipeline(args.config, state_dir=getattr(args, "state_dir", None))


def cmd_validate(args) -> int:
    cfg = _load(args)
    tables = cfg.source.tables
    print(
        f"{args.config}: valid. Pipeline {cfg.pipeline.name!r}: {cfg.source.hostname}:{cfg.source.port} "
        f"tables {tables!r} -> {cfg.sink.type} sink"
    )
    print(f"state folder: {cfg.state_dir}")
    if cfg.not_applicable:
        print("options accepted but not applicable outside Flink (ignored): " + ", ".join(cfg.not_applicable))
    return 0


def _stop_flag() -> threading.Event:
    """SIGINT / SIGTERM ask the running sync to flush, save its restart point and stop."""
    stop = threading.Event()

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            f"\nreceived {signal.Signals(signum).name}: flushing and saving the restart point...",
            file=sys.stderr,
        )

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def cmd_sync(args) -> int:
    cfg = _load(args)
    stop = _stop_flag()
    summary = run_sync(cfg, until_caught_up=args.until_caught_up, progress=Progress(), stop=stop)
    print(summary)
    return 0


def cmd_status(args) -> int:
    from cdc_assets.engine.status import pipeline_status

    cfg = _load(args)
    status = pipeline_status(cfg, count_source=not args.no_source)
    print(status.render())
    return 0


def cmd_resnapshot(args) -> int:
    from cdc_assets.core.schema import TableId
    from cdc_assets.engine.context import RunContext
    from cdc_assets.engine.snapshot import prepare_resnapshot

    cfg = _load(args)
    ctx = RunContext(cfg)
    try:
        try:
            tables = [TableId.parse(t) for t in args.tables]
        except ValueError as exc:
            raise CdcError(f"{exc}: give tables as db.table") from None
        ctx.discover()
        done = prepare_resnapshot(ctx, tables)
    finally:
        ctx.close()
    print(
        f"{len(done)} table(s) will be snapshotted again: {', '.join(str(t) for t in done)} (their targets were "
        "dropped). Run `cdc-assets sync`, or let the Dagster planner sensor plan them and backfill the partitions."
    )
    return 0


def cmd_demo(args) -> int:
    from cdc_assets.demo import run_demo, stop_demo

    if args.stop:
        return stop_demo(Path(args.dir))
    return run_demo(Path(args.dir), rows=args.rows, seconds=args.seconds, sink=args.sink)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdc-assets", description="MySQL -> DuckDB / StarRocks CDC on Dagster")
    p.add_argument("--debug", action="store_true", help="print tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp):
        sp.add_argument("-c", "--config", required=True, help="the Flink CDC pipeline YAML file")
        sp.add_argument(
            "--state-dir", help="where the pipeline's state lives (default: beside the pipeline file)"
        )
        return sp

    with_config(sub.add_parser("validate", help="check a pipeline file")).set_defaults(func=cmd_validate)
    sp = with_config(sub.add_parser("sync", help="snapshot what is missing, then stream the binlog"))
    sp.add_argument(
        "--until-caught-up",
        action="store_true",
        help="stop once the binlog end that existed when streaming started has been applied",
    )
    sp.set_defaults(func=cmd_sync)
    sp = with_config(sub.add_parser("status", help="restart point, each table's phase and row counts"))
    sp.add_argument("--no-source", action="store_true", help="do not connect to the source to count its rows")
    sp.set_defaults(func=cmd_status)
    sp = with_config(
        sub.add_parser(
            "resnapshot",
            help="snapshot tables again (after a change the stream cannot follow); stop streaming first",
        )
    )
    sp.add_argument("tables", nargs="+", metavar="DB.TABLE", help="captured source tables")
    sp.set_defaults(func=cmd_resnapshot)
    sp = sub.add_parser(
        "demo", help="the quickstart: a private MariaDB, a sample shop database, synced into DuckDB"
    )
    sp.add_argument(
        "--dir", default=".cdc-demo", help="folder for the demo's server, pipeline and DuckDB file"
    )
    sp.add_argument(
        "--rows", type=int, default=5000, help="customers in the sample database (other tables scale)"
    )
    sp.add_argument(
        "--seconds", type=float, default=10.0, help="how long the write workload runs while streaming"
    )
    sp.add_argument("--stop", action="store_true", help="stop the demo's MariaDB server and exit")
    sp.add_argument(
        "--sink",
        choices=("duckdb", "starrocks"),
        default="duckdb",
        help="where the demo replicates to: a DuckDB file, or the StarRocks stand-in it starts in-process",
    )
    sp.set_defaults(func=cmd_demo)
    sp = sub.add_parser(
        "starrocks-standin",
        add_help=False,
        help="run the local StarRocks stand-in (FE query port, FE and BE HTTP ports) in the foreground; "
        "see `cdc-assets starrocks-standin --help`",
    )
    sp.add_argument("standin_args", nargs=argparse.REMAINDER)  # main() hands these to the stand-in
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["starrocks-standin"]:  # its options belong to the stand-in's own parser
        from cdc_assets.standin.server import main as standin_main

        return standin_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CdcError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"cdc-assets: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cdc-assets: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: still one clear line, traceback on --debug
        if args.debug:
            traceback.print_exc()
        print(
            f"cdc-assets: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
