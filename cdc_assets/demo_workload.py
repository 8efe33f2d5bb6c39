"""``Workload``: deterministic background writes on the demo's sample shop database.

``Workload`` changes the tables of ``create_sample_database`` the way an application would,
including primary-key changes (a case-only change of a ``products.sku`` among them) and
multi-table transactions, deterministically for a given seed and starting state. All values are
bound parameters; names go through ``quote_ident``. Timestamps are derived from the seed, not read
from the clock.

Re-exported by ``cdc_assets.demo_data``.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pymysql

from cdc_assets.core.sql import quote_table
from cdc_assets.demo_rows import (
    HIGH_ORDER_ID,
    TABLES,
    _customer_row,
    _insert_sql,
    _money,
    _new_sku,
    _order_rows,
    _product_row,
)

_LOW_ID_LIMIT = 2**63
_RETRY_CODES = {1213, 1205}  # deadlock, lock wait timeout: the transaction is replayed


class _KeyPool:
    """Keys in a stable order with O(1) add, remove and seeded random choice (sets would not be deterministic)."""

    def __init__(self, keys: Iterable[Hashable] = ()) -> None:
        self._list: list[Any] = []
        self._index: dict[Any, int] = {}
        for k in keys:
            self.add(k)

    def __len__(self) -> int:
        return len(self._list)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def add(self, key: Any) -> None:
        self._index[key] = len(self._list)
        self._list.append(key)

    def remove(self, key: Any) -> None:
        i = self._index.pop(key)
        last = self._list.pop()
        if i < len(self._list):
            self._list[i] = last
            self._index[last] = i

    def choice(self, rng: random.Random) -> Any:
        return self._list[rng.randrange(len(self._list))]

    @property
    def keys(self) -> Sequence[Any]:
        return self._list


@dataclass(frozen=True)
class _Stmt:
    """One statement of a planned transaction.

    ``kind`` is insert/update/delete; ``expect`` is the affected-row count it must have (None: any);
    ``rekey`` marks updates that change a primary key; ``many`` runs ``params`` with executemany.
    """

    sql: str
    params: Any
    kind: str
    expect: int | None = None
    rekey: bool = False
    many: bool = False


# (planner method, weight): the mix of transactions; the key-changing ones only with key_changes.
_MIX = (
    ("_add_customer", 10), ("_add_customers", 5), ("_update_customer", 15), ("_update_customers", 5),
    ("_delete_customer", 4), ("_add_product", 4), ("_update_product", 10), ("_delete_product", 2),
    ("_add_order", 12), ("_update_order", 10), ("_add_line", 5), ("_delete_line", 3), ("_delete_order", 4),
    ("_mixed", 5),
)  # fmt: skip
_KEY_MIX = (("_rekey_customer", 2), ("_rekey_order", 2), ("_recase_sku", 3), ("_rekey_sku", 1))
_MIXED_PARTS = ("_add_customer", "_update_customer", "_delete_customer", "_update_product", "_add_order",
                "_update_order", "_add_line", "_delete_order")  # fmt: skip


class Workload:
    """A deterministic stream of application-like transactions on the tables of :func:`create_sample_database`.

    ``rate_per_s`` paces :meth:`start` (transactions per second; 0 or less = as fast as possible);
    :meth:`run_for` runs unpaced. With ``key_changes`` some updates change primary keys: a
    customer's id, an order's id (to one near 2^64) and a product's sku, sometimes only its case.
    The workload assumes it is the only writer of these tables: it tracks the keys it may touch,
    so it never violates a constraint, and it checks the affected-row count of every statement
    that targets known rows. Deadlocks and lock-wait timeouts roll back and replay the same
    transaction (up to ``max_retries`` times). Counters count rows the server reported as changed,
    in committed transactions; ``key_updates`` counts updated rows whose primary key changed (they
    are in ``updates`` too). Invariants kept: every order has at least one item, no item lacks its
    order, and ``orders.total`` equals the sum of its items' ``qty * unit_price``.
    """

    def __init__(
        self,
        connect: Callable[[], pymysql.connections.Connection],
        db: str = "shop",
        *,
        seed: int = 11,
        rate_per_s: float = 200.0,
        key_changes: bool = True,
        max_retries: int = 20,
    ) -> None:
        self._connect = connect
        self._db = db
        self._rng = random.Random(seed)
        self._rate = rate_per_s
        self._max_retries = max_retries
        mix = _MIX + (_KEY_MIX if key_changes else ())
        self._ops = [getattr(self, name) for name, _ in mix]
        self._weights = [weight for _, weight in mix]
        self.transactions = self.inserts = self.updates = self.deletes = self.key_updates = self.retries = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._clock = dt.datetime(2026, 1, 1)
        self._sql = {t: _insert_sql(db, t) for t in TABLES}
        self._t = {t: quote_table(db, t) for t in TABLES}

    # ------------------------------------------------------------------------------------- control
    def run_for(self, n_transactions: int) -> None:
        """Run ``n_transactions`` committed transactions now, in the calling thread."""
        if self._thread is not None:
            raise RuntimeError("the workload is already running in the background; stop() it first")
        conn = self._open()
        try:
            for _ in range(n_transactions):
                self._one_transaction(conn)
        finally:
            conn.close()

    def start(self) -> Workload:
        """Run transactions in a background thread until :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("the workload is already running")
        self._stop.clear()
        self._error = None
        self._thread = threading.Thread(target=self._loop, name=f"workload-{self._db}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread after its current transaction; re-raise what it failed with, if anything."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout_s)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        try:
            conn = self._open()
            try:
                interval = 1.0 / self._rate if self._rate > 0 else 0.0
                next_t = time.monotonic()
                while not self._stop.is_set():
                    self._one_transaction(conn)
                    if interval:
                        next_t += interval
                        delay = next_t - time.monotonic()
                        if delay > 0:
                            self._stop.wait(delay)
                        elif delay < -1.0:  # far behind: do not burst to catch up
                            next_t = time.monotonic()
            finally:
                conn.close()
        except BaseException as exc:  # handed to stop()
            self._error = exc

    # --------------------------------------------------------------------------------------- state
    def _open(self) -> pymysql.connections.Connection:
        conn = self._connect()
        t = self._t
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            # Re-read the keys each time: the tables may have changed since the last run.
            cur.execute(f"SELECT id FROM {t['customers']} ORDER BY id")
            self._customers = _KeyPool(r[0] for r in cur.fetchall())
            cur.execute(f"SELECT sku FROM {t['products']} ORDER BY sku")
            self._products = _KeyPool(r[0] for r in cur.fetchall())
            cur.execute(f"SELECT id FROM {t['orders']} ORDER BY id")
            self._orders = _KeyPool(r[0] for r in cur.fetchall())
            cur.execute(f"SELECT order_id, line_no FROM {t['order_items']} ORDER BY order_id, line_no")
            item_keys = cur.fetchall()
            cur.execute(f"SELECT MAX(updated_at) FROM {t['customers']}")
            latest = cur.fetchone()[0]
        self._lines: dict[int, list[int]] = {oid: [] for oid in self._orders.keys}
        for oid, line in item_keys:
            self._lines.setdefault(oid, []).append(line)
        self._next_cid = max(self._customers.keys, default=0) + 1
        # New orders count up from the low ids, re-keyed ones down from 2^64-1; items may hold
        # order ids without an order, so both ranges are computed over the items' ids too.
        self._next_low = max((o for o in self._lines if o < _LOW_ID_LIMIT), default=0) + 1
        self._next_high = min((o for o in self._lines if o >= _LOW_ID_LIMIT), default=HIGH_ORDER_ID + 1) - 1
        suffixes = [int(s.rsplit("-", 1)[1]) for s in self._products.keys if s.rsplit("-", 1)[-1].isdigit()]
        self._next_sku = max(suffixes, default=0) + 1
        if latest is not None and latest > self._clock:
            self._clock = latest
        return conn

    def _tick(self) -> dt.datetime:
        # A clock of our own that only moves forward: "now" is deterministic and every
        # updated_at write is a real change.
        self._clock += dt.timedelta(milliseconds=self._rng.randint(1, 1000))
        return self._clock

    # -------------------------------------------------------------------------------- transactions
    def _one_transaction(self, conn: pymysql.connections.Connection) -> None:
        self._commit(conn, self._rng.choices(self._ops, self._weights)[0]())

    def _commit(self, conn: pymysql.connections.Connection, stmts: list[_Stmt]) -> None:
        for attempt in range(self._max_retries + 1):
            counts = {"insert": 0, "update": 0, "delete": 0, "rekey": 0}
            try:
                conn.begin()
                with conn.cursor() as cur:
                    for st in stmts:
                        n = cur.executemany(st.sql, st.params) if st.many else cur.execute(st.sql, st.params)
                        if st.expect is not None and n != st.expect:
                            raise RuntimeError(
                                f"workload key tracking is stale: {st.sql!r} changed {n} rows, expected "
                                f"{st.expect}; something else wrote to {self._db!r}: run the workload alone"
                            )
                        counts[st.kind] += n or 0
                        counts["rekey"] += (n or 0) if st.rekey else 0
                conn.commit()
            except pymysql.err.MySQLError as exc:
                _quiet_rollback(conn)
                if exc.args and exc.args[0] in _RETRY_CODES and attempt < self._max_retries:
                    self.retries += 1
                    time.sleep(min(0.5, 0.01 * 2**attempt))
                    continue
                raise
            except BaseException:
                _quiet_rollback(conn)
                raise
            self.transactions += 1
            self.inserts += counts["insert"]
            self.updates += counts["update"]
            self.deletes += counts["delete"]
            self.key_updates += counts["rekey"]
            return

    def _update(self, table: str, assign: str, where: str, params: Sequence[Any], expect: int | None = 1,
                *, rekey: bool = False) -> _Stmt:  # fmt: skip
        return _Stmt(f"UPDATE {self._t[table]} SET {assign} WHERE {where}", params, "update", expect, rekey)

    def _delete(self, table: str, where: str, params: Sequence[Any], expect: int = 1) -> _Stmt:
        return _Stmt(f"DELETE FROM {self._t[table]} WHERE {where}", params, "delete", expect)

    # Each planner below picks keys with the seeded RNG, updates the tracked keys at once (a
    # replay after a deadlock runs the very same statements) and returns the statements. One
    # that finds too few keys to work on plans an insert instead.
    def _mixed(self) -> list[_Stmt]:
        parts = [getattr(self, self._rng.choice(_MIXED_PARTS)) for _ in range(self._rng.randint(2, 4))]
        return [stmt for part in parts for stmt in part()]

    def _add_customer(self) -> list[_Stmt]:
        return self._add_customers(1)

    def _add_customers(self, n: int | None = None) -> list[_Stmt]:
        n = n or self._rng.randint(2, 5)
        rows = []
        for _ in range(n):
            row, now = _customer_row(self._rng, self._next_cid), self._tick()
            rows.append((*row[:5], now, now, *row[7:]))  # created_at = updated_at = "now"
            self._customers.add(self._next_cid)
            self._next_cid += 1
        return [_Stmt(self._sql["customers"], rows, "insert", n, many=True)]

    def _update_customer(self) -> list[_Stmt]:
        if not self._customers:
            return self._add_customer()
        cid = self._customers.choice(self._rng)
        values = (_money(self._rng, -500, 5000), self._rng.choice(["bronze", "silver", "gold"]), self._tick())
        return [
            self._update("customers", "balance = %s, tier = %s, updated_at = %s", "id = %s", (*values, cid))
        ]

    def _update_customers(self) -> list[_Stmt]:
        if len(self._customers) < 5:
            return self._add_customers()
        ids = sorted({self._customers.choice(self._rng) for _ in range(self._rng.randint(2, 6))})
        where = f"id IN ({', '.join(['%s'] * len(ids))})"
        assign = "is_active = 1 - is_active, updated_at = %s"
        return [self._update("customers", assign, where, (self._tick(), *ids), len(ids))]

    def _delete_customer(self) -> list[_Stmt]:
        if len(self._customers) < 2:
            return self._add_customer()
        cid = self._customers.choice(self._rng)
        self._customers.remove(cid)
        return [self._delete("customers", "id = %s", (cid,))]

    def _add_product(self) -> list[_Stmt]:
        sku = _new_sku(self._rng, self._next_sku)
        self._next_sku += 1
        self._products.add(sku)
        return [_Stmt(self._sql["products"], _product_row(self._rng, sku), "insert", 1)]

    def _update_product(self) -> list[_Stmt]:
        if not self._products:
            return self._add_product()
        sku = self._products.choice(self._rng)
        tags = self._rng.choice(["", "sale", "new,sale", "eco"])
        # (stock + k) % 65536 with 0 < k < 65536 always differs from stock: the row really changes.
        assign = "price = %s, stock = (stock + %s) %% 65536, tags = %s"
        params = (_money(self._rng, 0, 2000), self._rng.randint(1, 65535), tags, sku)
        return [self._update("products", assign, "sku = %s", params)]

    def _delete_product(self) -> list[_Stmt]:
        if len(self._products) < 2:
            return self._add_product()
        sku = self._products.choice(self._rng)
        self._products.remove(sku)
        return [self._delete("products", "sku = %s", (sku,))]

    def _add_order(self) -> list[_Stmt]:
        oid = self._next_low
        self._next_low += 1
        customers = self._customers.keys or [self._next_cid]
        skus = self._products.keys or [_new_sku(self._rng, 0)]
        order, items = _order_rows(self._rng, oid, customers, skus)
        self._orders.add(oid)
        self._lines[oid] = [item[1] for item in items]
        return [
            _Stmt(self._sql["orders"], (*order[:4], self._tick(), *order[5:]), "insert", 1),
            _Stmt(self._sql["order_items"], items, "insert", len(items), many=True),
        ]

    def _update_order(self) -> list[_Stmt]:
        if not self._orders:
            return self._add_order()
        oid = self._orders.choice(self._rng)
        status = self._rng.choice(["paid", "shipped", "delivered", "cancelled"])
        # flags ^ k with 0 < k < 256 always changes the row.
        return [
            self._update(
                "orders",
                "status = %s, flags = flags ^ %s",
                "id = %s",
                (status, self._rng.randint(1, 255), oid),
            )
        ]

    def _add_line(self) -> list[_Stmt]:
        if not self._orders:
            return self._add_order()
        oid = self._orders.choice(self._rng)
        line = max(self._lines[oid], default=0) + 1
        if line > 32767:  # SMALLINT line_no is full
            return self._update_order()
        self._lines[oid].append(line)
        qty, price = self._rng.randint(1, 5), _money(self._rng, 1, 500)
        sku = self._products.choice(self._rng) if self._products else "none"
        return [
            _Stmt(self._sql["order_items"], (oid, line, sku, qty, price, None), "insert", 1),
            self._update("orders", "total = total + %s", "id = %s", (qty * price, oid)),
        ]

    def _delete_line(self) -> list[_Stmt]:
        # Keep every order at one line or more: try a few orders for one with two or more lines.
        candidates = [self._orders.choice(self._rng) for _ in range(5)] if self._orders else []
        multi = [oid for oid in candidates if len(self._lines[oid]) > 1]
        if not multi:
            return self._add_line()
        oid = multi[0]
        line = self._rng.choice(self._lines[oid])
        self._lines[oid].remove(line)
        # The removed line had qty * unit_price >= 1.00, so the recomputed total always changes.
        total = f"total = (SELECT SUM(qty * unit_price) FROM {self._t['order_items']} WHERE order_id = %s)"
        return [
            self._delete("order_items", "order_id = %s AND line_no = %s", (oid, line)),
            self._update("orders", total, "id = %s", (oid, oid)),
        ]

    def _delete_order(self) -> list[_Stmt]:
        if len(self._orders) < 2:
            return self._add_order()
        oid = self._orders.choice(self._rng)
        self._orders.remove(oid)
        lines = self._lines.pop(oid)
        return [
            self._delete("order_items", "order_id = %s", (oid,), len(lines)),
            self._delete("orders", "id = %s", (oid,)),
        ]

    def _rekey_customer(self) -> list[_Stmt]:
        if not self._customers:
            return self._add_customer()
        old, new = self._customers.choice(self._rng), self._next_cid
        self._next_cid += 1
        self._customers.remove(old)
        self._customers.add(new)
        return [
            self._update("customers", "id = %s", "id = %s", (new, old), rekey=True),
            self._update("orders", "customer_id = %s", "customer_id = %s", (new, old), None),
        ]

    def _rekey_order(self) -> list[_Stmt]:
        if not self._orders or self._next_high < _LOW_ID_LIMIT:
            return self._add_order()
        old, new = self._orders.choice(self._rng), self._next_high
        self._next_high -= 1
        self._orders.remove(old)
        self._orders.add(new)
        lines = self._lines[new] = self._lines.pop(old)
        return [
            self._update("orders", "id = %s", "id = %s", (new, old), rekey=True),
            self._update("order_items", "order_id = %s", "order_id = %s", (new, old), len(lines), rekey=True),
        ]

    def _recase_sku(self) -> list[_Stmt]:
        """'abc-000001' <-> 'ABC-000001': the same key under utf8mb4_general_ci, a new one byte-wise."""
        if not self._products:
            return self._add_product()
        old = self._products.choice(self._rng)
        return self._rename_sku(old, old.lower() if old != old.lower() else old.upper())

    def _rekey_sku(self) -> list[_Stmt]:
        if not self._products:
            return self._add_product()
        old, new = self._products.choice(self._rng), _new_sku(self._rng, self._next_sku)
        self._next_sku += 1
        return self._rename_sku(old, new)

    def _rename_sku(self, old: str, new: str) -> list[_Stmt]:
        self._products.remove(old)
        self._products.add(new)
        return [
            self._update("products", "sku = %s", "sku = %s", (new, old), rekey=True),
            self._update("order_items", "sku = %s", "sku = %s", (new, old), None),
        ]


def _quiet_rollback(conn: pymysql.connections.Connection) -> None:
    try:
        conn.rollback()
    except pymysql.err.MySQLError:
        pass  # the connection is gone; the original error is what matters
