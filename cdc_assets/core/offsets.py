"""Binlog offsets as values: file/position, GTID sets (MySQL and MariaDB), and the restart point.

Everything here is immutable and compares by value; nothing talks to a server. Three kinds of
coordinates exist, and a restart point may carry any of them:

- ``BinlogPosition``: ``mysql-bin.000003:1234``, a byte offset in one server's binlog files. It
  means nothing on another server (after a failover, resume by GTID instead).
- GTID sets (``MySqlGtidSet`` ``uuid:1-5:7-9``, ``MariaDbGtidSet`` ``domain-server-seq``), defined in
  :mod:`cdc_assets.core.gtid` and re-exported here.

Only a restart point *after a committed transaction* is ever stored (see ``RestartPoint``).

The GTID types and functions live in ``cdc_assets.core.gtid`` and are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import total_ordering
from typing import Any, ClassVar

from cdc_assets.core.gtid import (
    _MAX_U32,
    FLAVORS,
    Gtid,
    GtidSet,
    Interval,
    MariaDbGtid,
    MariaDbGtidSet,
    MySqlGtid,
    MySqlGtidSet,
    _check_flavor,
    detect_gtid_flavor,
    empty_gtid_set,
    parse_gtid,
    parse_gtid_set,
)

__all__ = [
    "FLAVORS",
    "MIN_BINLOG_POS",
    "BinlogPosition",
    "Gtid",
    "GtidSet",
    "Interval",
    "MariaDbGtid",
    "MariaDbGtidSet",
    "MySqlGtid",
    "MySqlGtidSet",
    "RestartPoint",
    "binlog_status_statements",
    "detect_gtid_flavor",
    "empty_gtid_set",
    "parse_gtid",
    "parse_gtid_set",
    "parse_server_version",
    "other_server",
    "position_problem",
]

# A binlog file starts with a 4-byte magic number, so no event can start before byte 4.
MIN_BINLOG_POS = 4

_FILE_RE = re.compile(r"(\S+)\.([0-9]+)")


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
# The restart point


@dataclass(frozen=True)
class RestartPoint:
    """Where to resume the binlog stream, saved only after the sink acknowledged everything before.

    ``position`` is where the next transaction starts (the end of the last committed one), and
    ``gtid_set`` the transactions applied so far (resume by GTID after a failover, where file
    names mean nothing). At least one of them is set. ``server_id`` (and, on MySQL, ``server_uuid``)
    name the server whose binlog ``position`` is in: a reader connected to another server resumes
    by ``gtid_set`` instead (see :func:`position_problem`). ``event_time`` is the last event's
    timestamp in unix seconds (for lag).

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
    server_uuid: str | None = None

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
        if self.server_uuid is not None and not isinstance(self.server_uuid, str):
            raise ValueError(f"restart point server_uuid {self.server_uuid!r} must be a string or None")

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
        server_uuid: str | None = None,
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
            server_uuid=self.server_uuid if server_uuid is None else server_uuid,
            skip_events=0,
            skip_rows=0,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: only str, int and None values, with ``"v": 1``. ``server_uuid`` (added later)
        is written only when set, so a point without it stays readable by releases before it."""
        data = {
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
        if self.server_uuid is not None:
            data["server_uuid"] = self.server_uuid
        return data

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
            server_uuid=data.get("server_uuid"),
        )


_RESTART_POINT_KEYS = frozenset(RestartPoint(gtid_set=MySqlGtidSet(), server_uuid="").to_dict())


def other_server(point: RestartPoint, *, server_id: int, server_uuid: str | None) -> str | None:
    """How ``point`` names another server than the one described (``server_uuid`` on MySQL, then
    ``server_id``), or ``None``; a point saved without them is not judged on them."""
    if point.server_uuid and server_uuid and point.server_uuid.lower() != server_uuid.lower():
        return f"it was taken on the server with server_uuid {point.server_uuid}, this one is {server_uuid}"
    if point.server_id is not None and point.server_id != server_id:
        return f"it was taken on the server with server_id {point.server_id}, this one has {server_id}"
    return None


def position_problem(
    point: RestartPoint,
    *,
    server_id: int,
    server_uuid: str | None,
    binlog_files: Mapping[str, int],
    gtid_at_position: MySqlGtidSet | MariaDbGtidSet | None = None,
    gtid_checked: bool = False,
) -> str | None:
    """Why ``point.position`` cannot be used on the server described, or ``None`` if it can.

    A binlog position is a byte offset in one server's files; another server (a replica promoted
    after a failover, a rebuilt primary) may well have files of the same names. The position is
    taken as this server's when every known fact agrees: the server (``server_uuid`` on MySQL,
    ``server_id``; points saved without them are not checked on that), the file is among
    ``binlog_files`` (name -> size) and the position is within it, and, where the server can say
    which GTID state a position has (MariaDB's ``BINLOG_GTID_POS``; ``gtid_checked``), that state
    equals the point's ``gtid_set``.
    """
    if point.position is None:
        return "the restart point has no binlog position"
    elsewhere = other_server(point, server_id=server_id, server_uuid=server_uuid)
    if elsewhere is not None:
        return elsewhere
    size = binlog_files.get(point.position.file)
    if size is None:
        return f"binlog file {point.position.file} is not on this server (purged, or another server's)"
    if point.position.pos > size:
        return f"{point.position.file} on this server ends at {size}, before position {point.position.pos}"
    if gtid_checked and point.gtid_set is not None and gtid_at_position != point.gtid_set:
        return (
            f"the GTID state at {point.position} on this server is {gtid_at_position or 'not a valid position'}, "
            f"the restart point's is {point.gtid_set}"
        )
    return None


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
