"""The judge of the DDL parser: each statement runs on a real MariaDB, and the schema that
:func:`~cdc_assets.core.ddl.parse_ddl` + :func:`~cdc_assets.core.evolution.evolve` compute must equal
what :func:`~cdc_assets.mysql.catalog.load_schema` reads from information_schema afterwards (columns,
types, nullability, lengths, precisions, character sets, key, and the table's default character set).
"""

from __future__ import annotations

import uuid

import pytest

from cdc_assets.core.charsets import MARIADB_CHARSETS
from cdc_assets.core.ddl import apply_ddl, parse_ddl
from cdc_assets.core.evolution import evolve
from cdc_assets.core.schema import TableId, TableSchema
from cdc_assets.core.schema_change import CreateTable, DropTable, RenameTable
from cdc_assets.core.sql import quote_ident
from cdc_assets.mysql.catalog import load_schema, load_server_defaults
from cdc_assets.mysql.connection import ConnectionSettings

SETTINGS = ConnectionSettings("admin", 0, "root", "")

BASE = (
    "CREATE TABLE {t} (id INT NOT NULL, a VARCHAR(10) NOT NULL DEFAULT '', b INT, c TEXT, "
    "d DECIMAL(10,2) NOT NULL, e ENUM('x','y'), PRIMARY KEY (id))"
)
BASE_LATIN1 = BASE + " DEFAULT CHARSET=latin1"

