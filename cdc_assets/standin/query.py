"""The stand-in FE's query port: the MySQL protocol (mysql-mimic) in front of :class:`Front`.

One background thread runs an asyncio loop with the mysql-mimic server; statements run on the loop's
default thread pool so a slow statement does not stall other connections (the store serialises them).
Authentication is ``mysql_native_password`` against one configured user; anything else gets MySQL's
``Access denied for user ...`` (1045), as StarRocks answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import threading
from typing import Any

from mysql_mimic import MysqlServer, Session
from mysql_mimic.auth import AuthInfo, AuthState, Forbidden, IdentityProvider, NativePasswordAuthPlugin, User
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.intercept import setitem_kind
from mysql_mimic.results import AllowedResult
from mysql_mimic.variables import SYSTEM_VARIABLES, GlobalVariables, SessionVariables
from sqlglot import exp

from cdc_assets.standin.alter import AlterJobs
from cdc_assets.standin.catalog import AnalysisError
from cdc_assets.standin.ddl import SqlError
from cdc_assets.standin.front import Front, FrontConfig
from cdc_assets.standin.select import MYSQL_SERVER_VERSION
from cdc_assets.standin.store import StandInStore

log = logging.getLogger(__name__)


def _variables_schema(version: str) -> dict[str, Any]:
    """MySQL system variables plus the StarRocks session variables clients commonly set."""
    return {
        **SYSTEM_VARIABLES,
        "version": (str, MYSQL_SERVER_VERSION, False),
        "license": (str, "Apache License 2.0", False),
        "sql_mode": (str, "ONLY_FULL_GROUP_BY", True),
        "version_comment": (str, f"StarRocks version {version}", False),
        "default_storage_engine": (str, "olap", True),
        "default_tmp_storage_engine": (str, "olap", True),
        "tx_isolation": (str, "REPEATABLE-READ", True),
        "query_timeout": (int, 300, True),
        "insert_timeout": (int, 14400, True),
        "exec_mem_limit": (int, 2147483648, True),
        "load_mem_limit": (int, 0, True),
        "query_mem_limit": (int, 0, True),
        "net_read_timeout": (int, 60, True),
        "sql_safe_updates": (int, 0, True),
        "enable_profile": (bool, False, True),
        "pipeline_dop": (int, 0, True),
        "parallel_fragment_exec_instance_num": (int, 1, True),
        "allow_default_partition": (bool, False, True),
        # what MySQL Connector/J (the Flink connector's driver) reads when it connects
        "query_cache_size": (int, 1048576, True),
        "query_cache_type": (str, "OFF", True),
        "tx_read_only": (bool, False, True),
    }


class _NativePassword(NativePasswordAuthPlugin):
    """mysql_native_password refusing in MySQL's words: Access denied for user 'u' (using password: YES)."""

    async def auth(self, auth_info: AuthInfo | None = None) -> AuthState:
        inner = super().auth(auth_info)
        decision = await inner.__anext__()
        last = auth_info
        while isinstance(decision, bytes):
            last = yield decision
            decision = await inner.asend(last)
        if isinstance(decision, Forbidden) and last is not None:
            using = "YES" if last.data else "NO"
            decision = Forbidden(f"Access denied for user '{last.username}' (using password: {using})")
        yield decision


class _Identity(IdentityProvider):
    def __init__(self, user: str, password: str) -> None:
        self._user = user
        # MySQL stores SHA1(SHA1(password)); the plain password is not kept
        self._auth = NativePasswordAuthPlugin.create_auth_string(password) if password else None

    def get_plugins(self) -> list[NativePasswordAuthPlugin]:
        return [_NativePassword()]

    async def get_user(self, username: str) -> User | None:
        if username == self._user:
            return User(name=username, auth_string=self._auth, auth_plugin=_NativePassword.name)
        # unknown users are refused by a password nobody has, so they get the same 1045 as a wrong password
        return User(
            name=username,
            auth_string=hashlib.sha1(secrets.token_bytes(16)).hexdigest(),
            auth_plugin=_NativePassword.name,
        )


