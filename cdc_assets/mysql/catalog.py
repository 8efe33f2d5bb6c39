"""The source catalog: which tables exist, their columns and primary keys (information_schema)."""

from __future__ import annotations

from collections.abc import Callable

from cdc_assets.core.charsets import MARIADB_CHARSETS, Charset, ServerDefaults
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.source_server import SourceServer
from cdc_assets.mysql.connection import ConnectionSettings, run

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")


def list_tables(conn, settings: ConnectionSettings) -> list[TableId]:
    """Every base table outside the system schemas, sorted."""
    rows = run(
        conn,
        settings,
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
        "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (%s, %s, %s, %s) "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME",
        SYSTEM_SCHEMAS,
        doing="listing tables",
    )
    return [TableId(str(db), str(t)) for db, t in rows]


def discover(conn, settings: ConnectionSettings, matches: Callable[[TableId], bool]) -> list[TableId]:
    """The tables ``matches`` accepts (the pipeline's ``tables`` / ``tables.exclude``)."""
    return [t for t in list_tables(conn, settings) if matches(t)]


def load_schema(conn, settings: ConnectionSettings, table: TableId) -> TableSchema:
    """Columns in ordinal order and the primary key in key order."""
    rows = run(
        conn,
        settings,
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, "
        "NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, CHARACTER_SET_NAME, COLLATION_NAME "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (table.db, table.table),
        doing=f"reading the columns of {table}",
    )
    columns = tuple(
        Column(
            name=str(r[0]),
            data_type=str(r[1]).lower(),
            column_type=str(r[2]),
            nullable=str(r[3]).upper() == "YES",
            char_max_length=int(r[4]) if r[4] is not None else None,
            numeric_precision=int(r[5]) if r[5] is not None else None,
            numeric_scale=int(r[6]) if r[6] is not None else None,
            datetime_precision=int(r[7]) if r[7] is not None else None,
            charset=r[8],
            collation=r[9],
        )
        for r in rows
    )
    pk_rows = run(
        conn,
        settings,
        "SELECT COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
        (table.db, table.table),
        doing=f"reading the primary key of {table}",
    )
    default_rows = run(
        conn,
        settings,
        "SELECT c.CHARACTER_SET_NAME, t.TABLE_COLLATION FROM information_schema.TABLES t "
        "LEFT JOIN information_schema.COLLATIONS c ON c.COLLATION_NAME = t.TABLE_COLLATION "
        "WHERE t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s",
        (table.db, table.table),
        doing=f"reading the default character set of {table}",
    )
    charset, collation = (default_rows[0][0], default_rows[0][1]) if default_rows else (None, None)
    return TableSchema(
        table_id=table,
        columns=columns,
        primary_key=tuple(str(r[0]) for r in pk_rows),
        default_charset=charset,
        default_collation=collation,
    )


def load_server_defaults(conn, settings: ConnectionSettings) -> ServerDefaults:
    """What the DDL parser needs to describe new columns as this server does: every database's default
    character set and collation, the character sets' default collations and sizes, and the variables
    that change column definitions (explicit_defaults_for_timestamp, sql_mode REAL_AS_FLOAT, MariaDB's
    old_mode UTF8_IS_UTF8MB3), and which server and version this is (MySQL and MariaDB describe some
    columns differently). Session variables are this connection's."""
    dbs = run(
        conn,
        settings,
        "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA",
        doing="reading the databases' default character sets",
    )
    sets = run(
        conn,
        settings,
        "SELECT CHARACTER_SET_NAME, DEFAULT_COLLATE_NAME, MAXLEN FROM information_schema.CHARACTER_SETS",
        doing="reading the server's character sets",
    )
    (explicit_ts, sql_mode, version, server_cs, server_coll), *_ = run(
        conn,
        settings,
        "SELECT @@explicit_defaults_for_timestamp, @@sql_mode, VERSION(), @@character_set_server, "
        "@@collation_server",
        doing="reading the server's column defaults",
    )
    server = SourceServer.parse(str(version))
    utf8_is_utf8mb4 = False
    if server.has_utf8_old_mode:
        ((old_mode,),) = run(conn, settings, "SELECT @@old_mode", doing="reading the server's old_mode")
        utf8_is_utf8mb4 = "UTF8_IS_UTF8MB3" not in str(old_mode or "").upper().split(",")
    charsets = {
        str(name): Charset(
            str(coll),
            MARIADB_CHARSETS[str(name)].mbminlen if str(name) in MARIADB_CHARSETS else 1,
            int(maxlen),
        )
        for name, coll, maxlen in sets
    }
    return ServerDefaults(
        databases={str(db): (str(cs), str(coll)) for db, cs, coll in dbs},
        charsets=charsets,
        explicit_defaults_for_timestamp=bool(int(explicit_ts)),
        real_as_float="REAL_AS_FLOAT" in str(sql_mode).upper().split(","),
        server=server,
        utf8_is_utf8mb4=utf8_is_utf8mb4,
        server_charset=(str(server_cs), str(server_coll)),
    )
