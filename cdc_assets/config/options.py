"""The option tables of the pipeline file: every known key, its parser, and the Flink-only keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cdc_assets.config.models import (
    _FAMILIES,
    SCHEMA_CHANGE_TYPES,
    BinlogPurgedAction,
    SchemaChangeBehavior,
    StartupMode,
)
from cdc_assets.config.values import (
    _bool,
    _duration,
    _enum,
    _float,
    _int,
    _label_prefix,
    _load_urls,
    _name_list,
    _path,
    _per_table,
    _route_mode,
    _secret,
    _selectors,
    _server_id,
    _snapshot_filters,
    _string,
    _text,
    _zone,
)

# Option tables: key -> (attribute, parser). ``attr`` None means "validated but no effect here";
# ``na`` gives the reason such a key is listed in ``not_applicable``.


@dataclass(frozen=True)
class _Opt:
    key: str
    attr: str | None
    parse: Callable[[Any], Any] | None = None
    required: str | None = None  # the fix shown when the key is missing
    na: str | None = None
    secret: bool = False


_SCHEMA_TAG = _name_list(SCHEMA_CHANGE_TYPES + tuple(_FAMILIES))
_COMMON = [_Opt("type", None), _Opt("name", "name", _text)]
_SOURCE = _COMMON + [
    _Opt("hostname", "hostname", _string, required="set the MySQL host name"),
    _Opt("port", "port", _int(1, 65535)),
    _Opt("username", "username", _string, required="set the MySQL user name"),
    _Opt("password", "password", _secret, required="set it, e.g. password: ${MYSQL_PASSWORD}", secret=True),
    _Opt("tables", "tables", _selectors, required="set the tables to capture, e.g. tables: mydb.\\.*"),
    _Opt("tables.exclude", "tables_exclude", _selectors),
    _Opt("schema-change.enabled", "schema_change_enabled", _bool),
    _Opt("server-id", "server_id", _server_id),
    _Opt("server-time-zone", "server_time_zone", _zone),
    _Opt("scan.incremental.snapshot.chunk.size", "chunk_size", _int(2)),
    _Opt("scan.snapshot.fetch.size", "fetch_size", _int(2)),
    _Opt("scan.startup.mode", "startup_mode", _enum(StartupMode)),
    _Opt("scan.startup.specific-offset.file", "specific_offset_file", _string),
    _Opt("scan.startup.specific-offset.pos", "specific_offset_pos", _int(0)),
    _Opt("scan.startup.specific-offset.gtid-set", "specific_offset_gtid_set", _string),
    _Opt("scan.startup.specific-offset.skip-events", "specific_offset_skip_events", _int(0)),
    _Opt("scan.startup.specific-offset.skip-rows", "specific_offset_skip_rows", _int(0)),
    _Opt("scan.startup.timestamp-millis", "startup_timestamp_millis", _int(0)),
    _Opt("connect.timeout", "connect_timeout", _duration(0.25)),
    _Opt("connect.max-retries", "connect_max_retries", _int(1)),
    _Opt("heartbeat.interval", "heartbeat_interval", _duration()),
    # This project's own options (Flink CDC has none for these; see the README's Configuration table).
    _Opt("scan.binlog.purged.action", "binlog_purged_action", _enum(BinlogPurgedAction)),
    _Opt("scan.binlog.retention-warning.ratio", "retention_warning_ratio", _float(0.0, 1.0)),
    _Opt("scan.incremental.snapshot.chunk.key-column", "chunk_key_columns", _per_table),
    _Opt("scan.snapshot.filters", "snapshot_filters", _snapshot_filters),
    _Opt("scan.newly-added-table.enabled", "newly_added_tables", _bool),
    _Opt("scan.binlog.newly-added-table.enabled", "binlog_newly_added", _bool),
    _Opt("scan.parse.online.schema.changes.enabled", "parse_online_schema_changes", _bool),
    _Opt("include-comments.enabled", "include_comments", _bool),
    _Opt("treat-tinyint1-as-boolean.enabled", "treat_tinyint1_as_boolean", _bool),
    _Opt("use.legacy.json.format", "use_legacy_json_format", _bool),
    _Opt("scan.incremental.snapshot.unbounded-chunk-first.enabled", "unbounded_chunk_first", _bool),
    _Opt("scan.incremental.snapshot.backfill.skip", "backfill_skip", _bool),
    _Opt("metadata.list", "metadata_list", _name_list(("op_ts",))),
    _Opt("chunk-key.even-distribution.factor.upper-bound", "even_distribution_factor_upper", _float(1.0)),
    _Opt("chunk-key.even-distribution.factor.lower-bound", "even_distribution_factor_lower", _float(0.0, 1.0)),
    _Opt("split-key.even-distribution.factor.upper-bound", "even_distribution_factor_upper", _float(1.0)),
    _Opt("split-key.even-distribution.factor.lower-bound", "even_distribution_factor_lower", _float(0.0, 1.0)),
    # VVR (Alibaba) option; the seed uses it and decoding only captured tables is what we do anyway.
    _Opt("scan.only.deserialize.captured.tables.changelog.enabled", "only_deserialize_captured", _bool),
    _Opt("scan.parallel-deserialize-changelog.enabled", "parallel_deserialize", _bool,
         na="VVR option for decoding the binlog on several threads; events are decoded in one thread here"),
    _Opt("connection.pool.size", None, _int(2),
         na="size of Flink's per-reader JDBC connection pool; this project opens its own connections"),
    _Opt("chunk-meta.group.size", None, _int(2),
         na="batches finished-chunk metadata between Flink's enumerator and readers; chunk progress is "
            "kept in the state folder"),
    _Opt("scan.incremental.close-idle-reader.enabled", None, _bool,
         na="closes idle Flink source subtasks after the snapshot; there are no subtasks here"),
]  # fmt: skip
_SOURCE_PREFIXES = {
    "debezium.": "Debezium engine property; the binlog is read with python-mysql-replication, not Debezium",
    "jdbc.properties.": "property of the Java MySQL JDBC driver; connections are made with PyMySQL",
}
_SINK_COMMON = _COMMON + [
    _Opt("include.schema.changes", "include_schema_changes", _SCHEMA_TAG),
    _Opt("exclude.schema.changes", "exclude_schema_changes", _SCHEMA_TAG),
]
_DUCKDB = _SINK_COMMON + [
    _Opt("path", "path", _path, required="set the DuckDB database file, e.g. path: replica.duckdb"),
]
_STARROCKS = _SINK_COMMON + [
    _Opt("jdbc-url", "jdbc_url", _string, required="set the FE query address, e.g. jdbc:mysql://fe1:9030"),
    _Opt("load-url", "load_url", _load_urls, required="set the FE HTTP addresses, e.g. fe1:8030;fe2:8030"),
    _Opt("username", "username", _string, required="set the StarRocks user name"),
    _Opt("password", "password", _secret, required='set it (password: "" for none)', secret=True),
    _Opt("sink.label-prefix", "label_prefix", _label_prefix),
    _Opt("sink.connect.timeout-ms", "connect_timeout_ms", _int(100, 60000)),
    _Opt("sink.socket.timeout-ms", "socket_timeout_ms", _int(-1)),
    _Opt("sink.wait-for-continue.timeout-ms", "wait_for_continue_timeout_ms", _int(3000, 600000)),
    _Opt("sink.buffer-flush.max-bytes", "buffer_flush_max_bytes", _int(64 * 2**20, 10 * 2**30)),
    _Opt("sink.buffer-flush.interval-ms", "buffer_flush_interval_ms", _int(1000, 3600000)),
    _Opt("sink.io.thread-count", "io_thread_count", _int(1)),
    _Opt("sink.at-least-once.use-transaction-stream-load", "use_transaction_stream_load", _bool),
    _Opt("table.create.num-buckets", "table_create_num_buckets", _int(1)),
    _Opt("table.schema-change.timeout", "schema_change_timeout", _duration(1.0, whole_seconds=True)),
    _Opt("unicode-char.max-bytes", "unicode_char_max_bytes", _int(1, 4)),
    _Opt("sink.scan-frequency.ms", None, _int(0),
         na="how often Flink's sink checks the flush interval; the writer checks it on every batch"),
    _Opt("sink.metric.histogram-window-size", None, _int(1), na="window of a Flink metric histogram"),
]  # fmt: skip
_SINK_MAPS = {
    "duckdb": {},
    "starrocks": {"sink.properties.": "properties", "table.create.properties.": "table_create_properties"},
}
_PIPELINE = [
    _Opt("name", "name", _string),
    _Opt("schema.change.behavior", "schema_change_behavior", _enum(SchemaChangeBehavior)),
    _Opt("local-time-zone", "local_time_zone", _zone),
    _Opt("route-mode", "route_mode", _route_mode),
    _Opt("state.dir", "state_dir", _path),
    _Opt("parallelism", "parallelism", _int(1)),
    _Opt("schema-operator.rpc-timeout", None, _duration(),
         na="timeout of Flink's schema operator RPC; schema changes are applied in the writer's thread"),
    _Opt("operator.uid.prefix", None, _string, na="prefix of Flink operator uids in savepoints"),
    _Opt("sink.partitioning.strategy", None, None, na="how Flink partitions events between sink subtasks"),
    _Opt("user-defined-function", None, None, na="Java UDF classes for Flink transforms"),
    _Opt("model", None, None, na="AI model definitions for Flink transforms"),
    _Opt("transform.decimal.precision.mode", None, None, na="precision rule of Flink's transform evaluator"),
]  # fmt: skip
_PIPELINE_PREFIXES = {
    p: "Flink runtime/cluster setting (checkpointing, restarts, runtime mode); no Flink cluster here"
    for p in ("execution.", "restart-strategy.", "state.backend", "state.checkpoints.", "state.savepoints.",
              "taskmanager.", "jobmanager.")
}  # fmt: skip
_ROUTE_KEYS = ("source-table", "sink-table", "replace-symbol", "description")
_TRANSFORM_KEYS = (
    "source-table", "projection", "filter", "primary-keys", "partition-keys", "table-options",
    "table-options.delimiter", "converter-after-transform", "description",
)  # fmt: skip
_TOP_KEYS = ("source", "sink", "route", "transform", "pipeline")
_SINK_TABLES = {"duckdb": _DUCKDB, "starrocks": _STARROCKS}
