"""thread.create from a template rendered by the server, and the default template for new threads."""

from __future__ import annotations

import httpx

from tests.conftest import Cast, Connect, new_id
from tests.support import ChatdProcess, WsClient

REQUEST = {
    "name": "Missing document",
    "subject": "{{ fields.document }} for {{ client.name }}",
    "body": "Dear {{ client.name }}, {{ firm.name }} needs your **{{ fields.document }}**.\n\n{{ staff.name }}",
    "fields": [{"name": "document", "label": "Document"}],
}


def http_as(server: ChatdProcess, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def thread_count(client: WsClient) -> int:
    return len((await client.ok("threads", limit=100))["threads"])


async def test_thread_create_renders_a_template_for_the_client(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    async with http_as(server, cast.token(cast.staff)) as http:
        template_id = (await http.post("/api/templates", json=REQUEST)).json()["template"]["id"]
        needs_field = (
            await http.post(
                "/api/templates", json={"name": "Ref", "body": "Your reference: {{ client.fields.reference }}"}
            )
        ).json()["template"]["id"]
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    before = await thread_count(client)
    account = cast.client.client_account_id
    for fields, template, extra, complaint in (
        ({}, template_id, {}, "fill in: document"),
        ({"document": " "}, template_id, {}, "fill in: document"),
        ({}, needs_field, {}, "unknown values: reference"),
        ({"document": "x"}, template_id, {"body": "typed"}, "not both"),
        ({"document": "x"}, None, {"body": "typed", "subject": "S"}, "fields are for templates"),
    ):
        refused = await staff.call(
            "thread.create",
            client_msg_id=new_id(),
            client_account_id=account,
            template_id=template,
            fields=fields,
            **extra,
        )
        assert refused["code"] == "bad_request", refused
        assert complaint in refused["message"]
    assert await thread_count(client) == before  # nothing created
    opened = await staff.ok(
        "thread.create",
        client_msg_id=new_id(),
        client_account_id=account,
        template_id=template_id,
        fields={"document": "2025 payslips"},
    )
    assert opened["thread"]["subject"].startswith("2025 payslips for ")
    body = opened["message"]["body"]
    assert body.startswith("Dear ")
    assert "needs your **2025 payslips**." in body
    assert body.endswith(cast.staff.name)
    seen = await client.event("message.created", message__id=opened["message"]["id"])
    assert "<strong>2025 payslips</strong>" in seen["data"]["message"]["html"]
    # A subject given replaces the template's.
    titled = await staff.ok(
        "thread.create",
        client_msg_id=new_id(),
        client_account_id=account,
        subject="Payslips",
        template_id=template_id,
        fields={"document": "payslips"},
    )
    assert titled["thread"]["subject"] == "Payslips"
    # Over HTTP too; clients cannot use templates (not_found).
    async with http_as(server, cast.token(cast.staff)) as http:
        created = await http.post(
            "/api/threads",
            json={
                "client_msg_id": new_id(),
                "client_account_id": account,
                "template_id": template_id,
                "fields": {"document": "ID card"},
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["thread"]["subject"].startswith("ID card for ")
    refused = await client.call(
        "thread.create", client_msg_id=new_id(), template_id=template_id, fields={"document": "x"}
    )
    assert refused["code"] == "not_found"


async def test_the_default_template_starts_new_threads_not_replies(
    server: ChatdProcess, cast: Cast, connect: Connect
) -> None:
    async with http_as(server, cast.token(cast.staff)) as http:
        default = {"name": "Hello", "subject": "Hello {{ client.name }}", "body": "Hello {{ client.name }}!"}
        template_id = (await http.post("/api/templates", json=default)).json()["template"]["id"]
        assert (await http.put("/api/templates/default", json={"template_id": template_id})).status_code == 204
    staff = await connect(cast.token(cast.staff))
    opened = await staff.ok("thread.create", client_msg_id=new_id(), client_account_id=cast.client.client_account_id)
    assert opened["thread"]["subject"].startswith("Hello ")
    assert opened["message"]["body"].startswith("Hello ")
    assert opened["message"]["body"].endswith("!")
    typed = await staff.ok(
        "thread.create",
        client_msg_id=new_id(),
        client_account_id=cast.client.client_account_id,
        subject="S",
        body="Mine",
    )
    assert typed["message"]["body"] == "Mine"
    blank_reply = await staff.call("send", thread_id=opened["thread"]["id"], body=" ", client_msg_id=new_id())
    assert blank_reply["code"] == "bad_request"
    # Without a default, a blank body is refused as before.
    staff2 = await connect(cast.token(cast.staff2))
    refused = await staff2.call(
        "thread.create", client_msg_id=new_id(), client_account_id=cast.client.client_account_id, subject="S"
    )
    assert refused["code"] == "bad_request"
