"""The demo shop's tables, INSERT column lists and seeded row builders.

Shared by ``create_sample_database`` (``cdc_assets.demo_data``) and ``Workload``
(``cdc_assets.demo_workload``). Every value comes from the ``random.Random`` passed in, never from
the clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Sequence
from decimal import Decimal

from cdc_assets.core.sql import quote_ident, quote_table

TABLES = ("customers", "products", "orders", "order_items")
HIGH_ORDER_ID = 2**64 - 1  # orders also use ids counting down from here
_EPOCH = dt.datetime(2024, 1, 1)

# Column lists double as the INSERT column order of the row tuples built below.
_COLUMNS = {
    "customers": tuple("id name email is_active balance created_at updated_at birthday tier prefs".split()),
    "products": tuple(
        "sku title description price weight_kg rating stock thumbnail tags launch_year".split()
    ),
    "orders": tuple("id customer_id status total created_at delivery_window flags currency".split()),
    "order_items": tuple("order_id line_no sku qty unit_price checksum".split()),
}

_FIRST = "Anna Zoë Søren José Łukasz Ольга 渡辺 Amélie Chidi Mia Noah Björn".split()
_LAST = "Müller Smith García Nguyễn O'Brien Kowalski Øster Lee Dubois Rossi".split()
_EMOJI = "😀 🚀 🎉 ☕ 🐍".split()
_WORDS = "steel linen café eco mini pro smart oak naïve ultra soft nordic".split()


def _insert_sql(db: str, table: str) -> str:
    cols = _COLUMNS[table]
    names = ", ".join(quote_ident(c) for c in cols)
    return f"INSERT INTO {quote_table(db, table)} ({names}) VALUES ({', '.join(['%s'] * len(cols))})"


def _when(rng: random.Random, span_days: int = 700, *, micros: bool = True) -> dt.datetime:
    t = _EPOCH + dt.timedelta(seconds=rng.randrange(span_days * 86400))
    if micros:
        t = t.replace(microsecond=rng.randrange(1_000_000))
    return t


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


def _customer_row(rng: random.Random, cid: int) -> tuple:
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if rng.random() < 0.1:
        name += " " + rng.choice(_EMOJI)
    updated = (
        None
        if rng.random() < 0.3
        else _when(rng, micros=False).replace(microsecond=rng.randrange(1000) * 1000)
    )
    birthday = None if rng.random() < 0.2 else dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(25000))
    prefs = None
    if rng.random() < 0.6:
        prefs = json.dumps(
            {
                "newsletter": rng.random() < 0.5,
                "lang": rng.choice(["de", "en", "fr", "ja"]),
                "tags": ["ä", "🚀"][: rng.randrange(3)],
            },
            ensure_ascii=False,
        )
    balance = _money(rng, -500, 5000) if rng.random() < 0.98 else Decimal("9999999999.99")
    return (
        cid,
        name,
        f"user{cid}@example.com",
        int(rng.random() < 0.8),
        balance,
        _when(rng),
        updated,
        birthday,
        rng.choice(["bronze", "silver", "gold"]),
        prefs,
    )


def _new_sku(rng: random.Random, n: int) -> str:
    # Lower-case ASCII letters plus a unique counter: unique under utf8mb4_general_ci by construction.
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3)) + f"-{n:06d}"


def _product_row(rng: random.Random, sku: str) -> tuple:
    title = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3))).title()
    description = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(0, 60)))
    tags = ",".join(t for t in ("new", "sale", "eco") if rng.random() < 0.3)
    thumbnail = rng.randbytes(rng.randrange(1, 512)) if rng.random() < 0.5 else None
    stock = 65535 if rng.random() < 0.02 else rng.randrange(0, 5000)
    return (
        sku,
        title,
        description,
        _money(rng, 0, 2000),
        round(rng.uniform(0, 40), 3),
        round(rng.uniform(1, 5), 1),
        stock,
        thumbnail,
        tags,
        rng.choice([rng.randint(1990, 2025), 2155]) if rng.random() < 0.9 else None,
    )


def _order_rows(
    rng: random.Random, oid: int, customer_ids: Sequence[int], skus: Sequence[str]
) -> tuple[tuple, list[tuple]]:
    items = []
    for line in range(1, rng.randint(1, 4) + 1):
        checksum = hashlib.md5(f"{oid}:{line}".encode()).digest() if rng.random() < 0.7 else None
        items.append((oid, line, rng.choice(skus), rng.randint(1, 5), _money(rng, 1, 500), checksum))
    total = sum((Decimal(qty) * price for _, _, _, qty, price, _ in items), Decimal("0.00"))
    window = None
    if rng.random() < 0.7:
        # TIME is a duration: past 24 h and negative values are legal and must survive CDC.
        window = dt.timedelta(hours=rng.choice([9, 12, 17, 30, -2]), minutes=rng.choice([0, 15, 30, 45]))
    created = _when(rng, micros=False).replace(microsecond=rng.randrange(1000) * 1000)
    status = rng.choice(["new", "paid", "shipped", "delivered", "cancelled"])
    order = (
        oid,
        rng.choice(customer_ids),
        status,
        total,
        created,
        window,
        rng.randrange(256),
        rng.choice(["EUR", "USD", "CHF", "JPY"]),
    )
    return order, items
