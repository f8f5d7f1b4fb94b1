"""Recurring messages: staff have a message posted in a thread whenever a cron rule fires in a time
zone (by default the firm's, followed when it changes), until an end date, with pause, edit and
cancel. Each next occurrence is one due_work row: the handler posts the message and moves the row
to the following occurrence in one transaction, so each occurrence is delivered once. Occurrences
missed while no process ran are skipped (the next one after now is sent), never sent in a burst.
Every change (made, edited, paused, cancelled, an occurrence sent, ended, failed with its reason)
is a ``recurring.updated`` event to staff who see the thread and to the author."""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.bus import BusEvent
from chatd.business_hours import zone
from chatd.clock import Clock
from chatd.services.business_hours import BusinessHours, firm_zone
from chatd.services.conversations import Conversations, check_may_write
from chatd.services.events import recurring_event
from protocol.values import Role
from scheduler import cron
from scheduler.due import AfterCommit, Again, Done, Failed, Outcome
from storage import Database
from storage import NotFound as StorageNotFound
from storage import directory as directory_store
from storage import due as due_store
from storage import events as event_store
from storage import recurring as store
from storage import threads as thread_store
from storage.directory import Account
from storage.due import DueItem
from storage.recurring import Recurring

DUE_KIND = "recurring.send"
RECURRING = "recurring"
EVENT = "recurring.updated"
LIVE = [store.ACTIVE, store.PAUSED]


def _next(rule: str, where: ZoneInfo, ends_on: date | None, after: datetime) -> datetime | None:
    """The rule's next time after ``after``, or None past ``ends_on`` (a local date)."""
    try:
        moment = cron.next_after(rule, where, after)
    except cron.BadRule as exc:
        raise errors.BadRequest(str(exc)) from None
    if ends_on is not None and moment.astimezone(where).date() > ends_on:
        return None
    return moment


