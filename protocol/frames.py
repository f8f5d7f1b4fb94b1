"""The frames of protocol v1 as closed typed schemas.

Client requests are a tagged union on ``op``; unknown fields are refused, so a typo is an error
instead of a silently ignored option. Every request may carry an ``id``; a request with an id gets
exactly one answer, ``ok`` or ``error``.
"""

from __future__ import annotations

import datetime
import typing
from typing import Annotated, Any, Literal

import msgspec

from protocol.actions import Action, Label
from protocol.values import CopyChannel, Folder, MessageKind, Source, User

RequestId = int | Annotated[str, msgspec.Meta(max_length=64)]
ClientMsgId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
PositiveId = Annotated[int, msgspec.Meta(ge=1)]
PageLimit = Annotated[int, msgspec.Meta(ge=1, le=100)]
# Uploaded over HTTP first (POST /api/attachments); the server's own per-message limit is lower.
AttachmentIds = Annotated[list[PositiveId], msgspec.Meta(max_length=50)]
SendAt = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
CopyChannels = Annotated[list[CopyChannel], msgspec.Meta(max_length=2)]
Cursor = Annotated[str, msgspec.Meta(max_length=200)]


class Request(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, kw_only=True):
    id: RequestId | None = None


class TaskSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    assignee_id: PositiveId
    due_on: datetime.date | None = None


class Send(Request, tag="send"):
    thread_id: PositiveId
    body: str
    client_msg_id: ClientMsgId
    kind: MessageKind = MessageKind.MESSAGE
    attachment_ids: AttachmentIds = []
    # Send later (ISO 8601 with an offset): the answer is {"scheduled": ...} instead of {"message": ...}.
    send_at: SendAt | None = None
    # With send_at: do not send if a client writes in the thread first.
    cancel_if_client_writes: bool = False
    urgent: bool = False
    # Recipients are asked to acknowledge (urgent messages only), and asked again until they do.
    ack_requested: bool = False
    private_to: PositiveId | None = None
    cc: Annotated[list[PositiveId], msgspec.Meta(max_length=50)] = []
    # "Reply and make a task".
    task: TaskSpec | None = None
    # Staff messages get the sender's signature appended by the server; false leaves it out.
    signature: bool = True
    # Also send the message to the thread's clients by email and/or SMS; absent: the author's default
    # (notification settings, ``copy_to_client``). Notes and private messages are never copied.
    copy_to: CopyChannels | None = None


class Edit(Request, tag="edit"):
    message_id: PositiveId
    body: str


class Delete(Request, tag="delete"):
    message_id: PositiveId


class Typing(Request, tag="typing"):
    thread_id: PositiveId
    # Typing a note is shown to staff only.
    kind: MessageKind = MessageKind.MESSAGE


class Read(Request, tag="read"):
    thread_id: PositiveId
    message_id: PositiveId


class History(Request, tag="history"):
    thread_id: PositiveId
    before: PositiveId | None = None
    after: Annotated[int, msgspec.Meta(ge=0)] | None = None
    limit: PageLimit = 50


class Threads(Request, tag="threads"):
    folder: Folder = Folder.ALL
    source: Source | None = None
    label: Label | None = None
    client_account_id: PositiveId | None = None
    cursor: Cursor | None = None
    limit: PageLimit = 50


class ThreadGet(Request, tag="thread.get"):
    thread_id: PositiveId


class Folders(Request, tag="folders"):
    source: Source | None = None


class ThreadsAct(Request, tag="threads.act"):
    """One action on one or many threads, in one transaction, with one result per thread."""

    thread_ids: Annotated[list[PositiveId], msgspec.Meta(min_length=1, max_length=500)]
    action: Action


class MessageAck(Request, tag="message.ack"):
    message_id: PositiveId


class MessageAcks(Request, tag="message.acks"):
    message_id: PositiveId


class TaskCreate(Request, tag="task.create"):
    message_id: PositiveId
    assignee_id: PositiveId
    due_on: datetime.date | None = None


