"""Chunk planning: the arithmetic (even) path in pure tests, and both paths against a real MariaDB.

The server tests check, for each key type, that the planned chunks cover every row exactly once
(each row's id is collected per chunk, with the stored ``range_predicate`` and with the sargable
``key_range_predicate``) and that no chunk exceeds its bound: exactly ``chunk_size`` rows per keyset
chunk of a unique key, and the arithmetic range for an even chunk.
"""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest

from cdc_assets.core.chunk_plan import (
    CHUNK_KEY_OPTION,
    EVEN_PROBE_ROW_FACTOR,
    MAX_CHUNKS_PER_TABLE,
    EvenPlan,
    chunk_key_columns,
    decide_chunking,
    distribution_factor,
    effective_chunk_size,
    even_chunks,
    probe_indexes,
    supports_even_split,
)
from cdc_assets.core.chunks import (
    Chunk,
    chunks_from_boundaries,
    key_compare,
    key_range_predicate,
    range_predicate,
)
from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.errors import ConfigError, SchemaError
from cdc_assets.mysql.catalog import load_schema
from cdc_assets.mysql.connection import ConnectionSettings, connect
from cdc_assets.mysql.snapshot import choose_chunking, plan_boundaries, read_chunk

# ---- pure: the even path -------------------------------------------------------------------------


def _assert_partitions_integers(plan: EvenPlan, lo: int, hi: int) -> None:
    """Every integer in and around [lo, hi] lies in exactly one chunk, the one index_of names."""
    chunks = list(plan)
    assert len(chunks) == len(plan)
    assert [c.index for c in chunks] == list(range(len(plan)))
    assert chunks[0].start is None and chunks[-1].end is None
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.end == b.start
    for v in range(lo - 3, hi + 4):
        holders = [
            c.index
            for c in chunks
            if (c.start is None or c.start[0] <= v) and (c.end is None or v < c.end[0])
        ]
        assert holders == [plan.index_of(v)], v


def test_dense_key_is_cut_into_chunks_of_chunk_size_key_values():
    plan = even_chunks(1, 10_000, 10_000, 100)
    assert plan is not None and plan.factor == 1
    assert plan.step == 100
    assert len(plan) == 100
    assert plan[0] == Chunk(0, None, (101,))
    assert plan[1] == Chunk(1, (101,), (201,))
    assert plan[-1] == Chunk(99, (9901,), None)
    assert list(plan.boundaries()) == [(1 + k * 100,) for k in range(1, 100)]
    _assert_partitions_integers(plan, 1, 10_000)


@pytest.mark.parametrize(
    ("lo", "hi", "rows", "size"),
    [
        (-500, -1, 500, 7),  # negative range
        (-250, 249, 100, 9),  # across zero, factor 5
        (0, 99, 1000, 10),  # non-unique key: factor 0.1, step 1
        (5, 6, 2, 1),
        (1, 1000, 3, 2),  # factor 333.6667, rounded up as Flink does
    ],
)
def test_even_chunks_cover_each_integer_once(lo, hi, rows, size):
    plan = even_chunks(lo, hi, rows, size)
    assert plan is not None
    _assert_partitions_integers(plan, lo, hi)
    assert plan.step == max(int(distribution_factor(lo, hi, rows) * size), 1)


def test_distribution_factor_is_rounded_up_to_four_decimals():
    assert distribution_factor(1, 10, 3) == Fraction(33334, 10_000)
    assert distribution_factor(1, 10, 10) == 1
    assert distribution_factor(1, 10, 0) is None
    assert distribution_factor(1, 10, None) is None


def test_sparse_key_takes_the_keyset_path():
    assert even_chunks(0, 10**9, 1_000, 8096) is None  # factor 1e6 > 1000
    assert even_chunks(1, 1_000_001, 1_000, 8096) is None  # factor 1000.001 > 1000
    assert even_chunks(1, 1_000_000, 1_000, 8096) is not None  # factor 1000: bounds are inclusive
    assert even_chunks(1, 1_000_000, 1_000, 8096, upper=999.0) is None


