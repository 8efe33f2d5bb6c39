"""Flink CDC transform expressions -> DuckDB expressions: the syntax, the function table and the rewrites.

Used by :mod:`cdc_assets.core.transform`, which documents the semantics; every Flink function is one
row of :data:`FUNCTIONS` and one branch of :meth:`Translator.function`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import sqlglot
from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError

from cdc_assets.core.schema import TableSchema
from cdc_assets.errors import ConfigError


class _FlinkSql(Dialect):
    """Flink CDC's expression syntax as sqlglot reads it: backtick (or double-quote) identifiers, and
    every ``NAME(...)`` an anonymous function, so that each one is mapped by :data:`FUNCTIONS`."""

    class Tokenizer(tokens.Tokenizer):
        IDENTIFIERS = ["`", '"']

    class Parser(parser.Parser):
        FUNCTIONS: dict = {}


#: the metadata columns a rule may reference, and the value each has here
METADATA_COLUMNS = {
    "__namespace_name__": "NULL: a MySQL table id has no namespace",
    "__schema_name__": "the source database",
    "__table_name__": "the source table",
    "__data_event_type__": "the row's event kind: +I (insert, snapshot row), -U/+U (an update's rows), -D",
}
#: source metadata (``source.metadata.list``) a rule may reference, and its value
SOURCE_METADATA = {
    "op_ts": "when the change was made on the source, in milliseconds since the epoch (0 for snapshot rows)",
}
#: the metadata columns whose values differ from event to event (the rest are constant per table)
EVENT_COLUMNS = frozenset(("__data_event_type__", "op_ts"))
#: the DuckDB type of each metadata column
METADATA_TYPES = {name: "VARCHAR" for name in METADATA_COLUMNS} | {"op_ts": "BIGINT"}
_AGGREGATES = frozenset(
    "AVG COUNT MAX MIN SUM STDDEV STDDEV_POP STDDEV_SAMP VAR_POP VAR_SAMP VARIANCE COLLECT LISTAGG "
    "FIRST_VALUE LAST_VALUE ROW_NUMBER RANK DENSE_RANK ARRAY_AGG".split()
)
_INTEGER_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT".split()
)


@dataclass(frozen=True)
class FunctionRule:
    """One Flink CDC function: how it is evaluated here (the DuckDB form) and why, where they differ."""

    name: str
    duckdb: str
    reason: str = ""


FUNCTIONS: dict[str, FunctionRule] = {
    r.name: r
    for r in (
        FunctionRule("ABS", "abs(x)"),
        FunctionRule("CEIL", "ceil(x)"),
        FunctionRule("CEILING", "ceil(x)"),
        FunctionRule("FLOOR", "floor(x)"),
        FunctionRule(
            "ROUND",
            "round(x, n)",
            "DECIMAL and integers half up, as Flink; FLOAT/DOUBLE refused (Flink rounds their text)",
        ),
        FunctionRule("UUID", "CAST(uuid() AS VARCHAR)", "a random (version 4) UUID as text"),
        FunctionRule(
            "CHAR_LENGTH",
            "length(s) + the characters beyond U+FFFF",
            "UTF-16 units, as Java's String.length() (an emoji counts 2)",
        ),
        FunctionRule("UPPER", "upper(s)"),
        FunctionRule("LOWER", "lower(s)"),
        FunctionRule(
            "TRIM",
            "regexp_replace(s, '^[\\x00-\\x20]+|[\\x00-\\x20]+$', '', 'g')",
            "every character up to U+0020 on both sides (tabs, newlines), as Java's String.trim()",
        ),
        FunctionRule(
            "REGEXP_REPLACE",
            "regexp_replace(s, re, rep, 'g')",
            "every match replaced; the pattern and the replacement must be literals, the replacement "
            "without '$' or '\\' (group references are written differently); patterns are RE2, which "
            "has no look-around or back-references (refused when the rule is compiled)",
        ),
        FunctionRule("SUBSTR", "substring(s, start, len)", "1-based; start a positive integer literal"),
        FunctionRule("SUBSTRING", "substring(s, start, len)", "1-based; start a positive integer literal"),
        FunctionRule(
            "CONCAT",
            "coalesce(a, 'null') || coalesce(b, 'null') ...",
            "as Flink CDC's concat (Java's String.join): a NULL argument is the text 'null'; so is ||",
        ),
        FunctionRule("CONCAT_WS", "concat_ws(sep, ...)", "NULL arguments are skipped, as in Flink"),
        FunctionRule("LPAD", "lpad(s, n, pad)", "truncates to n characters, as in Flink"),
        FunctionRule("RPAD", "rpad(s, n, pad)", "truncates to n characters, as in Flink"),
        FunctionRule("REPLACE", "replace(s, from, to)"),
        FunctionRule("NOW", "now()", "the time of the batch's evaluation (Flink: of the event's processing)"),
        FunctionRule("CURRENT_TIMESTAMP", "now()", "TIMESTAMP_LTZ, as NOW()"),
        FunctionRule("LOCALTIMESTAMP", "CAST(now() AS TIMESTAMP)", "wall-clock time in local-time-zone"),
        FunctionRule("CURRENT_DATE", "CAST(now() AS DATE)", "the date in local-time-zone"),
        FunctionRule(
            "DATE_FORMAT",
            "strftime(ts, fmt)",
            "fmt a Java SimpleDateFormat literal, translated; a TIMESTAMP_LTZ is shown in local-time-zone",
        ),
        FunctionRule(
            "TIMESTAMPDIFF",
            "date_sub('unit', t1, t2)",
            "whole SECONDs, MINUTEs, HOURs, DAYs elapsed from t1 to t2 (truncated toward zero); MONTH and YEAR "
            "count calendar months/years (date_diff), as Flink CDC's timestampDiff does",
        ),
        FunctionRule("TIMESTAMP_DIFF", "date_sub('unit', t1, t2)", "the same as TIMESTAMPDIFF"),
        FunctionRule(
            "TO_TIMESTAMP",
            "try_strptime(s, fmt)",
            "default 'yyyy-MM-dd HH:mm:ss'; NULL when s does not parse",
        ),
        FunctionRule(
            "TO_DATE",
            "CAST(try_strptime(s, fmt) AS DATE)",
            "default 'yyyy-MM-dd'; NULL when s does not parse",
        ),
        FunctionRule(
            "TO_TIMESTAMP_LTZ",
            "to_timestamp(n) / epoch_ms(n)",
            "n seconds (precision 0) or milliseconds (3) since the epoch",
        ),
        FunctionRule(
            "FROM_UNIXTIME",
            "strftime(to_timestamp(n), fmt)",
            "default 'yyyy-MM-dd HH:mm:ss', in local-time-zone",
        ),
        FunctionRule(
            "UNIX_TIMESTAMP",
            "epoch(now()) / epoch(timezone(local zone, try_strptime(s, fmt)))",
            "whole seconds; a string is read in local-time-zone; NULL when it does not parse",
        ),
        FunctionRule("IF", "CASE WHEN c THEN a ELSE b END"),
        FunctionRule("IFNULL", "coalesce(a, b)"),
        FunctionRule("COALESCE", "coalesce(...)"),
        FunctionRule("NULLIF", "nullif(a, b)"),
    )
}
_TIMESTAMPDIFF_UNITS = ("SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR")

#: Java SimpleDateFormat letters (by run length) -> strftime; a letter not here is refused
_JAVA_FORMAT: dict[str, dict[int, str]] = {
    "y": {2: "%y", 4: "%Y"},
    "M": {1: "%-m", 2: "%m", 3: "%b", 4: "%B"},
    "d": {1: "%-d", 2: "%d"},
    "H": {1: "%-H", 2: "%H"},
    "h": {1: "%-I", 2: "%I"},
    "m": {1: "%-M", 2: "%M"},
    "s": {1: "%-S", 2: "%S"},
    "S": {3: "%g", 6: "%f"},
    "a": {1: "%p"},
    "E": {3: "%a", 4: "%A"},
    "D": {3: "%j"},
}


def java_to_strftime(pattern: str) -> str:
    """A Java SimpleDateFormat pattern as a DuckDB strftime/strptime format; ValueError names a letter
    (or run of letters) without an exact equivalent."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            if pattern.startswith("''", i):  # '' outside quotes: one quote
                out.append("'")
                i += 2
                continue
            literal: list[str] = []
            i += 1
            while True:
                end = pattern.find("'", i)
                if end < 0:
                    raise ValueError(f"unterminated quote in the date format {pattern!r}")
                literal.append(pattern[i:end])
                if pattern.startswith("''", end):  # '' inside quotes: one quote
                    literal.append("'")
                    i = end + 2
                    continue
                i = end + 1
                break
            out.append("".join(literal).replace("%", "%%"))
            continue
        if ch.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            run = j - i
            mapped = _JAVA_FORMAT.get(ch, {}).get(run)
            if mapped is None and ch == "y" and run not in (2,):
                mapped = "%Y"  # y, yyy, yyyyy: the full year, as SimpleDateFormat prints it
            if mapped is None:
                raise ValueError(
                    f"the date format letter(s) {pattern[i:j]!r} in {pattern!r} have no exact equivalent here; "
                    "supported: yyyy yy M MM MMM MMMM d dd H HH h hh m mm s ss SSS SSSSSS a EEE EEEE DDD"
                )
            out.append(mapped)
            i = j
            continue
        out.append("%%" if ch == "%" else ch)
        i += 1
    return "".join(out)


