"""Verbs for attachments: record uploads, attach them to a message, find and forget them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Attachment as AttachmentValue
from storage.attachment_models import Attachment
from storage.models import Message
from storage.rows import AnyRow


@dataclass(frozen=True, slots=True)
class NewAttachment:
    name: str
    content_type: str
    size: int
    sha256: str
    thumbnail_sha256: str | None


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    id: int
    firm_id: int
    uploader_id: int
    message_id: int | None
    sha256: str
    thumbnail_sha256: str | None
    value: AttachmentValue


_COLUMNS = (
    Attachment.id,
    Attachment.firm_id,
    Attachment.uploader_id,
    Attachment.message_id,
    Attachment.name,
    Attachment.content_type,
    Attachment.size,
    Attachment.sha256,
    Attachment.thumbnail_sha256,
)

_list_encoder = msgspec.json.Encoder()
_list_decoder = msgspec.json.Decoder(list[AttachmentValue])


def encode_list(values: list[AttachmentValue]) -> str | None:
    """The JSON kept on the message row, so reading messages needs no join."""
    return _list_encoder.encode(values).decode() if values else None


def decode_list(raw: str | None) -> list[AttachmentValue]:
    return _list_decoder.decode(raw) if raw else []


def _stored(row: AnyRow) -> StoredAttachment:
    url = f"/api/attachments/{row.id}"
    return StoredAttachment(
        id=row.id,
        firm_id=row.firm_id,
        uploader_id=row.uploader_id,
        message_id=row.message_id,
        sha256=row.sha256,
        thumbnail_sha256=row.thumbnail_sha256,
        value=AttachmentValue(
            id=row.id,
            name=row.name,
            content_type=row.content_type,
            size=row.size,
            url=url,
            thumbnail_url=f"{url}/thumbnail" if row.thumbnail_sha256 else None,
        ),
    )


async def insert_attachments(
    conn: AsyncConnection, *, firm_id: int, uploader_id: int, files: list[NewAttachment], now: datetime
) -> list[StoredAttachment]:
    stored = []
    for new in files:
        row = (
            await conn.execute(
                insert(Attachment)
                .values(
                    firm_id=firm_id,
                    uploader_id=uploader_id,
                    name=new.name,
                    content_type=new.content_type,
                    size=new.size,
                    sha256=new.sha256,
                    thumbnail_sha256=new.thumbnail_sha256,
                    created_at=now,
                )
                .returning(*_COLUMNS)
            )
        ).one()
        stored.append(_stored(row))
    return stored


async def get_attachment(conn: AsyncConnection, firm_id: int, attachment_id: int) -> StoredAttachment | None:
    row = (
        await conn.execute(select(*_COLUMNS).where(Attachment.id == attachment_id, Attachment.firm_id == firm_id))
    ).one_or_none()
    return None if row is None else _stored(row)


async def unattached_of(
    conn: AsyncConnection, *, firm_id: int, uploader_id: int, attachment_ids: list[int]
) -> dict[int, StoredAttachment]:
    """Those of the ids that this uploader of this firm uploaded and has not sent yet."""
    rows = await conn.execute(
        select(*_COLUMNS).where(
            Attachment.id.in_(attachment_ids),
            Attachment.firm_id == firm_id,
            Attachment.uploader_id == uploader_id,
            Attachment.message_id.is_(None),
        )
    )
    return {row.id: _stored(row) for row in rows}


async def attach(conn: AsyncConnection, attachment_ids: list[int], message_id: int) -> None:
    await conn.execute(update(Attachment).where(Attachment.id.in_(attachment_ids)).values(message_id=message_id))


async def delete_for_messages(conn: AsyncConnection, message_ids: list[int]) -> list[str]:
    """Forget the attachments of these messages; returns the blobs they named (for ``unreferenced``)."""
    rows = await conn.execute(
        delete(Attachment)
        .where(Attachment.message_id.in_(message_ids))
        .returning(Attachment.sha256, Attachment.thumbnail_sha256)
    )
    return sorted({sha for row in rows for sha in row if sha is not None})


async def delete_unsent(conn: AsyncConnection, uploader_id: int, before: datetime) -> list[str]:
    """Forget the user's uploads never sent with a message and made before ``before``; returns the
    blobs they named (for ``unreferenced``)."""
    rows = await conn.execute(
        delete(Attachment)
        .where(Attachment.uploader_id == uploader_id, Attachment.message_id.is_(None), Attachment.created_at < before)
        .returning(Attachment.sha256, Attachment.thumbnail_sha256)
    )
    return sorted({sha for row in rows for sha in row if sha is not None})


async def oldest_unsent(conn: AsyncConnection, uploader_id: int) -> datetime | None:
    found: datetime | None = await conn.scalar(
        select(func.min(Attachment.created_at)).where(
            Attachment.uploader_id == uploader_id, Attachment.message_id.is_(None)
        )
    )
    return found


async def message_ids_with_files(conn: AsyncConnection, thread_ids: list[int]) -> list[int]:
    """The messages of these threads that carry attachments."""
    rows = await conn.scalars(
        select(Attachment.message_id)
        .join(Message, Message.id == Attachment.message_id)
        .where(Message.thread_id.in_(thread_ids))
        .distinct()
    )
    return [int(r) for r in rows if r is not None]


async def unreferenced(conn: AsyncConnection, shas: list[str]) -> list[str]:
    """Those of the blobs that no attachment names any more."""
    if not shas:
        return []
    rows = await conn.execute(
        select(Attachment.sha256, Attachment.thumbnail_sha256).where(
            or_(Attachment.sha256.in_(shas), Attachment.thumbnail_sha256.in_(shas))
        )
    )
    used = {sha for row in rows for sha in row}
    return [sha for sha in shas if sha not in used]
