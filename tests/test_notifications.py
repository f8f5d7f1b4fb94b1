"""Notifications: live in the app, batched email to users who are not connected (a real SMTP
server receives them), SMS through a provider's HTTP API (a local server records the requests),
failed deliveries retried and shown to staff. Time moves with the offset clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Cast, Connect, chatd_server, new_id, open_thread, own_chatd
from tests.mail import MailServer
from tests.receiver import Receiver
from tests.support import ChatdProcess, WsClient, api, deliveries
from tests.timing import TestClock

WINDOW_S = 120


server = chatd_server(with_mail=True, with_sms=True, env={"CHATD_SMS_TOKEN": "sms-secret"})


async def test_an_offline_client_gets_one_email_for_what_arrived_in_the_window(
    cast: Cast, connect: Connect, clock: TestClock, mail: MailServer
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread = (await open_thread(staff, cast.client, body="Your return is ready to sign."))["thread"]
    await staff.ok("send", thread_id=thread["id"], body="Please sign **page 3** too.", client_msg_id=new_id())
    await staff.ok("send", thread_id=thread["id"], body="An internal note", client_msg_id=new_id(), kind="note")
    await asyncio.sleep(1)  # the fan-out runs every tick: the notifications are recorded
    assert mail.to(cast.client.email) == []  # nothing before the window ends

    clock.advance(WINDOW_S + 10)
    [email] = await asyncio.to_thread(mail.wait_for, cast.client.email)
    assert email["From"] == "Cabinet <noreply@cabinet.test>"
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert "Your return is ready to sign." in text
    assert "Please sign **page 3** too." in text
    assert "internal note" not in text + html  # notes never reach clients
    assert f"https://chat.cabinet.test/?thread={thread['id']}" in text
    assert f'href="https://chat.cabinet.test/?thread={thread["id"]}"' in html
    assert email["Subject"] == "2 new notifications"
    clock.advance(WINDOW_S + 10)
    await asyncio.sleep(1)
    assert len(mail.to(cast.client.email)) == 1  # batched once, never again


async def test_a_connected_user_gets_the_notification_live_and_no_email(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock, mail: MailServer
) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    live = await client.event("notification", notification__thread_id=thread_id, timeout=10)
    notification = live["data"]["notification"]
    assert notification["kind"] == "new_message"
    assert notification["summary"].startswith(cast.staff.name + ": ")
    before = len(await deliveries(server, cast.token(cast.staff), "done"))

    clock.advance(WINDOW_S + 10)
    for _ in range(100):
        if len(await deliveries(server, cast.token(cast.staff), "done")) > before:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the email batch was never handled")
    assert mail.to(cast.client.email) == []

    async with api(server, cast.token(cast.client)) as http:
        mine = (await http.get("/api/notifications", params={"unread": "true"})).json()["notifications"]
        assert notification["id"] in [n["id"] for n in mine]
        marked = await http.post("/api/notifications/read", json={"ids": [notification["id"]]})
        assert marked.json() == {"marked": 1}
        unread = (await http.get("/api/notifications", params={"unread": "true"})).json()["notifications"]
        assert notification["id"] not in [n["id"] for n in unread]


async def test_notifications_are_their_recipients_alone(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    client = await connect(cast.token(cast.client))
    await client.ok("send", thread_id=thread_id, body="Done, signed.", client_msg_id=new_id())
    await staff.event("notification", notification__thread_id=thread_id, timeout=10)
    # staff2 sees every thread of the firm but takes part in none: no notification, live or replayed.
    staff2 = await connect(cast.token(cast.staff2))
    await staff2.ok("resume", after_event_id=0)
    assert [e for e in staff2.events if e["type"] == "notification"] == []


async def listed(
    server: ChatdProcess, token: str, state: str, match: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first delivery in ``state`` that matches, waiting up to 20 s for it to be recorded."""
    for _ in range(200):
        found = [d for d in await deliveries(server, token, state) if match(d)]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {state} delivery matches")