def test_factor_bounds_are_inclusive_and_configurable():
    assert even_chunks(1, 1000, 1000, 10, lower=1.0, upper=1.0) is not None
    assert even_chunks(1, 1000, 1001, 10, lower=1.0, upper=1.0) is None
    # a repeated (non-unique) chunk key: 10 values for 1000 rows, factor 0.01 < 0.05
    assert even_chunks(1, 10, 1000, 10) is None
    assert even_chunks(1, 10, 1000, 10, lower=0.01) is not None


def test_skewed_key_is_not_visible_to_the_factor():
    # 5000 dense keys plus a few outliers near 1e6: the factor (~200) is within bounds, so the pure
    # plan is even; the adapter's probes catch the heavy first chunk (see the server test below).
    plan = even_chunks(1, 1_000_000, 5_005, 100)
    assert plan is not None and plan.step == int(distribution_factor(1, 1_000_000, 5_005) * 100)
    assert plan.index_of(1) == plan.index_of(5_000) == 0


def test_single_value_and_empty_table_give_one_unbounded_chunk():
    for plan in (
        even_chunks(7, 7, 1_000_000, 10),
        even_chunks(None, None, 0, 10),
        even_chunks(None, None, None, 10),
    ):
        assert plan is not None
        assert list(plan) == [Chunk(0, None, None)]
        assert list(plan.boundaries()) == []
        assert plan.index_of(123) == 0


def test_no_row_count_means_keyset():
    assert even_chunks(1, 100, 0, 10) is None
    assert even_chunks(1, 100, None, 10) is None


def test_bigint_unsigned_near_two_to_the_64():
    top = 2**64 - 1
    plan = even_chunks(top - 1_000_000, top, 1_000_001, 8096)
    assert plan is not None
    bounds = [b[0] for b in plan.boundaries()]
    assert bounds == sorted(bounds) and all(top - 1_000_000 < b <= top for b in bounds)
    assert plan.index_of(top) == len(plan) - 1
    assert plan.index_of(top - 1_000_000) == 0
    # the whole unsigned range with 1e17 rows: factor 184.4675, stays below 2**64, capped count
    plan = even_chunks(0, top, 10**17, 8096)
    assert plan is not None and len(plan) <= MAX_CHUNKS_PER_TABLE
    assert all(0 < b[0] <= top for b in plan.boundaries())
    assert even_chunks(0, top, 2**44, 8096) is None  # factor 2**20


def test_decimal_keys_keep_exact_decimal_boundaries():
    lo, hi = Decimal(-(10**64)), Decimal(10**64)  # DECIMAL(65, 0): more digits than the default context
    plan = even_chunks(lo, hi, 10**62, 10)
    assert plan is not None
    first = plan.boundary(1)[0]
    assert isinstance(first, Decimal) and first == Decimal(-(10**64) + plan.step)
    assert int(plan.boundary(plan.boundary_count)[0]) == -(10**64) + plan.boundary_count * plan.step
    assert plan.index_of(Decimal(0)) == (10**64) // plan.step
    small = even_chunks(Decimal(1), Decimal(100), 100, 10)
    assert small is not None and small[1] == Chunk(1, (Decimal(11),), (Decimal(21),))


@pytest.mark.parametrize("value", [Decimal("1.5"), 1.0, True, "1", Decimal("NaN")])
def test_non_integer_bounds_mean_keyset(value):
    assert even_chunks(value, Decimal(100), 100, 10) is None


def test_chunk_count_is_capped():
    plan = even_chunks(1, 10**9, 10**9, 10, max_chunks=1000)
    assert plan is not None and len(plan) <= 1000
    assert len(plan) >= 999
    _assert_partitions_integers(even_chunks(1, 1000, 1000, 1, max_chunks=7), 1, 1000)
    assert len(even_chunks(1, 1000, 1000, 1, max_chunks=7)) <= 7
    assert len(even_chunks(1, 1000, 1000, 1, max_chunks=1)) == 1


