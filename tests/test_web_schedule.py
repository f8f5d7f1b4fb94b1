"""Scheduled sends in the web client: staff schedule a message, see it waiting, cancel one, and the
other goes out when the server's clock reaches its time (moved with CHATD_CLOCK_FILE)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import expect

from tests.support import ChatdProcess, seeder
from tests.timing import TestClock
from tests.web_support import chromium, open_thread, screenshot, seed_leroy, signed_in, start_thread


async def test_a_scheduled_message_waits_can_be_cancelled_and_goes_out_when_due(tmp_path: Path) -> None:
    clock = TestClock(tmp_path / "clock")
    env = clock.env
    server = ChatdProcess(tmp_path, env=env)
    server.start()
    try:
        async with seeder(tmp_path, env) as services:
            anne, claire = await seed_leroy(services)
        async with chromium() as browser:
            staff, client = await signed_in(browser, server.base_url, anne.email, claire.email)
            await start_thread(staff, "Documents for your return", "We need three documents.")
            await open_thread(client, "Documents for your return")
            await expect(client.get_by_role("log").get_by_text("We need three documents.")).to_be_visible()

            composer = staff.get_by_role("textbox", name="Message")
            for text in ("Reminder: the documents are due Friday.", "Second reminder, to cancel."):
                await composer.fill(text)
                await staff.get_by_role("button", name="Schedule send").click()
                await (
                    staff.get_by_role("group", name="Send this message later")
                    .get_by_role("button", name="Schedule")
                    .click()
                )
                await expect(staff.get_by_role("region", name=re.compile("scheduled message"))).to_contain_text(text)
            waiting = staff.get_by_role("region", name="2 scheduled messages")
            await expect(waiting).to_contain_text("Will be sent")
            await screenshot(staff, "scheduled")
            await waiting.get_by_role("listitem").filter(has_text="Second reminder").get_by_role("button").click()
            await expect(staff.get_by_role("region", name="1 scheduled message")).not_to_contain_text("Second")
            await expect(client.get_by_role("log")).not_to_contain_text("Reminder")

            clock.advance(2 * 3600)  # the server's clock moves past the default time (in one hour)
            for page in (staff, client):
                await expect(
                    page.get_by_role("log").get_by_text("Reminder: the documents are due Friday.")
                ).to_be_visible()
            await expect(staff.get_by_role("region", name=re.compile("scheduled message"))).to_be_hidden()
            await expect(client.get_by_role("log")).not_to_contain_text("Second reminder")
    finally:
        server.stop()
