"""Stream Load bodies: headers -> a load plan -> validated upserts and deletes for the store.

The checks follow StarRocks 3.x in the order it makes them (BE ``http/action/stream_load.cpp``
``_on_header`` / ``_process_put``, FE ``Load.initColumns``), with its messages:

1. :func:`check_header_phase` - before a transaction is begun: ``format`` (``unknown data format``),
   the 100 MB JSON rule (``ignore_json_size``), ``timeout`` (``Invalid timeout format``);
2. :func:`plan_load` - after begin: CSV options, ``strict_mode``, ``partial_update`` (``Invalid partial
   update flag format. Must be bool type``), the ``columns`` mapping incl. ``__op`` (``load op type
   string not supported``, ``Mapping column is not in table``, ``Column has no default value``);
3. :func:`execute_plan` - the body: rows parsed (CSV or JSON), every value converted and checked per
   column type (:mod:`cdc_assets.standin.convert`), bad rows filtered with an error-log line, and the
   Primary Key size limit (``primary key size exceed the limit.``).

Whole-load failures raise :class:`LoadError` carrying the BE ``TStatusCode`` name, which the transaction
API shows as ``Status`` and plain Stream Load turns into ``Fail``.
"""

from __future__ import annotations

import bz2
import gzip
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cdc_assets.standin import convert, fastcsv, fastload
from cdc_assets.standin.bodies import (
    CsvOptions,
    CsvStream,
    LoadError,
    csv_rows,
    json_row_text,
    json_rows,
    path_steps,
)
from cdc_assets.standin.catalog import ColumnMeta, TableMeta

__all__ = [
    "CsvStream",
    "LoadBatch",
    "LoadError",
    "LoadPlan",
    "check_header_phase",
    "data_headers",
    "execute_plan",
    "plan_load",
]

#: BE ``streaming_load_max_batch_size_mb``: JSON bodies above it need ``ignore_json_size: true``
JSON_MAX_BODY_BYTES = 100 * 1024 * 1024
#: BE ``streaming_load_max_mb`` default (102400 MB): no body may be larger (10240 in older builds)
STREAMING_LOAD_MAX_MB = 102400
OP_COLUMN = "__op"
#: at most this many error-log lines are kept per load (StarRocks caps its error log too)
MAX_ERROR_LINES = 1000
_CSV_COMPRESSION = {"gzip": "gzip", "bzip2": "bzip2", "lz4": "lz4", "deflate": "deflate", "zstd": "zstd"}
_OP_WORDS = {"upsert": 0, "delete": 1}


def header_map(headers: Mapping[str, str] | Any) -> dict[str, str]:
    """Lower-cased header names -> value (the first one); empty values count as absent, as in the BE.

    The BE reads header bytes as they come (UTF-8 from every client that sends non-ASCII column names);
    Python's HTTP server decodes them as Latin-1, which is undone here."""
    items = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, str] = {}
    for k, v in items:
        if v != "" and k.lower() not in out:
            out[k.lower()] = _utf8_header(v)
    return out


