"""Generated emails (retro-planning): client events by HTTP and CSV, rules checked against their
template, the daily job making drafts once in the firm's time zone, staff sending them (one edited,
or all of a rule), and drafts dropped when not sent in time. Time moves with the offset clock."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest_asyncio

from chatd.services.context import Services
from protocol.values import Role, User
from tests.conftest import Cast, Connect, chatd_server, make_cast, open_thread
from tests.support import ChatdProcess, api, seeder
from tests.timing import TestClock

ZONE = "Europe/Paris"


server = chatd_server()


@pytest_asyncio.fixture(loop_scope="session")
async def manager(cast: Cast) -> tuple[User, str]:
    user = await cast.firm.user(Role.MANAGER)
    return user, await cast.firm.token(user)


async def set_firm_zone(server: ChatdProcess, cast: Cast) -> None:
    """The firm's time zone, which owners change (here through the settings' ``time_zone`` alias)."""
    owner = await cast.firm.user(Role.OWNER)
    async with api(server, await cast.firm.token(owner)) as http:
        answer = await http.patch("/api/automatic-emails/settings", json={"time_zone": ZONE})
        assert answer.status_code == 200, answer.text


def today(clock: TestClock) -> date:
    return clock.now().astimezone(ZoneInfo(ZONE)).date()


async def pending_of(http: httpx.AsyncClient, rule_id: int, count: int) -> list[dict[str, Any]]:
    """The rule's pending drafts, once the daily job has made ``count`` of them."""
    for _ in range(300):
        rules = (await http.get("/api/automatic-emails/rules")).json()["rules"]
        if next(r for r in rules if r["id"] == rule_id)["pending"] == count:
            answer = await http.get("/api/automatic-emails/drafts", params={"rule_id": rule_id})
            drafts: list[dict[str, Any]] = answer.json()["drafts"]
            assert len(drafts) == count
            return drafts
        await asyncio.sleep(0.1)
    raise AssertionError(f"the rule never had {count} pending drafts: {rules}")


async def template(http: httpx.AsyncClient, body: str, subject: str = "Your stay") -> int:
    answer = await http.post(
        "/api/templates", json={"name": f"t-{body[:20]}", "subject": subject, "body": body, "scope": "firm"}
    )
    assert answer.status_code in (200, 201), answer.text
    found: int = answer.json()["template"]["id"]
    return found


