"""The sink interface the engine writes through, and the factory that builds one from the pipeline.

Two implementations: :class:`cdc_assets.duckdb_sink.DuckDBSink` (embedded default) and
:class:`cdc_assets.starrocks.StarRocksSink` (production target). ``tag`` names what a write holds (a
chunk read, a binlog range); a sink that deduplicates retries (StarRocks labels) derives its labels
from it, the other ignores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pyarrow as pa

from cdc_assets.config import PipelineConfig
from cdc_assets.config.values import to_tzinfo
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_change import SchemaChange
from cdc_assets.duckdb_sink import DuckDBSink
from cdc_assets.engine.transform import TransformEvaluator, TransformingSink, parsed_rules
from cdc_assets.starrocks import StarRocksSink
from cdc_assets.state import StateStore

#: ``(target, schema, keys_to_delete, rows_to_upsert)`` per table, applied as one write: the keys are
#: deleted, and each row replaces whatever row its key holds (its key may be among the keys too)
Batch = Sequence[tuple[TableId, TableSchema, Sequence[tuple], Sequence[tuple]]]


class Sink(Protocol):
    def ensure_table(self, target: TableId, schema: TableSchema) -> None: ...

    def upsert(
        self, target: TableId, schema: TableSchema, rows: Sequence[Sequence[Any]], *, tag: str = ""
    ) -> int: ...

    def upsert_arrow(
        self, target: TableId, schema: TableSchema, table: pa.Table, *, tag: str = ""
    ) -> int: ...

    def apply_batch(self, batch: Batch, *, tag: str = "") -> None: ...

    def row_count(self, target: TableId) -> int | None: ...

    def fetch_all(self, target: TableId, schema: TableSchema) -> list[tuple]: ...

    def drop_table(self, target: TableId) -> None: ...

    def supported_schema_changes(self) -> frozenset[str]:
        """The schema-change event tags this sink (and, for StarRocks, its server version) applies."""
        ...

    def apply_schema_change(
        self,
        target: TableId,
        change: SchemaChange,
        after: TableSchema | None,
        *,
        renamed_to: TableId | None = None,
    ) -> str:
        """Apply ``change`` (an event about a source table) to its routed ``target``, idempotently.

        ``after`` is the source table's schema after the change, as the engine tracks it (None after a
        DropTable); ``renamed_to`` is where a RenameTable's new name routes (default: ``target``'s
        database, the new table name). Returns a short outcome: ``applied``, ``already applied`` (the
        target already shows it: a replay after a crash) or ``ignored: <why>``, possibly followed by
        ``; <note>``. Raises UnsupportedSchemaChange for a kind :meth:`supported_schema_changes` lacks
        (``TRY_EVOLVE`` tolerates it, ``EVOLVE`` fails) and SinkError when the target refuses.
        Later writes use ``after``: they name their columns, so a column the target keeps but the source
        dropped (LENIENT) is left NULL.
        """
        ...

    def close(self) -> None: ...


#: seconds between stream flushes when the sink has no setting of its own (DuckDB): a change is visible
#: within about this plus one write. At 1 s, bench/streaming.py's commit-to-visible p99 at 5k rows/s was
#: 2.0-2.1 s; at 0.5 s, 0.53 s (p50 0.27 s), for the same CPU (a DuckDB write is cheap and runs while
#: the binlog is read on)
DEFAULT_FLUSH_INTERVAL = 0.5


def make_sink(cfg: PipelineConfig, state: StateStore) -> Sink:
    """The configured sink; behind a :class:`TransformingSink` when the pipeline has ``transform`` rules."""
    sink = _base_sink(cfg, state)
    if not cfg.transforms:
        return sink
    evaluator = TransformEvaluator(
        time_zone=cfg.pipeline.local_time_zone,
        tinyint1_as_boolean=cfg.source.treat_tinyint1_as_boolean,
        source_metadata=cfg.source.metadata_list,
    )
    return TransformingSink(sink, parsed_rules(cfg), evaluator)


def _base_sink(cfg: PipelineConfig, state: StateStore) -> Sink:
    if cfg.sink.type == "duckdb":
        return DuckDBSink(cfg.sink.path, tinyint1_as_boolean=cfg.source.treat_tinyint1_as_boolean)
    zone = cfg.source.server_time_zone
    return StarRocksSink(
        cfg.sink,
        pipeline_id=cfg.pipeline_id,
        journal=state,
        tinyint1_as_boolean=cfg.source.treat_tinyint1_as_boolean,
        time_zone=to_tzinfo(zone) if zone else None,
    )


def flush_interval(cfg: PipelineConfig) -> float:
    """Seconds between stream flushes: ``sink.buffer-flush.interval-ms`` for StarRocks, else
    :data:`DEFAULT_FLUSH_INTERVAL`."""
    return cfg.sink.flush_interval_seconds if cfg.sink.type == "starrocks" else DEFAULT_FLUSH_INTERVAL
