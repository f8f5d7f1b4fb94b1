"""Tasks: a message someone must act on, by a date, with the history of its changes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.broker import Broker
from chatd.bus import BusEvent
from chatd.clock import Clock
from chatd.services import events as rendering
from chatd.services.checks import check_named_user, parse_cursor, visible_message
from protocol.values import MessageKind
from protocol.values import Task as TaskValue
from storage import Database
from storage import NotFound as StorageNotFound
from storage import events as event_store
from storage import tasks as task_store
from storage import threads as thread_store
from storage.directory import Account
from storage.messages import StoredMessage
from storage.threads import ThreadFacts


class Tasks:
    def __init__(self, db: Database, broker: Broker, clock: Clock) -> None:
        self._db = db
        self._broker = broker
        self._clock = clock

    async def create(self, account: Account, *, message_id: int, assignee_id: int, due_on: date | None) -> TaskValue:
        """Make an existing message a task."""
        self._check_staff(account)
        now = self._clock.now()
        async with self._db.write() as conn:
            message = await visible_message(conn, account, message_id)
            facts = await thread_store.visible_thread_facts(conn, account.viewer, message.value.thread_id)
            if await task_store.task_of_message(conn, message_id) is not None:
                raise errors.Conflict(f"message {message_id} is already a task")
            event = await self.create_in(conn, account, facts, message, assignee_id, due_on, now)
        self._broker.publish(event)
        return TaskValue(**event.data["task"])

    async def create_in(
        self,
        conn: AsyncConnection,
        account: Account,
        facts: ThreadFacts,
        message: StoredMessage,
        assignee_id: int,
        due_on: date | None,
        now: datetime,
    ) -> BusEvent:
        """Inside the caller's transaction: the task, its first history entry, and its event."""
        if message.value.kind is not MessageKind.MESSAGE and message.value.kind is not MessageKind.NOTE:
            raise errors.BadRequest("only messages and notes can be tasks")
        await check_named_user(conn, account, facts, assignee_id)
        task = await task_store.create_task(
            conn,
            firm_id=facts.firm_id,
            thread_id=facts.id,
            message_id=message.value.id,
            assignee_id=assignee_id,
            due_on=due_on,
            user_id=account.user.id,
            now=now,
        )
        return await self._event(conn, facts, task, message, now)

    async def update(self, account: Account, *, task_id: int, changes: dict[str, Any]) -> TaskValue:
        """Change the assignee, the due date, or done/undone; every change goes to the history."""
        now = self._clock.now()
        async with self._db.write() as conn:
            task = await self._visible_task(conn, account, task_id)
            if account.user.role.is_client and (task.assignee_id != account.user.id or set(changes) - {"done"}):
                raise errors.Forbidden("clients may only mark their own tasks done or not done")
            message = await visible_message(conn, account, task.message_id)
            facts = await thread_store.visible_thread_facts(conn, account.viewer, task.thread_id)
            if "assignee_id" in changes:
                await check_named_user(conn, account, facts, changes["assignee_id"])
            updated = await task_store.update_task(conn, task_id, account.user.id, changes, now)
            event = await self._event(conn, facts, updated, message, now)
        self._broker.publish(event)
        return updated

    async def list_tasks(
        self,
        account: Account,
        *,
        assignee_id: int | None,
        thread_id: int | None,
        status: str,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[TaskValue], str | None]:
        after = parse_cursor(cursor)
        if assignee_id is None and thread_id is None:
            assignee_id = account.user.id
        async with self._db.read() as conn:
            found = await task_store.list_tasks(
                conn,
                account.viewer,
                assignee_id=assignee_id,
                thread_id=thread_id,
                status=status,
                after_id=after,
                limit=limit + 1,
            )
        page = found[:limit]
        return page, (str(page[-1].id) if len(found) > limit else None)

    async def history(self, account: Account, *, task_id: int) -> list[dict[str, Any]]:
        async with self._db.read() as conn:
            await self._visible_task(conn, account, task_id)
            return await task_store.task_history(conn, task_id)

    async def _event(
        self, conn: AsyncConnection, facts: ThreadFacts, task: TaskValue, message: StoredMessage, now: datetime
    ) -> BusEvent:
        value = message.value
        record = await event_store.append_event(
            conn,
            firm_id=facts.firm_id,
            type="task.updated",
            thread_id=facts.id,
            message_id=value.id,
            ref_id=task.id,
            staff_only=value.kind is MessageKind.NOTE,
            private_to=value.private_to,
            private_from=value.author_id if value.private_to else None,
            now=now,
        )
        return rendering.task_event(record, facts, task, message)

    def _check_staff(self, account: Account) -> None:
        if account.user.role.is_client:
            raise errors.Forbidden("clients cannot make tasks")

    async def _visible_task(self, conn: AsyncConnection, account: Account, task_id: int) -> TaskValue:
        try:
            return await task_store.visible_task(conn, account.viewer, task_id)
        except StorageNotFound:
            raise errors.NotFound(f"task {task_id} not found") from None
