"""The automation ops (business hours, reply reminders, recurring messages): each frame to its
service call, and the result's shape. The HTTP API (chatd/api/automation.py) goes through here too."""

from __future__ import annotations

from typing import Any

from chatd.inbox_ops import set_fields
from chatd.services.context import Services
from chatd.services.reminders import check_may_configure
from protocol.frames import (
    AutomationFrame,
    BusinessHoursGet,
    BusinessHoursSet,
    RecurringCancel,
    RecurringCreate,
    RecurringList,
    RecurringUpdate,
    RemindersGet,
    ReminderSpec,
    RemindersResend,
    RemindersSet,
)
from storage.directory import Account


async def new_thread_reminders(
    services: Services, account: Account, spec: ReminderSpec | None, *, thread_id: int | None = None
) -> None:
    """``thread.create`` with ``reminders``: checked before the thread is made (``thread_id`` None),
    turned on once it is."""
    if spec is None:
        return
    if thread_id is None:
        check_may_configure(account)
        return
    await services.reminders.configure(
        account, thread_id=thread_id, enabled=True, interval_days=spec.interval_days, count=spec.count
    )


async def handle(services: Services, account: Account, frame: AutomationFrame) -> dict[str, Any]:
    match frame:
        case BusinessHoursGet():
            return {"business_hours": await services.business_hours.get(account)}
        case BusinessHoursSet():
            return {"business_hours": await services.business_hours.set(account, frame)}
        case RemindersGet():
            return {"reminders": await services.reminders.get(account, thread_id=frame.thread_id)}
        case RemindersSet():
            configured = await services.reminders.configure(
                account,
                thread_id=frame.thread_id,
                enabled=frame.enabled,
                interval_days=frame.interval_days,
                count=frame.count,
            )
            return {"reminders": configured}
        case RemindersResend():
            return {"reminders": await services.reminders.resend(account, thread_id=frame.thread_id)}
        case RecurringCreate():
            created = await services.recurring.create(
                account,
                thread_id=frame.thread_id,
                body=frame.body,
                rule=frame.rule,
                time_zone=frame.time_zone,
                ends_on=frame.ends_on,
            )
            return {"recurring": created}
        case RecurringList():
            found = await services.recurring.list(account, thread_id=frame.thread_id, include_ended=frame.include_ended)
            return {"recurring": found}
        case RecurringUpdate():
            changes = set_fields(frame, "recurring_id")
            return {
                "recurring": await services.recurring.update(account, recurring_id=frame.recurring_id, changes=changes)
            }
        case RecurringCancel():
            return {"recurring": await services.recurring.cancel(account, recurring_id=frame.recurring_id)}
