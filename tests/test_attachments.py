"""Attachments through the running server: multipart upload, send by id, download rules, limits, zips."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from chatd.services.context import Services
from protocol.values import Role
from tests.conftest import Cast, Connect, new_id, open_thread
from tests.support import ChatdProcess, new_firm

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MiB = 1024 * 1024


def png(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 30, 30, 128)).save(out, "PNG")
    return out.getvalue()


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def http_as(server: ChatdProcess, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


async def upload(http: httpx.AsyncClient, files: list[tuple[str, bytes]], **params: Any) -> httpx.Response:
    return await http.post(
        "/api/attachments", files=[("file", (name, data)) for name, data in files], params=params or None
    )


def tmp_files(server: ChatdProcess) -> list[str]:
    tmp = server.data_dir / "attachments" / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


async def test_upload_send_and_download(server: ChatdProcess, cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    client = await connect(cast.token(cast.client))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    image, text = png(), b"name,amount\nAna,12\n"
    async with http_as(server, cast.token(cast.staff)) as http:
        answer = await upload(http, [("scan.png", image), ("../../etc/return.pdf", PDF), ("totals.csv", text)])
        assert answer.status_code == 201, answer.text
        files = answer.json()["attachments"]
    assert [f["content_type"] for f in files] == ["image/png", "application/pdf", "text/plain; charset=utf-8"]
    assert [f["name"] for f in files] == ["scan.png", "etc/return.pdf", "totals.csv"]
    assert files[0]["size"] == len(image)
    assert files[0]["thumbnail_url"] == f"/api/attachments/{files[0]['id']}/thumbnail"
    assert files[1]["thumbnail_url"] is None

    ids = [f["id"] for f in files]
    sent = (
        await staff.ok("send", thread_id=thread_id, body="Here you go", client_msg_id=new_id(), attachment_ids=ids)
    )["message"]
    assert [a["id"] for a in sent["attachments"]] == ids
    seen = await client.event("message.created", message__id=sent["id"])
    assert seen["data"]["message"]["attachments"] == sent["attachments"]
    assert (await client.ok("history", thread_id=thread_id))["messages"][-1]["attachments"] == sent["attachments"]

    async with http_as(server, cast.token(cast.client)) as http:
        got = await http.get(files[0]["url"])
        assert got.status_code == 200
        assert got.content == image
        assert got.headers["content-type"] == "image/png"
        assert got.headers["content-disposition"].startswith("inline;")
        assert got.headers["x-content-type-options"] == "nosniff"
        thumb = await http.get(files[0]["thumbnail_url"])
        assert thumb.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(thumb.content)).size) == 320
        pdf = await http.get(files[1]["url"])
        assert pdf.content == PDF
        assert pdf.headers["content-disposition"].startswith("inline;")
        csv = await http.get(files[2]["url"])
        assert csv.content == text
        assert csv.headers["content-disposition"] == "attachment; filename=\"totals.csv\"; filename*=UTF-8''totals.csv"
        assert csv.headers["x-content-type-options"] == "nosniff"
    # Another client account, and a staff member of another firm, see nothing.
    async with http_as(server, cast.token(cast.other_client)) as http:
        refused = await http.get(files[0]["url"])
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "not_found"


async def test_files_may_be_sent_without_text(server: ChatdProcess, cast: Cast, connect: Connect) -> None:
    client = await connect(cast.token(cast.client))
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    refused = await client.call("send", thread_id=thread_id, body="  ", client_msg_id=new_id())
    assert refused["code"] == "bad_request"
    async with http_as(server, cast.token(cast.client)) as http:
        file = (await upload(http, [("payslip.pdf", PDF)])).json()["attachments"][0]
    sent = await client.ok("send", thread_id=thread_id, body="", client_msg_id=new_id(), attachment_ids=[file["id"]])
    assert sent["message"]["html"] == ""
    assert sent["message"]["attachments"][0]["name"] == "payslip.pdf"


async def test_who_may_use_and_fetch_an_upload(
    server: ChatdProcess, services: Services, cast: Cast, connect: Connect
) -> None:
    staff = await connect(cast.token(cast.staff))
    staff2 = await connect(cast.token(cast.staff2))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    async with http_as(server, cast.token(cast.staff)) as http:
        mine = (await upload(http, [("a.pdf", PDF)])).json()["attachments"][0]
        assert (await http.get(mine["url"])).status_code == 200  # the uploader sees an unsent upload
    async with http_as(server, cast.token(cast.staff2)) as http:
        assert (await http.get(mine["url"])).status_code == 404  # nobody else does
    # Someone else's upload, another firm's upload, and an unknown id: not_found, nothing stored.
    other_firm = await new_firm(services)
    outsider = await other_firm.user(Role.STAFF)
    async with http_as(server, await other_firm.token(outsider)) as http:
        foreign = (await upload(http, [("b.pdf", PDF)])).json()["attachments"][0]
        assert (await http.get(mine["url"])).status_code == 404
    before = (await staff.ok("history", thread_id=thread_id))["messages"]
    for ids in ([mine["id"] + 10_000], [foreign["id"]]):
        answer = await staff.call("send", thread_id=thread_id, body="x", client_msg_id=new_id(), attachment_ids=ids)
        assert answer["code"] == "not_found", answer
    answer = await staff2.call(
        "send", thread_id=thread_id, body="x", client_msg_id=new_id(), attachment_ids=[mine["id"]]
    )
    assert answer["code"] == "not_found"
    assert (await staff.ok("history", thread_id=thread_id))["messages"] == before
    # Once sent, an upload cannot go on a second message.
    await staff.ok("send", thread_id=thread_id, body="1", client_msg_id=new_id(), attachment_ids=[mine["id"]])
    again = await staff.call("send", thread_id=thread_id, body="2", client_msg_id=new_id(), attachment_ids=[mine["id"]])
    assert again["code"] == "not_found"
    # Too many attachments on one message.
    too_many = await staff.call(
        "send", thread_id=thread_id, body="x", client_msg_id=new_id(), attachment_ids=list(range(1, 12))
    )
    assert too_many["code"] == "too_large"


async def test_deleted_messages_hide_their_files(server: ChatdProcess, cast: Cast, connect: Connect) -> None:
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    async with http_as(server, cast.token(cast.staff)) as http:
        file = (await upload(http, [("a.pdf", PDF)])).json()["attachments"][0]
        sent = await staff.ok(
            "send", thread_id=thread_id, body="x", client_msg_id=new_id(), attachment_ids=[file["id"]]
        )
        deleted = (await staff.ok("delete", message_id=sent["message"]["id"]))["message"]
        assert deleted["attachments"] == []
        assert (await http.get(file["url"])).status_code == 404


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("setup.exe", b"MZ\x90\x00" + bytes(200)),
        ("photo.png", b"<!doctype html><script>alert(1)</script>"),
        ("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("run.sh", b"\x7fELF\x02\x01\x01" + bytes(100)),
        ("blob.bin", bytes(range(256)) * 4),
    ],
)
async def test_forbidden_types_are_sniffed_from_content(
    server: ChatdProcess, cast: Cast, name: str, data: bytes
) -> None:
    async with http_as(server, cast.token(cast.client)) as http:
        answer = await upload(http, [("ok.pdf", PDF), (name, data)])
    assert answer.status_code == 415, answer.text
    assert answer.json()["error"]["code"] == "unsupported_type"
    assert tmp_files(server) == []


async def test_an_oversize_upload_is_stopped_while_streaming(server: ChatdProcess, cast: Cast) -> None:
    boundary = "chatdtestboundary"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        yield b"%PDF-1.4\n"
        for _ in range(26):
            yield bytes(MiB)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with http_as(server, cast.token(cast.staff)) as http:
        answer = await http.post("/api/attachments", content=body(), headers=headers)
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "too_large"
        assert await _status_of_declared_length(server, cast.token(cast.staff), 1000 * MiB) == 413
        not_multipart = await http.post("/api/attachments", json={"file": "x"})
        assert not_multipart.status_code == 400
        no_file = await http.post("/api/attachments", data={"other": "x"}, files={"x": ("a", b"b")})
        assert no_file.status_code == 400
    assert tmp_files(server) == []


async def _status_of_declared_length(server: ChatdProcess, token: str, length: int) -> int:
    """Announce a huge body and send none of it: the server answers from the headers alone."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        (
            f"POST /api/attachments HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status_line.split()[1])