class _Session(Session):
    def __init__(self, front: Front, variables: SessionVariables) -> None:
        super().__init__(variables)
        self._front = front
        self._unknown_database: str | None = None

    @property
    def connection_id(self) -> int:  # type: ignore[override]
        return self.connection.connection_id

    async def init(self, connection: Any) -> None:
        await super().init(connection)
        if self.username is None:
            # mysql-mimic goes on to the command phase after refusing a password; end the connection instead
            raise MysqlError("Access denied", code=ErrorCode.ACCESS_DENIED_ERROR)
        if self.database is not None and not self._front.store.has_database(self.database):
            # StarRocks refuses the login; mysql-mimic has already sent OK, so refuse the first statement
            self._unknown_database = self.database

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> AllowedResult:
        if self.username is None:
            raise MysqlError("Access denied", code=ErrorCode.ACCESS_DENIED_ERROR)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._execute, sql)

    def _execute(self, sql: str) -> AllowedResult:
        if self._unknown_database is not None:
            db, self._unknown_database = self._unknown_database, None
            self.database = None
            raise MysqlError(f"Unknown database '{db}'", code=1049)  # type: ignore[arg-type]
        try:
            return self._front.execute(self, sql)
        except MysqlError:
            raise
        except AnalysisError as e:
            raise MysqlError(str(e), code=getattr(e, "code", ErrorCode.PARSE_ERROR)) from None
        except Exception as e:
            log.exception("stand-in statement failed: %.200s", sql)
            raise MysqlError(
                f"Internal error in the StarRocks stand-in: {e}", code=ErrorCode.UNKNOWN_ERROR
            ) from None

    async def use(self, database: str) -> None:  # COM_INIT_DB
        if database.lower() != "information_schema" and not self._front.store.has_database(database):
            raise MysqlError(f"Unknown database '{database}'", code=1049)  # type: ignore[arg-type]
        self.database = database

    # --- the Front's Session protocol
    def variable(self, name: str) -> Any:
        try:
            return self.variables.get_variable(name)
        except MysqlError:
            raise SqlError(f"Unknown system variable '{name}'", 1193) from None

    def set_statement(self, expr: exp.Set) -> None:
        for item in expr.expressions:
            kind = setitem_kind(item)
            if kind == "VARIABLE":
                self._set_variable(item)
            elif kind == "CHARACTER SET":
                self._set_charset(item)
            elif kind == "NAMES":
                self._set_names(item)
            elif kind == "TRANSACTION":
                self._set_transaction(item)
            else:
                raise AnalysisError(f"Unsupported SET statement: {kind}")

    def show_variables(self, expr: exp.Show) -> tuple[list[tuple], list[str]]:
        rows, names = self._show_variables(expr)  # type: ignore[misc]
        return list(rows), list(names)


class QueryServer:
    """The MySQL-protocol port of the stand-in FE (StarRocks' 9030)."""

    def __init__(
        self,
        store: StandInStore,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "root",
        password: str = "",
        version: str = "3.3.5",
        alter_job_seconds: float = 0.5,
        default_replication_num: int = 3,
    ) -> None:
        self.store = store
        self._host = host
        self._port = port
        self._jobs = AlterJobs(store, alter_job_seconds)
        self._front = Front(store, self._jobs, FrontConfig(version, default_replication_num))
        self._globals = GlobalVariables(_variables_schema(version))
        self._identity = _Identity(user, password)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: MysqlServer | None = None
        self._thread: threading.Thread | None = None
        self._bound_port = 0

    def __repr__(self) -> str:
        return f"QueryServer(host={self._host!r}, port={self._bound_port or self._port})"

    @property
    def port(self) -> int:
        return self._bound_port

    def start(self) -> QueryServer:
        """Listen in a background thread; returns once the port accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = MysqlServer(
                session_factory=lambda: _Session(self._front, SessionVariables(self._globals)),
                identity_provider=self._identity,
            )
            try:
                loop.run_until_complete(self._server.start_server(host=self._host, port=self._port))
                self._bound_port = self._server.sockets()[0].getsockname()[1]
            except BaseException as e:  # noqa: BLE001 - reported to the starting thread
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        self._thread = threading.Thread(target=run, name="standin-query", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        self._jobs.resume()
        return self

    def stop(self) -> None:
        """Stop listening, close client connections and stop the alter jobs (they resume on restart)."""
        self._jobs.stop()
        loop, server = self._loop, self._server
        if loop is not None and server is not None and loop.is_running():

            async def shutdown() -> None:
                server.close()
                # closing each client's socket ends its command loop cleanly (it reads end-of-stream)
                for connection in list(getattr(server.control, "_connections", {}).values()):
                    connection.stream.writer.close()
                await asyncio.wait_for(server.wait_closed(), timeout=5)

            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
