"""Choosing how to cut a table into snapshot chunks, at the scale of a billion rows.

Two ways, as Flink CDC's ``MySqlChunkSplitter`` (flink-cdc.md section 2):

- **even** (arithmetic): for a single-column integer key (``TINYINT`` .. ``BIGINT [UNSIGNED]``,
  ``DECIMAL(p, 0)``) whose values are spread evenly enough, chunk ``i`` is computed from
  ``MIN(key)``, ``MAX(key)`` and the approximate row count, with no query per chunk:
  ``[None, min+d), [min+d, min+2d), ..., [last, None)``. :class:`EvenPlan` is that plan, lazy and
  O(1) in memory, with random access and an O(1) "which chunk holds this key".
- **keyset**: every other key (text, binary, temporal, composite, sparse or skewed integers). The
  source finds every ``chunk_size``-th key in key order, in the key's collation
  (``cdc_assets.mysql.snapshot.find_boundaries``).

Unlike Flink, which cuts on the first primary-key column only, a composite key is cut on the whole
key (row-value order): with ``PRIMARY KEY (tenant_id, id)`` a chunk never has to hold every row of
one tenant, so its size stays bounded. Such keys therefore never take the even path.

The *distribution factor* is ``(max - min + 1) / approx_rows``, rounded up to 4 decimals as Flink
does: about 1 for a dense auto-increment key, larger when values are sparse, smaller when a
non-unique chunk key repeats values. The even path is taken when it lies in ``[lower, upper]``
(``chunk-key.even-distribution.factor.lower-bound`` = 0.05 and ``...upper-bound`` = 1000.0 by
default); each chunk then spans ``d = max(floor(factor * chunk_size), 1)`` key values, which holds
about ``chunk_size`` rows when the values are spread evenly. The factor cannot see skew (a dense
block plus a few far outliers), so the source adapter probes a few arithmetic chunks before it
trusts the plan (:func:`probe_indexes`, :data:`EVEN_PROBE_ROW_FACTOR`).

Each chunk becomes a Dagster partition, so a table's chunk count is capped
(:data:`MAX_CHUNKS_PER_TABLE`): :func:`effective_chunk_size` grows the chunk size for huge tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from cdc_assets.core.chunks import Chunk, Key
from cdc_assets.core.schema import Column, TableSchema
from cdc_assets.errors import ConfigError, SchemaError

#: Upper bound on a table's chunk count. Chunks are Dagster partitions; Dagster's UI and its
#: partition status queries slow down past ~100k partitions per asset, and several captured tables
#: share one deployment, so one table stays at half that. A billion-row table is cut into chunks of
#: at least 20,000 rows (1e9 / 50,000) instead of 123,000 chunks of 8,096.
MAX_CHUNKS_PER_TABLE = 50_000

#: Arithmetic chunks the adapter counts (with a capped COUNT) before it trusts an even plan.
EVEN_PROBES = 8

#: A probed arithmetic chunk holding more than this many times the chunk size means the key is
#: skewed or the table statistics are stale: the keyset path is used instead. InnoDB row-count
#: estimates are commonly off by tens of percent, so 2 would reject sound plans; 4 still keeps a
#: chunk to a size a Dagster run reads in seconds.
EVEN_PROBE_ROW_FACTOR = 4

#: The chunk-key option, named in errors that ask the user to set it.
CHUNK_KEY_OPTION = "scan.incremental.snapshot.chunk.key-column"

_INTEGER_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})


def effective_chunk_size(
    chunk_size: int, approx_rows: int | None, max_chunks: int = MAX_CHUNKS_PER_TABLE
) -> int:
    """Rows per chunk: ``chunk_size``, raised to ``ceil(approx_rows / max_chunks)`` for huge tables.

    ``approx_rows`` None or 0 (no statistics) leaves ``chunk_size`` as it is.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk size must be at least 1, got {chunk_size}")
    if max_chunks < 1:
        raise ValueError(f"max_chunks must be at least 1, got {max_chunks}")
    if not approx_rows or approx_rows < 0:
        return chunk_size
    return max(chunk_size, -(-approx_rows // max_chunks))


def supports_even_split(columns: Sequence[Column]) -> bool:
    """True for a single integer key column (``DECIMAL`` only with scale 0), the even path's keys."""
    if len(columns) != 1:
        return False
    col = columns[0]
    if col.data_type in _INTEGER_TYPES:
        return True
    return col.data_type in ("decimal", "numeric") and (col.numeric_scale or 0) == 0


def distribution_factor(min_value: int, max_value: int, approx_rows: int | None) -> Fraction | None:
    """``(max - min + 1) / approx_rows`` rounded up to 4 decimals (exact), or None without a count."""
    if not approx_rows or approx_rows <= 0:
        return None
    span = max_value - min_value + 1
    return Fraction(-(-(span * 10_000) // approx_rows), 10_000)


def _as_int(v: Any) -> int | None:
    """An integer key value as ``int``; None for anything that is not an exact integer."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, Decimal) and v.is_finite():
        num, den = v.as_integer_ratio()
        return num if den == 1 else None
    return None


@dataclass(frozen=True)
class EvenPlan:
    """Arithmetic chunks of an integer key: boundary ``k`` (1-based) is ``origin + k * step``.

    ``len(plan)`` is ``boundary_count + 1``; chunk 0 is ``[None, origin + step)`` and the last is
    ``[origin + boundary_count * step, None)``. No boundaries: one chunk ``[None, None)``.
    Boundaries are ``Decimal`` when the key is ``DECIMAL`` (``decimal``), else ``int``. Nothing is
    materialised: iterating yields chunks one at a time.
    """

    origin: int
    step: int
    boundary_count: int
    decimal: bool = False
    factor: Fraction | None = None

    def __post_init__(self) -> None:
        if self.step < 1 or self.boundary_count < 0:
            raise ValueError(f"invalid even plan: step {self.step}, {self.boundary_count} boundaries")

    def __len__(self) -> int:
        return self.boundary_count + 1

    def boundary(self, k: int) -> Key:
        """Boundary ``k``, 1 <= k <= boundary_count: the start of chunk ``k``."""
        if not 1 <= k <= self.boundary_count:
            raise IndexError(f"boundary {k} out of 1..{self.boundary_count}")
        value = self.origin + k * self.step
        return (Decimal(value) if self.decimal else value,)

    def boundaries(self) -> Iterator[Key]:
        for k in range(1, self.boundary_count + 1):
            yield self.boundary(k)

    def __getitem__(self, index: int) -> Chunk:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"chunk {index} out of 0..{n - 1}")
        start = None if index == 0 else self.boundary(index)
        end = None if index == n - 1 else self.boundary(index + 1)
        return Chunk(index, start, end)

    def __iter__(self) -> Iterator[Chunk]:
        for i in range(len(self)):
            yield self[i]

    def index_of(self, value: int | Decimal) -> int:
        """The chunk holding key ``value`` (any integer, inside the planned range or not)."""
        v = _as_int(value)
        if v is None:
            raise ValueError(f"{value!r} is not an integer key value")
        return min(max((v - self.origin) // self.step, 0), self.boundary_count)


def even_chunks(
    min_value: int | Decimal | None,
    max_value: int | Decimal | None,
    approx_rows: int | None,
    chunk_size: int,
    lower: float = 0.05,
    upper: float = 1000.0,
    *,
    max_chunks: int = MAX_CHUNKS_PER_TABLE,
) -> EvenPlan | None:
    """The arithmetic plan for an integer key with ``MIN``/``MAX`` and an approximate row count.

    None means "use the keyset path": no row count (``approx_rows`` 0 or None), a factor outside
    ``[lower, upper]``, or values that are not integers. An empty table (``MIN`` is NULL) or a
    single key value gives one unbounded chunk. The step is raised when needed so that the plan has
    at most ``max_chunks`` chunks.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk size must be at least 1, got {chunk_size}")
    if max_chunks < 1:
        raise ValueError(f"max_chunks must be at least 1, got {max_chunks}")
    if min_value is None or max_value is None:
        return EvenPlan(origin=0, step=1, boundary_count=0)
    lo, hi = _as_int(min_value), _as_int(max_value)
    if lo is None or hi is None:
        return None
    if lo > hi:
        raise ValueError(f"key minimum {min_value!r} is greater than its maximum {max_value!r}")
    decimal = isinstance(min_value, Decimal)
    if lo == hi:
        return EvenPlan(origin=lo, step=1, boundary_count=0, decimal=decimal)
    factor = distribution_factor(lo, hi, approx_rows)
    # bounds as the decimals the user wrote: the float 0.01 is slightly more than 1/100
    if factor is None or not Fraction(repr(float(lower))) <= factor <= Fraction(repr(float(upper))):
        return None
    width = hi - lo
    step = max(int(factor * chunk_size), 1)
    if width // step > max_chunks - 1:
        step = width // max_chunks + 1
    return EvenPlan(origin=lo, step=step, boundary_count=width // step, decimal=decimal, factor=factor)


def probe_indexes(chunk_count: int, probes: int = EVEN_PROBES) -> list[int]:
    """Up to ``probes`` chunk indexes spread evenly over ``0..chunk_count-1``, first and last included."""
    if chunk_count <= 0 or probes <= 0:
        return []
    if chunk_count <= probes:
        return list(range(chunk_count))
    if probes == 1:
        return [0]
    return sorted({round(i * (chunk_count - 1) / (probes - 1)) for i in range(probes)})


def chunk_key_columns(schema: TableSchema, key_columns: Sequence[str] | None = None) -> tuple[Column, ...]:
    """The columns chunks are cut on: ``key_columns`` if given (the chunk-key option), else the
    primary key. A table with neither cannot be chunked (:class:`SchemaError`)."""
    if key_columns:
        names = {c.name for c in schema.columns}
        missing = [k for k in key_columns if k not in names]
        if missing:
            raise ConfigError(
                f"{CHUNK_KEY_OPTION} names {', '.join(repr(m) for m in missing)} for {schema.table_id}, "
                f"which has no such column (its columns: {', '.join(schema.column_names)})",
                table=str(schema.table_id),
            )
        return tuple(schema.column(k) for k in key_columns)
    if not schema.primary_key:
        raise SchemaError(
            f"{schema.table_id} has no primary key, so its snapshot cannot be cut into chunks; set "
            f"'{CHUNK_KEY_OPTION}' for it (for example `{schema.table_id}:<column>`, a NOT NULL and "
            "preferably indexed column) or add a primary key",
            table=str(schema.table_id),
        )
    return tuple(schema.column(k) for k in schema.primary_key)


@dataclass(frozen=True)
class ChunkingChoice:
    """How a table is cut: ``even`` (arithmetic, :attr:`even` set) or ``keyset``, and why.

    ``chunk_size`` is the effective rows per chunk (:func:`effective_chunk_size`); ``reason`` is one
    sentence for logs and the UI.
    """

    key_columns: tuple[str, ...]
    chunk_size: int
    approx_rows: int | None
    even: EvenPlan | None
    reason: str

    @property
    def method(self) -> str:
        return "even" if self.even is not None else "keyset"

    def as_keyset(self, reason: str) -> ChunkingChoice:
        return replace(self, even=None, reason=f"keyset: {reason}")


def _key_text(columns: Sequence[Column]) -> str:
    inner = ", ".join(f"{c.name} {c.column_type}" for c in columns)
    return inner if len(columns) == 1 else f"({inner})"


def decide_chunking(
    columns: Sequence[Column],
    approx_rows: int | None,
    chunk_size: int,
    *,
    bounds: tuple[Any, Any] | None = None,
    lower: float = 0.05,
    upper: float = 1000.0,
    max_chunks: int = MAX_CHUNKS_PER_TABLE,
) -> ChunkingChoice:
    """Even or keyset, from facts the adapter read: the key columns, ``TABLE_ROWS`` and, for an
    integer key (:func:`supports_even_split`), ``bounds = (MIN(key), MAX(key))``."""
    size = effective_chunk_size(chunk_size, approx_rows, max_chunks)
    names = tuple(c.name for c in columns)
    base = ChunkingChoice(names, size, approx_rows or None, None, "")
    key = _key_text(columns)
    if not supports_even_split(columns):
        why = "composite key" if len(columns) > 1 else "not an integer key"
        return base.as_keyset(f"key {key}: {why}; boundaries are found in key order by the source")
    if bounds is None:
        return base.as_keyset(f"key {key}: MIN/MAX not read")
    plan = even_chunks(bounds[0], bounds[1], approx_rows, size, lower, upper, max_chunks=max_chunks)
    if plan is None:
        if not approx_rows:
            return base.as_keyset(f"key {key}: no row count in the table statistics (TABLE_ROWS 0 or NULL)")
        factor = distribution_factor(int(bounds[0]), int(bounds[1]), approx_rows)
        return base.as_keyset(
            f"key {key} spans [{bounds[0]}, {bounds[1]}] for ~{approx_rows} rows: distribution factor "
            f"{float(factor or 0):.4f} outside [{lower}, {upper}]"
        )
    if plan.factor is None:
        what = "empty table" if bounds[0] is None else "a single key value"
        return replace(base, even=plan, reason=f"even: key {key}: {what}, one chunk")
    return replace(
        base,
        even=plan,
        reason=(
            f"even: key {key} spans [{bounds[0]}, {bounds[1]}] for ~{approx_rows} rows, distribution "
            f"factor {float(plan.factor):.4f} within [{lower}, {upper}]: {len(plan)} chunks of "
            f"{plan.step} key values"
        ),
    )