async def test_zip_expanded_into_its_files(server: ChatdProcess, cast: Cast) -> None:
    archive = zip_of({"2025/return.pdf": PDF, "2025/scans/id.png": png(50, 50), "notes.txt": b"hello"})
    async with http_as(server, cast.token(cast.client)) as http:
        expanded = await upload(http, [("docs.zip", archive)], unzip="true")
        assert expanded.status_code == 201, expanded.text
        files = expanded.json()["attachments"]
        assert [(f["name"], f["content_type"]) for f in files] == [
            ("2025/return.pdf", "application/pdf"),
            ("2025/scans/id.png", "image/png"),
            ("notes.txt", "text/plain; charset=utf-8"),
        ]
        assert files[1]["thumbnail_url"] is not None
        kept = (await upload(http, [("docs.zip", archive)])).json()["attachments"]
        assert kept[0]["content_type"] == "application/zip"
        got = await http.get(kept[0]["url"])
        assert got.content == archive
        assert got.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("members", "status", "needle"),
    [
        ({"../evil.txt": b"x"}, 400, "unsafe path"),
        ({"a/../../evil.txt": b"x"}, 400, "unsafe path"),
        ({"/etc/passwd": b"x"}, 400, "unsafe path"),
        ({"..\\evil.txt": b"x"}, 400, "unsafe path"),
        ({"C:/evil.txt": b"x"}, 400, "unsafe path"),
        ({"bomb.txt": bytes(20 * MiB)}, 413, "zip bomb"),
        ({f"f{i}.txt": b"x" for i in range(101)}, 413, "at most 100"),
        ({"ok.pdf": PDF, "tool.exe": b"MZ" + bytes(100)}, 415, "tool.exe"),
    ],
)
async def test_dangerous_zips_are_refused_whole(
    server: ChatdProcess, cast: Cast, members: dict[str, bytes], status: int, needle: str
) -> None:
    async with http_as(server, cast.token(cast.client)) as http:
        answer = await upload(http, [("x.zip", zip_of(members))], unzip="1")
    assert answer.status_code == status, answer.text
    assert needle in answer.json()["error"]["message"]
    assert tmp_files(server) == []


