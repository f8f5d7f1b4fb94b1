"""A bot that answers frequent questions from a YAML file (examples/faq.yaml).

    CHATD_URL=ws://127.0.0.1:8000/ws CHATD_TOKEN=chatd_... .venv/bin/python examples/faq_bot.py [faq.yaml]

It answers a message that matches a question and stays quiet otherwise; @mentioned with a
question it does not know, it answers with the file's fallback.
"""

from __future__ import annotations

import logging
import os
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from chatd.client import Bot, MentionEvent, MessageEvent, User


@dataclass(frozen=True)
class Entry:
    patterns: list[frozenset[str]]
    answer: str


def words(text: str) -> frozenset[str]:
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return frozenset("".join(c if c.isalnum() else " " for c in plain).split())


def load_faq(path: Path) -> tuple[list[Entry], str]:
    data = yaml.safe_load(path.read_text())
    entries = [Entry([words(p) for p in item["when"]], item["answer"]) for item in data["questions"]]
    return entries, str(data.get("fallback", ""))


def best_answer(entries: list[Entry], text: str) -> str | None:
    said = words(text)
    best: tuple[int, str] | None = None
    for entry in entries:
        for pattern in entry.patterns:
            if pattern <= said and (best is None or len(pattern) > best[0]):
                best = (len(pattern), entry.answer)
    return None if best is None else best[1]


faq_path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("faq.yaml")
ENTRIES, FALLBACK = load_faq(faq_path)
bot = Bot(os.environ.get("CHATD_URL", "ws://127.0.0.1:8000/ws"), os.environ["CHATD_TOKEN"])


@bot.on_message
async def answer(event: MessageEvent) -> str | None:
    return best_answer(ENTRIES, event.message.body)


@bot.on_mention
async def mentioned(event: MentionEvent) -> str | None:
    # A known question was answered by on_message already (a mention is a message too).
    if event.message is None or best_answer(ENTRIES, event.message.body) is not None:
        return None
    return FALLBACK


@bot.on_ready
async def ready(me: User) -> None:
    print(f"FAQ bot connected as {me.name} (user {me.id}) with {len(ENTRIES)} questions", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    bot.run()
