"""Settings in Debian's chromium: notification channels and phone, templates written, used and
deleted, and (owners only) the team: add someone, change a role, deactivate."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import Page, expect

from chatd.services.context import Services
from protocol.values import Role
from tests.support import ChatdProcess, http, new_firm
from tests.web_support import PASSWORD, chromium, log_in, new_page, screenshot


async def settings(page: Page, section: str) -> None:
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_role("navigation", name="Settings sections").get_by_role("link", name=section).click()


async def test_settings_for_notifications_templates_and_the_team(server: ChatdProcess, services: Services) -> None:
    firm = await new_firm(services, "Cabinet Lambert")
    await services.directory.create_user(
        firm_id=firm.id, email="olivia@lambert.test", name="Olivia Lambert", role=Role.OWNER, password=PASSWORD
    )
    await services.directory.create_user(
        firm_id=firm.id, email="bruno@lambert.test", name="Bruno Petit", role=Role.STAFF, password=PASSWORD
    )
    async with chromium() as browser:
        _, owner = await new_page(browser, server.base_url, width=1280, height=860)
        await log_in(owner, "olivia@lambert.test")

        await settings(owner, "Notifications")
        email = owner.get_by_role("checkbox", name="A new message: Email")
        await expect(email).to_be_checked()
        await email.uncheck()
        await owner.get_by_role("checkbox", name="A conversation is assigned to you: SMS").check()
        await owner.get_by_label("Mobile number for SMS").fill("+33 6 12 34 56 78")
        await owner.get_by_role("button", name="Save").click()
        await expect(owner.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
        await owner.reload()
        await expect(owner.get_by_role("checkbox", name="A new message: Email")).not_to_be_checked()
        await expect(owner.get_by_role("checkbox", name="A conversation is assigned to you: SMS")).to_be_checked()
        await expect(owner.get_by_label("Mobile number for SMS")).to_have_value(re.compile(r"\+33\s?6"))
        await screenshot(owner, "settings-notifications")

        await settings(owner, "Templates")
        await owner.get_by_role("button", name="New template").click()
        await owner.get_by_label("Name", exact=True).fill("Welcome")
        await owner.get_by_label("Shortcut").fill("hello")
        await owner.get_by_label("Text", exact=True).fill("Welcome {{ client.name }}, {{ fields.topic }} first.")
        await owner.get_by_role("button", name="Add a field").click()
        await owner.get_by_role("textbox", name="Variable name").fill("topic")
        await owner.get_by_role("textbox", name="Label").fill("Topic")
        await owner.get_by_label("Who may use it").select_option(label="Firm")
        await owner.get_by_role("button", name="Save").click()
        item = owner.get_by_role("listitem").filter(has_text="Welcome")
        await expect(item).to_contain_text("/hello")
        await expect(item).to_contain_text("1 field")
        await owner.get_by_role("button", name="Edit Welcome").click()
        await owner.get_by_label("Text", exact=True).fill("Welcome {{ client.nam }")
        await owner.get_by_role("button", name="Save").click()
        await expect(owner.locator(".save-status.error")).not_to_be_empty()  # a syntax error, told plainly
        await owner.get_by_role("button", name="Cancel").click()
        await screenshot(owner, "settings-templates")

        await settings(owner, "Team")
        await owner.get_by_label("Name", exact=True).fill("Paul Henry")
        await owner.get_by_label("Email").fill("paul@lambert.test")
        await owner.get_by_label("Role", exact=True).select_option(label="Staff")
        await owner.get_by_label("First password").fill(PASSWORD)
        await owner.get_by_role("button", name="Add someone").click()
        await expect(owner.get_by_role("status").filter(has_text="Paul Henry was added.")).to_be_visible()
        paul = owner.get_by_role("row", name=re.compile("Paul Henry"))
        await paul.get_by_label("Role of Paul Henry").select_option(label="Manager")
        await expect(
            owner.get_by_role("status").filter(has_text=re.compile("Paul Henry.s role was changed."))
        ).to_be_visible()
        await expect(
            owner.get_by_role("row", name=re.compile("Paul Henry")).get_by_label("Role of Paul Henry")
        ).to_have_value("manager")
        await owner.get_by_role("button", name="Deactivate Bruno Petit").click()
        await expect(owner.get_by_role("row", name=re.compile("Bruno Petit"))).to_contain_text("Inactive")
        await expect(owner.get_by_role("button", name="Reactivate Bruno Petit")).to_be_visible()
        await screenshot(owner, "settings-team")

        _, paul_page = await new_page(browser, server.base_url)
        await log_in(paul_page, "paul@lambert.test")  # the new manager signs in, sees the firm's template
        await paul_page.get_by_role("link", name="Settings").click()
        await expect(paul_page.get_by_role("navigation", name="Settings sections")).not_to_contain_text("Team")
        await (
            paul_page.get_by_role("navigation", name="Settings sections").get_by_role("link", name="Templates").click()
        )
        await expect(paul_page.get_by_role("listitem").filter(has_text="Welcome")).to_contain_text("Firm")
        for page in (owner, paul_page):
            unexpected = [e for e in page.errors if "401" not in e and "400" not in e]  # type: ignore[attr-defined]
            assert unexpected == [], unexpected  # sign-in asks /api/me first; the bad template answered 400


async def test_automatic_emails_rules_and_their_drafts(server: ChatdProcess, services: Services) -> None:
    firm = await new_firm(services, "Villas Martin")
    owner = await services.directory.create_user(
        firm_id=firm.id, email="olivia@villas.test", name="Olivia Martin", role=Role.OWNER, password=PASSWORD
    )
    clients = [
        await services.directory.create_user(
            firm_id=firm.id, email=f"{name.split()[0].lower()}@villas.test", name=name, role=Role.CLIENT, password=None
        )
        for name in ("Dupont SCI", "Marc Blanc")
    ]
    arrival = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    async with await http(server.base_url) as api:
        api.headers["Authorization"] = f"Bearer {(await services.directory.create_token(owner.id))[1]}"
        template = {"name": "Your arrival", "body": "Hello {{ client.name }}, see you on {{ event.date }}."}
        assert (await api.post("/api/templates", json=template)).status_code == 201
        for n, client in enumerate(clients):
            event = {
                "client_account_id": client.client_account_id,
                "kind": "arrival",
                "date": arrival,
                "reference": f"B-{n}",
            }
            assert (await api.post("/api/client-events", json=event)).status_code == 201
    async with chromium() as browser:
        _, page = await new_page(browser, server.base_url, width=1280, height=900)
        await log_in(page, owner.email)
        await settings(page, "Automatic emails")
        await page.get_by_label("Name", exact=True).fill("Three days before arrival")
        await page.get_by_label("When").fill("3")
        await page.get_by_label("Before or after").select_option(label="Before")
        await page.get_by_label("Event").select_option(label="Arrival")
        await page.get_by_label("Templates").select_option(label="Your arrival")
        await page.get_by_role("button", name="Add the rule").click()
        await expect(page.get_by_role("status").filter(has_text="Three days before arrival was added.")).to_be_visible()
        # The daily job runs at once after a new rule, in the server: look again until its drafts are there.
        waiting = page.get_by_text("2 drafts waiting")
        for _ in range(40):
            await (
                page.get_by_role("navigation", name="Settings sections")
                .get_by_role("link", name="Automatic emails")
                .click()
            )
            try:
                await expect(waiting).to_be_visible(timeout=500)
                break
            except AssertionError:
                continue
        await expect(waiting).to_be_visible()
        await expect(page.get_by_role("listitem").filter(has_text="Three days before arrival")).to_contain_text(
            "3 days before: Arrival"
        )
        await page.get_by_role("button", name="Show the drafts of Three days before arrival").click()
        drafts = page.get_by_role("list", name="Drafts of Three days before arrival")
        dupont = drafts.get_by_role("listitem").filter(has_text="Dupont SCI")
        text = dupont.get_by_role("textbox")
        await expect(text).to_have_value(f"Hello Dupont SCI, see you on {arrival}.")
        await text.fill(f"Hello Dupont SCI, see you on {arrival}. The keys are at the desk.")
        await screenshot(page, "settings-automatic")
        await dupont.get_by_role("button", name="Send").click()
        await expect(page.get_by_role("status").filter(has_text="Sent to Dupont SCI.")).to_be_visible()
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="Send all the drafts of Three days before arrival").click()
        await expect(page.get_by_role("status").filter(has_text="1 sent.")).to_be_visible()

        await page.get_by_role("link", name="Back to conversations").click()
        await page.get_by_label("Source").select_option(label="Automatic emails")
        rows = page.get_by_role("navigation").locator(".thread-list a.thread-row")
        await expect(rows).to_have_count(2)
        await expect(rows.filter(has_text="Dupont SCI")).to_contain_text("The keys are at the desk.")
        unexpected = [e for e in page.errors if "401" not in e]  # type: ignore[attr-defined]
        assert unexpected == [], unexpected


async def test_signatures_are_set_in_settings_and_end_messages(server: ChatdProcess, services: Services) -> None:
    firm = await new_firm(services, "Cabinet Roche")
    owner = await services.directory.create_user(
        firm_id=firm.id, email="olivia@roche.test", name="Olivia Roche", role=Role.OWNER, password=PASSWORD
    )
    client = await services.directory.create_user(
        firm_id=firm.id, email="claire@roche.test", name="Claire Morel", role=Role.CLIENT, password=PASSWORD
    )
    async with chromium() as browser:
        _, page = await new_page(browser, server.base_url, width=1280, height=900)
        await log_in(page, owner.email)
        await settings(page, "Signature")
        await page.get_by_label("My signature").fill("**Olivia Roche**, chartered accountant")
        await page.get_by_role("form", name="Signature", exact=True).get_by_role("button", name="Save").click()
        await expect(page.locator("#signature-preview")).to_have_text("**Olivia Roche**, chartered accountant")
        firm_form = page.get_by_role("form", name=re.compile("^The firm.s signature$"))
        await firm_form.get_by_label(re.compile("legal mentions")).fill("Cabinet Roche SARL, RCS Lyon 123 456 789")
        await firm_form.get_by_role("button", name="Save").click()
        await expect(page.locator("#signature-preview")).to_contain_text("RCS Lyon 123 456 789")
        await screenshot(page, "settings-signature")

        await page.get_by_role("link", name="Back to conversations").click()
        await page.get_by_role("link", name="New conversation").click()
        await page.get_by_label("Subject").fill("Engagement letter")
        await page.get_by_label("Client").select_option(label=client.name)
        await page.get_by_label("First message").fill("Here is our engagement letter.")
        await page.get_by_role("button", name="Start conversation").click()
        log = page.get_by_role("log")
        await expect(log.locator("article").last).to_contain_text("RCS Lyon 123 456 789")
        composer = page.get_by_role("textbox", name="Message")
        under_composer = page.get_by_role("form", name="Reply").locator(".signature-line")
        await expect(under_composer).to_contain_text("Olivia Roche, chartered accountant Cabinet Roche SARL")
        await page.get_by_label("Sign", exact=True).uncheck()
        await composer.fill("Unsigned reminder.")
        await composer.press("Enter")
        await expect(log.locator("article", has_text="Unsigned reminder.")).not_to_contain_text("RCS Lyon")
        await expect(page.get_by_label("Sign", exact=True)).to_be_checked()  # back on for the next message
        await composer.fill("Signed again.")
        await composer.press("Enter")
        # Under load a send may be answered "internal" or "rate_limited"; the outbox retries it every 3 s.
        await expect(log.locator("article", has_text="Signed again.")).to_contain_text(
            "RCS Lyon 123 456 789", timeout=15_000
        )
        unexpected = [e for e in page.errors if "401" not in e]  # type: ignore[attr-defined]
        assert unexpected == [], unexpected


async def test_business_hours_and_the_automatic_reply(server: ChatdProcess, services: Services) -> None:
    firm = await new_firm(services, "Cabinet Perrin")
    owner = await services.directory.create_user(
        firm_id=firm.id, email="olivia@perrin.test", name="Olivia Perrin", role=Role.OWNER, password=PASSWORD
    )
    client = await services.directory.create_user(
        firm_id=firm.id, email="claire@perrin.test", name="Claire Morel", role=Role.CLIENT, password=PASSWORD
    )
    async with chromium() as browser:
        _, page = await new_page(browser, server.base_url, width=1280, height=900)
        await log_in(page, owner.email)
        await settings(page, "Business hours")
        await page.get_by_label("Time zone").fill("Europe/Paris")
        await page.get_by_label("Monday").fill("9h to noon")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status").filter(has_text="is not a time range")).to_be_visible()
        await page.get_by_label("Monday").fill("09:00-12:00, 14:00-18:00")
        today = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()  # closed today: a client gets the reply
        await page.get_by_label("Closed dates").fill(f"2026-12-25\n{today}")
        await page.get_by_label("Automatic reply").fill("We are closed; we answer from **9:00**.")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
        await page.reload()
        await expect(page.get_by_label("Closed dates")).to_have_value(re.compile("2026-12-25"))
        await expect(page.get_by_label("Monday")).to_have_value("09:00-12:00, 14:00-18:00")
        await screenshot(page, "settings-hours")

        async with await http(server.base_url) as api:
            api.headers["Authorization"] = f"Bearer {(await services.directory.create_token(client.id))[1]}"
            body = {"subject": "After hours", "body": "Are you there?", "client_msg_id": "after-hours-1"}
            assert (await api.post("/api/threads", json=body)).status_code == 201
        await page.get_by_role("link", name="Back to conversations").click()
        await page.get_by_role("navigation").get_by_role("link", name=re.compile("After hours")).click()
        reply = page.get_by_role("log").locator("article", has_text="We are closed; we answer from")
        await expect(reply).to_contain_text("Automatic reply")
        unexpected = [e for e in page.errors if "401" not in e and "400" not in e]  # type: ignore[attr-defined]
        assert unexpected == [], unexpected  # sign-in asks /api/me first


async def test_client_events_imported_from_a_csv_added_and_deleted(
    server: ChatdProcess, services: Services, tmp_path: Path
) -> None:
    firm = await new_firm(services, "Villas Roche")
    staff = await services.directory.create_user(
        firm_id=firm.id, email="paul@roche.test", name="Paul Roche", role=Role.STAFF, password=PASSWORD
    )
    for name in ("Dupont SCI", "Marc Blanc"):
        await services.directory.create_user(
            firm_id=firm.id, email=f"{name.split()[0].lower()}@roche.test", name=name, role=Role.CLIENT, password=None
        )
    soon = datetime.now(UTC).date() + timedelta(days=10)
    later = soon + timedelta(days=7)
    csv = tmp_path / "bookings.csv"
    csv.write_text(
        "client;kind;date;reference\n"
        f"Dupont SCI;arrival;{soon:%d/%m/%Y};B-1042\n"
        f"marc blanc;departure;{later.isoformat()};B-1043\n"
        f"Nobody;arrival;{soon.isoformat()};B-1044\n"
        "Dupont SCI;arrival;31/02/2027;B-1045\n"
    )
    async with chromium() as browser:
        _, page = await new_page(browser, server.base_url, width=1280, height=900)
        await log_in(page, staff.email)
        await settings(page, "Client events")
        await page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
        await page.get_by_role("button", name="Import", exact=True).click()
        await expect(page.get_by_role("status").filter(has_text="Import finished.")).to_be_visible()
        await expect(page.get_by_text("2 imported, 0 already recorded, 2 with a problem.")).to_be_visible()
        problems = page.get_by_role("list", name="Rows not imported")
        await expect(problems.get_by_role("listitem")).to_have_text(
            ["Line 4: unknown client 'Nobody'", re.compile(r"^Line 5: '31/02/2027' is not a date")]
        )
        listed = page.get_by_role("region", name="2 events from today on")
        await expect(listed.get_by_role("row").filter(has_text="B-1042")).to_contain_text("Dupont SCI")
        await expect(listed.get_by_role("row").filter(has_text="B-1043")).to_contain_text("Departure")
        await screenshot(page, "settings-client-events")

        await page.get_by_role("button", name="Import", exact=True).click()  # the same file again: nothing twice
        await expect(page.get_by_text("0 imported, 2 already recorded, 2 with a problem.")).to_be_visible()
        await expect(page.get_by_role("region", name="2 events from today on")).to_be_visible()

        await page.get_by_label("Client", exact=True).select_option(label="Marc Blanc")
        await page.get_by_label("Event", exact=True).select_option(label="Arrival")
        await page.get_by_label("Date", exact=True).fill(soon.isoformat())
        await page.get_by_label("Reference", exact=True).fill("B-2000")
        await page.get_by_role("button", name="Add event").click()
        await expect(page.get_by_role("status").filter(has_text="Event added.")).to_be_visible()
        await expect(page.get_by_role("region", name="3 events from today on")).to_contain_text("B-2000")

        await page.get_by_role("button", name="Delete the event B-1042").click()
        await expect(page.get_by_role("status").filter(has_text="Event deleted.")).to_be_visible()
        await expect(page.get_by_role("region", name="2 events from today on")).not_to_contain_text("B-1042")
        unexpected = [e for e in page.errors if "401" not in e]  # type: ignore[attr-defined]
        assert unexpected == [], unexpected
    async with await http(server.base_url) as api:  # what the page shows is what the server holds
        api.headers["Authorization"] = f"Bearer {(await services.directory.create_token(staff.id))[1]}"
        events = (await api.get("/api/client-events")).json()["events"]
    assert sorted(e["reference"] for e in events) == ["B-1043", "B-2000"]
