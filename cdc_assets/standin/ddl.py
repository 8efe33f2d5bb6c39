"""CREATE TABLE analysis and the statements that print a table: SHOW CREATE TABLE and DESC.

The checks and their messages follow StarRocks 3.x ``CreateTableAnalyzer`` and ``HashDistributionDesc``
(docs: "CREATE TABLE", "Primary Key table"). Only Primary Key tables exist in the stand-in; DUPLICATE,
UNIQUE and AGGREGATE KEY tables, partitions other than column expression partitioning
(``PARTITION BY (col, ...)``, StarRocks 3.1+) and AUTO_INCREMENT are refused with a message saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from cdc_assets.core.sql import quote_ident
from cdc_assets.standin.catalog import KEY_TYPES, AnalysisError, ColumnMeta, SrType, TableMeta

#: the stand-in is one FE with one BE
BACKEND_IDS = (10001,)
#: what SHOW CREATE TABLE prints besides the user's properties (StarRocks 3.x defaults)
DEFAULT_PROPERTIES = {"compression": "LZ4", "fast_schema_evolution": "true", "replicated_storage": "true"}


class SqlError(AnalysisError):
    """An error with an explicit MySQL error code (AnalysisError defaults to 1064)."""

    def __init__(self, message: str, code: int = 1064) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ParsedColumn:
    column: ColumnMeta
    explicit_null: bool  # written as NULL (as opposed to nothing)
    explicit_not_null: bool


def _literal_text(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, (exp.CurrentTimestamp, exp.CurrentDatetime)) or (
        isinstance(node, exp.Anonymous) and node.name.upper() == "NOW"
    ):
        return "CURRENT_TIMESTAMP"
    if isinstance(node, exp.Literal):
        return node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return "-" + node.this.this
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    raise AnalysisError(f"the stand-in supports only constant DEFAULT values, not {node.sql('starrocks')}")


def parse_column(cd: exp.ColumnDef) -> ParsedColumn:
    """A column definition as written in CREATE TABLE or ALTER TABLE ADD/MODIFY COLUMN."""
    kind = cd.args.get("kind")
    if kind is None:
        raise AnalysisError(f"column '{cd.name}' has no type")
    text = kind.sql("starrocks")
    try:
        sr_type = SrType.parse(text)
    except AnalysisError:
        raise AnalysisError(
            f"the stand-in does not support the column type {text} (column '{cd.name}')"
        ) from None
    sr_type.check()
    nullable, explicit_null, explicit_not_null = True, False, False
    default: str | None = None
    comment = ""
    for constraint in cd.args.get("constraints") or []:
        c = constraint.args.get("kind")
        if isinstance(c, exp.NotNullColumnConstraint):
            if c.args.get("allow_null"):
                explicit_null = True
            else:
                nullable, explicit_not_null = False, True
        elif isinstance(c, exp.DefaultColumnConstraint):
            default = _literal_text(c.this)
        elif isinstance(c, exp.CommentColumnConstraint):
            comment = c.this.this if isinstance(c.this, exp.Literal) else c.this.sql()
        elif isinstance(c, exp.AutoIncrementColumnConstraint):
            raise AnalysisError(f"the stand-in does not support AUTO_INCREMENT columns (column '{cd.name}')")
        else:
            raise AnalysisError(
                f"the stand-in does not support the column attribute {constraint.sql('starrocks')}"
            )
    if default is not None and default.upper() == "CURRENT_TIMESTAMP" and sr_type.name != "DATETIME":
        raise AnalysisError(
            f"Invalid default value for '{cd.name}': CURRENT_TIMESTAMP needs a DATETIME column"
        )
    col = ColumnMeta(cd.name, sr_type, nullable, False, default, comment)
    return ParsedColumn(col, explicit_null, explicit_not_null)


def _names(node: exp.Expression) -> list[str]:
    return [n.name for n in node.find_all(exp.Column, exp.Identifier) if not isinstance(n.parent, exp.Column)]


def analyze_create_table(
    expr: exp.Create, db: str, *, default_replication_num: int
) -> tuple[TableMeta, bool]:
    """The TableMeta a CREATE TABLE statement defines, and whether IF NOT EXISTS was given."""
    schema = expr.this
    if not isinstance(schema, exp.Schema):
        raise AnalysisError("the stand-in does not support CREATE TABLE ... AS SELECT or LIKE")
    if schema.this.args.get("catalog") is not None:
        raise AnalysisError("the stand-in has only the default catalog")
    name = schema.this.name
    parsed: list[ParsedColumn] = []
    key: list[str] | None = None
    partition_by: list[str] = []
    table_comment = ""
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            parsed.append(parse_column(item))
        elif isinstance(item, exp.PrimaryKey):
            key = [e.name for e in item.expressions]
            # sqlglot attaches a PARTITION BY written after PRIMARY KEY(...) to the key
            include = item.args.get("include")
            for part in (include.args.get("partition_by") or []) if include is not None else []:
                partition_by += _partition_columns(part)
            # sqlglot attaches a table COMMENT written right after PRIMARY KEY(...) to the key
            for option in item.args.get("options") or []:
                if option.args.get("comment") is not None:
                    table_comment = option.args["comment"].name
        else:
            raise AnalysisError(f"the stand-in does not support {item.sql('starrocks')} in CREATE TABLE")
    seen: set[str] = set()
    for p in parsed:
        if p.column.name.lower() in seen:
            raise SqlError(f"Duplicate column name '{p.column.name}'", 1060)
        seen.add(p.column.name.lower())

    distributed: list[str] | None = None
    buckets: int | None = None
    order_by: list[str] = []
    properties: dict[str, str] = {}
    comment = table_comment
    for prop in (expr.args.get("properties") or exp.Properties(expressions=[])).expressions:
        if isinstance(prop, exp.DistributedByProperty):
            if (prop.text("kind") or "HASH").upper() != "HASH":
                raise AnalysisError("PRIMARY_KEYS must use hash distribution")
            distributed = [e.name for e in prop.expressions]
            if prop.args.get("buckets") is not None:
                text = prop.args["buckets"].name
                if text.upper() != "AUTO":
                    buckets = int(text)
            if prop.args.get("order") is not None:
                order_by = _names(prop.args["order"])
        elif isinstance(prop, exp.Order):
            order_by = _names(prop)
        elif isinstance(prop, exp.PartitionedByProperty):  # PARTITION BY after a table COMMENT
            partition_by += _partition_columns(prop.this)
        elif type(prop) is exp.Property:  # the specific properties below are subclasses of Property
            properties[prop.name] = prop.args["value"].name
        elif isinstance(prop, exp.SchemaCommentProperty):
            comment = prop.this.name
        elif isinstance(prop, exp.EngineProperty):
            if prop.this.name.upper() != "OLAP":
                raise AnalysisError(f"the stand-in supports only ENGINE=OLAP tables, not {prop.this.name}")
        elif isinstance(prop, (exp.DuplicateKeyProperty, exp.UniqueKeyProperty, exp.AggregateKeyProperty)):
            kind = prop.key.replace("keyproperty", "").upper()
            raise AnalysisError(
                f"the stand-in supports only Primary Key tables; {kind} KEY tables are not supported "
                "(use PRIMARY KEY(...))"
            )
        else:
            raise AnalysisError(f"the stand-in does not support {prop.sql('starrocks')} in CREATE TABLE")
    if key is None:
        raise AnalysisError(
            "the stand-in supports only Primary Key tables; add PRIMARY KEY(...) (a table without a key "
            "clause would be a DUPLICATE KEY table in StarRocks)"
        )
    cols = [p.column for p in parsed]
    _check_keys(parsed, key)
    distributed = key[:] if distributed is None else distributed
    _check_distribution(cols, key, distributed, buckets)
    _check_sort_keys(cols, order_by)
    _check_partition(cols, key, partition_by)
    _check_replication(name, properties, default_replication_num)
    meta = TableMeta(
        db=db,
        name=name,
        columns=cols,
        key=[cols[i].name for i in range(len(key))],
        distributed_by=[next(c.name for c in cols if c.name.lower() == d.lower()) for d in distributed],
        buckets=buckets,
        properties=properties,
        order_by=[next(c.name for c in cols if c.name.lower() == o.lower()) for o in order_by],
        comment=comment,
        partition_by=[next(c.name for c in cols if c.name.lower() == p.lower()) for p in partition_by],
    )
    return meta, bool(expr.args.get("exists"))


def _partition_columns(node: exp.Expression) -> list[str]:
    """Column expression partitioning, ``PARTITION BY (a, b)`` or ``PARTITION BY a, b`` (StarRocks 3.1+);
    time function expressions and RANGE/LIST partitions are not supported by the stand-in."""
    inner = node.this if isinstance(node, exp.Paren) else node
    items = inner.expressions if isinstance(inner, exp.Tuple | exp.Schema) else [inner]
    if not all(isinstance(i, exp.Column) and not i.table for i in items):
        raise AnalysisError(
            f"the stand-in supports only column expression partitioning (PARTITION BY (col, ...)), not "
            f"{node.sql('starrocks')}"
        )
    return [i.name for i in items]


def _check_partition(cols: list[ColumnMeta], key: list[str], partition_by: list[str]) -> None:
    keys = {k.lower() for k in key}
    names = {c.name.lower() for c in cols}
    seen: set[str] = set()
    for p in partition_by:
        if p.lower() not in names:
            raise AnalysisError(f"Partition column({p}) doesn't exist.")
        if p.lower() in seen:
            raise AnalysisError(f"Duplicated partition column {p}")
        seen.add(p.lower())
        if p.lower() not in keys:
            raise AnalysisError(
                "The partition column could not be aggregated column and unique table's partition column "
                "must be key column."
            )


def _check_keys(parsed: list[ParsedColumn], key: list[str]) -> None:
    if not key:
        raise AnalysisError("The number of key columns is 0.")
    if len(key) > len(parsed):
        raise AnalysisError("The number of key columns should be less than the number of columns.")
    for i, key_name in enumerate(key):
        col = parsed[i].column
        if key_name.lower() != col.name.lower():
            if all(p.column.name.lower() != key_name.lower() for p in parsed):
                raise AnalysisError(f"Key column({key_name}) doesn't exist.")
            # the double space is in StarRocks' message
            raise AnalysisError(
                "Key columns must be the first few columns of the schema and the order  of the key columns "
                "must be consistent with the order of the schema"
            )
        if parsed[i].explicit_null:
            raise AnalysisError(f"primary key column[{col.name}] cannot be nullable")
        col.nullable = False
        col.is_key = True
        if col.type.name not in KEY_TYPES:
            raise AnalysisError(f"primary key column[{col.name}] type not supported: {col.type.to_sql()}")


def _check_distribution(cols: list[ColumnMeta], key: list[str], dist: list[str], buckets: int | None) -> None:
    if buckets is not None and buckets <= 0:
        raise AnalysisError("Number of hash distribution should be larger than zero.")
    if not dist:
        raise AnalysisError("Number of hash column should be larger than zero.")
    names = {c.name.lower() for c in cols}
    keys = {k.lower() for k in key}
    seen: set[str] = set()
    for d in dist:
        if d.lower() not in names:
            raise AnalysisError(f"Distribution column({d}) doesn't exist.")
        if d.lower() in seen:
            raise AnalysisError(f"Duplicated distribution column {d}")
        seen.add(d.lower())
        if d.lower() not in keys:
            raise AnalysisError(f"Distribution column[{d}] is not key column")


def _check_sort_keys(cols: list[ColumnMeta], order_by: list[str]) -> None:
    for name in order_by:
        col = next((c for c in cols if c.name.lower() == name.lower()), None)
        if col is None:
            raise AnalysisError(f"Unknown column '{name}' does not exist")
        if col.type.name not in KEY_TYPES:
            raise AnalysisError(f"sort key column[{col.name}] type not supported: {col.type.to_sql()}")


def _check_replication(table: str, properties: dict[str, str], default: int) -> None:
    raw = properties.get("replication_num")
    try:
        num = default if raw is None else int(raw)
    except ValueError:
        raise AnalysisError(f"Invalid replication_num: {raw}") from None
    if num <= 0:
        raise AnalysisError("Replication num should larger than 0. (suggested 3)")
    if num > len(BACKEND_IDS):
        raise SqlError(
            "Table replication num should be less than or equal to the number of available BE nodes. "
            "You can change this default by setting the replication_num table properties. "
            f"Current alive backend is [{','.join(map(str, BACKEND_IDS))}]. , table={table}, "
            f"default_replication_num={default}"
        )


# ---------------------------------------------------------------------------- printing a table
def type_label(t: SrType) -> str:
    """The type as StarRocks 3.x DESC prints it, lower case: bigint, varchar(40), decimal(10,2)."""
    if t.name == "DECIMAL":
        return f"decimal({t.precision},{t.scale})"
    if t.name in ("CHAR", "VARCHAR") or (t.name == "VARBINARY" and t.length is not None):
        return f"{t.name.lower()}({t.length})"
    return t.name.lower()


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def effective_properties(meta: TableMeta, default_replication_num: int) -> dict[str, str]:
    props = {**DEFAULT_PROPERTIES, "replication_num": str(default_replication_num), **meta.properties}
    return dict(sorted(props.items()))


def show_create_table(meta: TableMeta, default_replication_num: int) -> str:
    """SHOW CREATE TABLE text in StarRocks' layout (column types in ``toSql`` form)."""
    lines = []
    for c in meta.columns:
        parts = [quote_ident(c.name, "starrocks"), c.type.to_sql(), "NULL" if c.nullable else "NOT NULL"]
        if c.default is not None:
            parts.append(
                "DEFAULT CURRENT_TIMESTAMP"
                if c.default == "CURRENT_TIMESTAMP"
                else f"DEFAULT {_q(c.default)}"
            )
        parts.append(f"COMMENT {_q(c.comment)}")
        lines.append("  " + " ".join(parts))
    keys = ", ".join(quote_ident(k, "starrocks") for k in meta.key)
    dist = ", ".join(quote_ident(k, "starrocks") for k in meta.distributed_by)
    out = [
        f"CREATE TABLE {quote_ident(meta.name, 'starrocks')} (",
        ",\n".join(lines),
        ") ENGINE=OLAP ",
        f"PRIMARY KEY({keys})",
    ]
    if meta.partition_by:
        out.append("PARTITION BY (" + ", ".join(quote_ident(p, "starrocks") for p in meta.partition_by) + ")")
    out.append(f"COMMENT {_q(meta.comment or 'OLAP')}")
    out.append(f"DISTRIBUTED BY HASH({dist})" + (f" BUCKETS {meta.buckets} " if meta.buckets else ""))
    if meta.order_by:
        out.append("ORDER BY(" + ", ".join(quote_ident(k, "starrocks") for k in meta.order_by) + ")")
    props = effective_properties(meta, default_replication_num)
    out.append("PROPERTIES (\n" + ",\n".join(f"{_q(k)} = {_q(v)}" for k, v in props.items()) + "\n);")
    return "\n".join(out)


DESC_COLUMNS = ["Field", "Type", "Null", "Key", "Default", "Extra"]
DESC_ALL_COLUMNS = ["IndexName", "IndexKeysType", *DESC_COLUMNS]


def describe_rows(meta: TableMeta, *, all_: bool) -> tuple[list[tuple], list[str]]:
    """DESC t [ALL]: one row per column (Key is true/false, Null YES/NO)."""
    rows = []
    for i, c in enumerate(meta.columns):
        row = (
            c.name,
            type_label(c.type),
            "YES" if c.nullable else "NO",
            str(c.is_key).lower(),
            c.default,
            "",
        )
        if all_:
            first = i == 0
            row = (meta.name if first else "", meta.keys_type if first else "", *row)
        rows.append(row)
    return rows, DESC_ALL_COLUMNS if all_ else DESC_COLUMNS
