"""Editing within the firm's window; clients see "edited"; earlier versions kept for staff only."""

from __future__ import annotations

from pathlib import Path

import httpx

from protocol.values import Role
from tests.conftest import new_id, open_thread, own_chatd
from tests.support import WsClient


async def test_edit_window_and_versions(tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    clock.write_text("0")
    async with own_chatd(tmp_path, {"CHATD_CLOCK_FILE": str(clock)}) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff))
        client = await WsClient.connect(process.ws_url, cast.token(cast.client))
        try:
            thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
            sent = (await staff.ok("send", thread_id=thread_id, body="v1", client_msg_id=new_id()))["message"]
            edited = (await staff.ok("edit", message_id=sent["id"], body="v2 **bold**"))["message"]
            assert edited["edited_at"] is not None
            seen = await client.event("message.updated", message__id=sent["id"])
            assert seen["data"]["message"]["edited_at"] is not None  # the client shows "edited"
            await staff.ok("edit", message_id=sent["id"], body="v3")
            versions = (await staff.ok("message.versions", message_id=sent["id"]))["versions"]
            assert [v["body"] for v in versions] == ["v1", "v2 **bold**"]
            assert versions[0]["written_at"] == sent["created_at"]
            assert (await client.call("message.versions", message_id=sent["id"]))["code"] == "not_found"
            clock.write_text(str(16 * 60))
            late = await staff.call("edit", message_id=sent["id"], body="v4")
            assert late["code"] == "conflict"
            assert "15 minutes" in late["message"]
            headers = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
            async with httpx.AsyncClient(base_url=process.base_url, headers=headers) as http:
                assert (await http.get("/api/firm/edit-window")).json() == {"minutes": 15}
                refused = await http.put("/api/firm/edit-window", json={"minutes": 60})
                assert refused.status_code == 404
                history = await http.get(f"/api/messages/{sent['id']}/versions")
                assert [v["body"] for v in history.json()["versions"]] == ["v1", "v2 **bold**"]
            # Owners set the window; a wider one lets the edit through.
            owner = await cast.firm.user(Role.OWNER)
            owner_headers = {"Authorization": f"Bearer {await cast.firm.token(owner)}"}
            async with httpx.AsyncClient(base_url=process.base_url, headers=owner_headers) as http:
                assert (await http.put("/api/firm/edit-window", json={"minutes": 60})).status_code == 204
                assert (await http.put("/api/firm/edit-window", json={"minutes": -1})).status_code == 400
            assert (await staff.ok("edit", message_id=sent["id"], body="v4"))["message"]["body"] == "v4"
        finally:
            await staff.close()
            await client.close()
