"""GTIDs and GTID sets as values, MySQL and MariaDB flavors (re-exported by ``cdc_assets.core.offsets``).

Everything here is immutable and compares by value; nothing talks to a server.

- ``MySqlGtidSet``: the transactions a MySQL server has executed, as ``uuid:1-5:7-9``. An
  interval ``a-b`` on the text is *inclusive*: it names the transactions numbered a, a+1, ..., b
  that originated on the server whose ``server_uuid`` is ``uuid``. MySQL 8.3+ tagged GTIDs
  (``uuid:tag:1-5``) form their own interval lists beside the untagged ones.
- ``MariaDbGtidSet``: MariaDB's ``gtid_binlog_pos`` / ``gtid_slave_pos``, one
  ``domain-server-seq`` per replication domain. Within a domain transactions are ordered by
  ``seq``, so the last one applied stands for all before it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

FLAVORS: tuple[str, ...] = ("mysql", "mariadb")

_MAX_GNO = 2**63 - 1  # MySQL transaction numbers are signed 64-bit and start at 1
_MAX_U32 = 2**32 - 1  # MariaDB domain and server ids
_MAX_U64 = 2**64 - 1  # MariaDB sequence numbers

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# MySQL tags: a letter or underscore, then letters, digits, underscores; 32 characters at most;
# case-insensitive, printed in lower case.
_TAG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
# [0-9], not \d: \d also matches non-ASCII digits, which int() would accept.
_INTERVAL_RE = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_MARIADB_GTID_RE = re.compile(r"([0-9]+)-([0-9]+)-([0-9]+)")

_MYSQL_SET_FORM = (
    "UUID[:TAG]:N[-M][:N[-M]...][,UUID:...] such as 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9"
)
_MARIADB_SET_FORM = "DOMAIN-SERVER-SEQ[,DOMAIN-SERVER-SEQ...] such as 0-1-100,1-2-7"


# --------------------------------------------------------------------------------------------
# MySQL GTIDs


def _gno(text: str, where: str) -> int:
    n = int(text)
    if not 1 <= n <= _MAX_GNO:
        raise ValueError(f"{where}: transaction number {n} is out of range 1..{_MAX_GNO}")
    return n


@dataclass(frozen=True)
class MySqlGtid:
    """One MySQL transaction: ``uuid:gno`` or, tagged (MySQL 8.3+), ``uuid:tag:gno``.

    ``uuid`` and ``tag`` are kept in lower case (MySQL compares them case-insensitively);
    ``tag`` is ``""`` for an untagged GTID.
    """

    uuid: str
    gno: int
    tag: str = ""

    flavor: ClassVar[str] = "mysql"

    def __post_init__(self) -> None:
        if not isinstance(self.uuid, str) or not _UUID_RE.fullmatch(self.uuid):
            raise ValueError(
                f"{self.uuid!r} is not a server UUID such as 3e11fa47-71ca-11e1-9e33-c80aa9429562"
            )
        if self.tag and not _TAG_RE.fullmatch(self.tag):
            raise ValueError(
                f"{self.tag!r} is not a GTID tag: expected a letter or _ then up to 31 letters, digits or _"
            )
        if type(self.gno) is not int or not 1 <= self.gno <= _MAX_GNO:
            raise ValueError(f"GTID transaction number {self.gno!r} is out of range 1..{_MAX_GNO}")
        object.__setattr__(self, "uuid", self.uuid.lower())
        object.__setattr__(self, "tag", self.tag.lower())

    @classmethod
    def parse(cls, text: str) -> MySqlGtid:
        """``"uuid:7"`` or ``"uuid:tag:7"``."""
        parts = [p.strip() for p in text.strip().split(":")]
        if len(parts) not in (2, 3) or not re.fullmatch(r"[0-9]+", parts[-1]):
            raise ValueError(f"{text!r} is not a MySQL GTID: expected UUID:N or UUID:TAG:N")
        tag = parts[1] if len(parts) == 3 else ""
        return cls(parts[0], int(parts[-1]), tag)

    def __str__(self) -> str:
        return f"{self.uuid}:{self.tag}:{self.gno}" if self.tag else f"{self.uuid}:{self.gno}"


Interval = tuple[int, int]  # (first, last), both inclusive, first <= last
_MySqlKey = tuple[str, str]  # (uuid, tag); tag "" = untagged


def _merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sort and merge overlapping or adjacent inclusive intervals (1-5 and 6-9 become 1-9)."""
    merged: list[Interval] = []
    for first, last in sorted(intervals):
        if merged and first <= merged[-1][1] + 1:
            if last > merged[-1][1]:
                merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return tuple(merged)


