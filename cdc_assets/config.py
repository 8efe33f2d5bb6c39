"""The pipeline file (Flink CDC 3.x pipeline YAML) as typed, validated objects.

``load_pipeline(path)`` / ``parse_pipeline(text, origin=..., base_dir=...)`` give a
:class:`PipelineConfig` or raise one :class:`~cdc_assets.errors.ConfigError` listing every problem,
one line each, as ``<file>[:<line>]: <dotted.key>: <what is wrong and the fix>``.

The file is read as Flink CDC reads it: every scalar is taken as TEXT (a YAML 1.1 loader would turn
``password: 0123`` into 83 and ``+8:00`` into 480) and then coerced by Flink's rules: integers are
decimal digits, booleans are ``true``/``false`` in any case (not ``yes``/``on``), durations are
``<n><unit>`` with ``ns us ms s min h d`` and their long forms (no unit = milliseconds). A plain empty
value or ``null`` means "not set". Duplicate keys are an error (YAML would keep the last silently).
Explicit option tables are used instead of pydantic models because these rules differ from
pydantic's coercion and because the tables also drive unknown-key suggestions and the list of
Flink-only keys.

Option keys, defaults and range checks are Flink CDC's (``MySqlDataSourceOptions`` /
``MySqlDataSourceFactory``, ``StarRocksDataSinkOptions``, ``PipelineOptions``) unless a comment says
why not. Keys that only make sense inside Flink (``debezium.*``,
``jdbc.properties.*``, ``pipeline.parallelism``, ``execution.*``...) are accepted, validated where
Flink validates them, have no effect, and are listed in ``PipelineConfig.not_applicable`` with a
reason each (``not_applicable_reasons``). Any other unknown key is an error naming the closest
known key.

Extensions of this project:

- ``${NAME}`` / ``${NAME:-default}`` in any string value is replaced from the environment (``env``
  argument, default ``os.environ``); the default is used when NAME is unset or empty, as in a POSIX
  shell. ``$${`` is a literal ``${``. A variable that is unset and has no default is an error.
- ``pipeline.state.dir``: the folder holding offsets and chunk progress. Precedence: the
  ``state_dir`` argument (relative to the working directory) > ``pipeline.state.dir`` (relative to
  the pipeline file's folder) > ``<pipeline file folder>/<pipeline file stem>.cdc-state/``
  (``<base_dir>/<pipeline_id>.cdc-state/`` when parsed from text without a path).
- ``sink.type: duckdb`` with ``path`` (relative to the pipeline file's folder).
- ``PipelineConfig.pipeline_id``: ``pipeline.name`` made lower case with every run of characters
  other than ``a-z0-9`` replaced by ``_`` (max 48 characters, ``p_`` prefixed if it would start with
  a digit; the file stem, else ``pipeline``, when there is no name). It matches Dagster's asset-name
  and StarRocks' label alphabets; it changes when the name changes, so give pipelines distinct
  names and keep them.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, timedelta, timezone, tzinfo
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import SecretStr

from cdc_assets.core.routing import RouteMode, RouteRule, RouteRuleError, resolve_target
from cdc_assets.core.schema import TableId
from cdc_assets.core.selectors import TableFilter, TableSelector, parse_selectors
from cdc_assets.errors import ConfigError

__all__ = [
    "ConfigError",
    "DuckDBSinkConfig",
    "MySqlSourceConfig",
    "PipelineConfig",
    "PipelineOptions",
    "SchemaChangeBehavior",
    "StarRocksSinkConfig",
    "StartupMode",
    "TransformRule",
    "load_pipeline",
    "parse_duration",
    "parse_pipeline",
    "resolve_schema_change_tags",
    "to_tzinfo",
]


class SchemaChangeBehavior(StrEnum):
    """``pipeline.schema.change.behavior`` (case-insensitive; default LENIENT)."""

    EXCEPTION = "EXCEPTION"
    EVOLVE = "EVOLVE"
    TRY_EVOLVE = "TRY_EVOLVE"
    LENIENT = "LENIENT"
    IGNORE = "IGNORE"


class StartupMode(StrEnum):
    """``source.scan.startup.mode`` (case-insensitive; default initial)."""

    INITIAL = "initial"
    SNAPSHOT = "snapshot"
    LATEST_OFFSET = "latest-offset"
    EARLIEST_OFFSET = "earliest-offset"
    SPECIFIC_OFFSET = "specific-offset"
    TIMESTAMP = "timestamp"


# Schema change event tags and the families a tag may name (SchemaChangeEventTypeFamily).
SCHEMA_CHANGE_TYPES = (
    "add.column", "alter.column.type", "create.table", "drop.column",
    "drop.table", "rename.column", "truncate.table", "alter.table.comment",
)  # fmt: skip
_FAMILIES = {
    "add": ("add.column",),
    "alter": ("alter.column.type",),
    "create": ("create.table",),
    "drop": ("drop.column", "drop.table"),
    "rename": ("rename.column",),
    "table": ("create.table", "drop.table", "truncate.table", "alter.table.comment"),
    "column": ("add.column", "alter.column.type", "drop.column", "rename.column"),
    "all": SCHEMA_CHANGE_TYPES,
}


def resolve_schema_change_tags(tags: tuple[str, ...]) -> frozenset[str]:
    """Event tags or family names (``drop`` = ``drop.column`` + ``drop.table``) -> event tags."""
    out: set[str] = set()
    for tag in tags:
        out.update(_FAMILIES.get(tag, (tag,)))
    return frozenset(out)


# ------------------------------------------------------------------------------------------------
# Value coercion, Flink's rules. Each parser takes the YAML value (str, list, dict or None is never
# passed) and returns the typed value or raises ValueError with a message naming the value.

_DURATION_UNITS = {
    **dict.fromkeys(("ns", "nano", "nanos", "nanosecond", "nanoseconds"), 1e-9),
    **dict.fromkeys(("us", "µs", "micro", "micros", "microsecond", "microseconds"), 1e-6),
    **dict.fromkeys(("ms", "milli", "millis", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
_DURATION = re.compile(r"(\d+)\s*([a-zµ]*)")
_OFFSET = re.compile(r"(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")


def _text(value: Any) -> str:
    if isinstance(value, list):
        raise ValueError("expected a single value, got a list")
    if isinstance(value, dict):
        raise ValueError("expected a single value, got a mapping")
    return str(value)


def parse_duration(value: Any) -> float:
    """A Flink duration (``30s``, ``500 ms``, ``1min``, ``2h``; no unit = milliseconds) -> seconds."""
    text = _text(value)
    m = _DURATION.fullmatch(text.strip().lower())
    if not m or m.group(2) not in _DURATION_UNITS and m.group(2):
        raise ValueError(f"expected a duration such as 30s, 500ms or 1min, got '{text}'")
    return int(m.group(1)) * _DURATION_UNITS.get(m.group(2), 1e-3)


def to_tzinfo(name: str) -> tzinfo:
    """An IANA zone (``Asia/Shanghai``), ``UTC``/``Z`` or an offset (``+08:00``, ``UTC+8``) -> tzinfo."""
    text = name.strip()
    if text.upper() in ("Z", "UTC", "GMT", "UT"):
        return UTC
    m = _OFFSET.fullmatch(text)
    if m:
        sign, hh, mm, ss = m.group(1), int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0)
        if hh > 18 or mm > 59 or ss > 59 or (hh == 18 and (mm or ss)):
            raise ValueError(f"time zone offset '{name}' is out of range (-18:00..+18:00)")
        delta = timedelta(hours=hh, minutes=mm, seconds=ss)
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{name}'; use an IANA name such as 'UTC' or 'Asia/Shanghai', or an "
            "offset such as '+08:00'"
        ) from None


def _zone(value: Any) -> str:
    text = _text(value).strip()
    to_tzinfo(text)
    return text


def _string(value: Any) -> str:
    text = _text(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _secret(value: Any) -> SecretStr:
    # Never put the value in a message: only its shape.
    if isinstance(value, list | dict):
        raise ValueError("expected a single value (a string)")
    return SecretStr(str(value))


def _bool(value: Any) -> bool:
    text = _text(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got '{_text(value)}'")
    return text == "true"


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        text = _text(value)
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise ValueError(f"expected an integer, got '{text}'")
        n = int(text)
        if lo is not None and hi is not None and not lo <= n <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {n}")
        if lo is not None and n < lo:
            raise ValueError(f"must be at least {lo}, got {n}")
        if hi is not None and n > hi:
            raise ValueError(f"must be at most {hi}, got {n}")
        return n

    return parse


def _float(lo: float, hi: float | None = None) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        text = _text(value)
        try:
            x = float(text.strip())
        except ValueError:
            raise ValueError(f"expected a number, got '{text}'") from None
        if hi is not None and not lo <= x <= hi:
            raise ValueError(f"must be between {lo:g} and {hi:g}, got {text}")
        if not lo <= x:  # also rejects nan
            raise ValueError(f"must be at least {lo:g}, got {text}")
        return x

    return parse


def _duration(min_s: float = 0.0, whole_seconds: bool = False) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds < min_s:
            raise ValueError(f"must be at least {min_s:g}s, got '{_text(value)}'")
        if whole_seconds and abs(seconds - round(seconds)) > 1e-9:
            raise ValueError(f"must be a whole number of seconds, got '{_text(value)}'")
        return seconds

    return parse


def _enum(enum: type[StrEnum]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        text = _text(value).strip()
        for member in enum:
            if member.value.lower() == text.lower():
                return member
        raise ValueError(f"unknown value '{text}'; expected one of: {', '.join(m.value for m in enum)}")

    return parse


def _route_mode(value: Any) -> RouteMode:
    return RouteMode.parse(_text(value))


def _server_id(value: Any) -> tuple[int, int]:
    text = _text(value).strip()
    m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
    if not m:
        raise ValueError(f"expected a server id like 5400 or a range like 5400-5408, got '{text}'")
    start, end = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 1 <= start <= end <= 2**32 - 1:
        raise ValueError(f"'{text}' must be ids between 1 and 4294967295 with start <= end")
    return start, end


def _selectors(value: Any) -> str:
    text = _text(value)
    parse_selectors(text)
    return text


def _per_table(value: Any) -> tuple[tuple[TableSelector, str], ...]:
    """``db.tbl_regex:col;db2.t\\.*:col2`` (Flink: ';' between entries, one ':' in each)."""
    text, out = _text(value), []
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        selector_text, sep, rest = entry.partition(":")
        if not sep or not rest.strip() or ":" in rest:
            raise ValueError(f"entry '{entry}' is not of the form db_regex.table_regex:column")
        out.extend((s, rest.strip()) for s in parse_selectors(selector_text))
    return tuple(out)


def _snapshot_filters(value: Any) -> tuple[tuple[TableSelector, str], ...]:
    """``db.tbl:id > 100;db2.t\\.*:id < 0`` (the filter may contain ':', so split at the first)."""
    out = []
    for entry in (e.strip() for e in _text(value).split(";")):
        if not entry:
            continue
        selector_text, sep, expr = entry.partition(":")
        if not sep or not expr.strip():
            raise ValueError(f"entry '{entry}' is not of the form db_regex.table_regex:filter")
        out.extend((s, expr.strip()) for s in parse_selectors(selector_text))
    return tuple(out)


def _name_list(allowed: tuple[str, ...] | None) -> Callable[[Any], tuple[str, ...]]:
    """A YAML list or a comma string; with ``allowed``, each item must be one of them."""

    def parse(value: Any) -> tuple[str, ...]:
        items = value if isinstance(value, list) else _text(value).split(",")
        out = tuple(_text(i).strip().lower() for i in items if i is not None and _text(i).strip())
        for item in out:
            if allowed is not None and item not in allowed:
                raise ValueError(f"unknown value '{item}'; expected some of: {', '.join(allowed)}")
        return out

    return parse


def _load_urls(value: Any) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in re.split(r"[;,]", _text(value)) if u.strip())
    if not urls:
        raise ValueError("expected FE HTTP addresses such as 'fe1:8030;fe2:8030'")
    return urls


def _label_prefix(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(r"[-_A-Za-z0-9]{1,100}", text):
        raise ValueError(f"'{text}' may only contain A-Z a-z 0-9 - _ (at most 100 characters)")
    return text


def _path(value: Any) -> str:
    return _string(value).strip()


# ------------------------------------------------------------------------------------------------
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
    _Opt("parallelism", "parallelism", _int(1),
         na="Flink operator parallelism; one binlog reader and one writer run per pipeline here"),
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
_SECRET_KEY = re.compile(r"password|secret|token|credential", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------
# The typed configuration.


@dataclass(frozen=True, kw_only=True)
class MySqlSourceConfig:
    """``source`` (type mysql). Durations are seconds; defaults are Flink CDC's."""

    hostname: str
    username: str
    password: SecretStr  # .get_secret_value() for the text; repr/str show **********
    tables: str  # the selector list as written; see table_filter
    table_filter: TableFilter
    name: str | None = None
    port: int = 3306
    tables_exclude: str | None = None
    schema_change_enabled: bool = True
    server_id: tuple[int, int] | None = None  # (start, end); None: the engine picks (Flink: random 5400-6400)
    server_time_zone: str | None = None  # None: the server's own zone (a warning is given)
    chunk_size: int = 8096  # rows per snapshot chunk
    fetch_size: int = 1024  # rows per fetch while reading a chunk
    startup_mode: StartupMode = StartupMode.INITIAL
    specific_offset_file: str | None = None
    specific_offset_pos: int | None = None
    specific_offset_gtid_set: str | None = None
    specific_offset_skip_events: int | None = None
    specific_offset_skip_rows: int | None = None
    startup_timestamp_millis: int | None = None
    connect_timeout: float = 30.0  # >= 0.25 s
    connect_max_retries: int = 3
    heartbeat_interval: float = 30.0  # 0 disables
    chunk_key_columns: tuple[tuple[TableSelector, str], ...] = ()
    snapshot_filters: tuple[tuple[TableSelector, str], ...] = ()  # WHERE clauses for the snapshot
    newly_added_tables: bool = False
    binlog_newly_added: bool = False
    parse_online_schema_changes: bool = False
    include_comments: bool = False
    treat_tinyint1_as_boolean: bool = True
    use_legacy_json_format: bool = True
    unbounded_chunk_first: bool = False
    backfill_skip: bool = False
    metadata_list: tuple[str, ...] = ()
    even_distribution_factor_upper: float = 1000.0
    even_distribution_factor_lower: float = 0.05
    # VVR default is false; decoding only the captured tables is always right for this project.
    only_deserialize_captured: bool = True
    parallel_deserialize: bool = False

    def chunk_key_column(self, table_id: TableId) -> str | None:
        """The configured chunk key of ``table_id`` (the last matching entry wins, as in Flink)."""
        found = [col for sel, col in self.chunk_key_columns if sel.matches(table_id)]
        return found[-1] if found else None