class TaskUpdate(Request, tag="task.update"):
    task_id: PositiveId
    assignee_id: PositiveId | msgspec.UnsetType = msgspec.UNSET
    due_on: datetime.date | msgspec.UnsetType | None = msgspec.UNSET
    done: bool | msgspec.UnsetType = msgspec.UNSET


class Tasks(Request, tag="tasks"):
    # Default: the caller's own tasks.
    assignee_id: PositiveId | None = None
    thread_id: PositiveId | None = None
    status: Literal["open", "done", "all"] = "open"
    cursor: Cursor | None = None
    limit: PageLimit = 50


class TaskHistory(Request, tag="task.history"):
    task_id: PositiveId


class ClientCard(Request, tag="client.card"):
    client_account_id: PositiveId


class Remarks(Request, tag="remarks"):
    cursor: Cursor | None = None
    limit: PageLimit = 50


class FirmSettings(Request, tag="firm.settings"):
    pass


class FirmSettingsUpdate(Request, tag="firm.settings.update"):
    clients_may_start_threads: bool | msgspec.UnsetType = msgspec.UNSET
    staff_see_all_threads: bool | msgspec.UnsetType = msgspec.UNSET
    read_receipts_to_clients: bool | msgspec.UnsetType = msgspec.UNSET
    urgent_renotify_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] | msgspec.UnsetType = msgspec.UNSET


class Search(Request, tag="search"):
    """Full-text search; ``q`` may also hold operators (docs/protocol.md), the fields narrow it further."""

    q: Annotated[str, msgspec.Meta(max_length=500)] = ""
    folder: Folder | None = None
    client_account_id: PositiveId | None = None
    author_id: PositiveId | None = None
    subject: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    after: datetime.date | None = None
    before: datetime.date | None = None
    has_attachment: bool | None = None
    unread: bool | None = None
    cursor: Cursor | None = None
    limit: PageLimit = 20


FillIns = Annotated[dict[str, Annotated[str, msgspec.Meta(max_length=2000)]], msgspec.Meta(max_length=20)]


class ReminderSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Reply reminders: every ``interval_days`` the client has not answered, up to ``count`` emails."""

    interval_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 3
    count: Annotated[int, msgspec.Meta(ge=1, le=20)] = 1


class ThreadCreate(Request, tag="thread.create"):
    """A new thread and its first message: ``body``, or a template rendered by the server
    (``template_id`` and its ``fields``); a staff member giving neither gets their default template."""

    client_msg_id: ClientMsgId
    # Blank: the template's subject.
    subject: Annotated[str, msgspec.Meta(max_length=200)] = ""
    body: str = ""
    client_account_id: PositiveId | None = None
    participants: Annotated[list[PositiveId], msgspec.Meta(max_length=50)] = []
    attachment_ids: AttachmentIds = []
    signature: bool = True
    template_id: PositiveId | None = None
    fields: FillIns = {}
    # Staff: turn reply reminders on for the new thread (see reminders.set).
    reminders: ReminderSpec | None = None


class Resume(Request, tag="resume"):
    after_event_id: Annotated[int, msgspec.Meta(ge=0)]


class Ping(Request, tag="ping"):
    pass


class ScheduledList(Request, tag="scheduled.list"):
    thread_id: PositiveId | None = None
    # Also the sent, cancelled and failed ones.
    include_done: bool = False


class ScheduledEdit(Request, tag="scheduled.edit"):
    scheduled_id: PositiveId
    body: str | None = None
    send_at: SendAt | None = None
    # Replaces the copies to the thread's clients (``[]``: none; null: the author's default when sent).
    copy_to: CopyChannels | msgspec.UnsetType | None = msgspec.UNSET


class ScheduledCancel(Request, tag="scheduled.cancel"):
    scheduled_id: PositiveId


class TemplateList(Request, tag="template.list"):
    pass


class TemplatePreview(Request, tag="template.preview"):
    """A saved template (``template_id``) or unsaved text, rendered for a new thread's client."""

    template_id: PositiveId | None = None
    subject: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    body: str | None = None
    client_account_id: PositiveId | None = None
    fields: FillIns = {}


