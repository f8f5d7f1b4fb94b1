"""The engine and its units of work: one short transaction per verb call, never a shared session."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.errors import Unavailable

logger = logging.getLogger(__name__)

# The connection a unit of work runs in, for layers that pass it through without building SQL.
Transaction = AsyncConnection

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed 64-bit number: the PostgreSQL advisory lock that serializes migrations.
MIGRATION_LOCK_KEY = 0x63686174645F6D67  # "chatd_mg"


class Database:
    """Owns the engine. ``read()`` and ``write()`` each yield one connection inside one transaction."""

    def __init__(self, url: str, *, echo: bool = False, on_commit: Callable[[float], None] | None = None) -> None:
        self.url = make_url(url)
        # Told how many seconds each write transaction's COMMIT took (a metrics histogram).
        self._on_commit = on_commit
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # Pre-ping: a pooled connection that died with the server (restart, failover) is replaced
        # at checkout instead of failing the first request after an outage.
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, pool_pre_ping=not self.is_sqlite)
        # SQLite has one writer at a time: queue this process's writers here instead of spinning
        # on SQLITE_BUSY inside driver threads.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _tune_sqlite(self.engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        with _unavailable_when_unreachable():
            async with self.engine.connect() as conn, conn.begin():
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        with _unavailable_when_unreachable():
            if self._write_lock is None:
                async with self.engine.connect() as conn, self._transaction(conn):
                    yield conn
                return
            async with self._write_lock, self.engine.connect() as conn:
                await conn.execution_options(sqlite_begin="IMMEDIATE")
                async with self._transaction(conn):
                    yield conn

    @asynccontextmanager
    async def _transaction(self, conn: AsyncConnection) -> AsyncIterator[None]:
        transaction = await conn.begin()
        try:
            yield
        except BaseException:
            await transaction.rollback()
            raise
        started = time.perf_counter()
        await transaction.commit()
        if self._on_commit is not None:
            self._on_commit(time.perf_counter() - started)

    async def ping(self) -> None:
        """Raise unless the database answers a query."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        async with self.engine.connect() as conn:
            # Under the write lock (SQLite) or an advisory lock (PostgreSQL), processes starting at
            # once migrate one after the other; the later ones find the schema at head.
            if self.is_sqlite:
                # Alembic commits after each revision on SQLite unless it finds a transaction open; one
                # transaction for the whole upgrade keeps a second process from replaying a revision.
                await conn.execution_options(sqlite_begin="IMMEDIATE")
                await conn.begin()
            else:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await conn.run_sync(_upgrade)
            await conn.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()


@contextmanager
def _unavailable_when_unreachable() -> Iterator[None]:
    """Raise ``Unavailable`` for a lost or refused connection, so callers can tell "try again" from a bug."""
    try:
        yield
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable(f"database connection lost: {exc.orig}") from exc
        raise
    except (OSError, TimeoutError) as exc:  # refused, reset or timed out while connecting
        raise Unavailable(f"database unreachable: {exc!r}") from exc


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event emit BEGIN itself, so writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN: a deferred transaction that reads and then writes
        # can fail with SQLITE_BUSY at the upgrade without waiting for busy_timeout.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
