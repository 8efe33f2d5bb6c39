"""The FE's statement dispatcher: one SQL text in, a result set (or None for OK) out.

Statements sqlglot (dialect ``starrocks``) does not parse, or parses loosely, are recognised first with
small regular expressions: DESC ... ALL, SHOW ALTER TABLE COLUMN, ``ADD COLUMN (c1 ..., c2 ...)``,
``RENAME COLUMN a b`` (3.3.2+) and the table rename ``ALTER TABLE t RENAME n``. Errors are :class:`AnalysisError` carrying StarRocks' message; the session turns
them into MySQL error packets.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
import sqlglot
from mysql_mimic import ResultSet
from sqlglot import exp
from sqlglot.errors import ParseError

from cdc_assets.standin import alter, ddl
from cdc_assets.standin.catalog import AnalysisError
from cdc_assets.standin.ddl import SqlError
from cdc_assets.standin.select import SessionInfo, run_select, text_result, to_result_set
from cdc_assets.standin.store import StandInStore

_IDENT = r"(?:`(?:[^`]|``)+`|[^\s`.;()]+)"
_TABLE = rf"(?P<table>{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}})"
_DESC_RE = re.compile(rf"^\s*DESC(?:RIBE)?\s+{_TABLE}(?P<all>\s+ALL)?\s*$", re.I | re.S)
_SHOW_ALTER_RE = re.compile(
    rf"^\s*SHOW\s+ALTER\s+TABLE\s+COLUMN(?:\s+(?:FROM|IN)\s+(?P<db>{_IDENT}))?(?P<rest>.*)$", re.I | re.S
)
_RENAME_RE = re.compile(
    rf"^\s*ALTER\s+TABLE\s+{_TABLE}\s+RENAME\s+COLUMN\s+(?P<old>{_IDENT})\s+(?:TO\s+)?(?P<new>{_IDENT})\s*$",
    re.I | re.S,
)
_ADD_LIST_RE = re.compile(r"\bADD\s+COLUMN\s*\(", re.I)
_RENAME_TABLE_RE = re.compile(
    rf"^\s*ALTER\s+TABLE\s+{_TABLE}\s+RENAME\s+(?!(?:COLUMN|TO)\s)(?P<new>{_IDENT})\s*$", re.I | re.S
)
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def _version(text: str) -> tuple[int, int, int]:
    m = _VERSION_RE.match(text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else (0, 0, 0)


def _unquote(ident: str) -> str:
    ident = ident.strip()
    if ident.startswith("`") and ident.endswith("`"):
        return ident[1:-1].replace("``", "`")
    return ident


def _split_table(text: str) -> list[str]:
    return [_unquote(p) for p in re.findall(_IDENT, text)]


@dataclass
class FrontConfig:
    version: str  # StarRocks version, e.g. "3.3.5"
    default_replication_num: int


class Session(Protocol):
    """What the dispatcher needs from a connection's session (implemented by ``query._Session``)."""

    database: str | None
    username: str | None

    @property
    def connection_id(self) -> int: ...

    def variable(self, name: str) -> Any: ...

    def set_statement(self, expr: exp.Set) -> None: ...

    def show_variables(self, expr: exp.Show) -> tuple[list[tuple], list[str]]: ...


