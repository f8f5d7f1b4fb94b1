"""A real SMTP server (aiosmtpd) on a free loopback port; tests read what it received."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import free_port


class MailServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        # Senders (host, port) whose message was held unanswered: see stall().
        self.stalled: list[tuple[str, int]] = []
        self._stall_to: set[str] = set()
        self._arrived = threading.Condition()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._arrived:
            stall = bool(self._stall_to.intersection(envelope.rcpt_tos))
            if stall:
                self._stall_to.difference_update(envelope.rcpt_tos)
                self.stalled.append(session.peer)
                self._arrived.notify_all()
        if stall:
            await asyncio.sleep(3600)  # never answered: the sender dies or gives up first
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._arrived:
            self.messages.append(parsed)
            self._arrived.notify_all()
        return "250 OK"

    def stall(self, address: str) -> None:
        """Hold the next message to ``address`` unanswered (not received), as a hung relay would."""
        with self._arrived:
            self._stall_to.add(address)

    def wait_stalled(self, timeout: float = 10.0) -> tuple[str, int]:
        """Block until a message is held; the (host, port) of its sender."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not self.stalled:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no message was held")
                self._arrived.wait(remaining)
            return self.stalled[0]

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        with self._arrived:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until ``count`` emails to ``address`` have arrived; returns them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(found := [m for m in self.messages if m["To"] == address]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(found)} emails to {address}, not {count}")
                self._arrived.wait(remaining)
            return found
