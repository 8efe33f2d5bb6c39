"""Character sets as the DDL parser needs them: each set's default collation and bytes per character,
and what the source server defaults to (:class:`ServerDefaults`).

A text column's character set is its own ``CHARACTER SET`` / ``COLLATE``, else its table's default,
else its database's (``information_schema.SCHEMATA``); :func:`cdc_assets.mysql.catalog.load_server_defaults`
reads all of these from the server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from cdc_assets.core.source_server import MARIADB_10_11, SourceServer


@dataclass(frozen=True)
class Charset:
    """One character set: its default collation and its bytes per character (min and max)."""

    default_collation: str
    mbminlen: int
    mbmaxlen: int


#: ``information_schema.CHARACTER_SETS`` of MariaDB 10.11 (MAXLEN; mbminlen is 2 for the UTF-16 family and
#: UCS-2, 4 for UTF-32, else 1). Other servers: :func:`builtin_charsets`.
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


def builtin_charsets(server: SourceServer) -> Mapping[str, Charset]:
    """The character sets of ``server`` when they are not read from it (pure tests): MariaDB 10.11's table,
    with the 3-byte UTF-8 set spelled as the server spells it (:attr:`SourceServer.utf8mb3_name`) and, on
    MySQL, GB18030 (MySQL 5.7.4+; MySQL reference manual "Asian Character Sets") and, on MySQL 8.0+,
    utf8mb4's default collation utf8mb4_0900_ai_ci (MySQL 8.0 reference manual 12.10.1 "Unicode Character
    Sets"; the 5.7 manual's utf8mb4 default is utf8mb4_general_ci, as MariaDB's)."""
    table = dict(MARIADB_CHARSETS)
    name = server.utf8mb3_name
    if name != "utf8mb3":
        del table["utf8mb3"]
        table[name] = Charset(f"{name}_general_ci", 1, 3)
    if server.is_mysql:
        table["gb18030"] = Charset("gb18030_chinese_ci", 1, 4)
        if server.version >= (8, 0, 0):
            table["utf8mb4"] = Charset("utf8mb4_0900_ai_ci", 1, 4)
    return table


@dataclass(frozen=True)
class ServerDefaults:
    """What the parser must know about the source server to describe new columns as the server does.

    ``databases`` maps a database to its default ``(charset, collation)``
    (``information_schema.SCHEMATA``, then as ``CREATE / ALTER DATABASE`` in the binlog change it:
    :func:`cdc_assets.core.ddl_charset.database_defaults`); a CREATE TABLE without a character set in a
    database not in it gets text columns with charset None. ``explicit_defaults_for_timestamp`` is the server variable
    (ON by default since MariaDB 10.10 and MySQL 8.0.2): when OFF, TIMESTAMP columns without ``NULL``
    are NOT NULL. ``real_as_float`` is sql_mode REAL_AS_FLOAT. ``utf8_is_utf8mb4``: MariaDB 10.6+ with
    ``old_mode`` lacking UTF8_IS_UTF8MB3, where ``utf8`` in a statement means utf8mb4 (MariaDB KB
    "old_mode"; NCHAR and ``utf8mb3`` stay utf8mb3). ``server`` is the source server, whose
    rules the describer follows (:class:`~cdc_assets.core.source_server.SourceServer`; default MariaDB
    10.11). ``charsets`` defaults to :func:`builtin_charsets` of ``server``.
    """

    databases: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    charsets: Mapping[str, Charset] = dataclasses.field(default_factory=dict)
    explicit_defaults_for_timestamp: bool = True
    real_as_float: bool = False
    server: SourceServer = MARIADB_10_11
    utf8_is_utf8mb4: bool = False
    #: ``(character_set_server, collation_server)``: what a database created without one gets
    server_charset: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.charsets:
            object.__setattr__(self, "charsets", builtin_charsets(self.server))

    def charset_name(self, name: str) -> str:
        """A character set name as written in a statement -> as this server's catalog spells it
        (``utf8`` and ``utf8mb3`` are one set, :attr:`SourceServer.utf8mb3_name`)."""
        name = name.lower()
        if name == "utf8" and self.utf8_is_utf8mb4:
            return "utf8mb4"
        return self.server.utf8mb3_name if name in ("utf8", "utf8mb3") else name

    def collation_name(self, name: str) -> str:
        """A collation name as written -> as this server's catalog spells it (``utf8_bin`` / ``utf8mb3_bin``)."""
        name = name.lower()
        if name.startswith("utf8_") and self.utf8_is_utf8mb4:
            return "utf8mb4_" + name[len("utf8_") :]
        for alias in ("utf8_", "utf8mb3_"):
            if name.startswith(alias):
                return f"{self.server.utf8mb3_name}_{name[len(alias) :]}"
        return name

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