def config_error(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}", option=where, detail=message)


def parse_expressions(text: str, where: str, *, select_list: bool) -> list[exp.Expression]:
    sql = f"SELECT {text}" if select_list else f"SELECT 1 WHERE {text}"
    try:
        statements = sqlglot.parse(sql, read=_FlinkSql)
    except ParseError as exc:
        detail = exc.errors[0]["description"] if exc.errors else str(exc)
        raise config_error(where, f"cannot parse {text!r}: {detail}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        raise config_error(where, f"cannot parse {text!r}: expected one expression list, without ';'")
    select = statements[0]
    extra = [k for k in ("from", "group", "having", "order", "limit", "joins") if select.args.get(k)]
    if extra:
        raise config_error(where, f"{text!r} is more than an expression ({', '.join(extra)} is not allowed)")
    if select_list:
        return list(select.expressions)
    return [select.args["where"].this]


def check_functions(node: exp.Expression, where: str) -> None:
    for sub in node.walk():
        if isinstance(sub, exp.Subquery | exp.Select) and sub is not node:
            raise config_error(where, "subqueries are not allowed in a transform")
        if isinstance(sub, exp.Window):
            raise config_error(where, "window functions (OVER) are not allowed: a transform works row by row")
        if isinstance(sub, exp.Anonymous):
            name = sub.name.upper()
            if name in _AGGREGATES:
                raise config_error(
                    where, f"aggregate function {name}() is not allowed: a transform works row by row"
                )
            if name not in FUNCTIONS:
                raise config_error(
                    where,
                    f"function {name}() is not supported by cdc_assets' transforms (it cannot be evaluated "
                    f"exactly as Flink CDC does); supported: {', '.join(sorted(FUNCTIONS))}",
                )


class Translator:
    """Translates one rule's Flink expressions into DuckDB expressions over a source schema."""

    def __init__(self, schema: TableSchema, where: str, source_metadata: Collection[str] = ()) -> None:
        self.schema = schema
        self.where = where
        self.source_metadata = frozenset(source_metadata)  # the names in source.metadata.list
        self.metadata: set[str] = set()
        self.aliases: dict[str, exp.Expression] = {}  # output name -> its translated expression (filter)

    def err(self, message: str) -> ConfigError:
        return config_error(self.where, message)

    def resolve(self, name: str) -> str:
        names = self.schema.column_names
        if name in names:
            return name
        folded = [n for n in names if n.lower() == name.lower()]
        if len(folded) == 1:
            return folded[0]
        raise KeyError(name)

    def column(self, node: exp.Column) -> exp.Expression:
        if node.table:
            raise self.err(
                f"{node.sql()}: qualified column names are not allowed; write the column name only"
            )
        name = node.name
        if name in self.aliases:
            return exp.Paren(this=self.aliases[name].copy())
        try:
            return exp.column(self.resolve(name), quoted=True)
        except KeyError:
            pass
        if name in METADATA_COLUMNS or name in self.source_metadata:
            self.metadata.add(name)
            return exp.column(name, quoted=True)
        if name in SOURCE_METADATA:
            raise self.err(
                f"{name} is source metadata ({SOURCE_METADATA[name]}): list it in the source, "
                f"`metadata.list: {name}`, as Flink CDC requires"
            )
        upper = name.upper() if not node.this.quoted else ""
        if upper == "LOCALTIMESTAMP":
            return exp.Cast(this=exp.Anonymous(this="now"), to=exp.DataType.build("TIMESTAMP"))
        if upper in ("LOCALTIME", "CURRENT_TIME"):
            raise self.err(f"{upper} (a TIME value) is not supported: no sink column holds a time of day")
        close = [n for n in self.schema.column_names if n.lower().startswith(name.lower()[:3])][:3]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise self.err(
            f"unknown column {name!r}{hint}; {self.schema.table_id} has {', '.join(self.schema.column_names)}, "
            f"and the metadata columns are {', '.join(METADATA_COLUMNS)}"
        )

    def tr(self, node: exp.Expression) -> exp.Expression:
        """The DuckDB form of ``node`` (an error for anything without an exact mapping)."""
        t = self.tr
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, exp.Literal | exp.Null | exp.Boolean):
            return node.copy()
        if isinstance(node, exp.Paren):
            return exp.Paren(this=t(node.this))
        if isinstance(node, exp.Neg):
            return exp.Neg(this=t(node.this))
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod | exp.And | exp.Or | exp.DPipe):
            cls = type(node)
            return cls(this=t(node.this), expression=t(node.expression))
        if isinstance(node, exp.Div):
            return exp.Div(this=t(node.this), expression=t(node.expression))
        if isinstance(node, exp.Not):
            return exp.Not(this=t(node.this))
        if isinstance(node, exp.EQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
            cls = type(node)
            return two_valued(cls(this=t(node.this), expression=t(node.expression)))
        if isinstance(node, exp.NEQ):
            return exp.Not(this=two_valued(exp.EQ(this=t(node.this), expression=t(node.expression))))
        if isinstance(node, exp.Like):
            return self.like(node)
        if isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
                raise self.err("IN takes a list of values here, not a subquery")
            return two_valued(exp.In(this=t(node.this), expressions=[t(e) for e in node.expressions]))
        if isinstance(node, exp.Between):
            return two_valued(
                exp.Between(this=t(node.this), low=t(node.args["low"]), high=t(node.args["high"]))
            )
        if isinstance(node, exp.Is):
            target = node.expression
            if not isinstance(target, exp.Null | exp.Boolean):
                raise self.err(f"{node.sql()}: IS takes NULL, TRUE or FALSE")
            return exp.Is(this=t(node.this), expression=target.copy())
        if isinstance(node, exp.Case):
            out = exp.Case(
                this=t(node.this) if node.this else None,
                ifs=[exp.If(this=t(i.this), true=t(i.args["true"])) for i in node.args.get("ifs") or []],
            )
            if node.args.get("default") is not None:
                out.set("default", t(node.args["default"]))
            return out
        if isinstance(node, exp.If):  # IF(c, a, b) written with the keyword parser
            return exp.Case(
                ifs=[exp.If(this=t(node.this), true=t(node.args["true"]))], default=t(node.args["false"])
            )
        if isinstance(node, exp.Cast):  # also TRY_CAST (a subclass)
            return self.cast(node)
        if isinstance(node, exp.Substring):
            return self.substring(t(node.this), node.args.get("start"), node.args.get("length"))
        if isinstance(node, exp.Trim):
            if node.args.get("expression") is not None or node.args.get("position"):
                raise self.err("TRIM takes one string here: TRIM(s), which removes spaces on both sides")
            return _java_trim(t(node.this))
        if isinstance(node, exp.Ceil | exp.Floor):
            if node.args.get("decimals") is not None or node.args.get("to") is not None:
                raise self.err(f"{node.sql()}: CEIL/FLOOR take one number here")
            return exp.Anonymous(this=type(node).__name__.lower(), expressions=[t(node.this)])
        if isinstance(node, exp.CurrentTimestamp):
            return exp.Anonymous(this="now")
        if isinstance(node, exp.CurrentDate):
            return exp.Cast(this=exp.Anonymous(this="now"), to=exp.DataType.build("DATE"))
        if isinstance(node, exp.CurrentTime):
            raise self.err("CURRENT_TIME (a TIME value) is not supported: no sink column holds a time of day")
        if isinstance(node, exp.Anonymous):
            return self.function(node.name.upper(), list(node.expressions))
        raise self.err(f"{node.sql()}: this expression is not supported in a transform")

    # ---- the special forms
    def cast(self, node: exp.Cast) -> exp.Expression:
        to = node.args["to"]
        dtype = to.this
        params = [p.this.this if isinstance(p.this, exp.Literal) else p.name for p in to.expressions]
        T = exp.DataType.Type
        simple = {
            T.TEXT: "VARCHAR", T.VARCHAR: "VARCHAR", T.CHAR: "VARCHAR", T.NVARCHAR: "VARCHAR",
            T.BOOLEAN: "BOOLEAN", T.TINYINT: "TINYINT", T.SMALLINT: "SMALLINT", T.INT: "INTEGER",
            T.BIGINT: "BIGINT", T.FLOAT: "FLOAT", T.DOUBLE: "DOUBLE", T.DATE: "DATE",
            T.TIMESTAMP: "TIMESTAMP", T.DATETIME: "TIMESTAMP",
        }  # fmt: skip
        if dtype in (T.DECIMAL, T.BIGDECIMAL):
            # Flink's DECIMAL without arguments is DECIMAL(10, 0) (DuckDB's would be (18, 3))
            p, s = (int(params[0]) if params else 10), (int(params[1]) if len(params) > 1 else 0)
            if not 1 <= p <= 38 or not 0 <= s <= p:
                raise self.err(f"{node.sql()}: DECIMAL precision must be 1..38 and scale 0..precision")
            target = f"DECIMAL({p},{s})"
        elif dtype in simple:
            target = simple[dtype]
        else:
            raise self.err(f"{node.sql()}: casting to {to.sql()} is not supported in a transform")
        # Flink CDC's castToXxx functions return NULL when a conversion is not viable: CAST is TRY_CAST
        return exp.TryCast(this=self.tr(node.this), to=exp.DataType.build(target, dialect="duckdb"))

    def like(self, node: exp.Like) -> exp.Expression:
        """Flink CDC's LIKE (``SystemFunctionUtils.like``) finds the pattern as a Java regular expression
        anywhere in the string; it has no SQL wildcards. A pattern with '%' was almost surely meant as
        SQL's, so it is refused rather than matched literally."""
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise self.err("LIKE: the pattern must be a string literal")
        if "%" in pattern.this:
            raise self.err(
                f"LIKE {pattern.sql()}: in Flink CDC transforms LIKE takes a Java regular expression found "
                "anywhere in the string, not SQL wildcards, so '%' would match a literal percent sign; write "
                "the regular expression (e.g. '^abc' for SQL's 'abc%')"
            )
        found = two_valued(
            exp.Anonymous(this="regexp_matches", expressions=[self.tr(node.this), pattern.copy()])
        )
        return exp.Not(this=found) if node.args.get("negate") else found

    def substring(self, s: exp.Expression, start, length) -> exp.Expression:
        if not (
            isinstance(start, exp.Literal)
            and not start.is_string
            and start.this.isdigit()
            and int(start.this) >= 1
        ):
            raise self.err(
                "SUBSTR/SUBSTRING: the start must be a positive integer literal (Flink and DuckDB treat 0 and "
                "negative starts differently)"
            )
        args = [s, start.copy()] + ([self.tr(length)] if length is not None else [])
        return exp.Anonymous(this="substring", expressions=args)

    def fmt(self, node: exp.Expression | None, default: str, fn: str) -> exp.Literal:
        if node is None:
            pattern = default
        elif isinstance(node, exp.Literal) and node.is_string:
            pattern = node.this
        else:
            raise self.err(f"{fn}: the format must be a string literal")
        try:
            return exp.Literal.string(java_to_strftime(pattern))
        except ValueError as exc:
            raise self.err(f"{fn}: {exc}") from None

    def function(self, name: str, args: list[exp.Expression]) -> exp.Expression:
        t = self.tr

        def arity(*allowed: int) -> None:
            if len(args) not in allowed:
                raise self.err(
                    f"{name}() takes {' or '.join(map(str, allowed))} argument(s), not {len(args)}"
                )

        def call(fn: str, *a: exp.Expression) -> exp.Expression:
            return exp.Anonymous(this=fn, expressions=list(a))

        if name in ("ABS", "UPPER", "LOWER", "CEIL", "CEILING", "FLOOR"):
            arity(1)
            return call({"CEILING": "ceil"}.get(name, name.lower()), t(args[0]))
        if name == "CHAR_LENGTH":
            arity(1)
            s = t(args[0])
            astral = call(
                "regexp_replace",
                s.copy(),
                exp.Literal.string(r"[^\x{10000}-\x{10FFFF}]"),
                exp.Literal.string(""),
                exp.Literal.string("g"),
            )
            return exp.Paren(this=exp.Add(this=call("length", s), expression=call("length", astral)))
        if name == "TRIM":
            arity(1)
            return _java_trim(t(args[0]))
        if name == "ROUND":
            arity(1, 2)
            return call("round", *map(t, args))
        if name == "UUID":
            arity(0)
            return exp.Cast(this=call("uuid"), to=exp.DataType.build("VARCHAR"))
        if name == "REGEXP_REPLACE":
            arity(3)
            pattern, repl = args[1], args[2]
            if not all(isinstance(a, exp.Literal) and a.is_string for a in (pattern, repl)):
                raise self.err("REGEXP_REPLACE: the pattern and the replacement must be string literals")
            if "$" in repl.this or "\\" in repl.this:
                raise self.err(
                    "REGEXP_REPLACE: a replacement with '$' or '\\' (group references) is not supported"
                )
            return call("regexp_replace", t(args[0]), pattern.copy(), repl.copy(), exp.Literal.string("g"))
        if name in ("SUBSTR", "SUBSTRING"):
            arity(2, 3)
            return self.substring(t(args[0]), args[1], args[2] if len(args) == 3 else None)
        if name == "CONCAT":
            if not args:
                raise self.err("CONCAT() needs at least one argument")
            out = t(args[0])
            for a in args[1:]:
                out = exp.DPipe(this=out, expression=t(a), safe=True)
            return exp.Paren(this=out)
        if name == "CONCAT_WS":
            if len(args) < 2:
                raise self.err("CONCAT_WS() needs a separator and at least one string")
            return call("concat_ws", *map(t, args))
        if name in ("LPAD", "RPAD"):
            arity(3)
            return call(name.lower(), *map(t, args))
        if name == "REPLACE":
            arity(3)
            return call("replace", *map(t, args))
        if name in ("NOW", "CURRENT_TIMESTAMP"):
            arity(0)
            return call("now")
        if name == "LOCALTIMESTAMP":
            arity(0)
            return exp.Cast(this=call("now"), to=exp.DataType.build("TIMESTAMP"))
        if name == "CURRENT_DATE":
            arity(0)
            return exp.Cast(this=call("now"), to=exp.DataType.build("DATE"))
        if name == "DATE_FORMAT":
            arity(2)
            return call("strftime", t(args[0]), self.fmt(args[1], "", name))
        if name in ("TIMESTAMPDIFF", "TIMESTAMP_DIFF"):
            arity(3)
            unit = args[0]
            unit_name = unit.name.upper() if isinstance(unit, exp.Column | exp.Var) else ""
            if unit_name not in _TIMESTAMPDIFF_UNITS:
                raise self.err(f"{name}: the unit must be one of {', '.join(_TIMESTAMPDIFF_UNITS)}")
            # Flink: elapsed whole seconds/minutes/hours/days, but calendar fields for MONTH and YEAR
            # (Jan 31 -> Feb 1 is one month): DuckDB's date_sub and date_diff respectively
            fn = "date_diff" if unit_name in ("MONTH", "YEAR") else "date_sub"
            return call(fn, exp.Literal.string(unit_name.lower()), t(args[1]), t(args[2]))
        if name == "TO_TIMESTAMP":
            arity(1, 2)
            return call(
                "try_strptime",
                t(args[0]),
                self.fmt(args[1] if len(args) > 1 else None, "yyyy-MM-dd HH:mm:ss", name),
            )
        if name == "TO_DATE":
            arity(1, 2)
            parsed = call(
                "try_strptime", t(args[0]), self.fmt(args[1] if len(args) > 1 else None, "yyyy-MM-dd", name)
            )
            return exp.Cast(this=parsed, to=exp.DataType.build("DATE"))
        if name == "TO_TIMESTAMP_LTZ":
            arity(1, 2)
            precision = (
                args[1].this
                if len(args) > 1 and isinstance(args[1], exp.Literal)
                else "0"
                if len(args) == 1
                else None
            )
            if precision == "0":
                return call("to_timestamp", t(args[0]))
            if precision == "3":
                return call(
                    "timezone",
                    exp.Literal.string("UTC"),
                    call("epoch_ms", exp.Cast(this=t(args[0]), to=exp.DataType.build("BIGINT"))),
                )
            raise self.err(
                "TO_TIMESTAMP_LTZ: the precision must be the literal 0 (seconds) or 3 (milliseconds)"
            )
        if name == "FROM_UNIXTIME":
            arity(1, 2)
            return call(
                "strftime",
                call("to_timestamp", t(args[0])),
                self.fmt(args[1] if len(args) > 1 else None, "yyyy-MM-dd HH:mm:ss", name),
            )
        if name == "UNIX_TIMESTAMP":
            arity(0, 1, 2)
            if not args:
                instant = call("now")
            else:
                parsed = call(
                    "try_strptime",
                    t(args[0]),
                    self.fmt(args[1] if len(args) > 1 else None, "yyyy-MM-dd HH:mm:ss", name),
                )
                instant = call("timezone", call("current_setting", exp.Literal.string("TimeZone")), parsed)
            return exp.Cast(this=call("floor", call("epoch", instant)), to=exp.DataType.build("BIGINT"))
        if name == "IF":
            arity(3)
            return exp.Case(ifs=[exp.If(this=t(args[0]), true=t(args[1]))], default=t(args[2]))
        if name in ("IFNULL", "COALESCE"):
            if name == "IFNULL":
                arity(2)
            if not args:
                raise self.err("COALESCE() needs at least one argument")
            return call("coalesce", *map(t, args))
        if name == "NULLIF":
            arity(2)
            return call("nullif", *map(t, args))
        raise self.err(f"function {name}() is not supported")  # parse_rule refused it already


def _java_trim(s: exp.Expression) -> exp.Expression:
    """Java's ``String.trim()``: every character up to U+0020 off both ends."""
    return exp.Anonymous(
        this="regexp_replace",
        expressions=[
            s,
            exp.Literal.string(r"^[\x00-\x20]+|[\x00-\x20]+$"),
            exp.Literal.string(""),
            exp.Literal.string("g"),
        ],
    )


def two_valued(cmp: exp.Expression) -> exp.Expression:
    """``cmp`` FALSE instead of NULL when an operand is NULL (Flink's comparisons are two-valued)."""
    return exp.Anonymous(this="coalesce", expressions=[cmp, exp.false()])


#: describe(select_list) -> DuckDB type text of each item, evaluated over the source relation
Describe = Callable[[list[str]], list[str]]


_INT_TARGETS = (
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
)
_TEXT_TARGETS = (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT)


def fix_types(node: exp.Expression, describe: Describe, comp: Translator) -> None:
    """The rewrites that depend on the operands' types (Flink CDC's ``SystemFunctionUtils`` semantics):

    - integer / integer is integer division (Java's ``/``);
    - a FLOAT/DOUBLE/DECIMAL or a string cast to an integer type is truncated toward zero (Java's
      ``intValue()``; DuckDB rounds), a string through ``Integer.valueOf`` then ``Double.valueOf``;
    - a string cast to BOOLEAN is TRUE only for 'true' in any case (``Boolean.valueOf``);
    - text made from FLOAT, DOUBLE, dates or times (CAST, ``||``) and ROUND of a FLOAT/DOUBLE are
      refused: Java prints and rounds them differently (``1.0E20``; ROUND goes through the decimal text).
    """
    divs = list(node.find_all(exp.Div))
    casts = [c for c in node.find_all(exp.Cast) if c.this is not None]
    texts: list[tuple[exp.Expression, exp.Expression]] = [  # (where, the operand made text)
        (c, c.this) for c in casts if c.args["to"].this in _TEXT_TARGETS
    ]
    texts += [(p, side) for p in node.find_all(exp.DPipe) for side in (p.this, p.expression)]
    rounds = [a for a in node.find_all(exp.Anonymous) if a.name.lower() == "round" and a.expressions]
    probes = (
        [e for d in divs for e in (d.this, d.expression)]
        + [e for _w, e in texts]
        + [c.this for c in casts]
        + [r.expressions[0] for r in rounds]
    )
    if not probes:
        return
    try:
        types = iter([t.upper() for t in describe([e.sql("duckdb") for e in probes])])
    except ValueError as exc:
        raise comp.err(f"cannot be evaluated over {comp.schema.table_id}: {exc}") from None
    div_types = [(next(types), next(types)) for _d in divs]
    text_types = [next(types) for _t in texts]
    cast_types = [next(types) for _c in casts]
    round_types = [next(types) for _r in rounds]
    for (where, _e), t in zip(texts, text_types, strict=True):
        if t in ("FLOAT", "DOUBLE") or t.startswith(("TIMESTAMP", "DATE", "TIME", "INTERVAL")):
            raise comp.err(
                f"{where.sql('duckdb')}: turning a {t} into a string is not supported (Java and DuckDB print "
                "it differently); use DATE_FORMAT for dates and times, or cast numbers to DECIMAL(p, s) first"
            )
    for r, t in zip(rounds, round_types, strict=True):
        if t in ("FLOAT", "DOUBLE"):
            raise comp.err(
                f"{r.sql('duckdb')}: ROUND of a {t} is not supported (Flink rounds its decimal text half up, "
                "DuckDB the binary value): round CAST(x AS DECIMAL(p, s)) instead"
            )
    for c, t in reversed(list(zip(casts, cast_types, strict=True))):  # inner casts first
        target = c.args["to"].this
        if target in _INT_TARGETS and (t in ("FLOAT", "DOUBLE") or t.startswith("DECIMAL")):
            c.set("this", exp.Anonymous(this="trunc", expressions=[c.this]))
        elif target in _INT_TARGETS and t == "VARCHAR":
            text = c.this
            whole = exp.Anonymous(
                this="regexp_full_match", expressions=[text.copy(), exp.Literal.string(r"[+-]?[0-9]+")]
            )
            as_double = exp.TryCast(this=text.copy(), to=exp.DataType.build("DOUBLE"))
            c.replace(
                exp.Case(
                    ifs=[exp.If(this=whole, true=exp.TryCast(this=text.copy(), to=c.args["to"].copy()))],
                    default=exp.TryCast(
                        this=exp.Anonymous(this="trunc", expressions=[as_double]), to=c.args["to"].copy()
                    ),
                )
            )
        elif target == exp.DataType.Type.BOOLEAN and t == "VARCHAR":
            c.replace(
                exp.Paren(
                    this=exp.EQ(this=exp.Lower(this=c.this.copy()), expression=exp.Literal.string("true"))
                )
            )
    for p in node.find_all(exp.DPipe):
        # Flink CDC's concat is Java's String.join: a NULL operand is the text 'null'
        for key in ("this", "expression"):
            side = p.args[key]
            if not isinstance(side, exp.DPipe):
                p.set(key, exp.Anonymous(this="coalesce", expressions=[side, exp.Literal.string("null")]))
    for d, (a, b) in zip(divs, div_types, strict=True):
        if a in _INTEGER_TYPES and b in _INTEGER_TYPES:
            d.replace(exp.IntDiv(this=d.this, expression=d.expression))
