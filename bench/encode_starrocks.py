"""Time JSON vs CSV Stream Load encoding of typical rows (pure Python, one process, no server).

    .venv/bin/python bench/encode_starrocks.py [--rows 200000]

Prints rows/s for each format, the bytes written, and the CSV/JSON speed ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from decimal import Decimal

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.starrocks_load import LoadFormat, encode
from cdc_assets.core.starrocks_types import plan_table

# An orders table as a shop would have it: a key, a few numbers, short text, times, a small JSON document.
SCHEMA = TableSchema(
    TableId("shop", "orders"),
    (
        Column("id", "bigint", "bigint(20)"),
        Column("customer_id", "int", "int(11)"),
        Column("status", "enum", "enum('new','paid','shipped','cancelled')", charset="utf8mb4"),
        Column("amount", "decimal", "decimal(12,2)", numeric_precision=12, numeric_scale=2),
        Column("note", "varchar", "varchar(255)", char_max_length=255, charset="utf8mb4"),
        Column("paid", "tinyint", "tinyint(1)"),
        Column("created_at", "datetime", "datetime(6)", datetime_precision=6),
        Column("updated_at", "timestamp", "timestamp", datetime_precision=0),
        Column("weight", "double", "double"),
        Column("attrs", "json", "json"),
    ),
    ("id",),
)
NOTES = ["", "leave at the door", 'say "hi", then knock', "größer als 5 kg", "配送前に電話", "🎁 gift wrap"]


def rows(n: int, seed: int = 7) -> list[tuple]:
    rnd = random.Random(seed)
    base = dt.datetime(2024, 1, 1)
    out = []
    for i in range(n):
        created = base + dt.timedelta(seconds=rnd.randrange(10**7), microseconds=rnd.randrange(10**6))
        out.append(
            (
                i,
                rnd.randrange(10**6),
                rnd.choice(("new", "paid", "shipped", "cancelled")),
                Decimal(rnd.randrange(10**7)).scaleb(-2),
                rnd.choice(NOTES) if rnd.random() < 0.9 else None,
                rnd.random() < 0.5,
                created,
                (created + dt.timedelta(minutes=5)).replace(microsecond=0, tzinfo=dt.UTC),
                rnd.random() * 100,
                f'{{"color": "red", "size": {rnd.randrange(50)}}}',
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    table = plan_table(SCHEMA, TableId("shop", "orders"))
    data = rows(args.rows)
    rate = {}
    for fmt in (LoadFormat.JSON, LoadFormat.CSV):
        start = time.perf_counter()
        written = sum(
            len(body) for body, _ in encode(table, fmt, data, (), time_zone=dt.UTC, max_bytes=64 << 20)
        )
        seconds = time.perf_counter() - start
        rate[fmt] = args.rows / seconds
        print(f"{fmt.value:>4}: {rate[fmt]:>10,.0f} rows/s  ({seconds:.2f} s, {written / 2**20:.1f} MiB)")
    print(f"csv/json speed ratio: {rate[LoadFormat.CSV] / rate[LoadFormat.JSON]:.2f}")


if __name__ == "__main__":
    main()
