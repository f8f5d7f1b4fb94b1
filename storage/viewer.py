"""Who is looking: the facts every visibility rule needs, and those rules as SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, exists, false, or_

from protocol.values import BotScope, MessageKind, Role
from storage.models import Message, Participant, Thread


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: int
    firm_id: int
    role: Role
    client_account_id: int | None
    # The firm shares every thread with its owners, managers and staff.
    firm_shares_threads: bool
    # Bots only: the threads they were added to, or every thread of the firm.
    bot_scope: BotScope | None = None

    @property
    def is_client(self) -> bool:
        return self.role.is_client

    @property
    def is_firm_wide_bot(self) -> bool:
        """A bot scoped to the whole firm sees every thread, whatever the firm shares with staff."""
        return self.role is Role.BOT and self.bot_scope is BotScope.FIRM

    @property
    def sees_all_firm_threads(self) -> bool:
        return self.is_firm_wide_bot or (self.firm_shares_threads and self.role.sees_all_firm_threads)

    @property
    def sees_remarks(self) -> bool:
        return self.role in (Role.OWNER, Role.MANAGER)


def thread_visible(viewer: Viewer) -> ColumnElement[bool]:
    """Whether ``Thread`` (in the enclosing query) is visible to the viewer."""
    return _thread_rule(visibility_kind(viewer), viewer.firm_id, viewer.user_id, viewer.client_account_id)


def visibility_kind(viewer: Viewer) -> str:
    """Which form the viewer's ``thread_visible`` takes (a statement built once per form)."""
    if viewer.sees_all_firm_threads:
        return "firm"
    if viewer.is_client:
        return "account" if viewer.client_account_id else "client"
    return "member"


def thread_visible_bound(kind: str) -> ColumnElement[bool]:
    """``thread_visible`` for any viewer of that kind, with ``visibility_params`` bound at execution:
    for statements built once (the hot path's)."""
    return _thread_rule(
        kind, bindparam("viewer_firm_id"), bindparam("viewer_user_id"), bindparam("viewer_client_account_id")
    )


def visibility_params(viewer: Viewer) -> dict[str, Any]:
    return {
        "viewer_firm_id": viewer.firm_id,
        "viewer_user_id": viewer.user_id,
        "viewer_client_account_id": viewer.client_account_id,
    }


def _thread_rule(
    kind: str,
    firm_id: int | BindParameter[Any],
    user_id: int | BindParameter[Any],
    account: int | BindParameter[Any] | None,
) -> ColumnElement[bool]:
    in_firm = Thread.firm_id == firm_id
    if kind == "firm":
        return in_firm
    member = exists().where(Participant.thread_id == Thread.id, Participant.user_id == user_id)
    if kind == "account":
        return and_(in_firm, or_(Thread.client_account_id == account, member))
    if kind == "client":
        return and_(in_firm, or_(false(), member))
    return and_(in_firm, or_(member, Thread.assignee_id == user_id))


def message_visible(viewer: Viewer) -> ColumnElement[bool]:
    """Notes never reach clients; remarks reach owners, managers and their author only."""
    hidden = [MessageKind.NOTE.value] if viewer.is_client else []
    if not viewer.sees_remarks:
        hidden.append(MessageKind.REMARK.value)
        return and_(
            or_(Message.kind.not_in(hidden), Message.author_id == viewer.user_id), message_private_visible(viewer)
        )
    return message_private_visible(viewer)


def message_private_visible(viewer: Viewer) -> ColumnElement[bool]:
    """A private message is seen by its author and its one recipient, whatever the thread's sharing."""
    return or_(Message.private_to.is_(None), Message.private_to == viewer.user_id, Message.author_id == viewer.user_id)