def test_effective_chunk_size_grows_for_huge_tables_only():
    assert effective_chunk_size(8096, 1_000_000) == 8096
    assert effective_chunk_size(8096, None) == 8096
    assert effective_chunk_size(8096, 0) == 8096
    assert effective_chunk_size(8096, 10**9) == 20_000
    assert effective_chunk_size(8096, MAX_CHUNKS_PER_TABLE * 8096) == 8096
    assert effective_chunk_size(8096, MAX_CHUNKS_PER_TABLE * 8096 + 1) == 8097
    assert effective_chunk_size(10, 1000, max_chunks=3) == 334
    with pytest.raises(ValueError):
        effective_chunk_size(0, 10)
    with pytest.raises(ValueError):
        effective_chunk_size(10, 10, max_chunks=0)


def test_probe_indexes_spread_over_the_plan():
    assert probe_indexes(1) == [0]
    assert probe_indexes(5, 8) == [0, 1, 2, 3, 4]
    idx = probe_indexes(1000, 8)
    assert idx[0] == 0 and idx[-1] == 999 and len(idx) == 8 and idx == sorted(set(idx))
    assert probe_indexes(0) == [] and probe_indexes(10, 0) == []


def _col(name: str, data_type: str, column_type: str | None = None, scale: int | None = None) -> Column:
    return Column(name, data_type, column_type or data_type, nullable=False, numeric_scale=scale)


@pytest.mark.parametrize(
    ("columns", "even"),
    [
        ([_col("id", "int")], True),
        ([_col("id", "bigint", "bigint(20) unsigned")], True),
        ([_col("id", "tinyint")], True),
        ([_col("id", "decimal", "decimal(20,0)", 0)], True),
        ([_col("id", "decimal", "decimal(10,2)", 2)], False),
        ([_col("id", "varchar", "varchar(20)")], False),
        ([_col("id", "varbinary", "varbinary(16)")], False),
        ([_col("id", "datetime")], False),
        ([_col("id", "double")], False),
        ([_col("a", "int"), _col("b", "int")], False),  # composite: never even
    ],
)
def test_which_keys_take_the_even_path(columns, even):
    assert supports_even_split(columns) is even


def test_decide_chunking_explains_itself():
    comp = decide_chunking([_col("a", "int"), _col("b", "varchar")], 10**9, 8096)
    assert comp.method == "keyset" and "composite" in comp.reason and comp.chunk_size == 20_000
    text = decide_chunking([_col("k", "varchar")], 100, 10)
    assert text.method == "keyset" and "not an integer key" in text.reason
    dense = decide_chunking([_col("id", "int")], 1000, 10, bounds=(1, 1000))
    assert dense.method == "even" and dense.even is not None and len(dense.even) == 100
    sparse = decide_chunking([_col("id", "int")], 1000, 10, bounds=(1, 10**9))
    assert sparse.method == "keyset" and "distribution factor" in sparse.reason
    nostats = decide_chunking([_col("id", "int")], 0, 10, bounds=(1, 10**9))
    assert nostats.method == "keyset" and "TABLE_ROWS" in nostats.reason
    empty = decide_chunking([_col("id", "int")], 0, 10, bounds=(None, None))
    assert empty.method == "even" and len(empty.even) == 1


def test_chunk_key_columns_default_override_and_errors():
    table = TableSchema(TableId("db", "t"), (_col("id", "int"), _col("k", "varchar")), ("id",))
    assert [c.name for c in chunk_key_columns(table)] == ["id"]
    assert [c.name for c in chunk_key_columns(table, ["k"])] == ["k"]
    with pytest.raises(ConfigError, match=CHUNK_KEY_OPTION):
        chunk_key_columns(table, ["nope"])
    nopk = TableSchema(TableId("db", "logs"), (_col("k", "varchar"),))
    with pytest.raises(SchemaError) as err:
        chunk_key_columns(nopk)
    assert "db.logs" in str(err.value) and CHUNK_KEY_OPTION in str(err.value)


def test_key_compare_expands_row_values():
    assert key_compare(["id"], ">", (5,)) == ("`id` > %s", [5])
    sql, params = key_compare(["a", "b`c"], ">=", (1, "x"))
    assert sql == "(`a` > %s OR (`a` = %s AND `b``c` >= %s))" and params == [1, 1, "x"]
    sql, params = key_range_predicate(["a", "b"], Chunk(3, (1, "x"), (2, "y")))
    assert sql.count(" OR ") == 2 and params == [1, 1, "x", 2, 2, "y"]
    assert key_range_predicate(["a"], Chunk(0, None, None)) == ("1 = 1", [])
    with pytest.raises(ValueError):
        key_compare(["a", "b"], ">", (1,))
    with pytest.raises(ValueError):
        key_compare(["a"], "<>", (1,))


