"""Edit history: a message's earlier versions, and how long a firm lets authors edit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, UTCDateTime


class MessageVersion(Base):
    __tablename__ = "message_versions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    # When this version was written (the message's creation or an earlier edit).
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EditWindow(Base):
    """A firm's edit window; firms without a row use the default."""

    __tablename__ = "edit_windows"
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer)
