"""The hub in isolation: encode once per variant and format, deliver in id order, fill gaps from
the event log, drop typing rather than block, and never deliver across firms."""

from __future__ import annotations

import asyncio

import msgspec

from chatd.bus import Audience, BusEvent
from chatd.hub import Hub
from chatd.session import Session, SocketGone
from protocol.values import Role, User
from storage.directory import Account


def _session(
    user_id: int,
    role: Role,
    *,
    binary: bool = False,
    firm_id: int = 1,
    account: int | None = None,
    stall_s: float = 10.0,
) -> Session:
    user = User(id=user_id, firm_id=firm_id, name="u", email=f"u{user_id}@x.test", role=role, client_account_id=account)
    session = Session(
        Account(user=user, password_hash=None, active=True, firm_shares_threads=True),
        binary=binary,
        queue_size=10,
        session_id=str(user_id),
        stall_s=stall_s,
    )
    session.open_gate()
    return session


def _event(event_id: int | None, *, staff_only: bool = False, firm_id: int = 1) -> BusEvent:
    return BusEvent(
        type="message.created" if event_id else "typing",
        event_id=event_id,
        audience=Audience(firm_id=firm_id, all_staff=True, client_account_id=7, user_ids=(), staff_only=staff_only),
        data={"n": event_id},
        own_user_id=1,
        own_data={"n": event_id, "mine": True},
    )


def _queued(session: Session) -> list[object]:
    return list(session._frames)


def _numbers(session: Session) -> list[int]:
    return [msgspec.json.decode(frame)["data"]["n"] for frame in _queued(session)]  # type: ignore[call-overload]


async def _no_sql(after: int, through: int) -> list[BusEvent]:
    return []


async def _zero() -> int:
    return 0


async def test_each_variant_and_format_is_encoded_once() -> None:
    hub = Hub(_no_sql, _zero)
    await hub.start()
    author = _session(1, Role.STAFF)
    staff = [_session(n, Role.STAFF) for n in (2, 3)]
    binary_staff = [_session(n, Role.STAFF, binary=True) for n in (4, 5)]
    clients = [_session(n, Role.CLIENT, account=7) for n in (6, 8)]
    for session in (author, *staff, *binary_staff, *clients):
        hub.add(session)
    hub.receive(_event(1))
    assert _queued(staff[0])[0] is _queued(staff[1])[0]
    assert _queued(binary_staff[0])[0] is _queued(binary_staff[1])[0]
    assert _queued(clients[0])[0] is _queued(staff[0])[0]  # no client variant: the same bytes
    assert isinstance(_queued(binary_staff[0])[0], bytes)
    assert '"mine":true' in str(_queued(author)[0])
    assert '"mine"' not in str(_queued(staff[0])[0])


async def test_staff_only_events_and_other_firms() -> None:
    hub = Hub(_no_sql, _zero)
    await hub.start()
    client = _session(6, Role.CLIENT, account=7)
    outsider = _session(9, Role.STAFF, firm_id=2)
    staff = _session(2, Role.STAFF)
    for session in (client, outsider, staff):
        hub.add(session)
    hub.receive(_event(1, staff_only=True))
    assert _queued(client) == []
    assert _queued(outsider) == []
    assert len(_queued(staff)) == 1


async def test_out_of_order_events_are_delivered_in_order_and_gaps_filled_from_sql() -> None:
    stored = {2: _event(2)}

    async def from_sql(after: int, through: int) -> list[BusEvent]:
        return [stored[i] for i in sorted(stored) if after < i <= through]

    hub = Hub(from_sql, _zero, gap_wait_s=0.01)
    await hub.start()
    staff = _session(2, Role.STAFF)
    hub.add(staff)
    hub.receive(_event(3))
    hub.receive(_event(1))
    assert _numbers(staff) == [1]  # 3 waits for 2
    await asyncio.sleep(0.1)  # event 2 never came over the bus: read from SQL
    assert _numbers(staff) == [1, 2, 3]
    hub.receive(_event(2))  # the late doorbell is a duplicate now
    assert _numbers(staff) == [1, 2, 3]


async def test_stopping_the_hub_ends_its_gap_filler_before_returning() -> None:
    """Its read from SQL must not outlive the database's pool: a connection opened on a disposed
    pool is never closed."""
    reading = asyncio.Event()
    ended: list[bool] = []

    async def slow_sql(after: int, through: int) -> list[BusEvent]:
        reading.set()
        try:
            await asyncio.sleep(60)
        finally:
            ended.append(True)
        return []

    hub = Hub(slow_sql, _zero, gap_wait_s=0)
    await hub.start()
    hub.receive(_event(2))  # 1 is missing: the filler reads it
    await asyncio.wait_for(reading.wait(), 5)
    await hub.stop()
    assert ended == [True]


