"""Secrets in statements read from the binlog are masked before anything records, logs or shows them
(core.ddl_text.mask_secrets, applied by the binlog reader to every statement it yields)."""

from __future__ import annotations

import pytest

from cdc_assets.core.ddl import parse_ddl
from cdc_assets.core.ddl_text import mask_secrets
from cdc_assets.core.schema_change import AddColumn
from cdc_assets.core.sql import quote_table
from cdc_assets_tests.test_schema_evolution import _changes, _pipeline, _sync


@pytest.mark.parametrize(
    ("sql", "masked"),
    [
        (
            "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=FEDERATED CONNECTION='mysql://fed:s3cret@remote:3306/db/t'",
            "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=FEDERATED CONNECTION='***'",
        ),
        ('ALTER TABLE t CONNECTION = "mysql://fed:a\\"b@r/db/t"', 'ALTER TABLE t CONNECTION = "***"'),
        ("CREATE USER 'bob'@'%' IDENTIFIED BY 'pw''x'", "CREATE USER 'bob'@'%' IDENTIFIED BY '***'"),
        (
            "ALTER USER bob IDENTIFIED WITH mysql_native_password AS '*2470C0C06DEE42FD'",
            "ALTER USER bob IDENTIFIED WITH mysql_native_password AS '***'",
        ),
        (
            "GRANT ALL ON *.* TO bob IDENTIFIED BY PASSWORD '*AB'",
            "GRANT ALL ON *.* TO bob IDENTIFIED BY PASSWORD '***'",
        ),
        ("SET PASSWORD FOR bob = PASSWORD('hunter2')", "SET PASSWORD FOR bob = PASSWORD('***')"),
        (
            "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD 'pw', HOST 'h')",
            "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD '***', HOST 'h')",
        ),
        (
            "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='pw'",
            "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='***'",
        ),
        (
            "CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = 'pw'",
            "CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = '***'",
        ),
        (
            "CREATE TABLE c (a INT) ENGINE=CONNECT TABLE_TYPE=MYSQL OPTION_LIST='user=u,password=p'",
            "CREATE TABLE c (a INT) ENGINE=CONNECT TABLE_TYPE=MYSQL OPTION_LIST='***'",
        ),
        (
            "ALTER TABLE t COMMENT 'feed at https://u:p4ss@h/x'",
            "ALTER TABLE t COMMENT 'feed at https://u:***@h/x'",
        ),
    ],
)
def test_secrets_are_masked(sql, masked):
    assert mask_secrets(sql) == masked


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE t ADD COLUMN password VARCHAR(64) NOT NULL DEFAULT 'x'",
        "ALTER TABLE t CHANGE COLUMN `password` pass_hash CHAR(60)",
        "ALTER TABLE t COMMENT 'connection pool: see http://example.com/docs'",
        "INSERT INTO t VALUES ('IDENTIFIED')",
    ],
)
def test_statements_without_secrets_are_unchanged(sql):
    assert mask_secrets(sql) == sql


def test_a_masked_statement_parses_as_before():
    sql = "ALTER TABLE db.t ADD COLUMN c INT, CONNECTION='mysql://u:pw@h/db/t'"
    (event,) = parse_ddl(mask_secrets(sql), None)
    assert isinstance(event, AddColumn) and event.column.name == "c" and "pw" not in event.ddl


def test_a_recorded_schema_change_holds_no_secret(mysql_source, fresh_db, tmp_path):
    """A captured table's ALTER carrying a FederatedX-style CONNECTION string (MariaDB keeps the table
    option on any engine) is applied, and its recorded DDL shows the option masked."""
    t = quote_table(fresh_db, "orders")
    mysql_source.server.execute(f"CREATE TABLE {t} (id INT PRIMARY KEY, qty INT)")
    mysql_source.server.execute(f"INSERT INTO {t} VALUES (1, 10)")
    path = _pipeline(tmp_path, mysql_source, fresh_db, "evolve")
    _sync(path, mysql_source)
    mysql_source.server.execute(
        f"ALTER TABLE {t} ADD COLUMN note VARCHAR(10), CONNECTION='mysql://fed:s3cret-pw@remote/db/orders'"
    )
    mysql_source.server.execute(f"INSERT INTO {t} VALUES (2, 20, 'x')")
    result = _sync(path, mysql_source)
    assert result.stream.schema_changes == 1
    records, _ = _changes(path, mysql_source)
    (record,) = records
    assert record.kind == "add.column"
    assert "s3cret-pw" not in record.ddl and "CONNECTION='***'" in record.ddl
