"""Everything one pipeline run needs, built once from the configuration: source settings, sink, state."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from cdc_assets.config import PipelineConfig
from cdc_assets.core.routing import combine_changes, merge_conflicts
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.transform import match_rule, source_key_for
from cdc_assets.core.types import check_supported
from cdc_assets.engine.allocator import bound_malloc_arenas
from cdc_assets.engine.sinks import Batch, Sink, make_sink
from cdc_assets.engine.transform import parsed_rules
from cdc_assets.errors import ConfigError, SchemaError
from cdc_assets.mysql import catalog
from cdc_assets.mysql.connection import ConnectionSettings, connect
from cdc_assets.mysql.server import ServerInfo, inspect_server
from cdc_assets.state import StateStore

SUPPORTED_STARTUP_MODES = (
    "initial",
    "snapshot",
    "latest-offset",
    "earliest-offset",
    "specific-offset",
    "timestamp",
)


def connection_settings(cfg: PipelineConfig) -> ConnectionSettings:
    src = cfg.source
    return ConnectionSettings(
        host=src.hostname,
        port=int(src.port),
        user=src.username,
        password=src.password.get_secret_value() if src.password is not None else "",
        connect_timeout=float(src.connect_timeout),
    )


def widen(
    parts: list[tuple[TableSchema, Sequence[tuple], Sequence[tuple]]],
) -> tuple[TableSchema, list[tuple[TableSchema, Sequence[tuple], Sequence[tuple]]]]:
    """One schema for the writes of several sources to one target: the first's when they all have its
    columns, else the first's columns followed by the others' new ones (by name), each row given NULL
    for the columns its source lacks. (Shards start with one definition; a schema change the stream
    applied to the target from one of them makes them differ.)"""
    first = parts[0][0]
    if all(p[0].column_names == first.column_names for p in parts):
        return first, parts
    columns = list(first.columns)
    names = set(first.column_names)
    for schema, _, _ in parts[1:]:
        for c in schema.columns:
            if c.name not in names:
                columns.append(c)
                names.add(c.name)
    wide = TableSchema(first.table_id, tuple(columns), first.primary_key)
    out = []
    for schema, keys, rows in parts:
        at = {n: i for i, n in enumerate(schema.column_names)}
        pick = [at.get(c.name) for c in columns]
        out.append((wide, keys, [tuple(None if i is None else r[i] for i in pick) for r in rows]))
    return wide, out


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
        parts: dict[TableId, list[tuple[TableSchema, Sequence[tuple], Sequence[tuple]]]] = {}
        for table, schema, keys, rows in changes:
            for target in self.targets(table):
                parts.setdefault(target, []).append((schema, keys, rows))
        batch = []
        for target, found in parts.items():
            schema, found = widen(found)
            keys, rows = combine_changes([(k, r) for _, k, r in found], schema.key_positions)
            batch.append((target, schema, keys, rows))
        return batch

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
        # A target the stream already writes is checked against the schema in force at the restart
        # point (the catalog may be ahead of it: DDL the stream has not read yet), as the target has it.
        saved = self.state.schemas_in_force()
        self._check_merges(schemas, streamed={TableId.parse(name) for name in saved})
        for t, schema in schemas.items():
            sif = saved.get(str(t))
            for target in self.targets(t):
                self.sink.ensure_table(target, schema if sif is None else sif.writable)
        return schemas

    def _check_merges(self, schemas: dict[TableId, TableSchema], *, streamed: set[TableId]) -> None:
        """Sources routed to one target must have one definition (:func:`merge_conflicts`) when they join
        it: the first (in name order) defines the target; a source that differs is refused, naming the
        difference. Tables the stream already writes (``streamed``) are not compared with each other:
        their definitions may have parted since by schema changes the stream applied to the target."""
        known = {**self.schemas, **schemas}
        by_target: dict[TableId, list[TableId]] = {}
        for t in sorted(known):
            for target in self.targets(t):
                by_target.setdefault(target, []).append(t)
        for target, sources in by_target.items():
            first = known[sources[0]]
            for other in sources[1:]:
                if {other, sources[0]} <= streamed or (other not in schemas and sources[0] not in schemas):
                    continue  # both written by the stream already, or both checked before
                problems = merge_conflicts(first, known[other])
                if problems:
                    raise SchemaError(
                        f"tables {sources[0]} and {other} are both routed to {target}, but their definitions "
                        f"differ: {'; '.join(problems)}. Give the tables the same columns, types and primary "
                        "key (ALTER TABLE), route them to different targets, or exclude one with "
                        "source.tables.exclude",
                        table=str(other),
                        target=str(target),
                    )

    def close(self) -> None:
        if "sink" in self.__dict__:
            self.sink.close()
        if "state" in self.__dict__:
            self.state.close()