class RecurringMessages:
    def __init__(self, db: Database, clock: Clock, conversations: Conversations, business_hours: BusinessHours) -> None:
        self._db = db
        self._clock = clock
        self._conversations = conversations
        business_hours.on_zone_change(self._zone_changed)

    async def create(
        self,
        account: Account,
        *,
        thread_id: int,
        body: str,
        rule: str,
        time_zone: str | None,
        ends_on: date | None,
    ) -> dict[str, Any]:
        _check_staff(account)
        self._conversations.render_body(body)
        now = self._clock.now()
        async with self._db.write() as conn:
            facts = await self._conversations.visible_thread(conn, account, thread_id)
            firm = await firm_zone(conn, facts.firm_id)
            next_at = _next(rule, zone(time_zone) if time_zone else firm, ends_on, now)
            if next_at is None:
                raise errors.BadRequest("the rule does not fire again before ends_on")
            recurring = await store.insert_recurring(
                conn,
                firm_id=facts.firm_id,
                thread_id=thread_id,
                author_id=account.user.id,
                body=body,
                rule=" ".join(rule.split()),
                time_zone=time_zone,
                ends_on=ends_on,
                next_at=next_at,
                now=now,
            )
            await self._schedule(conn, recurring, next_at, now)
            described, event = await self._event(conn, recurring, now)
        self._conversations.publish(event)
        return described

    async def list(self, account: Account, *, thread_id: int | None, include_ended: bool) -> list[dict[str, Any]]:
        _check_staff(account)
        states = [*LIVE, store.ENDED, store.CANCELLED, store.FAILED] if include_ended else LIVE
        async with self._db.read() as conn:
            if thread_id is not None:
                await self._conversations.visible_thread(conn, account, thread_id)
            found = await store.list_recurring(
                conn, account.user.firm_id, thread_id=thread_id, states=states, limit=500
            )
            visible = await thread_store.get_threads(conn, account.viewer, list({r.thread_id for r in found}))
            firm = (await firm_zone(conn, account.user.firm_id)).key
        return [store.describe(r, firm) for r in found if r.thread_id in visible]

    async def update(self, account: Account, *, recurring_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Edit the body, rule, time zone (None: the firm's) or end date, or pause (``paused``) and
        resume; an active rule's next time is computed again from now."""
        _check_staff(account)
        if not changes:
            raise errors.BadRequest("give body, rule, time_zone, ends_on or paused")
        if "body" in changes:
            self._conversations.render_body(changes["body"])
        now = self._clock.now()
        async with self._db.write() as conn:
            recurring = await self._changeable(conn, account, recurring_id)
            rule = " ".join(changes.get("rule", recurring.rule).split())
            zone_name = changes.get("time_zone", recurring.time_zone)
            ends_on = changes.get("ends_on", recurring.ends_on)
            paused = changes.get("paused", recurring.state == store.PAUSED)
            firm = await firm_zone(conn, recurring.firm_id)
            next_at = _next(rule, zone(zone_name) if zone_name else firm, ends_on, now)
            if next_at is None and not paused:
                raise errors.BadRequest("the rule does not fire again before ends_on")
            values: dict[str, Any] = {"rule": rule, "time_zone": zone_name, "ends_on": ends_on, "error": None}
            if "body" in changes:
                values["body"] = changes["body"]
            if paused:
                values.update(state=store.PAUSED, next_at=None)
                await due_store.cancel(conn, key=store.due_key(recurring_id), now=now)
            else:
                assert next_at is not None
                values.update(state=store.ACTIVE, next_at=next_at)
                await self._schedule(conn, recurring, next_at, now)
            recurring = await store.update_recurring(conn, recurring_id, now, **values)
            described, event = await self._event(conn, recurring, now)
        self._conversations.publish(event)
        return described

    async def cancel(self, account: Account, *, recurring_id: int) -> dict[str, Any]:
        _check_staff(account)
        now = self._clock.now()
        async with self._db.write() as conn:
            await self._changeable(conn, account, recurring_id)
            await due_store.cancel(conn, key=store.due_key(recurring_id), now=now)
            recurring = await store.update_recurring(conn, recurring_id, now, state=store.CANCELLED, next_at=None)
            described, event = await self._event(conn, recurring, now)
        self._conversations.publish(event)
        return described

    async def fire(self, conn: AsyncConnection, item: DueItem, now: datetime) -> Outcome:
        """The due handler: post this occurrence and move on to the next, in one transaction."""
        assert item.ref_id is not None
        recurring = await store.get_recurring(conn, item.ref_id, for_update=True)
        if recurring is None or recurring.state != store.ACTIVE:
            return Done()
        author = await directory_store.get_account(conn, recurring.author_id)
        reason = None if author.active else "the author's account is deactivated"
        try:
            facts = await thread_store.visible_thread_facts(conn, author.viewer, recurring.thread_id)
        except StorageNotFound:
            reason = reason or "the thread no longer exists or the author no longer sees it"
        if reason is not None:
            failed = await store.update_recurring(
                conn, recurring.id, now, state=store.FAILED, next_at=None, error=reason
            )
            _, event = await self._event(conn, failed, now)
            return Failed(reason, after_commit=[functools.partial(self._conversations.publish, event)])
        await thread_store.lock_for_new_message(conn, facts.id)
        key = f"recurring:{recurring.id}:{int(item.due_at.timestamp())}"
        events = await self._conversations.post_automatic(
            conn, author, facts, recurring.body, key=key, automatic=RECURRING
        )
        publish: list[AfterCommit] = [functools.partial(self._conversations.publish, event) for event in events]
        where = zone(recurring.time_zone) if recurring.time_zone else await firm_zone(conn, recurring.firm_id)
        next_at = _next(recurring.rule, where, recurring.ends_on, max(now, item.due_at))
        state = store.ACTIVE if next_at is not None else store.ENDED
        sent = await store.update_recurring(
            conn, recurring.id, now, state=state, next_at=next_at, sent=recurring.sent + 1
        )
        _, event = await self._event(conn, sent, now)
        publish.append(functools.partial(self._conversations.publish, event))
        if next_at is None:
            return Done(after_commit=publish)
        return Again(next_at, after_commit=publish)

    async def _zone_changed(self, conn: AsyncConnection, firm_id: int, now: datetime) -> None:
        """The firm's time zone changed: the active rules that follow it get their next time in the new one."""
        firm = await firm_zone(conn, firm_id)
        for recurring in await store.following_firm_zone(conn, firm_id, store.ACTIVE):
            next_at = _next(recurring.rule, firm, recurring.ends_on, now)
            if next_at is None:
                await due_store.cancel(conn, key=store.due_key(recurring.id), now=now)
                await store.update_recurring(conn, recurring.id, now, state=store.ENDED, next_at=None)
            else:
                await self._schedule(conn, recurring, next_at, now)
                await store.update_recurring(conn, recurring.id, now, next_at=next_at)

    async def _event(
        self, conn: AsyncConnection, recurring: Recurring, now: datetime
    ) -> tuple[dict[str, Any], BusEvent]:
        """The recurring message as shown, and its ``recurring.updated`` event (stored, for replays)."""
        described = store.describe(recurring, (await firm_zone(conn, recurring.firm_id)).key)
        facts = (await thread_store.facts_by_ids(conn, [recurring.thread_id])).get(recurring.thread_id)
        record = await event_store.append_event(
            conn,
            firm_id=recurring.firm_id,
            type=EVENT,
            thread_id=recurring.thread_id,
            ref_id=recurring.id,
            user_id=recurring.author_id,
            staff_only=True,
            now=now,
        )
        return described, recurring_event(record, facts, described)

    async def _schedule(self, conn: AsyncConnection, recurring: Recurring, at: datetime, now: datetime) -> None:
        await due_store.schedule(
            conn,
            kind=DUE_KIND,
            key=store.due_key(recurring.id),
            due_at=at,
            now=now,
            firm_id=recurring.firm_id,
            ref_id=recurring.id,
        )

    async def _changeable(self, conn: AsyncConnection, account: Account, recurring_id: int) -> Recurring:
        """The recurring message, if the caller may change it: its author, or an owner or manager
        who sees its thread; ended, cancelled or failed ones are a conflict."""
        recurring = await store.get_recurring(conn, recurring_id, for_update=True)
        moderator = account.user.role in (Role.OWNER, Role.MANAGER)
        if (
            recurring is None
            or recurring.firm_id != account.user.firm_id
            or (recurring.author_id != account.user.id and not moderator)
        ):
            raise errors.NotFound(f"recurring message {recurring_id} not found")
        await self._conversations.visible_thread(conn, account, recurring.thread_id)
        if recurring.state not in LIVE:
            raise errors.Conflict(f"recurring message {recurring_id} is {recurring.state}")
        return recurring


def _check_staff(account: Account) -> None:
    check_may_write(account)
    if account.user.role.is_client:
        raise errors.Forbidden("recurring messages are for staff")