# ---- against a real MariaDB ----------------------------------------------------------------------

CHUNK = 40


@pytest.fixture
def src(mysql_source):
    settings = ConnectionSettings(
        mysql_source.host, mysql_source.port, mysql_source.user, mysql_source.password
    )
    conn = connect(settings)
    try:
        yield conn, settings
    finally:
        conn.close()


def _create(mysql_source, db: str, name: str, columns_sql: str, rows: list[tuple]) -> TableId:
    """A table with ``rid`` (row id, unindexed) first, then ``columns_sql``; ``rows`` exclude ``rid``."""
    table = quote_table(db, name)
    conn = mysql_source.server.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (rid INT NOT NULL, {columns_sql}) ENGINE=InnoDB")
            if rows:
                marks = ", ".join(["%s"] * (len(rows[0]) + 1))
                cur.executemany(
                    f"INSERT INTO {table} VALUES ({marks})", [(i, *r) for i, r in enumerate(rows)]
                )
    finally:
        conn.close()
    return TableId(db, name)


def _rids(conn, table: TableId, where: str, params: list) -> list[int]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT rid FROM {quote_table(table.db, table.table)} WHERE {where}", params)
        return [int(r[0]) for r in cur.fetchall()]


def _plan(src, table: TableId, **kw):
    conn, settings = src
    schema = load_schema(conn, settings, table)
    choice = choose_chunking(conn, settings, schema, CHUNK, **kw)
    boundaries = list(plan_boundaries(conn, settings, schema, CHUNK, **kw))
    return schema, choice, chunks_from_boundaries(boundaries)


def _check_cover(
    src, table: TableId, key: tuple[str, ...], chunks: list[Chunk], total: int
) -> list[list[int]]:
    """Every row in exactly one chunk, by both predicates; returns the row ids per chunk."""
    conn, _ = src
    per_chunk = []
    for chunk in chunks:
        stored = sorted(_rids(conn, table, *range_predicate(key, chunk)))
        sargable = sorted(_rids(conn, table, *key_range_predicate(key, chunk)))
        assert stored == sargable, chunk
        per_chunk.append(stored)
    everything = [r for rows in per_chunk for r in rows]
    assert sorted(everything) == list(range(total))  # each row once: none missing, none twice
    return per_chunk


def _check_keyset(per_chunk: list[list[int]], size: int = CHUNK) -> None:
    """A unique key: every keyset chunk but the last holds exactly ``size`` rows."""
    assert all(len(rows) == size for rows in per_chunk[:-1])
    assert 0 < len(per_chunk[-1]) <= size or len(per_chunk) == 1


def _check_even(src, table: TableId, col: str, choice, chunks: list[Chunk]) -> None:
    """An even chunk holds only keys of its arithmetic range (at most ``step`` for a unique key)."""
    conn, _ = src
    assert choice.even is not None and list(choice.even) == chunks
    for chunk in chunks:
        where, params = range_predicate((col,), chunk)
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT {quote_ident(col)} FROM {quote_table(table.db, table.table)} WHERE {where}", params
            )
            keys = [r[0] for r in cur.fetchall()]
        assert len(keys) <= choice.even.step
        assert all(choice.even.index_of(k) == chunk.index for k in keys)


def _shuffled(rows: list[tuple], seed: int = 7) -> list[tuple]:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows


