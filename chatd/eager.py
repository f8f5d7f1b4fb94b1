"""Run a coroutine at once, in the caller's turn of the event loop, and make a task of it only if
it has to wait: what ``asyncio.eager_task_factory`` does from Python 3.12, for 3.11.

A session's writer mostly finds the socket writable, so its ``send`` completes without waiting: as
a task it cost a task object, a trip through the loop's ready queue and a context switch per
session per delivered event (workload A in docs/performance.md); run eagerly it costs a call, as in
``websockets.broadcast``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Coroutine
from typing import Any


def start(coro: Coroutine[Any, Any, None], context: contextvars.Context) -> asyncio.Task[None] | None:
    """Run ``coro`` in ``context`` until it finishes (None) or first waits (the task that goes on
    with it). Exceptions it raises before waiting propagate to the caller, as from a call."""
    try:
        awaited = context.run(coro.send, None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_resume(coro, awaited), context=context)


async def _resume(coro: Coroutine[Any, Any, None], awaited: Any) -> None:
    """Go on with a started coroutine from inside a task: wait for what it waits for, as the task
    would have, then step it again, until it returns."""
    while True:
        try:
            if awaited is None:
                await asyncio.sleep(0)  # a bare yield: give the loop one turn
            else:
                # Taken from the coroutine, as a task takes it: awaiting a future still marked
                # as blocking is refused.
                awaited._asyncio_future_blocking = False
                await awaited
        except BaseException as exc:  # raised where the coroutine itself waits: to it
            resume = functools.partial(coro.throw, exc)
        else:
            resume = functools.partial(coro.send, None)
        try:
            awaited = resume()
        except StopIteration:
            return
