"""Verbs for templates (and quick replies), users' default templates, and clients' custom fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import ColumnElement, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Template as TemplateValue
from protocol.values import TemplateField
from storage.models import ClientAccount, Firm
from storage.rows import AnyRow
from storage.template_models import Template, TemplateDefault


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    name: str
    shortcut: str | None
    subject: str
    body: str
    instruction: str
    fields: list[TemplateField]


_COLUMNS = (
    Template.id,
    Template.owner_id,
    Template.name,
    Template.shortcut,
    Template.subject,
    Template.body,
    Template.instruction,
    Template.fields,
)
_fields_decoder = msgspec.json.Decoder(list[TemplateField])
_fields_map_decoder = msgspec.json.Decoder(dict[str, str])


def _value(row: AnyRow) -> TemplateValue:
    return TemplateValue(
        id=row.id,
        scope="firm" if row.owner_id is None else "personal",
        owner_id=row.owner_id,
        name=row.name,
        shortcut=row.shortcut,
        subject=row.subject,
        body=row.body,
        instruction=row.instruction,
        fields=_fields_decoder.decode(row.fields),
    )


def _usable_by(firm_id: int, user_id: int) -> ColumnElement[bool]:
    """Firm-wide templates and the user's own."""
    return (Template.firm_id == firm_id) & or_(Template.owner_id.is_(None), Template.owner_id == user_id)


def _values(draft: TemplateDraft) -> dict[str, object]:
    return {
        "name": draft.name,
        "shortcut": draft.shortcut,
        "subject": draft.subject,
        "body": draft.body,
        "instruction": draft.instruction,
        "fields": msgspec.json.encode(draft.fields).decode(),
    }


async def insert_template(
    conn: AsyncConnection, *, firm_id: int, owner_id: int | None, draft: TemplateDraft, now: datetime
) -> TemplateValue:
    row = (
        await conn.execute(
            insert(Template)
            .values(firm_id=firm_id, owner_id=owner_id, created_at=now, updated_at=now, **_values(draft))
            .returning(*_COLUMNS)
        )
    ).one()
    return _value(row)


async def update_template(
    conn: AsyncConnection, template_id: int, draft: TemplateDraft, now: datetime
) -> TemplateValue:
    row = (
        await conn.execute(
            update(Template)
            .where(Template.id == template_id)
            .values(updated_at=now, **_values(draft))
            .returning(*_COLUMNS)
        )
    ).one()
    return _value(row)


async def delete_template(conn: AsyncConnection, template_id: int) -> None:
    await conn.execute(delete(TemplateDefault).where(TemplateDefault.template_id == template_id))
    await conn.execute(delete(Template).where(Template.id == template_id))


async def usable_template(conn: AsyncConnection, firm_id: int, user_id: int, template_id: int) -> TemplateValue | None:
    row = (
        await conn.execute(select(*_COLUMNS).where(Template.id == template_id, _usable_by(firm_id, user_id)))
    ).one_or_none()
    return None if row is None else _value(row)


async def usable_templates(
    conn: AsyncConnection, firm_id: int, user_id: int, *, shortcut_prefix: str | None = None
) -> list[TemplateValue]:
    """Firm-wide and personal templates by name; with a prefix, only quick replies whose shortcut starts so."""
    query = select(*_COLUMNS).where(_usable_by(firm_id, user_id))
    if shortcut_prefix is not None:
        query = query.where(
            Template.shortcut.is_not(None), Template.shortcut.startswith(shortcut_prefix, autoescape=True)
        )
    rows = await conn.execute(query.order_by(Template.name, Template.id))
    return [_value(row) for row in rows]


async def shortcut_taken(
    conn: AsyncConnection, firm_id: int, user_id: int, shortcut: str, except_id: int | None
) -> bool:
    query = select(Template.id).where(_usable_by(firm_id, user_id), Template.shortcut == shortcut)
    if except_id is not None:
        query = query.where(Template.id != except_id)
    return (await conn.scalar(query.limit(1))) is not None


async def default_template_id(conn: AsyncConnection, user_id: int) -> int | None:
    found = await conn.scalar(select(TemplateDefault.template_id).where(TemplateDefault.user_id == user_id))
    return None if found is None else int(found)


async def set_default_template(conn: AsyncConnection, user_id: int, template_id: int | None) -> None:
    if template_id is None:
        await conn.execute(delete(TemplateDefault).where(TemplateDefault.user_id == user_id))
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(TemplateDefault).values(user_id=user_id, template_id=template_id)
    await conn.execute(
        upsert.on_conflict_do_update(index_elements=[TemplateDefault.user_id], set_={"template_id": template_id})
    )


async def firm_name(conn: AsyncConnection, firm_id: int) -> str:
    return str(await conn.scalar(select(Firm.name).where(Firm.id == firm_id)))


@dataclass(frozen=True, slots=True)
class ClientCard:
    id: int
    name: str
    custom_fields: dict[str, str]


async def client_cards(conn: AsyncConnection, firm_id: int, account_ids: list[int]) -> dict[int, ClientCard]:
    """The firm's client accounts among these ids, with their custom fields."""
    rows = await conn.execute(
        select(ClientAccount.id, ClientAccount.name, ClientAccount.custom_fields).where(
            ClientAccount.id.in_(account_ids), ClientAccount.firm_id == firm_id
        )
    )
    return {
        row.id: ClientCard(
            id=row.id,
            name=row.name,
            custom_fields=_fields_map_decoder.decode(row.custom_fields) if row.custom_fields else {},
        )
        for row in rows
    }


async def set_custom_fields(conn: AsyncConnection, account_id: int, custom_fields: dict[str, str]) -> None:
    await conn.execute(
        update(ClientAccount)
        .where(ClientAccount.id == account_id)
        .values(custom_fields=msgspec.json.encode(custom_fields).decode() if custom_fields else None)
    )
