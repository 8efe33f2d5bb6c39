"""Row decoders generated for one exact column layout of a binlog rows event.

python-mysql-replication decodes every cell through several Python calls (~160 per 7-column row).
Here a TABLE_MAP's column list becomes a list of :class:`ColumnCodec` (done by
``cdc_assets.mysql.row_decoder``), and :func:`compile_rows_decoder` turns that list plus the event's
columns-present bitmaps into one Python function, generated as source and compiled once, that walks
the raw rows bytes with ``struct`` / ``int.from_bytes`` and builds the target (canonical) values
directly: one branch per column, no dicts, no per-cell calls beyond the value's own constructor.

The wire format (MySQL ``Rows_log_event``, the same in MariaDB): per row image, a NULL bitmap with
one bit per *present* column, then the values of the present, non-NULL columns in column order. An
update row is two images (before: bitmap 1, after: bitmap 2). The generated function returns
``(changes, end_position)``; the caller checks the end position against the event's end, so a layout
that disagrees with the bytes is detected instead of producing wrong values.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: exact for every DECIMAL(65, 30) (MySQL's widest); only used to move the decimal point
_DECIMAL_CONTEXT = decimal.Context(
    prec=100, Emin=-999999, Emax=999999, traps=[decimal.Inexact, decimal.Rounded]
)
#: MySQL's packed DECIMAL: bytes used by a group of 0..9 leftover digits
_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)

KINDS = frozenset(
    {
        "int",  # size 1/2/3/4/8, signed or not
        "bool",  # TINYINT as BOOLEAN: non-zero is True
        "float",
        "double",
        "decimal",  # precision, scale
        "date",
        "datetime2",  # fsp
        "timestamp2",  # fsp; aware UTC datetime, the zero TIMESTAMP is None
        "time2",  # fsp; exact timedelta (negative fractions included)
        "year",  # 0 stays 0
        "text",  # size = length-prefix bytes; codec
        "bytes",  # size = length-prefix bytes
        "enum",  # size = index bytes; members is the lookup table (index 0 is '', the invalid value)
        "set",  # size = mask bytes; members (bit order); post converts the frozenset
        "bit",  # size = bytes; big-endian unsigned int
    }
)


@dataclass(frozen=True)
class ColumnCodec:
    """How one column's value is read and what it becomes.

    ``post`` (optional) is applied to every non-NULL value after decoding: the project's own
    converter where the decoded value is what python-mysql-replication would return (e.g. BINARY(n)
    padding, the SET member order, wide DECIMAL as text).
    """

    kind: str
    size: int = 0
    signed: bool = True
    fsp: int = 0
    precision: int = 0
    scale: int = 0
    codec: str = "utf-8"
    members: tuple[str, ...] = ()
    post: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column codec kind {self.kind!r}")


class _SetCache(dict):
    """SET mask -> final value, computed on first sight (a column holds few distinct masks)."""

    def __init__(self, members: Sequence[str], post: Callable[[Any], Any] | None):
        super().__init__()
        self.members = tuple(members)
        self.post = post

    def __missing__(self, mask: int) -> Any:
        value: Any = frozenset(m for i, m in enumerate(self.members) if mask >> i & 1)
        if self.post is not None:
            value = self.post(value)
        if len(self) < 65536:
            self[mask] = value
        return value


_STRUCTS = {
    ("int", 1, True): "<b",
    ("int", 2, True): "<h",
    ("int", 2, False): "<H",
    ("int", 4, True): "<i",
    ("int", 4, False): "<I",
    ("int", 8, True): "<q",
    ("int", 8, False): "<Q",
    ("float", 4, True): "<f",
    ("double", 8, True): "<d",
}


def _fixed(c: ColumnCodec) -> str | None:
    """The little-endian struct code of a fixed-width value (bytes ``Ns`` for big-endian ones), or None."""
    if c.kind in ("int", "float", "double"):
        fmt = _STRUCTS.get((c.kind, c.size, c.signed))
        if fmt is None and c.kind == "int" and c.size == 1:
            fmt = "<B"
        return fmt[1:] if fmt else None
    if c.kind in ("bool", "year"):
        return "B"
    if c.kind == "decimal":
        return f"{decimal_size(c.precision, c.scale)}s"
    if c.kind == "datetime2" and not c.fsp:
        return "5s"
    if c.kind == "date":
        return "3s"
    return None


def _merge_steps(lines: list[str]) -> list[str]:
    """Consecutive ``p += <constant>`` lines as one."""
    out: list[str] = []
    for line in lines:
        step = line.strip()
        if out and step.startswith("p += ") and step[5:].isdigit():
            last = out[-1].strip()
            if (
                last.startswith("p += ")
                and last[5:].isdigit()
                and out[-1][: -len(last)] == line[: -len(step)]
            ):
                out[-1] = f"{line[: -len(step)]}p += {int(last[5:]) + int(step[5:])}"
                continue
        out.append(line)
    return out


def _width(c: ColumnCodec) -> int:
    """Bytes of a stored value of every kind but ``text`` and ``bytes`` (length-prefixed)."""
    if c.kind in ("int", "bit", "enum", "set"):
        return c.size
    if c.kind in ("bool", "year"):
        return 1
    fraction = (c.fsp + 1) // 2
    widths = {"float": 4, "double": 8, "date": 3, "datetime2": 5 + fraction, "timestamp2": 4 + fraction}
    if c.kind == "time2":
        return 3 + fraction
    if c.kind == "decimal":
        return decimal_size(c.precision, c.scale)
    return widths[c.kind]


def decimal_size(precision: int, scale: int) -> int:
    """Bytes of MySQL's packed DECIMAL(precision, scale)."""
    intg = precision - scale
    return _DIG2BYTES[intg % 9] + 4 * (intg // 9) + 4 * (scale // 9) + _DIG2BYTES[scale % 9]


def _bits(present: bytes, n: int) -> list[bool]:
    return [bool(present[i >> 3] >> (i & 7) & 1) for i in range(n)]


class _Gen:
    def __init__(self, codecs: Sequence[ColumnCodec]):
        self.codecs = list(codecs)
        self.ns: dict[str, Any] = {
            "_D": Decimal,
            "_DCTX": _DECIMAL_CONTEXT,
            "_DATE": _dt.date,
            "_DT": _dt.datetime,
            "_TD": _dt.timedelta,
            "_FROMTS": _dt.datetime.fromtimestamp,
            "_UTC": _dt.UTC,
            "_ifb": int.from_bytes,
        }
        self._n = 0

    def const(self, value: Any, prefix: str = "_c") -> str:
        self._n += 1
        name = f"{prefix}{self._n}"
        self.ns[name] = value
        return name

    def unpack(self, fmt: str) -> str:
        name = "_u_" + fmt.replace("<", "l").replace(">", "b")
        self.ns.setdefault(name, struct.Struct(fmt).unpack_from)
        return name

    def _length(self, size: int, ind: str) -> list[str]:
        if size == 1:
            return [f"{ind}n = buf[p]; p += 1"]
        if size == 2:
            return [f"{ind}n = {self.unpack('<H')}(buf, p)[0]; p += 2"]
        if size == 4:
            return [f"{ind}n = {self.unpack('<I')}(buf, p)[0]; p += 4"]
        return [f"{ind}n = _ifb(buf[p:p + {size}], 'little'); p += {size}"]

    def value(
        self, c: ColumnCodec, v: str, ind: str, raw: str | None = None, packed: bool = False
    ) -> list[str]:
        """Lines that read one non-NULL value of ``c`` into ``v`` and advance ``p``; with ``raw``, the
        value was unpacked already (see :func:`_fixed`) into the variable of that name. ``packed``
        (see :func:`packed_ok`): ``v`` is the integer the value is stored as, not a Python value."""
        k = c.kind
        out: list[str]

        def read(size: int, order: str) -> str:
            if raw is not None:
                return f"n = _ifb({raw}, {order!r})"
            return f"n = _ifb(buf[p:p + {size}], {order!r}); p += {size}"

        if raw is not None and k in ("int", "float", "double"):
            out = [f"{ind}{v} = {raw}"] if raw != v else []
        elif raw is not None and k == "bool":
            out = [f"{ind}{v} = {raw} != 0"]
        elif raw is not None and k == "year":
            out = [f"{ind}{v} = {raw} + 1900 if {raw} else 0"]
        elif k in ("int", "float", "double") and (k, c.size, c.signed) in _STRUCTS:
            out = [f"{ind}{v} = {self.unpack(_STRUCTS[(k, c.size, c.signed)])}(buf, p)[0]; p += {c.size}"]
        elif k == "int" and c.size == 1:
            out = [f"{ind}{v} = buf[p]; p += 1"]
        elif k == "int":  # MEDIUMINT
            out = [f"{ind}{v} = _ifb(buf[p:p + {c.size}], 'little', signed={c.signed}); p += {c.size}"]
        elif k == "bool":
            out = [f"{ind}{v} = buf[p] != 0; p += 1"]
        elif k == "year":
            out = [f"{ind}{v} = buf[p]; p += 1", f"{ind}if {v}: {v} += 1900"]
        elif k == "bit":
            out = [f"{ind}{v} = _ifb(buf[p:p + {c.size}], 'big'); p += {c.size}"]
        elif k == "decimal" and packed:
            out = [f"{ind}{read(decimal_size(c.precision, c.scale), 'big')}", f"{ind}{v} = n"]
        elif k == "datetime2" and packed:
            fraction = self._fraction(c.fsp, ind) if c.fsp else []
            us = " | us" if c.fsp else ""
            out = [f"{ind}{read(5, 'big')}", *fraction, f"{ind}{v} = (n & {_DATETIME_BITS}) << 24{us}"]
        elif k == "decimal":
            out = self._decimal(c, v, ind, read)
        elif k == "date":
            out = [
                f"{ind}{read(3, 'little')}",
                f"{ind}y = n >> 9; m = (n >> 5) & 15; d = n & 31",
                f"{ind}{v} = _DATE(y, m, d) if y and m and d else None",
            ]
        elif k == "datetime2":
            fraction = self._fraction(c.fsp, ind) if c.fsp else []
            us = ", us" if c.fsp else ""
            out = [f"{ind}{read(5, 'big')}", *fraction]
            out += [
                f"{ind}ym = (n >> 22) & 0x1FFFF",
                f"{ind}try:",
                f"{ind}    {v} = _DT(ym // 13, ym % 13, (n >> 17) & 31, (n >> 12) & 31, (n >> 6) & 63, n & 63{us})",
                f"{ind}except ValueError:",  # zero and partial-zero datetimes
                f"{ind}    {v} = None",
            ]
        elif k == "timestamp2":
            out = [f"{ind}n = {self.unpack('>i')}(buf, p)[0]; p += 4", *self._fraction(c.fsp, ind)]
            out += [
                f"{ind}if n or us:",
                f"{ind}    {v} = _FROMTS(n, _UTC)",
                f"{ind}    if us: {v} = {v}.replace(microsecond=us)",
                f"{ind}else:",  # the zero TIMESTAMP is stored as 0
                f"{ind}    {v} = None",
            ]
        elif k == "time2":
            out = self._time2(c, v, ind)
        elif k in ("text", "bytes"):
            out = self._length(c.size, ind)
            if k == "bytes":
                out.append(f"{ind}{v} = buf[p:p + n]; p += n")
            else:
                out.append(f"{ind}{v} = buf[p:p + n].decode({c.codec!r}); p += n")
        elif k == "enum":
            members = self.const(tuple(c.members), "_enum")
            out = self._length(c.size, ind) + [f"{ind}{v} = {members}[n]"]
        elif k == "set":
            cache = self.const(_SetCache(c.members, c.post), "_set")
            out = [f"{ind}{v} = {cache}[_ifb(buf[p:p + {c.size}], 'little')]; p += {c.size}"]
            return out  # post already applied by the cache
        else:  # pragma: no cover - KINDS is checked in ColumnCodec
            raise ValueError(k)
        if c.post is not None:
            out.append(f"{ind}{v} = {self.const(c.post, '_post')}({v})")
        return out

    def _fraction(self, fsp: int, ind: str) -> list[str]:
        """Read the big-endian fractional seconds of DATETIME2/TIMESTAMP2 into ``us``."""
        nbytes = (fsp + 1) // 2
        if not nbytes:
            return [f"{ind}us = 0"]
        scale = 10 ** (6 - fsp)
        read = f"_ifb(buf[p:p + {nbytes}], 'big')"
        # an odd fsp stores one digit more than it keeps (as python-mysql-replication reads it)
        expr = f"({read} // 10) * {scale}" if fsp % 2 else f"{read} * {scale}"
        return [f"{ind}us = {expr}; p += {nbytes}"]

    def _time2(self, c: ColumnCodec, v: str, ind: str) -> list[str]:
        # The value (integer part << 8*nbytes | fraction) is stored as one big-endian number plus an
        # offset; a negative TIME is the negated packed value of its absolute value.
        nbytes = (c.fsp + 1) // 2
        total = 3 + nbytes
        shift = 8 * nbytes
        offset = 0x800000 << shift
        lines = [
            f"{ind}n = _ifb(buf[p:p + {total}], 'big') - {offset}; p += {total}",
            f"{ind}a = -n if n < 0 else n",
            f"{ind}h = a >> {shift}",
        ]
        micro = f"(a & {(1 << shift) - 1}) * {10 ** (6 - 2 * nbytes)}" if nbytes else "0"
        lines += [
            f"{ind}{v} = _TD(0, ((h >> 12) & 0x3FF) * 3600 + ((h >> 6) & 63) * 60 + (h & 63), {micro})",
            f"{ind}if n < 0: {v} = -{v}",
        ]
        return lines

    def _decimal(self, c: ColumnCodec, v: str, ind: str, read: Callable[[int, str], str]) -> list[str]:
        p_, s_ = c.precision, c.scale
        intg, frac = p_ - s_, s_
        # (bytes, digits) groups, most significant first
        igroups = ([(_DIG2BYTES[intg % 9], intg % 9)] if intg % 9 else []) + [(4, 9)] * (intg // 9)
        fgroups = [(4, 9)] * (frac // 9) + ([(_DIG2BYTES[frac % 9], frac % 9)] if frac % 9 else [])
        size = sum(b for b, _ in igroups + fgroups)
        top = 1 << (8 * size - 1)
        allbits = (1 << (8 * size)) - 1
        lines = [
            f"{ind}{read(size, 'big')}",
            f"{ind}if n & {top}:",
            f"{ind}    n ^= {top}; sg = True",
            f"{ind}else:",
            f"{ind}    n ^= {top ^ allbits}; sg = False",
        ]

        def number(groups: list[tuple[int, int]], low_bit: int) -> str:
            expr, bit = "0", low_bit
            terms = []
            mult = 1
            for nbytes, digits in reversed(groups):
                term = (
                    f"((n >> {bit}) & {(1 << (8 * nbytes)) - 1})"
                    if bit
                    else f"(n & {(1 << (8 * nbytes)) - 1})"
                )
                terms.append(f"{term} * {mult}" if mult != 1 else term)
                mult *= 10**digits
                bit += 8 * nbytes
            return " + ".join(terms) if terms else expr

        fbytes = sum(b for b, _ in fgroups)
        ip = number(igroups, 8 * fbytes)
        fp = number(fgroups, 0) if frac else ""
        value = f"({ip}) * {10**frac} + {fp}" if frac else ip
        # Decimal(int) is exact; scaleb in a context wide enough for DECIMAL(65) only moves the point
        lines.append(
            f"{ind}{v} = _D({value}).scaleb({-frac}, _DCTX) if sg else _D(-({value})).scaleb({-frac}, _DCTX)"
        )
        return lines

    def skip(self, c: ColumnCodec, ind: str) -> list[str]:
        """Lines that step over one non-NULL value of ``c`` without reading it."""
        if c.kind in ("text", "bytes"):
            return [*self._length(c.size, ind), f"{ind}p += n"]
        return [f"{ind}p += {_width(c)}"]

    def image(
        self,
        present: list[bool],
        prefix: str,
        ind: str,
        packed: frozenset[int] = frozenset(),
        skip: frozenset[int] = frozenset(),
    ) -> tuple[list[str], str]:
        """Lines decoding one row image; returns them and the tuple expression of its values. Columns in
        ``packed`` are read as the integers they are stored as (see :func:`packed_ok`); columns in
        ``skip`` are stepped over (their names are left unset)."""
        count = sum(present)
        nbytes = (count + 7) // 8
        lines = []
        if nbytes == 1:
            lines.append(f"{ind}nb = buf[p]; p += 1")
        elif nbytes:
            lines.append(f"{ind}nb = _ifb(buf[p:p + {nbytes}], 'little'); p += {nbytes}")
        names = []
        plain: list[str] = []  # no NULL in this row image: the common case, without a test per column
        checked: list[str] = []
        bit = 0
        run: list[tuple[ColumnCodec, str]] = []  # consecutive fixed-width values, read by one unpack
        raw_names = {f"{prefix}{i}" for i in packed}

        def end_run() -> None:
            if len(run) == 1:
                plain.extend(self.value(run[0][0], run[0][1], ind + "    ", packed=run[0][1] in raw_names))
            elif run:
                fmt = "<" + "".join(_fixed(c) or "" for c, _ in run)
                raws = [v if c.kind in ("int", "float", "double") else f"r{v}" for c, v in run]
                plain.append(
                    f"{ind}    {', '.join(raws)} = {self.unpack(fmt)}(buf, p); p += {struct.calcsize(fmt)}"
                )
                for (c, v), raw in zip(run, raws, strict=True):
                    plain.extend(self.value(c, v, ind + "    ", raw=raw, packed=v in raw_names))
            run.clear()

        for i, c in enumerate(self.codecs):
            if not present[i]:
                names.append("None")  # not in this image (binlog_row_image MINIMAL / NOBLOB)
                continue
            v = f"{prefix}{i}"
            names.append(v)
            if i in skip:
                end_run()
                plain.extend(self.skip(c, ind + "    "))
                checked.append(f"{ind}    if not nb & {1 << bit}:")
                checked.extend(self.skip(c, ind + "        "))
                bit += 1
                continue
            if _fixed(c) is not None:
                run.append((c, v))
            else:
                end_run()
                plain.extend(self.value(c, v, ind + "    ", packed=i in packed))
            checked.append(f"{ind}    if nb & {1 << bit}:")
            checked.append(f"{ind}        {v} = None")
            checked.append(f"{ind}    else:")
            checked.extend(self.value(c, v, ind + "        ", packed=i in packed))
            bit += 1
        end_run()
        plain = _merge_steps(plain)
        if nbytes:
            # the bitmap's unused high bits are not always 0 (MariaDB sets them)
            lines += [f"{ind}if not nb & {(1 << count) - 1}:", *plain, f"{ind}else:", *checked]
        return lines, "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def compile_rows_decoder(
    codecs: Sequence[ColumnCodec],
    op: str,
    present: bytes,
    present_after: bytes | None,
    make_change: Callable[[str, Any, Any], Any],
    name: str = "rows",
) -> Callable[[bytes, int, int], tuple[list, int]]:
    """A function ``(buf, start, end) -> (changes, position)`` for rows events of one layout.

    ``op`` is ``insert``, ``update`` or ``delete``; ``present`` / ``present_after`` are the event's
    columns-present bitmaps (``present_after`` only for updates). ``make_change(op, before, after)``
    builds one change from value tuples in column order. Decoding stops at ``end``; the returned
    position equals ``end`` exactly when the layout matched the bytes.
    """
    if op not in ("insert", "update", "delete"):
        raise ValueError(f"op must be insert, update or delete, not {op!r}")
    if (present_after is not None) != (op == "update"):
        raise ValueError("present_after is given for updates and only for them")
    gen = _Gen(codecs)
    n = len(gen.codecs)
    gen.ns["_RC"] = make_change
    if isinstance(make_change, type) and issubclass(make_change, tuple):
        # a NamedTuple's __new__ is a Python function; tuple.__new__ builds the same object in C
        gen.ns["_TN"] = tuple.__new__
        change = "_TN(_RC, ({}, {}, {}))".format
    else:
        change = "_RC({}, {}, {})".format
    body = ["def decode(buf, p, end):", "    out = []", "    add = out.append", "    while p < end:"]
    ind = " " * 8
    first, first_t = gen.image(_bits(present, n), "v", ind)
    body += first
    if op == "update":
        assert present_after is not None
        second, second_t = gen.image(_bits(present_after, n), "w", ind)
        body += second
        body.append(f"{ind}add({change(repr('update'), first_t, second_t)})")
    elif op == "insert":
        body.append(f"{ind}add({change(repr('insert'), None, first_t)})")
    else:
        body.append(f"{ind}add({change(repr('delete'), first_t, None)})")
    body.append("    return out, p")
    source = "\n".join(body) + "\n"
    code = compile(source, f"<binlog rows decoder {name}>", "exec")
    namespace = dict(gen.ns)
    exec(code, namespace)  # noqa: S102 - source generated above from column codecs, no outside text
    fn = namespace["decode"]
    fn.source = source  # type: ignore[attr-defined]  # for debugging and tests
    return fn


#: DATETIME2's packed value without its sign bit (always set): 39 bits, so that with 24 bits of
#: microseconds beside it the value fits in a signed 64-bit integer
_DATETIME_BITS = (1 << 39) - 1


def packed_ok(c: ColumnCodec) -> bool:
    """Whether a column may be carried in a columnar batch as the integer it is stored as, converted to
    Arrow for a whole batch at once (:mod:`cdc_assets.core.column_batch`): a DECIMAL of at most 7 bytes
    (e.g. DECIMAL(15,2)) and a DATETIME, each without a converter. Building a ``Decimal`` or a
    ``datetime`` per value costs more than decoding the rest of a row."""
    if c.post is not None:
        return False
    if c.kind == "decimal":
        return decimal_size(c.precision, c.scale) <= 7
    return c.kind == "datetime2"


def decimal_terms(precision: int, scale: int) -> list[tuple[int, int, int]]:
    """The packed DECIMAL as ``(shift, mask, weight)`` terms: once the sign is taken off the stored integer
    (see ``_Gen._decimal``), the unscaled value is the sum of ``((n >> shift) & mask) * weight``."""
    intg, frac = precision - scale, scale
    igroups = ([(_DIG2BYTES[intg % 9], intg % 9)] if intg % 9 else []) + [(4, 9)] * (intg // 9)
    fgroups = [(4, 9)] * (frac // 9) + ([(_DIG2BYTES[frac % 9], frac % 9)] if frac % 9 else [])
    terms = []
    bit, weight = 0, 1
    for nbytes, digits in reversed(igroups + fgroups):
        terms.append((bit, (1 << (8 * nbytes)) - 1, weight))
        bit += 8 * nbytes
        weight *= 10**digits
    return terms


def compile_columns_decoder(
    codecs: Sequence[ColumnCodec],
    op: str,
    key_positions: Sequence[int],
    packed: frozenset[int] = frozenset(),
    name: str = "rows",
) -> Callable[[bytes, int, int, Any], tuple[int, int]]:
    """A function ``(buf, start, end, batch) -> (position, rows)`` for rows events of one layout with
    every column present (full row images), appending to a :class:`cdc_assets.core.column_batch.ColumnBatch`.

    Each insert, and each update's after image, is appended column by column to ``batch.cols`` and its
    key to ``batch.keys`` (the bare value for a one-column key, else a tuple). A delete, and an update
    whose before image has another key than its after image, appends ``(old key tuple, n, before
    image, is_update)`` to ``batch.deletes``, ``n`` being the number of keys appended before it: the order
    :func:`cdc_assets.core.events.collapse` needs (consistency-notes items 2 and 3). Columns in
    ``packed`` (see :func:`packed_ok`, never key columns) are appended as the integers they are stored as.
    """
    if op not in ("insert", "update", "delete"):
        raise ValueError(f"op must be insert, update or delete, not {op!r}")
    if not key_positions:
        raise ValueError("a columnar batch needs a key")
    if packed & set(key_positions):
        raise ValueError("key columns are kept as exact values")
    gen = _Gen(codecs)
    n = len(gen.codecs)
    every = [True] * n
    body = ["def decode(buf, p, end, batch):", "    cols = batch.cols"]
    body += [f"    a{i} = cols[{i}].append" for i in range(n)]
    body += ["    ka = batch.keys.append", "    da = batch.deletes.append", "    kn = len(batch.keys)"]
    body += ["    rows = 0", "    while p < end:"]
    ind = " " * 8

    def key(prefix: str, bare: bool) -> str:
        names = [f"{prefix}{i}" for i in key_positions]
        if bare and len(names) == 1:
            return names[0]
        return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"

    def upsert(prefix: str) -> list[str]:
        appends = "; ".join(f"a{i}({prefix}{i})" for i in range(n))
        return [f"{ind}{appends}", f"{ind}ka({key(prefix, True)}); kn += 1"]

    if op == "update":
        # The before image is read for its key only; an update that changes the key (rare) reads it
        # again whole, as exact values, for the delete it becomes.
        whole = _Gen(codecs)
        lines, values = whole.image(every, "v", "    ")
        source = "\n".join(["def before(buf, p):", *lines, f"    return {values}"]) + "\n"
        exec(compile(source, f"<binlog before image {name}>", "exec"), whole.ns)  # noqa: S102 - generated
        gen.ns["_before"] = whole.ns["before"]
        others = frozenset(range(n)) - frozenset(key_positions)
        first, _ = gen.image(every, "v", ind, skip=others)
        second, _ = gen.image(every, "w", ind, packed)
        body += [f"{ind}p0 = p", *first, *second]
        body.append(f"{ind}if {key('v', False)} != {key('w', False)}:")
        body.append(f"{ind}    da(({key('v', False)}, kn, _before(buf, p0), True))")
        body += upsert("w")
    elif op == "insert":
        first, _ = gen.image(every, "v", ind, packed)
        body += [*first, *upsert("v")]
    else:  # a delete keeps its whole row, as exact values
        first, before = gen.image(every, "v", ind)
        body += [*first, f"{ind}da(({key('v', False)}, kn, {before}, False))"]
    body += [f"{ind}rows += 1", "    return p, rows"]
    source = "\n".join(body) + "\n"
    code = compile(source, f"<binlog columns decoder {name}>", "exec")
    namespace = dict(gen.ns)
    exec(code, namespace)  # noqa: S102 - source generated above from column codecs, no outside text
    fn = namespace["decode"]
    fn.source = source  # type: ignore[attr-defined]
    return fn
