"""One live WebSocket session: its outbound queue, its writer, and its place in the event stream.

The hub only calls the non-blocking ``push_*`` methods. The writer starts inline and writes what the
socket takes at once; only when it has to wait (a full socket buffer, missed events read from SQL)
does it become a task, the only one awaiting that socket, so a slow client never stalls anyone else.
The writer runs only while there is something to send: an idle session holds no task, no queue
object and no event, only a deque (memory per idle connection, docs/performance.md workload C).

Memory stays bounded without closing a client that reads: once the queue holds ``queue_size``
frames, newer durable events are not queued but remembered as *missed* (their newest id only), and
the writer reads them back from SQL, a queue's worth at a time, when the queue has drained. A burst
of any size (a notification job's tick, a gap filled from SQL) is thereby paced by the client's own
reading. Only a client that stops reading is closed (4001): one whose socket took no frame for
``stall_s`` while it had missed events.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from chatd import eager
from protocol.errors import CloseCode
from storage.directory import Account

logger = logging.getLogger(__name__)

Frame = str | bytes
SendFrame = Callable[[Frame], Awaitable[None]]
# Reads the durable events in (after, through] this session may see, at most ``limit``, oldest
# first, encoded as (event id, frame) pairs; and the id up to which that covers them.
LoadMissed = Callable[[int, int, int], Awaitable[tuple[list[tuple[int, Frame]], int]]]
# Writes a frame at once if the socket takes it without waiting, and says whether it did.
WriteNow = Callable[[Frame], bool]

TOO_SLOW = "too far behind: reconnect and resume"


class SocketGone(Exception):
    """Raised by a ``SendFrame`` whose socket is closed or failed: the session ends quietly."""


class _Signal(enum.Enum):
    END = "end"  # the writer stops here


class Session:
    __slots__ = (
        "_context",
        "_frames",
        "_gate_open",
        "_gone",
        "_held",
        "_loading",
        "_missed_through",
        "_on_end",
        "_queue_size",
        "_room",
        "_send",
        "_sent",
        "_stall_s",
        "_watchdog",
        "_write_now",
        "_writer",
        "_writing",
        "binary",
        "client_account_id",
        "close_reason",
        "credential",
        "firm_id",
        "firm_wide",
        "is_client",
        "load_missed",
        "on_close_request",
        "position",
        "sees_all_firm_threads",
        "sees_remarks",
        "session_id",
        "user_id",
    )

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
        # The outbound queue; its limits are enforced in ``_offer`` and ``push_event``.
        self._frames: deque[Frame | _Signal] = deque()
        self._queue_size = queue_size
        self._send: SendFrame | None = None  # set by ``start``: frames wait until then
        self._write_now: WriteNow | None = None
        self._on_end: Callable[[], None] | None = None
        # The connection's context (its session id for log lines): a writer started while the hub
        # delivers another session's request must not log under that one's ids.
        self._context: contextvars.Context | None = None
        self._writing = False  # a writer is running: inline (see ``_kick``) or as ``_writer``
        self._writer: asyncio.Task[None] | None = None  # the writer, once it has had to wait
        self._room: asyncio.Future[None] | None = None  # a long answer waiting for the queue to drain
        self._stall_s = stall_s
        self._sent = 0  # frames written so far: the watchdog's measure of progress
        self._watchdog: asyncio.TimerHandle | None = None
        self._loading = False  # reading missed events: waiting on SQL, not on the client
        # Until the client's first frame (or a grace period), live events wait here, so that a
        # reconnecting client's ``resume`` replays older events before newer live ones.
        self._gate_open = False
        self._held: list[tuple[int, Frame]] | None = None
        self.close_reason: tuple[int, str] | None = None
        self._gone = False  # the socket failed: nothing more is queued or awaited
        # Set by the connection: close gracefully once the request in hand is answered.
        self.on_close_request: Callable[[int, str], None] | None = None

    @property
    def behind(self) -> bool:
        return self._missed_through > self.position

    def start(self, send: SendFrame, on_end: Callable[[], None], write_now: WriteNow | None = None) -> None:
        """Write with ``send`` from now on; ``on_end`` is told when the writer has reached the end
        marker (``abort``, ``finish``) or the socket failed. ``write_now``, if given, writes a
        frame that finds no writer running without a coroutine (chatd.direct_write)."""
        self._send = send
        self._write_now = write_now
        self._on_end = on_end
        self._context = contextvars.copy_context()
        self._kick()

    # -- called by the hub and the request handlers; never block --

    def push_event(self, event_id: int | None, frame: Frame) -> None:
        if event_id is None:
            self._offer(frame, droppable=True)
            return
        if event_id <= self.position or self.close_reason is not None or self._gone:
            return
        if self.behind:
            # Read from SQL once the client has caught up.
            self._missed_through = max(self._missed_through, event_id)
            return
        if not self._gate_open:
            held = self._held
            if held is None:
                held = self._held = []
            if len(held) >= self._queue_size:
                self._fall_behind(event_id)
                return
            held.append((event_id, frame))
            return
        if len(self._frames) >= self._queue_size:
            self._fall_behind(event_id)
            return
        self.position = event_id
        self._enqueue(frame)

    def push_reply(self, frame: Frame) -> None:
        self._offer(frame, droppable=False)

    async def push_reply_when_room(self, frame: Frame) -> None:
        """Queue a frame of a long answer (a replay), waiting while the queue is full instead of
        treating the session as too slow: the client asked for all of it."""
        while len(self._frames) >= self._queue_size and self.close_reason is None and not self._gone:
            if self._room is None:
                self._room = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._room)
        self._offer(frame, droppable=False)

    def open_gate(self) -> None:
        """Let live events flow, the held ones first, then the missed ones (read from SQL)."""
        if self._gate_open:
            return
        self._gate_open = True
        held, self._held = self._held, None
        for event_id, frame in held or ():
            self.push_event(event_id, frame)
        self._kick()

    def abort(self, code: int, reason: str) -> None:
        """Close as soon as the writer gets to it, dropping whatever is still queued."""
        if self.close_reason is not None:
            return
        self.close_reason = (code, reason)
        logger.info("closing session %s of user %s: %s", self.session_id, self.user_id, reason)
        self._frames.clear()
        self._enqueue(_Signal.END)
        self._make_room()
        if self._watchdog is not None:
            self._watchdog.cancel()

    def request_close(self, code: int, reason: str) -> None:
        """Close gracefully: answer the request in hand, flush the queue, then close (shutdown)."""
        if self.on_close_request is not None:
            self.on_close_request(code, reason)

    def finish(self) -> None:
        """End the writer once everything queued so far is sent."""
        self._enqueue(_Signal.END)

    async def flushed(self) -> None:
        """Wait until the writer has sent what is queued (after ``finish``)."""
        writer = self._writer
        if writer is not None:
            await asyncio.wait({writer})

    async def stop(self) -> None:
        """Stop the writer, wherever it is."""
        writer = self._writer
        if writer is not None:
            writer.cancel()
            await asyncio.wait({writer})

    def _offer(self, frame: Frame, *, droppable: bool) -> None:
        if self.close_reason is not None or self._gone:
            return
        size = len(self._frames)
        if droppable:
            if size < self._queue_size:
                self._enqueue(frame)
            return
        # Answers come one per request the client sent, so they may use a second queue's worth:
        # a reading client's answer must not be refused because a burst of events filled the queue.
        if size >= 2 * self._queue_size:
            self.abort(CloseCode.TOO_SLOW, TOO_SLOW)
            return
        self._enqueue(frame)

    def _enqueue(self, item: Frame | _Signal) -> None:
        if (
            self._write_now is not None
            and not self._writing
            and not self._frames
            and not isinstance(item, _Signal)
            and self._write_now(item)
        ):
            self._sent += 1
            return
        self._frames.append(item)
        if not self._writing:
            self._kick()

    def _kick(self) -> None:
        """Start the writer if there is something for it to do and none is running.

        It starts inline: a writable socket takes the frames at once, as ``websockets.broadcast``
        writes them, and the writer becomes a task only if it has to wait (a full socket buffer,
        missed events read from SQL)."""
        if self._writing or self._send is None:
            return
        if self._frames or (self._gate_open and self.behind):
            assert self._context is not None
            self._writing = True
            self._writer = eager.start(self._write(self._send), self._context)

    def _make_room(self) -> None:
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)

    def _lost(self) -> None:
        """The socket is gone: drop what is queued, and free a long answer waiting for room."""
        self._gone = True
        self._frames.clear()
        self._make_room()
        if self._watchdog is not None:
            self._watchdog.cancel()

    def _fall_behind(self, event_id: int) -> None:
        self._missed_through = event_id
        self._held = None  # at or below the missed id: read back from SQL with the rest
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

    async def _write(self, send: SendFrame) -> None:
        """Send queued frames in order, and the missed events after them; end when there is
        nothing left (the next frame starts another writer) or at the end marker."""
        frames = self._frames
        ended = False
        try:
            while True:
                if not frames:
                    if not (self._gate_open and self.behind):
                        return
                    await self._catch_up()
                    continue
                frame = frames.popleft()
                if self._room is not None and len(frames) < self._queue_size:
                    self._make_room()
                if frame is _Signal.END:
                    ended = True
                    return
                await send(frame)
                self._sent += 1
        except SocketGone:
            ended = True
            self._lost()
        except Exception:
            ended = True
            logger.exception("session %s: writing failed", self.session_id)
            self._lost()
        finally:
            self._writer = None
            if ended and self._on_end is not None:
                self._on_end()
            # Last: a frame queued by ``_on_end`` starts no writer inside this one's context.
            self._writing = False

    async def _catch_up(self) -> None:
        """Queue the next missed events (a queue's worth at most), read from SQL."""
        assert self.load_missed is not None
        through = self._missed_through
        self._loading = True
        try:
            loaded, covered = await self.load_missed(self.position, through, self._queue_size)
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
                self._frames.append(frame)
        # Past what was read (up to ``through`` at most): newer events are missed ones still.
        self.position = max(self.position, covered)
