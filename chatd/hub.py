"""This process's live sessions, and delivery of bus events to the ones allowed to see them.

Durable events are delivered in event-id order. The broker is only a doorbell: when an id is
missing (another process's publish still in flight, a lost pub/sub message, a crash between commit
and publish), the hub waits briefly and then reads the missing events from SQL, the mailbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from chatd import metrics, revocations
from chatd.bus import BusEvent
from chatd.session import Frame, Session
from protocol import Codec, codec_for
from protocol.codec import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL
from protocol.frames import Event

logger = logging.getLogger(__name__)

# Reads durable events in (after, through] from SQL, as bus events.
EventLoader = Callable[[int, int], Awaitable[list[BusEvent]]]
NewestEventId = Callable[[], Awaitable[int]]

_CODECS: tuple[Codec, Codec] = (codec_for(JSON_SUBPROTOCOL), codec_for(MSGPACK_SUBPROTOCOL))


class Hub:
    def __init__(self, load_events: EventLoader, newest_event_id: NewestEventId, *, gap_wait_s: float = 0.05) -> None:
        self._load_events = load_events
        self._newest_event_id = newest_event_id
        self._gap_wait_s = gap_wait_s
        self._by_user: defaultdict[int, set[Session]] = defaultdict(set)
        self._staff_by_firm: defaultdict[int, set[Session]] = defaultdict(set)
        self._clients_by_account: defaultdict[int, set[Session]] = defaultdict(set)
        self._firm_wide_by_firm: defaultdict[int, set[Session]] = defaultdict(set)
        self._next_id = 1
        self._pending: dict[int, BusEvent] = {}
        self._filler: asyncio.Task[None] | None = None
        self._fill_lock = asyncio.Lock()
        self._empty = asyncio.Event()
        self._empty.set()

    async def start(self) -> None:
        self._next_id = await self._newest_event_id() + 1

    async def stop(self) -> None:
        """End the gap filler, and wait for it: its read must not outlive the database's pool."""
        filler = self._filler
        if filler is not None:
            filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await filler

    # -- sessions --

    def add(self, session: Session) -> None:
        metrics.CONNECTIONS.inc()
        self._empty.clear()
        self._by_user[session.user_id].add(session)
        if session.firm_wide:
            self._firm_wide_by_firm[session.firm_id].add(session)
        elif session.sees_all_firm_threads:
            self._staff_by_firm[session.firm_id].add(session)
        if session.is_client and session.client_account_id is not None:
            self._clients_by_account[session.client_account_id].add(session)

    def remove(self, session: Session) -> None:
        metrics.CONNECTIONS.dec()
        _discard(self._by_user, session.user_id, session)
        _discard(self._staff_by_firm, session.firm_id, session)
        _discard(self._firm_wide_by_firm, session.firm_id, session)
        if session.client_account_id is not None:
            _discard(self._clients_by_account, session.client_account_id, session)
        if not self._by_user:
            self._empty.set()

    async def emptied(self) -> None:
        """Return once no session is left."""
        await self._empty.wait()

    def sessions(self) -> list[Session]:
        return [s for group in self._by_user.values() for s in group]

    # -- events --

    def receive(self, event: BusEvent) -> None:
        """Take an event from the broker (this process's or another's); never blocks."""
        if event.type == revocations.EVENT_TYPE:
            self._revoke(event)
            return
        if event.event_id is None:
            self._deliver(event)
            return
        if event.event_id < self._next_id or event.event_id in self._pending:
            return  # already delivered (our own event echoed by Redis, or filled from SQL)
        self._pending[event.event_id] = event
        self._drain()
        if self._pending and self._filler is None:
            self._filler = asyncio.get_running_loop().create_task(self._fill_gaps())

    def _revoke(self, event: BusEvent) -> None:
        match = str(event.data.get("match", ""))
        for user_id in event.audience.user_ids:
            for session in list(self._by_user.get(user_id, ())):
                if revocations.matches(match, session.credential):
                    revocations.close(session)

    async def catch_up(self) -> None:
        """Deliver from SQL whatever committed events this hub has not seen (after a bus outage)."""
        await self._fill_through(await self._newest_event_id())

    def _drain(self) -> None:
        while self._next_id in self._pending:
            self._deliver(self._pending.pop(self._next_id))
            self._next_id += 1

    async def _fill_gaps(self) -> None:
        try:
            await asyncio.sleep(self._gap_wait_s)
            while self._pending:
                await self._fill_through(min(self._pending) - 1)
        except Exception:
            logger.exception("filling an event gap from SQL failed; retrying on the next event")
        finally:
            self._filler = None

    async def _fill_through(self, through: int) -> None:
        async with self._fill_lock:
            if through >= self._next_id:
                for event in await self._load_events(self._next_id - 1, through):
                    assert event.event_id is not None
                    if event.event_id >= self._next_id:
                        self._deliver(event)
                        self._next_id = event.event_id + 1
                # Ids absent from SQL after the wait were never committed: step over them.
                self._next_id = max(self._next_id, through + 1)
            self._pending = {i: e for i, e in self._pending.items() if i >= self._next_id}
            self._drain()

    def _deliver(self, event: BusEvent) -> None:
        started = time.perf_counter()
        frames: dict[tuple[int, bool], Frame] = {}
        targets = self._targets(event)
        for session in targets:
            key = (event.variant(session.user_id, session.is_client), session.binary)
            frame = frames.get(key)
            if frame is None:
                wire = Event(type=event.type, data=event.data_of(key[0]), event_id=event.event_id)
                frame = frames[key] = _CODECS[key[1]].encode(wire)
            session.push_event(event.event_id, frame)
        metrics.EVENTS_IN.labels(event.type).inc()
        metrics.EVENTS_OUT.labels(event.type).inc(len(targets))
        metrics.FANOUT_SECONDS.observe(time.perf_counter() - started)

    def _targets(self, event: BusEvent) -> set[Session]:
        audience = event.audience
        targets: set[Session] = set()
        if audience.all_staff:
            targets.update(self._staff_by_firm.get(audience.firm_id, ()))
        targets.update(self._firm_wide_by_firm.get(audience.firm_id, ()))
        if audience.client_account_id is not None and not audience.staff_only:
            targets.update(self._clients_by_account.get(audience.client_account_id, ()))
        for user_id in audience.user_ids:
            targets.update(self._by_user.get(user_id, ()))
        return {
            s
            for s in targets
            if s.firm_id == audience.firm_id
            and s.user_id != audience.exclude_user_id
            and not (audience.staff_only and s.is_client)
            and not (audience.managers_only and not s.sees_remarks and s.user_id != audience.author_id)
        }


def _discard(index: defaultdict[int, set[Session]], key: int, session: Session) -> None:
    group = index.get(key)
    if group is not None:
        group.discard(session)
        if not group:
            del index[key]