async def test_typing_is_dropped_when_a_queue_is_full_and_durable_overflow_waits_then_a_stall_closes() -> None:
    hub = Hub(_no_sql, _zero)
    await hub.start()
    slow = _session(2, Role.STAFF, stall_s=0.05)
    hub.add(slow)
    for n in range(1, 11):
        hub.receive(_event(n))
    hub.receive(_event(None))
    assert _numbers(slow) == list(range(1, 11))  # typing was dropped
    hub.receive(_event(11))
    hub.receive(_event(12))
    # Over the queue: not queued, not a reason to close yet (it is read from SQL once the client
    # has drained the queue), unless the socket takes nothing for the stall time.
    assert _numbers(slow) == list(range(1, 11))
    assert slow.behind
    assert slow.close_reason is None
    for _ in range(200):  # no writer: nothing is sent, so the stall closes it
        if slow.close_reason is not None:
            break
        await asyncio.sleep(0.01)
    assert slow.close_reason is not None
    assert slow.close_reason[0] == 4001


async def test_a_session_past_its_queue_reads_the_missed_events_back_in_order_as_it_writes() -> None:
    hub = Hub(_no_sql, _zero)
    await hub.start()
    session = _session(2, Role.STAFF)  # a queue of 10
    hub.add(session)
    sent: list[int] = []
    pages: list[tuple[int, int]] = []

    async def send(frame: str | bytes) -> None:
        sent.append(msgspec.json.decode(frame)["data"]["n"])
        await asyncio.sleep(0)

    async def load_missed(after: int, through: int, limit: int) -> tuple[list[tuple[int, str | bytes]], int]:
        pages.append((after, through))
        # What SQL holds for this viewer: every id but 13 (read, but not rendered: its thread is gone).
        read = list(range(after + 1, through + 1))[:limit]
        frames = [(n, msgspec.json.encode({"data": {"n": n}})) for n in read if n != 13]
        return frames, read[-1] if len(read) == limit else through

    session.load_missed = load_missed
    for n in range(1, 36):  # a burst of 35 at once: 10 queued, 25 missed
        hub.receive(_event(n))
    assert session.behind
    ended = asyncio.Event()
    session.start(send, ended.set)
    for _ in range(500):
        if len(sent) == 34:
            break
        await asyncio.sleep(0)
    assert sent == [n for n in range(1, 36) if n != 13]
    assert pages == [(10, 35), (20, 35), (30, 35)]  # a queue's worth at a time
    assert not session.behind
    assert session.close_reason is None
    assert not ended.is_set()


async def test_a_replay_waiting_for_room_ends_when_the_socket_fails() -> None:
    session = _session(2, Role.STAFF)  # a queue of 10

    async def send(frame: str | bytes) -> None:
        raise SocketGone  # the client vanished

    ended = asyncio.Event()
    for n in range(12):
        session.push_reply(f"answer {n}")
    session.start(send, ended.set)
    # A long answer (a resume's replay) waiting for the full queue to drain: it must not wait forever.
    await asyncio.wait_for(session.push_reply_when_room("replayed"), 5)
    assert ended.is_set()


async def test_a_writable_socket_gets_the_event_during_the_delivery_and_a_full_one_from_a_task() -> None:
    hub = Hub(_no_sql, _zero)
    await hub.start()
    session = _session(2, Role.STAFF)
    hub.add(session)
    sent: list[int] = []
    room = asyncio.Event()
    room.set()

    async def send(frame: str | bytes) -> None:
        await room.wait()  # the socket's buffer: full while cleared
        sent.append(msgspec.json.decode(frame)["data"]["n"])

    session.start(send, lambda: None)
    hub.receive(_event(1))
    assert sent == [1]  # written inline, as websockets.broadcast does: no task, no loop turn
    room.clear()
    hub.receive(_event(2))
    hub.receive(_event(3))
    assert sent == [1]  # the writer waits for room, in a task of its own; 3 queued behind 2
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sent == [1]
    room.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert sent == [1, 2, 3]
    hub.receive(_event(4))
    assert sent == [1, 2, 3, 4]  # inline again once the task is done


async def test_stopping_a_writer_that_waits_for_room_cancels_it_where_it_waits() -> None:
    session = _session(2, Role.STAFF)
    cancelled = asyncio.Event()

    async def send(frame: str | bytes) -> None:
        try:
            await asyncio.Event().wait()  # a socket that never takes the frame
        except asyncio.CancelledError:
            cancelled.set()
            raise

    ended: list[bool] = []
    session.start(send, lambda: ended.append(True))
    session.push_reply("answer")
    await asyncio.wait_for(session.stop(), 5)
    assert cancelled.is_set()
    assert ended == []  # stopped, not ended by the socket
    session.push_reply("another")  # a writer again, inline, and waiting again
    await asyncio.wait_for(session.stop(), 5)


async def test_a_session_writes_directly_until_refused_then_its_writer_keeps_the_order() -> None:
    session = _session(1, Role.STAFF)
    direct: list[str] = []
    sent: list[str] = []
    room = asyncio.Event()
    accepting = True

    def write_now(frame: object) -> bool:
        if accepting:
            direct.append(str(frame))
        return accepting

    async def send(frame: object) -> None:
        await room.wait()
        sent.append(str(frame))

    session.start(send, lambda: None, write_now)
    session.push_reply("a")
    session.push_reply("b")
    accepting = False
    session.push_reply("c")  # refused: the writer waits in ``send``
    accepting = True
    session.push_reply("d")  # a writer is running: queued behind "c", not written directly
    room.set()
    await asyncio.sleep(0.01)
    assert (direct, sent) == (["a", "b"], ["c", "d"])
    session.push_reply("e")  # the writer has ended: direct again
    assert direct == ["a", "b", "e"]
