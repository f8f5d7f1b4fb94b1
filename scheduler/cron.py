"""Cron rules ("0 9 1 * *": the 1st of every month at 9:00) in a time zone, through APScheduler's
CronTrigger, for recurring work: when a rule next fires."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger


class BadRule(ValueError):
    """The rule is not five cron fields APScheduler understands."""


def check(rule: str, zone: ZoneInfo) -> None:
    _trigger(rule, zone)


def next_after(rule: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The rule's first time strictly after ``after`` (an aware datetime)."""
    fire: datetime | None = _trigger(rule, zone).get_next_fire_time(None, after + timedelta(seconds=1))
    if fire is None:
        raise BadRule(f"the rule {rule!r} never fires again")
    return fire


def _trigger(rule: str, zone: ZoneInfo) -> CronTrigger:
    fields = rule.split()
    if len(fields) != 5:
        raise BadRule(f"a rule is five fields (minute hour day month day-of-week), not {rule!r}")
    if any(ch.isdigit() for ch in fields[4]):
        # Crontab counts days of the week from Sunday, APScheduler from Monday: names say it plainly.
        raise BadRule("name the days of the week (mon, tue, … sun; mon-fri), not numbers")
    try:
        return CronTrigger.from_crontab(rule, timezone=zone)
    except ValueError as exc:
        raise BadRule(f"bad rule {rule!r}: {exc}") from None
