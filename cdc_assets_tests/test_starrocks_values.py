"""Values read back from StarRocks where the column type differs from MySQL's (pure, no server)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.starrocks_types import plan_table
from cdc_assets.core.starrocks_values import source_order, target_decoder

SCHEMA = TableSchema(
    table_id=TableId("d", "t"),
    columns=(
        Column("bit", "bit", "bit(1)"),
        Column("k_dec", "decimal", "decimal(10,2)", nullable=False, numeric_precision=10, numeric_scale=2),
        Column("k_dbl", "double", "double", nullable=False),
        Column("k_bin", "varbinary", "varbinary(4)", nullable=False, char_max_length=4),
        Column("ts", "timestamp", "timestamp(6)", datetime_precision=6),
        Column("f", "float", "float"),
        Column("t", "time", "time(1)", datetime_precision=1),
    ),
    primary_key=("k_dec", "k_dbl", "k_bin"),
)


def test_remapped_columns_read_back_as_their_canonical_values():
    table = plan_table(SCHEMA, TableId("d", "t"))
    assert source_order(table) == list(SCHEMA.column_names)
    decode = target_decoder(table, dt.timezone(dt.timedelta(hours=8)))
    got = decode((1, "-1.50", "0.1", "00FF", dt.datetime(2024, 1, 1, 8, 0, 0, 5), "0.1", "-838:59:59.5"))
    assert got == (
        1,  # BIT(1) is BOOLEAN in StarRocks, an int in canonical form
        Decimal("-1.50"),
        0.1,
        b"\x00\xff",
        dt.datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=dt.UTC),
        0.10000000149011612,  # FLOAT: the float32 the source holds
        -dt.timedelta(hours=838, minutes=59, seconds=59, microseconds=500000),
    )
    assert type(got[0]) is int
    assert decode((None,) * 7) == (None,) * 7
