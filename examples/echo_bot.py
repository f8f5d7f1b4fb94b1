"""The smallest chatd bot: it answers every message in its threads with the same words.

    CHATD_URL=ws://127.0.0.1:8000/ws CHATD_TOKEN=chatd_... .venv/bin/python examples/echo_bot.py

Make the bot and its token as a firm owner (docs/bots.md): ``POST /api/bots`` then
``POST /api/bots/{id}/tokens``, or ``chatd create-user --role bot`` and ``chatd create-token``.
"""

from __future__ import annotations

import logging
import os

from chatd.client import Bot, MessageEvent, User

bot = Bot(os.environ.get("CHATD_URL", "ws://127.0.0.1:8000/ws"), os.environ["CHATD_TOKEN"])


@bot.on_message
async def echo(event: MessageEvent) -> str:
    # Returning a string replies in the same thread, once, even across reconnects.
    return f"echo: {event.message.body}"


@bot.on_ready
async def ready(me: User) -> None:
    print(f"echo bot connected as {me.name} (user {me.id})", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    bot.run()
