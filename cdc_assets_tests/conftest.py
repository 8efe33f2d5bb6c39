"""Shared fixtures: one private MariaDB for the whole test session, and a fresh database per test.

The server is never the system one on port 3306: ``LocalMariaDB`` runs its own process on a free
port with its own data directory. Tests that use these fixtures are marked ``mariadb``
automatically, so ``pytest -m "not mariadb"`` runs only the pure tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cdc_assets.core.sql import quote_ident
from cdc_assets.local_mariadb import LocalMariaDB, find_server_binary

CDC_USER = "cdc"
CDC_PASSWORD = "cdc-secret-pw"
_SERVER_FIXTURES = {"mariadb", "mysql_source", "fresh_db"}


@dataclass(frozen=True)
class MySQLSource:
    """Where and as whom a CDC test connects: the CDC user, not root."""

    host: str
    port: int
    user: str
    password: str
    server: LocalMariaDB

    def __repr__(self) -> str:  # the password stays out of test output
        return f"MySQLSource(host={self.host!r}, port={self.port}, user={self.user!r})"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mariadb: needs the private MariaDB server started by the session fixture"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.mariadb)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[LocalMariaDB]:
    """A started private server; ``.cdc_user`` / ``.cdc_password`` name a user with CDC privileges."""
    if find_server_binary() is None:
        pytest.fail(
            "no MariaDB server binary (mariadbd or mysqld) on PATH or in /usr/sbin: these tests need a real "
            "server; install it with `apt-get install mariadb-server` (it is never used as a system service)",
            pytrace=False,
        )
    server = LocalMariaDB()
    try:
        server.start()
        server.create_user(CDC_USER, CDC_PASSWORD)
        server.cdc_user = CDC_USER  # type: ignore[attr-defined]
        server.cdc_password = CDC_PASSWORD  # type: ignore[attr-defined]
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def mysql_source(mariadb: LocalMariaDB) -> MySQLSource:
    return MySQLSource(mariadb.host, mariadb.port, CDC_USER, CDC_PASSWORD, mariadb)


STARROCKS_PASSWORD = "sr-secret-pw"


@pytest.fixture(scope="session")
def standin(tmp_path_factory):
    """The StarRocks stand-in for the whole session (FE query, FE HTTP and BE HTTP ports on free ports).

    Tests write into databases of their own names, so they share it safely."""
    from cdc_assets.standin import StandIn

    with StandIn(password=STARROCKS_PASSWORD, data_dir=tmp_path_factory.mktemp("standin")) as server:
        yield server


@pytest.fixture
def fresh_db(mariadb: LocalMariaDB) -> Iterator[str]:
    """A new, empty database with a unique name, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    mariadb.execute(f"CREATE DATABASE {quote_ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    try:
        yield name
    finally:
        mariadb.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
