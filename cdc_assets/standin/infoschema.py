"""information_schema.columns / tables / schemata, built from the catalog as Arrow tables for DuckDB.

Values follow StarRocks 3.x (``InformationSchemaDataSource``, ``Type.getColumnSize``/``getDecimalDigits``):
DATA_TYPE is lower case with BOOLEAN shown as ``tinyint`` and LARGEINT as ``bigint unsigned``;
COLUMN_TYPE is the ``toSql`` form except ``tinyint(1)`` and ``bigint(20) unsigned`` for those two;
COLUMN_SIZE is the numeric precision or the string length and NULL for BOOLEAN (the Flink catalog
tells BOOLEAN from TINYINT that way); COLUMN_KEY is ``PRI`` on key columns.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from cdc_assets.standin.catalog import SrType, TableMeta
from cdc_assets.standin.store import StandInStore

_PRECISION = {"TINYINT": 3, "SMALLINT": 5, "INT": 10, "BIGINT": 19, "LARGEINT": 39, "FLOAT": 7, "DOUBLE": 15}
_DIGITS = {
    "BOOLEAN": 0,
    "TINYINT": 0,
    "SMALLINT": 0,
    "INT": 0,
    "BIGINT": 0,
    "LARGEINT": 0,
    "FLOAT": 7,
    "DOUBLE": 15,
}


def data_type(t: SrType) -> str:
    if t.name == "BOOLEAN":
        return "tinyint"
    if t.name == "LARGEINT":
        return "bigint unsigned"
    return t.name.lower()


def column_type(t: SrType) -> str:
    if t.name == "BOOLEAN":
        return "tinyint(1)"
    if t.name == "LARGEINT":
        return "bigint(20) unsigned"
    return t.to_sql()


def column_size(t: SrType) -> int | None:
    if t.name == "DECIMAL":
        return t.precision
    if t.name in ("CHAR", "VARCHAR", "VARBINARY"):
        return t.length
    return _PRECISION.get(t.name)


def decimal_digits(t: SrType) -> int | None:
    return t.scale if t.name == "DECIMAL" else _DIGITS.get(t.name)


_COLUMNS_SCHEMA = pa.schema(
    [
        ("TABLE_CATALOG", pa.string()),
        ("TABLE_SCHEMA", pa.string()),
        ("TABLE_NAME", pa.string()),
        ("COLUMN_NAME", pa.string()),
        ("ORDINAL_POSITION", pa.int64()),
        ("COLUMN_DEFAULT", pa.string()),
        ("IS_NULLABLE", pa.string()),
        ("DATA_TYPE", pa.string()),
        ("CHARACTER_MAXIMUM_LENGTH", pa.int64()),
        ("CHARACTER_OCTET_LENGTH", pa.int64()),
        ("NUMERIC_PRECISION", pa.int64()),
        ("NUMERIC_SCALE", pa.int64()),
        ("DATETIME_PRECISION", pa.int64()),
        ("CHARACTER_SET_NAME", pa.string()),
        ("COLLATION_NAME", pa.string()),
        ("COLUMN_TYPE", pa.string()),
        ("COLUMN_KEY", pa.string()),
        ("EXTRA", pa.string()),
        ("PRIVILEGES", pa.string()),
        ("COLUMN_COMMENT", pa.string()),
        ("COLUMN_SIZE", pa.int64()),
        ("DECIMAL_DIGITS", pa.int64()),
        ("GENERATION_EXPRESSION", pa.string()),
        ("SRS_ID", pa.int64()),
    ]
)

_TABLES_SCHEMA = pa.schema(
    [
        ("TABLE_CATALOG", pa.string()),
        ("TABLE_SCHEMA", pa.string()),
        ("TABLE_NAME", pa.string()),
        ("TABLE_TYPE", pa.string()),
        ("ENGINE", pa.string()),
        ("VERSION", pa.int64()),
        ("ROW_FORMAT", pa.string()),
        ("TABLE_ROWS", pa.int64()),
        ("AVG_ROW_LENGTH", pa.int64()),
        ("DATA_LENGTH", pa.int64()),
        ("MAX_DATA_LENGTH", pa.int64()),
        ("INDEX_LENGTH", pa.int64()),
        ("DATA_FREE", pa.int64()),
        ("AUTO_INCREMENT", pa.int64()),
        ("CREATE_TIME", pa.timestamp("s")),
        ("UPDATE_TIME", pa.timestamp("s")),
        ("CHECK_TIME", pa.timestamp("s")),
        ("TABLE_COLLATION", pa.string()),
        ("CHECKSUM", pa.int64()),
        ("CREATE_OPTIONS", pa.string()),
        ("TABLE_COMMENT", pa.string()),
    ]
)

_SCHEMATA_SCHEMA = pa.schema(
    [
        ("CATALOG_NAME", pa.string()),
        ("SCHEMA_NAME", pa.string()),
        ("DEFAULT_CHARACTER_SET_NAME", pa.string()),
        ("DEFAULT_COLLATION_NAME", pa.string()),
        ("SQL_PATH", pa.string()),
    ]
)


def _column_row(meta: TableMeta, i: int) -> dict:
    c = meta.columns[i]
    t = c.type
    is_string = t.name in ("CHAR", "VARCHAR")
    return {
        "TABLE_CATALOG": "def",
        "TABLE_SCHEMA": meta.db,
        "TABLE_NAME": meta.name,
        "COLUMN_NAME": c.name,
        "ORDINAL_POSITION": i + 1,
        "COLUMN_DEFAULT": c.default,
        "IS_NULLABLE": "YES" if c.nullable else "NO",
        "DATA_TYPE": data_type(t),
        "CHARACTER_MAXIMUM_LENGTH": t.length if is_string else None,
        "CHARACTER_OCTET_LENGTH": t.length if is_string else None,
        "NUMERIC_PRECISION": t.precision if t.name == "DECIMAL" else _PRECISION.get(t.name),
        "NUMERIC_SCALE": decimal_digits(t) if t.name != "BOOLEAN" else None,
        "DATETIME_PRECISION": 0 if t.name == "DATETIME" else None,
        "CHARACTER_SET_NAME": "utf8" if is_string else None,
        "COLLATION_NAME": "utf8_general_ci" if is_string else None,
        "COLUMN_TYPE": column_type(t),
        "COLUMN_KEY": "PRI" if c.is_key else "",
        "EXTRA": "",
        "PRIVILEGES": "SELECT,INSERT,UPDATE,REFERENCES",
        "COLUMN_COMMENT": c.comment,
        "COLUMN_SIZE": column_size(t),
        "DECIMAL_DIGITS": decimal_digits(t),
        "GENERATION_EXPRESSION": None,
        "SRS_ID": None,
    }


def columns_table(store: StandInStore) -> pa.Table:
    rows = [_column_row(m, i) for m in store.all_tables() for i in range(len(m.columns))]
    return pa.Table.from_pylist(rows, schema=_COLUMNS_SCHEMA)


def tables_table(store: StandInStore) -> pa.Table:
    rows = [
        {
            "TABLE_CATALOG": "def",
            "TABLE_SCHEMA": m.db,
            "TABLE_NAME": m.name,
            "TABLE_TYPE": "BASE TABLE",
            "ENGINE": "StarRocks",
            "TABLE_COLLATION": "utf8_general_ci",
            "CREATE_OPTIONS": "",
            "TABLE_COMMENT": m.comment,
        }
        for m in store.all_tables()
    ]
    return pa.Table.from_pylist(rows, schema=_TABLES_SCHEMA)


def schemata_table(store: StandInStore) -> pa.Table:
    names = ["information_schema", *store.list_databases()]
    rows = [
        {
            "CATALOG_NAME": "def",
            "SCHEMA_NAME": n,
            "DEFAULT_CHARACTER_SET_NAME": "utf8",
            "DEFAULT_COLLATION_NAME": "utf8_general_ci",
        }
        for n in names
    ]
    return pa.Table.from_pylist(rows, schema=_SCHEMATA_SCHEMA)


#: information_schema tables the stand-in serves (lower-case name -> builder)
VIRTUAL_TABLES: dict[str, Callable[[StandInStore], pa.Table]] = {
    "columns": columns_table,
    "tables": tables_table,
    "schemata": schemata_table,
}
