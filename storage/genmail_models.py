"""Tables of generated emails (retro-planning): dated client events, rules, and the drafts they make."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, UTCDateTime


class EventKind(Base):
    """A kind of client event a firm defines beyond the built-in ones (arrival, departure...)."""

    __tablename__ = "event_kinds"
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))


class ClientEvent(Base):
    __tablename__ = "client_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    client_account_id: Mapped[int] = mapped_column(ForeignKey("client_accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(50))
    on_date: Mapped[date] = mapped_column(Date)
    # The firm's own reference (a booking number): the same event imported twice is recorded once.
    reference: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("client_account_id", "kind", "on_date", "reference", name="uq_client_events_same"),
        Index("ix_client_events_firm_kind_date", "firm_id", "kind", "on_date"),
    )


class EmailRule(Base):
    """ "``days`` days before (negative) or after an event of ``event_kind``, write ``template_id``"."""

    __tablename__ = "email_rules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    event_kind: Mapped[str] = mapped_column(String(50))
    days: Mapped[int] = mapped_column(Integer)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    # The staff member the emails are written and sent as (their name and signature in the template).
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GeneratedDraft(Base):
    __tablename__ = "generated_drafts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("email_rules.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("client_events.id", ondelete="CASCADE"))
    client_account_id: Mapped[int] = mapped_column(ForeignKey("client_accounts.id", ondelete="CASCADE"))
    # The day the rule points at (the event's date moved by the rule's days), in the firm's time zone.
    for_date: Mapped[date] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # JSON list of template variables this client lacks: such a draft is only sent after an edit.
    unknown: Mapped[str] = mapped_column(Text, default="[]")
    # pending, sent or dropped (not sent in time).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="SET NULL"))

    __table_args__ = (
        # One draft per rule and event, whatever the number of runs or processes.
        UniqueConstraint("rule_id", "event_id", name="uq_generated_drafts_rule_event"),
        Index("ix_generated_drafts_firm_state", "firm_id", "state", "rule_id"),
    )


class GeneratedEmailSettings(Base):
    __tablename__ = "generated_email_settings"
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), primary_key=True)
    # The local hour (in the firm's time zone: its business hours') the daily job writes the day's drafts.
    run_hour: Mapped[int] = mapped_column(Integer, default=6)
    # Drafts not sent within this many days of their date are dropped.
    keep_days: Mapped[int] = mapped_column(Integer, default=14)