@dataclass(frozen=True, kw_only=True)
class DuckDBSinkConfig:
    """``sink`` with ``type: duckdb`` (this project's embedded target)."""

    path: Path  # absolute, or ':memory:'
    name: str | None = None
    include_schema_changes: tuple[str, ...] | None = None
    exclude_schema_changes: tuple[str, ...] | None = None
    type: str = "duckdb"


@dataclass(frozen=True, kw_only=True)
class StarRocksSinkConfig:
    """``sink`` with ``type: starrocks``. Times are milliseconds where the key says ``-ms``."""

    jdbc_url: str
    load_url: tuple[str, ...]  # FE HTTP addresses (host:port, optionally http(s)://)
    username: str
    password: SecretStr
    name: str | None = None
    label_prefix: str | None = None
    connect_timeout_ms: int = 30000
    socket_timeout_ms: int = -1  # -1: no timeout
    wait_for_continue_timeout_ms: int = 30000
    # Flink CDC's StarRocksDataSinkOptions default is 150 MiB (the standalone connector's is 90 MiB).
    buffer_flush_max_bytes: int = 150 * 2**20
    buffer_flush_interval_ms: int = 300000
    io_thread_count: int = 2
    use_transaction_stream_load: bool = True
    table_create_num_buckets: int | None = None  # None: StarRocks chooses (>= 2.5)
    table_create_properties: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)  # sink.properties.* (Stream Load headers)
    schema_change_timeout: float = 1800.0  # seconds, whole
    unicode_char_max_bytes: int | None = None  # None: the type mapper decides (4 is right for utf8mb4)
    include_schema_changes: tuple[str, ...] | None = None
    exclude_schema_changes: tuple[str, ...] | None = None
    type: str = "starrocks"


