"""Tables. Times are stored as naive UTC; ``UTCDateTime`` hands them back timezone-aware."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to storage; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Firm(Base):
    __tablename__ = "firms"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Whether owners, managers and staff see every thread of the firm, or only those they take part in.
    staff_see_all_threads: Mapped[bool] = mapped_column(Boolean, default=True)
    clients_may_start_threads: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Whether clients receive staff read receipts ("Seen by ...").
    read_receipts_to_clients: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # How often an unacknowledged urgent message asks its recipients again.
    urgent_renotify_minutes: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClientAccount(Base):
    __tablename__ = "client_accounts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # JSON object of the firm's custom fields for this client (string values), for templates.
    custom_fields: Mapped[str | None] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    client_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Bots only: which threads they see (protocol.values.BotScope) and whether they may write.
    bot_scope: Mapped[str | None] = mapped_column(String(16))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What teammates type after @ to mention this user (storage.handles); unique in the firm.
    handle: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ux_users_firm_handle", "firm_id", "handle", unique=True),)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token: tokens are 256 random bits, so a fast hash is enough and lookups stay O(1).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginSession(Base):
    """A browser login; the cookie carries the signed secret whose hash is stored here."""

    __tablename__ = "login_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Thread(Base):
    __tablename__ = "threads"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    client_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The same for what clients may see: a note must not move a thread in a client's list.
    client_last_message_id: Mapped[int | None] = mapped_column(BigInteger)
    client_last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The staff inbox, shared by the firm's staff (see storage/folders.py).
    source: Mapped[str] = mapped_column(String(16), default="portal", server_default="portal")
    state: Mapped[str] = mapped_column(String(16), default="inbox", server_default="inbox")
    # Users are deactivated, never deleted, so these user ids need no foreign key (which SQLite
    # could only add by rebuilding the table).
    assignee_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Waiting: until follow_up_at, or (snoozed) until the client writes.
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    snoozed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set when a follow-up date came: the thread is back in the Inbox, marked.
    follow_up_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_threads_firm_last_message", "firm_id", "last_message_id"),
        Index("ix_threads_account_last_message", "client_account_id", "client_last_message_id"),
    )


class Participant(Base):
    __tablename__ = "participants"
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    last_read_message_id: Mapped[int] = mapped_column(BigInteger, default=0)
    notify: Mapped[bool] = mapped_column(Boolean, default=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text, default="")
    # JSON list of protocol.values.Embed; NULL when the body links to no video.
    embeds: Mapped[str | None] = mapped_column(Text)
    # JSON list of protocol.values.Attachment; NULL when none: read with the message, no join.
    attachments: Mapped[str | None] = mapped_column(Text)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ack_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the recipients who have not acknowledged are asked again (urgent with acknowledgement).
    renotify_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # A private message is seen by its author and this user only, whatever the thread's sharing.
    private_to: Mapped[int | None] = mapped_column(BigInteger)
    # The users put in copy (added to the thread), as a JSON list of ids.
    cc: Mapped[list[int] | None] = mapped_column(JSON)
    # Written by chatd itself, not typed by its author: "auto_reply", "recurring"; NULL otherwise.
    automatic: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        UniqueConstraint("author_id", "client_msg_id", name="uq_messages_author_client_msg_id"),
        Index("ix_messages_thread_id", "thread_id", "id"),
        # Never reuse an id, even after the newest row is deleted: clients order and resume by id.
        {"sqlite_autoincrement": True},
    )


class Event(Base):
    """The durable event log that ``resume`` replays; pruned after the retention period."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # The user the event is about (the reader of a read receipt).
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    # What a read receipt points at; for clients, the newest message they may see at or before it.
    ref_id: Mapped[int | None] = mapped_column(BigInteger)
    client_ref_id: Mapped[int | None] = mapped_column(BigInteger)
    staff_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # Only these two users may see the event (a private message), when set.
    private_to: Mapped[int | None] = mapped_column(BigInteger)
    private_from: Mapped[int | None] = mapped_column(BigInteger)
    # Only owners and managers (and private_from) may see it (a client remark).
    managers_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (Index("ix_events_firm_id", "firm_id", "id"), {"sqlite_autoincrement": True})