def _utf8_header(value: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def parse_uint32(text: str) -> int | None:
    """StarRocks ``StringParser::string_to_unsigned_int<int32_t>``: digits only (spaces trimmed)."""
    raw = text.strip()
    if not raw.isdigit() or not raw.isascii():
        return None
    value = int(raw)
    return value if value <= 2**31 - 1 else None


def _stoll(text: str) -> int | None:
    """C++ ``std::stoll``: optional spaces and sign, then digits; the rest is ignored. None: no digits."""
    m = re.match(r"^\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else None


def _strtod(text: str) -> float:
    """C ``strtod``: the longest leading number, 0.0 when there is none."""
    m = re.match(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)", text)
    return float(m.group(1)) if m else 0.0


@dataclass(frozen=True)
class HeaderPhase:
    """What the BE checks before it begins the transaction."""

    format: str  # "csv" or "json"
    csv_compression: str | None
    timeout: int | None


def check_header_phase(
    headers: Mapping[str, str],
    content_length: int | None,
    *,
    max_body_bytes: int = STREAMING_LOAD_MAX_MB * 1024 * 1024,
    brief: str = "",
) -> HeaderPhase:
    """The body size limit, ``format``, the JSON size rule and ``timeout``, in the BE's order (``_on_header``);
    LoadError on the first failure. ``content_length`` is the body size so far (for a transaction, of
    all its loads); ``brief`` is the load's ``StreamLoadContext::brief`` text, which the size error quotes."""
    if (content_length or 0) > max_body_bytes:
        raise LoadError(
            "INTERNAL_ERROR",
            f"body size {content_length} exceed limit: {max_body_bytes}, {brief}. "
            "You can increase the limit by setting streaming_load_max_mb in be.conf.",
        )
    h = header_map(headers)
    fmt, csv_compression = "csv", None
    if "format" in h:
        name = h["format"].lower()
        if name == "json":
            fmt = "json"
            ignore = h.get("ignore_json_size", "").lower() == "true"
            if not ignore and (content_length or 0) > JSON_MAX_BODY_BYTES:
                raise LoadError(
                    "INTERNAL_ERROR",
                    f"The size of this batch exceed the max size [{JSON_MAX_BODY_BYTES}]  of json type data "
                    f" data [ {content_length} ]. Set ignore_json_size to skip the check, although it may "
                    "lead huge memory consuming.",
                )
        elif name in _CSV_COMPRESSION:
            csv_compression = _CSV_COMPRESSION[name]
        elif name != "csv":
            raise LoadError("INTERNAL_ERROR", f"unknown data format, format={h['format']}")
    timeout = None
    if "timeout" in h:
        timeout = parse_uint32(h["timeout"])
        if timeout is None:
            raise LoadError("INVALID_ARGUMENT", "Invalid timeout format")
    return HeaderPhase(fmt, csv_compression, timeout)


def _bool_header(h: dict[str, str], name: str, message: str) -> bool | None:
    if name not in h:
        return None
    low = h[name].lower()
    if low in ("true", "false"):
        return low == "true"
    raise LoadError("INVALID_ARGUMENT", message)


def _separator(text: str) -> str:
    """``\\x01``-style hex separators (StarRocks accepts them) or the text itself."""
    if text.lower().startswith("\\x") and len(text) > 2 and re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text[2:]):
        return bytes.fromhex(text[2:]).decode("latin-1")
    return text


#: the headers that say how a body is read: BE ``TStreamLoadPutRequest`` fields (``_parse_request``) plus
#: the CSV reader options. Every ``load`` of a transaction must send the same ones.
_DATA_HEADERS = (
    "format",
    "columns",
    "where",
    "column_separator",
    "row_delimiter",
    "skip_header",
    "trim_space",
    "enclose",
    "escape",
    "partitions",
    "temporary_partitions",
    "negative",
    "strict_mode",
    "timezone",
    "load_mem_limit",
    "jsonpaths",
    "json_root",
    "strip_outer_array",
    "partial_update",
    "partial_update_mode",
    "merge_condition",
    "compression",
    "content-encoding",
    "transmission_compression_type",
    "load_dop",
)
#: flags the BE reads as ``true`` or anything else (false), so "false" and no header are the same request
_TRUE_OR_ELSE = ("strip_outer_array", "partial_update", "negative")


def data_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The data-describing headers of a load, normalized as the BE compares them across the loads of a
    transaction (``load request not equal last.``): label, db, table, timeout, auth and sizes are not."""
    h = header_map(headers)
    out = {name: h[name] for name in _DATA_HEADERS if name in h and name not in _TRUE_OR_ELSE}
    for name in ("format", "strict_mode", "trim_space", "compression", "content-encoding"):
        if name in out:
            out[name] = out[name].lower()
    for name in _TRUE_OR_ELSE:
        out[name] = str(h.get(name, "").lower() == "true")
    return out


# ---------------------------------------------------------------- the columns header


@dataclass(frozen=True)
class _Mapping:
    target: str  # a table column, or __op
    expr: str  # the raw expression text


def _split_top(text: str) -> list[str]:
    """Split on commas outside quotes, backquotes and parentheses."""
    parts, cur, depth, quote = [], [], 0, ""
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
            cur.append(ch)
        elif ch == "(":
            depth += 1
            cur.append(ch)
        elif ch == ")":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _ident(text: str) -> str | None:
    """A bare or backquoted identifier, unquoted; None when ``text`` is something else."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "`":
        return text[1:-1].replace("``", "`")
    return text if re.fullmatch(r"[A-Za-z_$][\w$]*", text) else None


def parse_columns(header: str) -> tuple[list[str], list[_Mapping]]:
    """``columns`` -> (source field names in order, ``target=expr`` mappings)."""
    sources: list[str] = []
    mappings: list[_Mapping] = []
    for item in _split_top(header):
        if not item:
            raise LoadError("ANALYSIS_ERROR", f"Invalid columns header: {header}")
        eq = _top_equals(item)
        if eq < 0:
            name = _ident(item)
            if name is None:
                raise LoadError("ANALYSIS_ERROR", f"Invalid columns header, bad column name: {item}")
            sources.append(name)
        else:
            target = _ident(item[:eq])
            if target is None:
                raise LoadError("ANALYSIS_ERROR", f"Invalid columns header, bad column name: {item[:eq]}")
            mappings.append(_Mapping(target, item[eq + 1 :].strip()))
    return sources, mappings


def _top_equals(item: str) -> int:
    quote = ""
    for i, ch in enumerate(item):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "=":
            return i
    return -1


def _string_literal(expr: str) -> str | None:
    if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in "'\"":
        return expr[1:-1]
    return None


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class LoadPlan:
    """How one load's body becomes rows of ``table``."""

    table: TableMeta
    format: str
    csv_compression: str | None
    payload_compression: str | None
    sources: tuple[str, ...]  # CSV field order, JSON keys (or jsonpaths order)
    targets: tuple[tuple[str, str], ...]  # (table column, source field)
    op_const: int | None  # every row has this op ...
    op_source: str | None  # ... or reads it from this source field / JSON key
    column_separator: str = "\t"
    row_delimiter: str = "\n"
    enclose: str | None = None
    escape: str | None = None
    skip_header: int = 0
    trim_space: bool = False
    strip_outer_array: bool = False
    json_root: str | None = None
    jsonpaths: tuple[str, ...] | None = None
    strict_mode: bool = False
    max_filter_ratio: float = 0.0
    key: tuple[str, ...] = field(default=())


def plan_load(headers: Mapping[str, str], phase: HeaderPhase, table: TableMeta) -> LoadPlan:
    """The BE's ``_process_put`` checks and the FE's column mapping; LoadError on the first failure."""
    h = header_map(headers)
    skip_header = 0
    if "skip_header" in h:
        value = _stoll(h["skip_header"])
        if value is None:
            raise LoadError("INVALID_ARGUMENT", "Invalid csv load skip_header format")
        if value < 0:
            raise LoadError("INVALID_ARGUMENT", "skip_header must be equal or greater than 0")
        skip_header = value
    trim_space = _bool_header(h, "trim_space", "Invalid trim space format. Must be bool type") or False
    if "partitions" in h and "temporary_partitions" in h:
        raise LoadError("INVALID_ARGUMENT", "Can not specify both partitions and temporary partitions")
    strict = _bool_header(h, "strict_mode", "Invalid strict mode format. Must be bool type") or False
    if "load_mem_limit" in h:
        value = _stoll(h["load_mem_limit"])
        if value is None:
            raise LoadError("INVALID_ARGUMENT", "Invalid load mem limit format")
        if value < 0:
            raise LoadError("INVALID_ARGUMENT", "load_mem_limit must be equal or greater than 0")
    partial = _bool_header(h, "partial_update", "Invalid partial update flag format. Must be bool type")
    if "log_rejected_record_num" in h:
        value = _stoll(h["log_rejected_record_num"])
        if value is None:
            raise LoadError("INVALID_ARGUMENT", "Invalid log_rejected_record_num format")
        if value < -1:
            raise LoadError("INVALID_ARGUMENT", "log_rejected_record_num must be equal or greater than -1")
    ratio = _strtod(h["max_filter_ratio"]) if "max_filter_ratio" in h else 0.0
    if "content-encoding" in h and "compression" in h:
        raise LoadError(
            "INVALID_ARGUMENT", "Only one of http header content-encoding and compression can be set"
        )
    payload_compression = (h.get("content-encoding") or h.get("compression") or "").upper() or None
    # FE side (streamLoadPut): what the stand-in refuses, then the column mapping
    if partial and table.keys_type != "PRIMARY_KEYS":
        raise LoadError("ANALYSIS_ERROR", "Only primary key table support partial update")
    unsupported = [
        what
        for what, used in (
            ("partial_update: true", partial),
            ("merge_condition", "merge_condition" in h),
            ("where", "where" in h),
        )
        if used
    ]
    if unsupported:
        raise LoadError(
            "NOT_IMPLEMENTED_ERROR",
            f"the StarRocks stand-in does not support the {unsupported[0]} header; send full rows instead",
        )
    jsonpaths = _parse_jsonpaths(h["jsonpaths"]) if phase.format == "json" and "jsonpaths" in h else None
    sources, targets, op_const, op_source = _map_columns(h.get("columns"), phase.format, jsonpaths, table)
    if phase.format == "json":
        binary = [c for c, _ in targets if table.column(c).type.name == "VARBINARY"]  # type: ignore[union-attr]
        if binary:
            raise LoadError(
                "NOT_IMPLEMENTED_ERROR",
                f"VARBINARY column '{binary[0]}' cannot be loaded from JSON: StarRocks loads VARBINARY only "
                "from CSV, as hex; send format: csv",
            )
    enclose = h["enclose"][0] if "enclose" in h else None
    escape = h["escape"][0] if "escape" in h else None
    return LoadPlan(
        table=table,
        format=phase.format,
        csv_compression=phase.csv_compression,
        payload_compression=payload_compression,
        sources=tuple(sources),
        targets=tuple(targets),
        op_const=op_const,
        op_source=op_source,
        column_separator=_separator(h.get("column_separator", "\t")),
        row_delimiter=_separator(h.get("row_delimiter", "\n")),
        enclose=enclose,
        escape=escape,
        skip_header=skip_header,
        trim_space=trim_space,
        strip_outer_array=h.get("strip_outer_array", "").lower() == "true",
        json_root=h.get("json_root"),
        jsonpaths=tuple(jsonpaths) if jsonpaths is not None else None,
        strict_mode=strict,
        max_filter_ratio=ratio,
        key=tuple(table.column(k).name for k in table.key),  # type: ignore[union-attr]
    )


def _parse_jsonpaths(text: str) -> list[str]:
    try:
        paths = json.loads(text)
    except ValueError:
        paths = None
    if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("$") for p in paths):
        raise LoadError("INVALID_ARGUMENT", f"Invalid json path: {text}")
    for p in paths:
        path_steps(p)
    return paths


def _map_columns(
    header: str | None, fmt: str, jsonpaths: list[str] | None, table: TableMeta
) -> tuple[list[str], list[tuple[str, str]], int | None, str | None]:
    """(sources, (target column, source) pairs, constant op, op source) - ``Load.initColumns``."""
    if header is None:
        names = [c.name for c in table.columns]
        if fmt == "json" and jsonpaths is None:
            # JSON without `columns`: every column by its key, and __op read from each object
            return names + [OP_COLUMN], [(n, n) for n in names], None, OP_COLUMN
        if jsonpaths is not None and len(jsonpaths) > len(names):
            raise LoadError(
                "ANALYSIS_ERROR",
                f"The number of jsonpaths ({len(jsonpaths)}) is more than the table's columns",
            )
        sources = names if jsonpaths is None else names[: len(jsonpaths)]
        _check_defaults(table, set(sources))
        return sources, [(n, n) for n in sources], 0, None
    sources, mappings = parse_columns(header)
    if jsonpaths is not None and len(jsonpaths) != len(sources):
        raise LoadError(
            "ANALYSIS_ERROR",
            f"The number of jsonpaths ({len(jsonpaths)}) does not match the columns header ({len(sources)})",
        )
    targets: dict[str, str] = {}
    op_const: int | None = 0
    op_source: str | None = None
    for name in sources:
        if name.lower() == OP_COLUMN:
            op_const, op_source = None, name
            continue
        col = table.column(name)
        if col is not None:
            targets[col.name] = name
    source_names = {s.lower(): s for s in sources}
    for m in mappings:
        if m.target.lower() == OP_COLUMN:
            literal = _string_literal(m.expr)
            if literal is not None:
                word = literal.lower()
                if word not in _OP_WORDS:
                    raise LoadError("ANALYSIS_ERROR", f"load op type string not supported: {literal}")
                op_const, op_source = _OP_WORDS[word], None
            elif m.expr.strip() in ("0", "1"):
                op_const, op_source = int(m.expr.strip()), None
            else:
                op_const, op_source = None, _mapped_source(m, source_names)
            continue
        col = table.column(m.target)
        if col is None:
            raise LoadError("ANALYSIS_ERROR", f"Mapping column is not in table. column: {m.target}")
        targets[col.name] = _mapped_source(m, source_names)
    _check_defaults(table, set(targets))
    return sources, list(targets.items()), op_const, op_source


