"""A firm's business hours as a calendar: open or closed at a moment, the next opening, the next
business morning. Times are local to the firm's time zone; closed dates are whole local days."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatd import errors

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Far enough to step over any holiday season; a calendar with no opening within it is closed for good.
_HORIZON_DAYS = 400

Interval = tuple[time, time]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name, or a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.BadRequest(f"time zone {name!r} does not exist (use an IANA name like Europe/Paris)") from None


def parse_interval(raw: list[str], day: str) -> Interval:
    if len(raw) != 2:
        raise errors.BadRequest(f"{day}: an interval is [start, end], e.g. ['09:00', '12:00']")
    try:
        start, end = (time.fromisoformat(part) for part in raw)
    except ValueError:
        raise errors.BadRequest(f"{day}: {raw!r} is not two HH:MM times") from None
    if start >= end:
        raise errors.BadRequest(f"{day}: an interval must end after it starts ({raw[0]}-{raw[1]})")
    return start, end


def check_day(intervals: list[Interval], day: str) -> list[Interval]:
    ordered = sorted(intervals)
    for (_, end), (start, _) in itertools.pairwise(ordered):
        if start < end:
            raise errors.BadRequest(f"{day}: intervals overlap")
    return ordered


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    # Index 0 is Monday, as date.weekday().
    week: tuple[tuple[Interval, ...], ...]
    closed: frozenset[date]

    def _day(self, day: date) -> tuple[Interval, ...]:
        return () if day in self.closed else self.week[day.weekday()]

    def _moment(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, self.zone).astimezone(UTC)

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return any(start <= local.time() < end for start, end in self._day(local.date()))

    def next_opening(self, moment: datetime) -> datetime | None:
        """The first start of an interval after ``moment``; None when the firm never opens."""
        day = moment.astimezone(self.zone).date()
        for offset in range(_HORIZON_DAYS):
            current = day + timedelta(days=offset)
            for start, _ in self._day(current):
                opening = self._moment(current, start)
                if opening > moment:
                    return opening
        return None

    def next_business_morning(self, moment: datetime) -> datetime | None:
        """The opening of the first business day whose first interval starts after ``moment``:
        before opening that is today's, later in the day the next business day's."""
        day = moment.astimezone(self.zone).date()
        for offset in range(_HORIZON_DAYS):
            current = day + timedelta(days=offset)
            intervals = self._day(current)
            if intervals:
                opening = self._moment(current, intervals[0][0])
                if opening > moment:
                    return opening
        return None
