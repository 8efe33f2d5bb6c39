"""The text of a DDL statement: tokens (sqlglot's MySQL tokenizer), a cursor over them, and a column's
type read as written.

The statement kind, table names and ``ALTER TABLE`` specifications are read from tokens (:class:`Tokens`);
a column's type is read from the text right after the column name (:func:`read_raw_type`), because
sqlglot normalises types for transpiling and loses what information_schema shows (``INT8`` becomes
``TINYINT``, ``REAL`` ``FLOAT``, ``LONG`` ``BIGINT``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlglot.dialects.mysql import MySQL
from sqlglot.tokens import Token, TokenType

from cdc_assets.core.schema import TableId


class ColumnDefError(ValueError):
    """A column definition that cannot be read or described; the message names the column."""


_EXEC_COMMENT = re.compile(r"/\*M?!\d*|\*/")


def unwrap_executable_comments(sql: str) -> str:
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


# A quoted literal: '...' or "..." with backslash escapes and doubled quotes.
_LITERAL = r"""(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")"""
_SECRET_LITERALS = re.compile(
    # FederatedX / FEDERATED tables: CONNECTION='mysql://user:password@host/db/t'; CONNECT engine
    # OPTION_LIST='user=..,password=..'; CREATE USER / GRANT / ALTER USER ... IDENTIFIED [WITH p] BY|AS '..';
    # SET PASSWORD = PASSWORD('..'); CREATE SERVER ... OPTIONS (PASSWORD '..'); CHANGE MASTER TO
    # MASTER_PASSWORD='..' (SOURCE_PASSWORD on MySQL 8)
    r"(?P<head>\b(?:CONNECTION|OPTION_LIST)\s*=?\s*"
    r"|\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s*)?"
    r"|\b(?:MASTER_|SOURCE_)?PASSWORD\b\s*(?:=\s*)?(?:(?:OLD_)?PASSWORD\s*)?\(?\s*)"
    rf"(?P<literal>{_LITERAL})",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s'\"]+:)[^@\s'\"]+@", re.IGNORECASE)
MASK = "***"


def mask_secrets(sql: str) -> str:
    """``sql`` with the secrets a statement can hold replaced by ``***``: the literal after CONNECTION,
    OPTION_LIST, IDENTIFIED BY/AS, PASSWORD / MASTER_PASSWORD / SOURCE_PASSWORD, and the password of a
    ``scheme://user:password@`` URL anywhere. The statement keeps its shape (a literal stays a literal),
    so it still parses; it is what the stream records, logs and shows (schema-change records, Dagster
    metadata, error messages): a source's DDL text is never executed elsewhere."""

    def literal(m: re.Match) -> str:
        quote = m.group("literal")[0]
        return f"{m.group('head')}{quote}{MASK}{quote}"

    masked = _SECRET_LITERALS.sub(literal, sql)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}{MASK}@", masked)


class Tokens:
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

    def split(self) -> list[Tokens]:
        """The remaining tokens split at top-level commas."""
        parts: list[Tokens] = []
        depth, start = 0, self.i
        for j in range(self.i, self.end):
            tt = self.toks[j].token_type
            if tt == TokenType.L_PAREN:
                depth += 1
            elif tt == TokenType.R_PAREN:
                depth -= 1
            elif tt == TokenType.COMMA and depth == 0:
                parts.append(Tokens(self.sql, self.toks, start, j))
                start = j + 1
        parts.append(Tokens(self.sql, self.toks, start, self.end))
        return [p for p in parts if p.i < p.end]

    def rest_text(self) -> str:
        if self.at_end():
            return ""
        return self.sql[self.toks[self.i].start : self.toks[self.end - 1].end + 1]

    def paren_group(self) -> Tokens:
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
                    inner = Tokens(self.sql, self.toks, self.i + 1, j)
                    self.i = j + 1
                    return inner
        raise ValueError("unbalanced parentheses")


class Tokenizer(MySQL.Tokenizer):
    """sqlglot's MySQL tokenizer, except that RENAME / REPLACE ... are words like the others (sqlglot makes
    the rest of such a statement one opaque string)."""

    COMMANDS: set = set()


_WORDS = re.compile(r"\S+")


def tokenize(sql: str) -> list[Token]:
    """The statement's tokens, with multi-word keywords (``PRIMARY KEY``, ``ORDER BY``) split into words."""
    toks: list[Token] = []
    for t in Tokenizer().tokenize(sql):
        source = sql[t.start : t.end + 1]
        if t.token_type not in (TokenType.IDENTIFIER, TokenType.STRING) and len(source.split()) > 1:
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


# ---------------------------------------------------------------------------------- a column's type

_SPACE = re.compile(r"(?:\s+|/\*.*?\*/|--[ \t][^\n]*|#[^\n]*)*", re.S)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|[A-Za-z0-9_$]+", re.S)
#: two-word type names (the first word alone may be a type too: ``LONG`` is MEDIUMTEXT)
_TWO_WORDS = {
    ("double", "precision"): "double",
    ("character", "varying"): "varchar",
    ("char", "varying"): "varchar",
    ("long", "varchar"): "mediumtext",
    ("long", "varbinary"): "mediumblob",
    ("long", "char"): "mediumtext",  # LONG CHAR VARYING
    ("national", "char"): "nchar",
    ("national", "character"): "nchar",
    ("national", "varchar"): "nvarchar",
}
_ALIASES = {
    "integer": "int", "int4": "int", "int1": "tinyint", "int2": "smallint", "int3": "mediumint",
    "middleint": "mediumint", "int8": "bigint", "dec": "decimal", "numeric": "decimal", "fixed": "decimal",
    "bool": "boolean", "character": "char", "long": "mediumtext", "float4": "float", "float8": "double",
    "nationalchar": "nchar", "geomcollection": "geometrycollection",
}  # fmt: skip


