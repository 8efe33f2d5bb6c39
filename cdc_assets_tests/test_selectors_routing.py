"""Flink CDC table selectors and route rules (pure)."""

from __future__ import annotations

import pytest

from cdc_assets.core.chunks import parse_source_chunk_partition_key, source_chunk_partition_key
from cdc_assets.core.routing import (
    RouteMode,
    RouteRule,
    RouteRuleError,
    combine_changes,
    resolve_target,
    resolve_targets,
)
from cdc_assets.core.schema import TableId
from cdc_assets.core.selectors import TableFilter, TableSelector, parse_selectors
from cdc_assets.errors import ConfigError

T = TableId


@pytest.mark.parametrize(
    ("spec", "table", "expected"),
    [
        (r"adb.\.*", T("adb", "anything"), True),
        (r"adb.\.*", T("adbx", "t"), False),  # the database part must match whole
        (r"bdb.user_table_[0-9]+", T("bdb", "user_table_12"), True),
        (r"bdb.user_table_[0-9]+", T("bdb", "user_table_1a"), False),  # full match, not search
        (r"bdb.user_table_[0-9]+", T("bdb", "user_table_"), False),
        (r"db.order\.*", T("db", "order_2024"), True),
        (r"db.order\.*", T("db", "myorder"), False),
        ("DB.Orders", T("db", "orders"), True),  # ASCII case-insensitive, as Java's CASE_INSENSITIVE
        (r"db[1-2].[app|web]_order_\.*", T("db2", "w_order_x"), True),
        (r"db[1-2].[app|web]_order_\.*", T("db3", "a_order_x"), False),
        (r"^db$.^t$", T("db", "t"), True),  # anchors work inside each part
        (r"db.t\d+", T("db", "t٣"), False),  # \d is ASCII only (Arabic-Indic digit)
        (r"db.(?<name>t)\.*", T("db", "tx"), True),  # Java named-group syntax is accepted
        (r"db.a\.b", T("db", "aXb"), True),  # \. is the regex any-char
        ("  db . t  ", T("db", "t"), True),  # parts are trimmed
        ("d.b.t".replace(".", "\\.", 1), T("dxb", "t"), True),  # d\.b.t: db regex 'd.b'
    ],
)
def test_selector_matches(spec: str, table: TableId, expected: bool) -> None:
    assert TableSelector.parse(spec).matches(table) is expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("db.(x", "the table regex '(x' is invalid"),
        ("(db.x)", "the database regex '(db' is invalid"),
        ("db.[a-", "the table regex '[a-' is invalid"),
        ("justatable", "has no '.' between database and table"),
        ("a.b.c", "has 2 unescaped '.'"),
        (r"db.a\\.b", "has 2 unescaped '.'"),  # \\ is an escaped backslash, so the '.' splits again
        (".t", "empty database regex"),
        ("db.", "empty table regex"),
        ("db.t\\", "unterminated escape"),
        ("", "empty table selector"),
        ("db.x{2,1}", "is invalid"),
    ],
)
def test_selector_parse_errors_are_precise(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        TableSelector.parse(spec)
    assert fragment in str(info.value)


def test_selector_regex_error_shows_regex_and_cause() -> None:
    with pytest.raises(ValueError) as info:
        TableSelector.parse("shop.order_(\\d+")
    message = str(info.value)
    assert "order_(\\d+" in message and "missing )" in message and "'\\.'" in message


def test_capture_groups_are_numbered_across_db_then_table() -> None:
    selector = TableSelector.parse(r"db_(\.*)_(\d+).(\.*)_tbl")
    m = selector.match(T("db_eu_7", "orders_tbl"))
    assert m is not None
    assert selector.group_count == 3
    assert m.groups() == ("eu", "7", "orders")
    assert (m.group(0), m.group(1), m.group(2), m.group(3)) == ("db_eu_7.orders_tbl", "eu", "7", "orders")
    with pytest.raises(IndexError):
        m.group(4)
    assert selector.match(T("db_eu_7", "orders")) is None


def test_named_groups_from_both_parts() -> None:
    m = TableSelector.parse(r"(?<region>\w+)_db.(?P<name>\w+)").match(T("eu_db", "users"))
    assert m is not None and m.groupdict() == {"region": "eu", "name": "users"}


@pytest.mark.parametrize(
    ("text", "specs"),
    [
        (r"adb.\.*, bdb.user_table_[0-9]+", [r"adb.\.*", "bdb.user_table_[0-9]+"]),
        ("a.b,,  ,c.d ,", ["a.b", "c.d"]),
        (r"db.t{1\,3}", [r"db.t{1,3}"]),  # \, is a literal comma inside a regex
    ],
)
def test_parse_selectors_splits_on_unescaped_commas(text: str, specs: list[str]) -> None:
    assert [s.spec for s in parse_selectors(text)] == specs


def test_parse_selectors_rejects_empty_list() -> None:
    with pytest.raises(ValueError, match="no table selector"):
        parse_selectors(" , ")


def test_escaped_comma_regex_matches() -> None:
    (selector,) = parse_selectors(r"db.t{1\,3}")
    assert selector.matches(T("db", "ttt")) and not selector.matches(T("db", "tttt"))


@pytest.mark.parametrize(
    ("tables", "exclude", "table", "expected"),
    [
        (r"app.\.*", None, T("app", "users"), True),
        (r"app.\.*", r"app.tmp_\.*", T("app", "tmp_x"), False),  # exclusion wins
        (r"app.\.*", r"app.tmp_\.*", T("app", "users"), True),
        (r"app.\.*, shard.order_[0-9]+", "", T("shard", "order_3"), True),
        (r"app.\.*", None, T("other", "users"), False),
        (r"app.users", r"\.*.\.*", T("app", "users"), False),
    ],
)
def test_table_filter(tables: str, exclude: str | None, table: TableId, expected: bool) -> None:
    assert TableFilter.from_options(tables, exclude).matches(table) is expected


def test_table_filter_select_keeps_order() -> None:
    f = TableFilter.from_options(r"a.\.*", "a.skip")
    assert f.select([T("a", "z"), T("b", "x"), T("a", "skip"), T("a", "b")]) == [T("a", "z"), T("a", "b")]


def test_table_filter_bad_exclude_regex_raises() -> None:
    with pytest.raises(ValueError, match="table regex"):
        TableFilter.from_options("a.b", "a.(")


# ------------------------------------------------------------------------------------------------
# Routing

R = RouteRule


@pytest.mark.parametrize(
    ("rules", "mode", "table", "expected"),
    [
        ([], RouteMode.ALL_MATCH, T("db", "t"), [T("db", "t")]),
        ([R("x.y", "a.b")], RouteMode.ALL_MATCH, T("db", "t"), [T("db", "t")]),  # no match: same name
        ([R(r"app.\.*", "ods.<>", "<>")], RouteMode.ALL_MATCH, T("app", "users"), [T("ods", "users")]),
        ([R(r"app.\.*", "<>_db.t_<>", "<>")], RouteMode.ALL_MATCH, T("app", "u"), [T("u_db", "t_u")]),
        (
            [R("shard.order_[0-9]+", "ods.orders")],
            RouteMode.ALL_MATCH,
            T("shard", "order_7"),
            [T("ods", "orders")],
        ),
        (
            [R(r"db_(\.*).(\.*)_tbl", "sink_db_$1.sink_table_$2")],  # the Flink docs example
            RouteMode.ALL_MATCH,
            T("db_eu", "users_tbl"),
            [T("sink_db_eu", "sink_table_users")],
        ),
        ([R(r"db.(t)", "x.$12")], RouteMode.ALL_MATCH, T("db", "t"), [T("x", "t2")]),  # Java: $1 then '2'
        (
            [R(r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l).t", "x.$12_$1")],
            RouteMode.ALL_MATCH,
            T("abcdefghijkl", "t"),
            [T("x", "l_a")],
        ),
        ([R(r"db.(\.*)", r"x.cost\$_$1")], RouteMode.ALL_MATCH, T("db", "t"), [T("x", "cost$_t")]),
        ([R(r"db.\.*", "x.a$b")], RouteMode.ALL_MATCH, T("db", "t"), [T("x", "a$b")]),  # $ is legal in names
        ([R(r"db.(?<n>\.*)", "x.p_${n}")], RouteMode.ALL_MATCH, T("db", "t"), [T("x", "p_t")]),
        ([R(r"db.(a)?(\.*)", "x.$1$2")], RouteMode.ALL_MATCH, T("db", "t"), [T("x", "t")]),  # unset group: ''
        ([R(r"a.\.*, b.\.*", "ods.<>", "<>")], RouteMode.ALL_MATCH, T("b", "t"), [T("ods", "t")]),
        (
            [R(r"db.\.*", "one.<>", "<>"), R(r"db.t\.*", "two.<>", "<>")],
            RouteMode.ALL_MATCH,
            T("db", "tx"),
            [T("one", "tx"), T("two", "tx")],
        ),
        (
            [R(r"db.\.*", "one.<>", "<>"), R(r"db.t\.*", "two.<>", "<>")],
            RouteMode.FIRST_MATCH,
            T("db", "tx"),
            [T("one", "tx")],
        ),
        (
            [R(r"db.\.*", "one.<>", "<>"), R(r"db.t\.*", "two.<>", "<>")],
            RouteMode.FIRST_MATCH,
            T("other", "tx"),
            [T("other", "tx")],
        ),
        ([R("db.t", "a.b"), R(r"db.\.*", "a.b")], RouteMode.ALL_MATCH, T("db", "t"), [T("a", "b")]),  # dedup
        ([R(r"app.\.*", "ods.<>", "<>")], RouteMode.ALL_MATCH, T("app", "a.b"), [T("ods", "a.b")]),
    ],
)
def test_resolve_targets(
    rules: list[RouteRule], mode: RouteMode, table: TableId, expected: list[TableId]
) -> None:
    assert resolve_targets(table, rules, mode) == expected


def test_resolve_target_several_targets_names_the_rules() -> None:
    rules = [R(r"db.\.*", "one.<>", "<>", "everything"), R(r"db.t\.*", "two.<>", "<>")]
    with pytest.raises(ConfigError) as info:
        resolve_target(T("db", "tx"), rules, RouteMode.ALL_MATCH)
    message = str(info.value)
    assert "route[0]" in message and "route[1]" in message and "everything" in message
    assert "one.tx" in message and "two.tx" in message and "FIRST_MATCH" in message
    assert resolve_target(T("db", "tx"), rules, RouteMode.FIRST_MATCH) == T("one", "tx")
    assert resolve_target(T("db", "other"), rules) == T("one", "other")


def test_resolve_target_same_target_from_two_rules_is_fine() -> None:
    rules = [R("db.t", "a.b"), R(r"db.\.*", "a.b")]
    assert resolve_target(T("db", "t"), rules) == T("a", "b")
    assert resolve_target(T("x", "y"), rules) == T("x", "y")


def test_empty_name_after_substitution_is_a_config_error() -> None:
    rule = R(r"db.(a)?\.*", "x$1.t")
    assert resolve_target(T("db", "a1"), [rule]) == T("xa", "t")
    with pytest.raises(ConfigError, match=r"route\[0\].*empty"):
        resolve_target(T("db", "zz"), [R(r"db.(a)?\.*", "$1.t")])


@pytest.mark.parametrize(
    ("args", "key", "fragment"),
    [
        (("db.(x", "a.b"), "source-table", "the table regex '(x' is invalid"),
        (("db.t", "nodot"), "sink-table", "not of the form db.table"),
        (("db.t", ".t"), "sink-table", "not of the form db.table"),
        (("db.t", "a."), "sink-table", "not of the form db.table"),
        (("db.t", "ods.<>", ""), "replace-symbol", "must be non-empty"),
        (("db.t", "ods.<.>", "<.>"), "replace-symbol", "contain no '.'"),
        (("db.t", "ods.t", "<>"), "replace-symbol", "does not occur in sink-table"),
        (("db.(t)", "ods.<>_$1", "<>"), "sink-table", "together with replace-symbol"),
        (("db.(t)", "ods.$2"), "sink-table", "$2 refers to a capture group"),
        (("db.t", "ods.$1"), "sink-table", "$1 refers to a capture group"),
        (("db.(t)", "ods.$0"), "sink-table", "$0"),
        (("db.(t)", "ods.${nope}"), "sink-table", "named group"),
        (("db.(t), db.u", "ods.$1"), "sink-table", "selector 'db.u'"),  # every selector needs the group
    ],
)
def test_route_rule_errors(args: tuple[str, ...], key: str, fragment: str) -> None:
    with pytest.raises(RouteRuleError) as info:
        RouteRule(*args)
    assert info.value.key == key
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("ALL_MATCH", RouteMode.ALL_MATCH),
        ("all_match", RouteMode.ALL_MATCH),
        ("First-Match", RouteMode.FIRST_MATCH),
        (" FIRST_MATCH ", RouteMode.FIRST_MATCH),
    ],
)
def test_route_mode_parse(text: str, mode: RouteMode) -> None:
    assert RouteMode.parse(text) is mode


