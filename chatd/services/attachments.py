"""Attachments: upload (streamed, sniffed, optionally unzipped, thumbnailed), attach, download, forget."""

from __future__ import annotations

import asyncio
import functools
import logging
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors, filetypes, unzip
from chatd.clock import Clock
from chatd.config import Settings
from chatd.thumbnails import make_thumbnail
from chatd.uploads import MultipartReceiver, UploadedFile
from protocol.values import Attachment
from scheduler.due import AfterCommit, Again, Done, Outcome
from storage import Database
from storage import NotFound as StorageNotFound
from storage import attachments as attachment_store
from storage import due as due_store
from storage import messages as message_store
from storage.attachments import NewAttachment, StoredAttachment
from storage.blobs import BlobStore
from storage.directory import Account
from storage.due import DueItem

logger = logging.getLogger(__name__)

# Room for the multipart framing around the files themselves.
MULTIPART_OVERHEAD = 64 * 1024
# Due work: remove a user's uploads never sent with a message (one pending row per uploader).
EXPIRE_KIND = "attachments.expire_unsent"


@dataclass(frozen=True, slots=True)
class Download:
    path: Path
    name: str
    content_type: str
    inline: bool


class Attachments:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self.blobs = BlobStore(settings.data_dir / "attachments")
        self._keep_unsent = timedelta(hours=settings.unsent_upload_hours)

    # -- upload --

    async def upload(
        self,
        account: Account,
        *,
        content_type: str,
        content_length: int | None,
        chunks: AsyncIterator[bytes],
        expand_zip: bool,
    ) -> list[Attachment]:
        """Store the uploaded files (a zip's contents when ``expand_zip``); all or nothing."""
        if account.read_only:
            raise errors.ReadOnly("this bot is read-only: it may not upload files")
        settings = self._settings
        max_files = settings.max_attachments_per_message
        if content_length is not None and content_length > max_files * settings.max_upload_bytes + MULTIPART_OVERHEAD:
            raise errors.TooLarge(f"uploads are limited to {max_files} files of {settings.max_upload_bytes} bytes")
        self.blobs.prepare()
        receiver = MultipartReceiver(
            content_type, self.blobs.tmp_dir, max_file_bytes=settings.max_upload_bytes, max_files=max_files
        )
        try:
            received = await receiver.receive(chunks)
            prepared = await asyncio.to_thread(self._prepare, received, expand_zip)
        except BaseException:
            receiver.discard()
            raise
        now = self._clock.now()
        async with self._db.write() as conn:
            stored = await attachment_store.insert_attachments(
                conn, firm_id=account.user.firm_id, uploader_id=account.user.id, files=prepared, now=now
            )
            await self._expire_later(conn, account.user.id, now + self._keep_unsent, now)
        return [s.value for s in stored]

    def _prepare(self, received: list[UploadedFile], expand_zip: bool) -> list[NewAttachment]:
        """Sniff, expand, thumbnail and move into the blob store (in a worker thread)."""
        files: list[tuple[UploadedFile, str]] = []
        pending = list(received)
        try:
            for upload in received:
                media_type = filetypes.sniff(upload.path)
                if media_type == filetypes.ZIP and expand_zip:
                    pending.remove(upload)
                    members = unzip.expand(upload.path, self.blobs.tmp_dir, self._zip_limits())
                    upload.path.unlink()
                    pending.extend(members)
                    files.extend((m, self._allowed(m)) for m in members)
                else:
                    files.append((upload, self._allowed(upload, media_type)))
            if len(files) > self._settings.max_zip_files:
                raise errors.TooLarge(f"at most {self._settings.max_zip_files} files per upload")
        except BaseException:
            for upload in pending:
                upload.path.unlink(missing_ok=True)
            raise
        return [self._store(upload, media_type) for upload, media_type in files]

    def _allowed(self, upload: UploadedFile, media_type: str | None = None) -> str:
        found = media_type or filetypes.sniff(upload.path)
        if found is None:
            raise errors.UnsupportedType(
                f"{upload.name!r}: this kind of file is not accepted (documents, images, text, audio, video, zip)"
            )
        return found

    def _store(self, upload: UploadedFile, media_type: str) -> NewAttachment:
        thumbnail_sha = None
        if media_type in filetypes.THUMBNAIL_TYPES:
            thumbnail = make_thumbnail(upload.path, self.blobs.tmp_dir)
            if thumbnail is not None:
                self.blobs.put(thumbnail[0], thumbnail[1])
                thumbnail_sha = thumbnail[1]
        self.blobs.put(upload.path, upload.sha256)
        return NewAttachment(
            name=_display_name(upload.name),
            content_type=media_type,
            size=upload.size,
            sha256=upload.sha256,
            thumbnail_sha256=thumbnail_sha,
        )

    def _zip_limits(self) -> unzip.ZipLimits:
        settings = self._settings
        return unzip.ZipLimits(
            max_files=settings.max_zip_files,
            max_total_bytes=settings.max_zip_bytes,
            max_file_bytes=settings.max_upload_bytes,
            max_ratio=settings.max_zip_ratio,
        )

    # -- attach, in the sender's transaction --

    async def claim(self, conn: AsyncConnection, account: Account, attachment_ids: list[int]) -> list[Attachment]:
        """The caller's unsent uploads, in the order given; NotFound for any other id."""
        if len(attachment_ids) > self._settings.max_attachments_per_message:
            raise errors.TooLarge(f"at most {self._settings.max_attachments_per_message} attachments per message")
        wanted = list(dict.fromkeys(attachment_ids))
        found = await attachment_store.unattached_of(
            conn, firm_id=account.user.firm_id, uploader_id=account.user.id, attachment_ids=wanted
        )
        missing = [i for i in wanted if i not in found]
        if missing:
            raise errors.NotFound(f"attachment {missing[0]} not found among your unsent uploads")
        return [found[i].value for i in wanted]

    # -- download --

    async def download(self, account: Account, attachment_id: int, *, thumbnail: bool) -> Download:
        async with self._db.read() as conn:
            found = await attachment_store.get_attachment(conn, account.user.firm_id, attachment_id)
            if found is None or not await self._may_see(conn, account, found):
                raise errors.NotFound(f"attachment {attachment_id} not found")
        value = found.value
        if thumbnail:
            if found.thumbnail_sha256 is None:
                raise errors.NotFound(f"attachment {attachment_id} has no thumbnail")
            return Download(self.blobs.path(found.thumbnail_sha256), f"{value.name}.jpg", "image/jpeg", True)
        inline = value.content_type in filetypes.INLINE_TYPES
        return Download(self.blobs.path(found.sha256), value.name, value.content_type, inline)

    async def _may_see(self, conn: AsyncConnection, account: Account, found: StoredAttachment) -> bool:
        if found.message_id is None:
            return found.uploader_id == account.user.id
        try:
            message = await message_store.visible_message(conn, account.viewer, found.message_id)
        except StorageNotFound:
            return False
        return message.value.deleted_at is None

    # -- forget --

    async def forget_messages(self, conn: AsyncConnection, message_ids: list[int]) -> list[str]:
        """Delete the attachment rows of these messages in the caller's transaction; pass the result
        to ``discard_blobs`` after the commit."""
        return await attachment_store.delete_for_messages(conn, message_ids)

    async def expire_unsent(self, conn: AsyncConnection, item: DueItem, now: datetime) -> Outcome:
        """The due handler: forget the uploader's files still unsent after ``unsent_upload_hours``,
        and their blobs once no row names them; due again when the next unsent upload expires."""
        assert item.ref_id is not None
        shas = await attachment_store.delete_unsent(conn, item.ref_id, now - self._keep_unsent)
        orphans = await attachment_store.unreferenced(conn, shas)
        discard: list[AfterCommit] = [functools.partial(self.blobs.discard, sha) for sha in orphans]
        oldest = await attachment_store.oldest_unsent(conn, item.ref_id)
        if oldest is None:
            return Done(after_commit=discard)
        return Again(at=oldest + self._keep_unsent, after_commit=discard)

    async def _expire_later(self, conn: AsyncConnection, uploader_id: int, at: datetime, now: datetime) -> None:
        await due_store.schedule(
            conn,
            kind=EXPIRE_KIND,
            key=f"unsent-uploads:{uploader_id}",
            due_at=at,
            now=now,
            ref_id=uploader_id,
            keep_earlier=True,
        )

    async def forget_threads(self, conn: AsyncConnection, thread_ids: list[int]) -> list[str]:
        """Before deleting threads for good, in that transaction: their files' rows; pass the result to
        ``discard_blobs`` after the commit."""
        return await self.forget_messages(conn, await attachment_store.message_ids_with_files(conn, thread_ids))

    async def discard_blobs(self, shas: list[str]) -> None:
        """Remove the files that no attachment names any more (call after the deleting commit)."""
        async with self._db.read() as conn:
            orphans = await attachment_store.unreferenced(conn, shas)
        for sha in orphans:
            self.blobs.discard(sha)


def _display_name(raw: str) -> str:
    """A name to show and to offer when saving: no climbing folders, no control characters.
    (It is never used as a path: blobs are stored by hash.)"""
    parts = raw.replace("\\", "/").split("/")
    name = "/".join(p for p in parts if p not in ("", ".", ".."))
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C").strip()
    return (name or "file")[-255:]
