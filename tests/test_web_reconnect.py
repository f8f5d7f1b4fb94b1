"""The web client rides out a server restart: an offline banner, sends queued meanwhile and delivered
once, on both sides, after reconnecting and resuming."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import expect

from protocol.values import Role
from tests.support import ChatdProcess, new_firm, seeder
from tests.web_support import PASSWORD, chromium, log_in, new_page, screenshot

# The client retries with a jittered backoff capped at 8 s; allow for it and the server's start.
BACK_ONLINE_MS = 20_000


async def test_messages_typed_while_the_server_is_down_are_delivered_once(tmp_path: Path) -> None:
    server = ChatdProcess(tmp_path)
    server.start()
    try:
        async with seeder(tmp_path, server.env) as services:
            firm = await new_firm(services, "Cabinet Leroy")
            await services.directory.create_user(
                firm_id=firm.id, email="anne@leroy.test", name="Anne Leroy", role=Role.STAFF, password=PASSWORD
            )
            await services.directory.create_user(
                firm_id=firm.id, email="claire@client.test", name="Claire Dubois", role=Role.CLIENT, password=PASSWORD
            )
        async with chromium() as browser:
            _, staff = await new_page(browser, server.base_url)
            _, client = await new_page(browser, server.base_url)
            await log_in(staff, "anne@leroy.test")
            await log_in(client, "claire@client.test")
            await client.get_by_role("link", name="New conversation").click()
            await client.get_by_label("Subject").fill("Lease renewal")
            await client.get_by_label("First message").fill("Can we talk about the lease?")
            await client.get_by_role("button", name="Start conversation").click()
            await staff.get_by_role("navigation").get_by_role("link", name=re.compile("Lease renewal")).click()
            await expect(staff.get_by_role("log").get_by_text("Can we talk about the lease?")).to_be_visible()

            server.stop()
            await expect(staff.get_by_role("status")).to_contain_text("Reconnecting")
            composer = staff.get_by_role("textbox", name="Message")
            for text in ("Of course.", "Tomorrow at ten?"):
                await composer.fill(text)
                await composer.press("Enter")
            await expect(staff.get_by_text("Waiting for the connection")).to_have_count(2)
            await screenshot(staff, "offline")

            server.start()
            for page in (staff, client):
                log = page.get_by_role("log")
                await expect(log.get_by_text("Tomorrow at ten?")).to_be_visible(timeout=BACK_ONLINE_MS)
                await expect(log.get_by_text("Of course.")).to_have_count(1)
                await expect(log.get_by_text("Tomorrow at ten?")).to_have_count(1)
            await expect(staff.get_by_role("status")).to_be_hidden()
            await expect(staff.get_by_text("Waiting for the connection")).to_have_count(0)
            # Reloading shows the same, once: nothing was stored twice.
            await client.reload()
            await expect(client.get_by_role("log").get_by_text("Of course.")).to_have_count(1)
    finally:
        server.stop()
