"""The engine and its units of work: one short transaction per verb call, never a shared session."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from storage import inline_sqlite
from storage.errors import Unavailable

logger = logging.getLogger(__name__)

# The connection a unit of work runs in, for layers that pass it through without building SQL.
Transaction = AsyncConnection

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed 64-bit number: the PostgreSQL advisory lock that serializes migrations.
MIGRATION_LOCK_KEY = 0x63686174645F6D67  # "chatd_mg"
# How long PostgreSQL may keep chatd waiting (connecting, on one statement, for a pooled connection)
# before the request is answered ``unavailable`` (CHATD_DB_TIMEOUT_MS).
DEFAULT_TIMEOUT_S = 10.0
# A transaction left idle this many timeouts is one whose client is gone (see ``_engine``).
IDLE_IN_TRANSACTION_TIMEOUTS = 2
# At most this many writes share one transaction: the first of a batch waits for the others'
# statements before its commit, so a bound keeps that wait short.
MAX_BATCH = 16
# SQLite: at most one WAL checkpoint started per this many seconds, after a commit (see ``_wrote``).
CHECKPOINT_INTERVAL_S = 1.0
# SQLite: how long a threaded connection waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000


class Database:
    """Owns the engine. ``read()`` and ``write()`` each yield one connection inside one transaction."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        on_commit: Callable[[float], None] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
    ) -> None:
        self.url = make_url(url)
        # Told how many seconds each write transaction's COMMIT took (a metrics histogram).
        self._on_commit = on_commit
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._echo = echo
        self._timeout_s = timeout_s
        self.engine: AsyncEngine = self._engine(command_timeout=True)
        # SQLite: the group-commit writer's engine, whose driver calls run on the event loop's
        # thread (see ``storage.inline_sqlite``); None where there is no file to share.
        self._inline: AsyncEngine | None = None
        self._forgetting: asyncio.Task[None] | None = None
        # SQLite has one writer at a time: queue this process's writers here instead of spinning
        # on SQLITE_BUSY inside driver threads.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # The group of batched writes new ones join (see ``write_batched``), None between groups.
        self._batch: _Batch | None = None
        self._committing: set[asyncio.Future[None]] = set()  # referenced until done
        self._checkpoint_interval_s = checkpoint_interval_s
        self._checkpointing: asyncio.Task[None] | None = None  # see ``_wrote``
        self._unchecked = False  # a commit since the last checkpoint started
        self._resting = False  # waiting out the interval, not checkpointing
        self._disposing = False
        # PostgreSQL: the server backends (pid, start) of connections given up on, ended by
        # ``_reap`` once the server answers again (see ``_track_backends``).
        self._abandoned: set[tuple[int, datetime.datetime]] = set()
        self._reaping: asyncio.Task[None] | None = None
        self._last_checkpoint = time.monotonic()  # when the last one started
        if self.is_sqlite:
            _tune_sqlite(self.engine, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
            if self.url.database and "memory" not in self.url.database:
                args, kwargs = self.engine.dialect.create_connect_args(self.url)
                self._inline = create_async_engine(
                    self.url, echo=echo, async_creator=inline_sqlite.connector(args, kwargs)
                )
                # Busy timeout 0: waiting for another process's write lock here would stop the loop.
                _tune_sqlite(self._inline, busy_timeout_ms=0)
        else:
            _track_backends(self.engine, self._abandoned)

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every engine this database runs statements on, for instrumentation."""
        return (self.engine,) if self._inline is None else (self.engine, self._inline)

    def _engine(self, *, command_timeout: bool) -> AsyncEngine:
        if self.is_sqlite:
            return create_async_engine(self.url, echo=self._echo)
        # A server that drops packets instead of refusing them (a dead host, a lost route) would
        # leave asyncpg waiting on the socket for minutes: every wait is bounded instead (connect,
        # each statement, a free slot in the pool), and ends as ``Unavailable``. Pre-ping: a pooled
        # connection that died with the server is replaced at checkout instead of failing the
        # first request after an outage.
        connect_args: dict[str, Any] = {"timeout": self._timeout_s}
        if command_timeout:
            connect_args["command_timeout"] = self._timeout_s
            # A transaction whose client went silent mid-way would otherwise hold its row locks on
            # the server for good (the server's socket is still open): every later write to those
            # rows would time out, long after the network is back. The server ends such a session
            # once it has waited this long for the next statement; chatd never idles in one.
            idle_ms = int(self._timeout_s * 1000 * IDLE_IN_TRANSACTION_TIMEOUTS)
            connect_args["server_settings"] = {"idle_in_transaction_session_timeout": str(idle_ms)}
        return create_async_engine(
            self.url, echo=self._echo, pool_pre_ping=True, pool_timeout=self._timeout_s, connect_args=connect_args
        )

    @contextmanager
    def _unavailable_when_unreachable(self) -> Iterator[None]:
        """Raise ``Unavailable`` for a lost, refused or silent connection, so callers can tell "try
        again" from a bug."""
        try:
            yield
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable(f"database connection lost: {exc.orig}") from exc
            raise
        except (TimeoutError, PoolTimeout) as exc:  # silent past CHATD_DB_TIMEOUT_MS
            self._forget_idle_connections()
            raise Unavailable(f"database silent: {exc!r}") from exc
        except OSError as exc:  # refused or reset
            raise Unavailable(f"database unreachable: {exc!r}") from exc
        finally:
            if self._abandoned and self._reaping is None and not self._disposing:
                self._reaping = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        """End the server backends of connections given up on, once the server answers again.

        A connection given up on mid-transaction can leave its backend holding row locks for good:
        asyncpg prepares a statement with Parse, Describe and Flush and binds it in a second
        message; if the network goes silent between the two, the backend waits for the rest,
        "active" and not idle, so ``idle_in_transaction_session_timeout`` never ends it, and only
        TCP would (hours; never behind a middlebox that keeps the flow open). Every send to that
        thread then timed out on its lock (the silent-database fault test, which showed the
        backend in ``pg_stat_activity``). A backend is matched by pid and start time: a pid reused
        since belongs to another backend."""
        try:
            while self._abandoned and not self._disposing:
                abandoned = list(self._abandoned)
                backends = [f"{pid} {start.isoformat()}" for pid, start in abandoned]
                try:
                    async with self.engine.connect() as conn:
                        await conn.execute(_END_BACKENDS, {"backends": backends})
                        await conn.commit()
                except (DBAPIError, TimeoutError, PoolTimeout, OSError):
                    await asyncio.sleep(1.0)  # still unreachable: again in a second
                    continue
                self._abandoned.difference_update(abandoned)
                logger.info("ended what is left of %d server sessions given up on", len(abandoned))
        finally:
            self._reaping = None

    def _forget_idle_connections(self) -> None:
        """A silent server has most likely lost every connection opened before it went quiet (its
        host rebooted, a firewall forgot the flows); each would hold a request for the timeout
        again at its pre-ping, even after the server is back. New checkouts get a new pool at once;
        the old pool's idle connections are closed meanwhile, in the background."""
        if self._forgetting is not None and not self._forgetting.done():
            return
        self._forgetting = asyncio.get_running_loop().create_task(self._replace_pool())

    async def _replace_pool(self) -> None:
        old = self.engine.sync_engine.pool
        await self.engine.dispose(close=False)
        await greenlet_spawn(old.dispose)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        with self._unavailable_when_unreachable():
            async with self.engine.connect() as conn, conn.begin():
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        with self._unavailable_when_unreachable():
            if self._write_lock is None:
                async with self.engine.connect() as conn, self._transaction(conn):
                    yield conn
                return
            async with self._write_lock, self.engine.connect() as conn:
                await conn.execution_options(sqlite_begin="IMMEDIATE")
                async with self._transaction(conn):
                    yield conn
            self._wrote()

    @asynccontextmanager
    async def write_batched(self) -> AsyncIterator[AsyncConnection]:
        """A write that may share its transaction with concurrent ones (group commit).

        On SQLite, where this process's writers queue for the one write lock, writes that arrive
        while others wait or run join one batch: their bodies run one after another on one
        connection, each in its own savepoint, and one COMMIT ends them all. A body that raises
        rolls back to its savepoint and raises to its caller alone; the others carry on. Each
        caller leaves the block only once the batch is committed (and gets the commit's error if
        it fails), so what it does after the block (answer, publish) follows the commit, as with
        ``write``. Reads inside a body see the batch's earlier writes (an idempotency key used
        twice in one batch finds the first message). Elsewhere (PostgreSQL: concurrent
        transactions, whose WAL flushes the server groups itself) this is ``write``.
        """
        if self._write_lock is None:
            async with self.write() as conn:
                yield conn
            return
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
        batch.members += 1
        if batch.members + batch.through >= MAX_BATCH:
            self._batch = None  # full: who comes next starts the next batch
        with self._unavailable_when_unreachable():
            try:
                async with batch.turn:
                    conn = await self._open_batch(batch)
                    if batch.kept:
                        async with conn.begin_nested():
                            yield conn
                    else:
                        # First in the transaction: no savepoint needed (two statements saved
                        # when sends do not overlap); undone by rolling the transaction back.
                        try:
                            yield conn
                        except BaseException:
                            await conn.rollback()
                            raise
                    batch.kept += 1
            finally:
                batch.members -= 1
                batch.through += 1
                if batch.members == 0:
                    # Every member is through its body and none can join any more: commit.
                    if self._batch is batch:
                        self._batch = None
                    commit = asyncio.ensure_future(self._commit_batch(batch))
                    self._committing.add(commit)
                    commit.add_done_callback(self._committing.discard)
            # Shielded: a caller that goes away must not cancel the others' commit.
            await asyncio.shield(batch.committed)

    async def _open_batch(self, batch: _Batch) -> AsyncConnection:
        """The batch's connection, in its transaction: opened by its first member under the write lock."""
        if batch.conn is not None:
            if not batch.conn.in_transaction():  # the first member's failure rolled it back
                await batch.conn.begin()
            return batch.conn
        assert self._write_lock is not None
        await self._write_lock.acquire()
        try:
            conn = await self._begin_batch()
        except BaseException:
            self._write_lock.release()
            raise
        batch.conn = conn
        return conn

    async def _begin_batch(self) -> AsyncConnection:
        """A connection in a transaction holding SQLite's write lock: on the loop's thread when the
        lock is free, else (another process holds it: SQLITE_BUSY at once) on a driver thread,
        which waits for it up to the busy timeout without stopping the loop."""
        if self._inline is not None:
            try:
                return await self._begin_immediate(self._inline)
            except DBAPIError as exc:  # from BEGIN IMMEDIATE, or the pragmas of a new connection
                if not inline_sqlite.is_busy(exc):
                    raise
        return await self._begin_immediate(self.engine)

    @staticmethod
    async def _begin_immediate(engine: AsyncEngine) -> AsyncConnection:
        conn = await engine.connect()
        try:
            await conn.execution_options(sqlite_begin="IMMEDIATE")
            await conn.begin()
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _commit_batch(self, batch: _Batch) -> None:
        try:
            # No connection: every member failed before the batch had one; no transaction: every
            # member failed and the last rolled it back.
            if batch.conn is not None:
                try:
                    if batch.conn.in_transaction():
                        started = time.perf_counter()
                        await batch.conn.commit()
                        if self._on_commit is not None:
                            self._on_commit(time.perf_counter() - started)
                finally:
                    await batch.conn.close()
                    assert self._write_lock is not None
                    self._write_lock.release()
                self._wrote()
        except asyncio.CancelledError:
            batch.committed.cancel()
            raise
        except Exception as exc:  # the members whose bodies went through raise it
            batch.committed.set_exception(exc)
        else:
            batch.committed.set_result(None)

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

    def _wrote(self) -> None:
        """After a commit on SQLite: copy the WAL into the database file in the background.

        SQLite's own checkpoint (``wal_autocheckpoint``, off in ``_tune_sqlite``) runs inside the
        commit that crosses 1,000 WAL pages, while that writer holds the one write lock: every send
        queued behind it waited for the copy and its fsync (commits of 20 to 160 ms under load).
        Here checkpoints run on a connection of their own, outside the write lock, one at a time,
        at most one per ``checkpoint_interval_s`` while commits come; PASSIVE, so one never waits
        for a writer or a reader, and what it could not copy the next one does."""
        self._unchecked = True
        if self._checkpointing is None and not self._disposing:
            self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoints())

    async def _checkpoints(self) -> None:
        try:
            while self._unchecked and not self._disposing:
                self._resting = True
                await asyncio.sleep(self._last_checkpoint + self._checkpoint_interval_s - time.monotonic())
                self._resting = False
                self._unchecked = False
                self._last_checkpoint = time.monotonic()
                await self._checkpoint()
        finally:
            self._checkpointing = None

    async def _checkpoint(self) -> None:
        try:
            async with self.engine.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None
                # On the driver's connection: SQLAlchemy would open a transaction first, and a
                # connection inside one cannot checkpoint.
                cursor = await driver.execute("PRAGMA wal_checkpoint(PASSIVE)")
                await cursor.close()
        except Exception:
            logger.exception("WAL checkpoint failed; the next one copies what it left")

    async def ping(self) -> None:
        """Raise unless the database answers a query."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        # A migration may rightly run for minutes on a large database: no statement timeout there.
        engine = self.engine if self.is_sqlite else self._engine(command_timeout=False)
        try:
            await self._migrate(engine)
        finally:
            if engine is not self.engine:
                await engine.dispose()

    async def _migrate(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
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
        self._disposing = True
        if self._checkpointing is not None:
            # Stopped between checkpoints; one in progress is let finish (its driver thread
            # would run on after a cancel). Closing the last connection checkpoints the rest.
            if self._resting:
                self._checkpointing.cancel()
            with suppress(asyncio.CancelledError):
                await self._checkpointing
        for task in (self._forgetting, self._reaping):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        if self._inline is not None:
            await self._inline.dispose()
        await self.engine.dispose()


class _Batch:
    """Writes sharing one transaction: their bodies take turns on one connection."""

    def __init__(self) -> None:
        self.turn = asyncio.Lock()  # FIFO: members run in the order they came
        self.members = 0  # joined, not yet through their body
        self.through = 0  # through their body (committed with the batch, or rolled back alone)
        self.kept = 0  # through their body without error: their work is in the transaction
        self.conn: AsyncConnection | None = None
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


# The "pid start" pairs given whose backend still runs are ended (backends of chatd's own role).
_END_BACKENDS = text(
    "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a"
    " JOIN (SELECT split_part(b, ' ', 1)::int AS pid, split_part(b, ' ', 2)::timestamptz AS started"
    " FROM unnest(CAST(:backends AS text[])) AS b) AS d ON a.pid = d.pid AND a.backend_start = d.started"
)


def _track_backends(engine: AsyncEngine, abandoned: set[tuple[int, datetime.datetime]]) -> None:
    """Remember each PostgreSQL connection's server backend, and which were given up on."""

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        record.info["backend"] = tuple(cursor.fetchone())
        cursor.close()

    @event.listens_for(engine.sync_engine, "invalidate")
    def on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        # A statement, a rollback or a ping failed: the server may still hold the backend and its
        # locks. Ending one that has ended since matches nothing.
        backend = record.info.get("backend")
        if backend is not None:
            abandoned.add(backend)


def _tune_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event emit BEGIN itself, so writers can take the lock up front.
        if dbapi_connection.isolation_level is not None:
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The busy timeout first: it bounds the wait of the pragmas after it.
        pragmas = (f"busy_timeout={busy_timeout_ms}", "journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
        # wal_autocheckpoint=0: commits never checkpoint; ``Database._wrote`` does, off the write path.
        for pragma in (*pragmas, "wal_autocheckpoint=0"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN: a deferred transaction that reads and then writes
        # can fail with SQLITE_BUSY at the upgrade without waiting for busy_timeout.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