def _check_defaults(table: TableMeta, loaded: set[str]) -> None:
    for col in table.columns:
        if col.name not in loaded and not col.nullable and col.default is None:
            raise LoadError("ANALYSIS_ERROR", f"Column has no default value. column: {col.name}")


def _mapped_source(m: _Mapping, source_names: dict[str, str]) -> str:
    name = _ident(m.expr)
    if name is None or name.lower() not in source_names:
        raise LoadError(
            "NOT_IMPLEMENTED_ERROR",
            f"the StarRocks stand-in supports only `column=source_field` and __op='upsert'|'delete' mappings "
            f"in the columns header, not: {m.target}={m.expr}",
        )
    return source_names[name.lower()]


# ---------------------------------------------------------------- executing a plan


@dataclass
class LoadBatch:
    """The rows of one body (or of a transaction's bodies) plus StarRocks' counters.

    ``parts`` keeps the rows in load order: lists of ops for :meth:`StandInStore.apply_load` from the
    exact path, and Arrow tables from the fast path (:mod:`cdc_assets.standin.fastload`: one column per
    target plus :data:`fastload.OP_FIELD`). :meth:`StandInStore.apply_parts` applies them all at once."""

    parts: list[Any] = field(default_factory=list)
    total_rows: int = 0
    filtered_rows: int = 0
    unselected_rows: int = 0
    error_lines: list[str] = field(default_factory=list)

    @classmethod
    def of_ops(cls, ops: list[tuple[int, dict[str, Any]]], **counts: int) -> LoadBatch:
        return cls(parts=[ops] if ops else [], **counts)

    @property
    def has_rows(self) -> bool:
        return any(len(p) if isinstance(p, list) else p.num_rows for p in self.parts)

    def ops(self) -> list[tuple[int, dict[str, Any]]]:
        """Every row as an (op, row) pair, in load order (fast parts turned into Python values)."""
        out: list[tuple[int, dict[str, Any]]] = []
        for part in self.parts:
            out.extend(part if isinstance(part, list) else fastload.table_ops(part))
        return out

    def add_op(self, op: int, row: dict[str, Any]) -> None:
        if not self.parts or not isinstance(self.parts[-1], list):
            self.parts.append([])
        self.parts[-1].append((op, row))

    def extend(self, other: LoadBatch) -> None:
        for part in other.parts:
            if isinstance(part, list) and self.parts and isinstance(self.parts[-1], list):
                self.parts[-1].extend(part)
            else:
                self.parts.append(part)
        self.total_rows += other.total_rows
        self.filtered_rows += other.filtered_rows
        self.unselected_rows += other.unselected_rows
        room = MAX_ERROR_LINES - len(self.error_lines)
        self.error_lines.extend(other.error_lines[: max(room, 0)])


