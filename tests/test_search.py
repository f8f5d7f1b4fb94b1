"""Search: full text with operators over what each user may see, safe against query syntax."""

from __future__ import annotations

import os
from typing import Any

import httpx

from chatd.services.search import highlight
from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import ChatdProcess, WsClient


async def _hits(ws: WsClient, q: str = "", **filters: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await ws.ok("search", q=q, **filters))["results"]
    return found


async def test_words_operators_ranking_and_highlights(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    thread = (await open_thread(staff, cast.client, body="Bonjour, voici le récapitulatif fiscal"))["thread"]["id"]
    await client.ok(
        "send", thread_id=thread, body="Merci! Ci-joint ma fiche de paie de janvier", client_msg_id=new_id()
    )
    await staff.ok("send", thread_id=thread, body="La fiche de paie est bien reçue", client_msg_id=new_id())
    await staff.ok("send", thread_id=thread, body="Note: paie en retard", client_msg_id=new_id(), kind="note")

    hits = await _hits(staff, "fiche paie")
    assert len(hits) == 2
    assert all("<mark>" in str(h["snippet"]) for h in hits)
    assert {h["thread_id"] for h in hits} == {thread}
    assert len(await _hits(staff, "récapitulatif")) == 1
    if os.environ.get("CHATD_TEST_DATABASE", "sqlite") == "sqlite":
        # FTS5 folds accents: "recapitulatif" finds "récapitulatif" (PostgreSQL's 'simple' does not).
        assert len(await _hits(staff, "recapitulatif")) == 1
    # from:, negation, phrases.
    from_client = await _hits(staff, f"paie from:{cast.client.id}")
    assert [h["message"]["author_id"] for h in from_client] == [cast.client.id]
    assert len(await _hits(staff, "paie -janvier")) == 2  # the note and the staff reply
    assert len(await _hits(staff, '"fiche de paie de janvier"')) == 1
    assert len(await _hits(staff, f"paie client:{cast.client.client_account_id} in:inbox")) == 3
    assert await _hits(staff, "paie before:2000-01-01") == []
    # Clients never find notes.
    client_hits = await _hits(client, "paie")
    assert len(client_hits) == 2
    assert all(h["message"]["kind"] == "message" for h in client_hits)


async def test_query_syntax_is_text_and_snippets_are_escaped(cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread = (
        await open_thread(staff, cast.client, body="if 5 < 6 && alert('x') <img src=x onerror=y> NEAR the AND office")
    )["thread"]
    for q in ['"', '""', '"unbalanced', "*", "NEAR", "NEAR(a b)", "a AND OR", "col:x", "^start", "-", "'", "(", "\\"]:
        answer = await staff.call("search", q=q)
        assert answer["op"] == "ok" or answer["code"] == "bad_request", (q, answer)
    hits = await _hits(staff, "alert")
    assert hits
    snippet = str(hits[0]["snippet"])
    assert "<mark>alert</mark>" in snippet
    assert highlight("5 < 6 && \ue000<b>x</b>\ue001") == "5 &lt; 6 &amp;&amp; <mark>&lt;b&gt;x&lt;/b&gt;</mark>"
    # No markup but the highlights: "<" and "&" from the text come escaped.
    assert "<" not in snippet.replace("<mark>", "").replace("</mark>", "")
    assert thread["id"] in [h["thread_id"] for h in await _hits(staff, "NEAR")]
    assert (await staff.call("search", q="x in:nowhere"))["code"] == "bad_request"
    assert (await staff.call("search", q="x before:yesterday"))["code"] == "bad_request"
    assert (await staff.call("search", q=""))["code"] == "bad_request"


async def test_paging_and_other_accounts(cast: Cast, connect: Connect, server: ChatdProcess) -> None:
    staff = await connect(cast.token(cast.staff))
    other = await connect(cast.token(cast.other_client))
    thread = (await open_thread(staff, cast.client))["thread"]["id"]
    for n in range(5):
        await staff.ok("send", thread_id=thread, body=f"quarterly statement number {n}", client_msg_id=new_id())
    first = await staff.ok("search", q="quarterly", limit=3)
    assert len(first["results"]) == 3
    second = await staff.ok("search", q="quarterly", limit=3, cursor=first["cursor"])
    assert len(second["results"]) == 2
    assert second["cursor"] is None
    ids = {r["message"]["id"] for r in first["results"] + second["results"]}
    assert len(ids) == 5
    # Another client account finds nothing of it, over WebSocket and HTTP.
    assert await _hits(other, "quarterly") == []
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        answer = await http.get(
            "/api/search",
            params={"q": "quarterly"},
            headers={"Authorization": f"Bearer {cast.token(cast.other_client)}"},
        )
        assert answer.status_code == 200
        assert answer.json()["results"] == []
        mine = await http.get(
            "/api/search",
            params={"q": "quarterly", "limit": "2"},
            headers={"Authorization": f"Bearer {cast.token(cast.staff)}"},
        )
        assert len(mine.json()["results"]) == 2
