"""Value types shared by the wire and by storage: roles, kinds and the shapes of things.

Shapes are contract (docs/protocol.md): fields may be added, never renamed or dropped.
Timestamps travel as ISO 8601 UTC strings so that both codecs carry the same values.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated

import msgspec


class Role(enum.StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    STAFF = "staff"
    CLIENT = "client"
    BOT = "bot"

    @property
    def is_client(self) -> bool:
        return self is Role.CLIENT

    @property
    def sees_all_firm_threads(self) -> bool:
        """Roles that see every thread of the firm when the firm shares threads with all staff."""
        return self in (Role.OWNER, Role.MANAGER, Role.STAFF)


class BotScope(enum.StrEnum):
    """Which threads a bot sees: those it was added to, or every thread of its firm."""

    THREADS = "threads"
    FIRM = "firm"


class MessageKind(enum.StrEnum):
    MESSAGE = "message"
    NOTE = "note"  # internal: never shown to clients
    REMARK = "remark"  # a client's remark about the service: seen by owners and managers only


class User(msgspec.Struct, kw_only=True):
    id: int
    firm_id: int
    name: str
    email: str
    role: Role
    client_account_id: int | None = None


class Embed(msgspec.Struct, kw_only=True, frozen=True):
    """A video player the web client may show for a link in a message."""

    provider: str  # youtube | vimeo | loom | google_drive
    id: str
    url: str  # the provider's embeddable player


class Attachment(msgspec.Struct, kw_only=True, frozen=True):
    """A stored file; ``url`` downloads it over HTTP for users who may see its message."""

    id: int
    name: str
    content_type: str
    size: int
    url: str
    thumbnail_url: str | None = None


class Message(msgspec.Struct, kw_only=True):
    id: int
    thread_id: int
    author_id: int
    kind: MessageKind
    body: str
    created_at: str
    # The body (Markdown) rendered to sanitized HTML on the server, and the videos it links to.
    html: str = ""
    embeds: list[Embed] = []
    attachments: list[Attachment] = []
    edited_at: str | None = None
    deleted_at: str | None = None
    urgent: bool = False
    ack_requested: bool = False
    # A private message: only its author and this user see it.
    private_to: int | None = None
    # Users put in copy when it was sent.
    cc: list[int] = msgspec.field(default_factory=list)
    # Set when chatd wrote it itself: "auto_reply" (business hours).
    automatic: str | msgspec.UnsetType = msgspec.UNSET
    # Only in what the author's own sessions receive; absent (not null) for everyone else.
    client_msg_id: str | msgspec.UnsetType = msgspec.UNSET


class Thread(msgspec.Struct, kw_only=True):
    id: int
    subject: str
    client_account_id: int | None
    created_at: str
    last_message_id: int | None
    last_activity_at: str
    # The reader's own count; absent from thread.updated, which every staff member receives alike.
    unread: int | msgspec.UnsetType = msgspec.UNSET
    # The staff inbox's shared state; absent from what clients receive.
    source: str | msgspec.UnsetType = msgspec.UNSET
    state: str | msgspec.UnsetType = msgspec.UNSET
    assignee_id: int | msgspec.UnsetType | None = msgspec.UNSET
    urgent: bool | msgspec.UnsetType = msgspec.UNSET
    follow_up_at: str | msgspec.UnsetType | None = msgspec.UNSET
    snoozed: bool | msgspec.UnsetType = msgspec.UNSET
    follow_up_due: bool | msgspec.UnsetType = msgspec.UNSET
    labels: list[str] | msgspec.UnsetType = msgspec.UNSET


class ThreadState(enum.StrEnum):
    """Where a thread sits in the staff inbox; exactly one at a time."""

    INBOX = "inbox"
    ARCHIVED = "archived"
    TRASH = "trash"
    SPAM = "spam"


class Folder(enum.StrEnum):
    """The staff inbox's folders (storage/folders.py says which threads each holds)."""

    ALL = "all"
    INBOX = "inbox"
    UNREAD = "unread"
    FOLLOW_UP = "follow_up"
    ASSIGNED = "assigned"
    URGENT = "urgent"
    ARCHIVED = "archived"
    TRASH = "trash"
    SPAM = "spam"


class Source(enum.StrEnum):
    """Where a conversation came from."""

    PORTAL = "portal"
    EMAIL = "email"
    SMS = "sms"
    API = "api"
    BULK = "bulk"
    # Written by a rule of generated emails (retro-planning) and sent by staff.
    AUTOMATIC = "automatic"


