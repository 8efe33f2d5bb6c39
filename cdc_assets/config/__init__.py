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

from cdc_assets.config.loader import load_pipeline, parse_pipeline
from cdc_assets.config.models import (
    DuckDBSinkConfig,
    MySqlSourceConfig,
    PipelineConfig,
    PipelineOptions,
    SchemaChangeBehavior,
    StarRocksSinkConfig,
    StartupMode,
    TransformRule,
    resolve_schema_change_tags,
)
from cdc_assets.config.values import parse_duration, to_tzinfo
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
