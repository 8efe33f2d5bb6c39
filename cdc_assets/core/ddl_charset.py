"""Character-set options in DDL, and the databases' default character sets the binlog changes.

A new table's text columns without a character set take the table's, and a table without one takes
its database's (``CREATE TABLE`` in ``information_schema`` terms). The stream starts from the server's
catalog (``ServerDefaults.databases``) and follows ``CREATE / ALTER / DROP DATABASE`` as it reads them
(:func:`database_defaults`), so a database created while the pipeline streams gives its tables' columns
the character set it was created with, as the server did.
"""

from __future__ import annotations

import dataclasses
import re

from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from cdc_assets.core.charsets import ServerDefaults
from cdc_assets.core.ddl_text import Tokens, tokenize, unwrap_executable_comments

_DATABASE_STATEMENT = re.compile(
    r"\s*(?:/\*.*?\*/\s*)*(CREATE|ALTER|DROP)\s+(?:OR\s+REPLACE\s+)?(DATABASE|SCHEMA)\b", re.I | re.S
)
#: words after which a table's options give way to something else (CREATE ... SELECT, partitions)
_OPTIONS_END = ("SELECT", "AS", "WITH", "PARTITION", "IGNORE", "REPLACE")
#: words that open ALTER DATABASE's options (the database name, when given, comes before them)
_ALTER_OPTIONS = {"DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "COMMENT", "READ", "ENCRYPTION"}


def charset_options(t: Tokens, defaults: ServerDefaults) -> tuple[str | None, str | None, str | None]:
    """(charset, collation, comment) among table or database options at the cursor, named as the server's
    catalog names them; the cursor moves to the end, or to a SELECT / PARTITION."""
    charset = collation = comment = None
    while not t.at_end():
        w = t.word()
        if w in _OPTIONS_END:
            break
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
                collation = defaults.collation_name(value)
            else:
                charset = defaults.charset_name(value)
            continue
        t.i += 1
    return charset, collation, comment


def charset_pair(
    defaults: ServerDefaults, charset: str | None, collation: str | None
) -> tuple[str, str] | None:
    """The ``(charset, collation)`` options name (a collation implies its character set, a character set
    its default collation), or None when they name neither."""
    if collation is not None:
        return defaults.charset_of_collation(collation), collation
    if charset is not None:
        return charset, defaults.charset(charset).default_collation
    return None


def database_defaults(sql: str, current_db: str | None, defaults: ServerDefaults) -> ServerDefaults | None:
    """``defaults`` after ``sql`` when it is ``CREATE DATABASE`` / ``ALTER DATABASE`` / ``DROP DATABASE``
    (or ``SCHEMA``), else None. A database created without a character set gets the server's
    (``ServerDefaults.server_charset``; unknown: left out, so its tables' text columns get charset None as
    before); ``ALTER DATABASE`` without a name is the current database's. A statement that cannot be read
    changes nothing (no table is described from it)."""
    text = unwrap_executable_comments(sql.strip())
    m = _DATABASE_STATEMENT.match(text)
    if m is None:
        return None
    verb = m.group(1).upper()
    try:
        t = Tokens(text, tokenize(text))
        t.i += 1
        t.accept("OR", "REPLACE")
        t.i += 1  # DATABASE / SCHEMA
        if verb == "ALTER" and (t.at_end() or t.word() in _ALTER_OPTIONS):
            name = current_db  # ALTER DATABASE CHARACTER SET x: the current database
        else:
            if not t.accept("IF", "NOT", "EXISTS"):
                t.accept("IF", "EXISTS")
            name = t.name()
        pair = None if verb == "DROP" else charset_pair(defaults, *charset_options(t, defaults)[:2])
    except (SqlglotError, ValueError):
        return None
    if not name:
        return None
    databases = dict(defaults.databases)
    if verb == "DROP":
        databases.pop(name, None)
    elif pair is not None:
        databases[name] = pair
    elif verb == "CREATE":
        if defaults.server_charset is None:
            databases.pop(name, None)
        else:
            databases[name] = defaults.server_charset
    else:
        return None  # ALTER DATABASE without a character set: nothing this cares about changed
    return dataclasses.replace(defaults, databases=databases)
