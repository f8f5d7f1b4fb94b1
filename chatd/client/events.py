"""Typed events: the ``event`` frames of protocol v1 as Python objects.

Every event keeps its raw ``data``; known types also carry their parsed values. A type this SDK
does not know yet arrives as a plain ``Event``, so a newer server never breaks an older bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from protocol.values import Message, MessageKind, Thread


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    # Durable events have one; ephemeral ones (typing) do not.
    event_id: int | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MessageEvent(Event):
    """``message.created``, ``message.updated`` or ``message.deleted``."""

    message: Message


@dataclass(frozen=True, slots=True)
class MentionEvent(Event):
    """``mention``: someone @mentioned this user; ``message`` is the message that does."""

    message: Message | None


@dataclass(frozen=True, slots=True)
class ReadEvent(Event):
    thread_id: int
    user_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class ThreadEvent(Event):
    """``thread.created`` or ``thread.updated``."""

    thread: Thread


@dataclass(frozen=True, slots=True)
class TypingEvent(Event):
    thread_id: int
    user_id: int
    kind: MessageKind


def parse_event(type_: str, event_id: int | None, data: dict[str, Any]) -> Event:
    """The typed event for a frame's ``type`` and ``data``; a plain Event if the shape is unknown."""
    try:
        if type_.startswith("message."):
            return MessageEvent(type_, event_id, data, msgspec.convert(data["message"], Message))
        if type_ == "mention":
            found = data.get("message")
            message = None if found is None else msgspec.convert(found, Message)
            return MentionEvent(type_, event_id, data, message)
        if type_ == "read":
            return ReadEvent(
                type_, event_id, data, int(data["thread_id"]), int(data["user_id"]), int(data["message_id"])
            )
        if type_.startswith("thread."):
            return ThreadEvent(type_, event_id, data, msgspec.convert(data["thread"], Thread))
        if type_ == "typing":
            kind = MessageKind(data.get("kind", MessageKind.MESSAGE.value))
            return TypingEvent(type_, event_id, data, int(data["thread_id"]), int(data["user_id"]), kind)
    except (KeyError, TypeError, ValueError, msgspec.ValidationError):
        pass
    return Event(type_, event_id, data)
