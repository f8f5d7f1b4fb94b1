"""The example bots (Python echo and FAQ bots on the SDK, a Node.js bot on the bare protocol) talk
to a running chatd."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from chatd.services.context import Services
from protocol.values import Role, User
from tests.conftest import Connect, new_id
from tests.support import ROOT, ChatdProcess, WsClient, new_firm

NODE_BOT = ROOT / "examples" / "node_bot"


@dataclass
class Scene:
    staff: WsClient
    thread_id: int


@pytest.fixture(scope="module")
def node_bot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``npm ci`` from the committed lock file, as CI does, into a copy: two suites may run side by side."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed for the Node.js example (scripts/test installs it)"
    folder = tmp_path_factory.mktemp("node_bot")
    for name in ("bot.js", "package.json", "package-lock.json"):
        shutil.copy(NODE_BOT / name, folder / name)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, capture_output=True, timeout=300)
    return folder


async def _scene(services: Services, connect: Connect) -> tuple[Scene, User, str]:
    firm = await new_firm(services)
    staff_user = await firm.user(Role.STAFF)
    client = await firm.user(Role.CLIENT)
    bot = await firm.user(Role.BOT)
    staff = await connect(await firm.token(staff_user))
    opened = await staff.ok(
        "thread.create",
        subject="Questions",
        body="Bot joins",
        client_msg_id=new_id(),
        client_account_id=client.client_account_id,
        participants=[bot.id],
    )
    return Scene(staff, opened["thread"]["id"]), bot, await firm.token(bot)


@pytest_asyncio.fixture(loop_scope="session")
async def running() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    processes: list[asyncio.subprocess.Process] = []
    yield processes
    for process in processes:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)


async def _start(
    running: list[asyncio.subprocess.Process], server: ChatdProcess, token: str, *command: str
) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, "CHATD_URL": server.ws_url, "CHATD_TOKEN": token},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running.append(process)
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line, "the bot exited before connecting"
        if "connected as" in line:
            return process


async def _say(scene: Scene, body: str) -> None:
    await scene.staff.ok("send", thread_id=scene.thread_id, body=body, client_msg_id=new_id())


async def test_the_echo_bot_echoes(
    server: ChatdProcess, services: Services, connect: Connect, running: list[asyncio.subprocess.Process]
) -> None:
    scene, bot, token = await _scene(services, connect)
    await _start(running, server, token, sys.executable, "examples/echo_bot.py")
    await _say(scene, "Hello bot")
    reply = await scene.staff.event("message.created", message__body="echo: Hello bot", timeout=15)
    assert reply["data"]["message"]["author_id"] == bot.id


async def test_the_faq_bot_answers_known_questions_only(
    server: ChatdProcess, services: Services, connect: Connect, running: list[asyncio.subprocess.Process]
) -> None:
    scene, bot, token = await _scene(services, connect)
    await _start(running, server, token, sys.executable, "examples/faq_bot.py")
    await _say(scene, "Nice weather today")
    await _say(scene, "What are your opening HOURS?")
    reply = await scene.staff.event("message.created", message__author_id=bot.id, timeout=15)
    assert reply["data"]["message"]["body"] == "Our office is open Monday to Friday, 9:00 to 18:00."
    await _say(scene, "Quel est le taux de TVA ?")
    answer = await scene.staff.next_frame(
        lambda f: (
            f.get("op") == "event"
            and f["data"].get("message", {}).get("author_id") == bot.id
            and "VAT" in f["data"]["message"]["body"]
        ),
        timeout=15,
    )
    assert answer["data"]["message"]["body"].startswith("The standard VAT rate is 20 %")
    bot_bodies = [
        e["data"]["message"]["body"]
        for e in scene.staff.events
        if e["type"] == "message.created" and e["data"]["message"]["author_id"] == bot.id
    ]
    assert len(bot_bodies) == 2  # "Nice weather today" got no answer


async def test_the_node_bot_talks_with_the_protocol_alone(
    server: ChatdProcess,
    services: Services,
    connect: Connect,
    running: list[asyncio.subprocess.Process],
    node_bot: Path,
) -> None:
    scene, bot, token = await _scene(services, connect)
    node = shutil.which("node")
    assert node is not None
    await _start(running, server, token, node, str(node_bot / "bot.js"))
    await _say(scene, "Hi from staff")
    reply = await scene.staff.event("message.created", message__body="node bot heard: Hi from staff", timeout=15)
    assert reply["data"]["message"]["author_id"] == bot.id
    await _say(scene, "Second message")
    await scene.staff.event("message.created", message__body="node bot heard: Second message", timeout=15)