def test_route_mode_parse_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="ALL_MATCH, FIRST_MATCH"):
        RouteMode.parse("any")


# ---- tables merged into one target ------------------------------------------------------------


def test_combine_changes_keeps_one_row_per_key_the_last_part_winning() -> None:
    one = ([(1,)], [(2, "a"), (3, "a")])  # shard 1: delete 1, upsert 2 and 3
    assert combine_changes([one], (0,)) == ([(1,)], [(2, "a"), (3, "a")])
    two = ([(3,)], [(1, "b"), (2, "b")])  # shard 2: delete 3, upsert 1 and 2 (colliding keys)
    keys, rows = combine_changes([one, two], (0,))
    assert keys == [(3,)]
    assert sorted(rows) == [(1, "b"), (2, "b")]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        (T("db1", "orders"), "db1.orders:chunk-000007"),
        (T("shard_db", "order_12"), "shard_db.order_12:chunk-000007"),
        (T("we.ird", "a,b|c...d: ü%x$"), "we%2Eird.a%2Cb%7Cc%2E%2E%2Ed%3A%20ü%25x$:chunk-000007"),
    ],
)
def test_source_chunk_partition_keys_round_trip_and_avoid_what_dagster_refuses(table, key) -> None:
    assert source_chunk_partition_key(table, 7) == key
    assert parse_source_chunk_partition_key(key) == (table, 7)
    assert "..." not in key and "," not in key and "|" not in key


def test_partition_keys_of_one_chunk_alone_and_malformed_ones() -> None:
    assert parse_source_chunk_partition_key("chunk-000003") == (None, 3)
    for bad in ("chunk-x", "db:chunk-000001", "db.t:3", ""):
        with pytest.raises(ValueError, match="not a snapshot chunk partition key"):
            parse_source_chunk_partition_key(bad)
