"""The client portal in Debian's chromium: the client's tasks beside their conversations with unread
counts, ticked done from the portal, and new ones arriving live."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import expect

from chatd.services.context import Services
from protocol.values import Role
from tests.support import ChatdProcess, http, new_firm
from tests.web_support import PASSWORD, chromium, log_in, new_page, screenshot

SECOND = 1000


async def staff_api(server: ChatdProcess, services: Services, user_id: int) -> httpx.AsyncClient:
    api = await http(server.base_url)
    api.headers["Authorization"] = f"Bearer {(await services.directory.create_token(user_id))[1]}"
    return api


async def test_a_client_sees_and_ticks_their_tasks(server: ChatdProcess, services: Services) -> None:
    firm = await new_firm(services, "Cabinet Garnier")
    anne = await services.directory.create_user(
        firm_id=firm.id, email="anne@garnier.test", name="Anne Garnier", role=Role.STAFF, password=PASSWORD
    )
    claire = await services.directory.create_user(
        firm_id=firm.id, email="claire@garnier.test", name="Claire Morel", role=Role.CLIENT, password=PASSWORD
    )
    async with await staff_api(server, services, anne.id) as api:

        async def thread(subject: str) -> int:
            body = {
                "subject": subject,
                "body": "Hello Claire.",
                "client_msg_id": str(uuid.uuid4()),
                "client_account_id": claire.client_account_id,
            }
            answer = await api.post("/api/threads", json=body)
            assert answer.status_code == 201, answer.text
            return int(answer.json()["thread"]["id"])

        async def task(thread_id: int, body: str, due_on: str | None) -> None:
            message = {
                "body": body,
                "client_msg_id": str(uuid.uuid4()),
                "task": {"assignee_id": claire.id, "due_on": due_on},
            }
            answer = await api.post(f"/api/threads/{thread_id}/messages", json=message)
            assert answer.status_code == 201, answer.text

        tax = await thread("Your 2026 tax return")
        rent = await thread("Rent receipts")
        await task(tax, "Sign page 3 of the return", "2026-12-01")
        await task(rent, "Upload the **May** receipts", None)

        async with chromium() as browser:
            _, page = await new_page(browser, server.base_url, width=1280, height=800)
            await log_in(page, claire.email)
            tasks = page.get_by_role("region", name=re.compile("^My tasks"))
            await expect(tasks.get_by_label("2 open tasks")).to_be_visible()
            sign = tasks.get_by_role("checkbox", name="Sign page 3 of the return")
            await expect(sign).not_to_be_checked()
            await expect(tasks.get_by_role("listitem").filter(has_text="Sign page 3")).to_contain_text(
                "due Dec 1, 2026"
            )
            await expect(tasks.get_by_role("checkbox", name="Upload the May receipts")).to_be_visible()
            rows = page.get_by_role("navigation")
            await expect(
                rows.get_by_role("link", name=re.compile("Your 2026 tax return")).get_by_label("2 unread messages")
            ).to_be_visible()
            await screenshot(page, "portal-tasks")

            await sign.check()
            await expect(tasks.get_by_label("1 open task")).to_be_visible()
            done = await api.get("/api/tasks", params={"thread_id": tax, "status": "done"})
            assert [t["message_id"] for t in done.json()["tasks"]] != []

            await task(rent, "Send your new address", None)  # arrives live
            await expect(tasks.get_by_role("checkbox", name="Send your new address")).to_be_visible(timeout=SECOND)
            await expect(tasks.get_by_label("2 open tasks")).to_be_visible()

            await tasks.get_by_role("link", name="Rent receipts").first.click()
            await expect(page.get_by_role("heading", name="Rent receipts")).to_be_visible()
            in_thread = page.get_by_role("log").get_by_role("checkbox", name=re.compile("^Task for You"))
            await expect(in_thread).to_have_count(2)
            unexpected = [e for e in page.errors if "401" not in e]  # type: ignore[attr-defined]
            assert unexpected == [], unexpected
