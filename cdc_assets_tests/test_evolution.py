"""evolve, plan_sink_changes (schema.change.behavior + include/exclude tags), tolerates and and the row fit to a target's columns (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from cdc_assets.config.models import SCHEMA_CHANGE_TYPES, SchemaChangeBehavior, resolve_schema_change_tags
from cdc_assets.core.evolution import (
    EvolutionError,
    SchemaChangeForbidden,
    accepts,
    evolve,
    plan_sink_changes,
    retyped_columns,
    tolerates,
    widens,
)
from cdc_assets.core.schema import Column, TableId, TableSchema, fit_to_target
from cdc_assets.core.schema_change import (
    AddColumn,
    AlterColumnComment,
    AlterColumnType,
    AlterTableCharset,
    AlterTableComment,
    ColumnPosition,
    CreateTable,
    DropColumn,
    DropTable,
    RenameColumn,
    RenameTable,
    TruncateTable,
    UnsupportedSchemaChange,
)

T = TableId("shop", "orders")
ID = Column("id", "int", "int(11)", False, numeric_precision=10, numeric_scale=0)
NAME = Column(
    "name",
    "varchar",
    "varchar(20)",
    True,
    char_max_length=20,
    charset="utf8mb4",
    collation="utf8mb4_general_ci",
)
QTY = Column("qty", "int", "int(11)", False, numeric_precision=10, numeric_scale=0)
S = TableSchema(T, (ID, NAME, QTY), ("id",), "utf8mb4", "utf8mb4_general_ci")
X = Column("x", "bigint", "bigint(20)", False, numeric_precision=19, numeric_scale=0)
DDL = "ALTER TABLE orders ..."
ALL = frozenset(SCHEMA_CHANGE_TYPES)
B = SchemaChangeBehavior


# ------------------------------------------------------------------------------------------ evolve


@pytest.mark.parametrize(
    ("change", "names", "key"),
    [
        (AddColumn(T, DDL, column=X), ("id", "name", "qty", "x"), ("id",)),
        (
            AddColumn(T, DDL, column=X, position=ColumnPosition(first=True)),
            ("x", "id", "name", "qty"),
            ("id",),
        ),
        (
            AddColumn(T, DDL, column=X, position=ColumnPosition(after="id")),
            ("id", "x", "name", "qty"),
            ("id",),
        ),
        (
            AddColumn(T, DDL, column=X, position=ColumnPosition(after="qty")),
            ("id", "name", "qty", "x"),
            ("id",),
        ),
        (DropColumn(T, DDL, name="name"), ("id", "qty"), ("id",)),
        (RenameColumn(T, DDL, old="name", new="title"), ("id", "title", "qty"), ("id",)),
        (RenameColumn(T, DDL, old="id", new="ident"), ("ident", "name", "qty"), ("ident",)),
        (
            AlterColumnType(T, DDL, name="qty", column=dataclasses.replace(X, name="qty")),
            ("id", "name", "qty"),
            ("id",),
        ),
        (
            AlterColumnType(
                T,
                DDL,
                name="qty",
                column=dataclasses.replace(X, name="qty"),
                position=ColumnPosition(first=True),
            ),
            ("qty", "id", "name"),
            ("id",),
        ),
        (
            AlterColumnType(T, DDL, name="id", column=ID, position=ColumnPosition(after="qty")),
            ("name", "qty", "id"),
            ("id",),
        ),
        (AlterColumnComment(T, DDL, name="qty", comment="c"), ("id", "name", "qty"), ("id",)),
        (AlterTableComment(T, DDL, comment="c"), ("id", "name", "qty"), ("id",)),
        (TruncateTable(T, DDL), ("id", "name", "qty"), ("id",)),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else None,
)
def test_evolve_columns(change, names, key):
    after = evolve(S, change)
    assert after is not None
    assert after.column_names == names
    assert after.primary_key == key


def test_evolve_type_change_keeps_position_and_key_not_null():
    after = evolve(
        S, AlterColumnType(T, DDL, name="id", column=dataclasses.replace(X, name="id", nullable=True))
    )
    assert after is not None and after.columns[0] == dataclasses.replace(X, name="id", nullable=False)


def test_evolve_table_level():
    assert evolve(S, DropTable(T, DDL)) is None
    renamed = evolve(S, RenameTable(T, DDL, new=TableId("shop", "archive")))
    assert (
        renamed is not None
        and renamed.table_id == TableId("shop", "archive")
        and renamed.columns == S.columns
    )
    cs = evolve(S, AlterTableCharset(T, DDL, charset="latin1", collation="latin1_bin"))
    assert cs is not None and (cs.default_charset, cs.default_collation) == ("latin1", "latin1_bin")
    new = TableSchema(TableId("shop", "n"), (ID,), ("id",))
    assert evolve(None, CreateTable(new.table_id, DDL, schema=new)) == new


@pytest.mark.parametrize(
    ("schema", "change", "message"),
    [
        (S, DropColumn(T, DDL, name="id"), "part of the primary key"),
        (S, DropColumn(T, DDL, name="nope"), "has no column 'nope'"),
        (S, AddColumn(T, DDL, column=dataclasses.replace(X, name="QTY")), "already has a column 'QTY'"),
        (S, RenameColumn(T, DDL, old="name", new="qty"), "already has a column 'qty'"),
        (S, AddColumn(T, DDL, column=X, position=ColumnPosition(after="nope")), "has no column 'nope'"),
        (S, AlterColumnComment(T, DDL, name="nope", comment=""), "has no column 'nope'"),
        (None, AddColumn(T, DDL, column=X), "no schema in force"),
        (None, CreateTable(T, DDL, like=TableId("shop", "src")), "schema of shop.src is not known"),
    ],
)
def test_evolve_errors(schema, change, message):
    with pytest.raises(EvolutionError, match=message) as e:
        evolve(schema, change)
    assert str(T) in str(e.value) and DDL in str(e.value)


# -------------------------------------------------------------------------------------- behaviours


def _nullable(c: Column) -> Column:
    return dataclasses.replace(c, nullable=True)


ADD_X = AddColumn(T, DDL, column=X, position=ColumnPosition(first=True))
DROP_QTY = DropColumn(T, DDL, name="qty")
DROP_NAME = DropColumn(T, DDL, name="name")
RENAME_QTY = RenameColumn(T, DDL, old="qty", new="amount")
RENAME_NAME = RenameColumn(T, DDL, old="name", new="title")
TYPE_QTY = AlterColumnType(T, DDL, name="qty", column=dataclasses.replace(X, name="qty"))
CREATE = CreateTable(TableId("shop", "n"), DDL, schema=TableSchema(TableId("shop", "n"), (ID,), ("id",)))
TRUNC = TruncateTable(T, DDL)
DROPT = DropTable(T, DDL)
TCOMMENT = AlterTableComment(T, DDL, comment="c")
CCOMMENT = AlterColumnComment(T, DDL, name="qty", comment="c")
RENAME_T = RenameTable(T, DDL, new=TableId("shop", "archive"))
ARCHIVE = CreateTable(
    TableId("shop", "archive"), DDL, schema=dataclasses.replace(S, table_id=TableId("shop", "archive"))
)

LENIENT_TABLE = [
    (ADD_X, [dataclasses.replace(ADD_X, column=_nullable(X))]),
    (DROP_QTY, [AlterColumnType(T, DDL, name="qty", column=_nullable(QTY))]),
    (DROP_NAME, []),  # nullable already: kept, filled with NULLs
    (RENAME_QTY, [
        AddColumn(T, DDL, column=_nullable(dataclasses.replace(QTY, name="amount"))),
        AlterColumnType(T, DDL, name="qty", column=_nullable(QTY)),
    ]),
    (RENAME_NAME, [AddColumn(T, DDL, column=dataclasses.replace(NAME, name="title"))]),
    (TYPE_QTY, [TYPE_QTY]),
    (CREATE, [CREATE]),
    (TRUNC, [TRUNC]),
    (DROPT, [DROPT]),
    (TCOMMENT, [TCOMMENT]),
    (CCOMMENT, [CCOMMENT]),
    (RENAME_T, [ARCHIVE]),  # a new target table; the old one and its rows stay
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"), LENIENT_TABLE, ids=lambda v: type(v).__name__ if not isinstance(v, list) else None
)
def test_lenient(change, expected):
    assert plan_sink_changes(change, S, B.LENIENT, ALL) == expected


EVERY = [ADD_X, DROP_QTY, RENAME_QTY, TYPE_QTY, CREATE, TRUNC, DROPT, TCOMMENT, CCOMMENT, RENAME_T]


@pytest.mark.parametrize("change", EVERY, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("behavior", [B.EVOLVE, B.TRY_EVOLVE, "evolve", "try_evolve"])
def test_evolve_and_try_evolve_pass_everything(change, behavior):
    assert plan_sink_changes(change, S, behavior, ALL) == [change]


@pytest.mark.parametrize("change", EVERY, ids=lambda c: type(c).__name__)
def test_ignore_keeps_only_create_table(change):
    expected = [CREATE] if change is CREATE else [ARCHIVE] if change is RENAME_T else []
    assert plan_sink_changes(change, S, B.IGNORE, ALL) == expected


@pytest.mark.parametrize("change", [c for c in EVERY if c is not CREATE], ids=lambda c: type(c).__name__)
def test_exception_forbids_all_but_create_table(change):
    with pytest.raises(SchemaChangeForbidden) as e:
        plan_sink_changes(change, S, B.EXCEPTION, ALL)
    msg = str(e.value)
    assert str(T) in msg and DDL in msg and change.tag in msg
    assert "pipeline.schema.change.behavior" in msg and "restart" in msg and "reads it again" in msg


def test_exception_allows_create_table_and_no_op_changes():
    assert plan_sink_changes(CREATE, None, B.EXCEPTION, ALL) == [CREATE]
    # a MODIFY that only moves a column changes nothing a sink sees
    move = AlterColumnType(T, DDL, name="qty", column=QTY, position=ColumnPosition(first=True))
    assert plan_sink_changes(move, S, B.EXCEPTION, ALL) == []
    assert (
        plan_sink_changes(
            AlterTableCharset(T, DDL, charset="latin1", collation="latin1_bin"), S, B.EXCEPTION, ALL
        )
        == []
    )


@pytest.mark.parametrize("behavior", [B.LENIENT, B.EVOLVE, B.EXCEPTION])
def test_case_only_rename_is_not_sent(behavior):
    assert plan_sink_changes(RenameColumn(T, DDL, old="qty", new="QTY"), S, behavior, ALL) == []


@pytest.mark.parametrize("behavior", [B.LENIENT, B.EVOLVE, B.EXCEPTION, B.IGNORE])
def test_rename_of_a_table_not_known_is_not_sent(behavior):
    assert plan_sink_changes(RENAME_T, None, behavior, ALL) == []


def test_lenient_needs_the_schema_before():
    with pytest.raises(EvolutionError, match="needs the schema in force"):
        plan_sink_changes(DROP_QTY, None, B.LENIENT, ALL)


def test_unknown_behavior():
    with pytest.raises(ValueError, match="unknown schema change behavior"):
        plan_sink_changes(ADD_X, S, "SOMETIMES", ALL)


# ------------------------------------------------------------------------------------- tag filtering


def _tags(*names: str) -> frozenset[str]:
    return resolve_schema_change_tags(names)


@pytest.mark.parametrize(
    ("change", "behavior", "tags", "expected"),
    [
        # the LENIENT default set (Flink): truncate and drop table are not sent
        (TRUNC, B.LENIENT, ALL - {"drop.table", "truncate.table"}, []),
        (DROPT, B.LENIENT, ALL - {"drop.table", "truncate.table"}, []),
        (TRUNC, B.EVOLVE, ALL, [TRUNC]),
        # exclude wins; families
        (ADD_X, B.EVOLVE, ALL - _tags("add"), []),
        (DROP_QTY, B.EVOLVE, ALL - _tags("drop"), []),
        (DROPT, B.EVOLVE, ALL - _tags("drop"), []),
        (RENAME_QTY, B.EVOLVE, _tags("column") - _tags("rename"), []),
        (TCOMMENT, B.EVOLVE, _tags("column"), []),
        (TCOMMENT, B.EVOLVE, _tags("table"), [TCOMMENT]),
        # the filter applies to the derived events: LENIENT's drop is a type change
        (
            DROP_QTY,
            B.LENIENT,
            ALL - _tags("drop"),
            [AlterColumnType(T, DDL, name="qty", column=_nullable(QTY))],
        ),
        (DROP_QTY, B.LENIENT, ALL - _tags("alter"), []),
        (
            RENAME_QTY,
            B.LENIENT,
            _tags("add"),
            [AddColumn(T, DDL, column=_nullable(dataclasses.replace(QTY, name="amount")))],
        ),
        # AlterColumnComment is governed by alter.column.type (or its own tag)
        (CCOMMENT, B.EVOLVE, ALL - _tags("alter"), []),
        (CCOMMENT, B.EVOLVE, _tags("alter"), [CCOMMENT]),
        (CCOMMENT, B.EVOLVE, frozenset({"alter.column.comment"}), [CCOMMENT]),
        # RenameTable: as is with create.table + drop.table (or rename.table); else the new table is created
        (RENAME_T, B.EVOLVE, _tags("create", "drop"), [RENAME_T]),
        (RENAME_T, B.EVOLVE, frozenset({"rename.table"}), [RENAME_T]),
        (RENAME_T, B.EVOLVE, _tags("create"), [ARCHIVE]),
        (RENAME_T, B.EVOLVE, _tags("add"), []),
    ],
)
def test_tag_filter(change, behavior, tags, expected):
    assert plan_sink_changes(change, S, behavior, tags) == expected


def test_lenient_config_default_excludes_truncate_and_drop_table():
    # PipelineConfig.schema_change_types under LENIENT without exclude.schema.changes
    tags = ALL - {"drop.table", "truncate.table"}
    assert not accepts(TRUNC, tags) and not accepts(DROPT, tags) and accepts(ADD_X, tags)
    assert not accepts(AlterTableCharset(T, DDL, charset="a", collation="b"), ALL)


def test_tolerates_only_unsupported_under_try_evolve():
    assert tolerates(B.TRY_EVOLVE, UnsupportedSchemaChange("no"))
    assert not tolerates(B.TRY_EVOLVE, RuntimeError("no"))
    assert not tolerates(B.EVOLVE, UnsupportedSchemaChange("no"))
    assert not tolerates(B.LENIENT, UnsupportedSchemaChange("no"))


# ------------------------------------------------------------------------------------- fit_to_target


def test_fit_to_target_writes_the_columns_the_target_has():
    source = TableSchema(T, (ID, NAME, QTY), ("id",))
    assert fit_to_target(source, ("id", "name", "qty", "gone")) == (
        source,
        None,
    )  # extra target columns: NULL
    schema, keep = fit_to_target(source, ("id", "qty"))  # an added column the target does not have
    assert schema.column_names == ("id", "qty") and keep == (0, 2) and schema.primary_key == ("id",)
    with pytest.raises(ValueError, match="no column 'id' of its primary key"):
        fit_to_target(source, ("name",))


def _col(name: str, data_type: str, column_type: str, **kw) -> Column:
    return Column(name, data_type, column_type, **kw)


def _vc(n: int, kind: str = "varchar") -> Column:
    return _col("c", kind, f"{kind}({n})", char_max_length=n)


def _dec(p: int, s: int, unsigned: bool = False) -> Column:
    return _col(
        "c",
        "decimal",
        f"decimal({p},{s})" + (" unsigned" if unsigned else ""),
        numeric_precision=p,
        numeric_scale=s,
    )


def _int(kind: str, unsigned: bool = False) -> Column:
    return _col("c", kind, kind + (" unsigned" if unsigned else ""))


@pytest.mark.parametrize(
    ("old", "new", "wider"),
    [
        (_vc(10), _vc(100), True),
        (_vc(100), _vc(10), False),  # shorter: rows written before may not fit
        (_vc(10, "char"), _vc(20), True),
        (_vc(10), _col("c", "text", "text"), True),
        (_col("c", "text", "text"), _vc(100), False),
        (_col("c", "text", "text"), _col("c", "mediumtext", "mediumtext"), True),
        (_vc(10, "varbinary"), _vc(20, "varbinary"), True),
        (_vc(10, "varbinary"), _vc(20), False),  # bytes to text is not a widening
        (_int("int"), _int("bigint"), True),
        (_int("bigint"), _int("int"), False),
        (_int("tinyint"), _int("smallint"), True),
        (_int("int", unsigned=True), _int("int"), False),  # 4294967295 does not fit a signed INT
        (_int("int", unsigned=True), _int("bigint"), True),
        (_int("int"), _int("bigint", unsigned=True), False),  # negatives
        (_int("int"), _int("int"), False),  # the same type: nothing to widen
        (_dec(5, 2), _dec(12, 2), True),
        (_dec(5, 2), _dec(7, 4), True),
        (_dec(5, 2), _dec(5, 3), False),  # one more decimal, one integer digit fewer
        (_dec(12, 2), _dec(5, 2), False),
        (_dec(5, 2), _dec(8, 2, unsigned=True), False),
        (_col("c", "float", "float"), _col("c", "double", "double"), True),
        (_col("c", "double", "double"), _col("c", "float", "float"), False),
        (_int("int"), _vc(20), False),  # another type: the stream changes it, the chunk is read again
        (_col("c", "date", "date"), _col("c", "datetime", "datetime"), False),
    ],
)
def test_widens(old, new, wider):
    assert widens(old, new) is wider


def test_retyped_columns_are_matched_by_name_among_the_targets_columns():
    before = TableSchema(
        T, (ID, _col("Qty", "int", "int(11)"), _vc(10), _col("d", "int", "int(11)")), ("id",)
    )
    now = TableSchema(
        T, (ID, _col("qty", "bigint", "bigint(20)"), _vc(50), _col("d", "int", "int(11)")), ("id",)
    )
    got = retyped_columns(before, now, ("id", "Qty", "c", "d"))
    assert [(o.column_type, n.column_type) for o, n in got] == [
        ("int(11)", "bigint(20)"),
        ("varchar(10)", "varchar(50)"),
    ]
    # c is not among the target's columns (an ignored change left it out): nothing to change there
    assert retyped_columns(before, now, ("id", "Qty", "d")) == [(before.columns[1], now.columns[1])]
