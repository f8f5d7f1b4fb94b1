"""Tables of the composer's tools: message templates (quick replies are templates with a shortcut)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, UTCDateTime


class Template(Base):
    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    # NULL: firm-wide; else the staff member whose personal template it is.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # Set for quick replies: typed as /shortcut in the composer.
    shortcut: Mapped[str | None] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    # Shown to staff only, next to the composer.
    instruction: Mapped[str] = mapped_column(Text, default="")
    # JSON list of protocol.values.TemplateField.
    fields: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_templates_firm_owner", "firm_id", "owner_id"),)


class TemplateDefault(Base):
    """The template a staff member's composer starts new threads with."""

    __tablename__ = "template_defaults"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