def _covers(intervals: tuple[Interval, ...], first: int, last: int) -> bool:
    """Is [first, last] inside one of ``intervals`` (sorted, merged)?"""
    i = bisect.bisect_right(intervals, (first, _MAX_GNO + 1)) - 1
    return i >= 0 and intervals[i][0] <= first and last <= intervals[i][1]


class _SetOperators:
    """``|`` is ``union``; ``<=``, ``<``, ``>=``, ``>`` are subset/superset tests as for Python sets.

    Operands of another class (another flavor) give ``NotImplemented``, hence ``TypeError``.
    """

    def __or__(self, other: object) -> Any:
        return self.union(other) if type(other) is type(self) else NotImplemented  # type: ignore[attr-defined]

    def __le__(self, other: object) -> bool:
        return self.issubset(other) if type(other) is type(self) else NotImplemented  # type: ignore[attr-defined]

    def __lt__(self, other: object) -> bool:
        return self != other and self <= other if type(other) is type(self) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return other.issubset(self) if type(other) is type(self) else NotImplemented  # type: ignore[attr-defined]

    def __gt__(self, other: object) -> bool:
        return self != other and self >= other if type(other) is type(self) else NotImplemented


@dataclass(frozen=True, eq=True)
class MySqlGtidSet(_SetOperators):
    """A set of MySQL GTIDs such as ``gtid_executed``, kept normalized.

    ``ranges`` holds one ``(uuid, tag, intervals)`` per transaction source, sorted by uuid then
    tag (untagged first); ``intervals`` are inclusive ``(first, last)`` pairs, sorted, with
    overlapping and adjacent ones merged. Two sets are equal when they contain the same
    transactions, whatever text they were parsed from. ``<=``/``<`` are subset tests, as for
    Python sets; there is no total order.
    """

    ranges: tuple[tuple[str, str, tuple[Interval, ...]], ...] = ()

    flavor: ClassVar[str] = "mysql"

    def __post_init__(self) -> None:
        by_key: dict[_MySqlKey, list[Interval]] = {}
        for uuid, tag, intervals in self.ranges:
            key = (MySqlGtid(uuid, 1, tag).uuid, tag.lower())  # validates and lower-cases
            for first, last in intervals:
                if type(first) is not int or type(last) is not int or not 1 <= first <= last <= _MAX_GNO:
                    raise ValueError(f"GTID interval {first}-{last} for {uuid} is not 1 <= first <= last")
            by_key.setdefault(key, []).extend(intervals)
        normalized = tuple((u, t, _merge(iv)) for (u, t), iv in sorted(by_key.items()) if iv)
        object.__setattr__(self, "ranges", normalized)

    @classmethod
    def parse(cls, text: str) -> MySqlGtidSet:
        """Parse ``gtid_executed`` / ``Executed_Gtid_Set`` text; ``""`` is the empty set.

        Accepts what MySQL prints: ``uuid:1-5:7-9,uuid2:1-3``, whitespace and newlines after the
        commas, upper- or lower-case UUIDs, tagged sources (``uuid:1-5:tag:1-3``), overlapping
        or unmerged intervals and repeated UUIDs (all merged).
        """
        by_key: dict[_MySqlKey, list[Interval]] = {}
        if not text.strip():
            return cls()
        for element in text.split(","):
            parts = [p.strip() for p in element.strip().split(":")]

            def bad(reason: str, _el: str = element.strip()) -> ValueError:
                return ValueError(
                    f"{text!r} is not a MySQL GTID set: {reason} in {_el!r}; expected {_MYSQL_SET_FORM}"
                )

            if not _UUID_RE.fullmatch(parts[0]):
                raise bad(f"{parts[0]!r} is not a server UUID")
            if len(parts) < 2:
                raise bad("no transaction interval after the UUID")
            key: _MySqlKey = (parts[0].lower(), "")
            expect_interval = False  # a tag must be followed by an interval
            for part in parts[1:]:
                m = _INTERVAL_RE.fullmatch(part)
                if m:
                    first = _gno(m.group(1), f"MySQL GTID set {text!r}")
                    last = _gno(m.group(2), f"MySQL GTID set {text!r}") if m.group(2) else first
                    if last < first:
                        raise bad(f"interval {part!r} ends before it starts")
                    by_key.setdefault(key, []).append((first, last))
                    expect_interval = False
                elif _TAG_RE.fullmatch(part):
                    if expect_interval:
                        raise bad(f"tag {key[1]!r} has no transaction interval")
                    key = (key[0], part)  # lower-cased with the rest in __post_init__
                    expect_interval = True
                else:
                    raise bad(f"{part!r} is neither an interval N or N-M nor a tag")
            if expect_interval:
                raise bad(f"tag {key[1]!r} has no transaction interval")
        return cls(tuple((u, t, tuple(iv)) for (u, t), iv in by_key.items()))

    def __str__(self) -> str:
        """Canonical text: lower case, sorted, merged, one comma-separated entry per UUID."""
        entries: list[str] = []
        for uuid, tag, intervals in self.ranges:
            text = ":".join(f"{a}-{b}" if a != b else str(a) for a, b in intervals)
            text = f"{tag}:{text}" if tag else text
            if entries and entries[-1].startswith(uuid + ":"):
                entries[-1] += ":" + text
            else:
                entries.append(f"{uuid}:{text}")
        return ",".join(entries)

    def __repr__(self) -> str:
        return f"MySqlGtidSet.parse({str(self)!r})"

    @property
    def is_empty(self) -> bool:
        return not self.ranges

    def _intervals(self, uuid: str, tag: str) -> tuple[Interval, ...]:
        for u, t, intervals in self.ranges:
            if (u, t) == (uuid, tag):
                return intervals
        return ()

    def __contains__(self, gtid: object) -> bool:
        """``gtid in s`` for one GTID (a ``MySqlGtid`` or its text)."""
        if isinstance(gtid, str):
            gtid = MySqlGtid.parse(gtid)
        if not isinstance(gtid, MySqlGtid):
            raise TypeError(f"`in` tests one MySqlGtid; use issubset() / <= for {type(gtid).__name__}")
        return _covers(self._intervals(gtid.uuid, gtid.tag), gtid.gno, gtid.gno)

    def issubset(self, other: MySqlGtidSet) -> bool:
        """Every transaction in ``self`` is in ``other``."""
        _same_flavor(self, other)
        return all(
            _covers(other._intervals(u, t), a, b) for u, t, intervals in self.ranges for a, b in intervals
        )

    def union(self, other: MySqlGtidSet) -> MySqlGtidSet:
        _same_flavor(self, other)
        return MySqlGtidSet(self.ranges + other.ranges)

    def add(self, gtid: MySqlGtid | str) -> MySqlGtidSet:
        """A new set that also holds ``gtid``."""
        if isinstance(gtid, str):
            gtid = MySqlGtid.parse(gtid)
        _same_flavor(self, gtid)
        return MySqlGtidSet(self.ranges + ((gtid.uuid, gtid.tag, ((gtid.gno, gtid.gno),)),))


