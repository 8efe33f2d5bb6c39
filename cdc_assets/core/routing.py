"""Flink CDC ``route`` rules: which target table each captured source table is written to.

A rule has ``source-table`` (a selector list, see :mod:`cdc_assets.core.selectors`), ``sink-table``
(``db.table``), optional ``replace-symbol`` and ``description``. In ``sink-table``:

- every occurrence of ``replace-symbol`` (e.g. ``<>``) is replaced by the source TABLE name;
- ``$1``, ``$2``... are capture groups of the matching source selector, numbered across its database
  and table parts in order (Java replacement rules: ``$12`` is group 12 only if the selector has 12
  groups, else group 1 then ``2``); ``${name}`` is a named group (write it ``$${name}`` in the YAML
  file, because ``${NAME}`` there is environment substitution); a group that took no part in the
  match is empty; ``\\$`` is a literal ``$``, and a ``$`` followed by anything else is literal
  (``$`` is legal in MySQL names);
- capture groups and ``replace-symbol`` cannot be combined (Flink's rule).

The template is split into database and table at its first ``.`` before substitution, so a
substituted name that contains a dot stays in its part. With no matching rule a table keeps its own
``db.table``. ``pipeline.route-mode`` (Flink 3.6): ``ALL_MATCH`` (default) sends a table to the
targets of every matching rule, ``FIRST_MATCH`` only to the first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cdc_assets.core.schema import TableId
from cdc_assets.core.selectors import SelectorMatch, TableSelector, parse_selectors
from cdc_assets.errors import ConfigError

_GROUP_REF = re.compile(r"\$(\d|\{)")


class RouteMode(StrEnum):
    ALL_MATCH = "ALL_MATCH"
    FIRST_MATCH = "FIRST_MATCH"

    @classmethod
    def parse(cls, text: str) -> RouteMode:
        """Case-insensitive; ``-`` and ``_`` are the same. Raises ValueError listing the choices."""
        key = text.strip().upper().replace("-", "_")
        try:
            return cls(key)
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown route mode '{text}'; expected one of: {choices}") from None


class RouteRuleError(ValueError):
    """A route rule is invalid; ``key`` is the rule key at fault (``source-table``, ``sink-table``...)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _expand(template: str, match: SelectorMatch | None, count: int, names: frozenset[str]) -> str:
    """Substitute ``$n`` / ``${name}`` in ``template``; with ``match`` None only validate."""
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "\\" and i + 1 < n and template[i + 1] in "\\$":
            out.append(template[i + 1])
            i += 2
        elif ch == "$" and i + 1 < n and template[i + 1].isdigit():
            ref, i = int(template[i + 1]), i + 2
            if ref == 0:
                raise ValueError("$0 (the whole name) cannot be used; use replace-symbol for the table name")
            if ref > count:
                raise ValueError(
                    f"${ref} refers to a capture group the source-table regex does not have ({count})"
                )
            while i < n and template[i].isdigit() and ref * 10 + int(template[i]) <= count:
                ref, i = ref * 10 + int(template[i]), i + 1
            out.append((match.group(ref) or "") if match else "")
        elif ch == "$" and i + 1 < n and template[i + 1] == "{":
            end = template.find("}", i + 2)
            if end < 0:
                raise ValueError(f"unterminated group reference '{template[i:]}'")
            name = template[i + 2 : end]
            if name not in names:
                raise ValueError(f"${{{name}}} refers to a named group the source-table regex does not have")
            out.append((match.groupdict().get(name) or "") if match else "")
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class RouteRule:
    """One ``route`` entry, validated on construction (raises :class:`RouteRuleError`)."""

    source_table: str
    sink_table: str
    replace_symbol: str | None = None
    description: str | None = None
    selectors: tuple[TableSelector, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            selectors = tuple(parse_selectors(self.source_table))
        except ValueError as exc:
            raise RouteRuleError("source-table", str(exc)) from None
        object.__setattr__(self, "selectors", selectors)
        db, sep, table = self.sink_table.partition(".")
        if not sep or not db.strip() or not table.strip():
            raise RouteRuleError(
                "sink-table",
                f"'{self.sink_table}' is not of the form db.table (e.g. 'ods.<>' with replace-symbol '<>')",
            )
        symbol = self.replace_symbol
        if symbol is not None:
            if not symbol or "." in symbol:
                raise RouteRuleError("replace-symbol", f"'{symbol}' must be non-empty and contain no '.'")
            if symbol not in self.sink_table:
                raise RouteRuleError(
                    "replace-symbol",
                    f"'{symbol}' does not occur in sink-table '{self.sink_table}'; use it there or remove it",
                )
            if _GROUP_REF.search(self.sink_table):
                raise RouteRuleError(
                    "sink-table",
                    f"'{self.sink_table}' uses capture groups together with replace-symbol; Flink CDC does "
                    "not allow both, use one of them",
                )
            return
        for selector in selectors:
            try:
                _expand(self.sink_table, None, selector.group_count, selector.group_names)
            except ValueError as exc:
                raise RouteRuleError(
                    "sink-table", f"'{self.sink_table}': {exc} (selector '{selector}')"
                ) from None

    def match(self, table_id: TableId) -> SelectorMatch | None:
        """The first of this rule's selectors that matches ``table_id``, or None."""
        for selector in self.selectors:
            m = selector.match(table_id)
            if m is not None:
                return m
        return None

    def target(self, table_id: TableId, match: SelectorMatch) -> TableId:
        """The target of ``table_id`` (which ``match`` matched). Raises ValueError for an empty part."""
        db, _, table = self.sink_table.partition(".")
        if self.replace_symbol is not None:
            db = db.replace(self.replace_symbol, table_id.table)
            table = table.replace(self.replace_symbol, table_id.table)
        else:
            count, names = match.db.re.groups + match.table.re.groups, frozenset(match.groupdict())
            db, table = (_expand(part, match, count, names) for part in (db, table))
        db, table = db.strip(), table.strip()
        if not db or not table:
            raise ValueError(
                f"sink-table '{self.sink_table}' gives an empty {'database' if not db else 'table'} name "
                f"for {table_id}"
            )
        return TableId(db, table)

    def __str__(self) -> str:
        text = f"{self.source_table} -> {self.sink_table}"
        return f"{text} ({self.description})" if self.description else text


def _routes(table_id: TableId, rules: Sequence[RouteRule], mode: RouteMode) -> list[tuple[int, TableId]]:
    found: list[tuple[int, TableId]] = []
    for index, rule in enumerate(rules):
        m = rule.match(table_id)
        if m is None:
            continue
        try:
            found.append((index, rule.target(table_id, m)))
        except ValueError as exc:
            raise ConfigError(
                f"route[{index}]: {exc}; fix the rule's sink-table or source-table", table=str(table_id)
            ) from None
        if mode is RouteMode.FIRST_MATCH:
            break
    return found


def resolve_targets(
    table_id: TableId, rules: Sequence[RouteRule], mode: RouteMode = RouteMode.ALL_MATCH
) -> list[TableId]:
    """Every target of ``table_id`` in rule order, without duplicates; ``[table_id]`` if no rule
    matches. Raises ConfigError if a matching rule yields an empty name."""
    found = _routes(table_id, rules, mode)
    if not found:
        return [table_id]
    return list(dict.fromkeys(target for _, target in found))


def resolve_target(
    table_id: TableId, rules: Sequence[RouteRule], mode: RouteMode = RouteMode.ALL_MATCH
) -> TableId:
    """The single target of ``table_id``, for callers that need exactly one (the engine writes to
    every target of :func:`resolve_targets`). Raises ConfigError naming the rules if ALL_MATCH sends
    the table to several different targets."""
    found = _routes(table_id, rules, mode)
    targets = list(dict.fromkeys(target for _, target in found))
    if not found:
        return table_id
    if len(targets) > 1:
        detail = "; ".join(f"route[{i}] ({rules[i]}) -> {target}" for i, target in found)
        raise ConfigError(
            f"table {table_id} matches several route rules with different targets under route-mode "
            f"ALL_MATCH: {detail}. Make the source-table regexes disjoint, or set "
            "pipeline.route-mode: FIRST_MATCH to use the first matching rule",
            table=str(table_id),
            targets=[str(t) for t in targets],
        )
    return targets[0]


def combine_changes(
    parts: Sequence[tuple[Sequence[tuple], Sequence[tuple]]], key_positions: Sequence[int]
) -> tuple[list[tuple], list[tuple]]:
    """The ``(keys_to_delete, rows_to_upsert)`` of several source tables routed to one target, as one
    write: each part is one source's collapsed changes (:func:`cdc_assets.core.events.collapse`).

    A key that several parts touch (shards whose keys collide) ends as the LAST part leaves it, and
    appears once: a write must not hold two rows with one key."""
    if len(parts) == 1:
        keys, rows = parts[0]
        return list(keys), list(rows)
    final: dict[tuple, tuple | None] = {}
    for keys, rows in parts:
        for k in keys:
            final[tuple(k)] = None
        for r in rows:
            final[tuple(r[i] for i in key_positions)] = tuple(r)
    return [k for k, r in final.items() if r is None], [r for r in final.values() if r is not None]
