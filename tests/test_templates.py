"""Templates and quick replies: CRUD over HTTP, the composer's ops over the socket, the Jinja sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chatd.services.context import Services
from protocol.values import Role
from tests.conftest import Cast, Connect, open_thread
from tests.support import ChatdProcess, new_firm

EVERY_VARIABLE = (
    "Dear {{ client.name }} ({{ client.fields.reference }}),\n\n"
    "{{ firm.name }} needs your **{{ fields.document }}** by {{ fields.due_date }}.\n"
    "Today is {{ today }} ({{ today.strftime('%d/%m/%Y') }}), year {{ now.year }}.\n\n"
    "{{ staff.name }} <{{ staff.email }}>\n{{ staff.signature }}"
)


def http_as(server: ChatdProcess, token: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10)


def template(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Missing document",
        "subject": "{{ fields.document }} for {{ client.name }}",
        "body": EVERY_VARIABLE,
        "instruction": "Use for yearly returns; check the due date with the manager.",
        "fields": [{"name": "document", "label": "Document"}, {"name": "due_date", "label": "Due date"}],
        "scope": "firm",
        **overrides,
    }


async def test_every_variable_renders_for_a_client(
    server: ChatdProcess, services: Services, cast: Cast, connect: Connect
) -> None:
    owner = await cast.firm.user(Role.OWNER)
    owner_token = await cast.firm.token(owner)
    async with http_as(server, owner_token) as http:
        created = await http.post("/api/templates", json=template())
        assert created.status_code == 201, created.text
        saved = created.json()["template"]
        assert saved["scope"] == "firm"
        fields = await http.put(
            f"/api/client-accounts/{cast.client.client_account_id}/fields", json={"fields": {"reference": "C-042"}}
        )
        assert fields.status_code == 204, fields.text
    staff = await connect(cast.token(cast.staff))
    listed = await staff.ok("template.list")
    assert saved["id"] in [t["id"] for t in listed["templates"]]
    preview = await staff.ok(
        "template.preview",
        template_id=saved["id"],
        client_account_id=cast.client.client_account_id,
        fields={"document": "payslip", "due_date": "March 3"},
    )
    today = datetime.now(UTC).date()
    account_name = await _account_name(services, cast)
    assert preview["subject"] == f"payslip for {account_name}"
    body = preview["body"]
    assert body.startswith(f"Dear {account_name} (C-042),")
    assert "Firm needs your **payslip** by March 3." in body
    assert f"Today is {today.isoformat()} ({today.strftime('%d/%m/%Y')}), year {today.year}." in body
    assert f"{cast.staff.name} <{cast.staff.email}>" in body
    assert "<strong>payslip</strong>" in preview["html"]
    assert preview["unknown"] == []
    assert preview["missing_fields"] == []
    assert preview["instruction"].startswith("Use for yearly returns")
    # A preview without the fill-ins and for a client lacking the custom field names what is missing.
    other = await staff.ok(
        "template.preview", template_id=saved["id"], client_account_id=cast.other_client.client_account_id
    )
    assert other["missing_fields"] == ["document", "due_date"]
    assert other["unknown"] == ["reference"]


async def _account_name(services: Services, cast: Cast) -> str:
    from storage import templates as store

    async with services.db.read() as conn:
        cards = await store.client_cards(conn, cast.firm.id, [cast.client.client_account_id or 0])
    return cards[cast.client.client_account_id or 0].name


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{{ ''.__class__ }}", "'__class__' is not allowed"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "is not allowed"),
        ("{{ client['__class__'] }}", "'__class__' is not allowed"),
        ("{{ ''|attr('__class__') }}", "attr filter is not allowed"),
        ("{{ cycler.__init__.__globals__ }}", "is not allowed"),
        ("{{ lipsum.__globals__['os'] }}", "is not allowed"),
        ("{% for x in %}", "syntax error on line 1"),
        ("Hello {{ client.name", "syntax error on line 1"),
        ("{{ config }}", "unknown variable config"),
        ("{{ request.user }}", "unknown variable request"),
    ],
)
async def test_unsafe_or_broken_templates_are_refused_and_nothing_is_stored(
    server: ChatdProcess, cast: Cast, body: str, needle: str
) -> None:
    async with http_as(server, cast.token(cast.staff)) as http:
        before = (await http.get("/api/templates")).json()["templates"]
        answer = await http.post("/api/templates", json=template(scope="personal", body=body))
        assert answer.status_code == 400, answer.text
        assert needle in answer.json()["error"]["message"]
        assert (await http.get("/api/templates")).json()["templates"] == before
        preview = await http.post("/api/templates/preview", json={"body": body})
        assert preview.status_code == 400


async def test_who_manages_which_templates(
    server: ChatdProcess, services: Services, cast: Cast, connect: Connect
) -> None:
    async with http_as(server, cast.token(cast.staff)) as http:
        refused = await http.post("/api/templates", json=template(scope="firm"))
        assert refused.status_code == 400  # staff make personal templates only
        mine = (await http.post("/api/templates", json=template(scope="personal", name="Mine"))).json()["template"]
        assert mine["scope"] == "personal"
        assert mine["owner_id"] == cast.staff.id
        changed = await http.put(f"/api/templates/{mine['id']}", json=template(scope="personal", name="Mine v2"))
        assert changed.json()["template"]["name"] == "Mine v2"
        assert (await http.put("/api/templates/default", json={"template_id": mine["id"]})).status_code == 204
    staff = await connect(cast.token(cast.staff))
    assert (await staff.ok("template.list"))["default_template_id"] == mine["id"]
    async with http_as(server, cast.token(cast.staff2)) as http:
        listed = (await http.get("/api/templates")).json()["templates"]
        assert mine["id"] not in [t["id"] for t in listed]  # personal templates are their owner's
        assert (await http.delete(f"/api/templates/{mine['id']}")).status_code == 404
    async with http_as(server, cast.token(cast.client)) as http:
        assert (await http.get("/api/templates")).status_code == 404  # not for clients
    client = await connect(cast.token(cast.client))
    assert (await client.call("template.list"))["code"] == "not_found"
    outsider_firm = await new_firm(services)
    outsider = await outsider_firm.user(Role.STAFF)
    async with http_as(server, await outsider_firm.token(outsider)) as http:
        preview = await http.post("/api/templates/preview", json={"template_id": mine["id"]})
        assert preview.status_code == 404
    async with http_as(server, cast.token(cast.staff)) as http:
        assert (await http.delete(f"/api/templates/{mine['id']}")).status_code == 204
        assert (await http.get("/api/templates")).json()["default_template_id"] is None


async def test_quick_replies_expand_for_the_thread_client(server: ChatdProcess, cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    reply = template(
        scope="personal", name="Thanks", shortcut="thx", subject="", fields=[], body="Thanks {{ client.name }}!"
    )
    async with http_as(server, cast.token(cast.staff)) as http:
        created = await http.post("/api/templates", json=reply)
        assert created.status_code == 201, created.text
        taken = await http.post("/api/templates", json={**reply, "name": "Other"})
        assert taken.status_code == 409
        bad = await http.post("/api/templates", json={**reply, "shortcut": "Not Valid"})
        assert bad.status_code == 400
        listed = (await http.get("/api/quick-replies", params={"prefix": "/th"})).json()["quick_replies"]
        assert [q["shortcut"] for q in listed] == ["thx"]
    expanded = await staff.ok("quick_reply.expand", shortcut="/thx", thread_id=thread_id)
    assert expanded["body"].startswith("Thanks ")
    assert expanded["body"] != "Thanks !"
    assert (await staff.ok("quick_reply.list", prefix="t"))["quick_replies"][0]["shortcut"] == "thx"
    assert (await staff.call("quick_reply.expand", shortcut="nope"))["code"] == "not_found"
