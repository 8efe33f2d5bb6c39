"""Everything one pipeline run needs, built once from the configuration: source settings, sink, state."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from cdc_assets.config import PipelineConfig
from cdc_assets.core.events import TableEvents
from cdc_assets.core.schema import TableId, TableSchema, table_names
from cdc_assets.core.transform import match_rule, source_key_for
from cdc_assets.core.types import check_supported
from cdc_assets.engine.allocator import bound_malloc_arenas
from cdc_assets.engine.sinks import Batch, Sink, make_sink
from cdc_assets.engine.target_merge import merge_by_target, merge_events, prepare_target
from cdc_assets.engine.transform import TransformingSink, parsed_rules
from cdc_assets.errors import ConfigError, SchemaError
from cdc_assets.mysql import catalog
from cdc_assets.mysql.connection import ConnectionSettings, connect
from cdc_assets.mysql.server import ServerInfo, current_position, inspect_server
from cdc_assets.state import SchemaChangeRecord, StateStore

SUPPORTED_STARTUP_MODES = (
    "initial",
    "snapshot",
    "latest-offset",
    "earliest-offset",
    "specific-offset",
    "timestamp",
)

log = logging.getLogger(__name__)


def connection_settings(cfg: PipelineConfig) -> ConnectionSettings:
    src = cfg.source
    return ConnectionSettings(
        host=src.hostname,
        port=int(src.port),
        user=src.username,
        password=src.password.get_secret_value() if src.password is not None else "",
        connect_timeout=float(src.connect_timeout),
    )


def binlog_client_id(cfg: PipelineConfig) -> int:
    """The server id this pipeline's binlog reader uses: the first of ``server-id``, else one derived
    from the pipeline id in Flink's default range 5400-6400 (stable across restarts)."""
    if cfg.source.server_id is not None:
        return int(cfg.source.server_id[0])
    return 5400 + zlib.crc32(cfg.pipeline_id.encode()) % 1000


