"""DDL statements from the binlog -> schema-change events (:mod:`cdc_assets.core.schema_change`).

:func:`parse_ddl` reads one statement as a QueryEvent carries it (the statement as the client sent
it, with the session's current database) and returns the changes it makes to tables, in the order
the server applies them. Statements that change no table's columns (indexes, foreign keys, engine,
``ALGORITHM=``, grants, views, ``SET`` ...) give ``[]``.

Parsing: the statement is tokenised with sqlglot's MySQL tokenizer (names, quoting, comments); the
statement kind, table names and the ``ALTER TABLE`` specifications are read from the tokens, and each
column definition is parsed by sqlglot and described by :mod:`cdc_assets.core.ddl_columns`. An ALTER
specification that is not understood, on a captured table, raises :class:`DdlParseError`: a
statement that touches a captured table is never skipped silently.

What the parser cannot know from the statement alone comes from ``known`` (the schemas in force,
for ``CHANGE`` / ``MODIFY`` comparisons, ``CREATE TABLE ... LIKE``, ``CONVERT TO CHARACTER SET``
and the table's default character set) and from :class:`~cdc_assets.core.charsets.ServerDefaults`
(database default character sets).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping

from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from cdc_assets.core.charsets import ServerDefaults
from cdc_assets.core.ddl_charset import charset_options, charset_pair
from cdc_assets.core.ddl_columns import CONVERTED_TYPES, ColumnDef, converted_column, describe_column
from cdc_assets.core.ddl_text import ColumnDefError, Tokens, tokenize, unwrap_executable_comments
from cdc_assets.core.evolution import EvolutionError, evolve, plan_sink_changes
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.schema_change import (
    AddColumn,
    AlterColumnComment,
    AlterColumnType,
    AlterTableCharset,
    AlterTableComment,
    CreateTable,
    DropColumn,
    DropTable,
    RenameColumn,
    RenameTable,
    SchemaChange,
    TruncateTable,
)
from cdc_assets.errors import TerminalError

__all__ = [
    "DdlOutcome",
    "DdlParseError",
    "ServerDefaults",
    "TableChange",
    "apply_ddl",
    "parse_ddl",
    "plan_change",
]


class DdlParseError(TerminalError):
    """A DDL statement on a captured table that this parser does not understand (or cannot apply).

    ``table`` is the table (None when the statement's table could not be read), ``ddl`` the statement
    and ``reason`` what is not understood.
    """

    def __init__(self, table: TableId | None, ddl: str, reason: str) -> None:
        where = f"captured table {table}" if table is not None else "a table"
        short = ddl if len(ddl) <= 2000 else ddl[:2000] + " ..."
        fix = (
            ""
            if "re-snapshot" in reason
            else " To go on, re-snapshot the table (its target then gets the new schema)."
        )
        super().__init__(
            f"cannot apply a DDL statement on {where}: {reason}. The stream stops here so that the target "
            f"does not silently diverge from the source.{fix} Statement: {short!r}. If the server accepted a "
            "statement this parser does not understand, report it as a bug",
            table=str(table) if table is not None else None,
        )
        self.table = table
        self.ddl = ddl
        self.reason = reason


_LEADING_WORD = re.compile(r"(?:\s+|/\*.*?\*/|--[ \t][^\n]*|#[^\n]*)*([A-Za-z]+)", re.S)
_DDL_VERBS = {"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"}
#: the word after the verb (``CREATE OR REPLACE`` skipped) of a statement about tables
_TABLE_WORDS = {"TABLE", "TABLES", "TEMPORARY", "ONLINE", "IGNORE"}


def _names_a_table(text: str) -> bool:
    """Whether a statement is DDL on tables, by its leading words, before it is tokenised: a trigger or
    procedure body (``CREATE TRIGGER ... BEGIN ...; ...; END``, as pt-online-schema-change creates) holds
    several statements, which the tokenizer refuses."""
    words: list[str] = []
    pos = 0
    while len(words) < 4 and (m := _LEADING_WORD.match(text, pos)) is not None:
        words.append(m.group(1).upper())
        pos = m.end()
    if words[1:3] == ["OR", "REPLACE"]:
        del words[1:3]
    if not words or words[0] not in _DDL_VERBS:
        return False
    return words[0] == "TRUNCATE" or (len(words) > 1 and words[1] in _TABLE_WORDS)


# ------------------------------------------------------------------------------------ public API


def parse_ddl(
    sql: str,
    current_db: str | None,
    is_captured: Callable[[TableId], bool] | None = None,
    known: Mapping[TableId, TableSchema] | None = None,
    *,
    defaults: ServerDefaults | None = None,
) -> list[SchemaChange]:
    """The schema changes one DDL statement makes, in order.

    ``current_db`` is the QueryEvent's database (names without a database are relative to it; ``''``
    counts as none). ``is_captured`` says which tables matter (default: all); changes to other tables
    are not returned, and statements on them are not examined beyond their table names, so an
    unreadable statement on an uncaptured table is no error. ``RENAME TABLE`` is returned when either
    name is captured. ``known`` holds the schemas in force: without a table's schema, ``CHANGE`` and
    ``MODIFY`` always give an :class:`AlterColumnType` (the parser cannot tell whether only the comment
    changed) and a column added without a character set gets charset None. When ``known`` is given,
    ``DROP TABLE IF EXISTS`` leaves out the tables not in it (the server logs those statements with
    every name, existing or not).

    Raises :class:`DdlParseError` for a statement on a captured table that is not understood or not
    supported (primary key changes, ``CREATE TABLE ... SELECT``, system versioning).
    """
    known_given = known is not None
    known = known or {}
    captured = is_captured or (lambda _t: True)
    defaults = defaults or ServerDefaults()
    ddl = sql.strip()
    text = unwrap_executable_comments(ddl)
    if not _names_a_table(text):
        return []
    try:
        toks = Tokens(text, tokenize(text))
    except (SqlglotError, ValueError) as e:
        raise DdlParseError(None, ddl, f"the statement cannot be tokenised ({e})") from None
    p = _Parser(ddl, text, current_db or None, captured, known, defaults, known_given)
    try:
        return p.statement(toks)
    except DdlParseError:
        raise
    except (ValueError, SqlglotError, EvolutionError, KeyError) as e:
        if p.table is not None and not captured(p.table):
            return []
        raise DdlParseError(p.table, ddl, e.reason if isinstance(e, EvolutionError) else str(e)) from None


@dataclasses.dataclass(frozen=True)
class TableChange:
    """One source change of a statement, with the schema in force before and after it and what to send to
    the sink (:func:`~cdc_assets.core.evolution.plan_sink_changes`; source table ids: route them).

    ``after`` is None when the table is gone (:class:`DropTable`, or renamed to a name not captured: then
    nothing is sent, the target stays as it was) and
    when its schema is not known: a :class:`CreateTable` ``LIKE`` a table not in the schemas, or a
    :class:`RenameTable` that brings a table not captured before under a captured name (``before`` None).
    In those two cases the table's schema must be read from the catalog and the table snapshotted, as a
    newly added table is.
    """

    change: SchemaChange
    before: TableSchema | None
    after: TableSchema | None
    sink: tuple[SchemaChange, ...]


@dataclasses.dataclass(frozen=True)
class DdlOutcome:
    """What one DDL statement does: the schemas in force afterwards (captured tables only) and the changes."""

    schemas: dict[TableId, TableSchema]
    changes: tuple[TableChange, ...]


def apply_ddl(
    sql: str,
    current_db: str | None,
    schemas: Mapping[TableId, TableSchema],
    *,
    is_captured: Callable[[TableId], bool],
    behavior: str,
    enabled_tags: frozenset[str],
    defaults: ServerDefaults | None = None,
) -> DdlOutcome:
    """Parse one DDL statement (:func:`parse_ddl`), evolve the schemas in force (:func:`evolve`) and plan
    the sink's changes (``behavior``: ``pipeline.schema.change.behavior``; ``enabled_tags``:
    ``PipelineConfig.schema_change_types``). ``schemas`` is not modified.

    Raises :class:`DdlParseError`, :class:`~cdc_assets.core.evolution.EvolutionError` (a change that does
    not fit the schema in force) or :class:`~cdc_assets.core.evolution.SchemaChangeForbidden`
    (``EXCEPTION``). Nothing is applied before all changes of the statement are planned, so a statement
    that fails leaves nothing half done.
    """
    current = dict(schemas)
    out: list[TableChange] = []
    for change in parse_ddl(sql, current_db, is_captured, current, defaults=defaults):
        tc = plan_change(change, current.get(change.table), is_captured, behavior, enabled_tags)
        if tc is None:
            continue
        current.pop(change.table, None)
        target = change.new if isinstance(change, RenameTable) else change.table
        if tc.after is not None and target is not None and is_captured(target):
            current[target] = tc.after
        out.append(tc)
    return DdlOutcome(current, tuple(out))


def plan_change(
    change: SchemaChange,
    before: TableSchema | None,
    is_captured: Callable[[TableId], bool],
    behavior: str,
    enabled_tags: frozenset[str],
) -> TableChange | None:
    """One change of a statement (:func:`apply_ddl`), ``before`` the schema in force of its table: the
    schema after it and what to send to the sink. None for a change to a table with no schema in force
    (gone before the pipeline described it: nothing to change)."""
    if before is None and not isinstance(change, (CreateTable, RenameTable)):
        return None
    sink = tuple(plan_sink_changes(change, before, behavior, enabled_tags))
    if isinstance(change, RenameTable) and before is None:
        after = None  # a table not captured before: its schema is unknown
    elif isinstance(change, CreateTable) and change.schema is None:
        after = None  # LIKE a table not known
    else:
        after = evolve(before, change)
    if isinstance(change, RenameTable) and change.new is not None and not is_captured(change.new):
        after, sink = None, ()  # renamed out of the captured set: its target stays as it is
    return TableChange(change, before, after, sink)


# ------------------------------------------------------------------------------------ the parser

#: ALTER TABLE specifications that change no column (first word; ADD/DROP/ALTER/RENAME objects below)
_NOOP_SPECS = {
    "ALGORITHM", "LOCK", "FORCE", "ORDER", "ENABLE", "DISABLE", "DISCARD", "IMPORT", "ANALYZE", "CHECK",
    "OPTIMIZE", "REBUILD", "REPAIR", "COALESCE", "REORGANIZE", "EXCHANGE", "REMOVE", "PARTITION",
    "TRUNCATE", "WITH", "WITHOUT", "UPGRADE", "SECONDARY_LOAD", "SECONDARY_UNLOAD",
}  # fmt: skip
#: table options (``ALTER TABLE t ENGINE=InnoDB COMMENT='x'``); COMMENT and the character set are read
_TABLE_OPTIONS = {
    "ENGINE", "TYPE", "AUTO_INCREMENT", "AVG_ROW_LENGTH", "CHECKSUM", "TABLE_CHECKSUM", "COMMENT",
    "COMPRESSION", "CONNECTION", "DATA", "INDEX", "DELAY_KEY_WRITE", "ENCRYPTION", "ENCRYPTED",
    "ENCRYPTION_KEY_ID", "INSERT_METHOD", "KEY_BLOCK_SIZE", "MAX_ROWS", "MIN_ROWS", "PACK_KEYS",
    "PAGE_CHECKSUM", "PAGE_COMPRESSED", "PAGE_COMPRESSION_LEVEL", "PASSWORD", "ROW_FORMAT",
    "STATS_AUTO_RECALC", "STATS_PERSISTENT", "STATS_SAMPLE_PAGES", "TABLESPACE", "TRANSACTIONAL", "UNION",
    "DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "SEQUENCE", "IETF_QUOTES", "STORAGE", "ENGINE_ATTRIBUTE",
    "SECONDARY_ENGINE", "SECONDARY_ENGINE_ATTRIBUTE", "AUTOEXTEND_SIZE", "START",
}  # fmt: skip
#: objects of ADD / DROP that are not columns (indexes, keys, constraints, partitions, periods)
_INDEX_WORDS = {
    "INDEX",
    "KEY",
    "UNIQUE",
    "FULLTEXT",
    "SPATIAL",
    "FOREIGN",
    "CHECK",
    "CONSTRAINT",
    "PARTITION",
}
#: words that start an index or period only when followed by one of these (a column may be named so)
_INDEX_IF_FOLLOWED = {"PERIOD": ("FOR",), "VECTOR": ("INDEX", "KEY")}


def _key_spec(t: Tokens) -> str | None:
    """At the start of an ADD / DROP object (or a CREATE TABLE element): ``"primary"`` for the primary
    key, ``"index"`` for any other index, key, constraint, partition or period, None for a column."""
    w = t.word()
    if w == "PRIMARY":
        return "primary"
    if w == "CONSTRAINT":
        k = 1 if t.word(1) in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK") else 2
        return "primary" if t.word(k) == "PRIMARY" else "index"
    if w in _INDEX_WORDS or t.word(1) in _INDEX_IF_FOLLOWED.get(w, ()):
        return "index"
    return None


@dataclasses.dataclass
class _Parser:
    ddl: str
    text: str
    current_db: str | None
    captured: Callable[[TableId], bool]
    known: Mapping[TableId, TableSchema]
    defaults: ServerDefaults
    known_given: bool
    table: TableId | None = None

    def statement(self, t: Tokens) -> list[SchemaChange]:
        verb = t.word()
        t.i += 1
        if verb == "ALTER":
            t.accept("ONLINE")
            t.accept("IGNORE")
            if not t.accept("TABLE"):
                return []  # ALTER DATABASE / VIEW / USER / EVENT / SEQUENCE ...
            t.accept("IF", "EXISTS")
            return self.alter(t)
        if verb == "CREATE":
            replace = t.accept("OR", "REPLACE")
            if t.accept("TEMPORARY") or not t.accept("TABLE"):
                return []
            return self.create(t, replace)
        if verb == "DROP":
            if t.accept("TEMPORARY") or not t.accept("TABLE"):
                return []
            return self.drop(t)
        if verb == "RENAME":
            if not (t.accept("TABLE") or t.accept("TABLES")):
                return []
            return self.rename(t)
        if verb == "TRUNCATE":
            t.accept("TABLE")
            self.table = t.table(self.current_db)
            return [TruncateTable(self.table, self.ddl)] if self.captured(self.table) else []
        return []

    # --------------------------------------------------------------------------- DROP / RENAME
    def drop(self, t: Tokens) -> list[SchemaChange]:
        if_exists = t.accept("IF", "EXISTS")
        out: list[SchemaChange] = []
        for part in t.split():
            table = part.table(self.current_db)
            if not self.captured(table) or (if_exists and self.known_given and table not in self.known):
                continue  # IF EXISTS: a table that does not exist is logged too (the server's own DROPs)
            out.append(DropTable(table, self.ddl))
        return out

    def rename(self, t: Tokens) -> list[SchemaChange]:
        t.accept("IF", "EXISTS")
        out: list[SchemaChange] = []
        for part in t.split():
            old = part.table(self.current_db)
            if part.accept("WAIT"):  # MariaDB: RENAME TABLE t WAIT n TO u
                part.name()
            part.accept("NOWAIT")
            if not part.accept("TO"):
                self.table = old
                raise ValueError("RENAME TABLE without TO")
            new = part.table(self.current_db)
            if self.captured(old) or self.captured(new):
                out.append(RenameTable(old, self.ddl, new=new))
        return out

    # --------------------------------------------------------------------------------- CREATE
    def create(self, t: Tokens, replace: bool) -> list[SchemaChange]:
        if_not_exists = t.accept("IF", "NOT", "EXISTS")
        table = self.table = t.table(self.current_db)
        if not self.captured(table) or (if_not_exists and table in self.known):
            return []  # IF NOT EXISTS on an existing table: the server changes nothing
        pre: list[SchemaChange] = [DropTable(table, self.ddl)] if replace and table in self.known else []
        if t.accept("LIKE"):
            src = t.table(self.current_db)
            return [*pre, self._like(table, src)]
        nxt = t.peek()
        if nxt is not None and nxt.token_type == TokenType.L_PAREN and t.word(1) == "LIKE":
            inner = t.paren_group()
            inner.accept("LIKE")
            return [*pre, self._like(table, inner.table(self.current_db))]
        if nxt is None or nxt.token_type != TokenType.L_PAREN:
            raise ValueError("CREATE TABLE ... SELECT (without a column list) is not supported")
        body = t.paren_group()
        charset, collation, comment = self._table_options(t)
        if t.word() == "WITH" and t.word(1) == "SYSTEM":
            raise ValueError("system-versioned tables (hidden row_start/row_end columns) are not supported")
        if t.word() in ("AS", "SELECT", "IGNORE", "REPLACE", "WITH") or any(
            tok.token_type == TokenType.SELECT for tok in t.toks[t.i : t.end]
        ):
            raise ValueError("CREATE TABLE ... SELECT is not supported")
        table_cs = self._table_charset(table.db, charset, collation)
        columns: list[ColumnDef] = []
        key: list[str] = []
        for item in body.split():
            kind = _key_spec(item)
            if kind == "primary":
                while not item.accept("PRIMARY", "KEY"):
                    item.i += 1  # CONSTRAINT [name]
                key = self._key_columns(item)
            elif kind == "index":
                continue
            else:
                columns.append(self._column(item.rest_text(), table_cs))
        inline = [c.column.name for c in columns if c.primary_key]
        if inline:
            if key or len(inline) > 1:
                raise ValueError("more than one primary key")
            key = inline
        names = {c.column.name.lower(): c.column.name for c in columns}
        try:
            key = [names[k.lower()] for k in key]  # as the columns spell them
        except KeyError as e:
            raise ValueError(f"the primary key names a column the table does not have: {e}") from None
        cols = tuple(
            dataclasses.replace(c.column, nullable=False) if c.column.name in key else c.column
            for c in columns
        )
        schema = TableSchema(
            table, cols, tuple(key), table_cs[0] if table_cs else None, table_cs[1] if table_cs else None
        )
        return [*pre, CreateTable(table, self.ddl, schema=schema, comment=comment)]

    def _like(self, table: TableId, src: TableId) -> CreateTable:
        base = self.known.get(src)
        schema = dataclasses.replace(base, table_id=table) if base is not None else None
        return CreateTable(table, self.ddl, schema=schema, like=src)

    def _key_columns(self, t: Tokens) -> list[str]:
        while not t.at_end() and t.peek().token_type != TokenType.L_PAREN:  # type: ignore[union-attr]
            t.i += 1  # USING BTREE
        # each part is a name, maybe with a prefix length (a(10)) and ASC / DESC
        return [part.name() for part in t.paren_group().split()]

    def _table_options(self, t: Tokens) -> tuple[str | None, str | None, str | None]:
        return charset_options(t, self.defaults)

    def _table_charset(self, db: str, charset: str | None, collation: str | None) -> tuple[str, str] | None:
        return charset_pair(self.defaults, charset, collation) or self.defaults.databases.get(db)

    def _column(self, text: str, table_cs: tuple[str, str] | None) -> ColumnDef:
        return describe_column(text, table_cs, self.defaults)[0]

    # ---------------------------------------------------------------------------------- ALTER
    def alter(self, t: Tokens) -> list[SchemaChange]:
        table = self.table = t.table(self.current_db)
        if not self.captured(table):
            return []
        if t.accept("WAIT"):
            t.name()
        t.accept("NOWAIT")
        schema = self.known.get(table)
        out: list[SchemaChange] = []
        renamed_to: TableId | None = None
        for spec in t.split():
            try:
                changes = self._spec(table, schema, spec)
            except (ValueError, SqlglotError, ColumnDefError, EvolutionError) as e:
                reason = e.reason if isinstance(e, EvolutionError) else str(e)
                raise DdlParseError(table, self.ddl, f"{reason} (in {spec.rest_text()!r})") from None
            for c in changes:
                if isinstance(c, RenameTable):
                    renamed_to = c.new  # the server renames after the other changes
                    continue
                out.append(c)
                if schema is not None:
                    schema = evolve(schema, c)
        if renamed_to is not None and renamed_to != table:
            out.append(RenameTable(table, self.ddl, new=renamed_to))
        return out

    def _spec(self, table: TableId, schema: TableSchema | None, s: Tokens) -> list[SchemaChange]:
        w = s.word()
        table_cs = (
            (schema.default_charset, schema.default_collation)
            if schema is not None and schema.default_charset and schema.default_collation
            else None
        )
        if w == "ADD":
            s.i += 1
            kind = _key_spec(s)
            if kind == "primary":
                raise ValueError("changing the primary key of a captured table is not supported")
            if kind == "index":
                return []
            if s.word() == "SYSTEM" and s.word(1) == "VERSIONING":
                raise ValueError("ADD SYSTEM VERSIONING (hidden row_start/row_end columns) is not supported")
            s.accept("COLUMN")
            if_not_exists = s.accept("IF", "NOT", "EXISTS")
            nxt = s.peek()
            if nxt is not None and nxt.token_type == TokenType.L_PAREN:
                out: list[SchemaChange] = []
                for item in s.paren_group().split():
                    kind = _key_spec(item)
                    if kind == "primary":
                        raise ValueError("changing the primary key of a captured table is not supported")
                    if kind == "index":
                        continue
                    added = self._add(table, schema, item.rest_text(), table_cs, if_not_exists)
                    for change in added:
                        schema = evolve(schema, change) if schema is not None else None
                    out += added
                return out
            return self._add(table, schema, s.rest_text(), table_cs, if_not_exists)
        if w == "DROP":
            s.i += 1
            kind = _key_spec(s)
            if kind == "primary":
                raise ValueError("dropping the primary key of a captured table is not supported")
            if s.word() == "SYSTEM" and s.word(1) == "VERSIONING":
                raise ValueError("DROP SYSTEM VERSIONING is not supported")
            if kind == "index":
                return []
            s.accept("COLUMN")
            if_exists = s.accept("IF", "EXISTS")
            name = s.name()
            if if_exists and schema is not None and _find(schema, name) is None:
                return []
            return [DropColumn(table, self.ddl, name=_column_name(schema, name))]
        if w in ("CHANGE", "MODIFY"):
            s.i += 1
            s.accept("COLUMN")
            if_exists = s.accept("IF", "EXISTS")
            old = s.name() if w == "CHANGE" else None
            text = s.rest_text()
            if old is None:
                s2 = Tokens(s.sql, s.toks, s.i, s.end)
                old = s2.name()
            if schema is not None and _find(schema, old) is None and if_exists:
                return []
            return self._change(table, schema, old, text, table_cs)
        if w == "RENAME":
            s.i += 1
            if s.accept("COLUMN"):
                if_exists = s.accept("IF", "EXISTS")
                old = s.name()
                if not s.accept("TO"):
                    raise ValueError("RENAME COLUMN without TO")
                new = s.name()
                if if_exists and schema is not None and _find(schema, old) is None:
                    return []
                return [RenameColumn(table, self.ddl, old=_column_name(schema, old), new=new)]
            if s.word() in ("INDEX", "KEY"):
                return []
            if not s.accept("TO"):
                s.accept("AS")
            return [RenameTable(table, self.ddl, new=s.table(self.current_db))]
        if w == "ALTER":
            s.i += 1
            if s.word() in ("INDEX", "KEY", "CHECK", "CONSTRAINT"):
                return []
            s.accept("COLUMN")
            s.accept("IF", "EXISTS")
            s.name()
            if s.word() in ("SET", "DROP") or s.word() in ("INVISIBLE", "VISIBLE"):
                return []  # defaults and visibility: not part of the replicated schema
            raise ValueError("unknown ALTER COLUMN action")
        if w == "CONVERT":
            return self._convert(table, schema, s)
        if w in _NOOP_SPECS:
            return []
        if w in _TABLE_OPTIONS:
            charset, collation, comment = self._table_options(s)
            out = []
            if charset is not None or collation is not None:
                cs = self._table_charset(table.db, charset, collation)
                assert cs is not None
                out.append(AlterTableCharset(table, self.ddl, charset=cs[0], collation=cs[1]))
            if comment is not None:
                out.append(AlterTableComment(table, self.ddl, comment=comment))
            return out
        raise ValueError(f"unknown ALTER TABLE specification {w or s.rest_text()[:20]!r}")

    def _add(
        self,
        table: TableId,
        schema: TableSchema | None,
        text: str,
        table_cs: tuple[str, str] | None,
        if_not_exists: bool,
    ) -> list[SchemaChange]:
        col, position = describe_column(text, table_cs, self.defaults)
        if col.primary_key:
            raise ValueError("changing the primary key of a captured table is not supported")
        if schema is not None and _find(schema, col.column.name) is not None:
            if if_not_exists:
                return []
        return [
            AddColumn(
                table,
                self.ddl,
                column=col.column,
                position=position,
                default_sql=col.default_sql,
                comment=col.comment,
            )
        ]

    def _change(
        self,
        table: TableId,
        schema: TableSchema | None,
        old: str,
        text: str,
        table_cs: tuple[str, str] | None,
    ) -> list[SchemaChange]:
        col, position = describe_column(text, table_cs, self.defaults)
        if col.primary_key:
            raise ValueError("changing the primary key of a captured table is not supported")
        new = col.column
        out: list[SchemaChange] = []
        before = _find(schema, old) if schema is not None else None
        old_name = before.name if before is not None else old
        if schema is not None and before is None:
            raise ValueError(f"{table} has no column {old!r}")
        if old_name != new.name:
            out.append(RenameColumn(table, self.ddl, old=old_name, new=new.name))
        if schema is not None and old_name in schema.primary_key:
            new = dataclasses.replace(new, nullable=False)  # key columns stay NOT NULL
        if before is not None and dataclasses.replace(before, name=new.name) == new:
            # the same definition: a move (if any) and the comment, which MODIFY / CHANGE always replace
            if position is not None:
                out.append(AlterColumnType(table, self.ddl, name=new.name, column=new, position=position))
            out.append(AlterColumnComment(table, self.ddl, name=new.name, comment=col.comment or ""))
        else:
            out.append(
                AlterColumnType(
                    table,
                    self.ddl,
                    name=new.name,
                    column=new,
                    default_sql=col.default_sql,
                    comment=col.comment,
                    position=position,
                )
            )
        return out

    def _convert(self, table: TableId, schema: TableSchema | None, s: Tokens) -> list[SchemaChange]:
        s.i += 1
        if not s.accept("TO"):
            raise ValueError("CONVERT without TO")
        if not (s.accept("CHARACTER", "SET") or s.accept("CHARSET")):
            raise ValueError("CONVERT TO without CHARACTER SET")
        cs_name = self.defaults.charset_name(s.name())
        collation = None
        if s.accept("COLLATE"):
            collation = self.defaults.collation_name(s.name())
        cs = self._table_charset(table.db, None if cs_name == "default" else cs_name, collation)
        if cs is None:
            raise ValueError("CONVERT TO CHARACTER SET DEFAULT with an unknown database default")
        if schema is None:
            raise ValueError("CONVERT TO CHARACTER SET needs the table's schema in force")
        out: list[SchemaChange] = [AlterTableCharset(table, self.ddl, charset=cs[0], collation=cs[1])]
        for c in schema.columns:
            if c.charset is None or c.data_type not in CONVERTED_TYPES:
                continue
            new = converted_column(c, cs[0], cs[1], self.defaults)
            if new != c:
                out.append(AlterColumnType(table, self.ddl, name=c.name, column=new))
        return out


def _find(schema: TableSchema | None, name: str) -> Column | None:
    """The column named ``name`` (column names are case-insensitive in MySQL)."""
    if schema is None:
        return None
    low = name.lower()
    for c in schema.columns:
        if c.name.lower() == low:
            return c
    return None


def _column_name(schema: TableSchema | None, name: str) -> str:
    """``name`` as the schema spells it (the DDL may use another case)."""
    c = _find(schema, name)
    return c.name if c is not None else name
