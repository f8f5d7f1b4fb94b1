"""The web client rides out a server restart: an offline banner, sends queued meanwhile and delivered
once, on both sides, after reconnecting and resuming."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.support import ChatdProcess, seeder
from tests.web_support import chromium, open_thread, screenshot, seed_leroy, signed_in, start_thread

# The client retries with a jittered backoff capped at 8 s; allow for it and the server's start.
BACK_ONLINE_MS = 20_000


async def test_messages_typed_while_the_server_is_down_are_delivered_once(tmp_path: Path) -> None:
    server = ChatdProcess(tmp_path)
    server.start()
    try:
        async with seeder(tmp_path, server.env) as services:
            anne, claire = await seed_leroy(services)
        async with chromium() as browser:
            staff, client = await signed_in(browser, server.base_url, anne.email, claire.email)
            await start_thread(client, "Lease renewal", "Can we talk about the lease?", client=None)
            await open_thread(staff, "Lease renewal")
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