class Task(msgspec.Struct, kw_only=True):
    id: int
    thread_id: int
    message_id: int
    assignee_id: int
    due_on: str | None
    done_at: str | None
    created_by: int
    created_at: str


class ReadReceipt(msgspec.Struct, kw_only=True):
    thread_id: int
    user_id: int
    message_id: int


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as every timestamp travels on the wire."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ScheduledState(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ScheduledMessage(msgspec.Struct, kw_only=True):
    """A message that ``send`` with ``send_at`` keeps until it is due; staff and its author see it."""

    id: int
    thread_id: int
    author_id: int
    kind: MessageKind
    body: str
    send_at: str
    state: ScheduledState
    cancel_if_client_writes: bool
    client_msg_id: str
    created_at: str
    updated_at: str
    # The copy_to given with the send (channels to copy it to the thread's clients by); None: the
    # author's default when it is sent.
    copy_to: list[CopyChannel] | None = None
    # The message it became once sent; why it was not sent when it failed or was cancelled by the client.
    message_id: int | None = None
    error: str | None = None


class TemplateField(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A fill-in value the composer asks for before sending; used as ``{{ fields.<name> }}``."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: Annotated[str, msgspec.Meta(max_length=100)] = ""
    required: bool = True


class Template(msgspec.Struct, kw_only=True):
    id: int
    scope: str  # "firm" (every staff member) or "personal"
    owner_id: int | None
    name: str
    shortcut: str | None
    subject: str
    body: str
    # Staff only: how to use the template; never sent.
    instruction: str
    fields: list[TemplateField]


class Draft(msgspec.Struct, kw_only=True):
    """Text typed in a thread's composer and not sent yet; only its author sees it."""

    thread_id: int
    body: str
    updated_at: str


class NotificationKind(enum.StrEnum):
    NEW_MESSAGE = "new_message"
    MENTION = "mention"
    ASSIGNMENT = "assignment"
    REMINDER = "reminder"
    FOLLOW_UP = "follow_up"


class Channel(enum.StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    SMS = "sms"
    # Web push to the browsers the user registered (docs/notifications.md).
    PUSH = "push"


class ClientEvent(msgspec.Struct, kw_only=True):
    """A dated event of a client (an arrival, a balance due...) that rules of generated emails use."""

    id: int
    client_account_id: int
    kind: str
    # YYYY-MM-DD
    date: str
    reference: str
    created_at: str


class EmailRule(msgspec.Struct, kw_only=True):
    """ "``days`` days before (negative) or after an event of ``event_kind``, write ``template_id``"."""

    id: int
    name: str
    event_kind: str
    days: int
    template_id: int
    author_id: int
    active: bool
    created_at: str
    # Drafts of this rule waiting to be sent.
    pending: int = 0


class GeneratedDraft(msgspec.Struct, kw_only=True):
    """A generated email in the automatic-emails queue: pending, sent (as ``thread_id``) or dropped."""

    id: int
    rule_id: int
    event_id: int
    client_account_id: int
    # The day the rule points at, YYYY-MM-DD.
    date: str
    subject: str
    body: str
    # Template values this client lacks: the draft is sent only once edited.
    unknown: list[str]
    state: str
    created_at: str
    finished_at: str | None = None
    sent_by: int | None = None
    thread_id: int | None = None


class CopyChannel(enum.StrEnum):
    """How a staff message is also sent to the thread's clients (the ``copy_to`` send option)."""

    EMAIL = "email"
    SMS = "sms"


class Notification(msgspec.Struct, kw_only=True):
    id: int
    kind: NotificationKind
    thread_id: int | None
    message_id: int | None
    summary: str
    created_at: str
    read_at: str | None = None


class MessageVersion(msgspec.Struct, kw_only=True):
    """An earlier body of an edited message (staff only)."""

    body: str
    written_at: str


class BulkSend(msgspec.Struct, kw_only=True):
    """A bulk send: one message to many clients, a new thread each, sent in the background."""

    id: int
    key: str
    total: int
    # Clients handled so far (a thread opened, or an error).
    done: int
    # "running" or "done".
    state: str
    created_at: str
    finished_at: str | None = None


class BulkResult(msgspec.Struct, kw_only=True):
    """One client's outcome in a bulk send: the new thread, or an error ``{code, message}``."""

    client_account_id: int
    ok: bool
    thread_id: int | None = None
    error: dict[str, str] | None = None
