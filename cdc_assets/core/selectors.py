"""Flink CDC table selectors: ``tables: adb.\\.*, bdb.user_table_[0-9]+`` as values.

Syntax (Flink CDC ``Selectors`` / ``Predicates.RegExSplitterBy{Comma,Dot}``):

- A selector list is comma-separated; ``\\,`` is a literal comma inside a regex. Blank entries are
  skipped and each entry is trimmed.
- In each entry the first unescaped ``.`` separates the database regex from the table regex, and
  ``\\.`` inside a part is the regex any-char ``.`` (so ``db1.\\.*`` is database ``db1``, any table).
  Any other ``\\x`` escape is kept as it is for the regex (``\\d``, ``\\\\``).
- A second unescaped ``.`` is rejected: Flink would read ``a.b.c`` as namespace.schema.table, which
  has no meaning for MySQL, and a user who wrote it almost always meant ``\\.``.
- Both parts must match the WHOLE name. Matching ignores ASCII case and ``\\w``/``\\d`` are ASCII,
  as with Java's ``Pattern.CASE_INSENSITIVE`` that Flink uses, so a file selects the same tables
  here as under Flink. Java's named groups ``(?<name>...)`` are accepted.

Capture groups are numbered across the database part and then the table part, in order
(:class:`SelectorMatch`); routing uses them for ``$1``, ``$2`` in ``sink-table``. The two parts are
matched separately, so ``^``/``$`` anchors work inside each part as they do in Java.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cdc_assets.core.schema import TableId

# Java-compatible matching: ASCII case folding and ASCII character classes.
_FLAGS = re.IGNORECASE | re.ASCII
_JAVA_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z])")


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not preceded by an escaping backslash; escapes are kept."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise ValueError(f"'{text}' ends with an unterminated escape '\\'")
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _to_python_regex(part: str) -> str:
    """``\\.`` becomes the any-char ``.``; Java ``(?<name>`` becomes Python ``(?P<name>``."""
    out: list[str] = []
    i = 0
    while i < len(part):
        if part[i] == "\\" and i + 1 < len(part):
            pair = part[i : i + 2]
            out.append("." if pair == "\\." else pair)
            i += 2
        else:
            out.append(part[i])
            i += 1
    return _JAVA_NAMED_GROUP.sub("(?P<", "".join(out))


def _compile(regex: str, what: str, spec: str) -> re.Pattern[str]:
    try:
        return re.compile(regex, _FLAGS)
    except re.error as exc:
        raise ValueError(
            f"table selector '{spec}': the {what} regex '{regex}' is invalid: {exc.msg} at position {exc.pos}"
            " (an unescaped '.' separates database from table; write '\\.' for the regex any-char)"
        ) from None


@dataclass(frozen=True)
class SelectorMatch:
    """A selector's match on one table: the database and table matches seen as one.

    ``group(0)`` is ``db.table``; groups 1..k come from the database regex and k+1.. from the table
    regex. A group that did not take part in the match is None, as in :mod:`re`.
    """

    db: re.Match[str]
    table: re.Match[str]

    def groups(self) -> tuple[str | None, ...]:
        return self.db.groups() + self.table.groups()

    def group(self, index: int = 0) -> str | None:
        if index == 0:
            return f"{self.db.string}.{self.table.string}"
        k = self.db.re.groups
        if 1 <= index <= k:
            return self.db.group(index)
        if k < index <= k + self.table.re.groups:
            return self.table.group(index - k)
        raise IndexError(f"no group {index}; the selector has {k + self.table.re.groups}")

    def groupdict(self) -> dict[str, str | None]:
        return {**self.db.groupdict(), **self.table.groupdict()}


@dataclass(frozen=True)
class TableSelector:
    """One ``db_regex.table_regex`` entry. ``str()`` gives the entry as written."""

    spec: str
    db_regex: str
    table_regex: str
    _db: re.Pattern[str] = field(repr=False, compare=False)
    _table: re.Pattern[str] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, spec: str) -> TableSelector:
        """Parse one entry (no commas). Raises ValueError naming the entry and what is wrong."""
        text = spec.strip()
        if not text:
            raise ValueError("empty table selector; expected db_regex.table_regex")
        parts = _split_unescaped(text, ".")
        if len(parts) == 1:
            raise ValueError(
                f"table selector '{text}' has no '.' between database and table; write it as "
                f"db_regex.table_regex, e.g. 'mydb.{text}' (use '\\.' for the regex any-char)"
            )
        if len(parts) > 2:
            raise ValueError(
                f"table selector '{text}' has {len(parts) - 1} unescaped '.'; only the first separates "
                "database from table, write the regex any-char as '\\.' (e.g. 'db.order\\.*')"
            )
        db_raw, table_raw = (p.strip() for p in parts)
        if not db_raw or not table_raw:
            missing = "database" if not db_raw else "table"
            raise ValueError(f"table selector '{text}' has an empty {missing} regex")
        db_regex, table_regex = _to_python_regex(db_raw), _to_python_regex(table_raw)
        db = _compile(db_regex, "database", text)
        table = _compile(table_regex, "table", text)
        return cls(text, db_regex, table_regex, db, table)

    def match(self, table_id: TableId) -> SelectorMatch | None:
        """Full match of both parts, with the capture groups; None if either part does not match."""
        db = self._db.fullmatch(table_id.db)
        if db is None:
            return None
        table = self._table.fullmatch(table_id.table)
        return None if table is None else SelectorMatch(db, table)

    def matches(self, table_id: TableId) -> bool:
        return self.match(table_id) is not None

    @property
    def group_count(self) -> int:
        """Capture groups in both parts together."""
        return self._db.groups + self._table.groups

    @property
    def group_names(self) -> frozenset[str]:
        """Names of the named groups in both parts."""
        return frozenset(self._db.groupindex) | frozenset(self._table.groupindex)

    def __str__(self) -> str:
        return self.spec


def parse_selectors(text: str) -> list[TableSelector]:
    """A comma-separated selector list (``\\,`` is a literal comma). Raises ValueError."""
    entries = [e.replace("\\,", ",").strip() for e in _split_unescaped(text, ",")]
    entries = [e for e in entries if e]
    if not entries:
        raise ValueError("no table selector given; expected e.g. 'mydb.orders, mydb.\\.*_log'")
    return [TableSelector.parse(e) for e in entries]


def first_match(selectors: Iterable[TableSelector], table_id: TableId) -> SelectorMatch | None:
    """The match of the first selector that matches ``table_id``, or None."""
    for selector in selectors:
        m = selector.match(table_id)
        if m is not None:
            return m
    return None


@dataclass(frozen=True)
class TableFilter:
    """``tables`` minus ``tables.exclude``: a table is captured if an include selector matches it
    and no exclude selector does (exclusion wins, as in Flink)."""

    include: Sequence[TableSelector]
    exclude: Sequence[TableSelector] = ()

    @classmethod
    def from_options(cls, tables: str, tables_exclude: str | None = None) -> TableFilter:
        include = parse_selectors(tables)
        exclude = parse_selectors(tables_exclude) if tables_exclude and tables_exclude.strip() else []
        return cls(tuple(include), tuple(exclude))

    def matches(self, table_id: TableId) -> bool:
        return any(s.matches(table_id) for s in self.include) and not any(
            s.matches(table_id) for s in self.exclude
        )

    def select(self, table_ids: Iterable[TableId]) -> list[TableId]:
        """The captured tables among ``table_ids``, in the given order."""
        return [t for t in table_ids if self.matches(t)]

    def __str__(self) -> str:
        text = ", ".join(s.spec for s in self.include)
        if self.exclude:
            text += " excluding " + ", ".join(s.spec for s in self.exclude)
        return text
