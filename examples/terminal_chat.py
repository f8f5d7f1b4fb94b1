"""Chat from a terminal over chatd's protocol v1: log in, pick a thread, read and write live.

    .venv/bin/python examples/terminal_chat.py --email claire@demo.chatd.local --password …

Lines you type are sent to the thread; "/note text" sends an internal note (staff only).
Uses only the protocol (docs/protocol.md): an HTTP login for the session cookie, then /ws.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import uuid
from typing import Any

import httpx
import websockets


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--thread", type=int, help="thread id (default: the most recent)")
    args = parser.parse_args()

    async with httpx.AsyncClient(base_url=args.url) as http:
        login = await http.post("/api/login", json={"email": args.email, "password": args.password})
        if login.status_code != 200:
            sys.exit(f"login failed: {login.json()['error']['message']}")
        cookie = login.cookies["chatd_session"]
    me = login.json()["user"]
    ws_url = args.url.replace("http", "ws", 1) + "/ws"
    headers = {"Cookie": f"chatd_session={cookie}", "Origin": args.url}
    async with websockets.connect(ws_url, subprotocols=["chatd.v1.json"], additional_headers=headers) as ws:  # type: ignore[list-item]
        session = Session(ws)
        hello = json.loads(await ws.recv())
        print(f"connected as {hello['user']['name']} ({hello['user']['role']})", flush=True)
        reader = asyncio.create_task(session.read())
        threads = (await session.call("threads"))["threads"]
        if not threads:
            sys.exit("no threads yet")
        thread = next((t for t in threads if t["id"] == args.thread), threads[0]) if args.thread else threads[0]
        print(f"thread {thread['id']}: {thread['subject']}", flush=True)
        for message in (await session.call("history", thread_id=thread["id"], limit=20))["messages"]:
            show(message, me["id"])
        session.on_message = lambda m: show(m, me["id"]) if m["thread_id"] == thread["id"] else None
        await type_lines(session, thread["id"])
        reader.cancel()


class Session:
    """Requests matched to answers by id; message events printed as they come."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.on_message: Any = None

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        request_id = next(self.ids)
        answered = self.waiting[request_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({"op": op, "id": request_id, **fields}))
        answer = await answered
        if answer["op"] == "error":
            raise RuntimeError(f"{answer['code']}: {answer['message']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame["op"] in ("ok", "error") and frame.get("id") in self.waiting:
                self.waiting.pop(frame["id"]).set_result(frame)
            elif frame["op"] == "event" and frame["type"] == "message.created" and self.on_message:
                self.on_message(frame["data"]["message"])


def show(message: dict[str, Any], my_id: int) -> None:
    who = "me" if message["author_id"] == my_id else f"user {message['author_id']}"
    note = " [note]" if message["kind"] == "note" else ""
    print(f"{message['created_at'][11:16]} {who}{note}: {message['body']}", flush=True)


async def type_lines(session: Session, thread_id: int) -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        text = line.strip()
        if not text:
            continue
        kind = "note" if text.startswith("/note ") else "message"
        body = text.removeprefix("/note ") if kind == "note" else text
        await session.call("send", thread_id=thread_id, body=body, kind=kind, client_msg_id=uuid.uuid4().hex)


if __name__ == "__main__":
    asyncio.run(main())
