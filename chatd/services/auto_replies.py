"""Automatic replies: a client who writes while the firm is closed gets the firm's reply, once per
thread and closed period, in the transaction of the client's message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd.bus import BusEvent
from chatd.services import business_hours
from chatd.services.conversations import Conversations
from protocol.values import Message, MessageKind
from storage import business_hours as hours_store
from storage import directory as directory_store
from storage.directory import Account
from storage.threads import ThreadFacts

AUTO_REPLY = "auto_reply"


class AutoReplies:
    def __init__(self, conversations: Conversations) -> None:
        self._conversations = conversations

    async def answer(
        self, conn: AsyncConnection, account: Account, facts: ThreadFacts, message: Message, now: datetime
    ) -> list[BusEvent]:
        """After a client's message: the automatic reply, if the firm is closed and the thread was
        not answered yet in this closed period (named by the opening that ends it)."""
        if (
            not facts.auto_reply
            or not account.user.role.is_client
            or message.kind is not MessageKind.MESSAGE
            or message.private_to
        ):
            return []
        hours = await business_hours.load(conn, facts.firm_id)
        if hours.auto_reply is None:
            return []
        calendar = business_hours.calendar_of(hours)
        if calendar.is_open(now):
            return []
        period_end = calendar.next_opening(now)
        if period_end is None or not await hours_store.claim_auto_reply(conn, facts.id, period_end):
            return []
        system = await directory_store.system_account(conn, facts.firm_id, now)
        key = f"auto-reply:{facts.id}:{int(period_end.timestamp())}"
        return await self._conversations.post_automatic(
            conn, system, facts, hours.auto_reply, key=key, automatic=AUTO_REPLY
        )
