"""Business hours: owners set them (days, time zone, closed dates, the automatic reply); the
scheduler and the automatic replies read them as a calendar."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

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


def calendar_of(hours: StoredHours) -> Calendar:
    week = tuple(tuple(parse_interval(interval, day) for interval in hours.week.get(day, [])) for day in WEEKDAYS)
    return Calendar(zone(hours.time_zone), week, frozenset(date.fromisoformat(d) for d in hours.closed_dates))


async def load(conn: AsyncConnection, firm_id: int) -> StoredHours:
    return await hours_store.get_hours(conn, firm_id) or NO_HOURS


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

    async def get(self, account: Account) -> dict[str, Any]:
        if account.user.role.is_client:
            raise errors.Forbidden("business hours are for staff")
        async with self._db.read() as conn:
            return asdict(await load(conn, account.user.firm_id))

    async def set(self, account: Account, frame: BusinessHoursSet) -> dict[str, Any]:
        if account.user.role is not Role.OWNER:
            raise errors.Forbidden("only owners change the firm's business hours")
        hours = _checked(frame)
        async with self._db.write() as conn:
            await hours_store.set_hours(conn, account.user.firm_id, hours, self._clock.now())
        return asdict(hours)