class ThreadLabel(Base):
    __tablename__ = "thread_labels"
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)


class MessageAck(Base):
    """Who acknowledged an urgent message, and when."""

    __tablename__ = "message_acks"
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    acked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Task(Base):
    """A message made a task: someone must do something by a date."""

    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    assignee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    due_on: Mapped[date | None] = mapped_column(Date)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_tasks_assignee", "assignee_id", "done_at"),)


class TaskChange(Base):
    """The history of a task: who changed what, when."""

    __tablename__ = "task_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    change: Mapped[dict[str, object]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Meta(Base):
    """Small facts about the store itself, such as how far events were pruned."""

    __tablename__ = "storage_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Webhook(Base):
    """Where a bot without a socket gets its events POSTed; disabled after repeated failures."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    # The HMAC key: kept readable because every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Events after this one are delivered: nothing from before the webhook existed.
    after_event_id: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookDelivery(Base):
    """One event to POST to one webhook: due work, claimed in a transaction when due."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    # pending -> delivering (claimed, until claimed_until) -> delivered | failed
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
        Index("ix_webhook_deliveries_due", "state", "due_at"),
    )


class DueWork(Base):
    """One piece of timed work: claimed when due, in the transaction that writes its effect."""

    __tablename__ = "due_work"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))
    # Unique among the rows that are not finished: one pending reminder per thread, one email batch per user.
    key: Mapped[str | None] = mapped_column(String(120))
    firm_id: Mapped[int | None] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    ref_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text, default="{}")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending (waiting or leased), done, failed (gave up, kept for staff to see), cancelled.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_due_work_pending", "state", "due_at"),
        Index(
            "uq_due_work_pending_key",
            "key",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )


class ScheduledMessage(Base):
    """A message written now and sent later (``send`` with ``send_at``); its due work is keyed ``scheduled:<id>``."""

    __tablename__ = "scheduled_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    # No foreign key: a thread deleted before the send is reported to the author, not silently dropped.
    thread_id: Mapped[int] = mapped_column(BigInteger, index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    client_msg_id: Mapped[str] = mapped_column(String(64))
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancel_if_client_writes: Mapped[bool] = mapped_column(Boolean, default=False)
    # JSON list of protocol.values.CopyChannel given with the send; NULL: the author's default
    # (notification settings) as it is when the message goes out.
    copy_to: Mapped[str | None] = mapped_column(Text)
    # scheduled, sent, cancelled, failed
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("author_id", "client_msg_id", name="uq_scheduled_author_client_msg_id"),)


class Notification(Base):
    """Something a user is told about: in the app (a ``notification`` event), and by email or SMS."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    summary: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # none (not by email), pending (in the user's next batch), sent, skipped (read or online meanwhile)
    email_state: Mapped[str] = mapped_column(String(16), default="none")

    __table_args__ = (
        Index("ix_notifications_user", "user_id", "id"),
        Index("ix_notifications_email", "user_id", "email_state"),
    )


class NotificationSettings(Base):
    """A user's choices; absent kinds use the defaults of the user's role."""

    __tablename__ = "notification_settings"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    # JSON: {kind: [channel, ...]}
    channels: Mapped[str] = mapped_column(Text, default="{}")
    # JSON list of protocol.values.CopyChannel: a staff member's default copy_to for their messages.
    copy_to_client: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LiveSession(Base):
    """A WebSocket session open on some process: who is connected, so they are not emailed."""

    __tablename__ = "live_sessions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str] = mapped_column(String(40))
    # Refreshed by its process every minute; a row left by a crashed process goes stale.
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