class QuickReplyList(Request, tag="quick_reply.list"):
    prefix: Annotated[str, msgspec.Meta(max_length=50)] = ""


class QuickReplyExpand(Request, tag="quick_reply.expand"):
    shortcut: Annotated[str, msgspec.Meta(min_length=1, max_length=51)]
    thread_id: PositiveId | None = None


class DraftSave(Request, tag="draft.save"):
    thread_id: PositiveId
    # Empty forgets the draft (the message was sent or the text cleared).
    body: str


class DraftList(Request, tag="draft.list"):
    thread_id: PositiveId | None = None


class MessageVersions(Request, tag="message.versions"):
    message_id: PositiveId


class SignatureGet(Request, tag="signature.get"):
    """The caller's personal signature and the composed one the server appends (staff only)."""


class MentionSuggest(Request, tag="mention.suggest"):
    """The composer's @ autocomplete: teammates you may mention in the thread matching ``query``."""

    thread_id: PositiveId
    query: Annotated[str, msgspec.Meta(max_length=100)] = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8


class BulkSendRequest(Request, tag="bulk.send"):
    """One message (``body`` or ``template_id``) to many clients, a new thread each, in the background."""

    # Retrying with the same key answers the same job and creates nothing twice.
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    client_account_ids: Annotated[list[PositiveId], msgspec.Meta(min_length=1, max_length=5000)]
    subject: Annotated[str, msgspec.Meta(max_length=200)] = ""
    body: str = ""
    template_id: PositiveId | None = None
    fields: FillIns = {}
    signature: bool = True


class BulkGet(Request, tag="bulk.get"):
    bulk_id: PositiveId


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# ["09:00", "12:00"]: open from 9:00 to 12:00 in the firm's time zone.
OpenInterval = Annotated[list[Annotated[str, msgspec.Meta(max_length=8)]], msgspec.Meta(min_length=2, max_length=2)]


class BusinessHoursGet(Request, tag="business_hours"):
    pass


class BusinessHoursSet(Request, tag="business_hours.set"):
    """Replaces the firm's business hours (owners): a day left out is closed."""

    time_zone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    week: dict[Weekday, Annotated[list[OpenInterval], msgspec.Meta(max_length=8)]] = {}
    closed_dates: Annotated[list[datetime.date], msgspec.Meta(max_length=1000)] = []
    # Markdown sent once per thread and closed period to a client who writes while closed; null: none.
    auto_reply: Annotated[str, msgspec.Meta(min_length=1, max_length=10000)] | None = None


class RemindersGet(Request, tag="reminders.get"):
    thread_id: PositiveId


class RemindersSet(Request, tag="reminders.set"):
    thread_id: PositiveId
    enabled: bool = True
    interval_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 3
    count: Annotated[int, msgspec.Meta(ge=1, le=20)] = 1


class RemindersResend(Request, tag="reminders.resend"):
    thread_id: PositiveId