@dataclass(frozen=True, kw_only=True)
class TransformRule:
    """One ``transform`` entry, kept as written (the engine does not apply transforms yet)."""

    source_table: str
    selectors: tuple[TableSelector, ...]
    projection: str | None = None
    filter: str | None = None
    primary_keys: tuple[str, ...] = ()
    partition_keys: tuple[str, ...] = ()
    table_options: dict[str, str] = field(default_factory=dict)
    converter_after_transform: str | None = None
    description: str | None = None


@dataclass(frozen=True, kw_only=True)
class PipelineOptions:
    """``pipeline``."""

    name: str | None = None
    parallelism: int = 1  # accepted for Flink compatibility; no effect
    schema_change_behavior: SchemaChangeBehavior = SchemaChangeBehavior.LENIENT
    local_time_zone: str | None = None  # None: the machine's zone
    route_mode: RouteMode = RouteMode.ALL_MATCH
    state_dir: str | None = None  # as written; PipelineConfig.state_dir is the resolved folder


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """A validated pipeline file."""

    origin: str  # the file as named in messages
    path: Path | None
    source: MySqlSourceConfig
    sink: DuckDBSinkConfig | StarRocksSinkConfig
    routes: list[RouteRule]
    transforms: list[TransformRule]
    pipeline: PipelineOptions
    state_dir: Path
    pipeline_id: str
    not_applicable: list[str]  # dotted keys present in the file that have no effect here
    not_applicable_reasons: dict[str, str]  # dotted key -> why
    warnings: list[str]  # things that are allowed but probably not meant

    @property
    def route_mode(self) -> RouteMode:
        return self.pipeline.route_mode

    @property
    def table_filter(self) -> TableFilter:
        return self.source.table_filter

    @property
    def schema_change_types(self) -> frozenset[str]:
        """Event tags the sink applies: include (default all) minus exclude; with LENIENT and no
        ``exclude.schema.changes``, ``drop.table`` and ``truncate.table`` are excluded (Flink)."""
        include = resolve_schema_change_tags(self.sink.include_schema_changes or ("all",))
        if self.sink.exclude_schema_changes is not None:
            exclude = resolve_schema_change_tags(self.sink.exclude_schema_changes)
        elif self.pipeline.schema_change_behavior is SchemaChangeBehavior.LENIENT:
            exclude = frozenset({"drop.table", "truncate.table"})
        else:
            exclude = frozenset()
        return include - exclude

    def target_for(self, table_id: TableId) -> TableId:
        """The target table of a captured source table (routing; ConfigError if ambiguous)."""
        return resolve_target(table_id, self.routes, self.route_mode)

    def to_display_dict(self) -> dict[str, Any]:
        """Effective settings as plain JSON-able values, secrets replaced by ``******``."""
        return {
            "file": self.origin,
            "pipeline_id": self.pipeline_id,
            "state_dir": str(self.state_dir),
            "source": _plain(self.source),
            "sink": _plain(self.sink),
            "route": [_plain(r) for r in self.routes],
            "route_mode": self.route_mode.value,
            "transform": [_plain(t) for t in self.transforms],
            "pipeline": _plain(self.pipeline),
            "not_applicable": dict(self.not_applicable_reasons),
            "warnings": list(self.warnings),
        }


