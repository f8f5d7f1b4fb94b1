"""@mentions: parsed by the server at send, a durable ``mention`` event and a notification for the
teammate, who joins the thread; clients only reach staff already in it; the autocomplete op; bots."""

from __future__ import annotations

import asyncio
from typing import Any

from chatd.client import Bot, MentionEvent
from chatd.services.context import Services
from protocol.values import Role, User
from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import ChatdProcess, WsClient, new_firm


async def handle_of(staff: WsClient, thread_id: int, query: str) -> dict[str, Any]:
    found = (await staff.ok("mention.suggest", thread_id=thread_id, query=query))["users"]
    assert len(found) == 1, found
    return dict(found[0])


async def test_a_mentioned_teammate_is_told_notified_and_joins(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    client = await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    mate = await handle_of(staff, thread_id, "staff 2")
    assert mate == {
        "id": cast.staff2.id,
        "name": "Staff 2",
        "handle": mate["handle"],
        "role": "staff",
        "in_thread": False,
    }
    body = f"Can you check this, @{mate['handle']}? Thanks @nobody."
    sent = (await staff.ok("send", thread_id=thread_id, body=body, client_msg_id=new_id(), kind="note"))["message"]
    span = f'<span class="mention" data-user-id="{cast.staff2.id}">@{mate["handle"]}</span>'
    assert span in sent["html"]
    assert "@nobody" in sent["html"]
    mention = await staff2.event("mention", message__id=sent["id"])
    assert mention["event_id"] is not None
    assert mention["data"]["author_id"] == cast.staff.id
    assert mention["data"]["message"]["body"] == body
    notified = await staff2.event("notification", notification__kind="mention", timeout=10)
    assert notified["data"]["notification"]["message_id"] == sent["id"]
    assert (await handle_of(staff, thread_id, mate["handle"]))["in_thread"] is True  # joined the thread
    # Durable: a later session replays it.
    later = await connect(cast.token(cast.staff2))
    await later.ok("resume", after_event_id=mention["event_id"] - 1)
    assert (await later.event("mention", message__id=sent["id"]))["event_id"] == mention["event_id"]
    # By full name, in a message; nobody else gets the mention event.
    by_name = await staff.ok("send", thread_id=thread_id, body="Over to @Staff 2.", client_msg_id=new_id())
    assert f'data-user-id="{cast.staff2.id}">@Staff 2</span>.' in by_name["message"]["html"]
    await staff2.event("mention", message__id=by_name["message"]["id"])
    assert await client.quiet(0.3, "mention") == []
    assert await staff.quiet(0.1, "mention") == []


def notifications_of(client: WsClient, message_id: int) -> list[str]:
    return [
        e["data"]["notification"]["kind"]
        for e in client.events
        if e["type"] == "notification" and e["data"]["notification"]["message_id"] == message_id
    ]


async def test_a_teammate_following_the_thread_is_notified_once_of_a_message_mentioning_them(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    client = await connect(cast.token(cast.client))
    opened = await staff.ok(
        "thread.create",
        subject="Lease renewal",
        body="Starting.",
        client_msg_id=new_id(),
        client_account_id=cast.client.client_account_id,
        participants=[cast.staff2.id],
    )
    mate = await handle_of(staff, opened["thread"]["id"], "staff 2")
    assert mate["in_thread"] is True
    sent = await staff.ok(
        "send", thread_id=opened["thread"]["id"], body=f"@{mate['handle']} can you call them?", client_msg_id=new_id()
    )
    message_id = sent["message"]["id"]
    await staff2.event("notification", notification__kind="mention", notification__message_id=message_id, timeout=10)
    # The client's new-message notification shows the fan-out job has read this message.
    await client.event(
        "notification", notification__kind="new_message", notification__message_id=message_id, timeout=10
    )
    await staff2.quiet(0.5)
    assert notifications_of(staff2, message_id) == ["mention"]


async def test_an_edit_tells_only_the_people_it_newly_mentions(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    mate = await handle_of(staff, thread_id, "staff 2")
    assert mate["in_thread"] is False
    note = await staff.ok("send", thread_id=thread_id, body="Check the lease.", client_msg_id=new_id(), kind="note")
    message_id = note["message"]["id"]
    edited = await staff.ok("edit", message_id=message_id, body=f"Check the lease, @{mate['handle']}.")
    assert f'data-user-id="{cast.staff2.id}"' in edited["message"]["html"]
    mention = await staff2.event("mention", message__id=message_id)
    assert mention["data"]["message"]["body"] == f"Check the lease, @{mate['handle']}."
    await staff2.event("notification", notification__kind="mention", notification__message_id=message_id, timeout=10)
    assert (await handle_of(staff, thread_id, mate["handle"]))["in_thread"] is True  # joined, as at send
    # Edited again, the mention kept: nobody is told twice.
    await staff.ok("edit", message_id=message_id, body=f"Check the lease today, @{mate['handle']}.")
    await staff2.event("message.updated", message__body=f"Check the lease today, @{mate['handle']}.")
    await staff2.quiet(0.5)
    assert len([e for e in staff2.events if e["type"] == "mention"]) == 1
    assert notifications_of(staff2, message_id) == ["mention"]


async def test_clients_only_mention_staff_already_in_the_thread(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    client = await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    suggested = (await client.ok("mention.suggest", thread_id=thread_id, query=""))["users"]
    assert [u["id"] for u in suggested] == [cast.staff.id]
    me = suggested[0]
    outsider = (await staff.ok("mention.suggest", thread_id=thread_id, query="staff 2"))["users"][0]
    body = f"@{outsider['handle']} and @{me['handle']}: hello"
    sent = (await client.ok("send", thread_id=thread_id, body=body, client_msg_id=new_id()))["message"]
    assert f'data-user-id="{cast.staff.id}"' in sent["html"]
    assert f'data-user-id="{cast.staff2.id}"' not in sent["html"]
    await staff.event("mention", message__id=sent["id"])
    assert await staff2.quiet(0.3, "mention") == []
    assert (await handle_of(staff, thread_id, outsider["handle"]))["in_thread"] is False
    # Another firm's thread, or one the client does not see: not_found.
    other_thread = (await open_thread(staff, cast.other_client))["thread"]["id"]
    refused = await client.call("mention.suggest", thread_id=other_thread, query="")
    assert refused["code"] == "not_found"


async def test_a_bot_on_mention_answers_through_the_sdk(
    server: ChatdProcess, services: Services, connect: Connect
) -> None:
    firm = await new_firm(services)
    staff_user = await firm.user(Role.STAFF)
    client_user = await firm.user(Role.CLIENT)
    bot_user = await firm.user(Role.BOT)
    staff = await connect(await firm.token(staff_user))
    thread_id = (await open_thread(staff, client_user))["thread"]["id"]
    bot = Bot(server.ws_url, await firm.token(bot_user))
    ready = asyncio.Event()
    seen: list[MentionEvent] = []

    @bot.on_ready
    async def connected(me: User) -> None:
        ready.set()

    @bot.on_mention
    async def mentioned(event: MentionEvent) -> str:
        seen.append(event)
        return "At your service."

    serving = asyncio.create_task(bot.serve())
    try:
        await asyncio.wait_for(ready.wait(), 10)
        handle = (await handle_of(staff, thread_id, "bot"))["handle"]
        sent = (await staff.ok("send", thread_id=thread_id, body=f"@{handle} status?", client_msg_id=new_id()))[
            "message"
        ]
        answer = await staff.event("message.created", message__author_id=bot_user.id, timeout=10)
        assert answer["data"]["message"]["body"] == "At your service."
        assert answer["data"]["message"]["thread_id"] == thread_id
        assert [(e.type, e.message.id if e.message else None) for e in seen] == [("mention", sent["id"])]
    finally:
        bot.stop()
        await asyncio.wait_for(serving, 10)
