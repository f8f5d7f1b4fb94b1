"""Business hours and automatic replies: owners set the hours; a client writing while the firm is
closed gets the automatic reply once per thread and closed period; "next business morning" sends."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from protocol.values import Role
from tests.conftest import Cast, Connect, chatd_server, new_id, open_thread
from tests.support import ChatdProcess, WsClient
from tests.timing import TestClock

PARIS = ZoneInfo("Europe/Paris")
WORKDAY = [["09:00", "12:00"], ["14:00", "18:00"]]
WEEK = {day: WORKDAY for day in ("mon", "tue", "wed", "thu", "fri")}
AUTO_REPLY = "We are closed. We answer from **9:00**."


server = chatd_server()


async def owner_of(cast: Cast, connect: Connect) -> WsClient:
    owner = await cast.firm.user(Role.OWNER)
    return await connect(await cast.firm.token(owner))


def next_weekday(clock: TestClock, weekday: int) -> date:
    """The date of the next such weekday (0 is Monday) in Paris, at least a day after the clock's."""
    today = clock.now().astimezone(PARIS).date()
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def move_to(clock: TestClock, day: date, hour: int, minute: int = 0) -> datetime:
    moment = datetime.combine(day, time(hour, minute), PARIS)
    clock.advance((moment - clock.now()).total_seconds())
    return moment


async def automatic_replies(client: WsClient, thread_id: int) -> list[dict[str, Any]]:
    history = await client.ok("history", thread_id=thread_id)
    return [m for m in history["messages"] if m.get("automatic") == "auto_reply"]


async def test_a_client_writing_while_closed_gets_one_reply_per_closed_period(
    cast: Cast, connect: Connect, clock: TestClock
) -> None:
    owner, staff = await owner_of(cast, connect), await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    set_to = await owner.ok("business_hours.set", time_zone="Europe/Paris", week=WEEK, auto_reply=AUTO_REPLY)
    assert set_to["business_hours"]["week"]["mon"] == WORKDAY
    assert "sat" not in set_to["business_hours"]["week"]
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    monday = next_weekday(clock, 0)

    def say(text: str) -> dict[str, Any]:
        return {"thread_id": thread_id, "body": text, "client_msg_id": new_id()}

    move_to(clock, monday, 10)  # open
    await client.ok("send", **say("Open hours question"))
    assert await automatic_replies(client, thread_id) == []

    move_to(clock, monday, 12, 30)  # lunch: closed until 14:00
    await client.ok("send", **say("Lunch time question"))
    replies = await automatic_replies(client, thread_id)
    assert [r["body"] for r in replies] == [AUTO_REPLY]
    assert "<strong>9:00</strong>" in replies[0]["html"]
    assert replies[0]["author_id"] not in (cast.client.id, cast.staff.id)
    live = await client.event("message.created", message__automatic="auto_reply")
    assert live["data"]["message"]["id"] == replies[0]["id"]
    await client.ok("send", **say("Another one, same lunch"))
    assert len(await automatic_replies(client, thread_id)) == 1

    move_to(clock, monday, 19)  # evening: the next closed period
    await client.ok("send", **say("Evening question"))
    assert len(await automatic_replies(client, thread_id)) == 2
    # Staff writing while closed get no automatic reply.
    await staff.ok("send", **say("Staff late at work"))
    assert len(await automatic_replies(staff, thread_id)) == 2


async def test_closed_dates_and_threads_opened_by_clients_get_the_reply(
    cast: Cast, connect: Connect, clock: TestClock
) -> None:
    owner, client = await owner_of(cast, connect), await connect(cast.token(cast.client))
    tuesday = next_weekday(clock, 1)
    await owner.ok(
        "business_hours.set",
        time_zone="Europe/Paris",
        week=WEEK,
        closed_dates=[tuesday.isoformat()],
        auto_reply="Closed",
    )
    move_to(clock, tuesday, 10)  # a working hour, but a closed date
    opened = await client.ok("thread.create", subject="Holiday", body="Are you there?", client_msg_id=new_id())
    replies = await automatic_replies(client, opened["thread"]["id"])
    assert [r["body"] for r in replies] == ["Closed"]


async def test_next_business_morning_is_computed_when_scheduling(
    cast: Cast, connect: Connect, clock: TestClock
) -> None:
    owner, staff = await owner_of(cast, connect), await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    friday = next_weekday(clock, 4)
    monday = friday + timedelta(days=3)
    await owner.ok("business_hours.set", time_zone="Europe/Paris", week=WEEK, closed_dates=[monday.isoformat()])
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    move_to(clock, friday, 19)
    answer = await staff.ok(
        "send", thread_id=thread_id, body="Good morning!", client_msg_id=new_id(), send_at="next_business_morning"
    )
    tuesday_nine = datetime.combine(monday + timedelta(days=1), time(9), PARIS)
    assert datetime.fromisoformat(answer["scheduled"]["send_at"]) == tuesday_nine
    move_to(clock, monday + timedelta(days=1), 9, 1)
    created = await client.event("message.created", message__body="Good morning!", timeout=10)
    assert created["data"]["message"]["thread_id"] == thread_id


async def test_bad_business_hours_are_refused_and_change_nothing(
    server: ChatdProcess, cast: Cast, connect: Connect, clock: TestClock
) -> None:
    owner, staff = await owner_of(cast, connect), await connect(cast.token(cast.staff))
    before = await owner.ok("business_hours")
    assert before["business_hours"]["week"] == {}
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    no_hours = await staff.call(
        "send", thread_id=thread_id, body="x", client_msg_id=new_id(), send_at="next_business_morning"
    )
    assert no_hours["code"] == "bad_request"
    assert "business hours" in no_hours["message"]
    for bad, why in [
        ({"time_zone": "Europe/Atlantis"}, "does not exist"),
        ({"time_zone": "UTC", "week": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "overlap"),
        ({"time_zone": "UTC", "week": {"mon": [["12:00", "09:00"]]}}, "end after"),
        ({"time_zone": "UTC", "week": {"mon": [["9h", "12h"]]}}, "HH:MM"),
        ({"time_zone": "UTC", "week": {"someday": [["09:00", "12:00"]]}}, "someday"),
    ]:
        answer = await owner.call("business_hours.set", **bad)
        assert answer["code"] == "bad_request", (bad, answer)
        assert why in answer["message"], (bad, answer)
    assert (await staff.call("business_hours.set", time_zone="UTC"))["code"] == "forbidden"
    assert await owner.ok("business_hours") == before
    assert (await staff.call("scheduled.list", thread_id=thread_id))["result"]["scheduled"] == []

    owner_token = await cast.firm.token(await cast.firm.user(Role.OWNER))
    headers = {"Authorization": f"Bearer {owner_token}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        bad = await http.put("/api/firm/business-hours", json={"time_zone": "Mars/Olympus"})
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["code"] == "bad_request"
        put = await http.put(
            "/api/firm/business-hours", json={"time_zone": "America/New_York", "week": {"sat": [["10:00", "14:00"]]}}
        )
        assert put.status_code == 200, put.text
        got = await http.get("/api/firm/business-hours")
        assert got.json()["business_hours"] == {
            "time_zone": "America/New_York",
            "week": {"sat": [["10:00", "14:00"]]},
            "closed_dates": [],
            "auto_reply": None,
        }
