"""Signatures: the firm's (legal mentions) with the template composing it, and each staff member's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, UTCDateTime


class FirmSignature(Base):
    __tablename__ = "firm_signatures"
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), primary_key=True)
    signature: Mapped[str] = mapped_column(Text, default="")
    # Jinja text composing a message's signature; NULL: the default one.
    template: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffSignature(Base):
    __tablename__ = "staff_signatures"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    signature: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
