"""What of a transformed table can be reconciled with its source: the source passed through the same rule
(projection and filter, evaluated as the stream evaluates them) against the target.

Some target values cannot be computed again from the source as it is now, and are left out of the
checksums, each with its reason: columns that read an event's metadata (``op_ts``, ``__data_event_type__``:
the event that wrote a row is gone, a recomputation sees a snapshot row) and columns that read the clock
or a random source (``NOW()``, ``UUID()`` ...). Some rules cannot be reconciled at all, and the check says
so instead of passing: a filter that reads event metadata or the clock (which rows the target holds
depends on when and how they changed), ``converter-after-transform: SOFT_DELETE`` (the target keeps rows
the source deleted), and a target key that is not the whole source key (several source rows share a
target row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from cdc_assets.core.transform import EVENT_COLUMNS, TransformPlan

#: DuckDB functions the rules' clock and random functions compile to (NOW, CURRENT_TIMESTAMP,
#: LOCALTIMESTAMP, CURRENT_DATE, UNIX_TIMESTAMP(), UUID)
_VOLATILE = re.compile(r"\b(now|uuid|gen_random_uuid|random|current_timestamp|current_date)\b", re.IGNORECASE)


def _reads(sql: str) -> tuple[set[str], bool]:
    """The column names an expression reads, and whether it calls a clock or random function."""
    names = {c.name for c in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Column)}
    return names, bool(_VOLATILE.search(re.sub(r"'(?:[^']|'')*'", "''", sql)))


@dataclass(frozen=True)
class ReconcilePlan:
    """The target columns compared (positions in the target schema), those left out with why, and the
    position in the target key of each source key column (None: the table cannot be reconciled, see
    ``blocked``)."""

    compared: tuple[int, ...]
    left_out: tuple[tuple[str, str], ...]
    source_key_from_target: tuple[int, ...] | None
    blocked: str | None

    def describe_left_out(self) -> str:
        return "; ".join(f"{name}: {why}" for name, why in self.left_out)


def reconcile_plan(plan: TransformPlan) -> ReconcilePlan:
    """How ``plan``'s target is compared with its source (see module)."""
    compared: list[int] = []
    left_out: list[tuple[str, str]] = []
    for i, col in enumerate(plan.columns):
        names, volatile = _reads(col.sql)
        events = sorted(names & EVENT_COLUMNS)
        if events:
            left_out.append(
                (col.name, f"reads {', '.join(events)}, which a recomputation from the source lacks")
            )
        elif volatile:
            left_out.append((col.name, "reads the clock or a random function"))
        else:
            compared.append(i)
    rid = f"transform[{plan.rule_index}]"
    blocked = None
    if plan.soft_delete:
        blocked = (
            f"{rid} has converter-after-transform: SOFT_DELETE: the target keeps rows the source deleted"
        )
    elif plan.keep_sql is not None:
        names, volatile = _reads(plan.keep_sql)
        if names & EVENT_COLUMNS or volatile:
            blocked = (
                f"{rid}'s filter reads event metadata or the clock, so which rows the target holds depends on "
                "how and when they changed, not on the source as it is"
            )
    key_len = len(plan.source.primary_key)
    from_source = plan.key_from_source
    inverse = None
    if sorted(from_source) == list(range(key_len)):
        inverse = tuple(from_source.index(i) for i in range(key_len))
    elif blocked is None:
        blocked = (
            f"{rid}'s target key ({', '.join(plan.target.primary_key)}) is not the whole source key "
            f"({', '.join(plan.source.primary_key)}): several source rows may share one target row"
        )
    return ReconcilePlan(tuple(compared), tuple(left_out), inverse, blocked)
