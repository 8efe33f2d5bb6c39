"""ColumnBatch (pure): collapsing a batch as events.collapse does, and the packed DECIMAL / DATETIME
values converted for a whole batch exactly as the row decoder converts one value."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from cdc_assets.core.column_batch import (
    ColumnBatch,
    ColumnLayout,
    _datetime,
    _datetimes,
    _decimal,
    _decimals,
)
from cdc_assets.core.events import RowChange, collapse
from cdc_assets.core.row_codegen import ColumnCodec, compile_rows_decoder, decimal_size, decimal_terms


def _exact(codec: ColumnCodec, data: bytes):
    """The row decoder's value for one column's stored bytes (a one-column insert, no NULL)."""
    decode = compile_rows_decoder([codec], "insert", b"\x01", None, RowChange)
    changes, end = decode(b"\x00" + data, 0, len(data) + 1)
    assert end == len(data) + 1
    return changes[0].after[0]


def _packed_decimal(rng: random.Random, precision: int, scale: int) -> int:
    size = decimal_size(precision, scale)
    n = 0
    terms = decimal_terms(precision, scale)
    weights = [w for _, _, w in terms] + [10**precision]
    for (shift, _mask, weight), above in zip(terms, weights[1:], strict=True):
        n |= rng.randrange(0, above // weight) << shift  # the group's digits

    top = 1 << (8 * size - 1)
    return n | top if rng.random() < 0.6 else n ^ (top ^ ((1 << (8 * size)) - 1))


@pytest.mark.parametrize("precision,scale", [(1, 0), (5, 5), (10, 0), (12, 2), (15, 2), (14, 4), (9, 9)])
def test_packed_decimals_convert_as_the_row_decoder_reads_them(precision, scale):
    assert decimal_size(precision, scale) <= 7
    rng = random.Random(precision * 100 + scale)
    codec = ColumnCodec("decimal", precision=precision, scale=scale)
    size = decimal_size(precision, scale)
    values = [_packed_decimal(rng, precision, scale) for _ in range(300)]
    values += [1 << (8 * size - 1), ((1 << (8 * size - 1)) - 1)]  # +0 and -0 as stored
    want = [_exact(codec, n.to_bytes(size, "big")) for n in values]
    # groups holding more digits than the column has are not values MySQL writes
    ok = [(n, w) for n, w in zip(values, want, strict=True) if len(w.as_tuple().digits) <= precision]
    assert len(ok) > 60
    for n, w in ok:
        got = _decimal(n, precision, scale)
        assert got == w and str(got) == str(w), (n, got, w)
    arrow = _decimals(pa.array([n for n, _ in ok] + [None], pa.int64()), precision, scale)
    assert arrow.type == pa.decimal128(precision, scale)
    assert arrow.to_pylist() == [w for _, w in ok] + [None]


def _packed_datetime(y: int, m: int, d: int, h: int, mi: int, s: int) -> int:
    return (1 << 39) | ((y * 13 + m) << 22) | (d << 17) | (h << 12) | (mi << 6) | s


EDGES = [
    (2024, 2, 29, 12, 34, 56),
    (2023, 2, 29, 0, 0, 0),  # not a leap year
    (1900, 2, 29, 0, 0, 0),
    (2000, 2, 29, 23, 59, 59),
    (0, 0, 0, 0, 0, 0),  # the zero DATETIME
    (2024, 0, 1, 0, 0, 0),
    (2024, 1, 0, 0, 0, 0),
    (2024, 4, 31, 0, 0, 0),
    (2024, 12, 31, 24, 0, 0),
    (2024, 12, 31, 23, 60, 0),
    (2024, 12, 31, 23, 59, 60),
    (1, 1, 1, 0, 0, 0),
    (9999, 12, 31, 23, 59, 59),
    (10000, 1, 1, 0, 0, 0),
    (1000, 1, 1, 0, 0, 0),
    (1969, 12, 31, 23, 59, 59),
    (1970, 1, 1, 0, 0, 0),
]


@pytest.mark.parametrize("fsp", [0, 1, 3, 6])
def test_packed_datetimes_convert_as_the_row_decoder_reads_them(fsp):
    rng = random.Random(fsp)
    stamps = list(EDGES)
    stamps += [
        (
            rng.randrange(0, 10100),
            rng.randrange(0, 13),
            rng.randrange(0, 32),
            rng.randrange(0, 32),
            rng.randrange(0, 64),
            rng.randrange(0, 64),
        )
        for _ in range(400)
    ]
    nbytes = (fsp + 1) // 2
    codec = ColumnCodec("datetime2", fsp=fsp)
    raw, want = [], []
    for stamp in stamps:
        n = _packed_datetime(*stamp)
        frac = rng.randrange(0, 1 << (8 * nbytes)) if nbytes else 0
        if nbytes and rng.random() < 0.5:
            frac = min(frac, 10 ** (2 * nbytes) - 1)  # mostly the digits MySQL writes, some beyond
        data = n.to_bytes(5, "big") + (frac.to_bytes(nbytes, "big") if nbytes else b"")
        expected = _exact(codec, data)
        scale = 10 ** (6 - fsp)
        us = ((frac // 10) * scale if fsp % 2 else frac * scale) if nbytes else 0
        r = ((n & ((1 << 39) - 1)) << 24) | us
        assert _datetime(r) == expected, stamp
        raw.append(r)
        want.append(expected)
    assert any(w is None for w in want) and sum(w is not None for w in want) > 50
    got = _datetimes(pa.array([*raw, None], pa.int64()))
    assert got.type == pa.timestamp("us")
    assert got.to_pylist() == [*want, None]


def _batch(changes: list[RowChange], key_positions=(0,)) -> ColumnBatch:
    """The batch the columns decoder appends for ``changes`` (three columns, no packed ones)."""
    batch = ColumnBatch(ColumnLayout(3, tuple(key_positions)))

    def key(row):
        k = tuple(row[i] for i in key_positions)
        return k[0] if len(k) == 1 else k

    for ch in changes:
        if ch.op == "delete":
            batch.deletes.append(
                (tuple(ch.before[i] for i in key_positions), len(batch.keys), ch.before, False)
            )
        else:
            if ch.op == "update" and key(ch.before) != key(ch.after):
                k = tuple(ch.before[i] for i in key_positions)
                batch.deletes.append((k, len(batch.keys), ch.before, True))
            for col, v in zip(batch.cols, ch.after, strict=True):
                col.append(v)
            batch.keys.append(key(ch.after))
        batch.rows += 1
    return batch


def _random_changes(rng: random.Random, n: int) -> list[RowChange]:
    live: dict[int, tuple] = {}
    out = []
    for i in range(n):
        roll = rng.random()
        if not live or roll < 0.4:
            k = rng.randrange(0, 30)
            row = (k, f"v{i}", i)
            out.append(RowChange("insert", None, row))
            live[k] = row
        elif roll < 0.7:
            k = rng.choice(list(live))
            new_key = rng.randrange(0, 30) if rng.random() < 0.3 else k
            row = (new_key, f"u{i}", i)
            out.append(RowChange("update", live.pop(k), row))
            live[new_key] = row
        else:
            k = rng.choice(list(live))
            out.append(RowChange("delete", live.pop(k), None))
    return out


SCHEMA = pa.schema([("id", pa.int64()), ("s", pa.string()), ("n", pa.int64())])


@pytest.mark.parametrize("seed", range(30))
def test_a_batch_collapses_as_collapse_does(seed):
    rng = random.Random(seed)
    changes = _random_changes(rng, rng.randrange(1, 120))
    cut = rng.randrange(0, len(changes) + 1)
    batch = _batch(changes[:cut])
    batch.extend(_batch(changes[cut:]))  # joined as the stream joins the events of a flush
    assert len(batch) == len(changes)
    keys, table = batch.to_arrow(SCHEMA)
    want_keys, want_rows = collapse(changes, (0,))
    assert sorted(keys) == sorted(want_keys)
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == sorted(
        (dict(zip(SCHEMA.names, r, strict=True)) for r in want_rows), key=lambda r: r["id"]
    )
    # as RowChange again (a batch joined with rows of the exact path): the same collapse
    assert collapse(batch.changes(), (0,)) == collapse(changes, (0,)) or (
        sorted(collapse(batch.changes(), (0,))[0]) == sorted(want_keys)
        and sorted(collapse(batch.changes(), (0,))[1]) == sorted(want_rows)
    )


def test_an_update_that_changes_the_key_deletes_the_old_one():
    changes = [
        RowChange("insert", None, (1, "a", 1)),
        RowChange("update", (1, "a", 1), (2, "a", 1)),
        RowChange("insert", None, (1, "b", 2)),  # the old key written again after the move
        RowChange("update", (2, "a", 1), (3, "a", 1)),
    ]
    keys, table = _batch(changes).to_arrow(SCHEMA)
    assert keys == [(2,)]
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "s": "b", "n": 2},
        {"id": 3, "s": "a", "n": 1},
    ]


def test_batches_of_different_layouts_are_not_joined():
    with pytest.raises(ValueError, match="different layouts"):
        ColumnBatch(ColumnLayout(3, (0,))).extend(ColumnBatch(ColumnLayout(3, (1,))))
