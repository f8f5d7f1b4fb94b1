"""Business hours: owners set them (days, time zone, closed dates, the automatic reply); the
scheduler and the automatic replies read them as a calendar.

Their time zone is the firm's one time zone: generated emails' daily run and recurring messages
without a zone of their own use it too, and move with it (the hooks given to ``on_zone_change``
run in the transaction that changes it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.business_hours import WEEKDAYS, Calendar, check_day, parse_interval, zone
from chatd.clock import Clock
from protocol.frames import BusinessHoursSet
from protocol.values import Role
from storage import Database
from storage import business_hours as hours_store
from storage.business_hours import StoredHours
from storage.directory import Account

# What a firm that never set its hours has: none, so no automatic reply and no business morning.
NO_HOURS = StoredHours(time_zone="UTC", week={}, closed_dates=[], auto_reply=None)
# Called with (conn, firm_id, now) in the transaction that changes a firm's time zone.
ZoneHook = Callable[[AsyncConnection, int, datetime], Awaitable[None]]


def calendar_of(hours: StoredHours) -> Calendar:
    week = tuple(tuple(parse_interval(interval, day) for interval in hours.week.get(day, [])) for day in WEEKDAYS)
    return Calendar(zone(hours.time_zone), week, frozenset(date.fromisoformat(d) for d in hours.closed_dates))


async def load(conn: AsyncConnection, firm_id: int) -> StoredHours:
    return await hours_store.get_hours(conn, firm_id) or NO_HOURS


async def firm_zone(conn: AsyncConnection, firm_id: int) -> ZoneInfo:
    """The firm's time zone (UTC until an owner sets one)."""
    return zone((await load(conn, firm_id)).time_zone)


async def next_business_morning(conn: AsyncConnection, firm_id: int, now: datetime) -> datetime:
    """When "at the client's next business morning" is, for a message scheduled now."""
    found = calendar_of(await load(conn, firm_id)).next_business_morning(now)
    if found is None:
        raise errors.BadRequest("the firm has no business hours: set them (business_hours.set) first")
    return found


def _checked(frame: BusinessHoursSet) -> StoredHours:
    zone(frame.time_zone)
    week: dict[str, list[list[str]]] = {}
    for day, raw in frame.week.items():
        intervals = check_day([parse_interval(interval, day) for interval in raw], day)
        if intervals:
            week[day] = [[start.strftime("%H:%M"), end.strftime("%H:%M")] for start, end in intervals]
    return StoredHours(
        time_zone=frame.time_zone,
        week={day: week[day] for day in WEEKDAYS if day in week},
        closed_dates=sorted({d.isoformat() for d in frame.closed_dates}),
        auto_reply=frame.auto_reply if frame.auto_reply and frame.auto_reply.strip() else None,
    )


class BusinessHours:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._zone_hooks: list[ZoneHook] = []

    def on_zone_change(self, hook: ZoneHook) -> None:
        self._zone_hooks.append(hook)

    async def get(self, account: Account) -> dict[str, Any]:
        if account.user.role.is_client:
            raise errors.Forbidden("business hours are for staff")
        async with self._db.read() as conn:
            return asdict(await load(conn, account.user.firm_id))

    async def set(self, account: Account, frame: BusinessHoursSet) -> dict[str, Any]:
        if account.user.role is not Role.OWNER:
            raise errors.Forbidden("only owners change the firm's business hours")
        hours, now, firm_id = _checked(frame), self._clock.now(), account.user.firm_id
        async with self._db.write() as conn:
            before = await load(conn, firm_id)
            await hours_store.set_hours(conn, firm_id, hours, now)
            if hours.time_zone != before.time_zone:
                await self._zone_changed(conn, firm_id, now)
        return asdict(hours)

    async def set_zone(self, conn: AsyncConnection, account: Account, name: str, now: datetime) -> None:
        """Only the firm's time zone, in the caller's transaction (the generated-email settings'
        ``time_zone``): owners change it; anyone who may call it may give the current one."""
        zone(name)
        firm_id = account.user.firm_id
        if name == (await load(conn, firm_id)).time_zone:
            return
        if account.user.role is not Role.OWNER:
            raise errors.Forbidden("only owners change the firm's time zone")
        await hours_store.set_time_zone(conn, firm_id, name, now)
        await self._zone_changed(conn, firm_id, now)

    async def _zone_changed(self, conn: AsyncConnection, firm_id: int, now: datetime) -> None:
        for hook in self._zone_hooks:
            await hook(conn, firm_id, now)
