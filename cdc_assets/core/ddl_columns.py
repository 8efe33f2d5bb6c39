"""A column definition in a DDL statement -> :class:`~cdc_assets.core.schema.Column` as the server describes it.

The server rewrites what the client typed: ``INT`` becomes ``int(11)``, ``BOOL`` ``tinyint(1)``,
``FLOAT(30)`` ``double``, ``TEXT(100)`` ``tinytext``, ``JSON`` a ``longtext`` in ``utf8mb4_bin``
(MariaDB), ``CHAR(3) BYTE`` ``binary(3)``. This module knows those rules (MariaDB 10.11, checked column
by column against ``information_schema`` in ``cdc_assets_tests/test_ddl_mariadb.py``; where MySQL 5.7 / 8
describe a column differently, :class:`~cdc_assets.core.source_server.SourceServer` says how), so a schema
evolved from the binlog's DDL equals the one :func:`cdc_assets.mysql.catalog.load_schema` reads.

The column attributes (``NOT NULL``, ``DEFAULT``, ``COMMENT``, ``COLLATE``, ``PRIMARY KEY``, the
position) come from sqlglot; the *type* is read from the statement text itself, right after the
column name (:func:`cdc_assets.core.ddl_text.read_raw_type`), and sqlglot is given ``INT`` in its
place (:func:`describe_column`).

Character sets: a column's own ``CHARACTER SET`` / ``COLLATE``, else the table's default, else the
database's. When none is known, ``charset`` and ``collation`` of text columns are None (the caller
did not say what the table's or database's default is; see
:class:`~cdc_assets.core.charsets.ServerDefaults`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from cdc_assets.core.charsets import ServerDefaults
from cdc_assets.core.ddl_text import ColumnDefError, RawType, Tokenizer, read_raw_type, tokenize
from cdc_assets.core.schema import Column
from cdc_assets.core.schema_change import ColumnPosition


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
                collate = defaults.collation_name(value.expression.name)
                value = value.this
            default_sql = value.sql("mysql")
        elif isinstance(kind, exp.CommentColumnConstraint):
            comment = kind.this.this if isinstance(kind.this, exp.Literal) else kind.this.sql("mysql")
        elif isinstance(kind, exp.CollateColumnConstraint):
            collate = defaults.collation_name(kind.this.name)
        elif isinstance(kind, exp.CharacterSetColumnConstraint) and raw.charset is None:
            charset_constraint = defaults.charset_name(kind.this.name)
    if raw.charset is not None:
        raw.charset = defaults.charset_name(raw.charset)
    elif charset_constraint is not None:
        raw.charset = charset_constraint
    server = defaults.server

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
        # utf8mb3 on both servers (MySQL manual "The National Character Set")
        raw.charset = raw.charset or defaults.charset_name("utf8mb3")
    if not server.has_type(t):
        raise ColumnDefError(f"{raw.name.upper()} is a MariaDB type, which {server} does not have")

    if t in _INTS:
        w_s, w_u, p_s, p_u = _INTS[t]
        width = p[0] if p else (w_u if raw.unsigned else w_s)
        col = dict(
            data_type=t, column_type=server.integer_type(t, width, raw.unsigned, raw.zerofill),
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
    elif t == "json" and server.native_json:
        col = dict(data_type="json", column_type="json")
    elif t == "json":  # MariaDB: an alias of LONGTEXT
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
        col = dict(data_type="year", column_type=server.year_type)
    elif t == "geometrycollection":
        col = dict(data_type=server.geometrycollection_type, column_type=server.geometrycollection_type)
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


# ------------------------------------------------------------------------------ parsing a definition

_COLUMN_PREFIX = "ALTER TABLE _t ADD COLUMN "


def describe_column(
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
    toks = Tokenizer().tokenize(full)
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
    toks = tokenize(tail) if tail.strip() else []
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


#: the columns CONVERT TO CHARACTER SET converts
CONVERTED_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")


def converted_column(c: Column, charset: str, collation: str, defaults: ServerDefaults) -> Column:
    """A text column after ``CONVERT TO CHARACTER SET``: a TEXT type grows so that as many characters
    fit (``TEXT`` in latin1 becomes ``MEDIUMTEXT`` in utf8mb4); other columns keep their type."""
    assert c.charset is not None
    if charset == "binary" and c.data_type in _BINARY_OF:  # bytes as they are: VARCHAR(n) -> VARBINARY(n)
        params = [c.char_max_length or 1] if c.data_type in ("char", "varchar") else []
        b = _binary_from_text(_BINARY_OF[c.data_type], params)
        return dataclasses.replace(c, **b, charset=None, collation=None)
    data_type, column_type, length = c.data_type, c.column_type, c.char_max_length
    if data_type in _TEXT_BYTES:
        if data_type != "longtext":
            chars = _TEXT_BYTES[data_type] // defaults.charset(c.charset).mbmaxlen
            data_type = _sized("TEXT", chars * defaults.charset(charset).mbmaxlen, _TEXTS)
        column_type = data_type
        length = _TEXT_BYTES[data_type] // defaults.charset(charset).mbminlen
    return dataclasses.replace(
        c,
        data_type=data_type,
        column_type=column_type,
        char_max_length=length,
        charset=charset,
        collation=collation,
    )
