"""Verbs for signatures: the firm's (and its composing template) and each staff member's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Firm
from storage.prepared import Prepared
from storage.signature_models import FirmSignature, StaffSignature


@dataclass(frozen=True, slots=True)
class FirmSignatureRow:
    signature: str
    # None: the default template.
    template: str | None


async def firm_signature(conn: AsyncConnection, firm_id: int) -> FirmSignatureRow:
    row = (
        await conn.execute(
            select(FirmSignature.signature, FirmSignature.template).where(FirmSignature.firm_id == firm_id)
        )
    ).first()
    return (
        FirmSignatureRow(signature="", template=None) if row is None else FirmSignatureRow(row.signature, row.template)
    )


async def set_firm_signature(
    conn: AsyncConnection, firm_id: int, signature: str, template: str | None, now: datetime
) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {"signature": signature, "template": template, "updated_at": now}
    upsert = dialect.insert(FirmSignature).values(firm_id=firm_id, **values)
    await conn.execute(upsert.on_conflict_do_update(index_elements=[FirmSignature.firm_id], set_=values))


async def staff_signature(conn: AsyncConnection, user_id: int) -> str:
    found = await conn.scalar(select(StaffSignature.signature).where(StaffSignature.user_id == user_id))
    return found or ""


async def set_staff_signature(conn: AsyncConnection, user_id: int, signature: str, now: datetime) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {"signature": signature, "updated_at": now}
    upsert = dialect.insert(StaffSignature).values(user_id=user_id, **values)
    await conn.execute(upsert.on_conflict_do_update(index_elements=[StaffSignature.user_id], set_=values))


@dataclass(frozen=True, slots=True)
class SignatureParts:
    """What a staff member's signature is composed from."""

    firm_name: str
    firm_signature: FirmSignatureRow
    staff_signature: str


# One statement instead of three, built once: every staff message is signed.
_PARTS = Prepared(
    select(
        Firm.name,
        FirmSignature.signature,
        FirmSignature.template,
        select(StaffSignature.signature)
        .where(StaffSignature.user_id == bindparam("user_id"))
        .scalar_subquery()
        .label("staff_signature"),
    )
    .outerjoin(FirmSignature, FirmSignature.firm_id == Firm.id)
    .where(Firm.id == bindparam("firm_id"))
)


async def signature_parts(conn: AsyncConnection, firm_id: int, user_id: int) -> SignatureParts:
    (row,) = await _PARTS.rows(conn, {"firm_id": firm_id, "user_id": user_id})
    return SignatureParts(
        firm_name=row.name,
        firm_signature=FirmSignatureRow(row.signature or "", row.template),
        staff_signature=row.staff_signature or "",
    )