def _plain(value: Any, key: str = "") -> Any:
    if isinstance(value, SecretStr):
        return "******" if value.get_secret_value() else ""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path | TableSelector | TableFilter):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name), f.name) for f in fields(value) if f.repr}
    if isinstance(value, dict):
        return {k: ("******" if _SECRET_KEY.search(k) else _plain(v, k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, key) for v in value]
    return value


# ------------------------------------------------------------------------------------------------
# Reading: YAML nodes -> plain values (text scalars), with lines, env substitution and errors.

_ENV = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NULLS = ("", "~", "null", "Null", "NULL")


class _Ctx:
    def __init__(self, origin: str, env: Mapping[str, str]) -> None:
        self.origin, self.env = origin, env
        self.errors: list[tuple[str, str]] = []
        self.lines: dict[str, int] = {}
        self.na: dict[str, str] = {}
        self.warnings: list[str] = []
        self.secrets: list[str] = []
        self.failed: set[str] = set()  # keys with an error already (one message per key)

    def error(self, key: str, message: str) -> None:
        """Record an error; the line is the key's, or else its nearest enclosing block's."""
        parent = key
        while parent and parent not in self.lines:
            parent = parent[: max(parent.rfind("."), parent.rfind("["), 0)]
        line = self.lines.get(parent)
        where = f"{self.origin}:{line}" if line else self.origin
        self.failed.add(key)
        self.errors.append((key, f"{where}: {key}: {message}"))

    def substitute(self, text: str, key: str) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group(1):  # $${...} is a literal ${...}
                return m.group(0)[1:]
            name, default = m.group(2), m.group(3)
            value = self.env.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    self.error(
                        key,
                        f"environment variable '{name}' is not set; export it, or write "
                        f"${{{name}:-default}} to give a default",
                    )
                    return ""
                return default
            return value

        return _ENV.sub(repl, text)

    def to_value(self, node: yaml.Node, key: str) -> Any:
        self.lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            if node.style is None and node.value in _NULLS:
                return None
            return self.substitute(node.value, key)
        if isinstance(node, yaml.SequenceNode):
            return [self.to_value(n, f"{key}[{i}]") for i, n in enumerate(node.value)]
        out: dict[str, Any] = {}
        for k_node, v_node in node.value:
            if not isinstance(k_node, yaml.ScalarNode):
                self.error(
                    key or "(top level)", f"line {k_node.start_mark.line + 1}: keys must be plain text"
                )
                continue
            name = k_node.value
            child = f"{key}.{name}" if key else name
            if name in out:
                self.lines[child] = k_node.start_mark.line + 1
                self.error(child, "is given twice; keep one")
                continue
            self.lines[child] = k_node.start_mark.line + 1
            out[name] = self.to_value(v_node, child)
        return out

    def raise_if_errors(self) -> None:
        if self.errors:
            message = "\n".join(m for _, m in self.errors)
            for secret in self.secrets:
                if len(secret) >= 4:
                    message = message.replace(secret, "******")
            raise ConfigError(message, file=self.origin, keys=[k for k, _ in self.errors])


def _section(
    ctx: _Ctx,
    raw: dict[str, Any],
    where: str,
    opts: list[_Opt],
    prefixes: Mapping[str, str] | None = None,
    map_prefixes: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Parse one mapping against an option table. ``prefixes``: Flink-only key prefixes -> reason;
    ``map_prefixes``: key prefix -> attribute collecting ``{rest of key: text}``.
    Returns (attribute values, collected maps)."""
    prefixes, map_prefixes = prefixes or {}, map_prefixes or {}
    table = {o.key: o for o in opts}
    values: dict[str, Any] = {}
    set_by: dict[str, str] = {}
    maps: dict[str, dict[str, str]] = {}
    for key, value in raw.items():
        dotted = f"{where}.{key}"
        opt = table.get(key)
        if opt is not None:
            if value is None or dotted in ctx.failed:
                continue  # `key:` with no value means "not set"; a failed ${VAR} was reported
            if opt.secret and isinstance(value, str):
                ctx.secrets.append(value)
            if opt.parse is not None:
                try:
                    parsed = opt.parse(value)  # secret parsers never quote the value
                except ValueError as exc:
                    ctx.error(dotted, str(exc))
                    continue
                if opt.attr is not None:
                    if opt.attr in set_by:
                        ctx.error(dotted, f"sets the same option as {where}.{set_by[opt.attr]}; keep one")
                    values[opt.attr], set_by[opt.attr] = parsed, key
            if opt.na:
                ctx.na[dotted] = opt.na
            continue
        mp = next((p for p in map_prefixes if key.startswith(p) and len(key) > len(p)), None)
        if mp is not None:
            try:
                maps.setdefault(map_prefixes[mp], {})[key[len(mp) :]] = _text(
                    value if value is not None else ""
                )
            except ValueError as exc:
                ctx.error(dotted, str(exc))
            continue
        fp = next((p for p in prefixes if key.startswith(p) and len(key) > len(p)), None)
        if fp is not None:
            ctx.na[dotted] = prefixes[fp]
            continue
        known = list(table) + [p + "*" for p in (*map_prefixes, *prefixes)]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"the closest known option is '{difflib.get_close_matches(key, known, 1, 0.0)[0]}'"
        )
        ctx.error(dotted, f"unknown option; {hint}")
    for opt in opts:
        if opt.required and raw.get(opt.key) is None:
            state = "has no value" if opt.key in raw else "is missing"
            ctx.error(f"{where}.{opt.key}", f"required option {state}; {opt.required}")
    return values, maps


def _mapping(ctx: _Ctx, value: Any, key: str, required: bool) -> dict[str, Any] | None:
    if value is None:
        if required:
            ctx.error(key, f"required section is missing; add a '{key}:' block")
        return None
    if not isinstance(value, dict):
        ctx.error(
            key, f"expected a mapping of options, got {'a list' if isinstance(value, list) else 'a value'}"
        )
        return None
    return value


def _parse_source(ctx: _Ctx, raw: dict[str, Any]) -> MySqlSourceConfig | None:
    kind = raw.get("type")
    if kind is None:
        ctx.error("source.type", "required option is missing; set type: mysql")
    elif not isinstance(kind, str) or kind.strip().lower() != "mysql":
        ctx.error("source.type", f"unknown source type '{kind}'; expected one of: mysql")
        return None
    values, _ = _section(ctx, raw, "source", _SOURCE, _SOURCE_PREFIXES)
    mode = values.get("startup_mode", StartupMode.INITIAL)
    has_gtid = "specific_offset_gtid_set" in values
    has_file_pos = "specific_offset_file" in values and "specific_offset_pos" in values
    if mode is StartupMode.SPECIFIC_OFFSET and not (has_gtid or has_file_pos):
        ctx.error(
            "source.scan.startup.mode",
            "specific-offset needs scan.startup.specific-offset.gtid-set, or "
            "scan.startup.specific-offset.file and scan.startup.specific-offset.pos",
        )
    if mode is StartupMode.TIMESTAMP and "startup_timestamp_millis" not in values:
        ctx.error(
            "source.scan.startup.mode", "timestamp needs scan.startup.timestamp-millis (epoch milliseconds)"
        )
    for prefix, needed in (
        ("specific_offset_", StartupMode.SPECIFIC_OFFSET),
        ("startup_timestamp", StartupMode.TIMESTAMP),
    ):
        if mode is not needed and any(a.startswith(prefix) for a in values):
            ctx.warnings.append(
                f"source: the scan.startup.{needed.value}* options are ignored because scan.startup.mode is "
                f"{mode.value}; set scan.startup.mode: {needed.value} or remove them"
            )
    if values.get("newly_added_tables") and values.get("binlog_newly_added"):
        ctx.error(
            "source.scan.binlog.newly-added-table.enabled",
            "cannot be true together with scan.newly-added-table.enabled (data may be duplicated); enable one",
        )
    if values.get("even_distribution_factor_lower", 0.05) > values.get(
        "even_distribution_factor_upper", 1000.0
    ):
        ctx.error("source.chunk-key.even-distribution.factor.lower-bound", "must not exceed the upper bound")
    if "server_time_zone" not in values:
        ctx.warnings.append(
            "source.server-time-zone is not set; set it to the MySQL server's time zone (e.g. UTC or +08:00) "
            "so TIMESTAMP values convert correctly"
        )
    if any(a not in values for a in ("hostname", "username", "password", "tables")) or ctx.errors:
        return None
    values["table_filter"] = TableFilter.from_options(values["tables"], values.get("tables_exclude"))
    return MySqlSourceConfig(**values)


def _parse_sink(
    ctx: _Ctx, raw: dict[str, Any], base_dir: Path
) -> DuckDBSinkConfig | StarRocksSinkConfig | None:
    kind = raw.get("type")
    if kind is None:
        ctx.error("sink.type", f"required option is missing; set type to one of: {', '.join(_SINK_TABLES)}")
        return None
    kind_text = str(kind).strip().lower() if isinstance(kind, str) else ""
    if kind_text not in _SINK_TABLES:
        ctx.error("sink.type", f"unknown sink type '{kind}'; expected one of: {', '.join(_SINK_TABLES)}")
        return None
    values, maps = _section(ctx, raw, "sink", _SINK_TABLES[kind_text], map_prefixes=_SINK_MAPS[kind_text])
    if kind_text == "duckdb":
        if "path" not in values:
            return None
        p = values["path"]
        values["path"] = Path(p) if p == ":memory:" else (base_dir / Path(p).expanduser())
        return DuckDBSinkConfig(**values)
    if any(a not in values for a in ("jdbc_url", "load_url", "username", "password")):
        return None
    return StarRocksSinkConfig(**values, **maps)


def _entry(ctx: _Ctx, raw: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        ctx.error(key, "expected a mapping with source-table and the other rule keys")
        return None
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in allowed:
            close = difflib.get_close_matches(k, allowed, n=1, cutoff=0.0)
            ctx.error(f"{key}.{k}", f"unknown key; the closest known key is '{close[0]}'")
            continue
        try:
            out[k] = None if v is None else _text(v)
        except ValueError as exc:
            ctx.error(f"{key}.{k}", str(exc))
    if not out.get("source-table"):
        ctx.error(f"{key}.source-table", "required key is missing; set the source table regex")
        return None
    return out


def _parse_routes(ctx: _Ctx, raw: list[Any]) -> list[RouteRule]:
    rules = []
    for i, item in enumerate(raw):
        key = f"route[{i}]"
        entry = _entry(ctx, item, key, _ROUTE_KEYS)
        if entry is None:
            continue
        if not entry.get("sink-table"):
            ctx.error(f"{key}.sink-table", "required key is missing; set the target db.table")
            continue
        try:
            rules.append(
                RouteRule(
                    entry["source-table"],
                    entry["sink-table"],
                    entry.get("replace-symbol"),
                    entry.get("description"),
                )
            )
        except RouteRuleError as exc:
            ctx.error(f"{key}.{exc.key}", str(exc))
    return rules


def _parse_transforms(ctx: _Ctx, raw: list[Any]) -> list[TransformRule]:
    rules = []
    for i, item in enumerate(raw):
        key = f"transform[{i}]"
        entry = _entry(ctx, item, key, _TRANSFORM_KEYS)
        if entry is None:
            continue
        try:
            selectors = tuple(parse_selectors(entry["source-table"]))
        except ValueError as exc:
            ctx.error(f"{key}.source-table", str(exc))
            continue
        delimiter = entry.get("table-options.delimiter") or ","
        options: dict[str, str] = {}
        for pair in filter(str.strip, (entry.get("table-options") or "").split(delimiter)):
            k, sep, v = pair.partition("=")
            if not sep or not k.strip():
                ctx.error(f"{key}.table-options", f"'{pair.strip()}' is not of the form key=value")
            options[k.strip()] = v.strip()
        converter = entry.get("converter-after-transform")
        if converter is not None and converter.strip().upper() != "SOFT_DELETE":
            ctx.error(
                f"{key}.converter-after-transform", f"unknown converter '{converter}'; expected SOFT_DELETE"
            )
        split = lambda s: tuple(c.strip() for c in (s or "").split(",") if c.strip())  # noqa: E731
        rules.append(
            TransformRule(
                source_table=entry["source-table"], selectors=selectors, projection=entry.get("projection"),
                filter=entry.get("filter"), primary_keys=split(entry.get("primary-keys")),
                partition_keys=split(entry.get("partition-keys")), table_options=options,
                converter_after_transform=converter.strip().upper() if converter else None,
                description=entry.get("description"),
            )
        )  # fmt: skip
    return rules


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:48].rstrip("_")
    return f"p_{slug}" if slug[:1].isdigit() else slug


def parse_pipeline(
    text: str,
    *,
    origin: str,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    state_dir: str | Path | None = None,
    path: Path | None = None,
) -> PipelineConfig:
    """Parse pipeline YAML ``text``. ``origin`` names the file in messages; relative paths in the
    file resolve against ``base_dir``; ``path`` (optional) is the file itself, for the default state
    folder name. Raises ConfigError listing every problem."""
    ctx = _Ctx(origin, os.environ if env is None else env)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        # Only the problem and its position: the default str() quotes the line, which may hold a secret.
        mark, start = exc.problem_mark or exc.context_mark, exc.context_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        context = exc.context and (f"{exc.context} (line {start.line + 1})" if start else exc.context)
        problem = " ".join(p for p in (context, exc.problem) if p)
        raise ConfigError(f"{where}: YAML syntax error: {problem}", file=origin) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: YAML syntax error: {type(exc).__name__}", file=origin) from None
    doc = ctx.to_value(root, "") if root is not None else None
    if not isinstance(doc, dict):
        raise ConfigError(f"{origin}: expected a mapping with source, sink and pipeline blocks", file=origin)
    for key in doc:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1, cutoff=0.0)
            ctx.error(key, f"unknown top-level block; the closest known block is '{close[0]}'")

    source_raw = _mapping(ctx, doc.get("source"), "source", required=True)
    sink_raw = _mapping(ctx, doc.get("sink"), "sink", required=True)
    pipeline_raw = _mapping(ctx, doc.get("pipeline"), "pipeline", required=False) or {}
    source = _parse_source(ctx, source_raw) if source_raw is not None else None
    sink = _parse_sink(ctx, sink_raw, base_dir) if sink_raw is not None else None
    lists = {}
    for key in ("route", "transform"):
        value = doc.get(key)
        if value is not None and not isinstance(value, list):
            ctx.error(key, "expected a list of rules (each item starts with '- source-table: ...')")
        lists[key] = value if isinstance(value, list) else []
    routes = _parse_routes(ctx, lists["route"])
    transforms = _parse_transforms(ctx, lists["transform"])
    pipe_values, _ = _section(ctx, pipeline_raw, "pipeline", _PIPELINE, _PIPELINE_PREFIXES)
    ctx.raise_if_errors()
    assert source is not None and sink is not None  # no errors means both parsed

    pipeline = PipelineOptions(**pipe_values)
    pipeline_id = _slug(pipeline.name or (path.stem if path else "")) or "pipeline"
    if state_dir is not None:
        resolved_state = Path(state_dir).expanduser()
    elif pipeline.state_dir:
        resolved_state = base_dir / Path(pipeline.state_dir).expanduser()
    else:
        resolved_state = base_dir / f"{path.stem if path else pipeline_id}.cdc-state"
    return PipelineConfig(
        origin=origin, path=path, source=source, sink=sink, routes=routes, transforms=transforms,
        pipeline=pipeline, state_dir=resolved_state, pipeline_id=pipeline_id,
        not_applicable=list(ctx.na), not_applicable_reasons=dict(ctx.na), warnings=list(ctx.warnings),
    )  # fmt: skip


def load_pipeline(
    path: str | Path, env: Mapping[str, str] | None = None, state_dir: str | Path | None = None
) -> PipelineConfig:
    """Read and validate the pipeline file at ``path`` (see :func:`parse_pipeline`)."""
    origin = str(path)
    file = Path(path).expanduser().absolute()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{origin}: pipeline file not found; pass the path of a Flink CDC pipeline YAML file", file=origin
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{origin}: is a folder; pass the path of the pipeline YAML file", file=origin
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{origin}: not UTF-8 text (byte {exc.start}); save the file as UTF-8", file=origin
        ) from None
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read the pipeline file: {exc.strerror}", file=origin) from None
    return parse_pipeline(text, origin=origin, base_dir=file.parent, env=env, state_dir=state_dir, path=file)
