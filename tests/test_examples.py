"""The terminal chat example talks to a running chatd with nothing but the protocol."""

from __future__ import annotations

import asyncio
import sys

from protocol.values import Role
from tests.conftest import Connect, new_id
from tests.support import ROOT, ChatdProcess, new_firm


async def test_terminal_chat_sends_and_shows_messages(server: ChatdProcess, services: object, connect: Connect) -> None:
    firm = await new_firm(services)  # type: ignore[arg-type]
    staff = await firm.user(Role.STAFF)
    client = await firm.user(Role.CLIENT, password="terminal-pass")
    staff_ws = await connect(await firm.token(staff))
    thread = await staff_ws.ok(
        "thread.create",
        subject="Rent",
        body="Your rent is due.",
        client_msg_id=new_id(),
        client_account_id=client.client_account_id,
    )
    thread_id = thread["thread"]["id"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "terminal_chat.py"),
        "--url",
        server.base_url,
        "--email",
        client.email,
        "--password",
        "terminal-pass",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    seen = []
    while not any("Your rent is due." in line for line in seen):
        seen.append((await asyncio.wait_for(process.stdout.readline(), 15)).decode())
    process.stdin.write(b"Paid this morning.\n")
    await process.stdin.drain()
    arrived = await staff_ws.event("message.created", message__body="Paid this morning.")
    assert arrived["data"]["message"]["author_id"] == client.id
    await staff_ws.ok("send", thread_id=thread_id, body="Thank you!", client_msg_id=new_id())
    while not any("Thank you!" in line for line in seen):
        seen.append((await asyncio.wait_for(process.stdout.readline(), 15)).decode())
    process.stdin.close()
    await asyncio.wait_for(process.wait(), 15)
    assert process.returncode == 0
