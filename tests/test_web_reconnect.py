"""The web client rides out a server restart: an offline banner, sends queued meanwhile and delivered
once, on both sides, after reconnecting and resuming."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from playwright.async_api import WebSocketRoute, expect

from tests.support import ChatdProcess, seeder
from tests.web_support import chromium, log_in, new_page, open_thread, screenshot, seed_leroy, signed_in, start_thread

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


async def test_a_resume_refused_for_now_is_tried_again_and_fills_the_gap(tmp_path: Path) -> None:
    """A reconnect whose ``resume`` answers ``unavailable`` (the database out for a moment) does not
    go on live past the gap: the page reconnects and resumes again, and shows what was sent while
    it was away. The client page's socket goes through Playwright's WebSocket route, which drops it
    and refuses its next resume."""
    server = ChatdProcess(tmp_path)
    server.start()
    try:
        async with seeder(tmp_path, server.env) as services:
            anne, claire = await seed_leroy(services)
        async with chromium() as browser:
            [staff] = await signed_in(browser, server.base_url, anne.email)
            _, client = await new_page(browser, server.base_url)
            routes: list[tuple[WebSocketRoute, WebSocketRoute]] = []
            refusals = {"left": 0, "made": 0}
            away = asyncio.Event()  # while clear, the page cannot reach the server

            async def route(page_side: WebSocketRoute) -> None:
                if not away.is_set():
                    await page_side.close()
                    return
                server_side = page_side.connect_to_server()
                routes.append((page_side, server_side))

                def from_page(message: str | bytes) -> None:
                    frame = json.loads(message)
                    if frame.get("op") == "resume" and refusals["left"] > 0:
                        refusals["left"] -= 1
                        refusals["made"] += 1
                        refused = {"op": "error", "id": frame["id"], "code": "unavailable", "retry_after": 0.2}
                        page_side.send(json.dumps({**refused, "message": "the database cannot be reached; retry"}))
                        return
                    server_side.send(message)

                page_side.on_message(from_page)

            away.set()
            await client.route_web_socket(re.compile(r"/ws$"), route)
            await log_in(client, claire.email)
            await start_thread(staff, "Lease renewal", "Can we talk about the lease?")
            await open_thread(client, "Lease renewal")

            refusals["left"] = 1
            away.clear()
            page_side, server_side = routes[-1]
            await server_side.close()
            await page_side.close()
            await expect(client.get_by_role("status")).to_contain_text("Reconnecting")
            composer = staff.get_by_role("textbox", name="Message")
            await composer.fill("Sent while you were away.")
            await composer.press("Enter")
            await expect(staff.get_by_role("log").get_by_text("Sent while you were away.")).to_be_visible()
            away.set()  # back: the next connection's resume is refused, the one after it fills the gap

            log = client.get_by_role("log")
            await expect(log.get_by_text("Sent while you were away.")).to_have_count(1, timeout=BACK_ONLINE_MS)
            assert refusals["made"] == 1
            await expect(client.get_by_role("status")).to_be_hidden()
            assert len(routes) >= 3  # the first connection, the refused one, the one that resumed
    finally:
        server.stop()