@dataclass
class RunContext:
    """The source, sink and state of one pipeline, plus the catalog once :meth:`discover` ran."""

    cfg: PipelineConfig
    settings: ConnectionSettings = field(init=False)
    server: ServerInfo | None = None
    schemas: dict[TableId, TableSchema] = field(default_factory=dict)
    #: read chunks in consistent-snapshot transactions where the server reports their binlog point
    #: (MariaDB); False brackets every read with watermarks and merges the binlog in between (what
    #: MySQL needs; tests use it to exercise that path on MariaDB)
    consistent_snapshot_reads: bool = True
    #: read chunks as Arrow with connectorx where every column can be read exactly that way (else,
    #: and when False, with PyMySQL row by row)
    fast_reads: bool = True
    _targets: dict[TableId, list[TableId]] = field(default_factory=dict, init=False, repr=False)
    #: merged targets widened for a joining table since :meth:`take_target_changes` (recorded in the state)
    _target_changes: list[SchemaChangeRecord] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        mode = self.cfg.source.startup_mode
        if mode not in SUPPORTED_STARTUP_MODES:
            raise ConfigError(
                f"{self.cfg.origin}: source.scan.startup.mode: {mode!r} is not supported yet; "
                f"supported now: {', '.join(SUPPORTED_STARTUP_MODES)}"
            )
        self.settings = connection_settings(self.cfg)
        # before the run's threads (connectorx, DuckDB, the chunk loaders) allocate: engine/allocator.py
        bound_malloc_arenas()

    @cached_property
    def state(self) -> StateStore:
        return StateStore(self.cfg.state_dir)

    @cached_property
    def sink(self) -> Sink:
        return make_sink(self.cfg, self.state)

    def connect(self, *, streaming: bool = False):
        return connect(self.settings, streaming=streaming)

    def targets(self, table: TableId) -> list[TableId]:
        """Every target of source ``table`` (route rules; several under route-mode ALL_MATCH when
        several rules match), resolved once per table."""
        found = self._targets.get(table)
        if found is None:
            found = self._targets[table] = self.cfg.targets_for(table)
        return found

    def target(self, table: TableId) -> TableId:
        """The one target of ``table``; ConfigError naming the rules when it has several."""
        found = self.targets(table)
        return found[0] if len(found) == 1 else self.cfg.target_for(table)  # the latter raises

    def sources_of(self, target: TableId) -> list[TableId]:
        """The known source tables (:attr:`schemas`) routed to ``target``, sorted."""
        return sorted(t for t in self.schemas if target in self.targets(t))

    def route_batch(
        self, changes: Iterable[tuple[TableId, TableSchema, Sequence[tuple], Sequence[tuple]]]
    ) -> Batch:
        """``(source, schema, keys_to_delete, rows_to_upsert)`` per source table (rows in ``schema``'s
        columns) -> one sink batch entry per target: a source with several targets is written to each,
        and sources routed to one target are one entry (a sink writes an entry as one load under the
        write's tag; two loads of one table under one tag would be taken for one). Keys several sources
        touch end as the last leaves them; sources whose columns differ are written with all their
        columns (:func:`widen`), a row's missing ones NULL."""
        t1b = self.cfg.source.treat_tinyint1_as_boolean
        routed = [(t, s, k, r) for table, s, k, r in changes for t in self.targets(table)]
        return merge_by_target(routed, tinyint1_as_boolean=t1b)

    def route_events(self, entries: Iterable[TableEvents]) -> list[TableEvents]:
        """:meth:`route_batch` for uncollapsed changes (tables whose transform reads event kinds or times):
        one entry per target, the changes of several sources in their merged schema, so that the
        transform sees the columns of them all and the sink writes the target in one load."""
        return merge_events(entries, tinyint1_as_boolean=self.cfg.source.treat_tinyint1_as_boolean)

    def discover(self, only: Iterable[TableId] | None = None) -> dict[TableId, TableSchema]:
        """Check the server, find the captured tables (or just ``only``) and their schemas, create the
        target tables."""
        with self.connect() as conn:
            self.server = inspect_server(conn, self.settings)
            if only is not None:
                tables = sorted(only)
            else:
                tables = catalog.discover(conn, self.settings, self.cfg.captures)
            if not tables:
                raise ConfigError(
                    f"{self.cfg.origin}: source.tables: cannot find any table by the option 'tables' "
                    f"({self.cfg.source.tables!r}) on {self.settings.where}; check the database and table regexes "
                    "(in `db.table`, a literal dot separates database from table and `\\.` means any character)"
                )
            self.schemas = self._describe(conn, tables)
        return self.schemas

    def new_tables(self) -> list[TableId]:
        """Captured tables on the server now that this context does not know yet (created since)."""
        with self.connect() as conn:
            found = catalog.discover(conn, self.settings, self.cfg.captures)
        return sorted(t for t in found if t not in self.schemas)

    def add_tables(self, tables: Iterable[TableId]) -> dict[TableId, TableSchema]:
        """Describe ``tables`` (checked as :meth:`discover` checks them), create their targets and
        add them to :attr:`schemas`."""
        with self.connect() as conn:
            added = self._describe(conn, sorted(tables))
        self.schemas = {**self.schemas, **added}
        return added

    def target_widened(self, records: Sequence[SchemaChangeRecord]) -> None:
        """Record the widenings of merged targets :func:`prepare_target` made (each once: a restart that
        finds them applied records nothing again), to be shown by :meth:`take_target_changes`' caller."""
        self._target_changes += self.state.record_once(records)

    def take_target_changes(self) -> list[SchemaChangeRecord]:
        """The widenings of merged targets recorded since the last call (for the Dagster schema assets)."""
        out, self._target_changes = self._target_changes, []
        return out

    def _checked_schema(self, conn, t: TableId) -> TableSchema:
        """``t`` as the catalog has it, with the key the pipeline uses for it; refused if it cannot be captured."""
        schema = catalog.load_schema(conn, self.settings, t)
        if not schema.columns:
            raise SchemaError(
                f"table {t} does not exist on {self.settings.where}; it was captured earlier, so it was dropped "
                "or renamed: run the snapshot planner (or `cdc-assets sync`) again",
                table=str(t),
            )
        if not schema.primary_key:
            # A transform's primary-keys give the table the key it is read, chunked and matched by.
            key = source_key_for(match_rule(parsed_rules(self.cfg), t), schema)
            if key is None:
                raise SchemaError(
                    f"table {t} has no primary key, so its rows cannot be matched by key in the target; add a "
                    "primary key, give it one with a transform rule's primary-keys (source columns copied "
                    "unchanged), or exclude the table with source.tables.exclude",
                    table=str(t),
                )
            schema = replace(schema, primary_key=key)
        check_supported(schema, tinyint1_as_boolean=self.cfg.source.treat_tinyint1_as_boolean)
        return schema

    def describe_current(self, table: TableId) -> TableSchema:
        """``table`` as it is now (a snapshot chunk is read so): a DDL since the table was described
        changes its columns, but its key must be the one its chunks were planned by."""
        with self.connect() as conn:
            schema = self._checked_schema(conn, table)
        planned = self.schemas[table].primary_key
        if schema.primary_key != planned:
            raise SchemaError(
                f"the primary key of {table} is ({', '.join(schema.primary_key)}) now, its snapshot was planned by "
                f"({', '.join(planned)}): the chunks no longer cover the table. Snapshot it again: start the pipeline "
                "over (move its state folder away), or exclude the table",
                table=str(table),
            )
        return schema

    def _describe(self, conn, tables: list[TableId]) -> dict[TableId, TableSchema]:
        schemas = {t: self._checked_schema(conn, t) for t in tables}
        # A target the stream already writes is prepared from the schema in force at the restart point
        # (the catalog may be ahead of it: DDL the stream has not read yet), as the target has it.
        saved = self.state.schemas_in_force()
        known = {**self.schemas, **schemas}
        by_target: dict[TableId, list[TableId]] = {}
        for t in sorted(known):
            for target in self.targets(t):
                by_target.setdefault(target, []).append(t)

        def writes(t: TableId) -> TableSchema:
            if t in self.schemas and t not in schemas:
                return self.schemas[t]
            sif = saved.get(str(t))
            return schemas[t] if sif is None else sif.writable

        def where():
            return current_position(conn, self.settings, self.server or inspect_server(conn, self.settings))

        for target, sources in by_target.items():
            if not any(t in schemas for t in sources):
                continue
            # the target was made for the sources known before, or streamed already; the others join it
            established = [t for t in sources if t not in schemas or str(t) in saved]
            try:
                self.target_widened(
                    prepare_target(
                        self.sink, self.cfg, target, {t: writes(t) for t in sources}, established, where
                    )
                )
            except ConfigError:
                streamed = [t for t in sources if t in schemas and str(t) in saved]
                if not streamed or not isinstance(self.sink, TransformingSink):
                    raise
                # A rule edited for a column change the stream stopped at (TransformColumnError): it fits
                # the table as it is now, not the schema in force before that statement. The target
                # exists (the stream wrote it); rows after the statement use the edited rule.
                for t in streamed:
                    self.sink.plan(schemas[t])  # raises when the rule does not fit the table now either
                log.warning(
                    "the transform rule of %s does not fit its schema in force at the restart point (a column "
                    "change the stream has not applied yet) but fits the table as it is now: going on",
                    table_names(streamed),
                )
        return schemas

    def close(self) -> None:
        if "sink" in self.__dict__:
            self.sink.close()
        if "state" in self.__dict__:
            self.state.close()
