"""Identifier quoting: the one place where names become SQL text.

Values are never formatted into SQL anywhere in this project; they are bound parameters. Names
cannot be bound, so they go through :func:`quote_ident`, which handles backticks, double quotes,
spaces, unicode and reserved words for the dialects this project speaks.
"""

from __future__ import annotations

from collections.abc import Iterable

_QUOTES = {"mysql": "`", "starrocks": "`", "duckdb": '"'}


def quote_ident(name: str, dialect: str = "mysql") -> str:
    """Quote one identifier for ``dialect`` (``mysql``, ``starrocks`` or ``duckdb``)."""
    try:
        q = _QUOTES[dialect]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {sorted(_QUOTES)}") from None
    if "\x00" in name:
        raise ValueError(f"identifier {name!r} contains a NUL character")
    return q + name.replace(q, q + q) + q


def quote_table(schema: str, table: str, dialect: str = "mysql") -> str:
    """``schema.table`` with both parts quoted."""
    return f"{quote_ident(schema, dialect)}.{quote_ident(table, dialect)}"


def quote_list(names: Iterable[str], dialect: str = "mysql") -> str:
    """Comma-separated quoted identifiers."""
    return ", ".join(quote_ident(n, dialect) for n in names)
