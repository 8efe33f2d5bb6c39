"""Sort keys of primary keys in the source's order (see :mod:`cdc_assets.core.key_order`): text key
columns get their collation weights from the server, in one query per batch of keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdc_assets.core.key_order import (
    SortKey,
    is_pad_space,
    needs_weight,
    orderable,
    python_sort_value,
    weight_sql,
)
from cdc_assets.core.schema import TableSchema
from cdc_assets.mysql.connection import ConnectionSettings, run

#: weights asked for in one SELECT (each is one select-list expression with one bound parameter)
WEIGHTS_PER_QUERY = 500


def _pad_attributes(conn, settings: ConnectionSettings, collations: set[str]) -> dict[str, str | None]:
    if not collations:
        return {}
    doing = "reading collation pad attributes"
    (has,) = run(
        conn,
        settings,
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'information_schema' "
        "AND TABLE_NAME = 'COLLATIONS' AND COLUMN_NAME = 'PAD_ATTRIBUTE'",
        doing=doing,
    )[0]
    if not has:  # MariaDB and MySQL 5.7 have no PAD_ATTRIBUTE column: decided by name
        return {c: None for c in collations}
    marks = ", ".join(["%s"] * len(collations))
    rows = run(
        conn,
        settings,
        f"SELECT COLLATION_NAME, PAD_ATTRIBUTE FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN ({marks})",
        sorted(collations),
        doing=doing,
    )
    return {str(name): str(pad) for name, pad in rows}


class KeySorter:
    """``sort_keys(keys)``: the sort keys of key tuples (values in key-column order, raw or canonical).

    ``ordered`` is False when a key column has no order here (see ``core.key_order.orderable``);
    then ``sort_keys`` must not be called.
    """

    def __init__(self, conn, settings: ConnectionSettings, schema: TableSchema):
        self._conn = conn
        self._settings = settings
        self.table = schema.table_id
        cols = [schema.column(name) for name in schema.primary_key]
        self.ordered = all(orderable(c) for c in cols)
        self._py: list[Any] = []
        self._weight: list[str | None] = []
        if not self.ordered:
            return
        pads = _pad_attributes(conn, settings, {c.collation for c in cols if needs_weight(c) and c.collation})
        for c in cols:
            if needs_weight(c):
                pad = is_pad_space(c.collation or "", pads.get(c.collation or ""))
                self._weight.append(weight_sql(c, pad_space=pad))
                self._py.append(None)
            else:
                self._weight.append(None)
                self._py.append(python_sort_value(c))

    def sort_keys(self, keys: Sequence[Sequence[Any]]) -> list[SortKey]:
        if not self.ordered:
            raise ValueError(f"the primary key of {self.table} has no order here")
        out: list[list[Any]] = [[None] * len(self._py) for _ in keys]
        for i, (py, wsql) in enumerate(zip(self._py, self._weight, strict=True)):
            if py is not None:
                for row, key in zip(out, keys, strict=True):
                    row[i] = py(key[i])
                continue
            assert wsql is not None
            for lo in range(0, len(keys), WEIGHTS_PER_QUERY):
                part = keys[lo : lo + WEIGHTS_PER_QUERY]
                sql = "SELECT " + ", ".join([wsql] * len(part))
                (weights,) = run(
                    self._conn,
                    self._settings,
                    sql,
                    [k[i] for k in part],
                    doing=f"ordering primary keys of {self.table} by their collation",
                )
                for j, w in enumerate(weights):
                    out[lo + j][i] = bytes(w) if w is not None else b""
        return [tuple(r) for r in out]

    def sort_key(self, key: Sequence[Any] | None) -> SortKey | None:
        return None if key is None else self.sort_keys([key])[0]
