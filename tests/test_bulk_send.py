"""Bulk send: one message to many clients, a thread each, rendered per client, in the background,
idempotent by key, with progress to the requester while the server keeps answering others."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatd.services.context import Services
from protocol.values import Role
from storage import directory as directory_store
from tests.conftest import Cast, Connect
from tests.support import ChatdProcess, WsClient, new_firm, seeder

CLIENTS = 2000


async def all_threads(staff: WsClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await staff.ok("threads", source="bulk", limit=100, **({"cursor": cursor} if cursor else {}))
        found.extend(page["threads"])
        cursor = page["cursor"]
        if cursor is None:
            return found


# Thousands of threads take minutes on a loaded machine (PostgreSQL most): timed in bench/, not here.
@pytest.mark.timeout(900)
async def test_bulk_send_to_2000_clients_while_pings_are_answered(services: Services, connect: Connect) -> None:
    firm = await new_firm(services, "Cabinet Martin")
    staff_user = await firm.user(Role.STAFF)
    now = services.clock.now()
    async with services.db.write() as conn:
        accounts = [
            await directory_store.create_client_account(conn, firm.id, f"Client {i}", now) for i in range(CLIENTS)
        ]
    token = await firm.token(staff_user)
    staff = await connect(token)
    watcher = await connect(token)
    started = await staff.ok(
        "bulk.send",
        key="january-reminder",
        client_account_ids=accounts,
        subject="Documents for {{ client.name }}",
        body="Dear {{ client.name }}, {{ firm.name }} needs your **{{ fields.document }}**.",
        fields={"document": "bank statements"},
    )
    bulk = started["bulk"]
    assert bulk["total"] == CLIENTS
    assert bulk["state"] == "running"
    # Another connection's pings are answered all along; each ping sees the job further on.
    progress_at_pings: list[int] = []
    final: dict[str, Any] | None = None
    while final is None:
        await watcher.ok("ping")
        seen = [f for f in staff.frames if f.get("type") == "bulk.progress"]
        progress_at_pings.append(seen[-1]["data"]["bulk"]["done"] if seen else 0)
        final = next((f for f in seen if f["data"]["bulk"]["state"] == "done"), None)
        await asyncio.sleep(0.05)
    in_progress = {done for done in progress_at_pings if 0 < done < CLIENTS}
    assert len(in_progress) >= 3, progress_at_pings
    assert final["data"]["bulk"]["done"] == CLIENTS
    results = final["data"]["results"]
    assert len(results) == CLIENTS
    assert all(r["ok"] for r in results)
    thread_ids = {r["thread_id"] for r in results}
    assert len(thread_ids) == CLIENTS
    threads = await all_threads(staff)
    assert {t["id"] for t in threads} == thread_ids
    assert {t["client_account_id"] for t in threads} == set(accounts)
    assert {t["subject"] for t in threads[:3]} <= {f"Documents for Client {i}" for i in range(CLIENTS)}
    # A retry with the same key is the same job and creates nothing.
    again = await staff.ok("bulk.send", key="january-reminder", client_account_ids=accounts, body="Other")
    assert again["bulk"]["id"] == bulk["id"]
    assert again["bulk"]["state"] == "done"
    assert len(await all_threads(staff)) == CLIENTS
    fetched = await staff.ok("bulk.get", bulk_id=bulk["id"])
    assert len(fetched["results"]) == CLIENTS


async def test_bulk_send_renders_per_client_and_reports_each_result(
    server: ChatdProcess, services: Services, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    headers = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
        template = {
            "name": "Reference",
            "subject": "Your file {{ client.fields.reference }}",
            "body": "Hello {{ client.name }}, about file {{ client.fields.reference }} ({{ fields.year }}).",
            "fields": [{"name": "year"}],
        }
        template_id = (await http.post("/api/templates", json=template)).json()["template"]["id"]
        assert (await http.put("/api/me/signature", json={"signature": "*Staff One*"})).status_code == 200
        mine, other = cast.client.client_account_id, cast.other_client.client_account_id
        fields = await http.put(f"/api/client-accounts/{mine}/fields", json={"fields": {"reference": "C-042"}})
        assert fields.status_code == 204
        refused = await http.post(
            "/api/bulk-sends", json={"key": "k0", "client_account_ids": [mine], "template_id": template_id}
        )
        assert refused.status_code == 400
        assert "fill in: year" in refused.json()["error"]["message"]
        bad = await http.post("/api/bulk-sends", json={"key": "k0", "client_account_ids": [mine], "body": "{{ x"})
        assert bad.status_code == 400
        request = {
            "key": "k1",
            "client_account_ids": [mine, other, 999_999],
            "template_id": template_id,
            "fields": {"year": "2025"},
        }
        started = await http.post("/api/bulk-sends", json=request)
        assert started.status_code == 202, started.text
        bulk_id = started.json()["bulk"]["id"]
        done = await staff.event("bulk.progress", bulk__id=bulk_id, bulk__state="done", timeout=20)
        by_client = {r["client_account_id"]: r for r in done["data"]["results"]}
        assert by_client[mine]["ok"] is True
        assert by_client[other] == {
            "client_account_id": other,
            "ok": False,
            "thread_id": None,
            "error": {"code": "bad_request", "message": "this client lacks: reference"},
        }
        assert by_client[999_999]["error"]["code"] == "not_found"
        seen = await client.event("message.created", message__thread_id=by_client[mine]["thread_id"])
        expected = "Hello " + cast.client.name + ", about file C-042 (2025).\n\n*Staff One*"  # signed
        assert seen["data"]["message"]["body"] == expected
        fetched = await http.get(f"/api/bulk-sends/{bulk_id}")
        assert fetched.json()["bulk"]["done"] == 3
    # Only the requester sees a job; clients cannot send in bulk.
    staff2 = await connect(cast.token(cast.staff2))
    assert (await staff2.call("bulk.get", bulk_id=bulk_id))["code"] == "not_found"
    assert (await client.call("bulk.send", key="x", client_account_ids=[mine], body="Hi"))["code"] == "not_found"


async def test_a_bulk_send_killed_midway_resumes_on_retry_without_doubles(tmp_path: Path) -> None:
    clients = 300
    async with seeder(tmp_path, {}) as services:
        await services.db.migrate()
        firm = await new_firm(services)
        token = await firm.token(await firm.user(Role.STAFF))
        now = services.clock.now()
        async with services.db.write() as conn:
            accounts = [
                await directory_store.create_client_account(conn, firm.id, f"C{i}", now) for i in range(clients)
            ]
        process = ChatdProcess(tmp_path)
        process.start()
        try:
            staff = await WsClient.connect(process.ws_url, token)
            request = {"key": "k", "client_account_ids": accounts, "subject": "Hi", "body": "Hello {{ client.name }}"}
            bulk_id = (await staff.ok("bulk.send", **request))["bulk"]["id"]
            await staff.event("bulk.progress", bulk__id=bulk_id, timeout=60)  # a first batch is recorded
            process.stop(signal.SIGKILL)
            await staff.close()
            process.start()
            staff = await WsClient.connect(process.ws_url, token)
            resumed = (await staff.ok("bulk.send", **request))["bulk"]
            assert resumed["id"] == bulk_id
            assert 0 < resumed["done"] < clients, "killed too late to prove anything"
            done = await staff.event("bulk.progress", bulk__id=bulk_id, bulk__state="done", timeout=120)
            results = done["data"]["results"]
            assert sorted(r["client_account_id"] for r in results) == sorted(accounts)
            assert all(r["ok"] for r in results)
            threads = await all_threads(staff)
            assert len(threads) == clients  # none twice
            assert {t["id"] for t in threads} == {r["thread_id"] for r in results}
            await staff.close()
        finally:
            process.stop()
