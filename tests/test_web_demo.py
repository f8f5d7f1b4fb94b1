"""The README's promise: run `chatd demo`, sign in as staff in one browser window and as the client in
another, and chat live."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from playwright.async_api import expect

from tests.support import free_port
from tests.test_demo import _run_demo
from tests.web_support import chromium, log_in, new_page


async def test_staff_and_client_chat_live_on_the_demo(tmp_path: Path) -> None:
    port = free_port()
    process, logins = _run_demo(tmp_path, port)
    try:
        staff_email = next(email for email, (role, _) in logins.items() if role == "staff")
        client_email = next(email for email in logins if email.startswith("claire"))
        async with chromium() as browser:
            _, staff = await new_page(browser, f"http://127.0.0.1:{port}")
            _, client = await new_page(browser, f"http://127.0.0.1:{port}")
            await log_in(staff, staff_email, logins[staff_email][1])
            await log_in(client, client_email, logins[client_email][1])
            welcome = re.compile("Welcome to your client space")
            await client.get_by_role("navigation").get_by_role("link", name=welcome).click()
            await staff.get_by_role("navigation").get_by_role("link", name=welcome).click()
            composer = client.get_by_role("textbox", name="Message")
            await composer.fill("Hello! Is my tax return ready?")
            await composer.press("Enter")
            await expect(staff.get_by_role("log").get_by_text("Hello! Is my tax return ready?")).to_be_visible()
            reply = staff.get_by_role("textbox", name="Message")
            await reply.fill("Almost, tomorrow morning.")
            await reply.press("Enter")
            await expect(client.get_by_role("log").get_by_text("Almost, tomorrow morning.")).to_be_visible()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
