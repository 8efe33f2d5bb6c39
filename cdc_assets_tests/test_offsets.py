"""Pure tests for cdc_assets.core.offsets: positions, GTID sets, restart points, server versions."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cdc_assets.core.offsets import (
    BinlogPosition,
    MariaDbGtid,
    MariaDbGtidSet,
    MySqlGtid,
    MySqlGtidSet,
    RestartPoint,
    binlog_status_statements,
    detect_gtid_flavor,
    empty_gtid_set,
    parse_gtid,
    parse_gtid_set,
    parse_server_version,
    position_problem,
)

U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
U2 = "8a94f357-aab4-11df-86ab-c80aa9429563"
U1_UPPER = U1.upper()

# --------------------------------------------------------------------------------------------
# BinlogPosition


@pytest.mark.parametrize(
    "text, file, pos",
    [
        ("mysql-bin.000003:1234", "mysql-bin.000003", 1234),
        ("mariadb-bin.000016:4", "mariadb-bin.000016", 4),
        ("binlog.1000000:99", "binlog.1000000", 99),
        ("host.example.com-bin.000001:120", "host.example.com-bin.000001", 120),
        ("  mysql-bin.000003:1234\n", "mysql-bin.000003", 1234),
    ],
)
def test_binlog_position_parse_and_str(text: str, file: str, pos: int) -> None:
    p = BinlogPosition.parse(text)
    assert (p.file, p.pos) == (file, pos)
    assert str(p) == f"{file}:{pos}"
    assert BinlogPosition.parse(str(p)) == p


@pytest.mark.parametrize(
    "lower, higher",
    [
        ("mysql-bin.000009:900", "mysql-bin.000010:4"),  # file number, not text, decides
        ("mysql-bin.000003:1234", "mysql-bin.000003:1235"),
        ("mysql-bin.999999:500", "mysql-bin.1000000:4"),  # more digits after 999999
        ("mysql-bin.000002:10000", "mysql-bin.000010:4"),
    ],
)
def test_binlog_position_ordering(lower: str, higher: str) -> None:
    a, b = BinlogPosition.parse(lower), BinlogPosition.parse(higher)
    assert a < b and b > a and a <= b and b >= a and a != b
    assert sorted([b, a]) == [a, b]
    assert max(a, b) == b


def test_binlog_position_equality_and_hash() -> None:
    a = BinlogPosition("mysql-bin.000003", 1234)
    b = BinlogPosition.parse("mysql-bin.000003:1234")
    assert a == b and hash(a) == hash(b) and a <= b and a >= b
    assert len({a, b}) == 1


def test_binlog_positions_in_different_series_do_not_compare() -> None:
    a = BinlogPosition.parse("mysql-bin.000003:1234")
    b = BinlogPosition.parse("mariadb-bin.000001:4")
    assert a != b
    for op in (lambda: a < b, lambda: a <= b, lambda: a > b, lambda: a >= b):
        with pytest.raises(ValueError, match="different binlog series"):
            op()


def test_binlog_position_is_frozen() -> None:
    p = BinlogPosition.parse("mysql-bin.000003:1234")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.pos = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "file, pos, message",
    [
        ("mysql-bin.000003", 3, ">= 4"),
        ("mysql-bin.000003", 0, ">= 4"),
        ("mysql-bin.000003", -1, ">= 4"),
        ("mysql-bin.000003", True, "integer"),
        ("mysql-bin.000003", "1234", "integer"),
        ("mysql-bin", 1234, "BASENAME.NUMBER"),
        ("mysql-bin.", 1234, "BASENAME.NUMBER"),
        (".000003", 1234, "BASENAME.NUMBER"),
        ("mysql bin.000003", 1234, "BASENAME.NUMBER"),
        ("", 1234, "BASENAME.NUMBER"),
    ],
)
def test_binlog_position_rejects(file: object, pos: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BinlogPosition(file, pos)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["", "mysql-bin.000003", "mysql-bin.000003:", ":1234", "mysql-bin.000003:12x", "mysql-bin.000003:-5"],
)
def test_binlog_position_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="FILE:POS"):
        BinlogPosition.parse(text)


def test_binlog_position_parse_rejects_small_pos() -> None:
    with pytest.raises(ValueError, match=">= 4"):
        BinlogPosition.parse("mysql-bin.000003:3")


# --------------------------------------------------------------------------------------------
# MySQL GTID sets: parsing and canonical text


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("", ""),
        ("   \n", ""),
        (f"{U1}:1-5", f"{U1}:1-5"),
        (f"{U1}:7", f"{U1}:7"),
        (f"{U1}:7-7", f"{U1}:7"),
        (f"{U1_UPPER}:1-5", f"{U1}:1-5"),  # upper-case UUIDs are lower-cased
        (f"{U1}:1-5:7-9", f"{U1}:1-5:7-9"),
        (f"{U1}:1-5:6-9", f"{U1}:1-9"),  # adjacent intervals merge
        (f"{U1}:1-5:3-7", f"{U1}:1-7"),  # overlapping intervals merge
        (f"{U1}:7-9:1-5", f"{U1}:1-5:7-9"),  # sorted
        (f"{U1}:1:2:3:5", f"{U1}:1-3:5"),
        (f"{U1}:2-4:1-10", f"{U1}:1-10"),  # contained interval disappears
        (f"{U2}:1-3,{U1}:1-5", f"{U1}:1-5,{U2}:1-3"),  # UUIDs sorted
        (f"{U1}:1-3,{U1}:4-6", f"{U1}:1-6"),  # repeated UUID merged
        (f"{U1}:1-5,\n{U2}:1-3", f"{U1}:1-5,{U2}:1-3"),  # as SHOW MASTER STATUS prints it
        (f"{U1}:1-5, \n  {U2}:1-3\n", f"{U1}:1-5,{U2}:1-3"),
        (f"{U1}:1-5 : 7-9", f"{U1}:1-5:7-9"),
        # MySQL 8.3+ tagged GTIDs: tags lower-cased, untagged first, tags sorted
        (f"{U1}:tag_a:1-5", f"{U1}:tag_a:1-5"),
        (f"{U1}:1-5:Domain_1:1-3:15-21:domain_2:8-52", f"{U1}:1-5:domain_1:1-3:15-21:domain_2:8-52"),
        (f"{U1}:Domain_1:1-3:15-21, {U1}:Domain_2:8-52", f"{U1}:domain_1:1-3:15-21:domain_2:8-52"),
        (f"{U1}:zz:1,{U1}:aa:2,{U1}:3", f"{U1}:3:aa:2:zz:1"),
        (f"{U1}:t:1-2:t:3-4", f"{U1}:t:1-4"),
        (f"{U1}:_x:1", f"{U1}:_x:1"),
        (f"{U1}:{'a' * 32}:1", f"{U1}:{'a' * 32}:1"),
        (f"{U1}:1-{2**63 - 1}", f"{U1}:1-{2**63 - 1}"),
    ],
)
def test_mysql_gtid_set_parse_normalizes(text: str, canonical: str) -> None:
    s = MySqlGtidSet.parse(text)
    assert str(s) == canonical
    assert MySqlGtidSet.parse(str(s)) == s  # canonical text round-trips
    assert parse_gtid_set(text, "mysql") == s


def test_mysql_gtid_set_equality_is_by_content() -> None:
    a = MySqlGtidSet.parse(f"{U2}:1-3,{U1}:1-5:6-9")
    b = MySqlGtidSet.parse(f"{U1_UPPER}:1-9,\n{U2}:1:2:3")
    assert a == b and hash(a) == hash(b)
    assert a != MySqlGtidSet.parse(f"{U1}:1-9")
    assert MySqlGtidSet.parse("") == MySqlGtidSet()


def test_mysql_gtid_set_ranges_structure() -> None:
    s = MySqlGtidSet.parse(f"{U1}:7-9:1-5:tag:3,{U2}:2")
    assert s.ranges == ((U1, "", ((1, 5), (7, 9))), (U1, "tag", ((3, 3),)), (U2, "", ((2, 2),)))
    # built directly, it is normalized the same way
    assert MySqlGtidSet(((U1_UPPER, "", ((6, 9), (1, 5))),)) == MySqlGtidSet.parse(f"{U1}:1-9")


@pytest.mark.parametrize(
    "text, message",
    [
        ("not-a-gtid", "not a server UUID"),
        (f"{U1}", "no transaction interval"),
        (f"{U1}:", "neither an interval"),
        (f"{U1}:0", "out of range"),
        (f"{U1}:0-5", "out of range"),
        (f"{U1}:1-{2**63}", "out of range"),
        (f"{U1}:5-3", "ends before it starts"),
        (f"{U1}:1-5,", "not a server UUID"),
        (f"{U1}:1-5,,{U2}:1", "not a server UUID"),
        (f"{U1}:1-5-7", "neither an interval"),
        (f"{U1}:-5", "neither an interval"),
        (f"{U1}:tag", "has no transaction interval"),
        (f"{U1}:tag:other:1", "has no transaction interval"),
        (f"{U1}:1tag:1", "neither an interval"),
        (f"{U1}:{'a' * 33}:1", "neither an interval"),
        (f"{U1}:ta-g:1", "neither an interval"),
        (f"{U1}:١٢", "neither an interval"),  # non-ASCII digits are not transaction numbers
        ("3e11fa47-71ca-11e1-9e33:1-5", "not a server UUID"),
        ("0-1-100", "not a server UUID"),
    ],
)
def test_mysql_gtid_set_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        MySqlGtidSet.parse(text)
    if "out of range" not in message:
        assert "expected UUID[:TAG]:N" in str(info.value)  # the message shows the expected form


# --------------------------------------------------------------------------------------------
# MySQL GTID sets: containment, subsets, union, add


@pytest.mark.parametrize(
    "set_text, gtid, expected",
    [
        (f"{U1}:1-5:7-9", f"{U1}:1", True),
        (f"{U1}:1-5:7-9", f"{U1}:5", True),
        (f"{U1}:1-5:7-9", f"{U1}:6", False),  # the gap
        (f"{U1}:1-5:7-9", f"{U1}:7", True),
        (f"{U1}:1-5:7-9", f"{U1}:9", True),
        (f"{U1}:1-5:7-9", f"{U1}:10", False),
        (f"{U1}:2-5", f"{U1}:1", False),
        (f"{U1}:1-5", f"{U2}:3", False),  # other server
        (f"{U1}:1-5", f"{U1_UPPER}:3", True),
        (f"{U1}:1-5", f"{U1}:tag:3", False),  # tagged is another source
        (f"{U1}:tag:1-5", f"{U1}:3", False),
        (f"{U1}:tag:1-5", f"{U1}:TAG:3", True),
        ("", f"{U1}:1", False),
    ],
)
def test_mysql_gtid_set_contains(set_text: str, gtid: str, expected: bool) -> None:
    s = MySqlGtidSet.parse(set_text)
    assert (gtid in s) is expected
    assert (MySqlGtid.parse(gtid) in s) is expected


@pytest.mark.parametrize(
    "small, big, expected",
    [
        ("", f"{U1}:1-5", True),
        ("", "", True),
        (f"{U1}:1-5", f"{U1}:1-5", True),
        (f"{U1}:2-4", f"{U1}:1-5", True),
        (f"{U1}:1-5", f"{U1}:2-4", False),
        (f"{U1}:1-5:7", f"{U1}:1-9", True),
        (f"{U1}:1-9", f"{U1}:1-5:7-9", False),  # 6 is missing
        (f"{U1}:4-8", f"{U1}:1-5:6-9", True),  # adjacent intervals merged first
        (f"{U1}:1-5", f"{U1}:1-5,{U2}:1", True),
        (f"{U1}:1-5,{U2}:1", f"{U1}:1-5", False),
        (f"{U1}:t:1", f"{U1}:1", False),
        (f"{U1}:1-3,{U2}:5", f"{U2}:1-10,{U1}:1-100", True),
    ],
)
def test_mysql_gtid_set_subset(small: str, big: str, expected: bool) -> None:
    a, b = MySqlGtidSet.parse(small), MySqlGtidSet.parse(big)
    assert a.issubset(b) is expected
    assert (a <= b) is expected
    assert (b >= a) is expected
    assert (a < b) is (expected and a != b)
    assert (b > a) is (expected and a != b)


@pytest.mark.parametrize(
    "left, right, union",
    [
        ("", "", ""),
        (f"{U1}:1-5", "", f"{U1}:1-5"),
        (f"{U1}:1-5", f"{U1}:6-9", f"{U1}:1-9"),
        (f"{U1}:1-5", f"{U1}:8-9", f"{U1}:1-5:8-9"),
        (f"{U1}:1-5", f"{U2}:1-3", f"{U1}:1-5,{U2}:1-3"),
        (f"{U1}:1-5,{U2}:4", f"{U2}:1-3:5,{U1}:3-7", f"{U1}:1-7,{U2}:1-5"),
        (f"{U1}:1-5", f"{U1}:t:1", f"{U1}:1-5:t:1"),
    ],
)
def test_mysql_gtid_set_union(left: str, right: str, union: str) -> None:
    a, b = MySqlGtidSet.parse(left), MySqlGtidSet.parse(right)
    assert str(a.union(b)) == union
    assert a | b == b | a == MySqlGtidSet.parse(union)
    assert a <= a | b and b <= a | b


@pytest.mark.parametrize(
    "start, gtid, after",
    [
        ("", f"{U1}:1", f"{U1}:1"),
        (f"{U1}:1-5", f"{U1}:6", f"{U1}:1-6"),
        (f"{U1}:1-5:7-9", f"{U1}:6", f"{U1}:1-9"),
        (f"{U1}:1-5", f"{U1}:3", f"{U1}:1-5"),  # already there: unchanged, no error
        (f"{U1}:1-5", f"{U1}:8", f"{U1}:1-5:8"),
        (f"{U1}:1-5", f"{U2}:1", f"{U1}:1-5,{U2}:1"),
        (f"{U1}:1-5", f"{U1}:tag:1", f"{U1}:1-5:tag:1"),
    ],
)
def test_mysql_gtid_set_add_returns_new_set(start: str, gtid: str, after: str) -> None:
    s = MySqlGtidSet.parse(start)
    added = s.add(MySqlGtid.parse(gtid))
    assert str(added) == after
    assert s.add(gtid) == added  # text works too
    assert str(s) == str(MySqlGtidSet.parse(start))  # the original is untouched
    assert gtid in added


def test_mysql_gtid_set_is_empty_and_frozen() -> None:
    assert MySqlGtidSet.parse("").is_empty
    assert empty_gtid_set("mysql").is_empty
    s = MySqlGtidSet.parse(f"{U1}:1")
    assert not s.is_empty
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.ranges = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, uuid, tag, gno",
    [
        (f"{U1}:7", U1, "", 7),
        (f"{U1_UPPER}:7", U1, "", 7),
        (f"{U1}:Tag_1:7", U1, "tag_1", 7),
    ],
)
def test_mysql_gtid_parse(text: str, uuid: str, tag: str, gno: int) -> None:
    g = MySqlGtid.parse(text)
    assert (g.uuid, g.tag, g.gno) == (uuid, tag, gno)
    assert MySqlGtid.parse(str(g)) == g
    assert parse_gtid(text) == g


@pytest.mark.parametrize("text", [f"{U1}", f"{U1}:1-5", f"{U1}:0", f"{U1}:a:b:1", "zz:1", f"{U1}:9tag:1"])
def test_mysql_gtid_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        MySqlGtid.parse(text)


# --------------------------------------------------------------------------------------------
# MariaDB GTID positions


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("", ""),
        ("0-1-100", "0-1-100"),
        ("0-1-100,1-2-7", "0-1-100,1-2-7"),
        ("1-2-7,0-1-100", "0-1-100,1-2-7"),  # sorted by domain
        ("0-1-100, \n1-2-7", "0-1-100,1-2-7"),
        ("0-1-100,0-2-50", "0-1-100"),  # one per domain: the highest seq wins
        ("0-2-50,0-1-100", "0-1-100"),
        ("0-1-100,0-2-100", "0-2-100"),  # tie: the one given last
        ("0-0-0", "0-0-0"),
        (f"{2**32 - 1}-{2**32 - 1}-{2**64 - 1}", f"{2**32 - 1}-{2**32 - 1}-{2**64 - 1}"),
    ],
)
def test_mariadb_gtid_set_parse(text: str, canonical: str) -> None:
    s = MariaDbGtidSet.parse(text)
    assert str(s) == canonical
    assert MariaDbGtidSet.parse(str(s)) == s
    assert parse_gtid_set(text, "mariadb") == s


def test_mariadb_gtid_set_multi_domain() -> None:
    s = MariaDbGtidSet.parse("1-2-7,0-1-100,5-9-3")
    assert s.domains == (0, 1, 5)
    assert s.get(1) == MariaDbGtid(1, 2, 7)
    assert s.get(4) is None
    # advancing one domain leaves the others alone
    s2 = s.add("1-3-8")
    assert str(s2) == "0-1-100,1-3-8,5-9-3"
    assert s2.add("7-1-1").domains == (0, 1, 5, 7)


@pytest.mark.parametrize(
    "set_text, gtid, expected",
    [
        ("0-1-100", "0-1-100", True),
        ("0-1-100", "0-1-99", True),
        ("0-1-100", "0-1-1", True),
        ("0-1-100", "0-1-101", False),
        ("0-1-100", "0-2-50", True),  # the server id does not matter within a domain
        ("0-1-100", "1-1-5", False),  # another domain
        ("0-1-100,1-2-7", "1-2-7", True),
        ("0-1-100,1-2-7", "1-2-8", False),
        ("", "0-1-1", False),
    ],
)
def test_mariadb_gtid_set_contains(set_text: str, gtid: str, expected: bool) -> None:
    s = MariaDbGtidSet.parse(set_text)
    assert (gtid in s) is expected
    assert (MariaDbGtid.parse(gtid) in s) is expected


@pytest.mark.parametrize(
    "start, gtid, after",
    [
        ("", "0-1-1", "0-1-1"),
        ("0-1-100", "0-1-101", "0-1-101"),
        ("0-1-100", "0-2-101", "0-2-101"),  # higher seq replaces, with its server id
        ("0-1-100", "0-2-99", "0-1-100"),  # lower seq: unchanged
        ("0-1-100", "0-2-100", "0-1-100"),  # equal seq: unchanged
        ("0-1-100", "1-2-7", "0-1-100,1-2-7"),
    ],
)
def test_mariadb_gtid_set_add(start: str, gtid: str, after: str) -> None:
    s = MariaDbGtidSet.parse(start)
    added = s.add(MariaDbGtid.parse(gtid))
    assert str(added) == after
    assert str(s) == str(MariaDbGtidSet.parse(start))  # the original is untouched
    assert gtid in added


@pytest.mark.parametrize(
    "small, big, expected",
    [
        ("", "0-1-100", True),
        ("0-1-50", "0-1-100", True),
        ("0-2-50", "0-1-100", True),
        ("0-1-100", "0-1-50", False),
        ("0-1-100,1-1-5", "0-1-100", False),  # domain 1 missing
        ("0-1-100", "0-1-100,1-1-5", True),
    ],
)
def test_mariadb_gtid_set_subset(small: str, big: str, expected: bool) -> None:
    a, b = MariaDbGtidSet.parse(small), MariaDbGtidSet.parse(big)
    assert a.issubset(b) is expected
    assert (a <= b) is expected
    assert (b >= a) is expected
    assert (a < b) is (expected and a != b)


@pytest.mark.parametrize(
    "left, right, union",
    [
        ("0-1-100", "0-1-50", "0-1-100"),
        ("0-1-50", "0-2-100", "0-2-100"),
        ("0-1-100", "1-2-7", "0-1-100,1-2-7"),
        ("0-1-100,1-2-9", "0-3-120,1-2-7,2-1-1", "0-3-120,1-2-9,2-1-1"),
        ("0-1-100", "0-2-100", "0-1-100"),  # tie: the left operand's entry
    ],
)
def test_mariadb_gtid_set_union(left: str, right: str, union: str) -> None:
    a, b = MariaDbGtidSet.parse(left), MariaDbGtidSet.parse(right)
    assert str(a.union(b)) == union
    assert str(a | b) == union


def test_mariadb_gtid_set_equality_includes_server_id() -> None:
    assert MariaDbGtidSet.parse("1-2-7,0-1-100") == MariaDbGtidSet.parse("0-1-100, 1-2-7")
    assert MariaDbGtidSet.parse("0-1-100") != MariaDbGtidSet.parse("0-2-100")
    assert hash(MariaDbGtidSet.parse("0-1-100")) == hash(MariaDbGtidSet.parse("0-1-100"))
    assert MariaDbGtidSet.parse("").is_empty and not MariaDbGtidSet.parse("0-1-1").is_empty


@pytest.mark.parametrize(
    "text, message",
    [
        ("0-1", "DOMAIN-SERVER-SEQ"),
        ("0-1-100-4", "DOMAIN-SERVER-SEQ"),
        ("0-1-x", "DOMAIN-SERVER-SEQ"),
        ("0-1-100,", "DOMAIN-SERVER-SEQ"),
        ("-1-1-100", "DOMAIN-SERVER-SEQ"),
        (f"{U1}:1-5", "DOMAIN-SERVER-SEQ"),
        (f"{2**32}-1-1", "domain id .* out of range"),
        (f"0-{2**32}-1", "server id .* out of range"),
        (f"0-1-{2**64}", "sequence number .* out of range"),
    ],
)
def test_mariadb_gtid_set_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MariaDbGtidSet.parse(text)


# --------------------------------------------------------------------------------------------
# Flavor detection and mixing


@pytest.mark.parametrize(
    "text, flavor, cls",
    [
        (f"{U1}:1-5", "mysql", MySqlGtidSet),
        (f"{U1_UPPER}:1-5,\n{U2}:3", "mysql", MySqlGtidSet),
        (f"{U1}:tag:1", "mysql", MySqlGtidSet),
        ("0-1-100", "mariadb", MariaDbGtidSet),
        (" 0-1-100,1-2-7", "mariadb", MariaDbGtidSet),
    ],
)
def test_parse_gtid_set_detects_flavor(text: str, flavor: str, cls: type) -> None:
    assert detect_gtid_flavor(text) == flavor
    s = parse_gtid_set(text)
    assert type(s) is cls and s.flavor == flavor
    assert s == parse_gtid_set(text, flavor)


@pytest.mark.parametrize(
    "text, flavor, message",
    [
        ("", None, "empty GTID set.*flavor="),
        ("garbage", None, "neither a MySQL GTID set .* nor a MariaDB GTID position"),
        ("mysql-bin.000003:1234", None, "neither a MySQL GTID set"),
        ("0-1-100", "mysql", "not a MySQL GTID set"),
        (f"{U1}:1-5", "mariadb", "not a MariaDB GTID position"),
        ("0-1-100", "postgres", "unknown server flavor"),
    ],
)
def test_parse_gtid_set_rejects(text: str, flavor: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_gtid_set(text, flavor)


def test_empty_sets_need_a_flavor_but_parse_with_one() -> None:
    assert parse_gtid_set("", "mysql") == MySqlGtidSet()
    assert parse_gtid_set("", "mariadb") == MariaDbGtidSet()
    assert MySqlGtidSet() != MariaDbGtidSet()


def test_flavors_do_not_mix() -> None:
    my, ma = MySqlGtidSet.parse(f"{U1}:1-5"), MariaDbGtidSet.parse("0-1-100")
    with pytest.raises(TypeError):
        my.union(ma)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        my | ma  # type: ignore[operator]  # noqa: B018
    with pytest.raises(TypeError):
        my <= ma  # type: ignore[operator]  # noqa: B015
    with pytest.raises(TypeError):
        ma.issubset(my)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        my.add(MariaDbGtid(0, 1, 5))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MariaDbGtid(0, 1, 5) in my  # noqa: B015
    with pytest.raises(TypeError, match="issubset"):
        my in my  # noqa: B015


# --------------------------------------------------------------------------------------------
# RestartPoint

POS = BinlogPosition.parse("mysql-bin.000003:1234")


@pytest.mark.parametrize(
    "point",
    [
        RestartPoint(position=POS),
        RestartPoint(position=POS, gtid_set=MariaDbGtidSet.parse("0-1-100,1-2-7"), server_id=1),
        RestartPoint(gtid_set=MySqlGtidSet.parse(f"{U1}:1-5:7-9:tag:1,{U2}:1-3"), event_time=1_700_000_000),
        RestartPoint(gtid_set=MySqlGtidSet()),  # gtid_mode=ON, nothing executed yet
        RestartPoint(gtid_set=MariaDbGtidSet()),
        RestartPoint(
            position=POS,
            gtid_set=MariaDbGtidSet.parse("0-1-100"),
            server_id=4_294_967_295,
            event_time=1_700_000_123,
            skip_events=3,
            skip_rows=250,
        ),
    ],
)
def test_restart_point_json_round_trip(point: RestartPoint) -> None:
    data = point.to_dict()
    assert data["v"] == 1
    text = json.dumps(data)
    back = RestartPoint.from_dict(json.loads(text))
    assert back == point
    assert type(back.gtid_set) is type(point.gtid_set)
    assert back.to_dict() == data


def test_restart_point_dict_is_readable() -> None:
    point = RestartPoint(position=POS, gtid_set=MariaDbGtidSet.parse("0-1-100"), server_id=1, event_time=7)
    assert point.to_dict() == {
        "v": 1,
        "file": "mysql-bin.000003",
        "pos": 1234,
        "gtid_flavor": "mariadb",
        "gtid_set": "0-1-100",
        "server_id": 1,
        "event_time": 7,
        "skip_events": 0,
        "skip_rows": 0,
    }
    # server_uuid (MySQL) is written only when known, and read back
    with_uuid = RestartPoint(position=POS, server_id=1, server_uuid=U1)
    assert with_uuid.to_dict()["server_uuid"] == U1
    assert RestartPoint.from_dict(with_uuid.to_dict()) == with_uuid


@pytest.mark.parametrize(
    "point, text",
    [
        (
            RestartPoint(position=POS, gtid_set=MariaDbGtidSet.parse("0-1-100")),
            "mysql-bin.000003:1234 gtid=0-1-100",
        ),
        (RestartPoint(position=POS, server_id=1, event_time=5), "mysql-bin.000003:1234"),
        (RestartPoint(gtid_set=MySqlGtidSet.parse(f"{U1}:1-5,\n{U2}:1")), f"gtid={U1}:1-5,{U2}:1"),
        (RestartPoint(position=POS, gtid_set=MySqlGtidSet()), "mysql-bin.000003:1234 gtid=(empty)"),
        (
            RestartPoint(position=POS, skip_events=2, skip_rows=10),
            "mysql-bin.000003:1234 skip_events=2 skip_rows=10",
        ),
    ],
)
def test_restart_point_str(point: RestartPoint, text: str) -> None:
    assert str(point) == text
    assert "\n" not in str(point)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"v": 2, "file": "mysql-bin.000003", "pos": 1234}, "format version 2"),
        ({"file": "mysql-bin.000003", "pos": 1234}, "format version None"),
        ({"v": "1", "file": "mysql-bin.000003", "pos": 1234}, "format version '1'"),
        ({"v": True, "file": "mysql-bin.000003", "pos": 1234}, "format version True"),
        ({"v": 1, "file": "mysql-bin.000003", "pos": 1234, "gtid": "x"}, "unknown keys \\['gtid'\\]"),
        ({"v": 1, "file": "mysql-bin.000003"}, "both or neither"),
        ({"v": 1, "gtid_set": "0-1-100"}, "both or neither"),
        ({"v": 1, "gtid_set": "0-1-100", "gtid_flavor": "oracle"}, "invalid GTID flavor"),
        ({"v": 1, "gtid_set": "0-1-100", "gtid_flavor": "mysql"}, "not a MySQL GTID set"),
        ({"v": 1}, "needs a binlog position, a GTID set, or both"),
        ({"v": 1, "file": "mysql-bin.000003", "pos": 2}, ">= 4"),
        ({"v": 1, "file": "mysql-bin.000003", "pos": 1234, "skip_rows": -1}, "skip_rows"),
        ({"v": 1, "file": "mysql-bin.000003", "pos": 1234, "server_id": "1"}, "server_id"),
        ({"v": 1, "file": "mysql-bin.000003", "pos": 1234, "event_time": 1.5}, "event_time"),
        (["v", 1], "JSON object"),
    ],
)
def test_restart_point_from_dict_rejects(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RestartPoint.from_dict(data)  # type: ignore[arg-type]


def test_restart_point_validation() -> None:
    with pytest.raises(ValueError, match="needs a binlog position"):
        RestartPoint()
    with pytest.raises(TypeError):
        RestartPoint(position="mysql-bin.000003:1234")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RestartPoint(gtid_set="0-1-100")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="skip_events"):
        RestartPoint(position=POS, skip_events=-1)
    with pytest.raises(ValueError, match="server_id"):
        RestartPoint(position=POS, server_id=2**32)


def test_restart_point_advance_mariadb() -> None:
    start = RestartPoint(
        position=POS,
        gtid_set=MariaDbGtidSet.parse("0-1-100,1-2-7"),
        server_id=1,
        event_time=10,
        skip_events=2,
    )
    nxt = BinlogPosition.parse("mysql-bin.000003:2000")
    after = start.advance(nxt, MariaDbGtid(0, 1, 101), event_time=20)
    assert after.position == nxt
    assert str(after.gtid_set) == "0-1-101,1-2-7"
    assert (after.event_time, after.server_id, after.skip_events, after.skip_rows) == (20, 1, 0, 0)
    assert str(start) == "mysql-bin.000003:1234 gtid=0-1-100,1-2-7 skip_events=2 skip_rows=0"  # unchanged
    # text GTIDs are parsed in the set's flavor; event_time kept when not given
    again = after.advance(BinlogPosition.parse("mysql-bin.000004:4"), "1-2-8", server_id=2)
    assert str(again) == "mysql-bin.000004:4 gtid=0-1-101,1-2-8"
    assert (again.event_time, again.server_id) == (20, 2)


def test_restart_point_advance_mysql_and_without_gtid() -> None:
    start = RestartPoint(position=POS)
    nxt = BinlogPosition.parse("mysql-bin.000003:2000")
    assert start.advance(nxt).gtid_set is None
    first = start.advance(nxt, f"{U1}:1")  # a set of the GTID's flavor is started
    assert first.gtid_set == MySqlGtidSet.parse(f"{U1}:1")
    second = first.advance(BinlogPosition.parse("mysql-bin.000003:3000"), MySqlGtid(U1, 2))
    assert str(second.gtid_set) == f"{U1}:1-2"
    with pytest.raises(TypeError):
        second.advance(nxt, MariaDbGtid(0, 1, 1))
    with pytest.raises(ValueError):
        second.advance(nxt, "0-1-1")  # parsed as a MySQL GTID: the set is MySQL


# --------------------------------------------------------------------------------------------
# Server versions and status statements


@pytest.mark.parametrize(
    "text, flavor, version",
    [
        ("10.11.19-MariaDB-0+deb12u1-log", "mariadb", (10, 11, 19)),
        ("11.4.2-MariaDB", "mariadb", (11, 4, 2)),
        ("5.5.5-10.11.6-MariaDB-log", "mariadb", (10, 11, 6)),  # handshake prefix
        ("10.5.2-MariaDB", "mariadb", (10, 5, 2)),
        ("8.0.36", "mysql", (8, 0, 36)),
        ("5.7.44-log", "mysql", (5, 7, 44)),
        ("8.4.0", "mysql", (8, 4, 0)),
        ("8.0.36-28-log", "mysql", (8, 0, 36)),  # Percona
        ("8.0.36-0ubuntu0.22.04.1", "mysql", (8, 0, 36)),
        ("5.5.5-8.0.36", "mysql", (5, 5, 5)),  # only MariaDB has the prefix
        ("8.4", "mysql", (8, 4, 0)),
        (" 9.1.0 ", "mysql", (9, 1, 0)),
    ],
)
def test_parse_server_version(text: str, flavor: str, version: tuple[int, int, int]) -> None:
    assert parse_server_version(text) == (flavor, version)


@pytest.mark.parametrize("text", ["", "MariaDB", "eight.zero", "8", "v8.0.36"])
def test_parse_server_version_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="MAJOR.MINOR"):
        parse_server_version(text)


@pytest.mark.parametrize(
    "flavor, version, statements",
    [
        ("mysql", (5, 7, 44), ["SHOW MASTER STATUS"]),
        ("mysql", (8, 0, 36), ["SHOW MASTER STATUS"]),
        ("mysql", (8, 1, 0), ["SHOW MASTER STATUS"]),
        ("mysql", (8, 2, 0), ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"]),
        ("mysql", (8, 3, 0), ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"]),
        ("mysql", (8, 4, 0), ["SHOW BINARY LOG STATUS"]),
        ("mysql", (8, 4), ["SHOW BINARY LOG STATUS"]),
        ("mysql", (9, 1, 0), ["SHOW BINARY LOG STATUS"]),
        ("mariadb", (10, 3, 39), ["SHOW MASTER STATUS"]),
        ("mariadb", (10, 5, 1), ["SHOW MASTER STATUS"]),
        ("mariadb", (10, 5, 2), ["SHOW BINLOG STATUS", "SHOW MASTER STATUS"]),
        ("mariadb", (10, 11, 19), ["SHOW BINLOG STATUS", "SHOW MASTER STATUS"]),
        ("mariadb", (11, 4, 2), ["SHOW BINLOG STATUS", "SHOW MASTER STATUS"]),
    ],
)
def test_binlog_status_statements(flavor: str, version: tuple[int, ...], statements: list[str]) -> None:
    assert binlog_status_statements(flavor, version) == statements


def test_binlog_status_statements_from_version_string() -> None:
    flavor, version = parse_server_version("10.11.19-MariaDB-0+deb12u1-log")
    assert binlog_status_statements(flavor, version)[0] == "SHOW BINLOG STATUS"
    with pytest.raises(ValueError, match="unknown server flavor"):
        binlog_status_statements("percona", (8, 0, 36))


def _problem(point: RestartPoint, **kw) -> str | None:
    facts = {
        "server_id": 1,
        "server_uuid": None,
        "binlog_files": {"mysql-bin.000003": 5000, "mysql-bin.000004": 100},
    }
    return position_problem(point, **{**facts, **kw})


def test_position_problem_accepts_a_point_of_this_server() -> None:
    gtid = MariaDbGtidSet.parse("0-1-100")
    point = RestartPoint(position=POS, gtid_set=gtid, server_id=1)
    assert _problem(point) is None
    assert _problem(point, gtid_at_position=gtid, gtid_checked=True) is None
    assert _problem(RestartPoint(position=POS)) is None  # saved without a server id: not checked on it
    uuid_point = RestartPoint(position=POS, server_id=1, server_uuid=U1.upper())
    assert _problem(uuid_point, server_uuid=U1) is None


@pytest.mark.parametrize(
    "point, facts, message",
    [
        (RestartPoint(gtid_set=MariaDbGtidSet.parse("0-1-5")), {}, "no binlog position"),
        (RestartPoint(position=POS, server_id=2), {}, "server_id 2, this one has 1"),
        (RestartPoint(position=POS, server_id=1, server_uuid=U1), {"server_uuid": U2}, f"server_uuid {U1}"),
        (RestartPoint(position=BinlogPosition("mysql-bin.000001", 4)), {}, "mysql-bin.000001 is not on this"),
        (
            RestartPoint(position=BinlogPosition("mysql-bin.000004", 400)),
            {},
            "ends at 100, before position 400",
        ),
        (
            RestartPoint(position=POS, gtid_set=MariaDbGtidSet.parse("0-1-100")),
            {"gtid_at_position": MariaDbGtidSet.parse("0-2-7"), "gtid_checked": True},
            "GTID state at mysql-bin.000003:1234 on this server is 0-2-7, the restart point's is 0-1-100",
        ),
        (
            RestartPoint(position=POS, gtid_set=MariaDbGtidSet.parse("0-1-100")),
            {"gtid_at_position": None, "gtid_checked": True},
            "not a valid position",
        ),
    ],
)
def test_position_problem_names_why_a_position_is_not_this_servers(
    point: RestartPoint, facts: dict, message: str
) -> None:
    problem = _problem(point, **facts)
    assert problem is not None and message in problem