#: (id, table set-up or None, statements); {t} is the table's name
CASES: list[tuple[str, str | None, list[str]]] = [
    # ----- CREATE TABLE: every type the parser describes, charsets, keys
    ("create-ints", None, [
        "CREATE TABLE {t} (a INT, b INT(5), c INT UNSIGNED, d INT(5) UNSIGNED ZEROFILL, e INT ZEROFILL, "
        "f TINYINT(1), g BOOL, h SMALLINT UNSIGNED, i MEDIUMINT, j MIDDLEINT, k INT1, l INT2, m INT3, n INT4, "
        "o INT8, p BIGINT, q BIGINT UNSIGNED, r SERIAL, ag TINYINT, ah TINYINT UNSIGNED, ai SMALLINT, "
        "aj MEDIUMINT UNSIGNED, ak INTEGER, ao BOOLEAN, au BIGINT ZEROFILL, av TINYINT ZEROFILL, "
        "aw INT SIGNED, ax INTEGER(3) UNSIGNED)"]),
    ("create-decimals-floats", None, [
        "CREATE TABLE {t} (s DECIMAL, t DECIMAL(5), u DECIMAL(12,2) UNSIGNED, v NUMERIC(4,1), w FLOAT, "
        "x FLOAT(7,3), y FLOAT(30), z FLOAT(10), aa DOUBLE, ab DOUBLE(10,2), ac DOUBLE PRECISION, ad REAL, "
        "ae BIT, af BIT(5), al FLOAT UNSIGNED, am FLOAT(24), an FLOAT(25), ap DEC(3,1), aq FIXED(3,1), "
        "ar DOUBLE UNSIGNED, as_ FLOAT(53), aw DECIMAL(65,30), ax BIT(64), ay DECIMAL(10,2) ZEROFILL)"]),
    ("create-strings-latin1", None, [
        "CREATE TABLE {t} (a CHAR, b CHAR(3), c NCHAR(3), d NATIONAL CHAR(2), e NATIONAL VARCHAR(4), "
        "f NVARCHAR(4), g CHARACTER VARYING(5), h VARCHAR(10) BINARY, i CHAR(3) BYTE, j BINARY, k BINARY(3), "
        "l VARBINARY(10), m TINYBLOB, n BLOB, o BLOB(100), p MEDIUMBLOB, q LONGBLOB, r TINYTEXT, s TEXT, "
        "t TEXT(100), u MEDIUMTEXT, v LONGTEXT, w LONG, x LONG VARCHAR, y LONG VARBINARY, "
        "z ENUM('a','bcd'), aa ENUM('a''x','b\\\\c', 'trail  '), ab SET('a','bb'), "
        "ar VARCHAR(10) CHARSET utf8, as_ VARCHAR(10) CHARACTER SET 'latin1', at_ CHAR(10) ASCII, "
        "au CHAR(10) UNICODE, av TEXT COLLATE utf8mb4_bin, aw VARCHAR(5) CHARACTER SET binary, "
        "ax TEXT CHARACTER SET binary, ay CHAR(2) CHARACTER SET binary, az TEXT(1000), bb BLOB(300), "
        "bc TINYTEXT CHARACTER SET latin1, be ENUM('é','x') CHARACTER SET latin1, "
        "bf VARCHAR(3) COLLATE latin1_german1_ci, bg VARCHAR(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, "
        "bk CHAR(3) BINARY CHARACTER SET latin1, bl TEXT(16383), bn TEXT(63), bo TEXT(64), "
        "bp VARCHAR(2) UNICODE BINARY, bq VARCHAR(4) ASCII BINARY, br SET(''), bs ENUM('') , "
        "bt VARCHAR(3) CHARACTER SET utf16, bu TEXT CHARACTER SET utf32, bv LONG CHAR VARYING) "
        "DEFAULT CHARSET=latin1"]),
    ("create-strings-db-default", None, [
        "CREATE TABLE {t} (a VARCHAR(3), b TEXT, c TEXT(64), d TEXT(63), e ENUM('a','b'), f CHAR(2) BINARY, "
        "g JSON, h LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)"]),
    ("create-temporal-spatial-misc", None, [
        "CREATE TABLE {t} (ac DATE, ad TIME, ae TIME(3), af DATETIME, ag DATETIME(6), ah TIMESTAMP, "
        "ai TIMESTAMP(2), aj YEAR, ak YEAR(4), al JSON, am GEOMETRY, an POINT, ao UUID, ap INET4, aq INET6, "
        "bh MULTIPOLYGON, bi GEOMETRYCOLLECTION, bj LINESTRING, bk POLYGON, bl MULTIPOINT, bm MULTILINESTRING, "
        "bn DATETIME(0), bo TIME(6) NOT NULL, bp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE "
        "CURRENT_TIMESTAMP, bq DATETIME(3) DEFAULT NOW(3))"]),
    ("create-table-collation", None, ["CREATE TABLE {t} (a VARCHAR(3), b TEXT) COLLATE utf8mb4_unicode_ci"]),
    ("create-table-charset-eq", None, ["CREATE TABLE {t} (a VARCHAR(3), b TEXT) CHARACTER SET = ucs2 COLLATE=ucs2_bin"]),
    ("create-utf8-alias", None, ["CREATE TABLE {t} (a VARCHAR(3) COLLATE utf8_bin, b TEXT) CHARSET utf8"]),
    ("create-utf8mb3-spellings", None, [
        "CREATE TABLE {t} (a VARCHAR(3) CHARACTER SET utf8mb3, b TEXT COLLATE utf8mb3_bin, c NCHAR(2), "
        "d CHAR(2) CHARSET UTF8 COLLATE UTF8_UNICODE_CI, e VARCHAR(2) CHARACTER SET 'Utf8MB3') CHARSET=utf8mb3"]),
    ("create-pk-inline", None, ["CREATE TABLE {t} (a INT PRIMARY KEY, b TIMESTAMP NULL, c INT UNIQUE, d INT NULL)"]),
    ("create-pk-key-word", None, ["CREATE TABLE {t} (a VARCHAR(5) KEY, b INT NOT NULL AUTO_INCREMENT, UNIQUE KEY (b))"]),
    ("create-pk-constraint", None, [
        "CREATE TABLE IF NOT EXISTS {t} (a INT, b VARCHAR(10), c INT, CONSTRAINT pk PRIMARY KEY (b(3) DESC, a) "
        "USING BTREE COMMENT 'k', KEY kc (c), CHECK (c > 0)) "
        "ENGINE=InnoDB COMMENT='tc' DEFAULT CHARSET latin1 COLLATE latin1_bin"]),
    ("create-pk-case", None, ["CREATE TABLE {t} (ID INT, v INT, PRIMARY KEY USING BTREE (id))"]),
    ("create-dump-style", None, [
        "CREATE TABLE {t} (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `name` varchar(64) COLLATE "
        "utf8mb4_unicode_ci NOT NULL DEFAULT '' COMMENT 'the ''name''',\n  `x``y` decimal(12,4) DEFAULT NULL,\n"
        "  PRIMARY KEY (`id`),\n  KEY `idx_name` (`name`)\n) ENGINE=InnoDB AUTO_INCREMENT=42 "
        "/*!40101 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci */ ;"]),
    ("create-generated-invisible", None, [
        "CREATE TABLE {t} (a INT PRIMARY KEY, b INT AS (a + 1) VIRTUAL, c INT GENERATED ALWAYS AS (a * 2) "
        "STORED, d INT INVISIBLE)"]),
    ("create-attributes", None, [
        "CREATE TABLE {t} (i INT SERIAL DEFAULT VALUE, k BLOB COMPRESSED, l VARCHAR(100) COMPRESSED=zlib, "
        "m INT AS (u + 1) PERSISTENT, n INT WITHOUT SYSTEM VERSIONING, o INT INVISIBLE, p TEXT COMPRESSED NOT NULL, "
        "q INT DEFAULT (1 + 1) CHECK (q > 0), r VARCHAR(3) DEFAULT _utf8mb4'x' COLLATE utf8mb4_bin, "
        "s DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), "
        "g POINT REF_SYSTEM_ID=4326, u INT COMMENT 'STORAGE DISK COMPRESSED')"]),
    ("create-partitioned", None, [
        "CREATE TABLE {t} (id INT NOT NULL, v VARCHAR(3), PRIMARY KEY (id)) COMMENT 'tc' "
        "PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10) COMMENT = 'p0', "
        "PARTITION p1 VALUES LESS THAN MAXVALUE)"]),
    ("create-like", BASE_LATIN1, ["CREATE TABLE {t}_copy LIKE {t}"]),
    ("create-or-replace", BASE, ["CREATE OR REPLACE TABLE {t} (x BIGINT PRIMARY KEY, y VARCHAR(3))"]),
    # ----- ALTER TABLE ADD
    ("add-simple", BASE, ["ALTER TABLE {t} ADD COLUMN f INT"]),
    ("add-no-column-word", BASE, ["ALTER TABLE {t} ADD f BIGINT UNSIGNED NOT NULL DEFAULT 7 COMMENT 'x'"]),
    ("add-first", BASE, ["ALTER TABLE {t} ADD COLUMN f INT FIRST"]),
    ("add-after", BASE, ["ALTER TABLE {t} ADD COLUMN f VARCHAR(5) AFTER a"]),
    ("add-text-latin1-table", BASE_LATIN1, ["ALTER TABLE {t} ADD f VARCHAR(5), ADD g TEXT(100), ADD h ENUM('p')"]),
    ("add-paren-list", BASE, ["ALTER TABLE {t} ADD COLUMN (f INT, g VARCHAR(3) NOT NULL, INDEX ig (g))"]),
    ("add-several", BASE, ["ALTER TABLE {t} ADD f INT AFTER id, ADD g DATETIME(3) FIRST, ADD h POINT"]),
    ("add-if-not-exists", BASE, ["ALTER TABLE {t} ADD COLUMN IF NOT EXISTS b INT, ADD IF NOT EXISTS f INT"]),
    ("add-online-ifexists", BASE, ["ALTER ONLINE TABLE IF EXISTS {t} ADD f INT, ALGORITHM=INPLACE, LOCK=NONE"]),
    ("add-json-spatial", BASE, ["ALTER TABLE {t} ADD j JSON, ADD p POINT NOT NULL, ADD i6 INET6"]),
    ("add-reserved-named", BASE, ["ALTER TABLE {t} ADD `system` INT, ADD `select` INT, ADD `key` INT"]),
    ("add-keyword-names", BASE, ["ALTER TABLE {t} ADD vector INT, ADD COLUMN IF NOT EXISTS (period INT, q INT)"]),
    ("add-compressed-invisible", BASE, ["ALTER TABLE {t} ADD z TEXT COMPRESSED, ADD y INT INVISIBLE AFTER id"]),
    ("add-charset-column", BASE, ["alter table {t} add column f varchar(4) character set latin1 collate latin1_bin"]),
    # ----- DROP
    ("drop", BASE, ["ALTER TABLE {t} DROP COLUMN b"]),
    ("drop-no-word", BASE, ["ALTER TABLE {t} DROP b, DROP c"]),
    ("drop-if-exists", BASE, ["ALTER TABLE {t} DROP COLUMN IF EXISTS b, DROP COLUMN IF EXISTS zz"]),
    # ----- RENAME / CHANGE / MODIFY
    ("rename-column", BASE, ["ALTER TABLE {t} RENAME COLUMN b TO bb"]),
    ("rename-column-if-exists", BASE, ["ALTER TABLE {t} RENAME COLUMN IF EXISTS nope TO x, RENAME COLUMN b TO B2"]),
    ("rename-key-column", BASE, ["ALTER TABLE {t} RENAME COLUMN id TO ident"]),
    ("change-rename-only", BASE, ["ALTER TABLE {t} CHANGE b bb INT"]),
    ("change-rename-type", BASE, ["ALTER TABLE {t} CHANGE COLUMN b bb BIGINT UNSIGNED NOT NULL"]),
    ("change-key-column", BASE, ["ALTER TABLE {t} CHANGE id id BIGINT"]),
    ("change-after", BASE, ["ALTER TABLE {t} CHANGE b b2 VARCHAR(9) AFTER id"]),
    ("modify", BASE, ["ALTER TABLE {t} MODIFY a VARCHAR(50) NULL"]),
    ("modify-first", BASE, ["ALTER TABLE {t} MODIFY COLUMN e ENUM('x','y','z') NOT NULL FIRST"]),
    ("modify-comment-only", BASE, ["ALTER TABLE {t} MODIFY b INT COMMENT 'just a comment'"]),
    ("modify-charset", BASE_LATIN1, ["ALTER TABLE {t} MODIFY a VARCHAR(10) CHARACTER SET utf8mb4 NOT NULL"]),
    ("modify-case", BASE, ["ALTER TABLE {t} MODIFY B BIGINT"]),
    ("alter-default", BASE, ["ALTER TABLE {t} ALTER COLUMN b SET DEFAULT 5, ALTER a DROP DEFAULT"]),
    # ----- table-level
    ("comment", BASE, ["ALTER TABLE {t} COMMENT='hello'", "ALTER TABLE {t} COMMENT 'again', ENGINE=InnoDB"]),
    ("table-charset", BASE, ["ALTER TABLE {t} DEFAULT CHARSET=latin1", "ALTER TABLE {t} ADD f VARCHAR(3)"]),
    ("table-collate", BASE, ["ALTER TABLE {t} COLLATE utf8mb4_bin", "ALTER TABLE {t} ADD f TEXT"]),
    ("convert", BASE_LATIN1, ["ALTER TABLE {t} CONVERT TO CHARACTER SET utf8mb4"]),
    ("convert-binary", BASE, ["ALTER TABLE {t} ADD l LONGTEXT, ADD m TINYTEXT, CONVERT TO CHARACTER SET binary"]),
    ("convert-text-sizes", BASE_LATIN1, [
        "ALTER TABLE {t} ADD l TINYTEXT, ADD m MEDIUMTEXT, ADD n LONGTEXT, ADD s SET('p','q')",
        "ALTER TABLE {t} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"]),
    ("convert-collate", BASE, ["ALTER TABLE {t} CONVERT TO CHARACTER SET latin1 COLLATE latin1_bin"]),
    ("index-noop", BASE, [
        "ALTER TABLE {t} ADD INDEX ib (b)", "CREATE INDEX ic ON {t} (b)", "ALTER TABLE {t} DROP INDEX ib",
        "ALTER TABLE {t} ADD UNIQUE KEY uk (a, id), ADD CONSTRAINT ch CHECK (b > 0)", "ALTER TABLE {t} ENGINE=InnoDB",
        "ALTER TABLE {t} RENAME INDEX uk TO uk2", "ALTER TABLE {t} FORCE", "OPTIMIZE TABLE {t}", "ANALYZE TABLE {t}"]),
    ("mixed", BASE, [
        "ALTER TABLE {t} ADD f INT NOT NULL AFTER a, DROP c, CHANGE b b2 SMALLINT, MODIFY d DECIMAL(12,3), "
        "RENAME COLUMN e TO e2, COMMENT 'mixed'"]),
    ("order-after-renamed", BASE, ["ALTER TABLE {t} CHANGE b bb INT, ADD f INT AFTER bb"]),
    ("order-drop-then-add", BASE, ["ALTER TABLE {t} DROP b, ADD b VARCHAR(3) FIRST"]),
    ("order-after-added", BASE, ["ALTER TABLE {t} ADD f INT, ADD g INT AFTER f, MODIFY a VARCHAR(10) NOT NULL AFTER g"]),
    ("order-modify-first-then-add-first", BASE, ["ALTER TABLE {t} MODIFY e ENUM('x','y') FIRST, ADD f INT FIRST"]),
    ("rename-table", BASE, ["ALTER TABLE {t} RENAME TO {t}_new", "RENAME TABLE {t}_new TO {t}"]),
    ("truncate", BASE, ["TRUNCATE TABLE {t}", "TRUNCATE {t}"]),
    ("sequence-of-changes", BASE, [
        "ALTER TABLE {t} ADD x INT", "ALTER TABLE {t} MODIFY x VARCHAR(20) CHARACTER SET latin1",
        "ALTER TABLE {t} CHANGE x y TEXT", "ALTER TABLE {t} DROP y", "ALTER TABLE {t} ADD y TIMESTAMP(6) FIRST"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def ddl_db(mariadb):
    name = f"ddl_{uuid.uuid4().hex[:10]}"
    mariadb.execute(f"CREATE DATABASE {quote_ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    try:
        yield name
    finally:
        mariadb.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")


def _schema(conn, table: TableId) -> TableSchema | None:
    schema = load_schema(conn, SETTINGS, table)
    return schema if schema.columns else None


def _assert_same(ours: TableSchema | None, theirs: TableSchema | None, step: str) -> None:
    if ours is None or theirs is None:
        assert ours is theirs, step
        return
    assert ours.table_id == theirs.table_id, step
    for mine, real in zip(ours.columns, theirs.columns, strict=False):
        assert mine == real, f"{step}: column {real.name}"
    assert ours.column_names == theirs.column_names, step
    assert ours.primary_key == theirs.primary_key, step
    assert (ours.default_charset, ours.default_collation) == (
        theirs.default_charset,
        theirs.default_collation,
    ), step


@pytest.mark.parametrize(("setup", "statements"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evolved_schema_equals_catalog(mariadb, ddl_db, setup, statements):
    name = f"t{uuid.uuid4().hex[:8]}"
    conn = mariadb.connect(database=ddl_db)
    try:
        cur = conn.cursor()
        known: dict[TableId, TableSchema] = {}
        if setup is not None:
            cur.execute(setup.format(t=quote_ident(name)))
            known[TableId(ddl_db, name)] = load_schema(conn, SETTINGS, TableId(ddl_db, name))
        defaults = load_server_defaults(conn, SETTINGS)
        for raw in statements:
            sql = raw.format(t=quote_ident(name)).replace(f"`{name}`_new", f"`{name}_new`")
            sql = sql.replace(f"`{name}`_copy", f"`{name}_copy`")
            cur.execute(sql)
            touched: set[TableId] = set()
            for change in parse_ddl(sql, ddl_db, known=known, defaults=defaults):
                after = evolve(known.get(change.table), change)
                touched.add(change.table)
                if isinstance(change, RenameTable):
                    del known[change.table]
                    assert change.new is not None and after is not None
                    known[change.new] = after
                    touched.add(change.new)
                elif isinstance(change, DropTable) or after is None:
                    known.pop(change.table, None)
                else:
                    known[change.table] = after
                    if isinstance(change, CreateTable):
                        assert change.schema is not None
            for table in touched | set(known):
                _assert_same(known.get(table), _schema(conn, table), f"after {sql!r}")
    finally:
        conn.close()


def test_session_variables_that_change_definitions(mariadb, ddl_db):
    """explicit_defaults_for_timestamp OFF makes TIMESTAMP columns NOT NULL unless declared NULL; sql_mode
    REAL_AS_FLOAT makes REAL a FLOAT. load_server_defaults reads both (the connection's values)."""
    conn = mariadb.connect(database=ddl_db)
    name = f"t{uuid.uuid4().hex[:8]}"
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION explicit_defaults_for_timestamp = 0, sql_mode = 'REAL_AS_FLOAT'")
        defaults = load_server_defaults(conn, SETTINGS)
        assert not defaults.explicit_defaults_for_timestamp and defaults.real_as_float
        sql = (
            f"CREATE TABLE {quote_ident(name)} (t1 TIMESTAMP, t2 TIMESTAMP(3) DEFAULT NULL, t3 TIMESTAMP NULL, "
            "d DATETIME, r REAL, r2 REAL(7,2), f8 FLOAT8, f4 FLOAT4)"
        )
        cur.execute(sql)
        [change] = parse_ddl(sql, ddl_db, defaults=defaults)
        assert isinstance(change, CreateTable)
        _assert_same(change.schema, _schema(conn, TableId(ddl_db, name)), sql)
    finally:
        conn.close()


def test_old_mode_without_utf8_is_utf8mb3(mariadb, ddl_db):
    """MariaDB 10.6+: with old_mode lacking UTF8_IS_UTF8MB3, ``utf8`` in a statement is utf8mb4 (NCHAR and
    ``utf8mb3`` stay utf8mb3); load_server_defaults reads the connection's old_mode."""
    conn = mariadb.connect(database=ddl_db)
    name = f"t{uuid.uuid4().hex[:8]}"
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION old_mode = ''")
        defaults = load_server_defaults(conn, SETTINGS)
        assert defaults.utf8_is_utf8mb4
        sql = (
            f"CREATE TABLE {quote_ident(name)} (a VARCHAR(3) CHARACTER SET utf8, b TEXT COLLATE utf8_bin, "
            "c NCHAR(2), d VARCHAR(2) CHARACTER SET utf8mb3, e CHAR(1) COLLATE utf8mb3_bin, f TEXT) CHARSET=utf8"
        )
        cur.execute(sql)
        [change] = parse_ddl(sql, ddl_db, defaults=defaults)
        assert isinstance(change, CreateTable)
        _assert_same(change.schema, _schema(conn, TableId(ddl_db, name)), sql)
        assert change.schema is not None and change.schema.column("a").charset == "utf8mb4"
    finally:
        conn.close()
    conn = mariadb.connect(database=ddl_db)
    try:
        assert not load_server_defaults(conn, SETTINGS).utf8_is_utf8mb4  # the default old_mode has it
    finally:
        conn.close()


#: statements whose binlog text (QueryEvents, as the stream reads them) is parsed in order; `{o}` is
#: another database, the current one while some statements run (names relative to it)
BINLOG_SCRIPT = [
    "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10)) DEFAULT CHARSET=latin1",
    "CREATE TABLE IF NOT EXISTS a (x INT)",  # logged although nothing happens
    "CREATE TABLE b (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, t TEXT, d DECIMAL(8,3))",
    "INSERT INTO a VALUES (1, 'x'), (2, 'y')",
    "CREATE TABLE c AS SELECT id, v, 1 AS one FROM a",  # logged as a CREATE TABLE with columns in row format
    "CREATE TABLE c2 (PRIMARY KEY (id)) SELECT id, v FROM a",
    "ALTER TABLE a ADD COLUMN w INT NOT NULL DEFAULT 0 AFTER id, MODIFY v VARCHAR(20), ALGORITHM=INPLACE",
    "ALTER ONLINE TABLE b CHANGE t body TEXT, ADD INDEX ib (d)",
    "ALTER TABLE b MODIFY body MEDIUMTEXT",
    "CREATE TEMPORARY TABLE tmp (x INT)",
    "DROP TEMPORARY TABLE tmp",
    "RENAME TABLE c TO c_renamed, c2 TO c3",
    "ALTER TABLE b RENAME TO b2",
    "TRUNCATE TABLE a",
    "CREATE TABLE d LIKE a",
    "DROP TABLE IF EXISTS c_renamed, nosuch",
    "USE {o}",
    "ALTER TABLE {db}.a ADD z DATETIME(6)",
    "CREATE TABLE {db}.e (k INT KEY)",
    "ALTER TABLE {db}.d RENAME TO {db}.d2",
    "USE {db}",
    "ALTER TABLE a COMMENT 'done', DEFAULT CHARSET=utf8mb4",
    "ALTER TABLE a ADD u VARCHAR(5)",
    "DROP TABLE e",
]


def test_binlog_query_events_evolve_to_the_catalog(mariadb, ddl_db):
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import QueryEvent

    other = f"{ddl_db}_o"
    mariadb.execute(f"CREATE DATABASE {quote_ident(other)}")
    conn = mariadb.connect(database=ddl_db)
    try:
        cur = conn.cursor()
        cur.execute("SHOW MASTER STATUS")
        log_file, log_pos = cur.fetchone()[:2]
        defaults = load_server_defaults(conn, SETTINGS)
        for raw in BINLOG_SCRIPT:
            cur.execute(raw.format(db=quote_ident(ddl_db), o=quote_ident(other)))
        cur.execute("FLUSH BINARY LOGS")  # ends the file, so the non-blocking read below stops
        stream = BinLogStreamReader(
            connection_settings={"host": mariadb.host, "port": mariadb.port, "user": "root", "password": ""},
            server_id=4242,
            log_file=log_file,
            log_pos=log_pos,
            resume_stream=True,
            blocking=False,
            only_events=[QueryEvent],
        )
        queries = []
        try:
            for ev in stream:
                schema = ev.schema.decode() if isinstance(ev.schema, bytes) else ev.schema
                if ev.query not in ("BEGIN", "COMMIT"):
                    queries.append((schema, ev.query))
        finally:
            stream.close()
        assert any("generated by server" in q for _, q in queries)  # the server rewrites DROP TABLE

        captured = lambda t: t.db == ddl_db  # noqa: E731
        known: dict[TableId, TableSchema] = {}
        seen: set[TableId] = set()
        for schema, query in queries:
            outcome = apply_ddl(
                query,
                schema,
                known,
                is_captured=captured,
                behavior="EVOLVE",
                enabled_tags=frozenset(),
                defaults=defaults,
            )
            known = outcome.schemas
            for c in outcome.changes:
                seen.add(c.change.table)
                if isinstance(c.change, RenameTable):
                    assert c.change.new is not None
                    seen.add(c.change.new)
        assert sorted(t.table for t in known) == ["a", "b2", "c3", "d2"]
        for table in seen | set(known):
            _assert_same(known.get(table), _schema(conn, table), f"{table} after the script")
    finally:
        conn.close()
        mariadb.execute(f"DROP DATABASE IF EXISTS {quote_ident(other)}")


def test_server_defaults_name_the_server(mariadb):
    """The adapter tells the describer which server it follows: this MariaDB, at its version."""
    conn = mariadb.connect()
    try:
        server = load_server_defaults(conn, SETTINGS).server
    finally:
        conn.close()
    assert (server.flavor, server.version) == ("mariadb", mariadb.version_tuple)
    assert server.utf8mb3_name == "utf8mb3" and not server.native_json


def test_builtin_charset_table_is_the_servers(mariadb):
    """MARIADB_CHARSETS (used when the caller passes no ServerDefaults.charsets) is MariaDB 10.11's table."""
    conn = mariadb.connect()
    try:
        server = load_server_defaults(conn, SETTINGS).charsets
    finally:
        conn.close()
    assert {k: (v.default_collation, v.mbmaxlen) for k, v in server.items()} == {
        k: (v.default_collation, v.mbmaxlen) for k, v in MARIADB_CHARSETS.items()
    }
