"""Stream Load bodies -> records of source values: the CSV reader and the JSON reader.

CSV follows StarRocks' reader options (``column_separator``, ``row_delimiter``, ``enclose``, ``escape``,
``skip_header``, ``trim_space``; an unenclosed ``\\N`` is NULL). JSON follows the BE JSON scanner:
one or more documents, ``strip_outer_array``, ``json_root`` and ``jsonpaths`` (``$.a.b``, ``$.a[0]``,
``$['a']``), with its messages for an array or object in the wrong place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class LoadError(Exception):
    """The whole load fails. ``code`` is the BE ``TStatusCode`` name; ``message`` is StarRocks' wording."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CsvOptions:
    column_separator: str = "\t"
    row_delimiter: str = "\n"
    enclose: str | None = None
    escape: str | None = None
    skip_header: int = 0
    trim_space: bool = False


@dataclass
class CsvStream:
    """A transaction's CSV data across its ``load`` calls.

    The BE feeds the body of every ``/api/transaction/load`` of a transaction into one stream pipe, read
    by one CSV scanner (``transaction_stream_load.cpp``: the pipe is made by the first load, later loads
    only append to it). So a record is complete only at a row delimiter: a body whose last record lacks
    it is continued by the next body, and the end of the data (``prepare``/``commit``) ends the record.
    That is why StarRocks' docs ask that every CSV record end with the row delimiter.
    """

    tail: bytes = b""  # the unterminated last record so far (bytes: it may end inside a UTF-8 character)
    skipped: int = 0  # header lines skipped so far (skip_header counts from the start of the stream)


# ---------------------------------------------------------------- CSV


def csv_rows(
    text: str,
    sources: Sequence[str],
    options: CsvOptions,
    stream: CsvStream | None = None,
    *,
    final: bool = True,
) -> Iterator[tuple[dict[str, str | None] | str, str]]:
    """(source field -> text, raw record) per record, or (error message, raw record) for a bad one.

    With ``stream``, ``text`` is the next piece of a longer stream (starting with the previous
    ``stream.tail``) and ``skip_header`` counts the lines skipped in earlier pieces; unless ``final``, an
    unterminated last record is not yielded but kept in ``stream.tail``. Otherwise ``text`` is all the
    data, and its last record ends at its end.
    """
    expected = len(sources)
    skipped = stream.skipped if stream is not None else 0
    if stream is not None:
        stream.tail = b""
    for fields, raw, terminated in split_csv(
        text,
        options.column_separator,
        options.row_delimiter,
        options.enclose,
        options.escape,
        options.trim_space,
    ):
        if not terminated and not final and stream is not None:
            stream.tail = raw.encode("utf-8", "surrogateescape")
            break
        if skipped < options.skip_header:
            skipped += 1
            continue
        if len(fields) != expected:
            yield f"Value count does not match column count. Expect {expected}, but got {len(fields)}", raw
            continue
        yield dict(zip(sources, fields, strict=True)), raw
    if stream is not None:
        stream.skipped = skipped


def split_csv(
    text: str, sep: str, delim: str, enclose: str | None, escape: str | None, trim: bool
) -> Iterator[tuple[list[str | None], str, bool]]:
    """Records of ``text`` as (fields, raw record, ended by ``delim``). An unenclosed ``\\N`` field is
    None (NULL).

    ``enclose`` starts and ends a field that may hold separators and delimiters (a doubled enclose char
    inside stands for itself); ``escape`` makes the next character literal. Empty records are skipped.
    Only the last record can be unterminated: it runs to the end of ``text``.
    """
    specials = sorted({s for s in (sep, delim, enclose, escape) if s}, key=len, reverse=True)
    token = re.compile("|".join(re.escape(s) for s in specials))
    quoted_token = re.compile("|".join(re.escape(s) for s in (enclose, escape) if s)) if enclose else None
    n = len(text)
    i = 0
    record_start = 0
    fields: list[str | None] = []
    parts: list[str] = []
    field_start = 0
    enclosed = False

    def finish_field(end: int) -> None:
        nonlocal parts, enclosed, field_start
        raw = text[field_start:end]
        value = "".join(parts)
        if trim and not enclosed:
            value = value.strip(" \t")
            raw = raw.strip(" \t")
        fields.append(None if not enclosed and raw == "\\N" else value)
        parts, enclosed = [], False

    while i < n:
        m = token.search(text, i)
        if m is None:
            parts.append(text[i:])
            i = n
            break
        j, tok = m.start(), m.group()
        parts.append(text[i:j])
        i = m.end()
        if tok == escape:
            parts.append(text[i : i + 1])
            i += 1
        elif tok == enclose and not "".join(parts).strip(" \t" if trim else ""):
            parts, enclosed = [], True
            i = _read_enclosed(text, i, enclose, escape, quoted_token, parts)  # type: ignore[arg-type]
        elif tok == enclose:
            parts.append(tok)
        elif tok == sep:
            finish_field(j)
            field_start = i
        else:  # the row delimiter
            finish_field(j)
            if text[record_start:j]:
                yield fields, text[record_start:j], True
            fields = []
            record_start = field_start = i
    if record_start < n:
        finish_field(n)
        yield fields, text[record_start:n], False