@dataclass
class RawType:
    """The type of a column definition as written: ``text[start:end]`` is the type and its attributes."""

    name: str  # canonical lower-case type word
    params: list[str]  # the numbers in (...) as text
    start: int = 0
    end: int = 0
    values: list[str] = field(default_factory=list)  # ENUM / SET members, unescaped
    unsigned: bool = False
    zerofill: bool = False
    binary_attr: bool = False  # BINARY after a text type: the charset's _bin collation
    charset: str | None = None  # CHARACTER SET (lower case, as written) / ASCII / UNICODE / BYTE


def skip_space(text: str, pos: int) -> int:
    """The position of the first character at or after ``pos`` that is not blank or in a comment."""
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]


def _word_at(text: str, pos: int) -> tuple[str | None, int]:
    pos = skip_space(text, pos)
    m = _WORD.match(text, pos)
    return (m.group(0).lower(), m.end()) if m else (None, pos)


def _paren_end(text: str, pos: int) -> int:
    """Index just past the ``)`` that closes the ``(`` at ``pos`` (quotes respected)."""
    depth, i, n = 0, pos, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            m = _NAME.match(text, i)
            i = m.end() if m else i + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ColumnDefError("unbalanced parentheses")


def unquote_name(token: str) -> str:
    """A name as written (backquoted, quoted or bare) -> the name."""
    if token[:1] == "`":
        return token[1:-1].replace("``", "`")
    if token[:1] in "'\"":
        return token[1:-1]
    return token


_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "%": "\\%", "_": "\\_"}
_STRING = re.compile(r"'((?:[^'\\]|\\.|'')*)'|\"((?:[^\"\\]|\\.|\"\")*)\"", re.S)


def _unescape(body: str, quote: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        elif ch == quote and body[i + 1 : i + 2] == quote:
            out.append(quote)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _string_list(inner: str) -> list[str]:
    """``'a', 'b''c'`` (ENUM / SET members) -> the unescaped strings (adjacent literals concatenate)."""
    values: list[str] = []
    pos, n, joining = 0, len(inner), False
    while True:
        pos = skip_space(inner, pos)
        if pos >= n:
            break
        if inner[pos] == ",":
            pos, joining = pos + 1, False
            continue
        m = _STRING.match(inner, pos)
        if m is None:
            raise ColumnDefError(f"cannot read the member list ({inner})")
        value = _unescape(m.group(1), "'") if m.group(1) is not None else _unescape(m.group(2), '"')
        if joining:
            values[-1] += value
        else:
            values.append(value)
        pos, joining = m.end(), True
    return values


def read_raw_type(text: str, pos: int) -> RawType:
    """The type written at ``pos`` (just after the column name) and the attributes that belong to it."""
    start = skip_space(text, pos)
    word, end = _word_at(text, pos)
    if word is None:
        raise ColumnDefError("no type after the column name")
    nxt, end2 = _word_at(text, end)
    if nxt is not None and (word, nxt) in _TWO_WORDS:
        word, end = _TWO_WORDS[(word, nxt)], end2
        if word == "mediumtext" and nxt == "char":  # LONG CHAR VARYING
            w3, e3 = _word_at(text, end)
            if w3 == "varying":
                end = e3
    elif word == "national":
        raise ColumnDefError(f"unknown type NATIONAL {nxt or ''}".strip())
    word = _ALIASES.get(word, word)
    raw = RawType(word, [], start)
    p = skip_space(text, end)
    if p < len(text) and text[p] == "(":
        close = _paren_end(text, p)
        inner = text[p + 1 : close - 1]
        if word in ("enum", "set"):
            raw.values = _string_list(inner)
        else:
            raw.params = [x.strip() for x in inner.split(",")]
            if not all(re.fullmatch(r"\d+", x) for x in raw.params):
                raise ColumnDefError(f"cannot read the type parameters ({inner})")
        end = close
    while True:
        w, e = _word_at(text, end)
        if w in ("unsigned", "signed", "zerofill"):
            raw.unsigned |= w in ("unsigned", "zerofill")
            raw.zerofill |= w == "zerofill"
        elif w == "binary":
            raw.binary_attr = True
        elif w == "ascii":
            raw.charset = "latin1"
        elif w == "unicode":
            raw.charset = "ucs2"
        elif w == "byte":
            raw.charset = "binary"
        elif w in ("character", "charset"):
            if w == "character":
                w2, e = _word_at(text, e)
                if w2 != "set":
                    break
            p = skip_space(text, e)
            if p < len(text) and text[p] == "=":
                p = skip_space(text, p + 1)
            m = _NAME.match(text, p)
            if not m:
                raise ColumnDefError("CHARACTER SET without a name")
            raw.charset = unquote_name(m.group(0)).lower()  # as written (see ServerDefaults.charset_name)
            e = m.end()
        else:
            break
        end = e
    raw.end = end
    return raw
