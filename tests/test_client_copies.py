"""Copies of staff messages to the thread's clients by email (a real SMTP server receives them) and
SMS (a local server records the provider's requests): asked per message or by the author's default,
never for notes, retried when the provider fails, and an unreachable SMTP server leaves the rest of
the server working."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.conftest import Cast, Connect, chatd_server, new_id, open_thread, own_chatd
from tests.mail import MailServer
from tests.receiver import Receiver
from tests.support import ChatdProcess, WsClient, api, deliveries, free_port
from tests.timing import TestClock, iso

server = chatd_server(with_mail=True, with_sms=True)


async def set_phone(server: ChatdProcess, token: str, phone: str) -> None:
    async with api(server, token) as http:
        answer = await http.patch("/api/notifications/settings", json={"phone": phone})
        assert answer.status_code == 200, answer.text


async def test_a_message_copied_by_email_and_sms_reaches_the_client_and_a_note_never_does(
    server: ChatdProcess, cast: Cast, connect: Connect, mail: MailServer, sms: Receiver
) -> None:
    await set_phone(server, cast.token(cast.client), "+33 6 11 22 33 44")
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    seen = len(sms.received)
    await staff.ok(
        "send",
        thread_id=thread_id,
        body="Your **return** is filed.",
        client_msg_id=new_id(),
        copy_to=["email", "sms"],
    )
    [email] = await asyncio.to_thread(mail.wait_for, cast.client.email)
    assert email["Subject"] == "Your 2026 tax return"
    text = email.get_body(("plain",)).get_content()
    page = email.get_body(("html",)).get_content()
    assert f"{cast.staff.name} (Firm) wrote:" in text
    assert "Your **return** is filed." in text
    assert "<strong>return</strong>" in page
    assert f"https://chat.cabinet.test/?thread={thread_id}" in text
    request = (await asyncio.to_thread(sms.wait_for, seen + 1))[seen]
    payload = json.loads(request.body)
    assert payload["to"] == "+33 6 11 22 33 44"
    assert (
        payload["text"] == f"{cast.staff.name}: Your **return** is filed. https://chat.cabinet.test/?thread={thread_id}"
    )

    # A note asks for copies in vain; the other client account's users get nothing.
    await staff.ok(
        "send",
        thread_id=thread_id,
        body="Internal: check VAT",
        client_msg_id=new_id(),
        kind="note",
        copy_to=["email", "sms"],
    )
    await asyncio.sleep(1.5)
    assert len(mail.to(cast.client.email)) == 1
    assert len(sms.received) == seen + 1
    assert mail.to(cast.other_client.email) == []


async def test_the_authors_default_applies_unless_the_send_says_otherwise(
    server: ChatdProcess, cast: Cast, connect: Connect, mail: MailServer
) -> None:
    async with api(server, cast.token(cast.staff)) as http:
        changed = await http.patch("/api/notifications/settings", json={"copy_to_client": ["email"]})
        assert changed.json()["settings"]["copy_to_client"] == ["email"]
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]  # the opening message is copied
    await asyncio.to_thread(mail.wait_for, cast.client.email, 1)
    await staff.ok("send", thread_id=thread_id, body="No copy for this one", client_msg_id=new_id(), copy_to=[])
    async with api(server, cast.token(cast.staff)) as http:
        sent = await http.post(
            f"/api/threads/{thread_id}/messages", json={"body": "Copied by default", "client_msg_id": new_id()}
        )
        assert sent.status_code == 201, sent.text
    emails = await asyncio.to_thread(mail.wait_for, cast.client.email, 2)
    assert "Copied by default" in emails[1].get_body(("plain",)).get_content()
    await asyncio.sleep(1)
    assert len(mail.to(cast.client.email)) == 2
    assert all("No copy" not in m.get_body(("plain",)).get_content() for m in mail.to(cast.client.email))

    client = await connect(cast.token(cast.client))
    refused = await client.call("send", thread_id=thread_id, body="Me too", client_msg_id=new_id(), copy_to=["email"])
    assert refused["code"] == "bad_request"
    async with api(server, cast.token(cast.client)) as http:
        bad = await http.patch("/api/notifications/settings", json={"copy_to_client": ["pigeon"]})
        assert bad.status_code == 400


async def test_a_scheduled_message_keeps_its_copy_to_until_it_is_sent(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock, mail: MailServer, sms: Receiver
) -> None:
    await set_phone(server, cast.token(cast.client), "+33 6 55 44 33 22")
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    # The author's default is no copy: only what the send gave makes one.
    answer = await staff.ok(
        "send",
        thread_id=thread_id,
        body="Your VAT is due tomorrow.",
        client_msg_id=new_id(),
        send_at=iso(clock.now() + timedelta(hours=2)),
        copy_to=["email"],
    )
    scheduled = answer["scheduled"]
    assert scheduled["copy_to"] == ["email"]
    listed = await staff.ok("scheduled.list", thread_id=thread_id)
    assert [s["copy_to"] for s in listed["scheduled"]] == [["email"]]
    edited = await staff.ok("scheduled.edit", scheduled_id=scheduled["id"], copy_to=["sms", "email"])
    assert edited["scheduled"]["copy_to"] == ["email", "sms"]
    assert edited["scheduled"]["body"] == "Your VAT is due tomorrow."
    # The author's default changes meanwhile: the scheduled message keeps what it was given.
    async with api(server, cast.token(cast.staff)) as http:
        await http.patch("/api/notifications/settings", json={"copy_to_client": []})
    seen = len(sms.received)
    assert copied_texts(mail, cast.client.email) == []
    clock.advance(2 * 3600 + 5)
    [text] = await wait_copied(mail, cast.client.email, 1)
    assert "Your VAT is due tomorrow." in text
    request = (await asyncio.to_thread(sms.wait_for, seen + 1))[seen]
    assert json.loads(request.body)["to"] == "+33 6 55 44 33 22"
    sent = await staff.event("scheduled.updated", scheduled__state="sent")
    assert sent["data"]["scheduled"]["copy_to"] == ["email", "sms"]


async def test_a_scheduled_message_without_copy_to_follows_the_default_and_an_empty_one_makes_none(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock, mail: MailServer
) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    async with api(server, cast.token(cast.staff)) as http:
        await http.patch("/api/notifications/settings", json={"copy_to_client": ["email"]})
    at = iso(clock.now() + timedelta(hours=1))
    defaulted = await staff.ok("send", thread_id=thread_id, body="Default copy", client_msg_id=new_id(), send_at=at)
    assert defaulted["scheduled"]["copy_to"] is None
    scheduled_id = defaulted["scheduled"]["id"]
    sms_only = await staff.ok("scheduled.edit", scheduled_id=scheduled_id, copy_to=["sms"])
    assert sms_only["scheduled"]["copy_to"] == ["sms"]
    back = await staff.ok("scheduled.edit", scheduled_id=scheduled_id, copy_to=None)  # null: the default again
    assert back["scheduled"]["copy_to"] is None
    none = await staff.ok(
        "send", thread_id=thread_id, body="Chat only", client_msg_id=new_id(), send_at=at, copy_to=["email"]
    )
    await staff.ok("scheduled.edit", scheduled_id=none["scheduled"]["id"], copy_to=[])
    # Checked when scheduled or edited, so the author can still fix it: clients, and strangers' edits.
    client = await connect(cast.token(cast.client))
    refused = await client.call(
        "send", thread_id=thread_id, body="x", client_msg_id=new_id(), send_at=at, copy_to=["email"]
    )
    assert refused["code"] == "bad_request"
    staff2 = await connect(cast.token(cast.staff2))
    stranger = await staff2.call("scheduled.edit", scheduled_id=none["scheduled"]["id"], copy_to=["email"])
    assert stranger["code"] == "not_found"
    async with api(server, cast.token(cast.staff)) as http:
        listed = (await http.get("/api/scheduled", params={"thread_id": thread_id})).json()["scheduled"]
        assert {s["body"]: s["copy_to"] for s in listed} == {"Default copy": None, "Chat only": []}
        patched = await http.patch(f"/api/scheduled/{none['scheduled']['id']}", json={"copy_to": ["pigeon"]})
        assert patched.status_code == 400
    clock.advance(3600 + 5)
    await staff.event("scheduled.updated", scheduled__state="sent", scheduled__body="Chat only", timeout=10)
    await staff.event("scheduled.updated", scheduled__state="sent", scheduled__body="Default copy", timeout=10)
    await wait_copied(mail, cast.client.email, 1)
    await asyncio.sleep(1)
    [copied] = copied_texts(mail, cast.client.email)
    assert "Default copy" in copied


def copied_texts(mail: MailServer, address: str) -> list[str]:
    """The copies' texts among what the address received (an offline client is also notified)."""
    texts = [m.get_body(("plain",)).get_content() for m in mail.to(address)]
    return [t for t in texts if " wrote:" in t]


