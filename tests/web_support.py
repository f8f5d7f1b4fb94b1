"""Browser tests' shared parts: Debian's chromium driven by Playwright, the Leroy firm's two people,
logins, starting and opening a conversation, screenshots."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from chatd.services.context import Services
from protocol.values import Role, User
from tests.support import ROOT, new_firm

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError("chromium is not installed; scripts/test installs the Debian package")
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(
    browser: Browser, base_url: str, *, locale: str = "en-US", width: int = 1280, height: int = 800
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=base_url, locale=locale, viewport={"width": width, "height": height})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    return context, page


async def seed_leroy(services: Services) -> tuple[User, User]:
    """Cabinet Leroy with Anne Leroy (staff) and her client Claire Dubois, both with ``PASSWORD``."""
    firm = await new_firm(services, "Cabinet Leroy")
    anne = await services.directory.create_user(
        firm_id=firm.id, email="anne@leroy.test", name="Anne Leroy", role=Role.STAFF, password=PASSWORD
    )
    claire = await services.directory.create_user(
        firm_id=firm.id, email="claire@client.test", name="Claire Dubois", role=Role.CLIENT, password=PASSWORD
    )
    return anne, claire


async def signed_in(browser: Browser, base_url: str, *emails: str) -> list[Page]:
    """A page per email, each in its own browser context, signed in."""
    pages = []
    for email in emails:
        _, page = await new_page(browser, base_url)
        await log_in(page, email)
        pages.append(page)
    return pages


async def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()


async def start_thread(page: Page, subject: str, body: str, client: str | None = "Claire Dubois") -> None:
    """Start a conversation from the page's "New conversation" form (staff pick the client)."""
    await page.get_by_role("link", name="New conversation").click()
    await page.get_by_label("Subject").fill(subject)
    if client is not None:
        await page.get_by_label("Client").select_option(label=client)
    await page.get_by_label("First message").fill(body)
    await page.get_by_role("button", name="Start conversation").click()
    await expect(page.get_by_role("heading", name=subject)).to_be_visible()


async def open_thread(page: Page, subject: str) -> None:
    await page.get_by_role("navigation").get_by_role("link", name=re.compile(re.escape(subject))).click()
    await expect(page.get_by_role("heading", name=subject)).to_be_visible()


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
