"""SELECT: StarRocks/MySQL text rewritten onto DuckDB by sqlglot; results typed as StarRocks sends them.

``db.table`` becomes the DuckDB table ``<catalog>.db.table`` (the session database when unqualified);
``information_schema.*`` becomes an Arrow table built from the catalog; session functions and ``@@vars``
become literals. Result columns carry the MySQL column type StarRocks uses for the value
(``PrimitiveType.toMysqlType``): BOOLEAN is TINY (0/1), LARGEINT and JSON are STRING text, DECIMAL is
NEWDECIMAL (exact text), DATETIME keeps microseconds, VARBINARY is STRING with the binary charset, so a
PyMySQL client gets int, str, Decimal, datetime, date, bytes and None back.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
from mysql_mimic import ResultColumn, ResultSet
from mysql_mimic.charset import CharacterSet
from mysql_mimic.types import ColumnType
from sqlglot import exp

from cdc_assets.standin.ddl import SqlError
from cdc_assets.standin.infoschema import VIRTUAL_TABLES
from cdc_assets.standin.store import StandInStore

#: MySQL server version StarRocks reports (FE ``mysql_server_version``), also what version() returns
MYSQL_SERVER_VERSION = "5.1.0"
_F32 = struct.Struct("<f")


@dataclass
class SessionInfo:
    """What a SELECT may ask about its session."""

    database: str | None
    user: str
    connection_id: int
    current_version: str  # current_version(): "3.3.5 standin"
    variable: Callable[[str], Any]  # @@name lookup; raises for unknown names


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Literal.number(int(value))
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _replace_session_values(expr: exp.Expression, info: SessionInfo, sql: str) -> exp.Expression:
    # sqlglot parses version() and current_version() into the same node; tell them apart by the text
    plain_version = re.search(r"(?<!current_)\bversion\s*\(", sql, re.I) and not re.search(
        r"\bcurrent_version\s*\(", sql, re.I
    )

    def transform(node: exp.Expression) -> exp.Expression:
        value: Any = node
        if isinstance(node, exp.CurrentVersion):
            value = MYSQL_SERVER_VERSION if plain_version else info.current_version
        elif isinstance(node, exp.CurrentSchema):
            value = info.database
        elif isinstance(node, exp.CurrentUser) or (
            isinstance(node, exp.Anonymous) and node.name.upper() == "USER"
        ):
            value = f"'{info.user}'@'%'"
        elif isinstance(node, exp.Anonymous) and node.name.upper() == "CONNECTION_ID":
            value = info.connection_id
        elif isinstance(node, exp.SessionParameter):
            value = info.variable(node.name)
        if value is node:
            return node
        new = _literal(value)
        if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
            return exp.alias_(new, exp.to_identifier(node.sql("starrocks")))
        return new

    return expr.transform(transform)


def rewrite_select(
    store: StandInStore, expr: exp.Expression, info: SessionInfo, sql: str
) -> tuple[str, dict[str, pa.Table]]:
    """DuckDB SQL for a StarRocks SELECT, plus the information_schema Arrow tables it reads."""
    expr = _replace_session_values(expr, info, sql)
    ctes = {cte.alias_or_name.lower() for cte in expr.find_all(exp.CTE)}
    virtual: dict[str, pa.Table] = {}
    for table in list(expr.find_all(exp.Table)):
        name = table.name
        if not name or not isinstance(table.this, exp.Identifier):
            continue
        db = table.text("db")
        catalog = table.text("catalog")
        if catalog and catalog.lower() != "default_catalog":
            raise SqlError(f"Unknown catalog '{catalog}'", 1049)
        if not db and name.lower() == "dual" and isinstance(table.parent, exp.From):
            table.parent.pop()  # SELECT ... FROM DUAL: DuckDB needs no table
            continue
        if not db and name.lower() in ctes:
            continue
        db = db or info.database or ""
        if not db:
            raise SqlError("No database selected", 1046)
        if db.lower() == "information_schema":
            builder = VIRTUAL_TABLES.get(name.lower())
            if builder is None:
                raise SqlError(
                    f"Getting analyzing error. Detail message: Unknown table 'information_schema.{name}'."
                )
            alias = f"__standin_is_{name.lower()}"
            virtual[alias] = builder(store)
            new = exp.Table(
                this=exp.to_identifier(alias),
                alias=table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name)),
            )
            table.replace(new)
            continue
        if not store.has_database(db):
            raise SqlError(f"Unknown database '{db}'", 1049)
        if store.get_table(db, name) is None:
            raise SqlError(f"Getting analyzing error. Detail message: Unknown table '{db}.{name}'.")
        table.set("catalog", exp.to_identifier(store.catalog_name, quoted=True))
        table.set("db", exp.to_identifier(db, quoted=True))
        table.set("this", exp.to_identifier(name, quoted=True))
    return expr.sql(dialect="duckdb"), virtual


def run_select(store: StandInStore, expr: exp.Expression, info: SessionInfo, sql: str) -> ResultSet:
    duck_sql, tables = rewrite_select(store, expr, info, sql)
    try:
        names, rows, types = store.execute(duck_sql, tables=tables)
    except duckdb.Error as e:
        detail = str(e).splitlines()[0]
        raise SqlError(f"Getting analyzing error. Detail message: {detail}.") from e
    return to_result_set(names, rows, types)


# ---------------------------------------------------------------------------- wire typing
def _float32_text(v: float) -> str:
    """Shortest text that reads back as the same float32 (StarRocks prints FLOAT 0.1 as 0.1)."""
    if math.isnan(v) or math.isinf(v):
        return str(v)
    want = _F32.pack(v)
    for digits in range(1, 10):
        text = f"{v:.{digits}g}"
        try:
            if _F32.pack(float(text)) == want:
                return text
        except OverflowError:  # rounded past the float32 range (near +-3.4e38): use more digits
            continue
    return repr(v)


def _decimal_text(v: Decimal) -> str:
    return format(v, "f")


_BC_TEXT = re.compile(r"^(\d+)(-\d\d-\d\d) \(BC\)(?: (\d\d:\d\d:\d\d)(?:\.(\d+))?)?$")


def _date_text(v: Any) -> str:
    """A DATE or DATETIME as StarRocks prints it. Python cannot hold a year before 1, so DuckDB hands
    those over as text in BC years ('0001-01-01 (BC)' is year 0000, StarRocks' lower bound); they become
    astronomical years again, with microseconds when there are any, as for later years."""
    if isinstance(v, str):
        m = _BC_TEXT.match(v)
        if m:
            year = 1 - int(m.group(1))
            text = (f"{year:04d}" if year >= 0 else f"-{-year:04d}") + m.group(2)
            if m.group(3):
                text += f" {m.group(3)}" + (f".{m.group(4).ljust(6, '0')}" if m.group(4) else "")
            return text
    return str(v)


def _datetime_text(v: Any) -> Any:
    if isinstance(v, _dt.datetime) and v.tzinfo is not None:
        v = v.astimezone(_dt.UTC).replace(tzinfo=None)
    return _date_text(v)


def _int(v: Any) -> int:
    return int(v)


_SIMPLE: dict[str, tuple[ColumnType, Callable[[Any], Any] | None]] = {
    "BOOLEAN": (ColumnType.TINY, _int),
    "TINYINT": (ColumnType.TINY, None),
    "UTINYINT": (ColumnType.TINY, None),
    "SMALLINT": (ColumnType.SHORT, None),
    "USMALLINT": (ColumnType.SHORT, None),
    "INTEGER": (ColumnType.LONG, None),
    "UINTEGER": (ColumnType.LONG, None),
    "BIGINT": (ColumnType.LONGLONG, None),
    "UBIGINT": (ColumnType.LONGLONG, None),
    "HUGEINT": (ColumnType.STRING, str),
    "UHUGEINT": (ColumnType.STRING, str),
    "FLOAT": (ColumnType.FLOAT, _float32_text),
    "DOUBLE": (ColumnType.DOUBLE, repr),
    "DATE": (ColumnType.DATE, _date_text),
    "TIMESTAMP": (ColumnType.DATETIME, _datetime_text),
    "TIMESTAMP_S": (ColumnType.DATETIME, _datetime_text),
    "TIMESTAMP_MS": (ColumnType.DATETIME, _datetime_text),
    "TIMESTAMP_NS": (ColumnType.DATETIME, _datetime_text),
    "TIMESTAMP WITH TIME ZONE": (ColumnType.DATETIME, _datetime_text),
    "TIME": (ColumnType.TIME, str),
    "VARCHAR": (ColumnType.VAR_STRING, None),
    "BLOB": (ColumnType.STRING, None),
    '"NULL"': (ColumnType.NULL, None),
    "NULL": (ColumnType.NULL, None),
}


def _column(name: str, duck_type: str) -> tuple[ResultColumn, Callable[[Any], Any] | None]:
    if duck_type.startswith("DECIMAL"):
        return ResultColumn(name, ColumnType.NEWDECIMAL), _decimal_text
    col_type, conv = _SIMPLE.get(duck_type, (ColumnType.VAR_STRING, str))
    charset = CharacterSet.binary if duck_type == "BLOB" else CharacterSet.utf8mb4
    return ResultColumn(name, col_type, character_set=charset), conv


def to_result_set(names: list[str], rows: list[tuple], duck_types: list[str]) -> ResultSet:
    """A mysql-mimic result set whose column types and value texts match StarRocks'."""
    columns, convs = (
        zip(*(_column(n, t) for n, t in zip(names, duck_types, strict=True)), strict=True)
        if names
        else ((), ())
    )
    active = [(i, c) for i, c in enumerate(convs) if c is not None]
    if active:
        out = []
        for row in rows:
            values = list(row)
            for i, conv in active:
                if values[i] is not None:
                    values[i] = conv(values[i])
            out.append(values)
        rows = out
    return ResultSet(rows=rows, columns=list(columns))


def text_result(names: list[str], rows: list[tuple]) -> ResultSet:
    """A SHOW-style result: every column VARCHAR (StarRocks sends SHOW results as strings)."""
    return ResultSet(rows=rows, columns=[ResultColumn(n, ColumnType.VAR_STRING) for n in names])