# Five cron fields in the rule's time zone: "0 9 1 * *" (the 1st at 9:00), "0 9 * * mon".
CronRule = Annotated[str, msgspec.Meta(min_length=9, max_length=120)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class RecurringCreate(Request, tag="recurring.create"):
    thread_id: PositiveId
    body: str
    rule: CronRule
    # Default: the firm's time zone (its business hours', else UTC), followed when it changes.
    time_zone: TimeZone | None = None
    # The last local day it may be sent.
    ends_on: datetime.date | None = None


class RecurringList(Request, tag="recurring.list"):
    thread_id: PositiveId | None = None
    include_ended: bool = False


class RecurringUpdate(Request, tag="recurring.update"):
    recurring_id: PositiveId
    body: str | msgspec.UnsetType = msgspec.UNSET
    rule: CronRule | msgspec.UnsetType = msgspec.UNSET
    # null: the firm's time zone, followed when it changes.
    time_zone: TimeZone | msgspec.UnsetType | None = msgspec.UNSET
    # null: no end.
    ends_on: datetime.date | msgspec.UnsetType | None = msgspec.UNSET
    # true pauses, false resumes (from the next time after now).
    paused: bool | msgspec.UnsetType = msgspec.UNSET


class RecurringCancel(Request, tag="recurring.cancel"):
    recurring_id: PositiveId


# Business hours, reply reminders and recurring messages (chatd/automation_ops.py answers them).
AutomationFrame = (
    BusinessHoursGet
    | BusinessHoursSet
    | RemindersGet
    | RemindersSet
    | RemindersResend
    | RecurringCreate
    | RecurringList
    | RecurringUpdate
    | RecurringCancel
)

ComposeFrame = (
    TemplateList
    | TemplatePreview
    | QuickReplyList
    | QuickReplyExpand
    | DraftSave
    | DraftList
    | MessageVersions
    | SignatureGet
    | MentionSuggest
    | BulkSendRequest
    | BulkGet
)

# The staff inbox's ops (chatd/inbox_ops.py answers them).
InboxFrame = (
    ThreadGet
    | Folders
    | ThreadsAct
    | MessageAck
    | MessageAcks
    | TaskCreate
    | TaskUpdate
    | Tasks
    | TaskHistory
    | ClientCard
    | Remarks
    | FirmSettings
    | FirmSettingsUpdate
    | Search
)


class AutomaticEmailRules(Request, tag="automatic_emails.rules"):
    """The firm's rules of generated emails, each with its count of drafts waiting."""


class AutomaticEmailDrafts(Request, tag="automatic_emails.drafts"):
    rule_id: PositiveId | None = None
    state: Literal["pending", "sent", "dropped"] = "pending"


class AutomaticEmailEdit(Request, tag="automatic_emails.edit"):
    draft_id: PositiveId
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    body: str | None = None


class AutomaticEmailSend(Request, tag="automatic_emails.send"):
    """Send one draft, with the staff member's edits if given, as a new thread with its client."""

    draft_id: PositiveId
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    body: str | None = None


class AutomaticEmailSendAll(Request, tag="automatic_emails.send_all"):
    rule_id: PositiveId


# The automatic-emails queue's ops (chatd/genmail_ops.py answers them; docs/generated_emails.md).
AutomaticEmailFrame = (
    AutomaticEmailRules | AutomaticEmailDrafts | AutomaticEmailEdit | AutomaticEmailSend | AutomaticEmailSendAll
)

ClientFrame = (
    Send
    | Edit
    | Delete
    | Typing
    | Read
    | History
    | Threads
    | ThreadCreate
    | Resume
    | Ping
    | ScheduledList
    | ScheduledEdit
    | ScheduledCancel
    | ComposeFrame
    | InboxFrame
    | AutomationFrame
    | AutomaticEmailFrame
)

OPS: frozenset[str] = frozenset(str(cls.__struct_config__.tag) for cls in typing.get_args(ClientFrame))


class Hello(msgspec.Struct, tag_field="op", tag="hello", kw_only=True):
    user: User
    event_id: int
    heartbeat_s: int
    limits: dict[str, int]


class Ok(msgspec.Struct, tag_field="op", tag="ok", kw_only=True):
    id: RequestId | None
    result: dict[str, Any]


class Error(msgspec.Struct, tag_field="op", tag="error", kw_only=True, omit_defaults=True):
    id: RequestId | None
    code: str
    message: str
    retry_after: float | None = None


class Event(msgspec.Struct, tag_field="op", tag="event", kw_only=True, omit_defaults=True):
    type: str
    data: dict[str, Any]
    # Ephemeral events (typing, presence) carry no event_id and are never stored.
    event_id: int | None = None


ServerFrame = Hello | Ok | Error | Event

EVENT_TYPES: tuple[str, ...] = (
    "message.created",
    "message.updated",
    "message.deleted",
    "message.acked",
    "read",
    "thread.created",
    "thread.updated",
    "thread.unread",
    "thread.deleted",
    "task.updated",
    "typing",
    "presence",
    "scheduled.updated",
    "recurring.updated",
    "notification",
    "mention",
    "bulk.progress",
)
