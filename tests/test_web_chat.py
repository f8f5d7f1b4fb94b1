"""The web client in Debian's chromium: a staff member and a client chat live in two browser contexts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image
from playwright.async_api import Browser, Page, expect

from chatd.services.context import Services
from protocol.values import User
from tests.support import ChatdProcess
from tests.web_support import PASSWORD, chromium, log_in, new_page, open_thread, screenshot, seed_leroy, start_thread

SECOND = 1000


@dataclass
class Chat:
    browser: Browser
    staff: User
    client: User
    staff_page: Page
    client_page: Page


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chat(server: ChatdProcess, services: Services) -> AsyncIterator[Chat]:
    staff, client = await seed_leroy(services)
    async with chromium() as browser:
        _, staff_page = await new_page(browser, server.base_url)
        _, client_page = await new_page(browser, server.base_url)
        await staff_page.goto("/")
        await expect(staff_page.get_by_role("heading", name="Sign in")).to_be_visible()
        await screenshot(staff_page, "login")
        await log_in(staff_page, staff.email)
        await log_in(client_page, client.email)
        yield Chat(browser, staff, client, staff_page, client_page)
        for page in (staff_page, client_page):
            unexpected = [e for e in page.errors if "401" not in e]  # type: ignore[attr-defined]
            assert unexpected == [], unexpected


def messages(page: Page) -> object:
    return page.get_by_role("log")


async def send_lines(page: Page, lines: list[str]) -> None:
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill("\n".join(lines))
    await composer.press("Enter")


async def send(page: Page, text: str) -> None:
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill(text)
    await composer.press("Enter")


async def test_a_new_thread_reaches_the_client_with_an_unread_badge(chat: Chat) -> None:
    await start_thread(chat.staff_page, "Your 2026 tax return", "Hello Claire, your file is ready.")
    row = chat.client_page.get_by_role("navigation").get_by_role("link", name=re.compile("Your 2026 tax return"))
    await expect(row).to_be_visible(timeout=SECOND)
    await expect(row.get_by_label("1 unread message")).to_be_visible()
    await expect(row).to_contain_text("Anne Leroy: Hello Claire, your file is ready.")
    await expect(chat.client_page).to_have_title(re.compile(r"^\(1\) "))
    await screenshot(chat.client_page, "portal")


async def test_messages_appear_on_the_other_side_within_a_second(chat: Chat) -> None:
    await open_thread(chat.client_page, "Your 2026 tax return")
    await expect(chat.client_page).to_have_title(re.compile(r"^(?!\()"))  # reading it clears the count
    await send(chat.client_page, "Thanks! I'll sign it tonight.")
    reply = chat.staff_page.get_by_role("log").get_by_text("Thanks! I'll sign it tonight.")
    await expect(reply).to_be_visible(timeout=SECOND)
    await send(chat.staff_page, "Perfect, page 3 please.")
    await expect(chat.client_page.get_by_role("log").get_by_text("Perfect, page 3 please.")).to_be_visible(
        timeout=SECOND
    )


async def test_messages_sent_while_one_is_in_flight_all_go_out_in_order(chat: Chat) -> None:
    await open_thread(chat.client_page, "Your 2026 tax return")
    await open_thread(chat.staff_page, "Your 2026 tax return")
    # Three sends in one go: the second and third join the outbox while the first awaits its answer.
    await chat.staff_page.get_by_role("textbox", name="Message").evaluate(
        """composer => {
            for (const text of ["Burst one", "Burst two", "Burst three"]) {
                composer.value = text;
                composer.form.requestSubmit();
            }
        }"""
    )
    burst = chat.client_page.get_by_role("log").locator("article", has_text=re.compile("^Burst"))
    await expect(burst).to_have_count(3, timeout=5 * SECOND)
    await expect(burst).to_contain_text(["Burst one", "Burst two", "Burst three"])
    await expect(chat.staff_page.get_by_role("log").locator("article.pending")).to_have_count(0)


async def test_typing_shows_on_the_other_side(chat: Chat) -> None:
    # The server forwards one typing signal per user and thread every 2 s (the send just before may have
    # used it), and the browser repeats it as long as the user types: type for a while.
    composer = chat.client_page.get_by_role("textbox", name="Message")
    typing = asyncio.create_task(composer.press_sequentially("Sure, I will sign it tonight", delay=120))
    await expect(chat.staff_page.get_by_text("Claire Dubois is typing…")).to_be_visible(timeout=4 * SECOND)
    await typing
    await composer.fill("")


async def test_the_read_receipt_shows_who_saw_the_message_and_when(chat: Chat) -> None:
    await send(chat.staff_page, "Did you get the form?")
    await expect(chat.client_page.get_by_role("log").get_by_text("Did you get the form?")).to_be_visible()
    receipt = chat.staff_page.get_by_text(re.compile(r"^✓✓Seen by Claire Dubois at \d{1,2}:\d\d"))
    await expect(receipt).to_be_visible(timeout=SECOND)
    # Also after a reload, from the stored markers.
    await chat.staff_page.reload()
    await expect(receipt).to_be_visible()


async def test_a_note_is_shown_apart_to_staff_and_never_to_the_client(chat: Chat) -> None:
    staff = chat.staff_page
    await staff.get_by_text("Internal note", exact=True).click()
    await expect(staff.get_by_role("textbox", name="Message")).to_have_attribute("placeholder", re.compile("note"))
    await send(staff, "Careful: her 2025 return was late.")
    note = staff.locator("article.msg.note", has_text="Careful: her 2025 return was late.")
    await expect(note).to_be_visible()
    await expect(note).to_contain_text("Internal note")
    await staff.get_by_text("Reply", exact=True).click()
    await send(staff, "We will call you tomorrow.")
    await screenshot(staff, "conversation")
    client_log = chat.client_page.get_by_role("log")
    await expect(client_log.get_by_text("We will call you tomorrow.")).to_be_visible(timeout=SECOND)
    await expect(client_log).not_to_contain_text("Careful")
    await chat.client_page.reload()
    await expect(client_log.get_by_text("We will call you tomorrow.")).to_be_visible()
    await expect(chat.client_page.locator("body")).not_to_contain_text("Careful")
    await screenshot(chat.client_page, "client-conversation")


async def test_markup_in_a_message_renders_as_text(chat: Chat) -> None:
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold?</b>'
    await send(chat.client_page, payload)
    shown = chat.staff_page.get_by_role("log").get_by_text(payload)
    await expect(shown).to_be_visible(timeout=SECOND)
    assert await chat.staff_page.evaluate("window.__xss") is None
    assert await chat.staff_page.get_by_role("log").locator("img, script, b").count() == 0


async def test_markdown_is_shown_formatted(chat: Chat) -> None:
    await send_lines(chat.staff_page, ["**Signed** copy, two pages:", "", "- page 1", "- page 3 with `code`"])
    body = chat.client_page.get_by_role("log").locator("article").last
    await expect(body.locator("strong")).to_have_text("Signed", timeout=SECOND)
    await expect(body.locator("li")).to_have_count(2)
    await expect(body.locator("code")).to_have_text("code")


async def test_an_attachment_goes_up_and_comes_down(chat: Chat, tmp_path: Path) -> None:
    image = tmp_path / "scan.png"
    Image.new("RGB", (640, 400), (47, 91, 211)).save(image)
    text = tmp_path / "notes.txt"
    text.write_text("Pages 1 and 3 are signed.\n")
    staff = chat.staff_page
    await staff.locator("#attach-input").set_input_files([str(image), str(text)])
    await expect(staff.get_by_role("list", name="Attachments").get_by_text("scan.png")).to_be_visible()
    await send(staff, "Here are the scans.")
    client_log = chat.client_page.get_by_role("log")
    preview = client_log.get_by_role("img", name="scan.png")
    await expect(preview).to_be_visible(timeout=SECOND)
    assert await preview.evaluate("img => img.complete && img.naturalWidth > 0")
    download = client_log.get_by_role("link", name=re.compile("notes.txt"))
    await expect(download).to_be_visible()
    href = await download.get_attribute("href")
    assert href is not None
    answer = await chat.client_page.request.get(href)
    assert answer.status == 200
    assert await answer.body() == text.read_bytes()
    image_href = await client_log.get_by_role("link", name="scan.png").get_attribute("href")
    assert image_href is not None
    assert await (await chat.client_page.request.get(image_href)).body() == image.read_bytes()
    await screenshot(chat.client_page, "attachments")


async def test_video_links_become_sandboxed_players(chat: Chat) -> None:
    await send(chat.staff_page, "A short video on how to sign: https://youtu.be/dQw4w9WgXcQ")
    player = chat.client_page.get_by_role("log").locator("iframe").last
    await expect(player).to_have_attribute("src", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ", timeout=SECOND)
    assert "allow-scripts" in (await player.get_attribute("sandbox") or "")


async def test_authors_edit_and_delete_their_messages_live(chat: Chat) -> None:
    staff, client = chat.staff_page, chat.client_page
    original = staff.get_by_role("log").locator("article", has_text="Did you get the form?")
    await original.hover()
    await original.get_by_role("button", name="Edit this message").click()
    editor = staff.get_by_role("textbox", name="Edit the message")
    await expect(editor).to_be_focused()
    await editor.fill("Did you get the signed form?")
    await editor.press("Enter")
    edited = client.get_by_role("log").locator("article", has_text="Did you get the signed form?")
    await expect(edited).to_contain_text("(edited)", timeout=SECOND)

    await send(client, "Oops, wrong thread")
    mistake = client.get_by_role("log").locator("article", has_text="Oops, wrong thread")
    await expect(staff.get_by_role("log").get_by_text("Oops, wrong thread")).to_be_visible()
    client.once("dialog", lambda dialog: dialog.accept())
    await mistake.hover()
    await mistake.get_by_role("button", name="Delete this message").click()
    await expect(staff.get_by_role("log")).not_to_contain_text("Oops, wrong thread", timeout=SECOND)
    await expect(staff.get_by_role("log").get_by_text("This message was deleted.")).to_be_visible()


HIDE_TAB = """() => {
    window.__shown = [];
    const Real = window.Notification;
    window.Notification = class extends Real {
        constructor(title, options) { super(title, options); window.__shown.push([title, options.body]); }
    };
    Object.defineProperty(document, "hidden", { value: true, configurable: true });
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW_TAB = """() => {
    delete document.hidden;
    delete document.visibilityState;
    document.dispatchEvent(new Event("visibilitychange"));
}"""


async def test_a_hidden_tab_counts_unread_in_its_title_and_notifies(chat: Chat, server: ChatdProcess) -> None:
    client = chat.client_page
    button = client.get_by_role("button", name="Enable notifications")
    await expect(button).to_be_visible()
    await client.context.grant_permissions(["notifications"], origin=server.base_url)
    await button.click()  # the permission is asked from a click; granted, the button goes away
    await expect(button).to_be_hidden()
    await client.evaluate(HIDE_TAB)
    await send(chat.staff_page, "Your refund is confirmed.")
    await expect(client).to_have_title(re.compile(r"^\(1\) "), timeout=SECOND)
    shown = await client.evaluate("window.__shown")
    assert shown == [["New message from Anne Leroy", "Your 2026 tax return\nYour refund is confirmed."]]
    await client.evaluate(SHOW_TAB)  # back to the tab: the open thread is read, the count goes
    await expect(client).to_have_title(re.compile(r"^(?!\()"))


async def test_leaving_with_a_draft_asks_first(chat: Chat) -> None:
    page = chat.client_page
    await page.get_by_role("textbox", name="Message").fill("half-written thought")
    dialogs: list[str] = []

    async def dismiss(dialog: object) -> None:
        dialogs.append(dialog.type)  # type: ignore[attr-defined]
        await dialog.dismiss()  # type: ignore[attr-defined]

    page.once("dialog", dismiss)
    await page.evaluate("location.hash = '#/'; location.reload()")  # a navigation away from the page
    await page.wait_for_timeout(300)
    assert dialogs == ["beforeunload"]
    # The draft was kept, and is shown in the thread list (waiting for the page to be at '#/' first,
    # so that navigation cannot overtake the click below).
    await expect(page.get_by_role("main")).to_contain_text("Pick a conversation")
    await expect(page.get_by_role("navigation")).to_contain_text("Draft: half-written thought")
    await page.get_by_role("navigation").get_by_role("link", name=re.compile("Your 2026 tax return")).click()
    await expect(page.get_by_role("textbox", name="Message")).to_have_value("half-written thought")
    await page.get_by_role("textbox", name="Message").fill("")


async def test_phone_width_shows_one_pane_at_a_time(chat: Chat, server: ChatdProcess) -> None:
    context, page = await new_page(chat.browser, server.base_url, width=390, height=780)
    await log_in(page, chat.client.email)
    await expect(page.get_by_role("main")).to_be_hidden()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing sticks out sideways"
    await screenshot(page, "phone-list")
    await open_thread(page, "Your 2026 tax return")
    await expect(page.get_by_role("log").get_by_text("We will call you tomorrow.")).to_be_visible()
    await expect(page.get_by_role("navigation")).to_be_hidden()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing sticks out sideways"
    await screenshot(page, "phone-conversation")
    await page.get_by_role("link", name="Back to conversations").click()
    await expect(page.get_by_role("navigation")).to_be_visible()
    await context.close()


async def test_french_browsers_get_french(chat: Chat, server: ChatdProcess) -> None:
    context, page = await new_page(chat.browser, server.base_url, locale="fr-FR")
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    await page.get_by_label("E-mail").fill(chat.staff.email)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", name="Boîte de réception")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await screenshot(page, "inbox-fr")
    await context.close()


async def test_keyboard_reaches_threads_and_composer(chat: Chat) -> None:
    page = chat.staff_page
    await page.goto("/#/")
    # A fresh document, rendered, so the first Tab starts from its top: going to "/#/" from a
    # thread only changes the hash, and focus (and Chromium's Tab starting point) stay where the
    # earlier test left them.
    await page.reload()
    rows = page.get_by_role("navigation").get_by_role("link", name=re.compile("Claire Dubois"))
    await expect(rows.first).to_be_visible()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await rows.first.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Your 2026 tax return")).to_be_focused()
    await page.evaluate("document.activeElement.blur()")
    await screenshot(page, "keyboard")


@pytest.mark.parametrize("wrong", ["nope-nope-nope"])
async def test_a_wrong_password_is_told_plainly(chat: Chat, server: ChatdProcess, wrong: str) -> None:
    context, page = await new_page(chat.browser, server.base_url)
    await page.goto("/")
    await page.get_by_label("Email").fill(chat.client.email)
    await page.get_by_label("Password").fill(wrong)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    await context.close()
