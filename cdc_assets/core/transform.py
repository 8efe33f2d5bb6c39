"""Flink CDC ``transform`` rules compiled to DuckDB SQL: projection, filter and the target table's key.

A rule is parsed once when the pipeline file loads (:func:`parse_rule`: syntax, functions, aggregates;
errors name ``transform[i].projection`` or ``.filter``), and compiled per source table schema
(:func:`compile_rule`: column names, types of computed columns, the key). The compiled
:class:`TransformPlan` is plain SQL text for DuckDB; the engine evaluates it over whole Arrow batches
(``cdc_assets.engine.transform``), never row by row.

Expressions are Flink CDC's (Calcite syntax, backtick identifiers, ``||`` concatenation). Every
function is mapped explicitly (:data:`FUNCTIONS`, one row per Flink name with how it is evaluated);
a function that is not in the table is refused when the file loads, so nothing is evaluated with
other semantics than Flink's. Where DuckDB and Flink differ the rewrite says why:

- comparisons (``=``, ``<``, ``LIKE``, ``IN``, ``BETWEEN`` ...) are two-valued as in Flink: FALSE when an
  operand is NULL (DuckDB would give NULL). ``<>`` is ``NOT (a = b)``, so TRUE when an operand is NULL,
  as Flink's generated code ``!valueEquals(a, b)`` evaluates it; ``NOT LIKE``/``NOT IN``/``NOT BETWEEN``
  likewise;
- integer ``/`` integer is integer division (Java ``/`` on the boxed integers), other divisions are
  DuckDB's; a division by zero gives NULL (Flink fails the job);
- ``CONCAT`` and ``||`` give the text 'null' for a NULL argument, as Flink CDC's ``concat`` (Java's
  ``String.join``) does; ``LIKE`` finds its pattern as a regular expression anywhere in the string, as
  Flink CDC's ``like`` (``Pattern.find``) does, so a pattern with SQL's '%' is refused;
- ``TRIM`` strips every character up to U+0020 and ``CHAR_LENGTH`` counts UTF-16 units (Java strings);
- ``DATE_FORMAT``/``TO_TIMESTAMP``/``TO_DATE``/``FROM_UNIXTIME``/``UNIX_TIMESTAMP`` take Java
  ``SimpleDateFormat`` patterns, translated to strftime ones (:func:`java_to_strftime`; a letter without
  an exact equivalent is refused); TIMESTAMP (LTZ) values are shown in ``pipeline.local-time-zone``;
- ``SUBSTR``/``SUBSTRING`` are 1-based in both; the start must be a positive integer literal (Flink and
  DuckDB disagree about 0 and negative starts);
- ``TO_TIMESTAMP``/``TO_DATE``/``UNIX_TIMESTAMP(string)`` give NULL for text that does not parse;
- ``CAST`` gives NULL when a conversion is not viable (Flink CDC's ``castToXxx``), truncates toward zero
  into integer types (DuckDB would round), and reads a string as BOOLEAN TRUE only for 'true' in any
  case; ``DECIMAL`` alone is ``DECIMAL(10, 0)``. Known difference: Flink rounds a value to p significant
  digits before the scale, so ``CAST(1.2451 AS DECIMAL(3,1))`` is 1.3 there and 1.2 here;
- text made from a FLOAT/DOUBLE or a date/time by ``CAST`` or ``||`` is refused (Java prints them
  differently, e.g. ``1.0E20``): use ``DATE_FORMAT`` or ``CAST(x AS DECIMAL(p, s))`` first; so is
  ``ROUND`` of a FLOAT/DOUBLE (Flink rounds its decimal text half up);
- ``TIMESTAMPDIFF`` counts elapsed seconds to days but calendar months and years, as Flink does.

Names: a name in ``filter`` is the projection's output column of that name when there is one (so a
computed column can be filtered on, and ``\\*, UPPER(name) AS name`` filters on the upper-cased name),
else the source column; source names match case-insensitively when not exact, as MySQL's do. A named
projection column after ``*`` that repeats a source name replaces that column in place.

Metadata columns: ``__schema_name__`` is the MySQL database and ``__table_name__`` the table, as Flink
CDC's MySQL source fills its TableId (schema = database); ``__namespace_name__`` is NULL (a MySQL table id
has no namespace; Flink's documentation table says "Database", but its MySQL TableIds leave the
namespace empty). ``__data_event_type__`` is the row's event kind as Flink CDC gives it: ``+I`` for an
insert and every snapshot row, ``-U`` and ``+U`` for an update's old and new row, ``-D`` for a deleted
row; ``op_ts`` (source metadata: ``source.metadata.list: op_ts``) the binlog event's time in
milliseconds since the epoch, 0 for snapshot rows (Flink's MySQL source reads it from Debezium's
``source.ts_ms``). ``converter-after-transform: SOFT_DELETE`` writes a deleted row (its old image, with
``-D``) instead of deleting it. A rule that reads either column or converts deletes is an *event
rule* (:attr:`ParsedRule.needs_events`): the engine hands it every change of a batch, not only each
key's last row (``cdc_assets.engine.transform``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlglot import exp

from cdc_assets.core.schema import Column, TableId, TableSchema
from cdc_assets.core.transform_sql import (
    EVENT_COLUMNS,
    FUNCTIONS,
    METADATA_COLUMNS,
    METADATA_TYPES,
    SOURCE_METADATA,
    Describe,
    FunctionRule,
    Translator,
    check_functions,
    config_error,
    fix_types,
    java_to_strftime,
    parse_expressions,
)
from cdc_assets.core.types import duckdb_type

__all__ = [
    "EVENT_COLUMNS",
    "FUNCTIONS",
    "METADATA_COLUMNS",
    "METADATA_TYPES",
    "SOURCE_METADATA",
    "FunctionRule",
    "OutputColumn",
    "ParsedRule",
    "TransformPlan",
    "column_for_duckdb_type",
    "compile_rule",
    "java_to_strftime",
    "match_rule",
    "parse_rule",
    "source_key_for",
]


# ----------------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class ParsedRule:
    """A transform rule's expressions, syntax-checked: the projection items (None: every column
    unchanged) and the filter (None: every row)."""

    index: int
    selectors: tuple
    projection: tuple[exp.Expression, ...] | None
    filter: exp.Expression | None
    primary_keys: tuple[str, ...]
    partition_keys: tuple[str, ...]
    table_options: tuple[tuple[str, str], ...]
    #: ``converter-after-transform: SOFT_DELETE``: a delete writes the deleted row instead
    soft_delete: bool = False
    #: the rule reads ``__data_event_type__`` or ``op_ts``, or converts deletes: it needs each change's
    #: event kind, time and old row, not only each key's last row
    needs_events: bool = False

    def matches(self, table: TableId) -> bool:
        return any(s.matches(table) for s in self.selectors)


def parse_rule(
    index: int,
    *,
    selectors: tuple,
    projection: str | None,
    filter: str | None,
    primary_keys: Sequence[str] = (),
    partition_keys: Sequence[str] = (),
    table_options: dict[str, str] | None = None,
    converter_after_transform: str | None = None,
) -> ParsedRule:
    """Check one ``transform`` entry's expressions (ConfigError naming ``transform[index].<key>``)."""
    key = f"transform[{index}]"
    converter = (converter_after_transform or "").strip().upper()
    if converter and converter != "SOFT_DELETE":
        raise config_error(
            f"{key}.converter-after-transform",
            f"unknown converter '{converter_after_transform}'; expected SOFT_DELETE",
        )
    items: tuple[exp.Expression, ...] | None = None
    if projection is not None and projection.strip():
        # YAML needs a leading '*' escaped; Flink reads '\*' as '*' anywhere in the list
        parsed = parse_expressions(projection.replace("\\*", "*"), f"{key}.projection", select_list=True)
        for item in parsed:
            check_functions(item, f"{key}.projection")
        items = tuple(parsed)
    condition = None
    if filter is not None and filter.strip():
        condition = parse_expressions(filter, f"{key}.filter", select_list=False)[0]
        check_functions(condition, f"{key}.filter")
    names = {
        c.name
        for node in (*(items or ()), *((condition,) if condition is not None else ()))
        for c in node.find_all(exp.Column)
        if not c.table
    }
    soft_delete = converter == "SOFT_DELETE"
    return ParsedRule(
        index=index,
        selectors=tuple(selectors),
        projection=items,
        filter=condition,
        primary_keys=tuple(primary_keys),
        partition_keys=tuple(partition_keys),
        table_options=tuple((table_options or {}).items()),
        soft_delete=soft_delete,
        # a source column named op_ts makes this true too: harmless, the event path is exact for every rule
        needs_events=soft_delete or bool(names & EVENT_COLUMNS),
    )


