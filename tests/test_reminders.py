"""Reply reminders: the client's contacts are emailed (a real SMTP server receives) when they have
not answered the firm's last message, every interval_days, up to count; they stop when the client
answers, the thread is archived or they are turned off, and start over on a new staff message or
when the thread comes back. Time moves with the offset clock."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import httpx

from chatd.services.context import Services
from tests.conftest import Cast, Connect, chatd_server, make_cast, new_id
from tests.mail import MailServer
from tests.support import ChatdProcess, WsClient
from tests.timing import TestClock

DAY = 86400.0


server = chatd_server(with_mail=True)


def reminders_to(mail: MailServer, address: str) -> list[EmailMessage]:
    return [m for m in mail.to(address) if str(m["Subject"]).startswith("Reminder:")]


async def wait_for_reminders(mail: MailServer, address: str, count: int, timeout: float = 10.0) -> list[EmailMessage]:
    """The reminder emails to ``address`` once there are ``count``; then a moment more, to see no more come."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(reminders_to(mail, address)) < count:
        if loop.time() > deadline:
            raise TimeoutError(f"{len(reminders_to(mail, address))} reminders to {address}, not {count}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    return reminders_to(mail, address)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def open_with_reminders(staff: WsClient, cast: Cast, body: str, **reminders: Any) -> int:
    opened = await staff.ok(
        "thread.create",
        subject="Your 2026 tax return",
        body=body,
        client_msg_id=new_id(),
        client_account_id=cast.client.client_account_id,
        reminders=reminders,
    )
    thread_id: int = opened["thread"]["id"]
    return thread_id


async def test_reminders_go_out_every_interval_up_to_the_count(
    cast: Cast, connect: Connect, clock: TestClock, mail: MailServer
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = await open_with_reminders(staff, cast, "Please send your **payslips**.", interval_days=2, count=2)
    state = (await staff.ok("reminders.get", thread_id=thread_id))["reminders"]
    assert state["enabled"] is True
    assert (state["interval_days"], state["count"], state["sent"]) == (2, 2, 0)
    assert state["next_at"] is not None

    clock.advance(DAY)
    assert await wait_for_reminders(mail, cast.client.email, 0) == []
    clock.advance(DAY + 60)
    [first] = await wait_for_reminders(mail, cast.client.email, 1)
    assert "Please send your **payslips**." in text_of(first)
    assert f"https://chat.cabinet.test/?thread={thread_id}" in text_of(first)
    html = first.get_body(("html",))
    assert html is not None
    assert "<strong>payslips</strong>" in str(html.get_content())
    clock.advance(2 * DAY + 60)
    assert len(await wait_for_reminders(mail, cast.client.email, 2)) == 2
    clock.advance(5 * DAY)
    assert len(await wait_for_reminders(mail, cast.client.email, 2)) == 2
    state = (await staff.ok("reminders.get", thread_id=thread_id))["reminders"]
    assert (state["sent"], state["next_at"]) == (2, None)


async def test_a_client_answer_stops_them_and_a_new_staff_message_starts_over(
    cast: Cast, connect: Connect, clock: TestClock, mail: MailServer
) -> None:
    staff, client = await connect(cast.token(cast.staff)), await connect(cast.token(cast.client))
    thread_id = await open_with_reminders(staff, cast, "Did you sign?", interval_days=1, count=3)
    await client.ok("send", thread_id=thread_id, body="Yes, done.", client_msg_id=new_id())
    assert (await staff.ok("reminders.get", thread_id=thread_id))["reminders"]["next_at"] is None
    clock.advance(1.5 * DAY)
    assert await wait_for_reminders(mail, cast.client.email, 0) == []

    await staff.ok("send", thread_id=thread_id, body="One more signature, page 3.", client_msg_id=new_id())
    # A note or a private message is not something to remind the client of.
    await staff.ok("send", thread_id=thread_id, body="internal", kind="note", client_msg_id=new_id())
    clock.advance(DAY + 60)
    [reminder] = await wait_for_reminders(mail, cast.client.email, 1)
    assert "One more signature, page 3." in text_of(reminder)


async def test_archiving_stops_them_and_unarchiving_arms_them_as_new(
    cast: Cast, connect: Connect, clock: TestClock, mail: MailServer
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = await open_with_reminders(staff, cast, "Your invoice is attached.", interval_days=1, count=1)
    await staff.ok("threads.act", thread_ids=[thread_id], action={"type": "archive"})
    assert (await staff.ok("reminders.get", thread_id=thread_id))["reminders"]["next_at"] is None
    clock.advance(2 * DAY)
    assert await wait_for_reminders(mail, cast.client.email, 0) == []
    await staff.ok("threads.act", thread_ids=[thread_id], action={"type": "unarchive"})
    state = (await staff.ok("reminders.get", thread_id=thread_id))["reminders"]
    assert (state["sent"], state["next_at"] is not None) == (0, True)
    clock.advance(DAY + 60)
    assert len(await wait_for_reminders(mail, cast.client.email, 1)) == 1


async def test_turned_off_they_stop_and_resend_now_sends_one_at_once(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock, mail: MailServer
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = await open_with_reminders(staff, cast, "Can we meet Tuesday?", interval_days=1, count=5)
    off = await staff.ok("reminders.set", thread_id=thread_id, enabled=False)
    assert (off["reminders"]["enabled"], off["reminders"]["next_at"]) == (False, None)
    clock.advance(2 * DAY)
    assert await wait_for_reminders(mail, cast.client.email, 0) == []

    headers = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        resent = await http.post(f"/api/threads/{thread_id}/reminders/resend")
        assert resent.status_code == 200, resent.text
        [reminder] = await wait_for_reminders(mail, cast.client.email, 1)
        assert "Can we meet Tuesday?" in text_of(reminder)
        # The staff member who set them up (no assignee) is told, even though they are off.
        told = await staff.event("notification", notification__kind="reminder", timeout=10)
        assert told["data"]["notification"]["summary"] == "A reply reminder was emailed to the client"
        on = await http.put(f"/api/threads/{thread_id}/reminders", json={"interval_days": 7})
        assert on.status_code == 200, on.text
        assert (on.json()["reminders"]["enabled"], on.json()["reminders"]["count"]) == (True, 1)
        got = await http.get(f"/api/threads/{thread_id}/reminders")
        assert got.json() == on.json()


async def test_bad_requests_change_nothing(cast: Cast, connect: Connect, services: Services) -> None:
    staff, client = await connect(cast.token(cast.staff)), await connect(cast.token(cast.client))
    thread_id = await open_with_reminders(staff, cast, "Hello", interval_days=3, count=1)
    before = await staff.ok("reminders.get", thread_id=thread_id)
    for fields in ({"interval_days": 0}, {"count": 0}, {"count": 21}, {"interval_days": 366}):
        answer = await staff.call("reminders.set", thread_id=thread_id, **fields)
        assert answer["code"] == "bad_request", (fields, answer)
    assert (await client.call("reminders.set", thread_id=thread_id))["code"] == "forbidden"
    refused = await client.call(
        "thread.create", subject="x", body="x", client_msg_id=new_id(), reminders={"interval_days": 1}
    )
    assert refused["code"] == "forbidden"
    assert "x" not in [t["subject"] for t in (await client.ok("threads"))["threads"]]
    assert await staff.ok("reminders.get", thread_id=thread_id) == before

    await client.ok("send", thread_id=thread_id, body="Answered", client_msg_id=new_id())
    assert (await staff.call("reminders.resend", thread_id=thread_id))["code"] == "conflict"

    other = await make_cast(services)
    stranger = await connect(other.token(other.staff))
    for op in ("reminders.get", "reminders.set", "reminders.resend"):
        assert (await stranger.call(op, thread_id=thread_id))["code"] == "not_found"


async def test_the_staff_in_charge_is_notified_when_a_reminder_goes_out(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock, mail: MailServer
) -> None:
    """Kind ``reminder`` through the notification settings: the assignee (offline, email chosen) gets
    an email; without an assignee, whoever turned reminders on is notified in the app."""
    headers = {"Authorization": f"Bearer {cast.token(cast.staff2)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        chosen = await http.patch("/api/notifications/settings", json={"channels": {"reminder": ["in_app", "email"]}})
        assert chosen.status_code == 200, chosen.text
    staff = await connect(cast.token(cast.staff))
    assigned = await open_with_reminders(staff, cast, "Your VAT return, please.", interval_days=1, count=2)
    await staff.ok("threads.act", thread_ids=[assigned], action={"type": "assign", "user_id": cast.staff2.id})
    # The assignment's own email first, once its batching window is over: sent on the day the reminder
    # goes out, it could carry the reminder or go just before it.
    clock.advance(130)
    [told_assigned] = await asyncio.to_thread(mail.wait_for, cast.staff2.email)
    assert "assigned a conversation to you" in text_of(told_assigned)
    clock.advance(DAY + 60)
    await wait_for_reminders(mail, cast.client.email, 1)
    clock.advance(130)  # the notification email's batching window
    email = (await asyncio.to_thread(mail.wait_for, cast.staff2.email, 2))[-1]
    assert "Reply reminder 1 of 2 emailed to the client" in text_of(email)
    assert f"https://chat.cabinet.test/?thread={assigned}" in text_of(email)
    # The assignee is in charge: the staff member who turned them on is not told.
    assert [
        e for e in staff.events if e["type"] == "notification" and e["data"]["notification"]["kind"] == "reminder"
    ] == []

    unassigned = await open_with_reminders(staff, cast, "Your payslips, please.", interval_days=1, count=1)
    clock.advance(DAY + 60)
    told = await staff.event("notification", notification__kind="reminder", timeout=10)
    assert told["data"]["notification"]["thread_id"] == unassigned
    assert told["data"]["notification"]["summary"] == "Reply reminder 1 of 1 emailed to the client"
