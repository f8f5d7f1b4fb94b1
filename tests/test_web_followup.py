"""The follow-up panel in the web client: staff turn reply reminders on for a conversation, remind the
client now (a real SMTP server receives the email), and set up a recurring message that they pause,
resume, see posted when the server's clock reaches it, and stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import expect

from tests.mail import MailServer
from tests.support import ChatdProcess, WsClient, seeder
from tests.timing import TestClock
from tests.web_support import chromium, open_thread, screenshot, seed_leroy, signed_in, start_thread


def next_monday_nine_utc(now: datetime) -> datetime:
    """When "every week, on Monday at 09:00" next fires (the firm has no time zone set: UTC)."""
    now = now.astimezone(UTC)
    moment = now.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=-now.weekday() % 7)
    return moment if moment > now else moment + timedelta(days=7)


async def reminders_to(mail: MailServer, address: str, count: int) -> None:
    for _ in range(200):
        if len([m for m in mail.to(address) if str(m["Subject"]).startswith("Reminder:")]) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} reminder emails to {address}")


async def test_staff_set_reminders_and_a_recurring_message_from_the_follow_up_panel(tmp_path: Path) -> None:
    clock = TestClock(tmp_path / "clock")
    mail = MailServer()
    mail.start()
    env = {**clock.env, "CHATD_SMTP_URL": mail.url, "CHATD_MAIL_FROM": "Cabinet <noreply@leroy.test>"}
    server = ChatdProcess(tmp_path, env=env)
    server.start()
    try:
        async with seeder(tmp_path, env) as services:
            anne, claire = await seed_leroy(services)
            token = (await services.directory.create_token(anne.id))[1]
        async with chromium() as browser:
            staff, client = await signed_in(browser, server.base_url, anne.email, claire.email)
            await start_thread(staff, "Receipts", "Could you send last month's receipts?")
            await open_thread(client, "Receipts")
            await expect(client.get_by_role("log").get_by_text("Could you send last month's receipts?")).to_be_visible()
            await expect(client.get_by_role("button", name="Follow-up")).to_have_count(0)  # staff only

            await staff.get_by_role("button", name="Follow-up").click()
            panel = staff.get_by_role("complementary", name="Follow-up")
            status = panel.locator("#reminders-status")
            await expect(status).to_have_text("Off")
            await panel.get_by_label("Email the client a reminder while they do not answer").check()
            await panel.get_by_label("Every (days)").fill("2")
            await panel.get_by_label("Up to (reminders)").fill("3")
            await panel.get_by_role("button", name="Save reminders").click()
            await expect(status).to_contain_text("0 of 3 reminders sent · next")

            await panel.get_by_role("button", name="Remind now").click()
            await reminders_to(mail, claire.email, 1)

            await panel.get_by_label("Text").fill("Please send this week's receipts.")
            await panel.get_by_label("Repeat").select_option(label="Every week")
            await panel.get_by_label("On", exact=True).select_option(label="Monday")
            await panel.get_by_label("At", exact=True).fill("09:00")
            await panel.get_by_role("button", name="Add recurring message").click()
            item = panel.get_by_role("listitem").filter(has_text="Please send this week's receipts.")
            await expect(item).to_contain_text("Every Monday at 09:00")
            await expect(item).to_contain_text("next")
            await panel.evaluate("panel => { panel.scrollTop = 0; }")
            await screenshot(staff, "follow-up")
            await item.get_by_role("button", name="Pause").click()
            await expect(item).to_contain_text("Paused")
            await item.get_by_role("button", name="Resume").click()
            await expect(item).to_contain_text("next")
            # Changed elsewhere (a bot, another tab): the panel follows the recurring.updated event, and
            # what is being typed in its form stays.
            await panel.get_by_label("Text").fill("Half written")
            elsewhere = await WsClient.connect(server.ws_url, token)
            (listed,) = (await elsewhere.ok("recurring.list"))["recurring"]
            await elsewhere.ok("recurring.update", recurring_id=listed["id"], paused=True)
            await expect(item).to_contain_text("Paused")
            await expect(panel.get_by_label("Text")).to_have_value("Half written")
            await elsewhere.ok("recurring.update", recurring_id=listed["id"], paused=False)
            await expect(item).to_contain_text("next")
            await elsewhere.close()

            clock.advance((next_monday_nine_utc(clock.now()) - clock.now()).total_seconds() + 30)
            posted = client.get_by_role("log").get_by_text("Please send this week's receipts.")
            await expect(posted).to_be_visible(timeout=15000)
            await expect(posted).to_have_count(1)

            # The client answered: reminding now is refused with the reason, and nothing is sent.
            await client.get_by_role("textbox", name="Message").fill("Here they are.")
            await client.get_by_role("button", name="Send").click()
            await expect(staff.get_by_role("log").get_by_text("Here they are.")).to_be_visible()
            await panel.get_by_role("button", name="Remind now").click()
            await expect(panel.get_by_role("alert").first).to_contain_text("answered")

            await item.get_by_role("button", name="Stop").click()
            await expect(item).to_have_count(0)
            await expect(panel).to_contain_text("No recurring message.")
            for page in (staff, client):  # the 401 is the page asking who is signed in before the login
                assert [e for e in page.errors if "401" not in e] == []  # type: ignore[attr-defined]
    finally:
        server.stop()
        mail.stop()