def match_rule(rules: Sequence[ParsedRule], table: TableId) -> ParsedRule | None:
    """The first rule whose source-table matches ``table`` (Flink: the first matching rule wins)."""
    return next((r for r in rules if r.matches(table)), None)


# --------------------------------------------------------------------------------------- compiling
@dataclass(frozen=True)
class OutputColumn:
    """One target column: its DuckDB expression over the source relation, and the source column it
    copies unchanged (None for a computed column)."""

    name: str
    sql: str
    source: str | None


@dataclass(frozen=True)
class TransformPlan:
    """A rule compiled for one source schema.

    ``select_sql`` is the SELECT list over a relation with the source's columns (and the referenced
    :attr:`metadata` columns); ``keep_sql`` the filter as a two-valued boolean (None: keep every row).
    ``target`` is the target table (its ``primary_key`` the target key); a source key tuple becomes a
    target key tuple by :attr:`key_from_source` (positions in the source key).
    """

    rule_index: int
    source: TableSchema
    target: TableSchema
    columns: tuple[OutputColumn, ...]
    keep_sql: str | None
    metadata: tuple[str, ...]
    key_from_source: tuple[int, ...]
    partition_keys: tuple[str, ...]
    table_options: tuple[tuple[str, str], ...]
    #: ``converter-after-transform: SOFT_DELETE``
    soft_delete: bool = False

    @property
    def needs_events(self) -> bool:
        """Whether rows are evaluated with their event kind and time (or deletes converted)."""
        return self.soft_delete or any(m in EVENT_COLUMNS for m in self.metadata)

    @property
    def select_sql(self) -> str:
        return ", ".join(f"{c.sql} AS {_q(c.name)}" for c in self.columns)

    def target_key(self, source_key: Sequence) -> tuple:
        return tuple(source_key[i] for i in self.key_from_source)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: DuckDB type text (as DESCRIBE prints it) -> (data_type, column_type) of a MySQL column the sinks map back
