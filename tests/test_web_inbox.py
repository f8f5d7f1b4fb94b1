"""The staff inbox in Debian's chromium: folders with live counts, the source filter, paging past one
page of threads, marks on rows, acting on a selection, and search with filters and highlighted hits."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
from playwright.async_api import Page, expect

from chatd.services.context import Services
from protocol.values import Role, User
from tests.support import ChatdProcess, http, new_firm
from tests.web_support import PASSWORD, chromium, log_in, new_page, screenshot

SECOND = 1000
SEEDED = 103  # more than one page of 100 threads


@dataclass
class Inbox:
    anne: Page
    bruno: Page
    claire: httpx.AsyncClient
    marc: httpx.AsyncClient
    anne_api: httpx.AsyncClient
    threads: dict[str, int]


async def user_api(server: ChatdProcess, services: Services, user: User) -> httpx.AsyncClient:
    api = await http(server.base_url)
    api.headers["Authorization"] = f"Bearer {(await services.directory.create_token(user.id))[1]}"
    return api


async def new_thread(api: httpx.AsyncClient, subject: str, body: str) -> int:
    answer = await api.post("/api/threads", json={"subject": subject, "body": body, "client_msg_id": str(uuid.uuid4())})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["thread"]["id"])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def inbox(server: ChatdProcess, services: Services) -> AsyncIterator[Inbox]:
    firm = await new_firm(services, "Cabinet Roux")
    directory = services.directory
    anne = await directory.create_user(
        firm_id=firm.id, email="anne@roux.test", name="Anne Roux", role=Role.MANAGER, password=PASSWORD
    )
    await directory.create_user(
        firm_id=firm.id, email="bruno@roux.test", name="Bruno Petit", role=Role.STAFF, password=PASSWORD
    )
    claire = await directory.create_user(
        firm_id=firm.id, email="claire@roux.test", name="Claire Morel", role=Role.CLIENT, password=PASSWORD
    )
    marc = await directory.create_user(
        firm_id=firm.id, email="marc@roux.test", name="Marc Blanc", role=Role.CLIENT, password=PASSWORD
    )
    claire_api = await user_api(server, services, claire)
    marc_api = await user_api(server, services, marc)
    anne_api = await user_api(server, services, anne)
    for n in range(SEEDED - 1):
        await new_thread(claire_api, f"Question {n:03}", f"Routine question number {n}.")
    await new_thread(marc_api, "Unpaid invoice", "The invoice for March is still unpaid.")
    async with chromium() as browser:
        _, anne_page = await new_page(browser, server.base_url, width=1440, height=900)
        _, bruno_page = await new_page(browser, server.base_url, width=1440, height=900)
        await log_in(anne_page, "anne@roux.test")
        await log_in(bruno_page, "bruno@roux.test")
        yield Inbox(anne_page, bruno_page, claire_api, marc_api, anne_api, {})
        for page in (anne_page, bruno_page):
            unexpected = [e for e in page.errors if "401" not in e]  # type: ignore[attr-defined]
            assert unexpected == [], unexpected  # the sign-in page asks /api/me first
    for api in (claire_api, marc_api, anne_api):
        await api.aclose()


def folder(page: Page, name: str) -> object:
    return page.get_by_role("region", name="Folders").get_by_role("link", name=re.compile(f"^{name}:"))


def rows(page: Page) -> object:
    return page.get_by_role("navigation").locator(".thread-list a.thread-row")


def row(page: Page, subject: str) -> object:
    return page.get_by_role("navigation").locator(".thread-item", has_text=subject)


async def test_folders_count_threads_and_the_list_pages_past_100(inbox: Inbox) -> None:
    page = inbox.anne
    await expect(folder(page, "Inbox")).to_have_accessible_name(f"Inbox: {SEEDED} conversations, {SEEDED} unread")
    await expect(rows(page)).to_have_count(100)
    await page.get_by_role("button", name="Load more conversations").click()
    await expect(rows(page)).to_have_count(SEEDED)
    await expect(page.get_by_role("button", name="Load more conversations")).to_be_hidden()
    invoice = row(page, "Unpaid invoice")
    await expect(invoice).to_contain_text("Marc Blanc: The invoice for March is still unpaid.")
    await expect(invoice.get_by_label("1 unread message")).to_be_visible()


async def test_a_new_thread_updates_the_counts_live(inbox: Inbox) -> None:
    inbox.threads["lease"] = await new_thread(inbox.marc, "Lease renewal", "Can we talk about the lease?")
    for page in (inbox.anne, inbox.bruno):
        await expect(folder(page, "Inbox")).to_have_accessible_name(
            f"Inbox: {SEEDED + 1} conversations, {SEEDED + 1} unread", timeout=2 * SECOND
        )
        await expect(rows(page).first).to_contain_text("Lease renewal")


async def test_selected_threads_are_archived_assigned_and_marked_for_everyone(inbox: Inbox) -> None:
    anne, bruno = inbox.anne, inbox.bruno
    for subject in ("Question 101", "Question 100"):
        await row(anne, subject).get_by_role("checkbox").check()
    toolbar = anne.get_by_role("toolbar", name="Actions on the selected conversations")
    await expect(toolbar).to_contain_text("2 selected")
    await toolbar.get_by_role("button", name="Archive").click()
    await expect(anne.get_by_role("status").filter(has_text="2 done.")).to_be_visible()
    await expect(row(anne, "Question 101")).to_be_hidden()
    for page in (anne, bruno):  # thread.updated moves them for every staff member
        await expect(folder(page, "Archived")).to_have_accessible_name(
            re.compile("^Archived: 2 conversations"), timeout=2 * SECOND
        )
    await expect(row(bruno, "Question 101")).to_be_hidden()

    await row(anne, "Lease renewal").get_by_role("checkbox").check()
    await toolbar.get_by_label("Assign to").select_option(label="Bruno Petit")
    await toolbar.get_by_role("button", name="Assign", exact=True).click()
    await expect(row(anne, "Lease renewal")).to_contain_text("Bruno Petit")
    await expect(row(bruno, "Lease renewal").get_by_text("Assigned to Bruno Petit")).to_be_attached()
    await expect(folder(bruno, "Assigned to me")).to_have_accessible_name(
        re.compile("^Assigned to me: 1 conversation,")
    )

    await row(anne, "Unpaid invoice").get_by_role("checkbox").check()
    await toolbar.get_by_role("button", name="Mark read").click()
    await expect(row(anne, "Unpaid invoice").get_by_label("1 unread message")).to_be_hidden()
    await expect(folder(anne, "Inbox")).to_have_accessible_name(
        f"Inbox: {SEEDED - 1} conversations, {SEEDED - 2} unread"
    )
    await expect(row(bruno, "Unpaid invoice").get_by_label("1 unread message")).to_be_visible()  # unread is per person

    await row(anne, "Question 099").get_by_role("checkbox").check()
    await toolbar.get_by_role("button", name="Follow up").click()
    await expect(folder(anne, "Follow-up")).to_have_accessible_name(re.compile("^Follow-up: 1 conversation"))
    await row(anne, "Question 098").get_by_role("checkbox").check()
    await toolbar.get_by_role("button", name="Delete").click()
    await expect(folder(anne, "Trash")).to_have_accessible_name(re.compile("^Trash: 1 conversation"))

    # Urgent threads are marked in every list as soon as someone flags them.
    answer = await inbox.anne_api.post(
        "/api/threads/actions", json={"thread_ids": [inbox.threads["lease"]], "action": {"type": "urgent", "on": True}}
    )
    assert answer.status_code == 200, answer.text
    await expect(row(bruno, "Lease renewal").locator(".mark.urgent")).to_have_text("Urgent")
    await expect(folder(bruno, "Urgent")).to_have_accessible_name(re.compile("^Urgent: 1 conversation"))

    await folder(anne, "Archived").click()
    await expect(anne.get_by_role("heading", name="Archived")).to_be_visible()
    await expect(rows(anne)).to_have_count(2)
    await row(anne, "Question 100").get_by_role("checkbox").check()
    await toolbar.get_by_role("button", name="Move to inbox").click()
    await expect(rows(anne)).to_have_count(1)
    await folder(anne, "Inbox").click()
    await expect(row(anne, "Question 100")).to_be_visible()
    await row(anne, "Question 100").get_by_role("checkbox").check()
    await row(anne, "Lease renewal").get_by_role("checkbox").check()
    await screenshot(anne, "inbox")


async def test_the_source_filter_keeps_one_source(inbox: Inbox) -> None:
    page = inbox.anne
    await page.get_by_role("button", name="Clear selection").click()
    await page.get_by_role("link", name="New conversation").click()
    await page.get_by_label("Subject").fill("Tax appointment")
    await page.get_by_label("Client").select_option(label="Claire Morel")
    await page.get_by_label("First message").fill("Shall we meet on Monday?")
    await page.get_by_role("button", name="Start conversation").click()
    await expect(page.get_by_role("heading", name="Tax appointment")).to_be_visible()
    source = page.get_by_label("Source")
    await source.select_option(label="Portal")
    await expect(rows(page)).to_have_count(1)
    await expect(rows(page)).to_contain_text("Tax appointment")
    await expect(folder(page, "Inbox")).to_have_accessible_name(re.compile("^Inbox: 1 conversation"))
    await source.select_option(label="API")
    await expect(row(page, "Tax appointment")).to_be_hidden()
    await expect(row(page, "Unpaid invoice")).to_be_visible()
    await source.select_option(label="All sources")
    await expect(row(page, "Tax appointment")).to_be_visible()


async def test_search_highlights_hits_and_filters_by_author(inbox: Inbox) -> None:
    page = inbox.anne
    await new_thread(inbox.claire, "Invoice copy", "Could you send me a copy of the invoice?")
    box = page.get_by_role("search")
    await box.get_by_role("searchbox", name="Search").fill("invoice")
    await box.get_by_role("searchbox", name="Search").press("Enter")
    results = page.get_by_role("navigation").locator(".results a")
    await expect(results).to_have_count(2)
    await expect(page.get_by_role("status").filter(has_text="2 messages found")).to_be_visible()
    await expect(results.locator("mark").first).to_have_text(re.compile("invoice", re.I))
    await box.get_by_role("button", name="Filters").click()
    await box.get_by_label("From").select_option(label="Marc Blanc")
    await box.get_by_role("searchbox", name="Search").press("Enter")
    await expect(results).to_have_count(1)
    await expect(results).to_contain_text("Unpaid invoice")
    await expect(results).to_contain_text("Marc Blanc")
    await screenshot(page, "inbox-search")
    await results.first.click()
    await expect(page.get_by_role("heading", name="Unpaid invoice")).to_be_visible()
    await page.get_by_role("button", name="Clear search").click()
    await expect(rows(page).first).to_be_visible()


async def test_the_inbox_fits_a_phone(inbox: Inbox, server: ChatdProcess) -> None:
    context, page = await new_page(inbox.anne.context.browser, server.base_url, width=390, height=780)  # type: ignore[arg-type]
    await log_in(page, "anne@roux.test")
    await expect(folder(page, "Inbox")).to_be_visible()
    await expect(rows(page).first).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing sticks out sideways"
    await screenshot(page, "phone-inbox")
    await rows(page).first.click()
    await expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    await expect(page.get_by_role("region", name="Folders")).to_be_hidden()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing sticks out sideways"
    await context.close()
