"""Schema-change events applied to StarRocks tables over the FE's MySQL protocol, idempotently.

Column changes are asynchronous in StarRocks (docs "ALTER TABLE"): the statement returns once the job
is submitted, and the job is followed with ``SHOW ALTER TABLE COLUMN FROM db WHERE TableName = "t"
ORDER BY CreateTime DESC LIMIT 1`` until it is FINISHED (CANCELLED raises its ``Msg``), within
``table.schema-change.timeout``, which is also sent as the job's ``PROPERTIES ("timeout" = ...)``.
A table runs one schema change at a time: one that is busy (``Table[t]'s state is not NORMAL``) is
waited for and the statement sent again.

Every change is checked against the table as the FE describes it (``information_schema.columns``)
before and after the statement: a column already added, already dropped, already renamed or already of
the new type is success (after a crash the same event is applied again; Flink CDC issue #2910). Which
kinds a StarRocks version takes is Flink CDC's rule (:func:`starrocks_schema_changes`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cdc_assets.core import schema_change as sc
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_apply import (
    ALREADY_APPLIED,
    already_renamed,
    column_default,
    created_schema,
    ignored,
    outcome,
    rename_target,
    starrocks_schema_changes,
    starrocks_version,
)
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.core.starrocks_types import map_column
from cdc_assets.errors import SinkError
from cdc_assets.starrocks.fe import FrontEnd

log = logging.getLogger(__name__)

#: the messages of a table that runs another schema change (ALTER: ``Table[t]'s state is not NORMAL. Do
#: not allow doing ALTER ops``; table rename: ``Table[t] is under SCHEMA_CHANGE``)
_BUSY = re.compile(r"state is not NORMAL|\bis under [A-Z_]+", re.I)
_UNFINISHED = ("PENDING", "WAITING_TXN", "RUNNING")
_VARCHAR = re.compile(r"varchar\((\d+)\)")
_LENGTH = re.compile(r"\((\d+)(?:\s*,\s*(\d+))?\)")


@dataclass(frozen=True)
class _Col:
    name: str
    type: str  # normalised: bigint, varchar(80), decimal(10,2), boolean, largeint
    is_key: bool


def _info_type(data_type: str, column_type: str, size: Any) -> str:
    """``information_schema.columns`` -> the type in the form of a planned ``type_sql`` (lower case, no
    spaces): BOOLEAN shows as ``tinyint`` with no COLUMN_SIZE, LARGEINT as ``bigint unsigned``, decimals
    as ``decimal64(10, 2)`` (or ``decimal(10, 2)``)."""
    dt, ct = data_type.lower().strip(), column_type.lower()
    m = _LENGTH.search(ct)
    if dt == "tinyint" and size is None:
        return "boolean"
    if dt == "bigint unsigned" or (dt == "bigint" and "unsigned" in ct):
        return "largeint"
    if dt.startswith("decimal") and m:
        return f"decimal({m.group(1)},{m.group(2) or 0})"
    if dt in ("char", "varchar", "varbinary", "binary") and m:
        return f"{dt}({m.group(1)})"
    return dt


def _planned(type_sql: str) -> str:
    return type_sql.lower().replace(" ", "")


def _bindable(sql: str) -> str:
    """``sql`` ready for bound parameters: PyMySQL formats with ``%``, so a ``%`` in a name is doubled."""
    return sql.replace("%", "%%")


def _shown(sql: str, params: Sequence[Any]) -> str:
    """A statement of :func:`_bindable` form as it reads in messages."""
    return sql % tuple(repr(p) for p in params)


class SchemaApplier:
    """Applies :mod:`cdc_assets.core.schema_change` events to StarRocks tables through ``fe``.

    ``timeout`` is ``table.schema-change.timeout`` in seconds; ``poll`` the first pause between job
    polls (it doubles up to 3 s, the Flink catalog's interval)."""

    def __init__(
        self, fe: FrontEnd, *, timeout: float, tinyint1_as_boolean: bool = True, poll: float = 0.1
    ) -> None:
        self.fe = fe
        self.timeout = timeout
        self.tinyint1_as_boolean = tinyint1_as_boolean
        self.poll = poll
        self._version: str | None = None
        self._lock = threading.Lock()

    # ---- version -------------------------------------------------------------------------------

    def version(self) -> str:
        """``current_version()`` of the FE, read once."""
        with self._lock:
            if self._version is None:
                rows = self.fe.execute("SELECT current_version()", doing="reading the StarRocks version")
                self._version = str(rows[0][0]) if rows and rows[0] else ""
                if starrocks_version(self._version) is None:
                    log.warning(
                        "cannot read the StarRocks version from %r; applying only the schema changes of 3.2",
                        self._version,
                    )
            return self._version

    def supported(self) -> frozenset[str]:
        return starrocks_schema_changes(starrocks_version(self.version()))

    # ---- entry point ---------------------------------------------------------------------------

    def apply(
        self,
        target: TableId,
        change: sc.SchemaChange,
        after: TableSchema | None,
        *,
        renamed_to: TableId | None,
        ensure_table: Callable[[TableId, TableSchema], None],
    ) -> str:
        if change.tag not in self.supported():
            raise sc.UnsupportedSchemaChange(
                f"the StarRocks sink does not apply {change.tag} events on StarRocks {self.version()} "
                f"({change.ddl!r} on {change.table}, target {target}); Flink CDC's StarRocks sink applies "
                "rename.column and alter.column.type from 3.6, drop.table and truncate.table from 3.3. "
                "schema.change.behavior TRY_EVOLVE goes on without it; or exclude it with "
                "sink exclude.schema.changes"
            )
        if isinstance(change, (sc.AlterTableComment, sc.AlterColumnComment)):
            return ignored("StarRocks comments are not changed (Flink CDC's StarRocks sink ignores them too)")
        if isinstance(change, sc.CreateTable):
            schema = created_schema(target, change, after)
            existed = self._columns(target) is not None
            ensure_table(target, schema)
            return outcome(not existed)
        if isinstance(change, sc.DropTable):
            existed = self._columns(target) is not None
            self._execute(target, change, _bindable(f"DROP TABLE IF EXISTS {self._table(target)}"))
            return outcome(existed)
        if isinstance(change, sc.TruncateTable):
            if self._columns(target) is None:
                return ignored(f"{target} does not exist")
            sql = _bindable(f"TRUNCATE TABLE {self._table(target)}")
            self._submit(target, change, sql, (), asynchronous=False)
            return outcome(True)
        if isinstance(change, sc.RenameTable):
            return self._rename_table(target, change, renamed_to)
        return self._column_change(target, change)

    # ---- column changes ------------------------------------------------------------------------

    def _column_change(self, target: TableId, change: sc.SchemaChange) -> str:
        columns = self._require_columns(target, change)
        statement, params, done, note = self._plan(target, change, columns)
        if done(columns):
            return ALREADY_APPLIED
        if statement is None:
            return note
        deadline = time.monotonic() + self.timeout
        try:
            # every column change is followed as a job; RENAME COLUMN, metadata-only, shows at once
            # without a newer job (``visible``)
            self._submit(
                target,
                change,
                statement,
                params,
                asynchronous=True,
                deadline=deadline,
                visible=lambda: done(self._columns(target) or {}),
            )
        except SinkError as exc:
            columns = self._require_columns(target, change)
            if done(columns):
                log.info("%s on %s was already in effect (%s)", change.tag, target, exc)
                return ALREADY_APPLIED
            raise
        columns = self._require_columns(target, change)
        if not done(columns):
            raise SinkError(
                f"the schema change of the StarRocks table {target} ({_shown(statement, params)}) finished, but the table "
                f"does not show it: its columns are {', '.join(f'{c.name} {c.type}' for c in columns.values())}",
                table=str(target),
            )
        return outcome(True, note)

    def _plan(
        self, target: TableId, change: sc.SchemaChange, columns: dict[str, _Col]
    ) -> tuple[str | None, tuple[Any, ...], Callable[[dict[str, _Col]], bool], str]:
        """``(statement, parameters, is-in-effect test, note)``; a None statement means nothing to send."""
        table = self._table(target)
        props = f' PROPERTIES ("timeout" = "{max(1, int(self.timeout))}")'

        def q(name: str) -> str:
            return quote_ident(name, "starrocks")

        if isinstance(change, sc.AddColumn):
            col = change.column
            if col is None:
                raise SinkError(f"the AddColumn event for {change.table} has no column ({change.ddl})")
            # a value column, NULL (as every value column of the table), appended as Flink's applier does:
            # the key columns come first in StarRocks, so a source position does not carry over
            planned = map_column(col, is_key=False, tinyint1_as_boolean=self.tinyint1_as_boolean)
            value, why = column_default(change.default_sql, col, boolean=planned.type_sql == "BOOLEAN")
            sql = _bindable(f"ALTER TABLE {table} ADD COLUMN {q(col.name)} {planned.type_sql} NULL")
            params: tuple[Any, ...] = ()
            if value is not None:
                sql, params = sql + " DEFAULT %s", (value,)
            note = f"existing rows have NULL in {col.name}: {why}" if why else ""
            return sql + _bindable(props), params, lambda cols: col.name.lower() in cols, note
        if isinstance(change, sc.DropColumn):
            name = change.name
            sql = f"ALTER TABLE {table} DROP COLUMN {q(name)}{props}"
            return _bindable(sql), (), lambda cols: name.lower() not in cols, ""
        if isinstance(change, sc.RenameColumn):
            old, new = change.old.lower(), change.new.lower()
            if old not in columns and new not in columns:
                raise SinkError(
                    f"cannot rename column {change.old} of the StarRocks table {target} to {change.new}: it "
                    f"has neither column (it has {', '.join(c.name for c in columns.values())})",
                    table=str(target),
                )
            sql = f"ALTER TABLE {table} RENAME COLUMN {q(change.old)} TO {q(change.new)}"
            return _bindable(sql), (), lambda cols: old not in cols and new in cols, ""
        if isinstance(change, sc.AlterColumnType):
            name = change.name.lower()
            if change.column is None or name not in columns:
                raise SinkError(
                    f"cannot change the type of column {change.name} of the StarRocks table {target} "
                    f"({change.ddl}): "
                    + ("the event has no column" if change.column is None else "no such column"),
                    table=str(target),
                )
            is_key = columns[name].is_key
            planned = map_column(change.column, is_key=is_key, tinyint1_as_boolean=self.tinyint1_as_boolean)
            want, have = _planned(planned.type_sql), columns[name].type
            shorter = _VARCHAR.fullmatch(want), _VARCHAR.fullmatch(have)
            if shorter[0] and shorter[1] and int(shorter[0].group(1)) < int(shorter[1].group(1)):
                # StarRocks cannot shorten a VARCHAR, and the longer one holds every value of the shorter
                return None, (), lambda cols: False, ignored(f"StarRocks keeps the longer {have.upper()}")
            null = "NOT NULL" if is_key else "NULL"
            sql = (
                f"ALTER TABLE {table} MODIFY COLUMN {q(columns[name].name)} {planned.type_sql} {null}{props}"
            )
            return _bindable(sql), (), lambda cols: name in cols and cols[name].type == want, ""
        raise SinkError(f"the StarRocks sink does not know the schema change {type(change).__name__}")

    # ---- table rename --------------------------------------------------------------------------

    def _rename_table(self, target: TableId, change: sc.RenameTable, renamed_to: TableId | None) -> str:
        renamed_to = rename_target(target, change, renamed_to)
        if renamed_to == target:
            return ignored(f"{change.table} and {change.new} both go to {target}")
        if renamed_to.db != target.db:
            raise sc.UnsupportedSchemaChange(
                f"StarRocks renames a table within its database only: {target} cannot become {renamed_to} "
                f"({change.ddl!r}); route both names to the same database, or exclude rename.table"
            )
        old, new = self._columns(target), self._columns(renamed_to)
        if already_renamed(
            "StarRocks", target, renamed_to, change, old_exists=old is not None, new_exists=new is not None
        ):
            return ALREADY_APPLIED
        sql = _bindable(
            f"ALTER TABLE {self._table(target)} RENAME {quote_ident(renamed_to.table, 'starrocks')}"
        )
        self._submit(target, change, sql, (), asynchronous=False)
        return outcome(True)

    # ---- statements and jobs -------------------------------------------------------------------

    def _submit(
        self,
        target: TableId,
        change: sc.SchemaChange,
        sql: str,
        params: Sequence[Any],
        *,
        asynchronous: bool,
        deadline: float | None = None,
        visible: Callable[[], bool] | None = None,
    ) -> None:
        """Send ``sql``; while the table runs another job, wait for it and send again. An asynchronous
        statement is then followed to its end: the job is the latest one of the table that is newer than
        the latest before the statement (``visible`` tells whether the change shows without one)."""
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        while True:
            before = self._latest_job(target) if asynchronous else None
            try:
                self._execute(target, change, sql, params)
                break
            except SinkError as exc:
                if not _BUSY.search(str(exc)):
                    raise
                log.info("StarRocks table %s runs another schema change; waiting for it", target)
                self._wait(target, _shown(sql, params), deadline, waiting_for="another schema change")
        if asynchronous:
            newer_than = before["JobId"] if before else None
            job = self._wait(target, _shown(sql, params), deadline, newer_than=newer_than, visible=visible)
            if job is not None and job["State"] == "CANCELLED":
                raise SinkError(
                    f"StarRocks cancelled the schema change of {target} ({_shown(sql, params)}): "
                    f"{job['Msg'] or '(no message)'}; fix the cause (for a type change, values that do not "
                    "convert), or exclude the change with sink exclude.schema.changes",
                    table=str(target),
                    job_id=job["JobId"],
                )

    def _wait(
        self,
        target: TableId,
        sql: str,
        deadline: float,
        waiting_for: str = "the schema change",
        *,
        newer_than: str | None = None,
        visible: Callable[[], bool] | None = None,
    ) -> dict[str, str] | None:
        """The latest alter job of ``target`` once it has ended (None if it has none, or if the latest is
        still ``newer_than`` and the change is ``visible``)."""
        pause = self.poll
        while True:
            job = self._latest_job(target)
            if job is not None and job["JobId"] == newer_than:
                # the statement's job does not show as the latest yet (CreateTime has whole seconds)
                if visible is not None and visible():
                    return None
                state = "not shown by SHOW ALTER TABLE COLUMN"
            elif job is None or job["State"] not in _UNFINISHED:
                return job
            else:
                state = f"still {job['State']}"
            left = deadline - time.monotonic()
            if left <= 0:
                raise SinkError(
                    f"{waiting_for} of the StarRocks table {target} (job {job['JobId']}) is {state} "
                    f"after {self.timeout:g} s (sink table.schema-change.timeout) while "
                    f"applying {sql}; StarRocks goes on with it: raise the timeout, or restart once SHOW "
                    "ALTER TABLE COLUMN shows it FINISHED (the change is then found applied)",
                    table=str(target),
                    job_id=job["JobId"],
                )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 3.0)

    def _latest_job(self, target: TableId) -> dict[str, str] | None:
        db = quote_ident(target.db, "starrocks")
        rows = self.fe.execute(
            _bindable(f"SHOW ALTER TABLE COLUMN FROM {db}")
            + " WHERE TableName = %s ORDER BY CreateTime DESC LIMIT 1",
            (target.table,),
            doing=f"reading the schema change jobs of {target}",
        )
        if not rows:
            return None
        names = ("JobId", "TableName", "CreateTime", "FinishTime", "IndexName", "IndexId", "OriginIndexId")
        names += ("SchemaVersion", "TransactionId", "State", "Msg", "Progress", "Timeout")
        return {n: ("" if v is None else str(v)) for n, v in zip(names, rows[0], strict=False)}

    def _execute(
        self, target: TableId, change: sc.SchemaChange, sql: str, params: Sequence[Any] = ()
    ) -> None:
        """Run ``sql`` (in :func:`_bindable` form) with ``params``."""
        doing = f"applying {change.tag} to {target}: {_shown(sql, params)}"
        # PyMySQL formats only when there are parameters: without, the doubled % are undone here
        self.fe.execute(sql if params else sql % (), tuple(params) or None, doing=doing)

    # ---- reading the table ---------------------------------------------------------------------

    def _table(self, target: TableId) -> str:
        return quote_table(target.db, target.table, "starrocks")

    def _columns(self, target: TableId) -> dict[str, _Col] | None:
        """The table's columns by lower-case name (StarRocks names are case-insensitive), or None."""
        rows = self.fe.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLUMN_KEY, COLUMN_SIZE FROM information_schema.columns "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (target.db, target.table),
            doing=f"reading the columns of {target}",
        )
        cols = [
            _Col(str(n), _info_type(str(d), str(t), size), str(k or "") == "PRI") for n, d, t, k, size in rows
        ]
        return {c.name.lower(): c for c in cols} or None

    def _require_columns(self, target: TableId, change: sc.SchemaChange) -> dict[str, _Col]:
        columns = self._columns(target)
        if columns is None:
            raise SinkError(
                f"cannot apply {change.tag} ({change.ddl}) to the StarRocks table {target}: it does not "
                "exist; the table is created when its source table is first captured",
                table=str(target),
            )
        return columns