_COLUMN_BY_DUCKDB: dict[str, tuple[str, str]] = {
    "BOOLEAN": ("tinyint", "tinyint(1)"),
    "TINYINT": ("tinyint", "tinyint(4)"),
    "SMALLINT": ("smallint", "smallint(6)"),
    "INTEGER": ("int", "int(11)"),
    "BIGINT": ("bigint", "bigint(20)"),
    "UTINYINT": ("tinyint", "tinyint(3) unsigned"),
    "USMALLINT": ("smallint", "smallint(5) unsigned"),
    "UINTEGER": ("int", "int(10) unsigned"),
    "UBIGINT": ("bigint", "bigint(20) unsigned"),
    "FLOAT": ("float", "float"),
    "DOUBLE": ("double", "double"),
    "VARCHAR": ("longtext", "longtext"),
    "DATE": ("date", "date"),
    "TIMESTAMP": ("datetime", "datetime(6)"),
    "TIMESTAMP_S": ("datetime", "datetime(6)"),
    "TIMESTAMP_MS": ("datetime", "datetime(6)"),
    "TIMESTAMP_NS": ("datetime", "datetime(6)"),
    "TIMESTAMP WITH TIME ZONE": ("timestamp", "timestamp(6)"),
    "BLOB": ("longblob", "longblob"),
    "JSON": ("json", "json"),
    "UUID": ("char", "char(36)"),
    '"NULL"': ("longtext", "longtext"),
    "NULL": ("longtext", "longtext"),
}
_DECIMAL_TYPE = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def column_for_duckdb_type(name: str, duckdb_type: str) -> Column:
    """The cdc_assets column a computed value of DuckDB type ``duckdb_type`` is stored as; ValueError
    for types no sink column holds (lists, structs, INTERVAL, TIME)."""
    t = duckdb_type.strip().upper()
    m = _DECIMAL_TYPE.match(t)
    if m:
        p, s = int(m.group(1)), int(m.group(2))
        return Column(name, "decimal", f"decimal({p},{s})", numeric_precision=p, numeric_scale=s)
    if t in ("HUGEINT", "UHUGEINT"):
        return Column(name, "decimal", "decimal(38,0)", numeric_precision=38, numeric_scale=0)
    found = _COLUMN_BY_DUCKDB.get(t)
    if found is None:
        raise ValueError(f"{duckdb_type} values cannot be stored by the sinks")
    data_type, column_type = found
    if data_type == "longtext":
        return Column(name, data_type, column_type, charset="utf8mb4")
    if data_type == "char":
        return Column(name, data_type, column_type, char_max_length=36, charset="ascii")
    if data_type in ("datetime", "timestamp"):
        return Column(name, data_type, column_type, datetime_precision=6)
    return Column(name, data_type, column_type)


