"""Which server wrote the binlog, and the rules by which it describes a column it creates.

MySQL and MariaDB accept much the same column definitions but print them differently in
``information_schema.COLUMNS``: the DDL describer (:mod:`cdc_assets.core.ddl_columns`) asks a
:class:`SourceServer` instead of assuming one server. Each rule names where it is documented.
MariaDB's rules are checked against a real MariaDB 10.11 (``cdc_assets_tests/test_ddl_mariadb.py``);
MySQL's come from the MySQL reference manual and worklogs only (no MySQL server runs in the tests;
``cdc_assets_tests/test_ddl_servers.py``).

Where the servers differ only in COLUMN_DEFAULT or EXTRA (MariaDB 10.2.7+ writes ``current_timestamp()``
and quotes string defaults, MySQL writes ``CURRENT_TIMESTAMP`` and bare strings; an implied TIMESTAMP
default when explicit_defaults_for_timestamp is OFF; INVISIBLE), nothing here applies: the schema in
force (:class:`~cdc_assets.core.schema.Column`) holds neither, and a new column's default reaches the sinks
as the statement wrote it (``default_sql``), on both servers alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdc_assets.core.offsets import parse_server_version

#: MariaDB types MySQL does not have (MariaDB 10.5 INET6, 10.7 UUID, 10.10 INET4): a MySQL server
#: refuses them, so they never reach its binlog
MARIADB_ONLY_TYPES = ("uuid", "inet4", "inet6")


@dataclass(frozen=True)
class SourceServer:
    """A source server's flavor (``"mariadb"`` or ``"mysql"``) and version ``(major, minor, patch)``."""

    flavor: str
    version: tuple[int, int, int]

    def __post_init__(self) -> None:
        if self.flavor not in ("mariadb", "mysql"):
            raise ValueError(f"unknown server flavor {self.flavor!r}: expected 'mariadb' or 'mysql'")

    @classmethod
    def parse(cls, version_text: str) -> SourceServer:
        """``SELECT VERSION()`` -> the server (``8.0.36`` is MySQL, ``10.11.6-MariaDB`` MariaDB)."""
        flavor, version = parse_server_version(version_text)
        return cls(flavor, version)

    def __str__(self) -> str:
        return f"{'MariaDB' if self.flavor == 'mariadb' else 'MySQL'} {'.'.join(map(str, self.version))}"

    @property
    def is_mysql(self) -> bool:
        return self.flavor == "mysql"

    def _mysql_since(self, *version: int) -> bool:
        return self.is_mysql and self.version >= version

    def integer_type(self, name: str, width: int, unsigned: bool, zerofill: bool) -> str:
        """COLUMN_TYPE of an integer column (``width``: the display width given, or the type's default).

        MySQL 8.0.19+ no longer shows the display width, except for a signed TINYINT(1) and with
        ZEROFILL (MySQL 8.0.19 release notes, as Connector/J 8.0.19's notes quote them: "removed the
        display width ... from results of SHOW CREATE TABLE ... and queries on
        INFORMATION_SCHEMA.COLUMNS ... (except for the display width for signed TINYINT(1))"; WL#13528
        "Remove integer display width from SHOW CREATE output": kept "if ZEROFILL is also given";
        reference manual 13.1.1 "Numeric Data Type Syntax"). MySQL 5.7 and MariaDB show it.
        """
        suffix = (" unsigned" if unsigned else "") + (" zerofill" if zerofill else "")
        hidden = self._mysql_since(8, 0, 19) and not zerofill
        if hidden and not (name == "tinyint" and width == 1 and not unsigned):
            return f"{name}{suffix}"
        return f"{name}({width}){suffix}"

    @property
    def year_type(self) -> str:
        """COLUMN_TYPE of YEAR: ``year`` on MySQL 8.0.19+ (reference manual 13.2.4 "The YEAR Type": YEAR(4)
        deprecated as of 8.0.19; WL#13537 F-5: "INFORMATION_SCHEMA.COLUMNS should not show display width
        for YEAR columns"), else ``year(4)``."""
        return "year" if self._mysql_since(8, 0, 19) else "year(4)"

    @property
    def utf8mb3_name(self) -> str:
        """How the catalog spells the 3-byte UTF-8 character set (``utf8`` / ``utf8mb3`` in a statement).

        MySQL before 8.0.30 shows ``utf8`` and ``utf8_*`` collations (5.7 manual 10.9.2 "The utf8mb3
        Character Set": "MySQL immediately converts instances of utf8mb3 in statements to utf8, so in
        ... SELECT CHARACTER_SET_NAME FROM INFORMATION_SCHEMA.COLUMNS ... users see the name utf8");
        MySQL 8.0.30+ shows ``utf8mb3`` and ``utf8mb3_*`` (8.0.30 release notes, Bug #33787300; 8.4
        manual 12.9.3). MariaDB shows ``utf8mb3`` since 10.6.1 (MDEV-8334), ``utf8`` before.
        """
        if self.is_mysql:
            return "utf8mb3" if self.version >= (8, 0, 30) else "utf8"
        return "utf8mb3" if self.version >= (10, 6, 1) else "utf8"

    @property
    def has_utf8_old_mode(self) -> bool:
        """Whether ``utf8`` may mean utf8mb4, by the session's ``old_mode`` (MariaDB 10.6.1+: ``utf8`` is utf8mb3
        only while old_mode has UTF8_IS_UTF8MB3, its default; MariaDB KB "old_mode"). MySQL 5.7 / 8.x: never
        (``utf8`` is utf8mb3, MySQL 8.4 manual 12.9.3)."""
        return not self.is_mysql and self.version >= (10, 6, 1)

    @property
    def native_json(self) -> bool:
        """JSON is its own type on MySQL 5.7.8+ (reference manual 13.5 "The JSON Data Type"): COLUMN_TYPE
        ``json`` and no character set. The manual does not show the COLUMNS row: CHARACTER_SET_NAME /
        COLLATION_NAME are NULL by the view's definition (mysql-server sql/dd/impl/system_views/columns.cc
        lists only the string and BLOB types); CHARACTER_MAXIMUM_LENGTH is taken as NULL, which is not
        confirmed. On MariaDB JSON is an alias for LONGTEXT with a ``json_valid`` CHECK (MariaDB KB "JSON
        Data Type"), described as ``longtext`` in utf8mb4_bin."""
        return self._mysql_since(5, 7, 8)

    @property
    def geometrycollection_type(self) -> str:
        """DATA_TYPE of GEOMETRYCOLLECTION: ``geomcollection`` on MySQL 8.0 (WL#2388 F-2: "The column
        DATA_TYPE in view INFORMATION_SCHEMA.COLUMNS MUST contain GEOMCOLLECTION"; reference manual
        13.4.2.8 "GeometryCollection Class": "GeomCollection the preferred type name")."""
        return "geomcollection" if self._mysql_since(8, 0, 0) else "geometrycollection"

    def has_type(self, name: str) -> bool:
        """Whether the server has the type at all (the MariaDB-only types are not MySQL's)."""
        return not (self.is_mysql and name in MARIADB_ONLY_TYPES)


#: what the describer assumes when it is not told: the server the catalog-comparison tests run
MARIADB_10_11 = SourceServer("mariadb", (10, 11, 0))
