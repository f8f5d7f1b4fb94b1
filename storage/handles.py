"""Handles: what teammates type after ``@`` to mention a user, made from the name, unique in the firm."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Role
from storage.models import User

MAX_BASE = 40
_SEPARATORS = re.compile(r"[^a-z0-9]+")
TEAM_ROLES = (Role.OWNER, Role.MANAGER, Role.STAFF, Role.BOT)


@dataclass(frozen=True, slots=True)
class Teammate:
    id: int
    name: str
    handle: str
    role: Role


def handle_base(name: str, email: str) -> str:
    """``Marie-Hélène Dupont`` → ``marie.helene.dupont``; the email's local part when the name has
    no letter or digit left."""
    for text in (name, email.split("@", 1)[0]):
        folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        base = ".".join(w for w in _SEPARATORS.split(folded) if w)[:MAX_BASE].strip(".")
        if base:
            return base
    return "user"


def first_free(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


async def free_handle(conn: AsyncConnection, firm_id: int, name: str, email: str) -> str:
    base = handle_base(name, email)
    rows = await conn.scalars(select(User.handle).where(User.firm_id == firm_id, User.handle.like(f"{base}%")))
    return first_free(base, {h for h in rows if h is not None})


async def teammates(conn: AsyncConnection, firm_id: int) -> list[Teammate]:
    """The firm's active staff and bots: who may be @mentioned."""
    rows = await conn.execute(
        select(User.id, User.name, User.handle, User.role)
        .where(
            User.firm_id == firm_id,
            User.active.is_(True),
            User.role.in_([r.value for r in TEAM_ROLES]),
            User.handle.is_not(None),
        )
        .order_by(User.name, User.id)
    )
    return [Teammate(id=int(r.id), name=r.name, handle=r.handle, role=Role(r.role)) for r in rows]
