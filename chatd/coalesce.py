"""Concurrent callers sharing database round trips.

A storm of reconnects (a restart, a network blip) asks the same questions at once (the firm's
newest event id, one user's replay from one id) or many small ones (each new session's
credentials, its presence row). Asked one by one, they queue on the connection pool and on
SQLite's single writer; shared or batched, the storm costs a few round trips instead of
thousands.

Both helpers run one round trip per key at a time, and a caller only ever joins one that starts
after its call, so it never gets an answer older than its question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


def _retrieved(future: asyncio.Future[Any]) -> None:
    # Every caller may have gone (its connection closed): do not log the error as never retrieved.
    if not future.cancelled():
        future.exception()


class SharedRead(Generic[K, V]):
    """``get(key, read)``: concurrent callers with an equal key share one ``read()``."""

    def __init__(self) -> None:
        self._next: dict[K, asyncio.Future[V]] = {}  # not started yet: new callers join it
        self._running: dict[K, asyncio.Future[V]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        future = self._next.get(key)
        if future is None:
            future = self._next[key] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieved)
            task = asyncio.get_running_loop().create_task(self._run(key, future, read))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Shielded: a caller that goes away does not cancel the others' read.
        return await asyncio.shield(future)

    async def _run(self, key: K, future: asyncio.Future[V], read: Callable[[], Awaitable[V]]) -> None:
        running = self._running.get(key)
        if running is not None:
            await asyncio.wait([running])
        del self._next[key]  # callers from now on wait for the next read
        self._running[key] = future
        try:
            future.set_result(await read())
        except Exception as exc:
            future.set_exception(exc)
        finally:
            if self._running.get(key) is future:
                del self._running[key]


class Batched(Generic[T, V]):
    """``call(item)``: items that arrive while a batch runs go together in the next one;
    ``run(items)`` returns one result per item, in order."""

    def __init__(self, run: Callable[[list[T]], Awaitable[list[V]]]) -> None:
        self._run_batch = run
        self._next: tuple[list[T], asyncio.Future[list[V]]] | None = None
        self._running: asyncio.Future[list[V]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, item: T) -> V:
        if self._next is None:
            future: asyncio.Future[list[V]] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieved)
            self._next = ([], future)
            task = asyncio.get_running_loop().create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        items, future = self._next
        index = len(items)
        items.append(item)
        return (await asyncio.shield(future))[index]

    async def _run(self) -> None:
        if self._running is not None:
            await asyncio.wait([self._running])
        assert self._next is not None
        items, future = self._next
        self._next = None
        self._running = future
        try:
            future.set_result(await self._run_batch(items))
        except Exception as exc:
            future.set_exception(exc)
        finally:
            if self._running is future:
                self._running = None
