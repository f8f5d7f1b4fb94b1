"""Files nobody sent are removed after CHATD_UNSENT_UPLOAD_HOURS; deleting threads for good removes
their files, and the blobs no other file names."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import httpx

from tests.conftest import new_id, open_thread, own_chatd
from tests.support import ChatdProcess, WsClient
from tests.timing import TestClock


def pdf() -> bytes:
    return b"%PDF-1.4\n%" + uuid.uuid4().hex.encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def blob(process: ChatdProcess, data: bytes) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    return process.data_dir / "attachments" / sha[:2] / sha


async def upload(http: httpx.AsyncClient, data: bytes) -> int:
    answer = await http.post("/api/attachments", files=[("file", ("doc.pdf", data))])
    assert answer.status_code == 201, answer.text
    return int(answer.json()["attachments"][0]["id"])


async def test_unsent_uploads_expire_and_deleted_threads_take_their_files(tmp_path: Path) -> None:
    clock = TestClock(tmp_path / "offset")
    async with own_chatd(tmp_path, {**clock.env, "CHATD_UNSENT_UPLOAD_HOURS": "24"}) as (process, cast):
        staff = await WsClient.connect(process.ws_url, cast.token(cast.staff))
        headers = {"Authorization": f"Bearer {cast.token(cast.staff)}"}
        try:
            async with httpx.AsyncClient(base_url=process.base_url, headers=headers, timeout=30) as http:
                unsent, sent, shared = pdf(), pdf(), pdf()
                unsent_id = await upload(http, unsent)
                sent_id = await upload(http, sent)
                shared_unsent_id = await upload(http, shared)
                shared_sent_id = await upload(http, shared)
                first = (await open_thread(staff, cast.client))["thread"]["id"]
                second = (await open_thread(staff, cast.client))["thread"]["id"]
                for thread_id, file_id in ((first, sent_id), (second, shared_sent_id)):
                    await staff.ok(
                        "send", thread_id=thread_id, body="", client_msg_id=new_id(), attachment_ids=[file_id]
                    )
                assert all(blob(process, data).exists() for data in (unsent, sent, shared))
                # A day later the unsent uploads are gone; a blob another file names stays.
                clock.advance(25 * 3600)
                # Watched on disk, not by downloading it: a download racing the deletion (headers sent,
                # then the file gone) is cut short, which is no answer to test.
                for _ in range(100):
                    if not blob(process, unsent).exists():
                        break
                    await asyncio.sleep(0.1)
                assert not blob(process, unsent).exists()
                assert (await http.get(f"/api/attachments/{unsent_id}")).status_code == 404
                assert (await http.get(f"/api/attachments/{shared_unsent_id}")).status_code == 404
                assert blob(process, shared).exists()
                assert (await http.get(f"/api/attachments/{sent_id}")).status_code == 200
                too_late = await staff.call(
                    "send", thread_id=first, body="x", client_msg_id=new_id(), attachment_ids=[unsent_id]
                )
                assert too_late["code"] == "not_found"
                # Deleting a thread for good forgets its files and their blobs.
                await staff.ok("threads.act", thread_ids=[first, second], action={"type": "trash"})
                await staff.ok("threads.act", thread_ids=[first], action={"type": "delete_forever"})
                assert not blob(process, sent).exists()
                assert blob(process, shared).exists()
                assert (await http.get(f"/api/attachments/{sent_id}")).status_code == 404
                await staff.ok("threads.act", thread_ids=[second], action={"type": "delete_forever"})
                assert not blob(process, shared).exists()
        finally:
            await staff.close()