class Front:
    """Executes statements against the store; shared by all sessions of one QueryServer."""

    def __init__(self, store: StandInStore, jobs: alter.AlterJobs, config: FrontConfig) -> None:
        self.store = store
        self.jobs = jobs
        self.config = config
        # DDL runs one statement at a time, so "is the table NORMAL?" and "start the job" cannot interleave
        self._ddl_lock = threading.Lock()

    # ------------------------------------------------------------------ entry point
    def execute(self, session: Session, sql: str) -> ResultSet | None:
        text = sql.strip().rstrip(";").strip()
        if not text:
            raise SqlError("Query was empty", 1065)
        for pattern, handler in self._regex_handlers():
            m = pattern.match(text)
            if m:
                return handler(session, m)
        if _ADD_LIST_RE.search(text):
            text = _expand_add_column_list(text)
        try:
            statements = [s for s in sqlglot.parse(text, read="starrocks") if s is not None]
        except ParseError as e:
            detail = e.errors[0]["description"] if e.errors else str(e)
            raise SqlError(f"Getting syntax error. Detail message: {detail}.") from None
        result = None
        for expr in statements:
            result = self._dispatch(session, expr, text)
        return result

    def _regex_handlers(
        self,
    ) -> list[tuple[re.Pattern[str], Callable[[Session, re.Match[str]], ResultSet | None]]]:
        return [
            (_DESC_RE, self._describe),
            (_SHOW_ALTER_RE, self._show_alter),
            (_RENAME_RE, self._rename),
            (_RENAME_TABLE_RE, self._rename_table),
        ]

    def _dispatch(self, session: Session, expr: exp.Expression, sql: str) -> ResultSet | None:
        if isinstance(expr, exp.Query):
            return run_select(self.store, expr, self._info(session), sql)
        if isinstance(expr, (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)):
            with self._ddl_lock:
                return self._ddl(session, expr)
        if isinstance(expr, exp.Use):
            db = expr.this.name
            if db.lower() == "information_schema":
                session.database = "information_schema"
                return None
            if not self.store.has_database(db):
                raise SqlError(f"Unknown database '{db}'", 1049)
            session.database = db
            return None
        if isinstance(expr, exp.Show):
            return self._show(session, expr)
        if isinstance(expr, exp.Describe):
            db, name = self._resolve(session, expr.this)
            return self._describe_table(db, name, all_=False)
        if isinstance(expr, exp.Set):
            session.set_statement(expr)
            return None
        if isinstance(expr, (exp.Transaction, exp.Commit, exp.Rollback)):
            return None
        words = " ".join(sql.split()[:3])
        raise SqlError(
            f"Getting syntax error. Detail message: the StarRocks stand-in does not support this statement "
            f"({words} ...); it serves DDL, ALTER TABLE columns, SHOW/DESC and SELECT."
        )

    def _ddl(self, session: Session, expr: exp.Expression) -> None:
        if isinstance(expr, exp.Create):
            return self._create(session, expr)
        if isinstance(expr, exp.Drop):
            return self._drop(session, expr)
        if isinstance(expr, exp.Alter):
            return self._alter(session, expr)
        for t in expr.expressions:  # TRUNCATE TABLE
            db, name = self._resolve(session, t)
            self._require_table(db, name)
            self.store.truncate_table(db, name)
        return None

    # ------------------------------------------------------------------ helpers
    def _info(self, session: Session) -> SessionInfo:
        return SessionInfo(
            database=session.database,
            user=session.username or "",
            connection_id=session.connection_id,
            current_version=f"{self.config.version} standin",
            variable=session.variable,
        )

    def _resolve(self, session: Session, table: exp.Expression) -> tuple[str, str]:
        db = table.text("db") or session.database
        if not db:
            raise SqlError("No database selected", 1046)
        if not self.store.has_database(db):
            raise SqlError(f"Unknown database '{db}'", 1049)
        return db, table.name

    def _resolve_text(self, session: Session, text: str) -> tuple[str, str]:
        *qualifiers, name = _split_table(text)  # [catalog.][db.]table
        db = exp.to_identifier(qualifiers[-1]) if qualifiers else None
        return self._resolve(session, exp.Table(this=exp.to_identifier(name), db=db))

    def _require_table(self, db: str, name: str) -> Any:
        meta = self.store.get_table(db, name)
        if meta is None:
            raise SqlError(f"Unknown table '{name}'", 1051)
        return meta

    # ------------------------------------------------------------------ DDL
    def _create(self, session: Session, expr: exp.Create) -> None:
        kind = expr.text("kind").upper()
        if kind == "DATABASE":
            db = expr.this.name
            if self.store.has_database(db):
                if expr.args.get("exists"):
                    return None
                raise SqlError(f"Can't create database '{db}'; database exists", 1007)
            self.store.create_database(db)
            return None
        if kind != "TABLE":
            raise SqlError(f"the StarRocks stand-in does not support CREATE {kind}")
        db, name = self._resolve(session, expr.this.this if isinstance(expr.this, exp.Schema) else expr.this)
        try:
            meta, if_not_exists = ddl.analyze_create_table(
                expr, db, default_replication_num=self.config.default_replication_num
            )
        except SqlError:
            raise
        except AnalysisError as e:
            raise SqlError(f"Getting analyzing error. Detail message: {str(e).rstrip('.')}.") from None
        if self.store.get_table(db, name) is not None:
            if if_not_exists:
                return None
            raise SqlError(f"Table '{name}' already exists", 1050)
        self.store.create_table(meta)
        return None

    def _drop(self, session: Session, expr: exp.Drop) -> None:
        kind = expr.text("kind").upper()
        exists = bool(expr.args.get("exists"))
        targets = expr.args.get("tables") or []
        if kind == "DATABASE":
            db = targets[0].name
            if not self.store.has_database(db):
                if exists:
                    return None
                raise SqlError(f"Can't drop database '{db}'; database doesn't exist", 1008)
            self.store.drop_database(db)
            return None
        if kind != "TABLE":
            raise SqlError(f"the StarRocks stand-in does not support DROP {kind}")
        for t in targets:
            db, name = self._resolve(session, t)
            if self.store.get_table(db, name) is None:
                if exists:
                    continue
                raise SqlError(f"Unknown table '{name}'", 1051)
            self.store.drop_table(db, name)
        return None

    def _alter(self, session: Session, expr: exp.Alter) -> None:
        if expr.text("kind").upper() != "TABLE":
            raise SqlError(f"the StarRocks stand-in does not support ALTER {expr.text('kind')}")
        db, name = self._resolve(session, expr.this)
        meta = self._require_table(db, name)
        actions = expr.args.get("actions") or []
        renames = [a for a in actions if isinstance(a, exp.RenameColumn)]
        if any(isinstance(a, exp.AlterRename) for a in actions):
            # StarRocks' grammar is RENAME <name> (handled by _rename_table); sqlglot also reads RENAME TO
            raise SqlError(
                "Getting syntax error. Detail message: Unexpected input 'TO', the most similar input is "
                "{a legal identifier}."
            )
        if renames:
            if len(actions) != 1:
                raise SqlError("the StarRocks stand-in runs RENAME COLUMN only as a statement of its own")
            self._require_rename_column()
            change = alter.plan_rename(meta, renames[0].this.name, renames[0].args["to"].name)
            self.store.rebuild_table(change.meta, change.sources)
            return None
        options = {
            p.name: p.args["value"].name for p in expr.args.get("options") or [] if type(p) is exp.Property
        }
        change = alter.plan_schema_change(meta, actions, options)
        self.jobs.submit(db, change)
        return None

    def _require_rename_column(self) -> None:
        """RENAME COLUMN exists from StarRocks 3.3.2 (docs "ALTER TABLE"); before, the parser refuses it."""
        if _version(self.config.version) < (3, 3, 2):
            raise SqlError(
                "Getting syntax error. Detail message: Unexpected input 'COLUMN', the most similar input is "
                f"{{a legal identifier}} (RENAME COLUMN needs StarRocks 3.3.2 or later; this is {self.config.version})."
            )

    def _rename(self, session: Session, m: re.Match[str]) -> None:
        self._require_rename_column()
        db, name = self._resolve_text(session, m.group("table"))
        with self._ddl_lock:
            meta = self._require_table(db, name)
            change = alter.plan_rename(meta, _unquote(m.group("old")), _unquote(m.group("new")))
            self.store.rebuild_table(change.meta, change.sources)
        return None

    def _rename_table(self, session: Session, m: re.Match[str]) -> None:
        """``ALTER TABLE t RENAME n``: synchronous, metadata-only, within the table's database."""
        db, name = self._resolve_text(session, m.group("table"))
        new = _unquote(m.group("new"))
        with self._ddl_lock:
            meta = self._require_table(db, name)
            alter.check_table_rename(meta, new, self.store.get_table(db, new) is not None)
            self.store.rename_table(db, name, new)
        return None

    # ------------------------------------------------------------------ SHOW / DESC
    def _describe(self, session: Session, m: re.Match[str]) -> ResultSet:
        db, name = self._resolve_text(session, m.group("table"))
        return self._describe_table(db, name, all_=bool(m.group("all")))

    def _describe_table(self, db: str, name: str, *, all_: bool) -> ResultSet:
        meta = self.store.get_table(db, name)
        if meta is None:
            raise SqlError(f"Getting analyzing error. Detail message: Unknown table '{db}.{name}'.")
        rows, names = ddl.describe_rows(meta, all_=all_)
        return text_result(names, rows)

    def _show(self, session: Session, expr: exp.Show) -> ResultSet:
        what = expr.name.upper()
        like = expr.text("like")
        pattern = _like_regex(like) if like else None
        if what == "DATABASES":
            names = ["information_schema", *self.store.list_databases()]
            return text_result(["Database"], [(n,) for n in names if not pattern or pattern.match(n)])
        if what == "TABLES":
            db = expr.text("db") or session.database
            if not db:
                raise SqlError("No database selected", 1046)
            if not self.store.has_database(db):
                raise SqlError(f"Unknown database '{db}'", 1049)
            rows = [(t,) for t in self.store.list_tables(db) if not pattern or pattern.match(t)]
            if expr.args.get("full"):
                return text_result([f"Tables_in_{db}", "Table_type"], [(r[0], "BASE TABLE") for r in rows])
            return text_result([f"Tables_in_{db}"], rows)
        if what == "CREATE TABLE":
            target = exp.Table(this=expr.args["target"], db=expr.args.get("db"))
            db, name = self._resolve(session, target)
            meta = self.store.get_table(db, name)
            if meta is None:
                raise SqlError(f"Getting analyzing error. Detail message: Unknown table '{db}.{name}'.")
            text = ddl.show_create_table(meta, self.config.default_replication_num)
            return text_result(["Table", "Create Table"], [(meta.name, text)])
        if what in ("WARNINGS", "ERRORS"):
            return text_result(["Level", "Code", "Message"], [])
        if what == "VARIABLES":
            rows, names = session.show_variables(expr)
            return text_result(names, rows)
        raise SqlError(f"the StarRocks stand-in does not support SHOW {what}")

    def _show_alter(self, session: Session, m: re.Match[str]) -> ResultSet:
        db = _unquote(m.group("db")) if m.group("db") else session.database
        if not db:
            raise SqlError("No database selected", 1046)
        if not self.store.has_database(db):
            raise SqlError(f"Unknown database '{db}'", 1049)
        rows = alter.job_rows(self.store, db)
        cols = ", ".join(f'"{c}"' for c in alter.ALTER_COLUMNS)
        try:
            select = sqlglot.parse_one(f"SELECT * FROM __standin_jobs {m.group('rest')}", read="starrocks")
        except ParseError as e:
            raise SqlError(f"Getting syntax error. Detail message: {e.errors[0]['description']}.") from None
        order = select.args.get("order")
        if order is not None and order.expressions:
            # ties (two jobs created within one second) break by JobId, in the direction asked for
            desc = bool(order.expressions[0].args.get("desc"))
            order.append("expressions", exp.Ordered(this=exp.column("__seq"), desc=desc))
        duck = select.sql(dialect="duckdb").replace("SELECT *", f"SELECT {cols}", 1)
        table = pa.table(
            {c: [r[i] for r in rows] for i, c in enumerate([*alter.ALTER_COLUMNS, "__seq"])},
            schema=pa.schema([(c, pa.string()) for c in alter.ALTER_COLUMNS] + [("__seq", pa.int64())]),
        )
        names, out, types = self.store.execute(duck, tables={"__standin_jobs": table})
        return to_result_set(names, out, types)


def _like_regex(like: str) -> re.Pattern[str]:
    out = []
    for ch in like:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.I)


def _expand_add_column_list(sql: str) -> str:
    """``ADD COLUMN (c1 T1, c2 T2)`` -> ``ADD COLUMN c1 T1, ADD COLUMN c2 T2`` (sqlglot parses the latter)."""
    m = _ADD_LIST_RE.search(sql)
    assert m is not None
    start, i, depth, quote = m.start(), m.end(), 1, ""
    while i < len(sql) and depth:
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        i += 1
    inner = sql[m.end() : i - 1]
    try:
        schema = sqlglot.parse_one(f"CREATE TABLE __standin_x ({inner})", read="starrocks")
    except ParseError as e:
        raise SqlError(f"Getting syntax error. Detail message: {e.errors[0]['description']}.") from None
    defs = ", ".join("ADD COLUMN " + cd.sql("starrocks") for cd in schema.this.expressions)
    return sql[:start] + defs + sql[i:]