async def test_a_zip_that_lies_about_its_sizes_is_stopped(server: ChatdProcess, cast: Cast) -> None:
    """The directory says 10 bytes; the stream holds a megabyte."""
    honest = zip_of({"a.txt": b"a" * MiB})
    with zipfile.ZipFile(io.BytesIO(honest)) as archive:
        info = archive.infolist()[0]
    lying = bytearray(honest)
    central = lying.rfind(b"PK\x01\x02")
    lying[central + 24 : central + 28] = (10).to_bytes(4, "little")  # uncompressed size in the directory
    assert info.file_size == MiB
    async with http_as(server, cast.token(cast.client)) as http:
        answer = await upload(http, [("x.zip", bytes(lying))], unzip="1")
    assert answer.status_code in (400, 413), answer.text
    assert tmp_files(server) == []


async def test_storage_forgets_files_of_deleted_messages(
    server: ChatdProcess, services: Services, cast: Cast, connect: Connect
) -> None:
    """The function "delete forever" uses: rows go in the caller's transaction, files after commit."""
    staff = await connect(cast.token(cast.staff))
    thread_id = (await open_thread(staff, cast.client))["thread"]["id"]
    unique = PDF + new_id().encode()
    async with http_as(server, cast.token(cast.staff)) as http:
        file = (await upload(http, [("a.pdf", unique)])).json()["attachments"][0]
        twin = (await upload(http, [("b.pdf", unique)])).json()["attachments"][0]
    first = await staff.ok("send", thread_id=thread_id, body="x", client_msg_id=new_id(), attachment_ids=[file["id"]])
    second = await staff.ok("send", thread_id=thread_id, body="y", client_msg_id=new_id(), attachment_ids=[twin["id"]])
    blobs = services.attachments.blobs
    stored = [p for p in blobs.root.glob("??/*") if p.read_bytes() == unique]
    assert len(stored) == 1  # content-addressed: the same bytes once
    async with services.db.write() as conn:
        shas = await services.attachments.forget_messages(conn, [first["message"]["id"]])
    await services.attachments.discard_blobs(shas)
    assert stored[0].exists()  # still named by the twin
    async with services.db.write() as conn:
        shas = await services.attachments.forget_messages(conn, [second["message"]["id"]])
    await services.attachments.discard_blobs(shas)
    assert not stored[0].exists()