def too_many_filtered(total: int, filtered: int, unselected: int, max_ratio: float) -> bool:
    """StarRocks: ``filtered / (total - unselected) > max_filter_ratio`` (0/0 is not too many)."""
    selected = total - unselected
    if selected <= 0:
        return False
    return filtered / selected > max_ratio


def execute_plan(
    plan: LoadPlan, body: bytes, stream: CsvStream | None = None, *, final: bool = True, fast: bool = True
) -> LoadBatch:
    """Parse ``body`` per ``plan`` and convert every row; LoadError for a failure of the whole load.

    ``stream`` carries a transaction's CSV data from one ``load`` to the next (:class:`CsvStream`): the
    body continues the previous one's unterminated record, and unless ``final`` its own unterminated last
    record waits for the next body (``final``: the data ends here, as at ``prepare``). A JSON array body
    goes through :mod:`cdc_assets.standin.fastload` first, a CSV body (continuing no open record) through
    :mod:`cdc_assets.standin.fastcsv` (unless ``fast`` is false): its rows when they are all clean, else
    the exact path below."""
    data = _decompress(plan, body) if body else b""
    if fast and plan.format == "csv" and (stream is None or not stream.tail):
        clean = fastcsv.fast_csv_rows(plan, data, final=final or stream is None)
        if clean is not None:
            return LoadBatch(parts=[clean], total_rows=clean.num_rows)
    if plan.format == "csv" and stream is not None:
        data = stream.tail + data
    if (
        fast
        and plan.format == "json"
        and plan.strip_outer_array
        and not plan.json_root
        and not plan.jsonpaths
    ):
        clean = fastload.fast_json_rows(
            plan.table, data, plan.sources, plan.targets, plan.op_const, plan.op_source
        )
        if clean is not None:
            return LoadBatch(parts=[clean], total_rows=clean.num_rows)
    # invalid UTF-8 survives as surrogates, so only the values holding it are refused (convert._utf8)
    text = data.decode("utf-8", errors="surrogateescape")
    if plan.format == "csv":
        options = CsvOptions(
            plan.column_separator,
            plan.row_delimiter,
            plan.enclose,
            plan.escape,
            plan.skip_header,
            plan.trim_space,
        )
        rows = csv_rows(text, plan.sources, options, stream, final=final)
    else:
        rows = json_rows(
            text,
            plan.sources,
            strip_outer_array=plan.strip_outer_array,
            json_root=plan.json_root,
            jsonpaths=plan.jsonpaths,
        )
    batch = LoadBatch()
    table = plan.table
    columns = {c.name: c for c in table.columns}
    key_columns = [columns[k] for k in plan.key]
    for values, raw in rows:
        batch.total_rows += 1
        try:
            if isinstance(values, str):
                raise convert.Rejected(values)
            op, row = _convert_row(plan, columns, values)
        except convert.Rejected as e:
            batch.filtered_rows += 1
            if len(batch.error_lines) < MAX_ERROR_LINES:
                shown = raw if plan.format == "csv" else json_row_text(raw)
                batch.error_lines.append(f"Error: {e}. Row: {shown}")
            continue
        if convert.key_size(key_columns, row) > convert.KEY_SIZE_LIMIT:
            raise LoadError("CANCELLED", "primary key size exceed the limit.")
        batch.add_op(op, row)
    return batch


