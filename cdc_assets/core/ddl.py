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
and the table's default character set) and from :class:`~cdc_assets.core.ddl_columns.ServerDefaults`
(database default character sets).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from cdc_assets.core.ddl_columns import (
    ColumnDef,
    ColumnDefError,
    ServerDefaults,
    column_from_def,
    normalize_charset,
    normalize_collation,
    read_raw_type,
)
from cdc_assets.core.evolution import EvolutionError, evolve
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_change import (
    AddColumn,
    AlterColumnComment,
    AlterColumnType,
    AlterTableCharset,
    AlterTableComment,
    ColumnPosition,
    CreateTable,
    DropColumn,
    DropTable,
    RenameColumn,
    RenameTable,
    SchemaChange,
    TruncateTable,
)
from cdc_assets.errors import TerminalError

__all__ = ["DdlParseError", "ServerDefaults", "parse_ddl"]


class DdlParseError(TerminalError):
    """A DDL statement on a captured table that this parser does not understand (or cannot apply).

    ``table`` is the table (None when the statement's table could not be read), ``ddl`` the statement
    and ``reason`` what is not understood.
    """

    def __init__(self, table: TableId | None, ddl: str, reason: str) -> None:
        where = f"captured table {table}" if table is not None else "a table"
        short = ddl if len(ddl) <= 2000 else ddl[:2000] + " ..."
        super().__init__(
            f"cannot apply a DDL statement on {where}: {reason}. The stream stops here so that the target "
            f"does not silently diverge from the source. Statement: {short!r}. To go on, re-snapshot the "
            "table (its target then gets the new schema), or report the statement as a bug",
            table=str(table) if table is not None else None,
        )
        self.table = table
        self.ddl = ddl
        self.reason = reason


# ---------------------------------------------------------------------------------------- tokens

_EXEC_COMMENT = re.compile(r"/\*M?!\d*|\*/")


def _unwrap_executable_comments(sql: str) -> str:
    """``/*!40101 DEFAULT CHARSET=x */`` and ``/*M!100100 ...*/`` are statement text to the server."""
    if "/*!" not in sql and "/*M!" not in sql:
        return sql
    out: list[str] = []
    pos, depth_exec = 0, 0
    for m in _EXEC_COMMENT.finditer(sql):
        if m.group(0) == "*/":
            if depth_exec:
                out.append(sql[pos : m.start()] + "  ")
                pos, depth_exec = m.end(), depth_exec - 1
            continue
        out.append(sql[pos : m.start()] + " " * (m.end() - m.start()))
        pos, depth_exec = m.end(), depth_exec + 1
    out.append(sql[pos:])
    return "".join(out)


