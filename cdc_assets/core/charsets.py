"""Character sets as the DDL parser needs them: each set's default collation and bytes per character,
and what the source server defaults to (:class:`ServerDefaults`).

A text column's character set is its own ``CHARACTER SET`` / ``COLLATE``, else its table's default,
else its database's (``information_schema.SCHEMATA``); :func:`cdc_assets.mysql.catalog.load_server_defaults`
reads all of these from the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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
