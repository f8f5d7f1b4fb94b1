"""The firm's people as its owners manage them: list, add, change role, deactivate and reactivate.

Bots are managed apart (chatd.services.bots). Anyone but an owner of the firm is answered
``not_found`` exactly as for a user that does not exist, so the API tells them nothing.
"""

from __future__ import annotations

from chatd import errors
from chatd.revocations import Revocations
from chatd.services.directory import Directory
from protocol.values import Role
from storage import Database
from storage import directory as store
from storage.directory import Account, Member

# What an owner may make of a new user, and what staff may become.
CREATABLE_ROLES = frozenset({Role.MANAGER, Role.STAFF, Role.CLIENT})
STAFF_ROLES = frozenset({Role.OWNER, Role.MANAGER, Role.STAFF})


def _missing(user_id: int | None = None) -> errors.NotFound:
    return errors.NotFound("not found" if user_id is None else f"user {user_id} not found")


class Team:
    def __init__(self, db: Database, directory: Directory, revocations: Revocations) -> None:
        self._db = db
        self._revocations = revocations
        self._directory = directory

    async def members(self, owner: Account) -> list[Member]:
        if owner.user.role is not Role.OWNER:
            raise _missing()
        async with self._db.read() as conn:
            return await store.firm_members(conn, owner.user.firm_id)

    async def get(self, owner: Account, user_id: int) -> Member:
        if owner.user.role is not Role.OWNER:
            raise _missing(user_id)
        async with self._db.read() as conn:
            found = await store.firm_members(conn, owner.user.firm_id, user_id)
        if not found:
            raise _missing(user_id)
        return found[0]

    async def add(
        self,
        owner: Account,
        *,
        email: str,
        name: str,
        role: Role,
        password: str,
        client_account_id: int | None,
    ) -> Member:
        if owner.user.role is not Role.OWNER:
            raise _missing()
        if role not in CREATABLE_ROLES:
            raise errors.BadRequest("a new user is a manager, staff or a client (bots: /api/bots)")
        user = await self._directory.create_user(
            firm_id=owner.user.firm_id,
            email=email,
            name=name,
            role=role,
            password=password,
            client_account_id=client_account_id,
        )
        return await self.get(owner, user.id)

    async def change(self, owner: Account, user_id: int, *, role: Role | None, active: bool | None) -> Member:
        """Change a user's role among the staff roles, or (de)activate them. Returns the user after."""
        member = await self.get(owner, user_id)
        if user_id == owner.user.id and (active is False or (role is not None and role is not Role.OWNER)):
            raise errors.BadRequest("an owner cannot demote or deactivate themselves")
        changes_role = role is not None and role is not member.user.role
        if changes_role and (role not in STAFF_ROLES or member.user.role not in STAFF_ROLES):
            raise errors.BadRequest("roles change among owner, manager and staff only")
        async with self._db.write() as conn:
            await store.update_member(conn, user_id, role=role, active=active)
            if active is False:
                # Reactivating must not bring old browser logins back to life.
                await store.delete_login_sessions(conn, user_id)
        if active is False or changes_role:
            # Open sessions hold the old role's view: they reconnect and get the new one.
            self._revocations.revoke(user_id)
        return await self.get(owner, user_id)

    async def set_active(self, user_id: int, active: bool) -> None:
        """The operator's switch (the CLI): any user, bots included, of any firm."""
        if await self._directory.account(user_id) is None:
            raise _missing(user_id)
        async with self._db.write() as conn:
            await store.update_member(conn, user_id, active=active)
            if not active:
                await store.delete_login_sessions(conn, user_id)
        if not active:
            self._revocations.revoke(user_id)
