"""The typed configuration: what a validated pipeline file becomes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cdc_assets.config.values import parse_jdbc_url
from cdc_assets.core.online_schema_change import osc_role
from cdc_assets.core.routing import RouteMode, RouteRule, resolve_target, resolve_targets
from cdc_assets.core.schema import TableId
from cdc_assets.core.selectors import TableFilter, TableSelector
from cdc_assets.errors import ConfigError


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


class BinlogPurgedAction(StrEnum):
    """``source.scan.binlog.purged.action`` (this project's option; default fail): what streaming does
    when its restart point is no longer in the server's binlog."""

    FAIL = "fail"
    RESNAPSHOT = "resnapshot"


# Schema change event tags and the families a tag may name (SchemaChangeEventTypeFamily), plus this
# project's two kinds Flink has no event for: rename.table and alter.column.comment (see
# core/evolution.accepts for how they are governed when not named).
SCHEMA_CHANGE_TYPES = (
    "add.column", "alter.column.type", "create.table", "drop.column",
    "drop.table", "rename.column", "truncate.table", "alter.table.comment",
    "rename.table", "alter.column.comment",
)  # fmt: skip
_FAMILIES = {
    "add": ("add.column",),
    "alter": ("alter.column.type", "alter.column.comment"),
    "create": ("create.table",),
    "drop": ("drop.column", "drop.table"),
    "rename": ("rename.column", "rename.table"),
    "table": ("create.table", "drop.table", "truncate.table", "alter.table.comment", "rename.table"),
    "column": ("add.column", "alter.column.type", "drop.column", "rename.column", "alter.column.comment"),
    "all": SCHEMA_CHANGE_TYPES,
}


def resolve_schema_change_tags(tags: tuple[str, ...]) -> frozenset[str]:
    """Event tags or family names (``drop`` = ``drop.column`` + ``drop.table``) -> event tags."""
    out: set[str] = set()
    for tag in tags:
        out.update(_FAMILIES.get(tag, (tag,)))
    return frozenset(out)


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
    # This project's options (not Flink CDC's): a purged restart point, and lag near binlog retention.
    binlog_purged_action: BinlogPurgedAction = BinlogPurgedAction.FAIL
    retention_warning_ratio: float = 0.5  # warn when lag > ratio x the server's binlog retention; 0 disables
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
    # None: 1 s, this project's default. Flink's (300 s) puts five minutes between a commit and its visibility;
    # loads here are transactions per table and flush, so 1 s stays far from StarRocks' version limits.
    buffer_flush_interval_ms: int | None = None
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

    @property
    def query_addresses(self) -> tuple[tuple[str, int], ...]:
        """The FE query (MySQL protocol) addresses named by ``jdbc-url`` (checked when the sink is used:
        Flink CDC files with redacted values must still validate)."""
        try:
            return parse_jdbc_url(self.jdbc_url)
        except ValueError as exc:
            raise ConfigError(f"sink.jdbc-url: {exc}") from None

    @property
    def flush_interval_seconds(self) -> float:
        return (self.buffer_flush_interval_ms or 1000) / 1000.0


@dataclass(frozen=True, kw_only=True)
class TransformRule:
    """One ``transform`` entry, kept as written (expressions checked by :func:`cdc_assets.core.transform.parse_rule`
    when the file loads, compiled per source table by ``cdc_assets.engine.transform``)."""

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
    parallelism: int = 1  # snapshot chunks `cdc-assets sync` loads at once (Dagster: the pool's limit)
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

    def captures(self, table_id: TableId) -> bool:
        """Whether ``table_id`` is captured: ``source.tables`` minus ``tables.exclude``, and, with
        ``scan.parse.online.schema.changes.enabled``, minus the tables online schema-change tools make for
        a captured table (``_t_new``, ``_t_gho``, ``_t_old``, ``_t_del``, ``_t_ghc``: followed as t's
        schema change, see :mod:`cdc_assets.engine.online_schema_change`)."""
        if not self.table_filter.matches(table_id):
            return False
        if not self.source.parse_online_schema_changes:
            return True
        return osc_role(table_id, self.table_filter.matches) is None

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
        """The one target table of a captured source table (routing; ConfigError when ALL_MATCH sends
        it to several: use :meth:`targets_for` where that is allowed)."""
        return resolve_target(table_id, self.routes, self.route_mode)

    def targets_for(self, table_id: TableId) -> list[TableId]:
        """Every target table of a captured source table, in rule order (``[table_id]`` when no route
        rule matches; several under route-mode ALL_MATCH when several rules match)."""
        return resolve_targets(table_id, self.routes, self.route_mode)

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


_SECRET_KEY = re.compile(r"password|secret|token|credential", re.IGNORECASE)


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