def _decompress(plan: LoadPlan, body: bytes) -> bytes:
    kind = (plan.csv_compression or plan.payload_compression or "").lower()
    try:
        if kind in ("", "identity"):
            return body
        if kind == "gzip":
            return gzip.decompress(body)
        if kind == "bzip2":
            return bz2.decompress(body)
        if kind == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise LoadError("DATA_QUALITY_ERROR", f"Failed to decompress the {kind} body: {e}") from None
    raise LoadError(
        "NOT_IMPLEMENTED_ERROR",
        f"the StarRocks stand-in cannot decompress {kind} bodies; send them uncompressed, gzip, bzip2 or deflate",
    )


def _op_value(value: Any) -> int:
    if value is None:
        return 0  # a row without __op is an upsert (starrocks.md, unsettled point)
    if isinstance(value, bool):
        raise convert.Rejected(f"Invalid __op value '{json.dumps(value)}': expected 0 (upsert) or 1 (delete)")
    text = str(value).strip()
    if text in ("0", "1"):
        return int(text)
    raise convert.Rejected(f"Invalid __op value '{text}': expected 0 (upsert) or 1 (delete)")


def _convert_row(
    plan: LoadPlan, columns: dict[str, ColumnMeta], values: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    op = plan.op_const if plan.op_const is not None else _op_value(values.get(plan.op_source or ""))
    row: dict[str, Any] = {}
    parse = convert.from_text if plan.format == "csv" else convert.from_json
    for target, source in plan.targets:
        col = columns[target]
        raw = values.get(source)
        value = None
        if raw is not None:
            try:
                value = parse(col, raw)
            except convert.Unconvertible as e:
                if plan.strict_mode or not col.nullable:
                    raise convert.Rejected(str(e)) from None
        if value is None and not col.nullable:
            raise convert.Rejected(f"NULL value in non-nullable column '{col.name}'")
        row[target] = value
    return op, row