# --------------------------------------------------------------------------------------------
# MariaDB GTIDs


@dataclass(frozen=True)
class MariaDbGtid:
    """One MariaDB transaction: ``domain-server-seq`` such as ``0-1-100``."""

    domain: int
    server_id: int
    seq: int

    flavor: ClassVar[str] = "mariadb"

    def __post_init__(self) -> None:
        for name, value, top in (
            ("domain id", self.domain, _MAX_U32),
            ("server id", self.server_id, _MAX_U32),
            ("sequence number", self.seq, _MAX_U64),
        ):
            if type(value) is not int or not 0 <= value <= top:
                raise ValueError(f"MariaDB GTID {name} {value!r} is out of range 0..{top}")

    @classmethod
    def parse(cls, text: str) -> MariaDbGtid:
        m = _MARIADB_GTID_RE.fullmatch(text.strip())
        if not m:
            raise ValueError(f"{text!r} is not a MariaDB GTID: expected DOMAIN-SERVER-SEQ such as 0-1-100")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)))

    def __str__(self) -> str:
        return f"{self.domain}-{self.server_id}-{self.seq}"


@dataclass(frozen=True)
class MariaDbGtidSet(_SetOperators):
    """MariaDB's replication position: the last GTID applied in each replication domain.

    ``positions`` holds one ``MariaDbGtid`` per domain, sorted by domain. Transactions in a
    domain are applied in ``seq`` order, so the entry stands for every GTID of that domain with a
    lower or equal ``seq``, whichever server wrote it. Built from several GTIDs of one domain
    (``gtid_binlog_state`` lists one per server), the one with the highest ``seq`` is kept; on a
    tie the one given last. Equality includes the server ids, as the text does.
    """

    positions: tuple[MariaDbGtid, ...] = ()

    flavor: ClassVar[str] = "mariadb"

    def __post_init__(self) -> None:
        by_domain: dict[int, MariaDbGtid] = {}
        for gtid in self.positions:
            if not isinstance(gtid, MariaDbGtid):
                raise TypeError(f"MariaDbGtidSet holds MariaDbGtid values, not {type(gtid).__name__}")
            current = by_domain.get(gtid.domain)
            if current is None or gtid.seq >= current.seq:
                by_domain[gtid.domain] = gtid
        object.__setattr__(self, "positions", tuple(by_domain[d] for d in sorted(by_domain)))

    @classmethod
    def parse(cls, text: str) -> MariaDbGtidSet:
        """Parse ``gtid_binlog_pos`` / ``gtid_slave_pos`` text; ``""`` is the empty set."""
        if not text.strip():
            return cls()
        gtids = []
        for element in text.split(","):
            m = _MARIADB_GTID_RE.fullmatch(element.strip())
            if not m:
                raise ValueError(
                    f"{text!r} is not a MariaDB GTID position: {element.strip()!r} is not "
                    f"DOMAIN-SERVER-SEQ; expected {_MARIADB_SET_FORM}"
                )
            gtids.append(MariaDbGtid(int(m.group(1)), int(m.group(2)), int(m.group(3))))
        return cls(tuple(gtids))

    def __str__(self) -> str:
        return ",".join(str(g) for g in self.positions)

    def __repr__(self) -> str:
        return f"MariaDbGtidSet.parse({str(self)!r})"

    @property
    def is_empty(self) -> bool:
        return not self.positions

    @property
    def domains(self) -> tuple[int, ...]:
        return tuple(g.domain for g in self.positions)

    def get(self, domain: int) -> MariaDbGtid | None:
        """The position in ``domain``, or ``None`` if the set has none there."""
        for g in self.positions:
            if g.domain == domain:
                return g
        return None

    def __contains__(self, gtid: object) -> bool:
        """``gtid in s``: same domain, and ``gtid.seq`` <= the set's seq for that domain."""
        if isinstance(gtid, str):
            gtid = MariaDbGtid.parse(gtid)
        if not isinstance(gtid, MariaDbGtid):
            raise TypeError(f"`in` tests one MariaDbGtid; use issubset() / <= for {type(gtid).__name__}")
        mine = self.get(gtid.domain)
        return mine is not None and gtid.seq <= mine.seq

    def issubset(self, other: MariaDbGtidSet) -> bool:
        """Every domain of ``self`` is in ``other`` with a seq at least as high."""
        _same_flavor(self, other)
        return all(g in other for g in self.positions)

    def union(self, other: MariaDbGtidSet) -> MariaDbGtidSet:
        """Per domain, the higher seq (on a tie, ``self``'s entry)."""
        _same_flavor(self, other)
        return MariaDbGtidSet(other.positions + self.positions)

    def add(self, gtid: MariaDbGtid | str) -> MariaDbGtidSet:
        """A new set where ``gtid`` replaces its domain's entry if its seq is higher."""
        if isinstance(gtid, str):
            gtid = MariaDbGtid.parse(gtid)
        _same_flavor(self, gtid)
        mine = self.get(gtid.domain)
        if mine is not None and gtid.seq <= mine.seq:
            return self
        return MariaDbGtidSet(self.positions + (gtid,))


