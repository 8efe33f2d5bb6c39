"""The stand-in's catalog: StarRocks column types, columns and Primary Key table metadata.

Type names, ``toSql`` forms and the analyzer's limit messages follow StarRocks 3.x
(``fe/fe-core/.../analysis/TypeDef.java``, ``ScalarType.toSql``; docs "Data types" and "CREATE TABLE").
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: VARCHAR/VARBINARY length limit in bytes (StarRocks 2.1+ ``OLAP_MAX_VARCHAR_LENGTH``)
MAX_VARCHAR_LENGTH = 1048576
#: CHAR length limit (``MAX_CHAR_LENGTH``)
MAX_CHAR_LENGTH = 255
#: DECIMAL precision limit (DECIMAL128)
MAX_DECIMAL_PRECISION = 38
#: STRING is an alias of this VARCHAR
STRING_LENGTH = 65533
#: LARGEINT value range
LARGEINT_MAX = 2**127 - 1
LARGEINT_MIN = -(2**127) + 1

#: types a Primary Key column may have (docs "Primary Key table"); CHAR, FLOAT, DOUBLE, DECIMAL, JSON are not
KEY_TYPES = frozenset(
    {"BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT", "VARCHAR", "DATE", "DATETIME"}
)

_INT_DISPLAY = {"TINYINT": 4, "SMALLINT": 6, "INT": 11, "BIGINT": 20, "LARGEINT": 40}
_ALIASES = {
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INT": "INT",
    "INTEGER": "INT",
    "BIGINT": "BIGINT",
    "LARGEINT": "LARGEINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DECIMAL": "DECIMAL",
    "DECIMALV2": "DECIMAL",
    "DECIMALV3": "DECIMAL",
    "DECIMAL32": "DECIMAL",
    "DECIMAL64": "DECIMAL",
    "DECIMAL128": "DECIMAL",
    "NUMERIC": "DECIMAL",
    "DATE": "DATE",
    "DATETIME": "DATETIME",
    "CHAR": "CHAR",
    "VARCHAR": "VARCHAR",
    "STRING": "VARCHAR",
    "JSON": "JSON",
    "VARBINARY": "VARBINARY",
    "BINARY": "VARBINARY",
}
_TYPE_RE = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:\(\s*(?P<a>-?\d+)\s*(?:,\s*(?P<b>-?\d+)\s*)?\))?\s*$"
)


class AnalysisError(ValueError):
    """A statement StarRocks' analyzer refuses; the message is StarRocks' own wording."""


@dataclass(frozen=True)
class SrType:
    """One StarRocks scalar type. ``length`` is in bytes; DECIMAL carries precision and scale."""

    name: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    @classmethod
    def parse(cls, text: str) -> SrType:
        """Parse a type as written in DDL or printed by ``toSql`` (``varchar(10)``, ``decimal64(10, 2)``...).

        Lengths and precisions are not range-checked here; :meth:`check` does that with StarRocks' messages.
        """
        m = _TYPE_RE.match(text)
        raw = m.group("name").upper() if m else ""
        name = _ALIASES.get(raw)
        if m is None or name is None:
            raise AnalysisError(f"Unsupported data type: {text.strip()}")
        a = int(m.group("a")) if m.group("a") is not None else None
        b = int(m.group("b")) if m.group("b") is not None else None
        if name == "DECIMAL":
            # StarRocks: DECIMAL alone is DECIMAL(10, 0); DECIMAL(P) has scale 0
            return cls("DECIMAL", precision=10 if a is None else a, scale=0 if b is None else b)
        if b is not None:
            raise AnalysisError(f"Unsupported data type: {text.strip()}")
        if raw == "STRING":
            return cls("VARCHAR", length=STRING_LENGTH)
        if name in ("CHAR", "VARCHAR"):
            return cls(name, length=1 if a is None else a)
        if name == "VARBINARY":
            return cls(name, length=a)
        # display widths such as int(11) carry no meaning in StarRocks
        return cls(name)

    @property
    def decimal_kind(self) -> str:
        """DECIMAL32/64/128: the storage StarRocks picks for the precision."""
        p = self.precision or 0
        return "DECIMAL32" if p <= 9 else "DECIMAL64" if p <= 18 else "DECIMAL128"

    def check(self) -> None:
        """Raise :class:`AnalysisError` with StarRocks' message when a length or precision is out of range."""
        if self.name in ("CHAR", "VARCHAR"):
            label, limit = (
                ("Varchar", MAX_VARCHAR_LENGTH) if self.name == "VARCHAR" else ("Char", MAX_CHAR_LENGTH)
            )
            n = self.length or 0
            if n <= 0:
                raise AnalysisError(f"{label} size must be > 0: {n}")
            if n > limit:
                raise AnalysisError(f"{label} size must be <= {limit}: {n}")
        elif self.name == "VARBINARY":
            if self.length is not None and self.length > MAX_VARCHAR_LENGTH:
                raise AnalysisError(f"VARBINARY size must be <= {MAX_VARCHAR_LENGTH}: {self.length}")
            if self.length is not None and self.length <= 0:
                raise AnalysisError(f"VARBINARY size must be > 0: {self.length}")
        elif self.name == "DECIMAL":
            p, s = self.precision or 0, self.scale or 0
            if p < 1 or p > MAX_DECIMAL_PRECISION:
                raise AnalysisError(
                    f"Precision of {self.decimal_kind} must between 1 and {MAX_DECIMAL_PRECISION}, "
                    f"precision was set to: {p}."
                )
            if s < 0 or s > p:
                # the double space is in StarRocks' message
                raise AnalysisError(
                    f"Scale of {self.decimal_kind} must between 0 and {p},  scale was set to: {s}."
                )

    def to_sql(self) -> str:
        """StarRocks' ``toSql`` form, as SHOW CREATE TABLE and DESC print it."""
        if self.name in _INT_DISPLAY:
            return f"{self.name.lower()}({_INT_DISPLAY[self.name]})"
        if self.name == "DECIMAL":
            return f"{self.decimal_kind.lower()}({self.precision}, {self.scale})"
        if self.name in ("CHAR", "VARCHAR"):
            return f"{self.name.lower()}({self.length})"
        if self.name == "VARBINARY":
            return "varbinary" if self.length is None else f"varbinary({self.length})"
        return self.name.lower()

    @property
    def is_string(self) -> bool:
        return self.name in ("CHAR", "VARCHAR")

    @property
    def is_integer(self) -> bool:
        return self.name in _INT_DISPLAY


