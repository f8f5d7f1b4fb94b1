"""SQLite's driver calls on the event loop's own thread, behind aiosqlite's coroutines.

SQLAlchemy's aiosqlite adapter awaits the driver three to four times per statement (cursor,
execute, fetch, close), and aiosqlite runs each call on its worker thread: a queue, a thread wake,
a callback back to the loop and the GIL handed over twice, 120 to 250 µs of CPU for a statement
SQLite runs in a few. The connection here has the coroutines the adapter calls, but they run
``sqlite3`` at once and return without suspending, so each round trip is a greenlet switch.

Only for work that never waits inside SQLite (``Database.write_batched``): a statement that waited
here would stop the whole event loop. Its connection has no busy timeout; a write lock held
elsewhere is answered SQLITE_BUSY at once (see ``is_busy``) and that work goes to the threaded
engine instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError


class InlineCursor:
    """An aiosqlite-shaped cursor over a ``sqlite3`` one."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Sequence[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """An aiosqlite-shaped connection over a ``sqlite3`` one, for ``create_async_engine(async_creator=…)``."""

    __slots__ = ("_connection",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        # The name is aiosqlite's: SQLAlchemy's adapter checks it before a commit or a rollback.
        self._connection = connection

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The connection itself, for statements run without SQLAlchemy (``storage/prepared.py``)."""
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._connection.cursor())

    async def commit(self) -> None:
        self._connection.commit()

    async def rollback(self) -> None:
        self._connection.rollback()

    async def close(self) -> None:
        self._connection.close()

    def stop(self) -> None:
        """aiosqlite's forced close (a connection dropped outside the event loop)."""
        self._connection.close()

    async def create_function(
        self, name: str, narg: int, func: Callable[..., Any], *, deterministic: bool = False
    ) -> None:
        self._connection.create_function(name, narg, func, deterministic=deterministic)


def connector(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Callable[[], Any]:
    """An ``async_creator`` opening ``sqlite3.connect(*args, **kwargs)`` in autocommit mode
    (SQLAlchemy's begin event emits each BEGIN itself)."""

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(*args, **{**kwargs, "isolation_level": None}))

    return connect


def is_busy(exc: DBAPIError) -> bool:
    """Whether SQLite answered SQLITE_BUSY: another connection holds the lock asked for."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY
