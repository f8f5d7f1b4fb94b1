"""Signatures: the firm's (owners) and each staff member's, composed by the owner's template and
appended by the server to staff messages, never to notes, client or bot messages."""

from __future__ import annotations

import httpx

from protocol.values import Role
from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import ChatdProcess


def http_as(server: ChatdProcess, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def test_staff_messages_are_signed(server: ChatdProcess, cast: Cast, connect: Connect) -> None:
    owner = await cast.firm.user(Role.OWNER)
    owner_token = await cast.firm.token(owner)
    async with http_as(server, owner_token) as http:
        default = await http.get("/api/firm/signature")
        assert default.json() == {"signature": "", "template": "{{ staff.signature }}\n\n{{ firm.signature }}"}
        firm = await http.put(
            "/api/firm/signature",
            json={
                "signature": "Cabinet Martin SARL, RCS Paris 123 456 789",
                "template": "{{ staff.signature }}\n\n*{{ firm.signature }}*",
            },
        )
        assert firm.status_code == 200, firm.text
        assert firm.json()["template"] == "{{ staff.signature }}\n\n*{{ firm.signature }}*"
    async with http_as(server, cast.token(cast.staff)) as http:
        mine = await http.put("/api/me/signature", json={"signature": "**Marie Dupont**, accountant"})
        assert mine.json() == {
            "signature": "**Marie Dupont**, accountant",
            "composed": "**Marie Dupont**, accountant\n\n*Cabinet Martin SARL, RCS Paris 123 456 789*",
        }
        composed = mine.json()["composed"]
        sent_over_http = await http.post(
            "/api/threads",
            json={
                "subject": "Over HTTP",
                "body": "Hello",
                "client_msg_id": new_id(),
                "client_account_id": cast.client.client_account_id,
            },
        )
        assert sent_over_http.json()["message"]["body"] == f"Hello\n\n{composed}"
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    assert (await staff.ok("signature.get"))["composed"] == composed
    opened = await open_thread(staff, cast.client, body="Your return is ready.")
    assert opened["message"]["body"] == f"Your return is ready.\n\n{composed}"
    assert "<strong>Marie Dupont</strong>" in opened["message"]["html"]
    assert "<em>Cabinet Martin SARL" in opened["message"]["html"]
    thread_id = opened["thread"]["id"]
    sent = (await staff.ok("send", thread_id=thread_id, body="See you", client_msg_id=new_id()))["message"]
    assert sent["body"] == f"See you\n\n{composed}"
    seen = await client.event("message.created", message__id=sent["id"])
    assert seen["data"]["message"]["body"] == sent["body"]
    unsigned = await staff.ok("send", thread_id=thread_id, body="Quick one", client_msg_id=new_id(), signature=False)
    assert unsigned["message"]["body"] == "Quick one"
    again = await staff.ok("send", thread_id=thread_id, body="Signed again.", client_msg_id=new_id())
    assert again["message"]["body"] == f"Signed again.\n\n{composed}"
    note = await staff.ok("send", thread_id=thread_id, body="Internal", client_msg_id=new_id(), kind="note")
    assert note["message"]["body"] == "Internal"
    reply = await client.ok("send", thread_id=thread_id, body="Thanks", client_msg_id=new_id())
    assert reply["message"]["body"] == "Thanks"
    # A template's {{ staff.signature }} is the sender's personal signature.
    preview = await staff.ok(
        "template.preview", body="{{ staff.signature }} / {{ firm.signature }}", client_account_id=None
    )
    assert preview["body"] == "**Marie Dupont**, accountant / Cabinet Martin SARL, RCS Paris 123 456 789"


async def test_only_owners_see_or_set_the_firm_signature(server: ChatdProcess, cast: Cast, connect: Connect) -> None:
    manager = await cast.firm.user(Role.MANAGER)
    for token in (cast.token(cast.staff), await cast.firm.token(manager), cast.token(cast.client)):
        async with http_as(server, token) as http:
            for response in (
                await http.get("/api/firm/signature"),
                await http.put("/api/firm/signature", json={"signature": "Hijacked"}),
            ):
                assert response.status_code == 404
                assert response.json() == {"error": {"code": "not_found", "message": "not found"}}
    async with http_as(server, cast.token(cast.client)) as http:
        assert (await http.get("/api/me/signature")).status_code == 404
        assert (await http.put("/api/me/signature", json={"signature": "Client"})).status_code == 404
    client = await connect(cast.token(cast.client))
    assert (await client.call("signature.get"))["code"] == "not_found"
    owner = await cast.firm.user(Role.OWNER)
    async with http_as(server, await cast.firm.token(owner)) as http:
        assert (await http.put("/api/firm/signature", json={"signature": "Legal"})).status_code == 200
        for template, complaint in (
            ("{{ staff.signature ", "syntax error"),
            ("{{ ''.__class__ }}", "not allowed"),
            ("{{ client.name }}", "unknown variable client"),
        ):
            refused = await http.put("/api/firm/signature", json={"signature": "Changed", "template": template})
            assert refused.status_code == 400
            assert complaint in refused.json()["error"]["message"]
        kept = (await http.get("/api/firm/signature")).json()
        assert kept["signature"] == "Legal"
        assert kept["template"] == "{{ staff.signature }}\n\n{{ firm.signature }}"
    # No personal signature: the firm's alone is appended.
    staff2 = await connect(cast.token(cast.staff2))
    opened = await open_thread(staff2, cast.client, body="Hello")
    assert opened["message"]["body"] == "Hello\n\nLegal"
