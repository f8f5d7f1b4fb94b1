"""Who is looking: the facts every visibility rule needs, and those rules as SQL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_

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
    in_firm = Thread.firm_id == viewer.firm_id
    if viewer.sees_all_firm_threads:
        return in_firm
    member = exists().where(Participant.thread_id == Thread.id, Participant.user_id == viewer.user_id)
    if viewer.is_client:
        own_account = Thread.client_account_id == viewer.client_account_id if viewer.client_account_id else false()
        return and_(in_firm, or_(own_account, member))
    return and_(in_firm, or_(member, Thread.assignee_id == viewer.user_id))


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