def compile_rule(
    rule: ParsedRule,
    schema: TableSchema,
    describe: Describe,
    *,
    tinyint1_as_boolean: bool = True,
    source_metadata: Sequence[str] = (),
) -> TransformPlan:
    """Compile ``rule`` for the source table ``schema`` (ConfigError naming the rule's key).

    ``describe`` gives the DuckDB types of SQL expressions over a relation with the source's columns
    and the metadata columns (the engine answers it with DuckDB over an empty Arrow table).
    ``source_metadata`` is ``source.metadata.list``: the source metadata (``op_ts``) rules may read.
    """
    key = f"transform[{rule.index}]"
    comp = Translator(schema, f"{key}.projection", source_metadata)
    items: list[tuple[str, exp.Expression, str | None]] = []  # (name, DuckDB expression, source column)
    if rule.projection is None:
        items = [(c, exp.column(c, quoted=True), c) for c in schema.column_names]
    else:
        for node in rule.projection:
            if isinstance(node, exp.Star):
                items += [(c, exp.column(c, quoted=True), c) for c in schema.column_names]
                continue
            if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
                raise comp.err(f"{node.sql()}: write '*' alone (no table prefix)")
            alias = node.alias if isinstance(node, exp.Alias) else None
            body = node.this if isinstance(node, exp.Alias) else node
            out = comp.tr(body)
            source = None
            if (
                isinstance(body, exp.Column)
                and isinstance(out, exp.Column)
                and out.name in schema.column_names
            ):
                source = out.name
            if alias is None:
                if not isinstance(body, exp.Column):
                    raise comp.err(f"{body.sql()}: a computed column needs a name (add AS name)")
                alias = body.name if source is None else source
            items.append((alias, out, source))
    # A named column after '*' that repeats a name replaces the star's column in its place (Flink's
    # "\*, UPPER(name) AS name"); any other repeated name is an error.
    names: dict[str, int] = {}
    star_names = (
        set(schema.column_names)
        if rule.projection and any(isinstance(n, exp.Star) for n in rule.projection)
        else set()
    )
    merged: list[tuple[str, exp.Expression, str | None]] = []
    for name, out, source in items:
        if name in names:
            if name not in star_names or merged[names[name]][2] != name:
                raise comp.err(f"the output column {name!r} is named twice")
            merged[names[name]] = (name, out, source)
            star_names.discard(name)
            continue
        names[name] = len(merged)
        merged.append((name, out, source))

    keep_sql = None
    if rule.filter is not None:
        fcomp = Translator(schema, f"{key}.filter", source_metadata)
        fcomp.metadata = comp.metadata
        fcomp.aliases = {n: o for n, o, s in merged if s != n}
        keep = exp.Anonymous(this="coalesce", expressions=[fcomp.tr(rule.filter), exp.false()])
        fix_types(keep, describe, fcomp)
        keep_sql = keep.sql("duckdb")

    fixed = []
    for name, out, source in merged:
        holder = exp.Paren(this=out)  # so that a top-level division can be replaced in place
        fix_types(holder, describe, comp)
        fixed.append((name, holder.this, source))
    merged = fixed
    outs = [o.sql("duckdb") for _n, o, _s in merged]
    try:
        types = describe(outs)
    except ValueError as exc:
        raise comp.err(f"the projection cannot be evaluated over {schema.table_id}: {exc}") from None

    columns: list[OutputColumn] = []
    target_cols: list[Column] = []
    for (name, _out, source), sql, dtype in zip(merged, outs, types, strict=True):
        if source is not None:
            col = replace(schema.column(source), name=name)
            if duckdb_type(col, tinyint1_as_boolean=tinyint1_as_boolean) == "INTERVAL":
                # MySQL TIME: DuckDB hands an INTERVAL to Arrow as month_day_nano, which does not cast back
                # to the duration the sinks take; whole microseconds do (exact up to 838:59:59.999999)
                sql = f"CAST(round(epoch({sql}) * 1000000) AS BIGINT)"
            columns.append(OutputColumn(name, sql, source))
        else:
            try:
                col = column_for_duckdb_type(name, dtype)
            except ValueError as exc:
                raise comp.err(f"the computed column {name!r}: {exc}; CAST it to a supported type") from None
            cast = duckdb_type(col, tinyint1_as_boolean=tinyint1_as_boolean)
            columns.append(OutputColumn(name, f"CAST({sql} AS {cast})", None))
        target_cols.append(col)

    target_key, from_source = _keys(rule, schema, columns, key)
    for p in rule.partition_keys:
        if p not in target_key:
            raise config_error(
                f"{key}.partition-keys",
                f"{p!r} is not a primary key column of the target ({', '.join(target_key)}); StarRocks "
                "requires partition columns to be key columns: add it to primary-keys",
            )
    target = TableSchema(schema.table_id, tuple(target_cols), target_key)
    return TransformPlan(
        rule_index=rule.index,
        source=schema,
        target=target,
        columns=tuple(columns),
        keep_sql=keep_sql,
        metadata=tuple(sorted(comp.metadata)),
        key_from_source=from_source,
        partition_keys=rule.partition_keys,
        table_options=rule.table_options,
        soft_delete=rule.soft_delete,
    )


