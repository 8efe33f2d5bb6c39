"""``parse_pipeline`` / ``load_pipeline``: the blocks of a pipeline file -> :class:`PipelineConfig`."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cdc_assets.config.models import (
    DuckDBSinkConfig,
    MySqlSourceConfig,
    PipelineConfig,
    PipelineOptions,
    StarRocksSinkConfig,
    StartupMode,
    TransformRule,
)
from cdc_assets.config.options import (
    _PIPELINE,
    _PIPELINE_PREFIXES,
    _ROUTE_KEYS,
    _SINK_MAPS,
    _SINK_TABLES,
    _SOURCE,
    _SOURCE_PREFIXES,
    _TOP_KEYS,
    _TRANSFORM_KEYS,
)
from cdc_assets.config.reader import _Ctx, _mapping, _section
from cdc_assets.config.values import _text
from cdc_assets.core.offsets import BinlogPosition, parse_gtid_set
from cdc_assets.core.routing import RouteRule, RouteRuleError
from cdc_assets.core.selectors import TableFilter, parse_selectors
from cdc_assets.core.transform import parse_rule
from cdc_assets.errors import ConfigError


def _parse_source(ctx: _Ctx, raw: dict[str, Any]) -> MySqlSourceConfig | None:
    kind = raw.get("type")
    if kind is None:
        ctx.error("source.type", "required option is missing; set type: mysql")
    elif not isinstance(kind, str) or kind.strip().lower() != "mysql":
        ctx.error("source.type", f"unknown source type '{kind}'; expected one of: mysql")
        return None
    values, _ = _section(ctx, raw, "source", _SOURCE, _SOURCE_PREFIXES)
    mode = values.get("startup_mode", StartupMode.INITIAL)
    if mode is StartupMode.SPECIFIC_OFFSET:
        _check_specific_offset(ctx, values)
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


def _check_specific_offset(ctx: _Ctx, values: dict[str, Any]) -> None:
    """specific-offset takes a GTID set, or a binlog file and position: exactly one of the two."""
    key = "source.scan.startup.specific-offset."
    has_gtid = "specific_offset_gtid_set" in values
    has_file, has_pos = "specific_offset_file" in values, "specific_offset_pos" in values
    if has_gtid and (has_file or has_pos):
        ctx.error(
            key + "gtid-set",
            "give either the GTID set or scan.startup.specific-offset.file + .pos, not both",
        )
    elif has_gtid:
        try:
            parse_gtid_set(values["specific_offset_gtid_set"])
        except ValueError as exc:
            ctx.error(key + "gtid-set", str(exc))
    elif has_file != has_pos:
        missing = "pos" if has_file else "file"
        ctx.error(
            key + missing,
            f"required with scan.startup.specific-offset.{'file' if has_file else 'pos'}; "
            "set both (SHOW BINARY LOGS and SHOW BINLOG EVENTS list them), or use .gtid-set",
        )
    elif not has_file:
        ctx.error(
            "source.scan.startup.mode",
            "specific-offset needs scan.startup.specific-offset.gtid-set, or "
            "scan.startup.specific-offset.file and scan.startup.specific-offset.pos",
        )
    else:
        try:
            BinlogPosition(values["specific_offset_file"], values["specific_offset_pos"])
        except ValueError as exc:
            ctx.error(key + "file/pos", str(exc))


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
        try:  # the expressions, functions and options that need no source schema
            parse_rule(
                i, selectors=selectors, projection=entry.get("projection"), filter=entry.get("filter"),
                converter_after_transform=converter if f"{key}.converter-after-transform" not in ctx.failed else None,
            )  # fmt: skip
        except ConfigError as exc:
            ctx.error(exc.context.get("option", key), exc.context.get("detail", str(exc)))
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