@pytest.mark.parametrize(
    ("name", "column_sql", "keys"),
    [
        ("int_dense", "id INT NOT NULL PRIMARY KEY", list(range(1, 2001))),
        ("int_negative", "id INT NOT NULL PRIMARY KEY", [-3 * i for i in range(1, 1501)]),
        (
            "bigint_unsigned_top",
            "id BIGINT UNSIGNED NOT NULL PRIMARY KEY",
            [2**64 - 1 - 7 * i for i in range(1500)],
        ),
        (
            "decimal_20_0",
            "id DECIMAL(20,0) NOT NULL PRIMARY KEY",
            [Decimal(-(10**19) + 3 * i) for i in range(1500)],
        ),
    ],
)
def test_integer_keys_take_the_even_path_and_cover_every_row(
    src, mysql_source, fresh_db, name, column_sql, keys
):
    table = _create(mysql_source, fresh_db, name, column_sql, _shuffled([(k,) for k in keys]))
    _, choice, chunks = _plan(src, table)
    assert choice.method == "even", choice.reason
    assert len(chunks) > 10  # the table is really cut, not one chunk
    _check_cover(src, table, ("id",), chunks, len(keys))
    _check_even(src, table, "id", choice, chunks)


@pytest.mark.parametrize(
    ("name", "column_sql", "keys", "why"),
    [
        ("int_sparse", "id INT NOT NULL PRIMARY KEY", [i * 1_000_000 for i in range(-1000, 1000)], "factor"),
        # 2000 dense keys plus 10 far ones: the factor (~150) looks fine, the first arithmetic chunk
        # would hold every dense row; a probe sees it
        ("int_skewed", "id INT NOT NULL PRIMARY KEY", [*range(1, 2001), *range(300_000, 300_010)], "skewed"),
        (
            "decimal_sparse",
            "id DECIMAL(20,0) NOT NULL PRIMARY KEY",
            [Decimal(i) * 10**15 for i in range(1500)],
            "factor",
        ),
        (
            "bigint_unsigned_skewed",
            "id BIGINT UNSIGNED NOT NULL PRIMARY KEY",
            [*range(1500), *range(2**64 - 11, 2**64)],
            "factor",
        ),
    ],
)
def test_sparse_and_skewed_integer_keys_fall_back_to_keyset(
    src, mysql_source, fresh_db, name, column_sql, keys, why
):
    table = _create(mysql_source, fresh_db, name, column_sql, _shuffled([(k,) for k in keys]))
    _, choice, chunks = _plan(src, table)
    assert choice.method == "keyset" and why in choice.reason, choice.reason
    _check_keyset(_check_cover(src, table, ("id",), chunks, len(keys)))