async def wait_copied(mail: MailServer, address: str, count: int) -> list[str]:
    for _ in range(100):
        if len(found := copied_texts(mail, address)) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} copies never reached {address}: {copied_texts(mail, address)}")


async def test_a_failed_sms_copy_is_retried_and_shown_meanwhile(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock, sms: Receiver
) -> None:
    await set_phone(server, cast.token(cast.client), "+33 6 99 88 77 66")
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    seen = len(sms.received)
    sms.fail_with(503, times=1)
    await staff.ok("send", thread_id=thread_id, body="Call me", client_msg_id=new_id(), copy_to=["sms"])
    await asyncio.to_thread(sms.wait_for, seen + 1)
    for _ in range(50):
        if any(
            "503" in (d["last_error"] or "")
            for d in await deliveries(server, cast.token(cast.staff), "pending", "copy.")
        ):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the refused copy is not shown as pending with its error")
    clock.advance(60)
    retried = (await asyncio.to_thread(sms.wait_for, seen + 2))[seen + 1]
    assert json.loads(retried.body)["text"].startswith(f"{cast.staff.name}: Call me")


async def test_an_unreachable_smtp_server_leaves_copies_pending_and_the_server_working(tmp_path: Path) -> None:
    env = {"CHATD_SMTP_URL": f"smtp://127.0.0.1:{free_port()}", "CHATD_SCHEDULER_TICK_MS": "100"}
    async with own_chatd(tmp_path, env) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff))
        try:
            thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
            await staff.ok("send", thread_id=thread_id, body="Copy me", client_msg_id=new_id(), copy_to=["email"])
            pending: list[dict[str, Any]] = []
            for _ in range(300):
                pending = await deliveries(process, cast.token(cast.staff), "pending", "copy.")
                if pending and pending[0]["last_error"]:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the copy's failed attempt was never recorded: {pending}")
            assert pending[0]["kind"] == "copy.email"
            assert pending[0]["attempts"] == 1
            assert "refused" in pending[0]["last_error"].lower() or "connect" in pending[0]["last_error"].lower()
            # The server goes on: the message is there and new ones are accepted.
            await staff.ok("send", thread_id=thread_id, body="Still here", client_msg_id=new_id())
            history = await staff.ok("history", thread_id=thread_id)
            assert [m["body"] for m in history["messages"]][-2:] == ["Copy me", "Still here"]
        finally:
            await staff.close()
