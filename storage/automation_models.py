"""Automation tables: a firm's business hours and automatic reply, and which closed period each
thread was last answered automatically in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, UTCDateTime


class BusinessHours(Base):
    __tablename__ = "business_hours"
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), primary_key=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["09:00", "12:00"], ["14:00", "18:00"]], ...}; a day absent is closed.
    week: Mapped[dict[str, list[list[str]]]] = mapped_column(JSON)
    # ISO dates (local to the firm) the firm is closed all day.
    closed_dates: Mapped[list[str]] = mapped_column(JSON)
    # Markdown sent to a client who writes while the firm is closed; NULL: no automatic reply.
    auto_reply: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ThreadAutoReply(Base):
    """The closed period (named by the opening that ends it) a thread was last answered in."""

    __tablename__ = "thread_auto_replies"
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
