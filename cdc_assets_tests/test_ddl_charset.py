"""Databases' default character sets followed through the binlog (core.ddl_charset): a table created in a
database that was created while the pipeline streams gets its columns' character set from that database,
as the server gave them."""

from __future__ import annotations

import pytest

from cdc_assets.config import load_pipeline
from cdc_assets.core.charsets import ServerDefaults
from cdc_assets.core.ddl_charset import database_defaults
from cdc_assets.core.sql import quote_ident, quote_table
from cdc_assets.engine.context import RunContext
from cdc_assets.engine.streaming import stream
from cdc_assets_tests.pipelines import secrets_env
from cdc_assets_tests.test_schema_evolution import _changes, _pipeline, _sync, _target_rows

GENERAL = ("utf8mb4", "utf8mb4_general_ci")
DEFAULTS = ServerDefaults(databases={"a": GENERAL}, server_charset=("latin1", "latin1_swedish_ci"))


@pytest.mark.parametrize(
    ("sql", "databases"),
    [
        ("CREATE DATABASE x", {"a": GENERAL, "x": ("latin1", "latin1_swedish_ci")}),
        (
            "CREATE DATABASE IF NOT EXISTS `y` CHARACTER SET utf8",
            {"a": GENERAL, "y": ("utf8mb3", "utf8mb3_general_ci")},
        ),
        ("CREATE SCHEMA z DEFAULT COLLATE utf8mb4_bin", {"a": GENERAL, "z": ("utf8mb4", "utf8mb4_bin")}),
        ("CREATE OR REPLACE DATABASE q CHARSET=ascii", {"a": GENERAL, "q": ("ascii", "ascii_general_ci")}),
        ("/*!40000 CREATE DATABASE w */", {"a": GENERAL, "w": ("latin1", "latin1_swedish_ci")}),
        ("ALTER DATABASE CHARACTER SET latin1", {"a": ("latin1", "latin1_swedish_ci")}),  # the current one
        ("ALTER DATABASE a COLLATE utf8mb4_unicode_ci", {"a": ("utf8mb4", "utf8mb4_unicode_ci")}),
        ("DROP DATABASE a", {}),
        ("DROP SCHEMA IF EXISTS nope", {"a": GENERAL}),
    ],
)
def test_database_statements_change_the_defaults(sql, databases):
    after = database_defaults(sql, "a", DEFAULTS)
    assert after is not None and dict(after.databases) == databases
    assert after.server_charset == DEFAULTS.server_charset


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER DATABASE a COMMENT 'x'",
        "CREATE TABLE t (a INT)",
        "ALTER TABLE a.t CHARSET latin1",
        "DROP TABLE a",
    ],
)
def test_other_statements_change_nothing(sql):
    assert database_defaults(sql, "a", DEFAULTS) is None


def test_without_the_servers_charset_a_new_database_is_unknown():
    after = database_defaults("CREATE DATABASE x", None, ServerDefaults(databases={"a": GENERAL}))
    assert after is not None and dict(after.databases) == {"a": GENERAL}


def test_a_table_in_a_database_created_while_streaming_gets_its_character_set(
    mysql_source, fresh_db, tmp_path
):
    """A database created (latin1) after the stream's last run, a table in it, then the database's
    character set changed (utf8mb4) before the stream reads any of it: the catalog the stream reads says
    utf8mb4, but the table's column was created latin1. The stream follows the statements in order, so
    the column is latin1 and its non-ASCII text decodes as the server stored it."""
    second = f"{fresh_db}_l1"
    run = mysql_source.server.execute
    run(f"CREATE TABLE {quote_table(fresh_db, 'first')} (id INT PRIMARY KEY)")
    path = _pipeline(tmp_path, mysql_source, f"{fresh_db}(_l1)?", "evolve")
    try:
        _sync(path, mysql_source)
        ctx = RunContext(load_pipeline(path, env=secrets_env(mysql_source)))
        try:
            ctx.discover()  # the stream knows the tables there were before the statements below
            run(f"CREATE DATABASE {quote_ident(second)} CHARACTER SET latin1")
            t = quote_table(second, "t")
            run(f"CREATE TABLE {t} (id INT PRIMARY KEY, s VARCHAR(10))")
            run(f"INSERT INTO {t} VALUES (1, 'Grüße'), (2, 'façade')")
            run(f"ALTER DATABASE {quote_ident(second)} CHARACTER SET utf8mb4")
            result = stream(ctx, until_caught_up=True)
        finally:
            ctx.close()
        assert {str(t): n for t, n in result.rows_by_table.items()} == {f"{second}.t": 2}
        _, in_force = _changes(path, mysql_source)
        (col,) = [c for c in in_force[f"{second}.t"].source.columns if c.name == "s"]
        assert (col.charset, col.collation) == ("latin1", "latin1_swedish_ci")
        assert _target_rows(tmp_path, second, "t") == [(1, "Grüße"), (2, "façade")]
    finally:
        run(f"DROP DATABASE IF EXISTS {quote_ident(second)}")