class _Tokens:
    """A cursor over the statement's tokens (keyword tests are on unquoted tokens only)."""

    def __init__(self, sql: str, tokens: Sequence[Token], i: int = 0, end: int | None = None) -> None:
        self.sql = sql
        self.toks = list(tokens)
        self.i = i
        self.end = len(self.toks) if end is None else end

    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.toks[j] if j < self.end else None

    def word(self, k: int = 0) -> str:
        """The upper-case text of an unquoted token ('' for quoted names, strings and the end)."""
        t = self.peek(k)
        if t is None or t.token_type in (TokenType.IDENTIFIER, TokenType.STRING):
            return ""
        return t.text.upper()

    def accept(self, *words: str) -> bool:
        if all(self.word(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def at_end(self) -> bool:
        return self.i >= self.end

    def name(self) -> str:
        t = self.peek()
        if t is None or t.token_type in (
            TokenType.COMMA,
            TokenType.L_PAREN,
            TokenType.R_PAREN,
            TokenType.DOT,
        ):
            raise ValueError("a name was expected")
        self.i += 1
        return t.text

    def table(self, current_db: str | None) -> TableId:
        first = self.name()
        if self.peek() is not None and self.peek().token_type == TokenType.DOT:  # type: ignore[union-attr]
            self.i += 1
            return TableId(first, self.name())
        if not current_db:
            raise ValueError(
                f"the table name {first!r} is not qualified and the statement has no current database"
            )
        return TableId(current_db, first)

    def text_from(self, j: int) -> str:
        """The statement text of tokens j .. the cursor (exclusive)."""
        if j >= self.i:
            return ""
        return self.sql[self.toks[j].start : self.toks[self.i - 1].end + 1]

    def split(self) -> list[_Tokens]:
        """The remaining tokens split at top-level commas."""
        parts: list[_Tokens] = []
        depth, start = 0, self.i
        for j in range(self.i, self.end):
            tt = self.toks[j].token_type
            if tt == TokenType.L_PAREN:
                depth += 1
            elif tt == TokenType.R_PAREN:
                depth -= 1
            elif tt == TokenType.COMMA and depth == 0:
                parts.append(_Tokens(self.sql, self.toks, start, j))
                start = j + 1
        parts.append(_Tokens(self.sql, self.toks, start, self.end))
        return [p for p in parts if p.i < p.end]

    def rest_text(self) -> str:
        if self.at_end():
            return ""
        return self.sql[self.toks[self.i].start : self.toks[self.end - 1].end + 1]

    def paren_group(self) -> _Tokens:
        """The tokens inside the ``(`` ... ``)`` at the cursor; the cursor moves past the ``)``."""
        t = self.peek()
        if t is None or t.token_type != TokenType.L_PAREN:
            raise ValueError("'(' was expected")
        depth = 0
        for j in range(self.i, self.end):
            tt = self.toks[j].token_type
            if tt == TokenType.L_PAREN:
                depth += 1
            elif tt == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    inner = _Tokens(self.sql, self.toks, self.i + 1, j)
                    self.i = j + 1
                    return inner
        raise ValueError("unbalanced parentheses")


class _Tokenizer(MySQL.Tokenizer):
    # MySQL's tokenizer turns RENAME / REPLACE ... into one opaque command string; here every word counts
    COMMANDS: set = set()


_WORDS = re.compile(r"\S+")


def _tokenize(sql: str) -> list[Token]:
    """The statement's tokens, with multi-word keywords (``PRIMARY KEY``, ``ORDER BY``) split into words."""
    toks: list[Token] = []
    for t in _Tokenizer().tokenize(sql):
        source = sql[t.start : t.end + 1]
        if (
            t.token_type not in (TokenType.IDENTIFIER, TokenType.STRING)
            and " " in t.text
            and source.upper() != source.lower()
            and len(source.split()) > 1
        ):
            for m in _WORDS.finditer(source):
                toks.append(
                    Token(
                        TokenType.VAR, m.group(0), t.line, t.col, t.start + m.start(), t.start + m.end() - 1
                    )
                )
        else:
            toks.append(t)
    while toks and toks[-1].token_type == TokenType.SEMICOLON:
        toks.pop()
    if any(t.token_type == TokenType.SEMICOLON for t in toks):
        raise ValueError("more than one statement")
    return toks


_LEADING_WORD = re.compile(r"(?:\s+|/\*.*?\*/|--[ \t][^\n]*|#[^\n]*)*([A-Za-z]+)", re.S)
_DDL_VERBS = {"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"}


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
    text = _unwrap_executable_comments(ddl)
    m = _LEADING_WORD.match(text)
    if not m or m.group(1).upper() not in _DDL_VERBS:
        return []
    try:
        toks = _Tokens(text, _tokenize(text))
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
        raise DdlParseError(p.table, ddl, str(e)) from None


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


def _key_spec(t: _Tokens) -> str | None:
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

    def statement(self, t: _Tokens) -> list[SchemaChange]:
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
    def drop(self, t: _Tokens) -> list[SchemaChange]:
        if_exists = t.accept("IF", "EXISTS")
        out: list[SchemaChange] = []
        for part in t.split():
            table = part.table(self.current_db)
            if not self.captured(table) or (if_exists and self.known_given and table not in self.known):
                continue  # IF EXISTS: a table that does not exist is logged too (the server's own DROPs)
            out.append(DropTable(table, self.ddl))
        return out

    def rename(self, t: _Tokens) -> list[SchemaChange]:
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
    def create(self, t: _Tokens, replace: bool) -> list[SchemaChange]:
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

    def _key_columns(self, t: _Tokens) -> list[str]:
        if t.word() == "USING":
            t.i += 2
        names: list[str] = []
        for part in t.paren_group().split():
            names.append(part.name())  # a prefix length (a(10)) or ASC/DESC may follow
        return names

    def _table_options(self, t: _Tokens) -> tuple[str | None, str | None, str | None]:
        """(charset, collation, comment) among table options at the cursor (the cursor moves to the end
        or to a SELECT)."""
        charset = collation = comment = None
        while not t.at_end():
            w = t.word()
            if w in ("SELECT", "AS", "WITH", "PARTITION", "IGNORE", "REPLACE"):
                break  # the query of CREATE ... SELECT, or partitions (whose options are not the table's)
            if w == "DEFAULT":
                t.i += 1
                continue
            if w in ("CHARACTER", "CHARSET", "COLLATE", "COMMENT"):
                t.i += 1
                if w == "CHARACTER":
                    t.accept("SET")
                if t.peek() is not None and t.peek().token_type == TokenType.EQ:  # type: ignore[union-attr]
                    t.i += 1
                value = t.name()
                if w == "COMMENT":
                    comment = value
                elif w == "COLLATE":
                    collation = normalize_collation(value)
                else:
                    charset = normalize_charset(value)
                continue
            t.i += 1
        return charset, collation, comment

    def _table_charset(self, db: str, charset: str | None, collation: str | None) -> tuple[str, str] | None:
        if collation is not None:
            return self.defaults.charset_of_collation(collation), collation
        if charset is not None:
            return charset, self.defaults.charset(charset).default_collation
        return self.defaults.databases.get(db)

    def _column(self, text: str, table_cs: tuple[str, str] | None) -> ColumnDef:
        return _describe_column(text, table_cs, self.defaults)[0]

    # ---------------------------------------------------------------------------------- ALTER
    def alter(self, t: _Tokens) -> list[SchemaChange]:
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
                raise DdlParseError(table, self.ddl, f"{e} (in {spec.rest_text()!r})") from None
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

    def _spec(self, table: TableId, schema: TableSchema | None, s: _Tokens) -> list[SchemaChange]:
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
            if s.word() == "SYSTEM":
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
                s2 = _Tokens(s.sql, s.toks, s.i, s.end)
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
        col, position = _describe_column(text, table_cs, self.defaults)
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
        col, position = _describe_column(text, table_cs, self.defaults)
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
        if before is not None and dataclasses.replace(before, name=new.name) == new and position is None:
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

    def _convert(self, table: TableId, schema: TableSchema | None, s: _Tokens) -> list[SchemaChange]:
        s.i += 1
        if not s.accept("TO"):
            raise ValueError("CONVERT without TO")
        if not (s.accept("CHARACTER", "SET") or s.accept("CHARSET")):
            raise ValueError("CONVERT TO without CHARACTER SET")
        cs_name = normalize_charset(s.name())
        collation = None
        if s.accept("COLLATE"):
            collation = normalize_collation(s.name())
        cs = self._table_charset(table.db, None if cs_name == "default" else cs_name, collation)
        if cs is None:
            raise ValueError("CONVERT TO CHARACTER SET DEFAULT with an unknown database default")
        if schema is None:
            raise ValueError("CONVERT TO CHARACTER SET needs the table's schema in force")
        out: list[SchemaChange] = [AlterTableCharset(table, self.ddl, charset=cs[0], collation=cs[1])]
        info = self.defaults.charset(cs[0])
        for c in schema.columns:
            if c.charset is None or c.data_type not in _CONVERTED:
                continue
            new = _converted(c, cs[0], cs[1], info.mbmaxlen, self.defaults)
            if new != c:
                out.append(AlterColumnType(table, self.ddl, name=c.name, column=new))
        return out


_CONVERTED = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")
_TEXT_SIZES = (("tinytext", 255), ("text", 65535), ("mediumtext", 16777215), ("longtext", 4294967295))


def _converted(c, charset: str, collation: str, mbmaxlen: int, defaults: ServerDefaults):
    """A text column after CONVERT TO CHARACTER SET: TEXT types grow so that as many characters fit."""
    data_type = c.data_type
    if data_type in ("tinytext", "text", "mediumtext"):
        old_info = defaults.charset(c.charset)
        chars = dict(_TEXT_SIZES)[data_type] // old_info.mbmaxlen
        for name, size in _TEXT_SIZES:
            if chars * mbmaxlen <= size or name == "longtext":
                data_type = name
                break
    length = c.char_max_length
    if data_type in dict(_TEXT_SIZES):
        length = dict(_TEXT_SIZES)[data_type] // defaults.charset(charset).mbminlen
    column_type = data_type if data_type in dict(_TEXT_SIZES) else c.column_type
    return dataclasses.replace(
        c,
        data_type=data_type,
        column_type=column_type,
        char_max_length=length,
        charset=charset,
        collation=collation,
    )


def _find(schema: TableSchema | None, name: str):
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


_COLUMN_PREFIX = "ALTER TABLE _t ADD COLUMN "


def _describe_column(
    text: str, table_cs: tuple[str, str] | None, defaults: ServerDefaults
) -> tuple[ColumnDef, ColumnPosition | None]:
    """``name type attributes [FIRST | AFTER x]`` -> the column as the server describes it, and its position."""
    full = _COLUMN_PREFIX + text
    try:
        parsable, compressed = _with_standins(full)
        cd = _sqlglot_column(parsable)
    except (SqlglotError, StopIteration):
        cd = None
    except ColumnDefError as e:
        raise ValueError(str(e)) from None
    if cd is None:
        raise ValueError(f"cannot parse the column definition {text!r}")
    pos = cd.args.get("position")
    position = None
    if isinstance(pos, exp.ColumnPosition):
        if (pos.text("position") or "").upper() == "FIRST":
            position = ColumnPosition(first=True)
        else:
            position = ColumnPosition(after=pos.this.name)
    try:
        return column_from_def(cd, full, table_cs, defaults, compressed=compressed), position
    except ColumnDefError as e:
        raise ValueError(str(e)) from None


def _sqlglot_column(full: str) -> exp.ColumnDef | None:
    try:
        tree = sqlglot.parse_one(full, read="mysql")
    except SqlglotError:
        return None
    actions = tree.args.get("actions") if isinstance(tree, exp.Alter) else None
    if not actions or len(actions) != 1 or not isinstance(actions[0], exp.ColumnDef):
        return None
    return actions[0]


def _with_standins(full: str) -> tuple[str, bool]:
    """``full`` as sqlglot can parse it: the column's type (with ``UNSIGNED``, ``CHARACTER SET`` ...) replaced
    by ``INT`` and spaces, so that positions up to the end of the type stay those of ``full``, from which
    :func:`~cdc_assets.core.ddl_columns.column_from_def` reads the type itself; and the attributes sqlglot
    does not know and that do not change the column's description rewritten (:data:`_NEUTRAL_ATTRIBUTES`).
    The flag says whether the column is ``COMPRESSED`` (MariaDB)."""
    toks = _Tokenizer().tokenize(full)
    start = len(_COLUMN_PREFIX)
    name = next(t for t in toks if t.start >= start)
    raw = read_raw_type(full, name.end + 1)
    tail, compressed = _rewrite_attributes(full[raw.end :])
    return full[: raw.start] + "INT".ljust(raw.end - raw.start) + tail, compressed


#: column attributes sqlglot's MySQL dialect does not parse -> what it is given instead (word sequences;
#: ``*`` stands for any one token). They change nothing information_schema.COLUMNS shows but nullability
#: (``SERIAL DEFAULT VALUE`` is ``NOT NULL AUTO_INCREMENT UNIQUE``).
_NEUTRAL_ATTRIBUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("SERIAL", "DEFAULT", "VALUE"), "NOT NULL AUTO_INCREMENT UNIQUE"),
    (("COLUMN_FORMAT", "*"), ""),
    (("STORAGE", "*"), ""),
    (("SRID", "*"), ""),
    (("WITH", "SYSTEM", "VERSIONING"), ""),
    (("WITHOUT", "SYSTEM", "VERSIONING"), ""),
    (("COMPRESSED", "=", "*"), ""),
    (("COMPRESSED",), ""),
    (("PERSISTENT",), "STORED"),
)


def _rewrite_attributes(tail: str) -> tuple[str, bool]:
    toks = _tokenize(tail) if tail.strip() else []
    out: list[str] = []
    compressed = False
    pos, i, depth = 0, 0, 0
    while i < len(toks):
        t = toks[i]
        depth += t.token_type == TokenType.L_PAREN
        depth -= t.token_type == TokenType.R_PAREN
        quoted = t.token_type in (TokenType.IDENTIFIER, TokenType.STRING)
        for words, standin in _NEUTRAL_ATTRIBUTES if depth == 0 and not quoted else ():
            window = toks[i : i + len(words)]
            if len(window) == len(words) and all(
                w == "*"
                or (x.text.upper() == w and x.token_type not in (TokenType.IDENTIFIER, TokenType.STRING))
                for w, x in zip(words, window, strict=True)
            ):
                out.append(tail[pos : t.start] + standin + " ")
                compressed |= words[0] == "COMPRESSED"
                pos, i = window[-1].end + 1, i + len(words) - 1
                break
        i += 1
    out.append(tail[pos:])
    return "".join(out), compressed
