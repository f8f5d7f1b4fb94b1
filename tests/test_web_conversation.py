"""The conversation page in Debian's chromium: the client card, the reply bar's urgent / private /
task toggles and the marks they leave, the template picker with its fill-in fields, and `/` quick
replies, with a staff member and a client in two browser contexts."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
from playwright.async_api import Page, expect

from chatd.services.context import Services
from protocol.values import Role
from tests.support import ChatdProcess, http, new_firm
from tests.web_support import PASSWORD, chromium, log_in, new_page, screenshot

SECOND = 1000
SUBJECT = "Your 2026 return"


@dataclass
class Pages:
    anne: Page
    bruno: Page
    claire: Page


async def token_api(server: ChatdProcess, services: Services, user_id: int) -> httpx.AsyncClient:
    api = await http(server.base_url)
    api.headers["Authorization"] = f"Bearer {(await services.directory.create_token(user_id))[1]}"
    return api


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pages(server: ChatdProcess, services: Services) -> AsyncIterator[Pages]:
    firm = await new_firm(services, "Cabinet Faure")
    directory = services.directory
    anne = await directory.create_user(
        firm_id=firm.id, email="anne@faure.test", name="Anne Faure", role=Role.MANAGER, password=PASSWORD
    )
    await directory.create_user(
        firm_id=firm.id, email="bruno@faure.test", name="Bruno Petit", role=Role.STAFF, password=PASSWORD
    )
    claire = await directory.create_user(
        firm_id=firm.id, email="claire@faure.test", name="Claire Morel", role=Role.CLIENT, password=PASSWORD
    )
    async with await token_api(server, services, anne.id) as api:
        for template in (
            {
                "name": "Missing document",
                "scope": "firm",
                "body": "Dear {{ client.name }}, we still need your {{ fields.document }}.",
                "instruction": "Check the due date first.",
                "fields": [{"name": "document", "label": "Document", "required": True}],
            },
            {"name": "Thanks", "shortcut": "thx", "body": "Thanks {{ client.name }}, well received!"},
            {"name": "Call me", "shortcut": "call", "body": "Could you call me back?"},
        ):
            answer = await api.post("/api/templates", json=template)
            assert answer.status_code == 201, answer.text
    async with await token_api(server, services, claire.id) as api:
        for subject in ("Rent receipts", SUBJECT):
            body = {"subject": subject, "body": f"Hello, about {subject.lower()}.", "client_msg_id": str(uuid.uuid4())}
            assert (await api.post("/api/threads", json=body)).status_code == 201
    async with chromium() as browser:
        opened = [await new_page(browser, server.base_url, width=1440, height=900) for _ in range(3)]
        anne_page, bruno_page, claire_page = (page for _, page in opened)
        for page, email in ((anne_page, anne.email), (bruno_page, "bruno@faure.test"), (claire_page, claire.email)):
            await log_in(page, email)
            await page.get_by_role("navigation").get_by_role("link", name=re.compile(SUBJECT)).click()
            await expect(page.get_by_role("heading", name=SUBJECT)).to_be_visible()
        yield Pages(anne_page, bruno_page, claire_page)
        for page in (anne_page, bruno_page, claire_page):
            unexpected = [e for e in page.errors if "401" not in e]  # type: ignore[attr-defined]
            assert unexpected == [], unexpected  # the sign-in page asks /api/me first


def composer(page: Page) -> object:
    return page.get_by_role("textbox", name="Message")


async def test_the_client_card_shows_the_account_its_contacts_and_threads(pages: Pages) -> None:
    page = pages.anne
    await page.get_by_role("button", name="Client card").click()
    card = page.get_by_role("complementary", name="Claire Morel")
    await expect(card).to_be_visible()
    await expect(card).to_contain_text("claire@faure.test")
    await expect(card.get_by_role("link", name=re.compile("Rent receipts"))).to_be_visible()
    current = card.get_by_role("link", name=re.compile(SUBJECT))
    await expect(current).to_have_attribute("aria-current", "page")
    await card.get_by_role("link", name=re.compile("Rent receipts")).click()
    await expect(page.get_by_role("heading", name="Rent receipts")).to_be_visible()
    await page.get_by_role("navigation").get_by_role("link", name=re.compile(SUBJECT)).click()
    await expect(page.get_by_role("heading", name=SUBJECT)).to_be_visible()


async def test_an_urgent_task_reaches_its_assignee_who_acknowledges_and_ticks_it(pages: Pages) -> None:
    anne, bruno = pages.anne, pages.bruno
    options = anne.get_by_role("group", name="Message options")
    await options.get_by_text("Urgent", exact=True).click()
    await options.get_by_text("Ask to acknowledge").click()
    await options.get_by_text("Task", exact=True).click()
    await options.get_by_label("Task for").select_option(label="Bruno Petit")
    await options.get_by_label("Task due on").fill("2026-12-01")
    await composer(anne).fill("Please check her payslips today.")
    await composer(anne).press("Enter")
    message = bruno.get_by_role("log").locator("article", has_text="Please check her payslips today.")
    await expect(message).to_be_visible(timeout=SECOND)
    await expect(message).to_contain_text("Urgent")
    task = message.get_by_role("checkbox", name=re.compile("^Task for You · due"))
    await expect(task).not_to_be_checked()
    await message.get_by_role("button", name="Acknowledge").click()
    await expect(message).to_contain_text("Acknowledged by You")
    mine = anne.get_by_role("log").locator("article", has_text="Please check her payslips today.")
    await expect(mine).to_contain_text("Acknowledged by Bruno Petit")
    await task.check()
    await expect(mine.get_by_role("checkbox", name=re.compile("^Task for Bruno Petit"))).to_be_checked()
    await expect(options.get_by_text("Ask to acknowledge")).to_be_hidden()  # the toggles reset after sending
    client_log = pages.claire.get_by_role("log")
    await expect(client_log.get_by_text("Please check her payslips today.")).to_be_visible()
    await screenshot(anne, "conversation-staff")


async def test_a_private_message_reaches_only_its_recipient(pages: Pages) -> None:
    anne = pages.anne
    options = anne.get_by_role("group", name="Message options")
    await options.get_by_text("Private", exact=True).click()
    await options.get_by_label("Private to").select_option(label="Claire Morel")
    await composer(anne).fill("Just between us: the fee is waived.")
    await composer(anne).press("Enter")
    seen = pages.claire.get_by_role("log").locator("article", has_text="the fee is waived")
    await expect(seen).to_contain_text("Private · You", timeout=SECOND)
    await expect(anne.get_by_role("log").locator("article", has_text="the fee is waived")).to_contain_text(
        "Private · Claire Morel"
    )
    await composer(pages.bruno).fill("")  # Bruno's view is live: a later message arrives, the private one never
    await composer(anne).fill("For everyone again.")
    await composer(anne).press("Enter")
    await expect(pages.bruno.get_by_role("log").get_by_text("For everyone again.")).to_be_visible(timeout=SECOND)
    await expect(pages.bruno.get_by_role("log")).not_to_contain_text("the fee is waived")


async def test_a_template_asks_for_its_fields_and_fills_the_composer(pages: Pages) -> None:
    anne = pages.anne
    await anne.get_by_role("button", name="Templates").click()
    panel = anne.get_by_role("group", name="Templates")
    await panel.get_by_role("button", name=re.compile("Missing document")).click()
    await panel.get_by_role("button", name="Insert").click()
    await expect(panel.get_by_role("alert")).to_have_text("Fill in: Document.")
    await panel.get_by_role("textbox", name="Document").fill("2025 payslips")
    await panel.get_by_role("button", name="Insert").click()
    await expect(composer(anne)).to_have_value("Dear Claire Morel, we still need your 2025 payslips.")
    await expect(anne.get_by_role("status").filter(has_text="Check the due date first.")).to_be_visible()
    await composer(anne).press("Enter")
    await expect(pages.claire.get_by_role("log").get_by_text("we still need your 2025 payslips.")).to_be_visible(
        timeout=SECOND
    )


async def test_slash_offers_quick_replies_and_expands_the_chosen_one(pages: Pages) -> None:
    anne = pages.anne
    await composer(anne).press_sequentially("/th")
    choices = anne.get_by_role("listbox", name="Quick replies")
    await expect(choices.get_by_role("option")).to_have_count(1)
    await expect(choices.get_by_role("option")).to_contain_text("/thx")
    await composer(anne).press("Backspace")
    await composer(anne).press("Backspace")
    await expect(choices.get_by_role("option")).to_have_count(2)
    await screenshot(anne, "quick-replies")
    await composer(anne).press("ArrowDown")
    await composer(anne).press("ArrowUp")
    await expect(choices.get_by_role("option", selected=True)).to_contain_text("/call")
    await composer(anne).press("ArrowDown")
    await composer(anne).press("Enter")  # picks; does not send
    await expect(composer(anne)).to_have_value("Thanks Claire Morel, well received!")
    await expect(choices).to_be_hidden()
    await composer(anne).press("Enter")
    await expect(pages.claire.get_by_role("log").get_by_text("Thanks Claire Morel, well received!")).to_be_visible(
        timeout=SECOND
    )


async def test_at_autocompletes_a_teammate_who_sees_the_mention(pages: Pages) -> None:
    anne, bruno = pages.anne, pages.bruno
    await composer(anne).press_sequentially("Could @bru")
    people = anne.get_by_role("listbox", name="People to mention")
    await expect(people.get_by_role("option")).to_have_count(1)
    await expect(people.get_by_role("option")).to_contain_text("Bruno Petit")
    await expect(people.get_by_role("option")).to_contain_text("@bruno.petit")
    await composer(anne).press("Enter")  # picks the teammate; does not send
    await expect(composer(anne)).to_have_value("Could @bruno.petit ")
    await composer(anne).press_sequentially("check the payslips?")
    await composer(anne).press("Enter")
    mention = bruno.get_by_role("log").locator(".mention.mention-me", has_text="@bruno.petit")
    await expect(mention).to_be_visible(timeout=SECOND)
    await screenshot(bruno, "mention")