GtidSet = MySqlGtidSet | MariaDbGtidSet
Gtid = MySqlGtid | MariaDbGtid
_SET_TYPES: dict[str, type[MySqlGtidSet] | type[MariaDbGtidSet]] = {
    "mysql": MySqlGtidSet,
    "mariadb": MariaDbGtidSet,
}


def _same_flavor(a: object, b: object) -> None:
    if getattr(a, "flavor", None) != getattr(b, "flavor", object()):
        raise TypeError(
            f"cannot combine a {getattr(a, 'flavor', type(a).__name__)} GTID set with "
            f"{type(b).__name__} ({getattr(b, 'flavor', '?')})"
        )


def _check_flavor(flavor: str | None) -> None:
    if flavor is not None and flavor not in FLAVORS:
        raise ValueError(f"unknown server flavor {flavor!r}; expected one of {FLAVORS}")


def detect_gtid_flavor(text: str) -> str:
    """``"mysql"`` for ``uuid:...`` text, ``"mariadb"`` for ``d-s-n`` text; ``ValueError`` otherwise."""
    first = text.split(",")[0].strip()
    if _MARIADB_GTID_RE.fullmatch(first):
        return "mariadb"
    if _UUID_RE.match(first) and ":" in first:
        return "mysql"
    if not first:
        raise ValueError(
            "cannot tell the flavor of an empty GTID set: pass flavor='mysql' or flavor='mariadb'"
        )
    raise ValueError(
        f"{text!r} is neither a MySQL GTID set ({_MYSQL_SET_FORM}) nor a MariaDB GTID position "
        f"({_MARIADB_SET_FORM})"
    )


def parse_gtid_set(text: str, flavor: str | None = None) -> MySqlGtidSet | MariaDbGtidSet:
    """Parse a GTID set of ``flavor`` (``"mysql"`` / ``"mariadb"``), or detect it when ``None``.

    Detection needs a non-empty text; an empty set needs an explicit flavor.
    """
    _check_flavor(flavor)
    return _SET_TYPES[flavor or detect_gtid_flavor(text)].parse(text)


def parse_gtid(text: str, flavor: str | None = None) -> MySqlGtid | MariaDbGtid:
    """Parse one GTID (``uuid:7``, ``uuid:tag:7`` or ``0-1-100``), detecting the flavor when ``None``."""
    _check_flavor(flavor)
    if (flavor or detect_gtid_flavor(text)) == "mariadb":
        return MariaDbGtid.parse(text)
    return MySqlGtid.parse(text)


def empty_gtid_set(flavor: str) -> MySqlGtidSet | MariaDbGtidSet:
    """The empty GTID set of ``flavor``."""
    _check_flavor(flavor)
    return _SET_TYPES[flavor]()