@dataclass
class ColumnMeta:
    """One column. ``default`` is the DEFAULT text as written (None: no default); NULL defaults are None."""

    name: str
    type: SrType
    nullable: bool
    is_key: bool
    default: str | None = None
    comment: str = ""


@dataclass
class TableMeta:
    """A Primary Key table. Column names are matched case-insensitively, as StarRocks does."""

    db: str
    name: str
    columns: list[ColumnMeta]
    key: list[str]
    distributed_by: list[str]
    buckets: int | None
    properties: dict[str, str]
    state: str = "NORMAL"
    order_by: list[str] = field(default_factory=list)
    comment: str = ""
    keys_type: str = "PRIMARY_KEYS"
    partition_by: list[str] = field(default_factory=list)  # column expression partitioning (3.1+)

    def column(self, name: str) -> ColumnMeta | None:
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)

    def index_of(self, name: str) -> int:
        """Position of column ``name`` (case-insensitive); -1 when absent."""
        low = name.lower()
        return next((i for i, c in enumerate(self.columns) if c.name.lower() == low), -1)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def copy(self) -> TableMeta:
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableMeta:
        d = dict(d)
        d["columns"] = [ColumnMeta(**{**c, "type": SrType(**c["type"])}) for c in d["columns"]]
        return cls(**d)
