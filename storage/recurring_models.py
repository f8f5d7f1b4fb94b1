"""Recurring messages: a message posted in a thread whenever a cron rule fires in a time zone; each
next occurrence is a due_work row."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, UTCDateTime


class RecurringMessage(Base):
    __tablename__ = "recurring_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(120))
    # NULL: the firm's time zone (its business hours'), whatever it is when the next time is computed.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # The last local day it may fire; NULL: no end.
    ends_on: Mapped[date | None] = mapped_column(Date)
    # active, paused, ended, cancelled, failed
    state: Mapped[str] = mapped_column(String(16))
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