def _mixed_case_keys(n: int, seed: int = 3) -> list[str]:
    """Keys unique under utf8mb4_general_ci (PAD SPACE) in random case, some with trailing spaces."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        base = f"{rnd.choice(['apple', 'Banana', 'cherry', 'DATE', 'éclair', 'ß'])}-{i:05d}"
        cased = "".join(ch.upper() if rnd.random() < 0.5 else ch.lower() for ch in base)
        out.append(cased + " " * rnd.choice([0, 0, 1, 3]))
    return out


def test_case_insensitive_varchar_key_follows_the_collation(src, mysql_source, fresh_db):
    keys = _mixed_case_keys(1600)
    table = _create(
        mysql_source,
        fresh_db,
        "ci key",
        "k VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY",
        [(k,) for k in keys],
    )
    _, choice, chunks = _plan(src, table)
    assert choice.method == "keyset"
    assert len(chunks) == 1600 // CHUNK  # not collapsed into one chunk: 40 chunks of 40
    _check_keyset(_check_cover(src, table, ("k",), chunks, len(keys)))
    conn, _ = src
    with conn.cursor() as cur:  # boundaries strictly ascend under the column's collation
        for a, b in zip(chunks[1:], chunks[2:], strict=False):
            cur.execute(
                "SELECT STRCMP(CONVERT(%s USING utf8mb4) COLLATE utf8mb4_general_ci, "
                "CONVERT(%s USING utf8mb4) COLLATE utf8mb4_general_ci)",
                (a.start[0], b.start[0]),
            )
            assert cur.fetchone()[0] == -1


def test_collation_equal_keys_are_never_split_across_chunks(src, mysql_source, fresh_db):
    # a table without a primary key, chunked on a non-unique ci column: 'abc', 'ABC', 'abc  ' are one
    # key under utf8mb4_general_ci, so all of them must land in the same chunk
    rnd = random.Random(11)
    rows = []
    for i in range(500):
        word = f"w{i:04d}"
        for variant in rnd.sample(
            [word, word.upper(), word + " ", word.capitalize() + "  "], rnd.randint(1, 3)
        ):
            rows.append((variant,))
    rows = _shuffled(rows)
    table = _create(
        mysql_source,
        fresh_db,
        "nopk",
        "k VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, KEY (k)",
        rows,
    )
    _, choice, chunks = _plan(src, table, key_columns=["k"])
    assert choice.method == "keyset" and choice.key_columns == ("k",)
    per_chunk = _check_cover(src, table, ("k",), chunks, len(rows))
    assert all(len(r) <= CHUNK + 3 for r in per_chunk)  # a chunk grows only by its start key's duplicates
    conn, _ = src
    for chunk in chunks[1:]:
        equal = _rids(conn, table, "k = %s", [chunk.start[0]])
        assert len(equal) >= 1 and set(equal) <= set(per_chunk[chunk.index])


def test_varbinary_key_orders_bytes(src, mysql_source, fresh_db):
    rnd = random.Random(5)
    keys = list({bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 6))) for _ in range(1500)})
    keys += [b"abc", b"ABC", b"abc ", b"abc\x00"]  # distinct in binary
    keys = list(dict.fromkeys(keys))
    table = _create(
        mysql_source, fresh_db, "bin", "k VARBINARY(16) NOT NULL PRIMARY KEY", [(k,) for k in keys]
    )
    _, choice, chunks = _plan(src, table)
    assert choice.method == "keyset"
    _check_keyset(_check_cover(src, table, ("k",), chunks, len(keys)))


def test_datetime_key(src, mysql_source, fresh_db):
    import datetime as dt

    rnd = random.Random(9)
    base = dt.datetime(1970, 1, 1)
    keys = sorted(
        {
            base + dt.timedelta(seconds=rnd.randrange(10**9), microseconds=rnd.randrange(10**6))
            for _ in range(1500)
        }
    )
    table = _create(
        mysql_source, fresh_db, "dt", "k DATETIME(6) NOT NULL PRIMARY KEY", _shuffled([(k,) for k in keys])
    )
    _, choice, chunks = _plan(src, table)
    assert choice.method == "keyset"
    _check_keyset(_check_cover(src, table, ("k",), chunks, len(keys)))


def test_composite_key_uses_row_values_and_reads_by_range(src, mysql_source, fresh_db):
    words = _mixed_case_keys(200, seed=8)
    rows = [(i // 7, words[i % 200]) for i in range(1400)]  # 7 rows per a: chunks cut inside an `a`
    table = _create(
        mysql_source,
        fresh_db,
        "comp",
        "a INT NOT NULL, b VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, PRIMARY KEY (a, b)",
        _shuffled(rows),
    )
    schema, choice, chunks = _plan(src, table)
    assert choice.method == "keyset" and "composite" in choice.reason
    assert all(len(c.start) == 2 for c in chunks[1:])
    per_chunk = _check_cover(src, table, ("a", "b"), chunks, len(rows))
    _check_keyset(per_chunk)
    conn, settings = src
    rid_pos = schema.column_names.index("rid")
    for chunk in chunks:  # read_chunk (sargable predicate) reads exactly the chunk's rows
        read = [r[rid_pos] for batch in read_chunk(settings, conn, schema, chunk, 16) for r in batch]
        assert sorted(read) == per_chunk[chunk.index]


def test_empty_and_single_row_tables_are_one_chunk(src, mysql_source, fresh_db):
    empty = _create(mysql_source, fresh_db, "empty", "id INT NOT NULL PRIMARY KEY", [])
    _, choice, chunks = _plan(src, empty)
    assert chunks == [Chunk(0, None, None)] and choice.method == "even"
    one = _create(mysql_source, fresh_db, "one", "id BIGINT NOT NULL PRIMARY KEY", [(42,)])
    _, _, chunks = _plan(src, one)
    assert chunks == [Chunk(0, None, None)]
    _check_cover(src, one, ("id",), chunks, 1)
    text = _create(mysql_source, fresh_db, "etext", "k VARCHAR(5) NOT NULL PRIMARY KEY", [])
    assert _plan(src, text)[2] == [Chunk(0, None, None)]


def test_chunk_count_is_capped_on_both_paths(src, mysql_source, fresh_db):
    dense = _create(
        mysql_source, fresh_db, "dense", "id INT NOT NULL PRIMARY KEY", [(i,) for i in range(1, 2001)]
    )
    text = _create(
        mysql_source,
        fresh_db,
        "text",
        "k VARCHAR(12) NOT NULL PRIMARY KEY",
        [(f"k{i:06d}",) for i in range(2000)],
    )
    for table, key, method in ((dense, "id", "even"), (text, "k", "keyset")):
        _, choice, chunks = _plan(src, table, max_chunks=10)
        assert choice.method == method and choice.chunk_size >= 200
        assert len(chunks) <= -(-2000 // choice.chunk_size)
        _check_cover(src, table, (key,), chunks, 2000)


def test_table_without_primary_key(src, mysql_source, fresh_db):
    rows = _shuffled([(i % 300, f"v{i}") for i in range(900)])
    table = _create(mysql_source, fresh_db, "events", "grp INT NOT NULL, v VARCHAR(10), KEY (grp)", rows)
    conn, settings = src
    schema = load_schema(conn, settings, table)
    with pytest.raises(SchemaError) as err:
        plan_boundaries(conn, settings, schema, CHUNK)
    assert str(table) in str(err.value) and CHUNK_KEY_OPTION in str(err.value)
    with pytest.raises(ConfigError, match=CHUNK_KEY_OPTION):
        plan_boundaries(conn, settings, schema, CHUNK, key_columns=["missing"])
    _, choice, chunks = _plan(src, table, key_columns=["grp"])
    assert choice.method == "even"  # 300 values for 900 rows: factor 0.3333
    per_chunk = _check_cover(src, table, ("grp",), chunks, 900)
    assert all(len(r) <= EVEN_PROBE_ROW_FACTOR * CHUNK for r in per_chunk)
    rid_pos = schema.column_names.index("rid")
    chunk = chunks[len(chunks) // 2]
    read = [
        r[rid_pos]
        for batch in read_chunk(settings, conn, schema, chunk, 100, key_columns=["grp"])
        for r in batch
    ]
    assert sorted(read) == per_chunk[chunk.index]


def test_nullable_chunk_key_holding_nulls_is_refused(src, mysql_source, fresh_db):
    table = _create(mysql_source, fresh_db, "nulls", "k INT NULL", [(1,), (None,), (3,)])
    conn, settings = src
    schema = load_schema(conn, settings, table)
    with pytest.raises(SchemaError, match="NULL"):
        plan_boundaries(conn, settings, schema, CHUNK, key_columns=["k"])


def test_enum_key_in_declared_order_is_chunked(src, mysql_source, fresh_db):
    members = [f"m{i:03d}" for i in range(300)]
    column = "k ENUM(" + ", ".join(f"'{m}'" for m in members) + ") NOT NULL PRIMARY KEY"
    table = _create(mysql_source, fresh_db, "enum_ok", column, _shuffled([(m,) for m in members]))
    _, choice, chunks = _plan(src, table)
    assert choice.method == "keyset"
    _check_keyset(_check_cover(src, table, ("k",), chunks, len(members)))


@pytest.mark.parametrize(
    ("column_sql", "value", "why"),
    [
        # sorted b, a, c by member number, but `k >= 'b'` compares text: 'a' would fall out of every chunk
        ("k ENUM('b', 'a', 'c') NOT NULL PRIMARY KEY", "a", "ascending order"),
        ("k SET('x', 'y') NOT NULL PRIMARY KEY", "x", "SET"),
        ("k BIT(16) NOT NULL PRIMARY KEY", 5, "BIT"),
    ],
)
def test_keys_the_server_sorts_unlike_it_compares_are_refused(
    src, mysql_source, fresh_db, column_sql, value, why
):
    table = _create(mysql_source, fresh_db, "odd", column_sql, [(value,)])
    conn, settings = src
    schema = load_schema(conn, settings, table)
    with pytest.raises(SchemaError, match=why) as err:
        plan_boundaries(conn, settings, schema, CHUNK)
    assert CHUNK_KEY_OPTION in str(err.value)
