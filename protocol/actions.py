"""The inbox actions ``threads.act`` applies to a selection of threads, a union tagged on ``type``."""

from __future__ import annotations

import datetime
from typing import Annotated

import msgspec

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


class _Action(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    pass


class MarkRead(_Action, tag="read"):
    pass


class MarkUnread(_Action, tag="unread"):
    pass


class Archive(_Action, tag="archive"):
    pass


class Unarchive(_Action, tag="unarchive"):
    pass


class Trash(_Action, tag="trash"):
    """Delete: to the Trash, from where it can be restored."""


class Restore(_Action, tag="restore"):
    pass


class DeleteForever(_Action, tag="delete_forever"):
    """Only from the Trash: the thread, its messages and attachments are gone for good."""


class Spam(_Action, tag="spam"):
    pass


class NotSpam(_Action, tag="not_spam"):
    pass


class Assign(_Action, tag="assign"):
    # None unassigns.
    user_id: Annotated[int, msgspec.Meta(ge=1)] | None


class FollowUp(_Action, tag="follow_up"):
    # None clears the follow-up (and the mark left when it came due).
    at: datetime.datetime | None


class Snooze(_Action, tag="snooze"):
    """Out of the Inbox until the client writes."""


class Urgent(_Action, tag="urgent"):
    on: bool


class Labels(_Action, tag="labels"):
    add: Annotated[list[Label], msgspec.Meta(max_length=20)] = []
    remove: Annotated[list[Label], msgspec.Meta(max_length=20)] = []


Action = (
    MarkRead
    | MarkUnread
    | Archive
    | Unarchive
    | Trash
    | Restore
    | DeleteForever
    | Spam
    | NotSpam
    | Assign
    | FollowUp
    | Snooze
    | Urgent
    | Labels
)
