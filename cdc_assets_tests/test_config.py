"""The pipeline file: Flink CDC YAML -> validated objects, and every error names file and key."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from cdc_assets.config import (
    DuckDBSinkConfig,
    PipelineConfig,
    SchemaChangeBehavior,
    StarRocksSinkConfig,
    StartupMode,
    load_pipeline,
    parse_duration,
    parse_pipeline,
    to_tzinfo,
)
from cdc_assets.core.routing import RouteMode
from cdc_assets.core.schema import TableId
from cdc_assets.errors import ConfigError

DATA = Path(__file__).parent / "data"
SEED = DATA / "pipeline-seed.yaml"
SHARED_SEED = Path("/work/shared/reference/pipeline-seed.yaml")
SECRET = "Sup3r-Secret-Value"

BASE = """\
source:
  type: mysql
  hostname: db.example
  username: cdc
  password: {password}
  tables: app.\\.*
{source}
sink:
{sink}
{rest}
"""
DUCKDB_SINK = "  type: duckdb\n  path: replica.duckdb\n"
STARROCKS_SINK = (
    "  type: starrocks\n  jdbc-url: jdbc:mysql://fe:9030\n  load-url: fe1:8030;fe2:8030\n"
    "  username: root\n  password: ''\n"
)


def doc(source: str = "", sink: str = DUCKDB_SINK, rest: str = "", password: str = "pw") -> str:
    return BASE.format(source=source, sink=sink, rest=rest, password=password)


def parse(text: str, env: dict[str, str] | None = None, **kw: object) -> PipelineConfig:
    return parse_pipeline(text, origin="pipeline.yaml", base_dir=Path("/srv/pipes"), env=env or {}, **kw)


def config_error(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return info.value


# ------------------------------------------------------------------------------------------------
# The seed file and a DuckDB pipeline


def test_seed_copy_is_verbatim() -> None:
    if not SHARED_SEED.exists():
        pytest.skip("the shared reference folder is not on this machine")
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


def test_seed_validates_unchanged() -> None:
    config = load_pipeline(SEED, env={})
    src, sink = config.source, config.sink
    assert (src.hostname, src.port, src.username, src.password.get_secret_value()) == (
        "xxxx",
        3306,
        "xxx",
        "xxx",
    )
    assert src.server_id == (556401, 556500)
    assert (src.chunk_size, src.fetch_size, src.heartbeat_interval) == (16192, 8096, 5.0)
    assert src.startup_mode is StartupMode.INITIAL
    assert src.newly_added_tables is True and src.binlog_newly_added is False
    assert src.only_deserialize_captured is True and src.parallel_deserialize is True
    assert isinstance(sink, StarRocksSinkConfig)
    assert sink.buffer_flush_interval_ms == 5000 and sink.table_create_num_buckets == 3
    assert sink.table_create_properties == {"replication_num": "3"}
    assert sink.buffer_flush_max_bytes == 150 * 2**20 and sink.use_transaction_stream_load is True
    assert config.pipeline.schema_change_behavior is SchemaChangeBehavior.EVOLVE
    assert config.pipeline.name == "Sync mysql Database to StarRocks"
    assert config.pipeline_id == "sync_mysql_database_to_starrocks"
    assert config.state_dir == SEED.absolute().parent / "pipeline-seed.cdc-state"
    assert config.path == SEED.absolute()
    assert config.table_filter.matches(TableId("db1", "table1"))
    assert not config.table_filter.matches(TableId("db1", "table2"))
    assert config.target_for(TableId("db1", "table1")) == TableId("db1", "table1")
    assert config.routes[0].description == "route all tables to starrrocks"


def test_seed_flink_only_keys_are_listed_as_not_applicable() -> None:
    config = load_pipeline(SEED, env={})
    assert set(config.not_applicable) == {
        "source.debezium.max.queue.size",
        "source.debezium.max.batch.size",
        "source.debezium.poll.interval.ms",
        "source.scan.parallel-deserialize-changelog.enabled",
    }
    assert config.pipeline.parallelism == 1  # applied: snapshot chunks loaded at once
    assert all(config.not_applicable_reasons[k] for k in config.not_applicable)
    assert "Debezium" in config.not_applicable_reasons["source.debezium.max.queue.size"]


def test_duckdb_pipeline_validates() -> None:
    config = load_pipeline(DATA / "pipeline-duckdb.yaml", env={"CDC_TEST_MYSQL_PASSWORD": "from-env"})
    src, sink = config.source, config.sink
    assert isinstance(sink, DuckDBSinkConfig)
    assert sink.path == (DATA / "out" / "replica.duckdb").absolute()
    assert src.port == 3307 and src.password.get_secret_value() == "from-env"
    assert src.include_comments is True and src.heartbeat_interval == 0.0 and src.connect_timeout == 10.0
    assert src.server_time_zone == "UTC" and src.metadata_list == ("op_ts",)
    assert src.chunk_key_column(TableId("app_db", "events")) == "event_id"
    assert src.chunk_key_column(TableId("shard_db", "order_7")) == "order_id"
    assert src.chunk_key_column(TableId("app_db", "users")) is None
    assert config.table_filter.matches(TableId("app_db", "users"))
    assert not config.table_filter.matches(TableId("app_db", "tmp_x"))
    assert config.route_mode is RouteMode.FIRST_MATCH
    assert config.target_for(TableId("shard_db", "order_3")) == TableId("ods", "orders")
    assert config.target_for(TableId("app_db", "users")) == TableId("ods", "users")
    assert config.pipeline.schema_change_behavior is SchemaChangeBehavior.TRY_EVOLVE
    assert config.pipeline.local_time_zone == "Asia/Shanghai"
    (transform,) = config.transforms
    assert transform.primary_keys == ("event_id",) and transform.filter == "tenant_id <> 0"
    assert transform.table_options == {"replication_num": "1", "bucket": "4"}
    assert "drop.column" not in config.schema_change_types and "drop.table" in config.schema_change_types
    assert config.not_applicable == [] and config.warnings == []


@pytest.mark.parametrize(
    "url, addresses",
    [
        ("jdbc:mysql://fe1:9030,fe2:9031", (("fe1", 9030), ("fe2", 9031))),
        ("jdbc:mysql://fe1/db?useSSL=false", (("fe1", 9030),)),
        ("JDBC:MYSQL://[::1]:9030", (("::1", 9030),)),
    ],
)
def test_jdbc_url_names_the_fe_query_addresses(url, addresses) -> None:
    assert (
        parse(doc(sink=STARROCKS_SINK.replace("jdbc:mysql://fe:9030", url))).sink.query_addresses == addresses
    )


def test_a_jdbc_url_that_is_not_one_is_refused_when_used() -> None:
    sink = parse(
        doc(sink=STARROCKS_SINK.replace("jdbc:mysql://fe:9030", "fe:9030"))
    ).sink  # validates (redacted seeds)
    with pytest.raises(ConfigError, match=r"sink.jdbc-url: 'fe:9030' is not a JDBC MySQL URL; expected e.g."):
        _ = sink.query_addresses


def test_defaults_are_flinks() -> None:
    src = parse(doc()).source
    assert (src.port, src.chunk_size, src.fetch_size, src.connect_max_retries) == (3306, 8096, 1024, 3)
    assert (src.connect_timeout, src.heartbeat_interval) == (30.0, 30.0)
    assert src.startup_mode is StartupMode.INITIAL and src.server_id is None
    assert src.treat_tinyint1_as_boolean and src.schema_change_enabled and src.use_legacy_json_format
    assert not (
        src.newly_added_tables or src.backfill_skip or src.unbounded_chunk_first or src.include_comments
    )
    assert (src.even_distribution_factor_upper, src.even_distribution_factor_lower) == (1000.0, 0.05)
    sink = parse(doc(sink=STARROCKS_SINK)).sink
    assert isinstance(sink, StarRocksSinkConfig)
    assert sink.load_url == ("fe1:8030", "fe2:8030") and sink.password.get_secret_value() == ""
    assert (sink.buffer_flush_interval_ms, sink.io_thread_count, sink.connect_timeout_ms) == (None, 2, 30000)
    # the one deliberate difference: Flink's 300 s flush interval would put 5 minutes of latency on every row
    assert sink.flush_interval_seconds == 1.0
    assert sink.query_addresses == (("fe", 9030),)
    assert (sink.wait_for_continue_timeout_ms, sink.schema_change_timeout) == (30000, 1800.0)
    assert sink.label_prefix is None and sink.table_create_num_buckets is None and sink.properties == {}
    config = parse(doc())
    assert config.pipeline.schema_change_behavior is SchemaChangeBehavior.LENIENT
    assert config.route_mode is RouteMode.ALL_MATCH and config.routes == [] and config.transforms == []


def test_starrocks_options_and_property_maps() -> None:
    sink = parse(
        doc(
            sink=STARROCKS_SINK
            + "  sink.label-prefix: cdc_orders-1\n  sink.properties.timeout: 600\n"
            + "  sink.properties.max_filter_ratio: '0'\n  table.create.properties.fast_schema_evolution: true\n"
            + "  sink.buffer-flush.max-bytes: 67108864\n  table.schema-change.timeout: 10min\n"
            + "  sink.at-least-once.use-transaction-stream-load: 'false'\n  unicode-char.max-bytes: 4\n"
        )
    ).sink
    assert isinstance(sink, StarRocksSinkConfig)
    assert sink.label_prefix == "cdc_orders-1"
    assert sink.properties == {"timeout": "600", "max_filter_ratio": "0"}
    assert sink.table_create_properties == {"fast_schema_evolution": "true"}
    assert sink.buffer_flush_max_bytes == 64 * 2**20 and sink.schema_change_timeout == 600.0
    assert sink.use_transaction_stream_load is False and sink.unicode_char_max_bytes == 4


# ------------------------------------------------------------------------------------------------
# Coercion like Flink's


def test_strings_are_coerced_like_flink() -> None:
    src = parse(
        doc(
            password="0123",  # YAML 1.1 would make this the integer 83
            source='  port: "3306"\n  schema-change.enabled: "FALSE"\n  server-time-zone: +8:00\n'
            "  scan.incremental.snapshot.chunk.size: ' 4096 '\n  server-id: '5400'\n",
        )
    ).source
    assert src.password.get_secret_value() == "0123"
    assert src.port == 3306 and src.schema_change_enabled is False and src.chunk_size == 4096
    assert src.server_time_zone == "+8:00" and src.server_id == (5400, 5400)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("500ms", 0.5),
        ("500 ms", 0.5),
        ("1min", 60.0),
        ("2m", 120.0),
        ("2 h", 7200.0),
        ("1d", 86400.0),
        ("250", 0.25),  # no unit: milliseconds, as Flink's TimeUtils
        ("3 SECONDS", 3.0),
        ("0s", 0.0),
        ("1500us", 0.0015),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "-1s", "1.5s", "10 parsecs", "PT30S", "1 s 2"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("UTC", timedelta(0)),
        ("Z", timedelta(0)),
        ("+08:00", timedelta(hours=8)),
        ("-05:30", timedelta(hours=-5, minutes=-30)),
        ("UTC+8", timedelta(hours=8)),
        ("GMT-0300", timedelta(hours=-3)),
        ("+18:00", timedelta(hours=18)),
    ],
)
def test_to_tzinfo_offsets(name: str, offset: timedelta) -> None:
    assert to_tzinfo(name).utcoffset(None) == offset


def test_to_tzinfo_iana() -> None:
    assert str(to_tzinfo("Asia/Shanghai")) == "Asia/Shanghai"


@pytest.mark.parametrize("name", ["Mars/Olympus", "+19:00", "+08:75", "", "../etc/passwd"])
def test_to_tzinfo_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        to_tzinfo(name)


# ------------------------------------------------------------------------------------------------
# Errors: each names the file and the dotted key


ERROR_CASES = [
    (doc().replace("  hostname: db.example\n", ""), "source.hostname", "required option is missing; set the MySQL host name"),
    (doc().replace("  password: pw\n", "  password:\n"), "source.password", "required option has no value"),
    (doc(sink="  type: kafka\n"), "sink.type", "unknown sink type 'kafka'; expected one of: duckdb, starrocks"),
    (doc(sink="  path: x.duckdb\n"), "sink.type", "required option is missing"),
    (doc().replace("type: mysql", "type: postgres"), "source.type", "unknown source type 'postgres'"),
    (doc().replace("app.\\.*", "app.(x"), "source.tables", "the table regex '(x' is invalid: missing )"),
    (doc(source="  tables.exclude: 'a.b.c'\n"), "source.tables.exclude", "2 unescaped '.'"),
    (doc(source="  port: abc\n"), "source.port", "expected an integer, got 'abc'"),
    (doc(source="  port: 3306.0\n"), "source.port", "expected an integer, got '3306.0'"),
    (doc(source="  port: 70000\n"), "source.port", "between 1 and 65535"),
    (doc(source="  port: [1, 2]\n"), "source.port", "expected a single value, got a list"),
    (doc(source="  hostnme: x\n"), "source.hostnme", "unknown option; did you mean 'hostname'?"),
    (doc(source="  scan.snapshot.fetch-size: 10\n"), "source.scan.snapshot.fetch-size", "'scan.snapshot.fetch.size'"),
    (doc(source="  debezum.x: 1\n"), "source.debezum.x", "unknown option"),
    (doc(source="  server-id: 10-5\n"), "source.server-id", "start <= end"),
    (doc(source="  server-id: abc\n"), "source.server-id", "5400-5408"),
    (doc(source="  server-time-zone: Mars/Base\n"), "source.server-time-zone", "unknown time zone 'Mars/Base'"),
    (doc(source="  scan.incremental.snapshot.chunk.size: 1\n"), "source.scan.incremental.snapshot.chunk.size", "at least 2"),
    (doc(source="  scan.snapshot.fetch.size: 1\n"), "source.scan.snapshot.fetch.size", "at least 2"),
    (doc(source="  connect.timeout: 100ms\n"), "source.connect.timeout", "at least 0.25s"),
    (doc(source="  connect.timeout: 5 parsecs\n"), "source.connect.timeout", "expected a duration"),
    (doc(source="  connect.max-retries: 0\n"), "source.connect.max-retries", "at least 1"),
    (doc(source="  scan.startup.mode: sometime\n"), "source.scan.startup.mode", "expected one of: initial, snapshot"),
    (doc(source="  scan.startup.mode: specific-offset\n"), "source.scan.startup.mode", "gtid-set, or"),
    (
        doc(source="  scan.startup.mode: specific-offset\n  scan.startup.specific-offset.file: mysql-bin.000003\n"),
        "source.scan.startup.specific-offset.pos",
        "required with scan.startup.specific-offset.file",
    ),
    (doc(source="  scan.startup.mode: TIMESTAMP\n"), "source.scan.startup.mode", "scan.startup.timestamp-millis"),
    (
        doc(source="  scan.newly-added-table.enabled: true\n  scan.binlog.newly-added-table.enabled: true\n"),
        "source.scan.binlog.newly-added-table.enabled",
        "data may be duplicated",
    ),
    (doc(source="  include-comments.enabled: yes\n"), "source.include-comments.enabled", "expected true or false, got 'yes'"),
    (doc(source="  scan.incremental.snapshot.chunk.key-column: app.t\n"), "source.scan.incremental.snapshot.chunk.key-column", "db_regex.table_regex:column"),
    (doc(source="  metadata.list: op_ts, row_kind\n"), "source.metadata.list", "unknown value 'row_kind'"),
    (doc(source="  chunk-key.even-distribution.factor.upper-bound: 0.5\n"), "source.chunk-key.even-distribution.factor.upper-bound", "at least 1"),
    (doc(source="  chunk-key.even-distribution.factor.lower-bound: 2\n"), "source.chunk-key.even-distribution.factor.lower-bound", "between 0 and 1"),
    (
        doc(source="  chunk-key.even-distribution.factor.upper-bound: 2\n  split-key.even-distribution.factor.upper-bound: 3\n"),
        "source.split-key.even-distribution.factor.upper-bound",
        "sets the same option as source.chunk-key.even-distribution.factor.upper-bound",
    ),
    (doc(source="  connection.pool.size: 1\n"), "source.connection.pool.size", "at least 2"),
    (doc(source="  port: 1\n  port: 2\n"), "source.port", "is given twice"),
    (doc(sink="  type: duckdb\n"), "sink.path", "required option is missing"),
    (doc(sink=DUCKDB_SINK + "  include.schema.changes: [add.column, bogus]\n"), "sink.include.schema.changes", "unknown value 'bogus'"),
    (doc(sink=DUCKDB_SINK + "  sink.properties.timeout: 5\n"), "sink.sink.properties.timeout", "unknown option"),
    (doc(sink=STARROCKS_SINK.replace("  jdbc-url: jdbc:mysql://fe:9030\n", "")), "sink.jdbc-url", "required option is missing"),
    (doc(sink=STARROCKS_SINK + "  sink.buffer-flush.interval-ms: 10\n"), "sink.sink.buffer-flush.interval-ms", "between 1000 and 3600000"),
    (doc(sink=STARROCKS_SINK + "  sink.buffer-flush.interval: 10\n"), "sink.sink.buffer-flush.interval", "did you mean 'sink.buffer-flush.interval-ms'"),
    (doc(sink=STARROCKS_SINK + "  sink.buffer-flush.max-bytes: 1024\n"), "sink.sink.buffer-flush.max-bytes", "between 67108864"),
    (doc(sink=STARROCKS_SINK + "  sink.label-prefix: a b\n"), "sink.sink.label-prefix", "may only contain"),
    (doc(sink=STARROCKS_SINK + "  sink.connect.timeout-ms: 50\n"), "sink.sink.connect.timeout-ms", "between 100 and 60000"),
    (doc(sink=STARROCKS_SINK + "  table.schema-change.timeout: 1500ms\n"), "sink.table.schema-change.timeout", "whole number of seconds"),
    (doc(rest="pipeline:\n  schema.change.behavior: sometimes\n"), "pipeline.schema.change.behavior", "EXCEPTION, EVOLVE, TRY_EVOLVE, LENIENT, IGNORE"),
    (doc(rest="pipeline:\n  route-mode: any\n"), "pipeline.route-mode", "ALL_MATCH, FIRST_MATCH"),
    (doc(rest="pipeline:\n  parallelism: 0\n"), "pipeline.parallelism", "at least 1"),
    (doc(rest="pipeline:\n  local-time-zone: Nowhere\n"), "pipeline.local-time-zone", "unknown time zone"),
    (doc(rest="pipeline:\n  nmae: x\n"), "pipeline.nmae", "did you mean 'name'?"),
    (doc(rest="route:\n  - source-table: a.b\n"), "route[0].sink-table", "required key is missing"),
    (doc(rest="route:\n  - sink-table: a.b\n"), "route[0].source-table", "required key is missing"),
    (doc(rest="route:\n  - source-table: a.(b\n    sink-table: x.y\n"), "route[0].source-table", "'(b' is invalid"),
    (doc(rest="route:\n  - source-table: a.b\n    sink-table: xy\n"), "route[0].sink-table", "not of the form db.table"),
    (doc(rest="route:\n  - source-table: a.(b)\n    sink-table: x.$2\n"), "route[0].sink-table", "$2 refers to a capture group"),
    (doc(rest="route:\n  - source-table: a.b\n    sink-table: x.y\n    replace: <>\n"), "route[0].replace", "closest known key is 'replace-symbol'"),
    (doc(rest="route:\n  source-table: a.b\n"), "route", "expected a list of rules"),
    (doc(rest="transform:\n  - projection: a\n"), "transform[0].source-table", "required key is missing"),
    (doc(rest="transform:\n  - source-table: a.b\n    filtre: x > 1\n"), "transform[0].filtre", "'filter'"),
    (doc(rest="transform:\n  - source-table: a.b\n    converter-after-transform: HARD\n"), "transform[0].converter-after-transform", "SOFT_DELETE"),
    (doc(rest="transform:\n  - source-table: a.b\n    table-options: k1=v1,k2\n"), "transform[0].table-options", "'k2' is not of the form key=value"),
    (doc(rest="routes:\n  - source-table: a.b\n"), "routes", "closest known block is 'route'"),
    ("sink:\n" + DUCKDB_SINK, "source", "required section is missing"),
    ("source: [1]\nsink:\n" + DUCKDB_SINK, "source", "expected a mapping of options"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "key", "fragment"), ERROR_CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(ERROR_CASES)]
)
def test_error_names_file_and_key(text: str, key: str, fragment: str) -> None:
    err = config_error(text)
    line = next((ln for ln in str(err).splitlines() if f" {key}: " in ln), None)
    assert line is not None, f"no message for {key} in:\n{err}"
    assert line.startswith("pipeline.yaml")
    assert fragment in line
    assert key in err.context["keys"] and err.context["file"] == "pipeline.yaml"
    assert err.exit_code == 2


def test_error_carries_line_number() -> None:
    err = config_error(doc(source="  port: abc\n"))
    assert str(err) == "pipeline.yaml:7: source.port: expected an integer, got 'abc'"


def test_several_errors_are_reported_together_one_line_each() -> None:
    text = doc(
        source="  port: abc\n  hostnme: x\n", sink="  type: kafka\n", rest="pipeline:\n  parallelism: 0\n"
    )
    lines = str(config_error(text)).splitlines()
    assert len(lines) == 4
    assert [ln.split(": ")[1] for ln in lines] == [
        "source.port",
        "source.hostnme",
        "sink.type",
        "pipeline.parallelism",
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('source:\n  type: mysql\n  hostname: "abc\n', "pipeline.yaml:4:1: YAML syntax error"),
        ("source:\n  type: mysql\n   bad: indent\n", "pipeline.yaml:3:"),
        ("source: {a: 1\n", "pipeline.yaml:2:"),
        ("a: 1\n---\nb: 2\n", "single document"),
    ],
)
def test_yaml_syntax_error_names_file_and_line(text: str, fragment: str) -> None:
    assert fragment in str(config_error(text))


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just text\n"])
def test_not_a_mapping(text: str) -> None:
    assert "pipeline.yaml: expected a mapping" in str(config_error(text))


def test_load_pipeline_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: pipeline file not found"):
        load_pipeline(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_pipeline(tmp_path)


def test_load_pipeline_names_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(doc(source="  port: abc\n"))
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert str(info.value).startswith(f"{path}:7: source.port:")


# ------------------------------------------------------------------------------------------------
# Environment substitution


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${PW}", {"PW": "s3"}, "s3"),
        ("pre-${PW}-post", {"PW": "s3"}, "pre-s3-post"),
        ("${PW:-fallback}", {}, "fallback"),
        ("${PW:-fallback}", {"PW": ""}, "fallback"),  # empty counts as unset with :-, as in sh
        ("${PW}", {"PW": ""}, ""),
        ("${PW:-}", {}, ""),
        ("$${PW}", {"PW": "s3"}, "${PW}"),  # $${ is a literal ${
        ("a$b$1", {}, "a$b$1"),
    ],
)
def test_env_substitution(value: str, env: dict[str, str], expected: str) -> None:
    config = parse(doc(password=f"'{value}'"), env=env)
    assert config.source.password.get_secret_value() == expected


def test_env_substitution_applies_to_any_string_and_coerces_after() -> None:
    config = parse(
        doc(source="  port: ${PORT:-3310}\n  server-time-zone: ${TZ_NAME}\n"), env={"TZ_NAME": "UTC"}
    )
    assert config.source.port == 3310 and config.source.server_time_zone == "UTC"


def test_env_missing_variable_names_variable_key_and_file() -> None:
    err = config_error(doc(password="${MYSQL_PASSWORD}", source="  server-time-zone: ${TZ_X}\n"))
    messages = str(err).splitlines()
    assert any(
        m.startswith("pipeline.yaml:5: source.password:") and "'MYSQL_PASSWORD' is not set" in m
        for m in messages
    )
    assert any("source.server-time-zone:" in m and "'TZ_X'" in m for m in messages)
    assert len(messages) == 2  # one message per key: no follow-up "unknown time zone ''" error


def test_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_ASSETS_TEST_PW", "from-os")
    config = parse_pipeline(doc(password="${CDC_ASSETS_TEST_PW}"), origin="p.yaml", base_dir=Path("/x"))
    assert config.source.password.get_secret_value() == "from-os"


# ------------------------------------------------------------------------------------------------
# Secrets


def test_password_never_shown_in_repr_str_or_display() -> None:
    config = parse(doc(password=SECRET, sink=STARROCKS_SINK.replace("password: ''", f"password: {SECRET}x")))
    assert config.source.password.get_secret_value() == SECRET
    assert config.sink.password.get_secret_value() == SECRET + "x"
    for text in (
        repr(config),
        str(config),
        repr(config.source),
        str(config.sink),
        json.dumps(config.to_display_dict()),
    ):
        assert SECRET not in text
    display = config.to_display_dict()
    assert display["source"]["password"] == "******" and display["sink"]["password"] == "******"
    assert display["source"]["hostname"] == "db.example"


def test_display_dict_is_plain_json() -> None:
    display = load_pipeline(SEED, env={}).to_display_dict()
    round_trip = json.loads(json.dumps(display))
    assert round_trip["pipeline"]["schema_change_behavior"] == "EVOLVE"
    assert round_trip["route"][0]["sink_table"] == "db1.<>"
    assert "source.debezium.max.queue.size" in round_trip["not_applicable"]


def test_secret_like_property_keys_are_redacted_in_display() -> None:
    sink = STARROCKS_SINK + f"  sink.properties.auth_token: {SECRET}\n"
    display = parse(doc(sink=sink)).to_display_dict()
    assert display["sink"]["properties"] == {"auth_token": "******"}


@pytest.mark.parametrize(
    "text",
    [
        doc(password=SECRET, source="  port: abc\n"),  # another key is wrong
        doc(password=f"[{SECRET}]"),  # the password itself has the wrong shape
        doc(password=f'"{SECRET}'),  # YAML syntax error on the password line
        doc(password=f"'{SECRET}\n  bad: ["),
        doc(password=SECRET, source=f"  hostname: {SECRET}\n"),  # duplicate key, value echoed nowhere
    ],
)
def test_password_never_in_error_messages(text: str) -> None:
    err = config_error(text)
    assert SECRET not in str(err) and SECRET not in repr(err) and SECRET not in repr(err.context)


# ------------------------------------------------------------------------------------------------
# Not-applicable keys, warnings


def test_flink_only_keys_are_accepted_with_reasons() -> None:
    config = parse(
        doc(
            source="  jdbc.properties.useSSL: 'false'\n  connection.pool.size: 10\n  chunk-meta.group.size: 500\n"
            "  scan.incremental.close-idle-reader.enabled: true\n  name: my source\n",
            sink=STARROCKS_SINK + "  sink.scan-frequency.ms: 100\n",
            rest="pipeline:\n  execution.checkpointing.interval: 10s\n  operator.uid.prefix: x\n"
            "  schema-operator.rpc-timeout: 3min\n  user-defined-function:\n    - name: f\n      classpath: a.B\n",
        )
    )
    assert set(config.not_applicable) == {
        "source.jdbc.properties.useSSL",
        "source.connection.pool.size",
        "source.chunk-meta.group.size",
        "source.scan.incremental.close-idle-reader.enabled",
        "sink.sink.scan-frequency.ms",
        "pipeline.execution.checkpointing.interval",
        "pipeline.operator.uid.prefix",
        "pipeline.schema-operator.rpc-timeout",
        "pipeline.user-defined-function",
    }
    assert config.source.name == "my source"


def test_warnings() -> None:
    assert any("server-time-zone" in w for w in parse(doc()).warnings)
    warned = parse(
        doc(source="  server-time-zone: UTC\n  scan.startup.specific-offset.file: f.000001\n")
    ).warnings
    assert len(warned) == 1 and "scan.startup.mode is initial" in warned[0]


def test_specific_offset_and_timestamp_modes() -> None:
    src = parse(
        doc(
            source="  scan.startup.mode: Specific-Offset\n  scan.startup.specific-offset.gtid-set: '0-1-5'\n"
            "  scan.startup.specific-offset.skip-events: 2\n"
        )
    ).source
    assert src.startup_mode is StartupMode.SPECIFIC_OFFSET and src.specific_offset_gtid_set == "0-1-5"
    assert src.specific_offset_skip_events == 2
    src = parse(
        doc(
            source="  scan.startup.mode: specific-offset\n  scan.startup.specific-offset.file: mysql-bin.000003\n  scan.startup.specific-offset.pos: 4\n"
        )
    ).source
    assert (src.specific_offset_file, src.specific_offset_pos) == ("mysql-bin.000003", 4)
    src = parse(
        doc(source="  scan.startup.mode: timestamp\n  scan.startup.timestamp-millis: 1700000000000\n")
    ).source
    assert src.startup_timestamp_millis == 1_700_000_000_000


def test_split_key_fallback_name() -> None:
    src = parse(doc(source="  split-key.even-distribution.factor.upper-bound: 5\n")).source
    assert src.even_distribution_factor_upper == 5.0


def test_snapshot_filters() -> None:
    src = parse(
        doc(source="  scan.snapshot.filters: 'app.t\\.*:id > 100;app.u:ts < ''2024-01-01 00:00:00'''\n")
    ).source
    assert [(str(s), f) for s, f in src.snapshot_filters] == [
        ("app.t\\.*", "id > 100"),
        ("app.u", "ts < '2024-01-01 00:00:00'"),
    ]


# ------------------------------------------------------------------------------------------------
# Schema change types, state folder, pipeline id


@pytest.mark.parametrize(
    ("sink_extra", "behavior", "expected_missing", "expected_present"),
    [
        ("", "LENIENT", {"drop.table", "truncate.table"}, {"add.column", "drop.column", "create.table"}),
        ("", "evolve", set(), {"drop.table", "truncate.table", "rename.column"}),
        ("  exclude.schema.changes: []\n", "LENIENT", set(), {"drop.table", "truncate.table"}),
        ("  exclude.schema.changes: drop\n", "EVOLVE", {"drop.column", "drop.table"}, {"add.column"}),
        (
            "  include.schema.changes: [create, add.column]\n",
            "EVOLVE",
            {"drop.column"},
            {"create.table", "add.column"},
        ),
        (
            "  include.schema.changes: column\n  exclude.schema.changes: rename\n",
            "EVOLVE",
            {"rename.column", "create.table"},
            {"alter.column.type"},
        ),
    ],
)
def test_schema_change_types(
    sink_extra: str, behavior: str, expected_missing: set[str], expected_present: set[str]
) -> None:
    config = parse(
        doc(sink=DUCKDB_SINK + sink_extra, rest=f"pipeline:\n  schema.change.behavior: {behavior}\n")
    )
    assert not expected_missing & config.schema_change_types
    assert expected_present <= config.schema_change_types


def test_state_dir_precedence(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(doc())
    assert load_pipeline(path).state_dir == tmp_path / "orders.cdc-state"
    path.write_text(doc(rest="pipeline:\n  state.dir: state/here\n"))
    assert load_pipeline(path).state_dir == tmp_path / "state" / "here"
    assert load_pipeline(path, state_dir="/var/cdc").state_dir == Path("/var/cdc")
    assert load_pipeline(path, state_dir="rel").state_dir == Path("rel")  # an argument is relative to the cwd
    path.write_text(doc(rest="pipeline:\n  state.dir: /abs/state\n"))
    assert load_pipeline(path).state_dir == Path("/abs/state")


def test_state_dir_from_text_uses_base_dir() -> None:
    config = parse(doc(rest="pipeline:\n  name: Orders Sync\n"))
    assert config.path is None and config.state_dir == Path("/srv/pipes/orders_sync.cdc-state")


def test_duckdb_path_resolves_against_base_dir() -> None:
    assert parse(doc()).sink.path == Path("/srv/pipes/replica.duckdb")
    assert parse(doc(sink="  type: duckdb\n  path: /data/r.duckdb\n")).sink.path == Path("/data/r.duckdb")
    assert parse(doc(sink="  type: duckdb\n  path: ':memory:'\n")).sink.path == Path(":memory:")


@pytest.mark.parametrize(
    ("name", "pipeline_id"),
    [
        ("Sync mysql Database to StarRocks", "sync_mysql_database_to_starrocks"),
        ("orders-to-ods", "orders_to_ods"),
        ("  2 Fast & Furious! ", "p_2_fast_furious"),
        ("Ünïcode ñame", "n_code_ame"),
        ("x" * 60, "x" * 48),
        ("!!!", "pipeline"),
    ],
)
def test_pipeline_id(name: str, pipeline_id: str) -> None:
    config = parse(doc(rest=f"pipeline:\n  name: '{name}'\n"))
    assert config.pipeline_id == pipeline_id
    assert parse(doc(rest=f"pipeline:\n  name: '{name}'\n")).pipeline_id == pipeline_id  # stable


def test_pipeline_id_without_name_uses_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "My-Orders.yaml"
    path.write_text(doc())
    assert load_pipeline(path).pipeline_id == "my_orders"
    assert parse(doc()).pipeline_id == "pipeline"


def test_target_for_reports_ambiguous_routes() -> None:
    rest = "route:\n  - source-table: app.\\.*\n    sink-table: a.<>\n    replace-symbol: <>\n" + (
        "  - source-table: app.t\\.*\n    sink-table: b.<>\n    replace-symbol: <>\n"
    )
    config = parse(doc(rest=rest))
    with pytest.raises(ConfigError, match="several route rules"):
        config.target_for(TableId("app", "tx"))
    assert config.target_for(TableId("app", "users")) == TableId("a", "users")
    # where several targets are allowed (the engine writes to each), ALL_MATCH gives them in rule order
    assert config.targets_for(TableId("app", "tx")) == [TableId("a", "tx"), TableId("b", "tx")]
    assert config.targets_for(TableId("other", "t")) == [TableId("other", "t")]


@pytest.mark.parametrize(
    "options, message",
    [
        ("", "specific-offset needs scan.startup.specific-offset.gtid-set, or"),
        (
            "  scan.startup.specific-offset.file: mysql-bin.000003\n",
            "source.scan.startup.specific-offset.pos: required with scan.startup.specific-offset.file",
        ),
        (
            "  scan.startup.specific-offset.pos: 120\n",
            "source.scan.startup.specific-offset.file: required with scan.startup.specific-offset.pos",
        ),
        (
            "  scan.startup.specific-offset.gtid-set: 0-1-5\n  scan.startup.specific-offset.file: mysql-bin.000003\n",
            "specific-offset.gtid-set: give either the GTID set or scan.startup.specific-offset.file + .pos, not both",
        ),
        ("  scan.startup.specific-offset.gtid-set: 0-1\n", "is neither a MySQL GTID set"),
        (
            "  scan.startup.specific-offset.file: mysql-bin\n  scan.startup.specific-offset.pos: 120\n",
            "not of the form BASENAME.NUMBER",
        ),
        (
            "  scan.startup.specific-offset.file: mysql-bin.000003\n  scan.startup.specific-offset.pos: 2\n",
            "must be an integer >= 4",
        ),
        (
            "  scan.startup.specific-offset.gtid-set: 0-1-5\n  scan.startup.specific-offset.skip-events: -1\n",
            "specific-offset.skip-events",
        ),
        (
            "  scan.startup.specific-offset.gtid-set: 0-1-5\n  scan.startup.specific-offset.skip-rows: many\n",
            "specific-offset.skip-rows",
        ),
    ],
)
def test_specific_offset_is_checked(options: str, message: str) -> None:
    error = config_error(doc(source="  scan.startup.mode: specific-offset\n" + options))
    assert message in str(error)


def test_timestamp_mode_is_checked() -> None:
    assert "timestamp needs scan.startup.timestamp-millis" in str(
        config_error(doc(source="  scan.startup.mode: timestamp\n"))
    )
    error = config_error(doc(source="  scan.startup.mode: timestamp\n  scan.startup.timestamp-millis: -5\n"))
    assert "scan.startup.timestamp-millis" in str(error) and "at least 0" in str(error)