def _read_enclosed(
    text: str, i: int, enclose: str, escape: str | None, token: re.Pattern, parts: list[str]
) -> int:
    """Read an enclosed field body from ``i``; returns the index after the closing enclose char."""
    n = len(text)
    while i < n:
        m = token.search(text, i)
        if m is None:
            parts.append(text[i:])
            return n
        j, tok = m.start(), m.group()
        parts.append(text[i:j])
        if tok == escape and escape != enclose:
            parts.append(text[j + 1 : j + 2])
            i = j + 2
        elif text[j + 1 : j + 2] == enclose:  # a doubled enclose char stands for itself
            parts.append(enclose)
            i = j + 2
        else:
            return j + 1
    return n


# ---------------------------------------------------------------- JSON


def path_steps(path: str) -> list[str | int]:
    """``$.a.b[0]`` / ``$['a']`` -> steps; LoadError for anything else."""
    steps: list[str | int] = []
    rest = path[1:]
    pattern = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")
    while rest:
        m = pattern.match(rest)
        if m is None:
            raise LoadError("INVALID_ARGUMENT", f"Invalid json path: {path}")
        if m.group(2) is not None:
            steps.append(int(m.group(2)))
        else:
            steps.append(next(g for g in (m.group(1), m.group(3), m.group(4)) if g is not None))
        rest = rest[m.end() :]
    return steps


_MISSING = object()


def _follow(doc: Any, steps: list[str | int]) -> Any:
    for step in steps:
        if isinstance(step, int) and isinstance(doc, list) and step < len(doc):
            doc = doc[step]
        elif isinstance(step, str) and isinstance(doc, dict) and step in doc:
            doc = doc[step]
        else:
            return _MISSING
    return doc


def _documents(text: str) -> Iterator[Any]:
    decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_bad_constant)
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            return
        try:
            doc, i = decoder.raw_decode(text, i)
        except ValueError as e:
            raise LoadError("DATA_QUALITY_ERROR", f"Failed to parse json: {e}") from None
        yield doc


def _bad_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_rows(
    text: str,
    sources: Sequence[str],
    *,
    strip_outer_array: bool,
    json_root: str | None,
    jsonpaths: Sequence[str] | None,
) -> Iterator[tuple[dict[str, Any] | str, Any]]:
    """(source field -> JSON value, the row) per row, or (error message, row)."""
    root = path_steps(json_root) if json_root else None
    paths = [path_steps(p) for p in jsonpaths] if jsonpaths is not None else None
    for doc in _documents(text):
        if root is not None:
            doc = _follow(doc, root)
            if doc is _MISSING:
                raise LoadError("DATA_QUALITY_ERROR", "Root is not valid")
        if strip_outer_array:
            if not isinstance(doc, list):
                raise LoadError(
                    "DATA_QUALITY_ERROR", "JSON data is an object, strip_outer_array must be set false"
                )
            items = doc
        else:
            if isinstance(doc, list):
                raise LoadError(
                    "DATA_QUALITY_ERROR", "JSON data is an array, strip_outer_array must be set true"
                )
            items = [doc]
        for item in items:  # the item itself is the "raw row"; it is printed only if the row is rejected
            if not isinstance(item, dict):
                yield "JSON row is not an object", item
                continue
            yield _json_values(sources, item, paths), item


def json_row_text(item: Any) -> str:
    """A JSON row as the error log shows it: compact JSON."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str)


def _json_values(
    sources: Sequence[str], item: dict[str, Any], paths: list[list[str | int]] | None
) -> dict[str, Any]:
    if paths is not None:
        out = {}
        for source, steps in zip(sources, paths, strict=True):
            value = _follow(item, steps)
            out[source] = None if value is _MISSING else value
        return out
    lowered: dict[str, str] | None = None
    out = {}
    for source in sources:
        if source in item:
            out[source] = item[source]
            continue
        if lowered is None:
            lowered = {k.lower(): k for k in item}
        key = lowered.get(source.lower())
        out[source] = item[key] if key is not None else None
    return out
