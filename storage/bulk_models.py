"""Bulk sends: one message to many clients, a new thread each, run as a background job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, UTCDateTime


class BulkSend(Base):
    __tablename__ = "bulk_sends"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The requester's idempotency key: a retry with it finds this job.
    key: Mapped[str] = mapped_column(String(64))
    # JSON of what to send (subject, body, template_id, fields, signature, client_account_ids).
    request: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="running")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("requester_id", "key", name="uq_bulk_sends_requester_key"),)


class BulkResult(Base):
    """One client's outcome: the thread opened for it, or why not."""

    __tablename__ = "bulk_results"
    bulk_id: Mapped[int] = mapped_column(ForeignKey("bulk_sends.id", ondelete="CASCADE"), primary_key=True)
    client_account_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    thread_id: Mapped[int | None] = mapped_column(BigId)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
