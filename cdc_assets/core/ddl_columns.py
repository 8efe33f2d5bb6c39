"""A column definition in a DDL statement -> :class:`~cdc_assets.core.schema.Column` as the server describes it.

The server rewrites what the client typed: ``INT`` becomes ``int(11)``, ``BOOL`` ``tinyint(1)``,
``FLOAT(30)`` ``double``, ``TEXT(100)`` ``tinytext``, ``JSON`` a ``longtext`` in ``utf8mb4_bin``
(MariaDB), ``CHAR(3) BYTE`` ``binary(3)``. This module knows those rules (MariaDB 10.11, checked column
by column against ``information_schema`` in ``cdc_assets_tests/test_ddl_mariadb.py``), so a schema
evolved from the binlog's DDL equals the one :func:`cdc_assets.mysql.catalog.load_schema` reads.

The statement structure and the column attributes (``NOT NULL``, ``DEFAULT``, ``COMMENT``,
``COLLATE``) come from sqlglot; the *type* is read from the statement text itself, right after the
column name, because sqlglot normalises types for transpiling and loses what information_schema
shows (``INT8`` becomes ``TINYINT``, ``REAL`` ``FLOAT``, ``LONG`` ``BIGINT``; display widths and
``ZEROFILL`` are lost on some paths).

Character sets: a column's own ``CHARACTER SET`` / ``COLLATE``, else the table's default, else the
database's. When none is known, ``charset`` and ``collation`` of text columns are None (the caller
did not say what the table's or database's default is; see :class:`ServerDefaults`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from cdc_assets.core.schema import Column


@dataclass(frozen=True)
class Charset:
    """One character set: its default collation and its bytes per character (min and max)."""

    default_collation: str
    mbminlen: int
    mbmaxlen: int


#: ``information_schema.CHARACTER_SETS`` of MariaDB 10.11 (MAXLEN; mbminlen is 2 for the UTF-16 family and
#: UCS-2, 4 for UTF-32, else 1). MySQL 8 differs only in utf8mb4's default collation (utf8mb4_0900_ai_ci):
#: pass its own table in :class:`ServerDefaults` when the source is MySQL 8.
MARIADB_CHARSETS: Mapping[str, Charset] = {
    name: Charset(coll, 2 if name in ("ucs2", "utf16", "utf16le") else 4 if name == "utf32" else 1, maxlen)
    for name, coll, maxlen in (
        ("armscii8", "armscii8_general_ci", 1), ("ascii", "ascii_general_ci", 1), ("big5", "big5_chinese_ci", 2),
        ("binary", "binary", 1), ("cp1250", "cp1250_general_ci", 1), ("cp1251", "cp1251_general_ci", 1),
        ("cp1256", "cp1256_general_ci", 1), ("cp1257", "cp1257_general_ci", 1), ("cp850", "cp850_general_ci", 1),
        ("cp852", "cp852_general_ci", 1), ("cp866", "cp866_general_ci", 1), ("cp932", "cp932_japanese_ci", 2),
        ("dec8", "dec8_swedish_ci", 1), ("eucjpms", "eucjpms_japanese_ci", 3), ("euckr", "euckr_korean_ci", 2),
        ("gb2312", "gb2312_chinese_ci", 2), ("gbk", "gbk_chinese_ci", 2), ("geostd8", "geostd8_general_ci", 1),
        ("greek", "greek_general_ci", 1), ("hebrew", "hebrew_general_ci", 1), ("hp8", "hp8_english_ci", 1),
        ("keybcs2", "keybcs2_general_ci", 1), ("koi8r", "koi8r_general_ci", 1), ("koi8u", "koi8u_general_ci", 1),
        ("latin1", "latin1_swedish_ci", 1), ("latin2", "latin2_general_ci", 1), ("latin5", "latin5_turkish_ci", 1),
        ("latin7", "latin7_general_ci", 1), ("macce", "macce_general_ci", 1), ("macroman", "macroman_general_ci", 1),
        ("sjis", "sjis_japanese_ci", 2), ("swe7", "swe7_swedish_ci", 1), ("tis620", "tis620_thai_ci", 1),
        ("ucs2", "ucs2_general_ci", 2), ("ujis", "ujis_japanese_ci", 3), ("utf16", "utf16_general_ci", 4),
        ("utf16le", "utf16le_general_ci", 4), ("utf32", "utf32_general_ci", 4), ("utf8mb3", "utf8mb3_general_ci", 3),
        ("utf8mb4", "utf8mb4_general_ci", 4),
    )
}  # fmt: skip


@dataclass(frozen=True)
class ServerDefaults:
    """What the parser must know about the source server to describe new columns as the server does.

    ``databases`` maps a database to its default ``(charset, collation)``
    (``information_schema.SCHEMATA``); a CREATE TABLE without a character set in a database not in it
    gets text columns with charset None. ``explicit_defaults_for_timestamp`` is the server variable
    (ON by default since MariaDB 10.10 and MySQL 8.0.2): when OFF, TIMESTAMP columns without ``NULL``
    are NOT NULL. ``real_as_float`` is sql_mode REAL_AS_FLOAT.
    """

    databases: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    charsets: Mapping[str, Charset] = field(default_factory=lambda: MARIADB_CHARSETS)
    explicit_defaults_for_timestamp: bool = True
    real_as_float: bool = False

    def charset(self, name: str) -> Charset:
        try:
            return self.charsets[name]
        except KeyError:
            raise ValueError(f"unknown character set {name!r}") from None

    def charset_of_collation(self, collation: str) -> str:
        """``utf8mb4_unicode_ci`` -> ``utf8mb4`` (the longest character set name that prefixes it)."""
        if collation == "binary":
            return "binary"
        best = ""
        for name in self.charsets:
            if collation.startswith(name + "_") and len(name) > len(best):
                best = name
        if not best:
            raise ValueError(f"unknown collation {collation!r}")
        return best


def normalize_charset(name: str) -> str:
    """Character set names as information_schema spells them (``utf8`` is ``utf8mb3``)."""
    name = name.lower()
    return "utf8mb3" if name == "utf8" else name


def normalize_collation(name: str) -> str:
    name = name.lower()
    return "utf8mb3" + name[4:] if name.startswith("utf8_") else name


class ColumnDefError(ValueError):
    """A column definition this module cannot describe; the message names the column."""


@dataclass(frozen=True)
class ColumnDef:
    """A parsed column definition: the column, its default (SQL text; ``NULL`` included; None when
    the DDL gives none), its comment (None when none is given) and whether it declares itself the
    primary key (``PRIMARY KEY`` / ``KEY`` inline)."""

    column: Column
    default_sql: str | None
    comment: str | None
    primary_key: bool = False
    unique: bool = False
    auto_increment: bool = False


# ------------------------------------------------------------------------------------ raw type text

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
    charset: str | None = None  # CHARACTER SET / ASCII / UNICODE / BYTE


def _skip(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]


def _word_at(text: str, pos: int) -> tuple[str | None, int]:
    pos = _skip(text, pos)
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


def _unquote_name(token: str) -> str:
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
        pos = _skip(inner, pos)
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
    start = _skip(text, pos)
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
    p = _skip(text, end)
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
            p = _skip(text, e)
            if p < len(text) and text[p] == "=":
                p = _skip(text, p + 1)
            m = _NAME.match(text, p)
            if not m:
                raise ColumnDefError("CHARACTER SET without a name")
            raw.charset = normalize_charset(_unquote_name(m.group(0)))
            e = m.end()
        else:
            break
        end = e
    raw.end = end
    return raw


# ---------------------------------------------------------------------------------- the type rules

#: integer type -> (display width signed, unsigned; numeric precision signed, unsigned)
_INTS = {
    "tinyint": (4, 3, 3, 3),
    "smallint": (6, 5, 5, 5),
    "mediumint": (9, 8, 7, 8),
    "int": (11, 10, 10, 10),
    "bigint": (20, 20, 19, 20),
}
_BLOBS = (("tinyblob", 255), ("blob", 65535), ("mediumblob", 16777215), ("longblob", 4294967295))
_TEXTS = (("tinytext", 255), ("text", 65535), ("mediumtext", 16777215), ("longtext", 4294967295))
_TEXT_BYTES = dict(_TEXTS)
_BLOB_BYTES = dict(_BLOBS)
_BINARY_OF = {
    "char": "binary",
    "varchar": "varbinary",
    **{t: b for (t, _), (b, _) in zip(_TEXTS, _BLOBS, strict=True)},
}
_NO_PARAMS = (
    "date", "json", "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
    "multipolygon", "geometrycollection", "uuid", "inet4", "inet6",
)  # fmt: skip
_TEMPORAL = ("time", "datetime", "timestamp")
_CHAR_TYPES = ("char", "varchar", "enum", "set", *_TEXT_BYTES)


def _sized(kind: str, n: int, table: tuple[tuple[str, int], ...]) -> str:
    for name, size in table:
        if n <= size:
            return name
    raise ColumnDefError(f"{kind}({n}) is too long")


def _enum_text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _suffix(raw: RawType) -> str:
    return (" unsigned" if raw.unsigned else "") + (" zerofill" if raw.zerofill else "")


def column_from_def(
    cd: exp.ColumnDef,
    text: str,
    table_charset: tuple[str, str] | None,
    defaults: ServerDefaults,
    *,
    compressed: bool = False,
) -> ColumnDef:
    """``cd`` (parsed from ``text``) as the server stores it; ``table_charset`` is the table's default
    ``(charset, collation)`` (None: unknown). ``compressed``: the definition says ``COMPRESSED`` (MariaDB
    column compression, shown in COLUMN_TYPE as a versioned comment)."""
    name = cd.name
    try:
        c = _column_from_def(cd, text, table_charset, defaults)
    except (ColumnDefError, ValueError) as e:
        raise ColumnDefError(f"column {name!r}: {e}") from None
    if compressed:
        c = dataclasses.replace(
            c, column=dataclasses.replace(c.column, column_type=c.column.column_type + _COMPRESSED)
        )
    return c


#: how MariaDB's COLUMN_TYPE marks a compressed column
_COMPRESSED = " /*M!100301 COMPRESSED*/"


def _column_from_def(
    cd: exp.ColumnDef, text: str, table_charset: tuple[str, str] | None, defaults: ServerDefaults
) -> ColumnDef:
    ident = cd.this
    meta = ident.meta if isinstance(ident, exp.Identifier) else {}
    if "end" not in meta:
        raise ColumnDefError("the parser gave no position for the column name")
    raw = read_raw_type(text, meta["end"] + 1)

    nullable: bool | None = None
    default_sql: str | None = None
    comment: str | None = None
    collate: str | None = None
    charset_constraint: str | None = None
    primary = unique = auto_inc = False
    for cons in cd.args.get("constraints") or []:
        kind = cons.args.get("kind")
        if isinstance(kind, exp.NotNullColumnConstraint):
            nullable = bool(kind.args.get("allow_null"))
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            primary = True
        elif isinstance(kind, exp.UniqueColumnConstraint):
            unique = True
        elif isinstance(kind, exp.AutoIncrementColumnConstraint):
            auto_inc = True
        elif isinstance(kind, exp.DefaultColumnConstraint):
            value = kind.this
            if isinstance(value, exp.Collate):  # DEFAULT 'x' COLLATE c: the COLLATE is the column's
                collate = normalize_collation(value.expression.name)
                value = value.this
            default_sql = value.sql("mysql")
        elif isinstance(kind, exp.CommentColumnConstraint):
            comment = kind.this.this if isinstance(kind.this, exp.Literal) else kind.this.sql("mysql")
        elif isinstance(kind, exp.CollateColumnConstraint):
            collate = normalize_collation(kind.this.name)
        elif isinstance(kind, exp.CharacterSetColumnConstraint) and raw.charset is None:
            charset_constraint = normalize_charset(kind.this.name)
    if raw.charset is None and charset_constraint is not None:
        raw.charset = charset_constraint

    t = raw.name
    p = [int(x) for x in raw.params]
    col: dict = {}
    if t == "boolean":
        t, p = "tinyint", [1]
    if t == "serial":
        t, p, raw.unsigned, nullable, unique, auto_inc = "bigint", [], True, False, True, True
    if t == "real":
        t = "float" if defaults.real_as_float else "double"
    if t in ("nchar", "nvarchar"):
        t = t[1:]
        raw.charset = raw.charset or "utf8mb3"

    if t in _INTS:
        w_s, w_u, p_s, p_u = _INTS[t]
        width = p[0] if p else (w_u if raw.unsigned else w_s)
        col = dict(
            data_type=t, column_type=f"{t}({width}){_suffix(raw)}",
            numeric_precision=p_u if raw.unsigned else p_s, numeric_scale=0,
        )  # fmt: skip
    elif t == "decimal":
        prec, scale = (p[0] if p else 10), (p[1] if len(p) > 1 else 0)
        col = dict(data_type=t, column_type=f"decimal({prec},{scale}){_suffix(raw)}",
                   numeric_precision=prec, numeric_scale=scale)  # fmt: skip
    elif t in ("float", "double"):
        if t == "float" and len(p) == 1:
            t = "float" if p[0] <= 24 else "double"
            p = []
        if len(p) == 2:
            col = dict(data_type=t, column_type=f"{t}({p[0]},{p[1]}){_suffix(raw)}",
                       numeric_precision=p[0], numeric_scale=p[1])  # fmt: skip
        else:
            col = dict(
                data_type=t, column_type=f"{t}{_suffix(raw)}", numeric_precision=12 if t == "float" else 22
            )
    elif t == "bit":
        n = p[0] if p else 1
        col = dict(data_type="bit", column_type=f"bit({n})", numeric_precision=n)
    elif t in ("binary", "varbinary"):
        if t == "varbinary" and not p:
            raise ColumnDefError("VARBINARY needs a length")
        n = p[0] if p else 1
        col = dict(data_type=t, column_type=f"{t}({n})", char_max_length=n)
    elif t in _BLOB_BYTES:
        if t == "blob" and p:
            t = _sized("BLOB", p[0], _BLOBS)
        col = dict(data_type=t, column_type=t, char_max_length=_BLOB_BYTES[t])
    elif t == "json":
        col = dict(data_type="longtext", column_type="longtext", char_max_length=_TEXT_BYTES["longtext"],
                   charset="utf8mb4", collation="utf8mb4_bin")  # fmt: skip
    elif t in _CHAR_TYPES:
        col = _text_column(t, p, raw, collate, table_charset, defaults, cd)
    elif t == "date":
        col = dict(data_type="date", column_type="date")
    elif t in _TEMPORAL:
        n = p[0] if p else 0
        col = dict(data_type=t, column_type=f"{t}({n})" if n else t, datetime_precision=n)
    elif t == "year":
        col = dict(data_type="year", column_type="year(4)")
    elif t in _NO_PARAMS:
        col = dict(data_type=t, column_type=t)
    else:
        raise ColumnDefError(f"unknown column type {raw.name.upper()}")

    if nullable is None:
        nullable = not (primary or (t == "timestamp" and not defaults.explicit_defaults_for_timestamp))
    if primary:
        nullable = False
    return ColumnDef(
        Column(name=cd.name, nullable=nullable, **col), default_sql, comment, primary, unique, auto_inc
    )


def _text_column(
    t: str,
    p: list[int],
    raw: RawType,
    collate: str | None,
    table_charset: tuple[str, str] | None,
    defaults: ServerDefaults,
    cd: exp.ColumnDef,
) -> dict:
    charset: str | None
    collation: str | None
    if raw.charset is not None:
        charset = raw.charset
        collation = collate or defaults.charset(charset).default_collation
    elif collate is not None:
        charset, collation = defaults.charset_of_collation(collate), collate
    elif table_charset is not None:
        charset, collation = table_charset
    else:
        charset = collation = None
    if charset is not None and collate is None and raw.binary_attr and charset != "binary":
        collation = f"{charset}_bin"
    if charset == "binary":
        if t in ("enum", "set"):
            charset, collation = "binary", "binary"  # the server keeps ENUM/SET, in the binary charset
        else:
            b = _BINARY_OF[t]
            return _binary_from_text(b, p)
    info = defaults.charset(charset) if charset is not None else None
    if t in ("char", "varchar"):
        if t == "varchar" and not p:
            raise ColumnDefError("VARCHAR needs a length")
        n = p[0] if p else 1
        return dict(
            data_type=t, column_type=f"{t}({n})", char_max_length=n, charset=charset, collation=collation
        )
    if t in ("enum", "set"):
        values = raw.values
        if not values:
            raise ColumnDefError(f"{t.upper()} without values")
        values = [v.rstrip(" ") for v in values]  # the server strips trailing spaces from members
        length = max(len(v) for v in values) if t == "enum" else sum(len(v) for v in values) + len(values) - 1
        text = f"{t}({','.join(_enum_text(v) for v in values)})"
        return dict(
            data_type=t, column_type=text, char_max_length=length, charset=charset, collation=collation
        )
    # TEXT types; TEXT(n) picks the smallest that holds n characters of the charset
    if t == "text" and p:
        if info is None:
            raise ColumnDefError("TEXT(n) with an unknown character set")
        t = _sized("TEXT", p[0] * info.mbmaxlen, _TEXTS)
    nbytes = _TEXT_BYTES[t]
    length = nbytes // info.mbminlen if info is not None else nbytes
    return dict(data_type=t, column_type=t, char_max_length=length, charset=charset, collation=collation)


def _binary_from_text(b: str, p: list[int]) -> dict:
    if b in ("binary", "varbinary"):
        if b == "varbinary" and not p:
            raise ColumnDefError("VARCHAR needs a length")
        n = p[0] if p else 1
        return dict(data_type=b, column_type=f"{b}({n})", char_max_length=n)
    if b == "blob" and p:
        b = _sized("BLOB", p[0], _BLOBS)
    return dict(data_type=b, column_type=b, char_max_length=_BLOB_BYTES[b])