def _keys(
    rule: ParsedRule, schema: TableSchema, columns: list[OutputColumn], key: str
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The target key, and each target key column's position in the source key.

    Deletes reach the sink as source keys only, so every target key column must be a source key
    column copied unchanged (possibly renamed). A table without a source key takes the rule's
    ``primary-keys`` as its key (see :func:`source_key_for`)."""
    by_name = {c.name: c for c in columns}
    source_key = schema.primary_key
    if rule.primary_keys:
        names = []
        for k in rule.primary_keys:
            c = by_name.get(k)
            if c is None:
                raise config_error(
                    f"{key}.primary-keys", f"{k!r} is not an output column ({', '.join(by_name)})"
                )
            if c.source is None or c.source not in source_key:
                raise config_error(
                    f"{key}.primary-keys",
                    f"{k!r} must be a source key column ({', '.join(source_key) or 'none'}) copied unchanged: "
                    "deletes carry only the source key, so the target key must be made of its columns",
                )
            names.append(k)
        return tuple(names), tuple(source_key.index(by_name[k].source) for k in names)  # type: ignore[arg-type]
    out_of: dict[str, str] = {}  # source column -> its first copy
    for c in columns:
        if c.source is not None:
            out_of.setdefault(c.source, c.name)
    missing = [k for k in source_key if k not in out_of]
    if missing:
        raise config_error(
            f"{key}.projection",
            f"the source key column(s) {', '.join(missing)} of {schema.table_id} are not in the projection; "
            "add them, or name the target key with primary-keys",
        )
    return tuple(out_of[k] for k in source_key), tuple(range(len(source_key)))


def source_key_for(rule: ParsedRule | None, schema: TableSchema) -> tuple[str, ...] | None:
    """The key a source table without a primary key is read and matched by: the rule's
    ``primary-keys``, as the source columns they copy (None when the rule gives none or one is
    computed)."""
    if rule is None or not rule.primary_keys or schema.primary_key:
        return None
    copies: dict[str, str] = {}
    for node in rule.projection or [exp.Star()]:
        if isinstance(node, exp.Star):
            copies.update({c: c for c in schema.column_names if c not in copies})
            continue
        body = node.this if isinstance(node, exp.Alias) else node
        if isinstance(body, exp.Column) and not body.table:
            name = node.alias if isinstance(node, exp.Alias) else body.name
            copies[name] = body.name
    out = []
    for k in rule.primary_keys:
        src = copies.get(k)
        match = [c for c in schema.column_names if src is not None and c.lower() == src.lower()]
        if not match:
            return None
        out.append(match[0])
    return tuple(out)
