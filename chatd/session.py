"""One live WebSocket session: its outbound queue, its writer, and its place in the event stream.

The hub only calls the non-blocking ``push_*`` methods; the writer task is the only one awaiting the
socket, so a slow client never stalls anyone else.

Memory stays bounded without closing a client that reads: once the queue holds ``queue_size``
frames, newer durable events are not queued but remembered as *missed* (their newest id only), and
the writer reads them back from SQL, a queue's worth at a time, when the queue has drained. A burst
of any size (a notification job's tick, a gap filled from SQL) is thereby paced by the client's own
reading. Only a client that stops reading is closed (4001): one whose socket took no frame for
``stall_s`` while it had missed events.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable

from protocol.errors import CloseCode
from storage.directory import Account

logger = logging.getLogger(__name__)

Frame = str | bytes
SendFrame = Callable[[Frame], Awaitable[None]]
# Reads the durable events in (after, through] this session may see, at most ``limit``, oldest
# first, encoded: (event id, frame) pairs.
LoadMissed = Callable[[int, int, int], Awaitable[list[tuple[int, Frame]]]]

TOO_SLOW = "too far behind: reconnect and resume"


class _Signal(enum.Enum):
    END = "end"  # the writer stops here
    CATCH_UP = "catch up"  # wakes an idle writer to read missed events


class Session:
    def __init__(
        self,
        account: Account,
        *,
        binary: bool,
        queue_size: int,
        session_id: str,
        credential: str = "",
        stall_s: float = 10.0,
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
        # The newest durable event this session has covered: queued, or present in SQL when the
        # session began (the hello's event_id). Older events are never pushed twice.
        self.position = 0
        # The newest durable event left out because the queue was full; above ``position`` while
        # the session is behind, and then the writer reads (position, missed_through] from SQL.
        self._missed_through = 0
        self.load_missed: LoadMissed | None = None
        # Unbounded as a structure; the limits are enforced in ``_offer`` and ``push_event``.
        self._queue: asyncio.Queue[Frame | _Signal] = asyncio.Queue()
        self._queue_size = queue_size
        self._room = asyncio.Event()
        self._stall_s = stall_s
        self._sent = 0  # frames written so far: the watchdog's measure of progress
        self._watchdog: asyncio.TimerHandle | None = None
        self._loading = False  # reading missed events: waiting on SQL, not on the client
        # Until the client's first frame (or a grace period), live events wait here, so that a
        # reconnecting client's ``resume`` replays older events before newer live ones.
        self._gate_open = False
        self._held: list[tuple[int, Frame]] = []
        self.close_reason: tuple[int, str] | None = None
        # Set by the connection: close gracefully once the request in hand is answered.
        self.on_close_request: Callable[[int, str], None] | None = None

    @property
    def behind(self) -> bool:
        return self._missed_through > self.position

    # -- called by the hub and the request handlers; never block --

    def push_event(self, event_id: int | None, frame: Frame) -> None:
        if event_id is None:
            self._offer(frame, droppable=True)
            return
        if event_id <= self.position or self.close_reason is not None:
            return
        if self.behind:
            # Read from SQL once the client has caught up.
            self._missed_through = max(self._missed_through, event_id)
            return
        if not self._gate_open:
            if len(self._held) >= self._queue_size:
                self._fall_behind(event_id)
                return
            self._held.append((event_id, frame))
            return
        if self._queue.qsize() >= self._queue_size:
            self._fall_behind(event_id)
            return
        self.position = event_id
        self._queue.put_nowait(frame)

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
        """Let live events flow, the held ones first, then the missed ones (read from SQL)."""
        if self._gate_open:
            return
        self._gate_open = True
        held, self._held = self._held, []
        for event_id, frame in held:
            self.push_event(event_id, frame)
        if self.behind and self._queue.empty():
            self._queue.put_nowait(_Signal.CATCH_UP)

    def abort(self, code: int, reason: str) -> None:
        """Close as soon as the writer gets to it, dropping whatever is still queued."""
        if self.close_reason is not None:
            return
        self.close_reason = (code, reason)
        logger.info("closing session %s of user %s: %s", self.session_id, self.user_id, reason)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_Signal.END)
        self._room.set()
        if self._watchdog is not None:
            self._watchdog.cancel()

    def request_close(self, code: int, reason: str) -> None:
        """Close gracefully: answer the request in hand, flush the queue, then close (shutdown)."""
        if self.on_close_request is not None:
            self.on_close_request(code, reason)

    def finish(self) -> None:
        """End the writer once everything queued so far is sent."""
        self._queue.put_nowait(_Signal.END)

    def _offer(self, frame: Frame, *, droppable: bool) -> None:
        if self.close_reason is not None:
            return
        size = self._queue.qsize()
        if droppable:
            if size < self._queue_size:
                self._queue.put_nowait(frame)
            return
        # Answers come one per request the client sent, so they may use a second queue's worth:
        # a reading client's answer must not be refused because a burst of events filled the queue.
        if size >= 2 * self._queue_size:
            self.abort(CloseCode.TOO_SLOW, TOO_SLOW)
            return
        self._queue.put_nowait(frame)

    def _fall_behind(self, event_id: int) -> None:
        self._missed_through = event_id
        self._held.clear()  # at or below the missed id: read back from SQL with the rest
        if self._watchdog is None:
            self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        sent = self._sent

        def check() -> None:
            self._watchdog = None
            if not self.behind or self.close_reason is not None:
                return
            if self._sent == sent and not self._loading:
                self.abort(CloseCode.TOO_SLOW, TOO_SLOW)
            else:
                self._arm_watchdog()

        self._watchdog = asyncio.get_running_loop().call_later(self._stall_s, check)

    # -- the writer task --

    async def write_loop(self, send: SendFrame) -> None:
        """Send queued frames in order, and the missed events after them, until the end marker
        (``abort``, ``finish``) or cancellation."""
        while True:
            if self._queue.empty() and self._gate_open and self.behind:
                await self._catch_up()
            frame = await self._queue.get()
            self._room.set()
            if frame is _Signal.END:
                return
            if frame is _Signal.CATCH_UP:
                continue
            await send(frame)
            self._sent += 1

    async def _catch_up(self) -> None:
        """Queue the next missed events (a queue's worth at most), read from SQL."""
        assert self.load_missed is not None
        through = self._missed_through
        self._loading = True
        try:
            loaded = await self.load_missed(self.position, through, self._queue_size)
        except Exception:
            logger.warning("session %s could not read its missed events", self.session_id, exc_info=True)
            self.abort(CloseCode.TOO_SLOW, TOO_SLOW)
            return
        finally:
            self._loading = False
        if self.close_reason is not None:
            return
        for event_id, frame in loaded:
            if event_id > self.position:
                self.position = event_id
                self._queue.put_nowait(frame)
        if len(loaded) < self._queue_size:
            # Everything up to ``through`` was read; events newer than it are missed ones still.
            self.position = max(self.position, through)
        if self._queue.empty():
            self._queue.put_nowait(_Signal.CATCH_UP)
