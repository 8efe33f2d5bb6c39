"""Binlog offsets as values: file/position, GTID sets (MySQL and MariaDB), and the restart point.

Everything here is immutable and compares by value; nothing talks to a server. Three kinds of
coordinates exist, and a restart point may carry any of them:

- ``BinlogPosition``: ``mysql-bin.000003:1234``, a byte offset in one server's binlog files. It
  means nothing on another server (after a failover, resume by GTID instead).
- ``MySqlGtidSet``: the transactions a MySQL server has executed, as ``uuid:1-5:7-9``. An
  interval ``a-b`` on the text is *inclusive*: it names the transactions numbered a, a+1, ..., b
  that originated on the server whose ``server_uuid`` is ``uuid``. MySQL 8.3+ tagged GTIDs
  (``uuid:tag:1-5``) form their own interval lists beside the untagged ones.
- ``MariaDbGtidSet``: MariaDB's ``gtid_binlog_pos`` / ``gtid_slave_pos``, one
  ``domain-server-seq`` per replication domain. Within a domain transactions are ordered by
  ``seq``, so the last one applied stands for all before it.

Only a restart point *after a committed transaction* is ever stored (see ``RestartPoint``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import total_ordering
from typing import Any, ClassVar

FLAVORS: tuple[str, ...] = ("mysql", "mariadb")

# A binlog file starts with a 4-byte magic number, so no event can start before byte 4.
MIN_BINLOG_POS = 4
_MAX_GNO = 2**63 - 1  # MySQL transaction numbers are signed 64-bit and start at 1
_MAX_U32 = 2**32 - 1  # MariaDB domain and server ids
_MAX_U64 = 2**64 - 1  # MariaDB sequence numbers

_FILE_RE = re.compile(r"(\S+)\.([0-9]+)")
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
# File and position


@total_ordering
@dataclass(frozen=True)
class BinlogPosition:
    """A byte offset ``pos`` (>= 4) in binlog file ``file`` (``<base name>.<number>``).

    Ordered by (base name, file number as an integer, pos), so ``mysql-bin.000010`` sorts after
    ``mysql-bin.000009`` and after ``mysql-bin.999999`` comes ``mysql-bin.1000000``. Positions in
    files with different base names belong to different binlog series (another server, or a
    changed ``log_bin``) and are not comparable: ordering them raises ``ValueError``.
    """

    file: str
    pos: int

    def __post_init__(self) -> None:
        if not isinstance(self.file, str) or not _FILE_RE.fullmatch(self.file):
            raise ValueError(
                f"binlog file name {self.file!r} is not of the form BASENAME.NUMBER such as mysql-bin.000003"
            )
        if type(self.pos) is not int or self.pos < MIN_BINLOG_POS:
            raise ValueError(
                f"binlog position {self.pos!r} in {self.file} is invalid: it must be an integer >= "
                f"{MIN_BINLOG_POS} (the binlog header is 4 bytes)"
            )

    @classmethod
    def parse(cls, text: str) -> BinlogPosition:
        """``"mysql-bin.000003:1234"`` -> ``BinlogPosition("mysql-bin.000003", 1234)``."""
        file, sep, pos = text.strip().rpartition(":")
        if not sep or not file or not re.fullmatch(r"[0-9]+", pos):
            raise ValueError(
                f"{text!r} is not a binlog position: expected FILE:POS such as mysql-bin.000003:1234"
            )
        return cls(file, int(pos))

    def __str__(self) -> str:
        return f"{self.file}:{self.pos}"

    @property
    def base_name(self) -> str:
        """``mysql-bin`` for ``mysql-bin.000003``."""
        return self.file.rpartition(".")[0]

    @property
    def file_number(self) -> int:
        """``3`` for ``mysql-bin.000003``."""
        return int(self.file.rpartition(".")[2])

    def sort_key(self) -> tuple[str, int, int]:
        return (self.base_name, self.file_number, self.pos)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, BinlogPosition):
            return NotImplemented
        if self.base_name != other.base_name:
            raise ValueError(
                f"cannot order binlog positions {self} and {other}: they are in different binlog "
                f"series ({self.base_name!r} and {other.base_name!r}); compare GTID sets instead"
            )
        return self.sort_key() < other.sort_key()


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


# --------------------------------------------------------------------------------------------
# The restart point


@dataclass(frozen=True)
class RestartPoint:
    """Where to resume the binlog stream, saved only after the sink acknowledged everything before.

    ``position`` is where the next transaction starts (the end of the last committed one), and
    ``gtid_set`` the transactions applied so far (resume by GTID after a failover, where file
    names mean nothing). At least one of them is set. ``server_id`` is the source server that
    wrote the last event, ``event_time`` that event's timestamp in unix seconds (for lag).

    A restart point normally sits at a transaction boundary, so a crash can never resume in the
    middle of a transaction with half of it lost. When a large transaction is applied in parts,
    ``position`` stays at the transaction's start and ``skip_events`` / ``skip_rows`` count the
    events and rows of it already applied (Debezium's ``skip-events`` / ``skip-rows``); both
    default to 0.
    """

    position: BinlogPosition | None = None
    gtid_set: MySqlGtidSet | MariaDbGtidSet | None = None
    server_id: int | None = None
    event_time: int | None = None
    skip_events: int = 0
    skip_rows: int = 0

    #: version of the ``to_dict`` format; ``from_dict`` refuses any other
    FORMAT_VERSION: ClassVar[int] = 1

    def __post_init__(self) -> None:
        if self.position is None and self.gtid_set is None:
            raise ValueError("a restart point needs a binlog position, a GTID set, or both")
        if self.position is not None and not isinstance(self.position, BinlogPosition):
            raise TypeError(f"position must be a BinlogPosition, not {type(self.position).__name__}")
        if self.gtid_set is not None and not isinstance(self.gtid_set, MySqlGtidSet | MariaDbGtidSet):
            raise TypeError(f"gtid_set must be a GTID set, not {type(self.gtid_set).__name__}")
        for name, top in (("server_id", _MAX_U32), ("event_time", None)):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0 or (top and value > top)):
                raise ValueError(f"restart point {name} {value!r} must be a non-negative integer or None")
        for name in ("skip_events", "skip_rows"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"restart point {name} {value!r} must be an integer >= 0")

    def __str__(self) -> str:
        """One line for logs: ``mysql-bin.000003:1234 gtid=0-1-100`` (+ skips when non-zero)."""
        parts = [str(self.position)] if self.position is not None else []
        if self.gtid_set is not None:
            parts.append(f"gtid={self.gtid_set}" if not self.gtid_set.is_empty else "gtid=(empty)")
        if self.skip_events or self.skip_rows:
            parts.append(f"skip_events={self.skip_events} skip_rows={self.skip_rows}")
        return " ".join(parts)

    def advance(
        self,
        position: BinlogPosition,
        gtid: MySqlGtid | MariaDbGtid | str | None = None,
        event_time: int | None = None,
        server_id: int | None = None,
    ) -> RestartPoint:
        """The restart point after one more committed transaction.

        ``position`` is where the next transaction starts; ``gtid`` (if any) is the committed
        transaction's GTID and is added to the set (a set of its flavor is started if there was
        none). ``event_time`` and ``server_id`` replace the old values when given. The skips go
        back to 0: the new point is a transaction boundary. Positions may go backwards (after a
        failover the new server's files are numbered independently), so no order is enforced.
        """
        gtid_set = self.gtid_set
        if gtid is not None:
            if isinstance(gtid, str):
                gtid = parse_gtid(gtid, gtid_set.flavor if gtid_set is not None else None)
            if gtid_set is None:
                gtid_set = empty_gtid_set(gtid.flavor)
            gtid_set = gtid_set.add(gtid)  # type: ignore[arg-type]  # flavor checked by add()
        return replace(
            self,
            position=position,
            gtid_set=gtid_set,
            event_time=self.event_time if event_time is None else event_time,
            server_id=self.server_id if server_id is None else server_id,
            skip_events=0,
            skip_rows=0,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: only str, int and None values, with ``"v": 1``."""
        return {
            "v": self.FORMAT_VERSION,
            "file": self.position.file if self.position else None,
            "pos": self.position.pos if self.position else None,
            "gtid_flavor": self.gtid_set.flavor if self.gtid_set is not None else None,
            "gtid_set": str(self.gtid_set) if self.gtid_set is not None else None,
            "server_id": self.server_id,
            "event_time": self.event_time,
            "skip_events": self.skip_events,
            "skip_rows": self.skip_rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestartPoint:
        """Inverse of ``to_dict``; ``ValueError`` for another version, unknown keys or bad values."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a saved restart point must be a JSON object, not {type(data).__name__}")
        version = data.get("v")
        if type(version) is not int or version != cls.FORMAT_VERSION:
            raise ValueError(
                f"saved restart point has format version {version!r}; this program reads version "
                f"{cls.FORMAT_VERSION} only (was the state written by a newer release?)"
            )
        unknown = set(data) - _RESTART_POINT_KEYS
        if unknown:
            raise ValueError(f"saved restart point has unknown keys {sorted(unknown)}")
        file, pos = data.get("file"), data.get("pos")
        if (file is None) != (pos is None):
            raise ValueError(f"saved restart point has file={file!r} and pos={pos!r}: both or neither")
        position = BinlogPosition(file, pos) if file is not None else None
        gtid_text, flavor = data.get("gtid_set"), data.get("gtid_flavor")
        if (gtid_text is None) != (flavor is None):
            raise ValueError(
                f"saved restart point has gtid_set={gtid_text!r} and gtid_flavor={flavor!r}: both or neither"
            )
        gtid_set = None
        if gtid_text is not None:
            if flavor not in FLAVORS or not isinstance(gtid_text, str):
                raise ValueError(
                    f"saved restart point has an invalid GTID flavor {flavor!r} or set {gtid_text!r}"
                )
            gtid_set = parse_gtid_set(gtid_text, flavor)
        return cls(
            position=position,
            gtid_set=gtid_set,
            server_id=data.get("server_id"),
            event_time=data.get("event_time"),
            skip_events=data.get("skip_events", 0),
            skip_rows=data.get("skip_rows", 0),
        )


_RESTART_POINT_KEYS = frozenset(RestartPoint(gtid_set=MySqlGtidSet()).to_dict())


# --------------------------------------------------------------------------------------------
# Server versions and the statement that reports the binlog position

_VERSION_RE = re.compile(r"([0-9]+)\.([0-9]+)(?:\.([0-9]+))?")


def parse_server_version(version: str) -> tuple[str, tuple[int, int, int]]:
    """``SELECT VERSION()`` (or the handshake's version) -> ``(flavor, (major, minor, patch))``.

    ``10.11.19-MariaDB-0+deb12u1-log`` -> ``("mariadb", (10, 11, 19))``; ``8.0.36`` ->
    ``("mysql", (8, 0, 36))``. The ``5.5.5-`` prefix MariaDB 10+ puts in its handshake (so that
    old clients do not mistake it for MySQL 10) is removed. A missing patch number is 0.
    """
    text = version.strip() if isinstance(version, str) else ""
    flavor = "mariadb" if "mariadb" in text.lower() else "mysql"
    if flavor == "mariadb" and text.startswith("5.5.5-") and _VERSION_RE.match(text[6:]):
        text = text[6:]
    m = _VERSION_RE.match(text)
    if not m:
        raise ValueError(
            f"cannot read a server version from {version!r}: expected MAJOR.MINOR[.PATCH] such as 8.0.36 "
            f"or 10.11.6-MariaDB"
        )
    return flavor, (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def binlog_status_statements(flavor: str, version: tuple[int, ...]) -> list[str]:
    """The statements that report the current binlog file and position, preferred first.

    Only statements the given version accepts are listed: MySQL 8.2 added ``SHOW BINARY LOG
    STATUS`` and 8.4 removed ``SHOW MASTER STATUS``; MariaDB 10.5.2 renamed it ``SHOW BINLOG
    STATUS`` and keeps the old name as an alias. A caller tries the next one only when the
    server rejects the syntax (a proxy in front may not know the new name). On MariaDB the GTID
    position is not in the result: read ``@@global.gtid_binlog_pos``.
    """
    _check_flavor(flavor)
    v = tuple(version) + (0,) * (3 - len(version))
    if flavor == "mysql":
        if v >= (8, 4, 0):
            return ["SHOW BINARY LOG STATUS"]
        if v >= (8, 2, 0):
            return ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"]
        return ["SHOW MASTER STATUS"]
    if v >= (10, 5, 2):
        return ["SHOW BINLOG STATUS", "SHOW MASTER STATUS"]
    return ["SHOW MASTER STATUS"]
