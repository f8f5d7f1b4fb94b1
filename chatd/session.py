"""One live WebSocket session: its outbound queue, its writer, and its place in the event stream.

The hub only calls the non-blocking ``push_*`` methods; the writer task is the only one awaiting the
socket, so a slow client never stalls anyone else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from protocol.errors import CloseCode
from storage.directory import Account

logger = logging.getLogger(__name__)

Frame = str | bytes
SendFrame = Callable[[Frame], Awaitable[None]]


class Session:
    def __init__(
        self, account: Account, *, binary: bool, queue_size: int, session_id: str, credential: str = ""
    ) -> None:
        user = account.user
        # What authenticated it (chatd.revocations): a revocation matching it closes the session.
        self.credential = credential
        self.user_id = user.id
        self.firm_id = user.firm_id
        self.is_client = user.role.is_client
        self.sees_all_firm_threads = account.viewer.sees_all_firm_threads
        # Sees every thread of the firm whatever the firm shares with staff (a bot scoped to the firm).
        self.firm_wide = account.viewer.is_firm_wide_bot
        self.sees_remarks = account.viewer.sees_remarks
        self.client_account_id = user.client_account_id
        self.binary = binary
        self.session_id = session_id
        # The newest durable event this session has covered: delivered, or present in SQL when the
        # session began (the hello's event_id). Older events are never pushed twice.
        self.position = 0
        # One slot more than the limit, so the end-of-stream marker always fits.
        self._queue: asyncio.Queue[Frame | None] = asyncio.Queue(queue_size + 1)
        self._queue_size = queue_size
        self._room = asyncio.Event()
        # Until the client's first frame (or a grace period), live events wait here, so that a
        # reconnecting client's ``resume`` replays older events before newer live ones.
        self._gate_open = False
        self._held: list[tuple[int, Frame]] = []
        self.close_reason: tuple[int, str] | None = None
        # Set by the connection: close gracefully once the request in hand is answered.
        self.on_close_request: Callable[[int, str], None] | None = None

    # -- called by the hub and the request handlers; never block --

    def push_event(self, event_id: int | None, frame: Frame) -> None:
        if event_id is None:
            self._offer(frame, droppable=True)
            return
        if event_id <= self.position:
            return
        if not self._gate_open:
            if len(self._held) >= self._queue_size:
                self.abort(CloseCode.TOO_SLOW, "too far behind: reconnect and resume")
                return
            self._held.append((event_id, frame))
            return
        self.position = event_id
        self._offer(frame, droppable=False)

    def push_reply(self, frame: Frame) -> None:
        self._offer(frame, droppable=False)

    async def push_reply_when_room(self, frame: Frame) -> None:
        """Queue a frame of a long answer (a replay), waiting while the queue is full instead of
        treating the session as too slow: the client asked for all of it."""
        while self._queue.qsize() >= self._queue_size and self.close_reason is None:
            self._room.clear()
            await self._room.wait()
        self._offer(frame, droppable=False)

    def open_gate(self) -> None:
        """Let live events flow, the held ones first."""
        if self._gate_open:
            return
        self._gate_open = True
        held, self._held = self._held, []
        for event_id, frame in held:
            self.push_event(event_id, frame)

    def abort(self, code: int, reason: str) -> None:
        """Close as soon as the writer gets to it, dropping whatever is still queued."""
        if self.close_reason is not None:
            return
        self.close_reason = (code, reason)
        logger.info("closing session %s of user %s: %s", self.session_id, self.user_id, reason)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        self._room.set()

    def request_close(self, code: int, reason: str) -> None:
        """Close gracefully: answer the request in hand, flush the queue, then close (shutdown)."""
        if self.on_close_request is not None:
            self.on_close_request(code, reason)

    def finish(self) -> None:
        """End the writer once everything queued so far is sent."""
        self._queue.put_nowait(None)

    def _offer(self, frame: Frame, *, droppable: bool) -> None:
        if self.close_reason is not None:
            return
        if self._queue.qsize() >= self._queue_size:
            if not droppable:
                self.abort(CloseCode.TOO_SLOW, "too far behind: reconnect and resume")
            return
        self._queue.put_nowait(frame)

    # -- the writer task --

    async def write_loop(self, send: SendFrame) -> None:
        """Send queued frames in order until ``abort`` or cancellation."""
        while True:
            frame = await self._queue.get()
            self._room.set()
            if frame is None:
                return
            await send(frame)
