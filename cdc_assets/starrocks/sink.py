"""The StarRocks sink: Primary Key tables created from the source schema, rows written by Stream Load.

Every write is one load per table (or several pieces of at most ``sink.buffer-flush.max-bytes``),
under a label derived from the pipeline, the state folder's generation, the table and what the write
holds (a chunk read, a binlog range): a retry after a crash reuses the label, and StarRocks answers
"already loaded" instead of loading twice.

With ``sink.at-least-once.use-transaction-stream-load`` (the default) the pieces of one table's write
are one transaction (begin, load x N, prepare, commit). The label is journalled in the pipeline state
before ``begin`` and removed after ``commit``; a process that dies in between leaves it behind, and
the next sink resolves such lingering transactions before it writes anything: it rolls back a
prepared one, because the restart point was not saved after it, so its rows will be written again.
Loads of different tables run in parallel on ``sink.io.thread-count`` threads.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, tzinfo
from typing import Any, Protocol

import pyarrow as pa

from cdc_assets.config import StarRocksSinkConfig
from cdc_assets.core.events import key_of
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_change import SchemaChange
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.starrocks_arrow import encode_arrow
from cdc_assets.core.starrocks_csv import csv_bodies, csv_layout_allowed
from cdc_assets.core.starrocks_load import LoadFormat, choose_format, encode, load_headers, make_label
from cdc_assets.core.starrocks_types import SrTable, create_database_sql, create_table_sql, plan_table
from cdc_assets.core.starrocks_values import source_order, target_decoder
from cdc_assets.errors import SinkError, TargetMismatchError
from cdc_assets.starrocks.client import LoadResult, StreamLoadClient
from cdc_assets.starrocks.fe import FrontEnd
from cdc_assets.starrocks.schema import SchemaApplier

log = logging.getLogger(__name__)

# Transactions the sinks of this process are running now: a sink that starts later in the same process
# (another thread's chunk load) must not take them for ones a crashed run left behind.
_LIVE_LABELS: set[str] = set()
_LIVE_LOCK = threading.Lock()


def arrow_rows(table: pa.Table) -> list[tuple]:
    """The rows of an Arrow table as tuples of Python values."""
    return list(zip(*(col.to_pylist() for col in table.columns), strict=True))


class Journal(Protocol):
    """Where the sink records transactions in flight (the pipeline's state store)."""

    @property
    def generation(self) -> str: ...

    def sink_txn_started(self, label: str, db: str, table: str) -> None: ...

    def sink_txn_finished(self, label: str) -> None: ...

    def sink_txns_open(self) -> list[tuple[str, str, str]]: ...


class StarRocksSink:
    dialect = "starrocks"

    def __init__(
        self,
        cfg: StarRocksSinkConfig,
        *,
        pipeline_id: str,
        journal: Journal,
        tinyint1_as_boolean: bool = True,
        time_zone: tzinfo | None = None,
        client: StreamLoadClient | None = None,
    ):
        self.cfg = cfg
        self.journal = journal
        self.tinyint1_as_boolean = tinyint1_as_boolean
        self.time_zone = time_zone or UTC
        password = cfg.password.get_secret_value()
        self.fe = FrontEnd(
            cfg.query_addresses, cfg.username, password, connect_timeout=cfg.connect_timeout_ms / 1000
        )
        self.client = client or StreamLoadClient(
            cfg.load_url,
            cfg.username,
            password,
            connect_timeout=cfg.connect_timeout_ms / 1000,
            socket_timeout=None if cfg.socket_timeout_ms < 0 else cfg.socket_timeout_ms / 1000,
            wait_for_continue_timeout=cfg.wait_for_continue_timeout_ms / 1000,
        )
        self.label_prefix = f"{cfg.label_prefix or 'cdc_' + pipeline_id}_{journal.generation}"
        self._plans: dict[TableId, tuple[TableSchema, SrTable]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._resolved = False
        self._lock = threading.Lock()
        self._schema_changes = SchemaApplier(
            self.fe, timeout=cfg.schema_change_timeout, tinyint1_as_boolean=tinyint1_as_boolean
        )

    def __repr__(self) -> str:
        return f"StarRocksSink(load_url={';'.join(self.cfg.load_url)!r}, user={self.cfg.username!r})"

    # ---- tables --------------------------------------------------------------------------------

    def plan(self, target: TableId, schema: TableSchema) -> SrTable:
        cached = self._plans.get(target)
        if cached is None or cached[0] != schema:
            cached = (schema, plan_table(schema, target, tinyint1_as_boolean=self.tinyint1_as_boolean))
            self._plans[target] = cached
        return cached[1]

    def ensure_table(
        self,
        target: TableId,
        schema: TableSchema,
        *,
        partition_keys: tuple[str, ...] = (),
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Create the database and the Primary Key table if missing; an existing table must have the
        source's columns and key (idempotent). ``partition_keys`` and ``properties`` (a transform's
        ``partition-keys`` and ``table-options``, the latter over ``table.create.properties.*``) shape
        a table created here."""
        table = self.plan(target, schema)
        self.resolve_lingering()
        self.fe.execute(create_database_sql(target.db), doing=f"creating database {target.db}")
        existing = self.fe.table_columns(target.db, target.table)
        if existing is None:
            sql = create_table_sql(
                table,
                num_buckets=self.cfg.table_create_num_buckets,
                properties={**self.cfg.table_create_properties, **(properties or {})},
                partition_keys=tuple(partition_keys),
            )
            self.fe.execute(sql, doing=f"creating table {target}")
            log.info("created StarRocks table %s", target)
            return
        names = {n.lower() for n, _ in existing}
        problems = []
        missing = [c.name for c in table.columns if c.name.lower() not in names]
        if missing:
            problems.append(f"missing columns {', '.join(missing)}")
        key = [n for n, k in existing if k == "PRI"]
        if [k.lower() for k in key] != [k.lower() for k in table.key]:
            problems.append(f"primary key ({', '.join(key)}) instead of ({', '.join(table.key)})")
        if problems:
            raise TargetMismatchError(
                f"the StarRocks table {target} exists but does not match its source {schema.table_id}: "
                + "; ".join(problems)
                + "; drop it (it is created again) or route the source to another table",
                table=str(target),
                # only columns lacking: a caller may add them (engine.target_merge)
                missing=tuple(missing) if len(problems) == 1 and missing else (),
            )

    def drop_table(self, target: TableId) -> None:
        self.fe.execute(
            f"DROP TABLE IF EXISTS {quote_table(target.db, target.table, 'starrocks')}",
            doing=f"dropping {target}",
        )

    # ---- schema changes ------------------------------------------------------------------------

    def supported_schema_changes(self) -> frozenset[str]:
        """The event tags this StarRocks version takes (Flink CDC's rule; the FE's version is read once)."""
        return self._schema_changes.supported()

    def apply_schema_change(
        self,
        target: TableId,
        change: SchemaChange,
        after: TableSchema | None,
        *,
        renamed_to: TableId | None = None,
    ) -> str:
        """Apply one schema-change event to ``target`` (see :mod:`cdc_assets.starrocks.schema`): CreateTable
        is :meth:`ensure_table`; AddColumn appends a NULL value column (as Flink's applier: the StarRocks
        table has its key columns first, so source positions do not carry over; a constant default fills
        the existing rows);
        DropColumn, RenameColumn and AlterColumnType (the type :func:`map_column` gives, as at create time)
        are ALTER jobs waited for; RenameTable is ``ALTER TABLE t RENAME n`` within the database
        (``renamed_to`` in another database raises UnsupportedSchemaChange); TruncateTable and DropTable
        as named; table and column comments are ignored (StarRocks 3.6+ in Flink CDC logs and ignores them).

        Returns ``applied``, ``already applied`` or ``ignored: <why>``; raises UnsupportedSchemaChange for
        a kind this StarRocks version lacks and SinkError naming table, statement and StarRocks' message.
        """
        try:
            return self._schema_changes.apply(
                target, change, after, renamed_to=renamed_to, ensure_table=self.ensure_table
            )
        finally:
            # the next write plans the table from its schema again
            self._plans.pop(target, None)
            if renamed_to is not None:
                self._plans.pop(renamed_to, None)

    def resolve_lingering(self) -> None:
        """Roll back the transactions a dead process left prepared (once per sink)."""
        with self._lock:
            if self._resolved:
                return
            by_db: dict[str, list[str]] = {}
            for label, db, _table in self.journal.sink_txns_open():
                with _LIVE_LOCK:
                    if label in _LIVE_LABELS:  # another sink of this process is loading it right now
                        continue
                by_db.setdefault(db, []).append(label)
            for db, labels in by_db.items():
                log.info(
                    "resolving %d StarRocks transaction(s) left open by an earlier run in %s", len(labels), db
                )
                self.client.resolve_lingering(db, labels, commit=False)
                for label in labels:
                    self.journal.sink_txn_finished(label)
            self._resolved = True

    # ---- data ----------------------------------------------------------------------------------

    def upsert(
        self, target: TableId, schema: TableSchema, rows: Sequence[Sequence[Any]], *, tag: str = ""
    ) -> int:
        """Insert or replace ``rows`` (full rows in source column order) under labels derived from ``tag``."""
        if rows:
            self._write(target, schema, rows, (), tag)
        return len(rows)

    def upsert_arrow(self, target: TableId, schema: TableSchema, table: pa.Table, *, tag: str = "") -> int:
        """:meth:`upsert` for a chunk in Arrow form (``DuckDBSink.arrow_schema`` columns, source order): the
        same rows, labels and transaction. Unless ``sink.properties`` set a body layout, the chunk is written
        as CSV by Arrow's writer (:func:`csv_bodies`) when its values allow; else as :meth:`upsert` writes
        it, encoded column by column (:func:`encode_arrow`)."""
        if table.num_rows:
            self._write(target, schema, table, (), tag)
        return table.num_rows

    def apply_batch(
        self, batch: Sequence[tuple[TableId, TableSchema, Sequence[tuple], Sequence[tuple]]], *, tag: str = ""
    ) -> None:
        """Apply ``(target, schema, keys_to_delete, rows_to_upsert)`` per table: one load per table, the
        tables in parallel. A key that is also upserted is not deleted first (the upsert replaces it). The
        rows may be an Arrow table already (``DuckDBSink.arrow_schema`` columns, keys unique)."""
        work = []
        for target, schema, keys, rows in batch:
            deletes: Sequence[tuple] = keys
            if keys and len(rows):
                if isinstance(rows, pa.Table):
                    inserted = set(arrow_rows(rows.select(list(schema.primary_key))))
                else:
                    inserted = {key_of(r, schema.key_positions) for r in rows}
                deletes = [k for k in keys if tuple(k) not in inserted]
            if len(rows) or deletes:
                work.append((target, schema, rows, deletes))
        if not work:
            return
        targets = [w[0] for w in work]
        if len(set(targets)) < len(targets):
            # each load's label is made of the target and the tag: the second would be taken as loaded
            twice = sorted({str(t) for t in targets if targets.count(t) > 1})
            raise ValueError(
                f"a write holds two loads of {', '.join(twice)} under one tag ({tag!r}); merge each target's "
                "entries into one first (engine.target_merge.merge_by_target)"
            )
        if len(work) == 1 or self.cfg.io_thread_count <= 1:
            for target, schema, rows, deletes in work:
                self._write(target, schema, rows, deletes, tag)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.cfg.io_thread_count, thread_name_prefix="starrocks-load")
        futures = [self._pool.submit(self._write, t, s, r, d, tag) for t, s, r, d in work]
        errors = [f.exception() for f in futures]  # wait for every load before raising
        for exc in errors:
            if exc is not None:
                raise exc

    def _write(
        self,
        target: TableId,
        schema: TableSchema,
        upserts: Sequence[Sequence[Any]] | pa.Table,
        deletes: Sequence[tuple],
        tag: str,
    ) -> None:
        """One load of ``upserts`` and ``deletes`` into ``target``. Upserts alone in Arrow form (snapshot
        chunks, and stream writes that delete nothing) go as CSV written by Arrow's writer
        (:func:`csv_bodies`) when ``sink.properties`` leave the layout to us and the values allow: several
        times cheaper to encode than JSON, and cheaper for StarRocks to parse. Else as Flink CDC writes them
        (JSON, or CSV for tables with VARBINARY columns), Arrow tables encoded column by column."""
        self.resolve_lingering()
        table = self.plan(target, schema)
        props = self.cfg.properties
        max_bytes = self.cfg.buffer_flush_max_bytes
        if isinstance(upserts, pa.Table) and not deletes and csv_layout_allowed(props):
            csv = csv_bodies(table, upserts, time_zone=self.time_zone, max_bytes=max_bytes)
            if csv is not None:
                self._load(target, csv, load_headers(table, LoadFormat.CSV, props, doubled_quotes=True), tag)
                return
        fmt = choose_format(table, props)
        headers = load_headers(table, fmt, props)
        if isinstance(upserts, pa.Table) and not deletes:  # the same bodies, encoded column by column
            pieces = encode_arrow(table, fmt, upserts, time_zone=self.time_zone, max_bytes=max_bytes)
        else:
            if isinstance(upserts, pa.Table):
                upserts = arrow_rows(upserts)
            pieces = encode(table, fmt, upserts, deletes, time_zone=self.time_zone, max_bytes=max_bytes)
        self._load(target, pieces, headers, tag)

    def _load(
        self, target: TableId, pieces: Iterable[tuple[bytes, int]], headers: dict[str, str], tag: str
    ) -> None:
        """Load the body pieces of one write: one transaction under the label of ``tag``, or one Stream Load
        per piece under labels of ``tag``, the piece's number and its checksum."""
        if self.cfg.use_transaction_stream_load:
            bodies = [body for body, _rows in pieces]
            label = make_label(self.label_prefix, target, tag)
            with _LIVE_LOCK:
                _LIVE_LABELS.add(label)
            try:
                self.journal.sink_txn_started(label, target.db, target.table)
                result = self.client.transaction_load(
                    target.db, target.table, bodies, label=label, headers=headers
                )
                self.journal.sink_txn_finished(label)
            finally:
                with _LIVE_LOCK:
                    _LIVE_LABELS.discard(label)
            self._check_filtered(target, result, headers)
            return
        for i, (body, _rows) in enumerate(pieces):
            # Where a write splits depends on sink.buffer-flush.max-bytes: the piece's checksum keeps a
            # replay under another setting from being taken for a piece already loaded.
            label = make_label(self.label_prefix, target, f"{tag}-p{i}-{zlib.crc32(body):08x}")
            result = self.client.stream_load(target.db, target.table, body, label=label, headers=headers)
            self._check_filtered(target, result, headers)

    @staticmethod
    def _check_filtered(target: TableId, result: LoadResult, headers: dict[str, str]) -> None:
        """Rows StarRocks refused are lost rows: an error, unless the user allowed it (max_filter_ratio)."""
        if result.filtered_rows <= 0:
            return
        message = (
            f"StarRocks filtered {result.filtered_rows} row(s) of load {result.label} into {target} "
            f"(values it refused: see the load's ErrorURL {result.response.get('ErrorURL', '')})"
        )
        if float(headers.get("max_filter_ratio", "0") or 0) > 0:
            log.warning("%s; sink.properties.max_filter_ratio allows it", message)
            return
        raise SinkError(f"{message}; fix the table's column types, or drop the table so it is created again")

    # ---- reads (verification, status) ----------------------------------------------------------

    def row_count(self, target: TableId) -> int | None:
        if self.fe.table_columns(target.db, target.table) is None:
            return None
        rows = self.fe.execute(
            f"SELECT count(*) FROM {quote_table(target.db, target.table, 'starrocks')}",
            doing=f"counting {target}",
        )
        return int(rows[0][0])

    def fetch_all(self, target: TableId, schema: TableSchema) -> list[tuple]:
        """Every row in source column order and canonical values, ordered by the primary key."""
        table = self.plan(target, schema)
        cols = ", ".join(quote_ident(c, "starrocks") for c in source_order(table))
        order = ", ".join(quote_ident(c, "starrocks") for c in table.key)
        rows = self.fe.execute(
            f"SELECT {cols} FROM {quote_table(target.db, target.table, 'starrocks')} ORDER BY {order}",
            doing=f"reading {target}",
        )
        decode = target_decoder(table, self.time_zone)
        return [decode(r) for r in rows]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.client.close()
        self.fe.close()