async def test_csv_import_reports_bad_rows_and_records_the_good_ones(
    server: ChatdProcess, cast: Cast, manager: tuple[User, str], services: Services
) -> None:
    _user, token = manager
    other_firm = await make_cast(services)
    account = cast.client.client_account_id
    csv_text = (
        "client;client_id;kind;date;reference\n"
        f"{cast.client.name};;arrival;2026-07-14;B-1\n"
        f";{cast.other_client.client_account_id};departure;21/07/2026;B-2\n"
        f"{cast.client.name};;arrival;31/02/2026;B-3\n"
        "Nobody at all;;arrival;2026-07-14;B-4\n"
        f";{other_firm.client.client_account_id};arrival;2026-07-14;B-5\n"
        f"{cast.client.name};;wedding;2026-07-14;B-6\n"
        "\n"
        f"{cast.client.name.upper()};;balance_due;2026-06-30;B-1\n"
    )
    async with api(server, token) as http:
        answer = await http.post(
            "/api/client-events/import", files={"file": ("events.csv", csv_text.encode(), "text/csv")}
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()["report"]
        assert (report["rows"], report["imported"], report["already_recorded"]) == (7, 3, 0)
        problems = {p["row"]: p["error"] for p in report["problems"]}
        assert set(problems) == {4, 5, 6, 7}
        assert "not a date" in problems[4]
        assert "unknown client 'Nobody at all'" in problems[5]
        assert "unknown client" in problems[6]  # another firm's client is unknown here
        assert "unknown event kind 'wedding'" in problems[7]

        events = (await http.get("/api/client-events", params={"client_account_id": account})).json()["events"]
        assert sorted((e["kind"], e["date"], e["reference"]) for e in events) == [
            ("arrival", "2026-07-14", "B-1"),
            ("balance_due", "2026-06-30", "B-1"),
        ]

        # The same file again: nothing new; a kind the firm defines is then accepted, with progress lines.
        defined = await http.post("/api/client-events/kinds", json={"name": "wedding", "label": "Wedding"})
        assert defined.json()["kinds"]["wedding"] == "Wedding"
        again = await http.post(
            "/api/client-events/import",
            content=csv_text.encode(),
            headers={"Content-Type": "text/csv", "Accept": "application/x-ndjson"},
        )
        lines = [json.loads(line) for line in again.text.splitlines()]
        assert "progress" in lines[0]
        report = lines[-1]["report"]
        assert (report["imported"], report["already_recorded"], len(report["problems"])) == (1, 3, 3)

        bad = await http.post(
            "/api/client-events/import", content=b"who;when\nx;y\n", headers={"Content-Type": "text/csv"}
        )
        assert bad.status_code == 400
        assert "date, kind, client or client_id" in bad.json()["error"]["message"]

    async with api(server, cast.token(cast.client)) as http:
        hidden = await http.get("/api/client-events")
        assert hidden.status_code == 404  # clients never see the firm's planning


async def test_a_rule_whose_template_fails_is_refused_with_the_unknown_values_named(
    server: ChatdProcess, cast: Cast, manager: tuple[User, str]
) -> None:
    _user, token = manager
    async with api(server, token) as http:
        broken = await template(http, "Your villa {{ client.fields.villa }} awaits, {{ client.name }}")
        answer = await http.post(
            "/api/automatic-emails/rules",
            json={"name": "Arrival", "event_kind": "arrival", "days": -7, "template_id": broken},
        )
        assert answer.status_code == 400
        assert "unknown values: villa" in answer.json()["error"]["message"]
        assert (await http.get("/api/automatic-emails/rules")).json()["rules"] == []

        unknown_kind = await http.post(
            "/api/automatic-emails/rules",
            json={"name": "Arrival", "event_kind": "moon_landing", "days": -7, "template_id": broken},
        )
        assert unknown_kind.status_code == 400
        bad_zone = await http.patch("/api/automatic-emails/settings", json={"time_zone": "Mars/Olympus"})
        assert bad_zone.status_code == 400
        assert "does not exist" in bad_zone.json()["error"]["message"]

    async with api(server, cast.token(cast.staff)) as http:
        staff_rule = await http.post(
            "/api/automatic-emails/rules",
            json={"name": "Arrival", "event_kind": "arrival", "days": -7, "template_id": broken},
        )
        assert staff_rule.status_code == 403  # staff send the drafts; owners and managers make rules


async def test_drafts_are_made_once_sent_one_by_one_or_all_at_once_and_dropped_when_late(
    server: ChatdProcess, cast: Cast, manager: tuple[User, str], clock: TestClock
) -> None:
    _user, token = manager
    account = cast.client.client_account_id
    other = cast.other_client.client_account_id
    await set_firm_zone(server, cast)
    async with api(server, token) as http:
        settings = await http.patch("/api/automatic-emails/settings", json={"time_zone": ZONE, "keep_days": 3})
        assert settings.json()["settings"] == {"time_zone": ZONE, "run_hour": 6, "keep_days": 3}
        body = "Hello {{ client.name }}, we expect you on {{ event.date }} (booking {{ event.reference }})."
        template_id = await template(http, body, subject="Your arrival on {{ event.date }}")
        arrival = (today(clock) + timedelta(days=7)).isoformat()
        for client_id, reference in ((account, "A-1"), (other, "A-2"), (account, "A-3")):
            recorded = await http.post(
                "/api/client-events",
                json={"client_account_id": client_id, "kind": "arrival", "date": arrival, "reference": reference},
            )
            assert recorded.status_code == 201, recorded.text
        # Out of the window: in 30 days, and one 7 days ago (its email was due a week ago).
        for days in (30, -7):
            await http.post(
                "/api/client-events",
                json={
                    "client_account_id": account,
                    "kind": "arrival",
                    "date": (today(clock) + timedelta(days=days)).isoformat(),
                },
            )
        rule = await http.post(
            "/api/automatic-emails/rules",
            json={"name": "A week before arrival", "event_kind": "arrival", "days": -7, "template_id": template_id},
        )
        assert rule.status_code == 201, rule.text
        rule_id = rule.json()["rule"]["id"]
        drafts = await pending_of(http, rule_id, 3)
        first = next(d for d in drafts if d["event_id"] and "A-1" in d["body"])
        assert first["subject"] == f"Your arrival on {arrival}"
        assert first["body"] == f"Hello {cast.client.name}, we expect you on {arrival} (booking A-1)."
        assert first["date"] == today(clock).isoformat()

        # Running again (a new event armed the job) makes no second draft for the same rule and event.
        await http.post(
            "/api/client-events",
            json={"client_account_id": account, "kind": "departure", "date": arrival},
        )
        await asyncio.sleep(1)
        assert len(await pending_of(http, rule_id, 3)) == 3

    # A staff member opens one, edits it and sends it: a new thread with the client.
    async with api(server, cast.token(cast.staff)) as http:
        sent = await http.post(
            f"/api/automatic-emails/drafts/{first['id']}/send",
            json={"body": first["body"] + "\n\nThe keys are at the front desk."},
        )
        assert sent.status_code == 200, sent.text
        sent_draft = sent.json()["draft"]
        assert sent_draft["state"] == "sent"
        assert sent_draft["sent_by"] == cast.staff.id
        again = await http.post(f"/api/automatic-emails/drafts/{first['id']}/send", json={})
        assert again.status_code == 409
        threads = (await http.get("/api/threads")).json()["threads"]
        assert next(t for t in threads if t["id"] == sent_draft["thread_id"])["source"] == "automatic"

    async with api(server, cast.token(cast.client)) as http:
        threads = (await http.get("/api/threads")).json()["threads"]
        thread = next(t for t in threads if t["id"] == sent_draft["thread_id"])
        assert thread["subject"] == f"Your arrival on {arrival}"
        messages = (await http.get(f"/api/threads/{thread['id']}/messages")).json()["messages"]
        assert "The keys are at the front desk." in messages[0]["body"]

    async with api(server, cast.token(cast.staff2)) as http:
        everything = await http.post(f"/api/automatic-emails/rules/{rule_id}/send-all")
        assert everything.status_code == 200, everything.text
        assert len(everything.json()["sent"]) == 2
        assert everything.json()["skipped"] == []
        assert (await http.get("/api/automatic-emails/drafts", params={"rule_id": rule_id})).json()["drafts"] == []

    async with api(server, cast.token(cast.other_client)) as http:
        threads = (await http.get("/api/threads")).json()["threads"]
        assert [t["subject"] for t in threads] == [f"Your arrival on {arrival}"]

    # A later event makes a draft nobody sends: dropped (kept, marked) once keep_days have passed.
    async with api(server, token) as http:
        late = (today(clock) + timedelta(days=7)).isoformat()
        await http.post(
            "/api/client-events",
            json={"client_account_id": other, "kind": "arrival", "date": late, "reference": "A-9"},
        )
        [waiting] = await pending_of(http, rule_id, 1)
        clock.advance(3 * 86400 + 3600)
        for _ in range(100):
            dropped = (
                await http.get("/api/automatic-emails/drafts", params={"rule_id": rule_id, "state": "dropped"})
            ).json()["drafts"]
            if dropped:
                break
            await asyncio.sleep(0.1)
        assert [d["id"] for d in dropped] == [waiting["id"]]
        refused = await http.post(f"/api/automatic-emails/drafts/{waiting['id']}/send", json={})
        assert refused.status_code == 409


async def test_two_processes_make_each_draft_once(tmp_path: Path) -> None:
    """Events imported through one process and a rule made through the other: both run the daily
    job as days pass; each event gets exactly one draft, sent once even when both are asked."""
    clock = TestClock(tmp_path / "offset")
    env = clock.env
    async with seeder(tmp_path, env) as services:
        await services.db.migrate()  # once, before two processes start on the database
        cast = await make_cast(services)
        manager = await cast.firm.user(Role.MANAGER)
        token = await cast.firm.token(manager)
        owner_token = await cast.firm.token(await cast.firm.user(Role.OWNER))
    one, two = ChatdProcess(tmp_path, env=env), ChatdProcess(tmp_path, env=env)
    one.start()
    two.start()
    try:
        days = [today(clock) + timedelta(days=n) for n in range(1, 6)]
        rows = "".join(f"{cast.client.name};arrival;{d.isoformat()};R-{n}\n" for d in days for n in range(10))
        async with api(one, owner_token) as owner:
            assert (await owner.patch("/api/automatic-emails/settings", json={"time_zone": ZONE})).status_code == 200
        async with api(one, token) as first, api(two, token) as second:
            template_id = await template(first, "See you on {{ event.date }} ({{ event.reference }})")
            imported, rule = await asyncio.gather(
                first.post(
                    "/api/client-events/import",
                    content=("client;kind;date;reference\n" + rows).encode(),
                    headers={"Content-Type": "text/csv"},
                ),
                second.post(
                    "/api/automatic-emails/rules",
                    json={"name": "The day before", "event_kind": "arrival", "days": -1, "template_id": template_id},
                ),
            )
            assert imported.json()["report"]["imported"] == 50
            rule_id = rule.json()["rule"]["id"]
            made = await pending_of(first, rule_id, 10)
            for _ in days[1:]:
                clock.advance(86400)
                made = await pending_of(second, rule_id, len(made) + 10)
            assert len({d["event_id"] for d in made}) == len(made) == 50
            results = await asyncio.gather(
                first.post(f"/api/automatic-emails/rules/{rule_id}/send-all", timeout=60),
                second.post(f"/api/automatic-emails/rules/{rule_id}/send-all", timeout=60),
            )
            sent = [d for answer in results for d in answer.json()["sent"]]
            assert sorted(d["id"] for d in sent) == sorted(d["id"] for d in made)  # each sent by one of them
            assert len({d["thread_id"] for d in sent}) == 50
    finally:
        one.stop()
        two.stop()
    for process in (one, two):
        assert "Traceback" not in process.log()


async def test_staff_work_the_queue_over_the_websocket(
    server: ChatdProcess, cast: Cast, manager: tuple[User, str], clock: TestClock, connect: Connect
) -> None:
    _user, token = manager
    await set_firm_zone(server, cast)  # the dates below are Paris's
    async with api(server, token) as http:
        template_id = await template(http, "Your balance for {{ event.reference }} is due on {{ event.date }}.")
        rule = await http.post(
            "/api/automatic-emails/rules",
            json={"name": "Balance reminder", "event_kind": "balance_due", "days": -3, "template_id": template_id},
        )
        rule_id = rule.json()["rule"]["id"]
        due = (today(clock) + timedelta(days=3)).isoformat()
        for client in (cast.client, cast.other_client):
            await http.post(
                "/api/client-events",
                json={
                    "client_account_id": client.client_account_id,
                    "kind": "balance_due",
                    "date": due,
                    "reference": "F-7",
                },
            )
        await pending_of(http, rule_id, 2)

    staff = await connect(cast.token(cast.staff))
    rules = (await staff.ok("automatic_emails.rules"))["rules"]
    assert [(r["id"], r["pending"]) for r in rules if r["id"] == rule_id] == [(rule_id, 2)]
    drafts = (await staff.ok("automatic_emails.drafts", rule_id=rule_id))["drafts"]
    mine = next(d for d in drafts if d["client_account_id"] == cast.client.client_account_id)
    assert mine["body"] == f"Your balance for F-7 is due on {due}."
    edited = (await staff.ok("automatic_emails.edit", draft_id=mine["id"], body="Edited: please pay by Friday."))[
        "draft"
    ]
    assert edited["body"] == "Edited: please pay by Friday."

    client = await connect(cast.token(cast.client))
    sent = (await staff.ok("automatic_emails.send", draft_id=mine["id"]))["draft"]
    created = await client.event("thread.created", thread__id=sent["thread_id"])
    assert created["data"]["thread"]["subject"] == "Your stay"
    message = await client.event("message.created", message__thread_id=sent["thread_id"])
    assert message["data"]["message"]["body"] == "Edited: please pay by Friday."
    again = await staff.call("automatic_emails.send", draft_id=mine["id"])
    assert again["code"] == "conflict"

    answer = await staff.call("automatic_emails.send_all", timeout=30, rule_id=rule_id)
    rest = answer["result"]
    assert [d["client_account_id"] for d in rest["sent"]] == [cast.other_client.client_account_id]
    assert (await staff.ok("automatic_emails.rules"))["rules"][-1]["pending"] == 0
    assert (await client.call("automatic_emails.rules"))["code"] == "not_found"


async def test_one_firm_time_zone_moves_the_daily_run_and_the_recurring_messages_that_follow_it(
    server: ChatdProcess, cast: Cast, manager: tuple[User, str], clock: TestClock, connect: Connect
) -> None:
    """The business hours' zone is the firm's only one: set once (there, or through the settings'
    alias), the generated emails' daily run and the recurring messages without a zone follow it."""
    tokyo = ZoneInfo("Asia/Tokyo")
    owner_user = await cast.firm.user(Role.OWNER)
    owner_ws = await connect(await cast.firm.token(owner_user))
    staff, client = await connect(cast.token(cast.staff)), await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    following = (
        await staff.ok("recurring.create", thread_id=thread_id, body="Daily in the firm's zone", rule="0 9 * * *")
    )["recurring"]
    own = (
        await staff.ok("recurring.create", thread_id=thread_id, body="Daily in UTC", rule="0 9 * * *", time_zone="UTC")
    )["recurring"]
    assert (following["time_zone"], following["firm_time_zone"]) == ("UTC", True)
    assert (own["time_zone"], own["firm_time_zone"]) == ("UTC", False)
    _user, token = manager
    async with api(server, token) as http:
        template_id = await template(http, "See you on {{ event.date }}.", subject="Tomorrow")
        tomorrow = clock.now().astimezone(tokyo).date() + timedelta(days=1)
        recorded = await http.post(
            "/api/client-events",
            json={"client_account_id": cast.client.client_account_id, "kind": "arrival", "date": tomorrow.isoformat()},
        )
        assert recorded.status_code == 201, recorded.text
        rule = await http.post(
            "/api/automatic-emails/rules",
            json={"name": "On the day", "event_kind": "arrival", "days": 0, "template_id": template_id},
        )
        rule_id = rule.json()["rule"]["id"]

    # Set once, in the business hours: everything else reads it.
    await owner_ws.ok("business_hours.set", time_zone="Asia/Tokyo", week={"mon": [["09:00", "17:00"]]})
    async with api(server, token) as http:
        settings = (await http.get("/api/automatic-emails/settings")).json()["settings"]
        assert settings["time_zone"] == "Asia/Tokyo"
        # A manager may send the zone back as it is, not change it (owners change the firm's zone).
        same = await http.patch("/api/automatic-emails/settings", json={"time_zone": "Asia/Tokyo", "run_hour": 6})
        assert same.status_code == 200, same.text
        other = await http.patch("/api/automatic-emails/settings", json={"time_zone": "Europe/Paris", "run_hour": 7})
        assert other.status_code == 403
        assert (await http.get("/api/automatic-emails/settings")).json()["settings"]["run_hour"] == 6
    moved = {r["id"]: r for r in (await staff.ok("recurring.list", thread_id=thread_id))["recurring"]}
    nine_tokyo = next_local(clock.now(), tokyo, time(9))
    assert (moved[following["id"]]["time_zone"], datetime.fromisoformat(moved[following["id"]]["next_at"])) == (
        "Asia/Tokyo",
        nine_tokyo,
    )
    assert moved[own["id"]]["next_at"] == own["next_at"]

    # The recurring message comes at 9:00 in Tokyo (not at 9:00 UTC), once.
    clock.advance((nine_tokyo - clock.now()).total_seconds() - 60)
    assert [e for e in await client.quiet(0.6, "message.created") if "firm's zone" in str(e)] == []
    clock.advance(90)
    await client.event("message.created", message__body="Daily in the firm's zone", timeout=10)

    # The daily run happens at 6:00 in Tokyo: tomorrow's event (Tokyo's date) gets its draft then.
    run = datetime.combine(tomorrow, time(6), tokyo)
    if run > clock.now():
        clock.advance((run - clock.now()).total_seconds() - 60)
        async with api(server, token) as http:
            await asyncio.sleep(0.6)
            rules = (await http.get("/api/automatic-emails/rules")).json()["rules"]
            assert next(r for r in rules if r["id"] == rule_id)["pending"] == 0
    clock.advance(max(0.0, (run - clock.now()).total_seconds()) + 60)
    async with api(server, token) as http:
        [draft] = await pending_of(http, rule_id, 1)
        assert tomorrow.isoformat() in draft["body"]

    # Through the settings' alias, an owner moves it again: the business hours (and the rest) follow.
    async with api(server, await cast.firm.token(owner_user)) as http:
        changed = await http.patch("/api/automatic-emails/settings", json={"time_zone": "America/New_York"})
        assert changed.json()["settings"]["time_zone"] == "America/New_York"
    hours = (await owner_ws.ok("business_hours"))["business_hours"]
    assert (hours["time_zone"], hours["week"]) == ("America/New_York", {"mon": [["09:00", "17:00"]]})
    [again] = [r for r in (await staff.ok("recurring.list", thread_id=thread_id))["recurring"] if r["firm_time_zone"]]
    new_york = ZoneInfo("America/New_York")
    assert datetime.fromisoformat(again["next_at"]) == next_local(clock.now(), new_york, time(9))


async def test_an_unknown_time_zone_is_refused_everywhere_and_changes_nothing(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    owner_user = await cast.firm.user(Role.OWNER)
    owner_ws = await connect(await cast.firm.token(owner_user))
    await owner_ws.ok("business_hours.set", time_zone="Europe/Paris", week={"tue": [["08:00", "12:00"]]})
    refused = await owner_ws.call("business_hours.set", time_zone="Mars/Olympus")
    assert (refused["code"], "does not exist" in refused["message"]) == ("bad_request", True)
    async with api(server, await cast.firm.token(owner_user)) as http:
        bad = await http.patch("/api/automatic-emails/settings", json={"time_zone": "Europe/Atlantis", "run_hour": 9})
        assert bad.status_code == 400
        assert "does not exist" in bad.json()["error"]["message"]
        assert (await http.get("/api/automatic-emails/settings")).json()["settings"] == {
            "time_zone": "Europe/Paris",
            "run_hour": 6,
            "keep_days": 14,
        }
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    created = (await staff.ok("recurring.create", thread_id=thread_id, body="x", rule="0 9 * * *"))["recurring"]
    wrong = await staff.call("recurring.update", recurring_id=created["id"], time_zone="Nowhere/Town")
    assert wrong["code"] == "bad_request"
    back = (await staff.ok("recurring.update", recurring_id=created["id"], time_zone="UTC"))["recurring"]
    assert (back["time_zone"], back["firm_time_zone"]) == ("UTC", False)
    follows = (await staff.ok("recurring.update", recurring_id=created["id"], time_zone=None))["recurring"]
    assert (follows["time_zone"], follows["firm_time_zone"]) == ("Europe/Paris", True)
    hours = (await owner_ws.ok("business_hours"))["business_hours"]
    assert (hours["time_zone"], hours["week"]) == ("Europe/Paris", {"tue": [["08:00", "12:00"]]})


def next_local(after: datetime, zone: ZoneInfo, at: time) -> datetime:
    """The first ``at`` o'clock in ``zone`` after ``after``."""
    day = after.astimezone(zone).date()
    while (moment := datetime.combine(day, at, zone)) <= after:
        day += timedelta(days=1)
    return moment