async def test_sms_goes_through_the_provider_and_failures_are_retried_and_shown(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock, sms: Receiver
) -> None:
    async with api(server, cast.token(cast.client)) as http:
        defaults = (await http.get("/api/notifications/settings")).json()["settings"]
        assert defaults["channels"]["new_message"] == ["in_app", "email", "push"]
        changed = await http.patch(
            "/api/notifications/settings",
            json={"phone": "+33 6 12 34 56 78", "channels": {"new_message": ["sms", "in_app"]}},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["settings"]["channels"]["new_message"] == ["in_app", "sms"]
        assert changed.json()["settings"]["phone"] == "+33 6 12 34 56 78"
        bad = await http.patch("/api/notifications/settings", json={"channels": {"new_message": ["pigeon"]}})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "bad_request"

    staff = await connect(cast.token(cast.staff))
    seen = len(sms.received)
    sms.fail_with(503, times=1)
    thread_id = (await open_thread(staff, cast.client, body="Call me back"))["thread"]["id"]
    await asyncio.to_thread(sms.wait_for, seen + 1)  # the first attempt, refused
    # The refusal is recorded once the provider's answer is back, a moment after it was received.
    refused = await listed(server, cast.token(cast.staff), "pending", lambda d: "503" in (d["last_error"] or ""))
    assert refused["kind"] == "notify.sms"
    clock.advance(60)  # past the first backoff
    received = await asyncio.to_thread(sms.wait_for, seen + 2)
    request = received[seen + 1]
    assert request.headers["authorization"] == "Bearer sms-secret"
    payload = json.loads(request.body)
    assert payload["to"] == "+33 6 12 34 56 78"
    assert payload["from"] == "Cabinet"
    assert "Call me back" in payload["text"]
    assert f"?thread={thread_id}" in payload["text"]

    # The provider refuses a message for good: failed, shown to staff, and staff may retry it.
    sms.fail_with(400, times=1)
    await staff.ok("send", thread_id=thread_id, body="Second try", client_msg_id=new_id())
    await asyncio.to_thread(sms.wait_for, seen + 3)
    failed = await listed(server, cast.token(cast.staff), "failed", lambda d: d["kind"] == "notify.sms")
    assert "400" in failed["last_error"]
    async with api(server, cast.token(cast.client)) as http:
        assert (await http.get("/api/deliveries")).status_code == 404  # clients see no deliveries
    async with api(server, cast.token(cast.staff)) as http:
        retried = await http.post(f"/api/deliveries/{failed['id']}/retry")
        assert retried.status_code == 200, retried.text
        again = await http.post(f"/api/deliveries/{failed['id']}/retry")
        assert again.status_code == 404
    received = await asyncio.to_thread(sms.wait_for, seen + 4)
    assert "Second try" in json.loads(received[seen + 3].body)["text"]


async def test_each_recipient_of_each_new_message_gets_its_own_notification_once(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    """The fan-out records a batch of messages' notifications and their events in one statement
    each: every (recipient, message) pair gets one, matched to the right user and message."""
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    client = await connect(cast.token(cast.client))
    opened = await staff.ok(
        "thread.create",
        subject="Receipts",
        body="Send me the receipts.",
        client_msg_id=new_id(),
        client_account_id=cast.client.client_account_id,
        participants=[cast.staff2.id],
    )
    thread_id = opened["thread"]["id"]
    sent = await asyncio.gather(
        *(client.ok("send", thread_id=thread_id, body=f"Receipt {n}", client_msg_id=new_id()) for n in range(5))
    )
    message_ids = sorted(s["message"]["id"] for s in sent)

    def notified(frame: dict[str, Any]) -> bool:
        return frame.get("type") == "notification" and frame["data"]["notification"]["message_id"] in message_ids

    for who, user in ((staff, cast.staff), (staff2, cast.staff2)):
        for _ in range(100):
            if len([e for e in who.events if notified(e)]) >= len(message_ids):
                break
            await asyncio.sleep(0.1)
        mine = [e["data"]["notification"] for e in who.events if notified(e)]
        assert sorted(n["message_id"] for n in mine) == message_ids, user.id
        assert all(n["summary"].startswith(cast.client.name + ": Receipt ") for n in mine)
        async with api(server, cast.token(user)) as http:
            listed_ids = {n["id"] for n in (await http.get("/api/notifications")).json()["notifications"]}
        assert {n["id"] for n in mine} <= listed_ids
    assert [e for e in client.events if notified(e)] == []  # the author is not told of their own


async def test_a_message_sent_before_the_jobs_first_run_is_notified(tmp_path: Path) -> None:
    """The fan-out job's first run comes a tick after start; what was sent before it counts too."""
    async with own_chatd(tmp_path, {"CHATD_SCHEDULER_TICK_MS": "8000"}) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff))
        client = await WsClient.connect(process.ws_url, cast.token(cast.client))
        try:
            opened = await open_thread(staff, cast.client)
            await client.event(
                "notification",
                notification__kind="new_message",
                notification__message_id=opened["message"]["id"],
                timeout=30,
            )
        finally:
            await staff.close()
            await client.close()
